import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const SECRET = 'a'.repeat(64);
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'keycord-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The ConfigError thrown for `env`, or a failure if none is. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loading the configuration', () => {
  it('stops on a bad PORT, naming the variable', () => {
    for (const PORT of ['abc', '70000', '-1', '80.5']) {
      const err = configError({ PORT, KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() });
      expect(err.message).toContain('PORT');
      expect(err.name).toBe('ConfigError');
    }
  });

  it('stops on a DATABASE_URL that is not a postgres URL, naming the variable', () => {
    for (const DATABASE_URL of ['mysql://localhost/db', 'localhost:5432', 'http://x']) {
      const err = configError({ DATABASE_URL, KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() });
      expect(err.message).toContain('DATABASE_URL');
      expect(err.message).not.toContain('PORT');
    }
  });

  it('reads SIGNING_THREAD as a boolean, refusing anything else by name', () => {
    const base = { KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() };
    expect(loadConfig({ ...base, SIGNING_THREAD: 'false' }).signingThread).toBe(false);
    // On by default wherever there is a second CPU to sign on.
    expect(loadConfig(base).signingThread).toBe(availableParallelism() > 1);
    expect(configError({ ...base, SIGNING_THREAD: 'sometimes' }).message).toContain('SIGNING_THREAD');
  });

  it('reads PUBLIC_URL as an http(s) origin without a trailing slash, refusing anything else by name', () => {
    const base = { KEYCORD_SECRET: SECRET, DATA_DIR: tempDir(), DISCORD_PUBLIC_KEY: 'ab'.repeat(32), DISCORD_APPLICATION_ID: '800000000000000001' };
    expect(loadConfig({ ...base, PUBLIC_URL: 'https://keycord.example.com/' }).publicUrl).toBe('https://keycord.example.com');
    expect(loadConfig(base).publicUrl).toBeUndefined();
    for (const PUBLIC_URL of ['ftp://keycord.example.com', 'keycord.example.com', 'javascript:alert(1)']) {
      expect(configError({ ...base, PUBLIC_URL }).message).toContain('PUBLIC_URL: must be an http(s) URL');
    }
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'x', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', KEYCORD_SECRET: SECRET });
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL']) expect(err.message).toContain(name);
  });

  it('requires KEYCORD_SECRET in production and writes no secret file', () => {
    const dir = tempDir();
    const err = configError({ NODE_ENV: 'production', DATA_DIR: dir });
    expect(err.message).toContain('KEYCORD_SECRET');
    expect(existsSync(join(dir, 'keycord-secret'))).toBe(false);
    // An empty value (`KEYCORD_SECRET=` in a compose file) counts as unset.
    expect(configError({ NODE_ENV: 'production', KEYCORD_SECRET: '', DATA_DIR: dir }).message).toContain('KEYCORD_SECRET');
  });

  it('refuses a KEYCORD_SECRET shorter than 32 characters', () => {
    expect(configError({ NODE_ENV: 'production', KEYCORD_SECRET: 'short', DATA_DIR: tempDir() }).message).toContain('KEYCORD_SECRET');
  });

  it('takes KEYCORD_SECRET from the environment in production', () => {
    const config = loadConfig({ NODE_ENV: 'production', KEYCORD_SECRET: SECRET, DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', PORT: '8080', DATA_DIR: tempDir() });
    expect(config).toMatchObject({ env: 'production', secret: SECRET, secretSource: 'env', port: 8080, databaseUrl: 'postgres://u@127.0.0.1:5432/db' });
  });

  it('generates a development secret once in DATA_DIR, then reuses it', () => {
    const dir = tempDir();
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(first.secretSource).toBe('generated');
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    const file = join(dir, 'keycord-secret');
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secret);
    expect(statSync(file).mode & 0o077).toBe(0);
    const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(second).toMatchObject({ secretSource: 'data-dir', secret: first.secret });
  });

  it('reads TRUST_PROXY as off, all, a hop count or proxy addresses, refusing anything else by name', () => {
    const trust = (v: string) => loadConfig({ KEYCORD_SECRET: SECRET, DATA_DIR: tempDir(), TRUST_PROXY: v }).trustProxy;
    expect(trust('false')).toBe(false);
    expect(trust('0')).toBe(false);
    expect(trust('true')).toBe(true);
    expect(trust('1')).toBe(1);
    expect(trust('2')).toBe(2);
    expect(trust('10.0.0.0/8, 192.168.1.7,fd00::/8')).toEqual(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    for (const bad of ['maybe', '10.0.0.0/33', 'fd00::/129', '10.0.0.1/8/1', 'example.com']) {
      expect(configError({ KEYCORD_SECRET: SECRET, DATA_DIR: tempDir(), TRUST_PROXY: bad }).message).toMatch(/TRUST_PROXY/);
    }
    // Every address, which Fastify refuses at start-up (after the database was opened): refused here, pointing at `true`.
    for (const everyone of ['0.0.0.0/0', '::/0', '10.0.0.0/8,0.0.0.0/00']) {
      expect(configError({ KEYCORD_SECRET: SECRET, DATA_DIR: tempDir(), TRUST_PROXY: everyone }).message).toMatch(/TRUST_PROXY.*set true/);
    }
    expect(trust('0.0.0.0/1, ::/1')).toEqual(['0.0.0.0/1', '::/1']);
  });

  it('uses documented defaults when nothing is set', () => {
    const config = loadConfig({ DATA_DIR: tempDir(), KEYCORD_SECRET: SECRET });
    expect(config).toMatchObject({ env: 'development', port: 3000, databaseUrl: undefined, logLevel: 'info' });
  });

  it('times slow clients out and caps connections by default, each limit settable by HTTP_*', () => {
    const base = { DATA_DIR: tempDir(), KEYCORD_SECRET: SECRET };
    expect(loadConfig(base).http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, uploadTimeoutMs: 600_000, keepAliveTimeoutMs: 72_000, maxConnections: 10_000 });
    const set = loadConfig({
      ...base,
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_REQUEST_TIMEOUT_MS: '20000',
      HTTP_UPLOAD_TIMEOUT_MS: '3600000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      HTTP_MAX_CONNECTIONS: '500',
    });
    expect(set.http).toEqual({ headersTimeoutMs: 5000, requestTimeoutMs: 20_000, uploadTimeoutMs: 3_600_000, keepAliveTimeoutMs: 65_000, maxConnections: 500 });
  });

  it('refuses an HTTP limit of 0 (no timeout at all) or nonsense, naming the variable', () => {
    const base = { DATA_DIR: tempDir(), KEYCORD_SECRET: SECRET };
    for (const name of ['HTTP_HEADERS_TIMEOUT_MS', 'HTTP_REQUEST_TIMEOUT_MS', 'HTTP_UPLOAD_TIMEOUT_MS', 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 'HTTP_MAX_CONNECTIONS']) {
      for (const value of ['0', '-5', 'soon', '1.5']) expect(configError({ ...base, [name]: value }).message).toContain(name);
    }
    // Headers are part of the request: they cannot be allowed longer than all of it.
    const err = configError({ ...base, HTTP_HEADERS_TIMEOUT_MS: '40000', HTTP_REQUEST_TIMEOUT_MS: '30000' });
    expect(err.message).toContain('HTTP_HEADERS_TIMEOUT_MS');
  });
});
