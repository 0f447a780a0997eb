import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

/** HOST, the address the HTTP API listens on: what is refused by name, and what is read. */

const base = { NODE_ENV: 'test', KEYCORD_SECRET: 'f3a9c1d27be84e05a6d9c3b1e7f20a4d' };

function refusal(HOST: string): string {
  try {
    loadConfig({ ...base, HOST });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected HOST=${JSON.stringify(HOST)} to be refused`);
}

describe('HOST', () => {
  it('is refused, by name, when it is blank: spaces are not "every address", they fail only at listen', () => {
    for (const HOST of [' ', '   ', '\t', ' \n ']) expect(refusal(HOST), JSON.stringify(HOST)).toMatch(/^\s+HOST: /m);
  });

  it('is refused when it is no address or host name a server listens on: spaces inside, a URL, a port', () => {
    for (const HOST of ['local host', '127.0.0.1 ::1', 'http://localhost', '127.0.0.1:3000', '[::1]']) {
      expect(refusal(HOST), JSON.stringify(HOST)).toMatch(/^\s+HOST: .*0\.0\.0\.0/m);
    }
  });

  it('reads addresses and host names, with spaces round them as other settings do, and defaults to every IPv4 address', () => {
    const host = (HOST: string) => loadConfig({ ...base, HOST }).host;
    expect(host(' 127.0.0.1 ')).toBe('127.0.0.1');
    for (const HOST of ['0.0.0.0', '::', '::1', 'fe80::1%eth0', 'localhost', 'keycord.internal', 'api-1.example.com']) expect(host(HOST)).toBe(HOST);
    expect(loadConfig(base).host).toBe('0.0.0.0');
  });
});
