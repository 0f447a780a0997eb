import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const base = { NODE_ENV: 'test', KEYCORD_SECRET: 'f3a9c1d27be84e05a6d9c3b1e7f20a4d' };

function refusal(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('numeric settings', () => {
  it('are whole decimal numbers: a blank PORT is not port 0 (a random port), nor is 0x50 port 80', () => {
    for (const PORT of [' ', '0x50', '1e3', '+80', '80 80']) expect(refusal({ PORT }), JSON.stringify(PORT)).toContain('PORT');
    for (const value of ['0b11', '1e2', 'Infinity']) {
      expect(refusal({ WORKER_CONCURRENCY: value })).toContain('WORKER_CONCURRENCY');
      expect(refusal({ SHUTDOWN_GRACE_MS: value })).toContain('SHUTDOWN_GRACE_MS');
    }
  });

  it('each have an upper bound, naming the variable', () => {
    for (const name of ['MAX_APPLICATIONS', 'MAX_LICENSES_PER_APPLICATION', 'SELLER_RATE_LIMIT_PER_MINUTE', 'AUTH_RATE_LIMIT_PER_MINUTE']) {
      expect(refusal({ [name]: '1000000000000000' })).toContain(name);
    }
  });

  it('still read plain numbers, with spaces round them, and their defaults', () => {
    const config = loadConfig({ ...base, PORT: ' 8080 ', WORKER_CONCURRENCY: '7', SELLER_RATE_LIMIT_PER_MINUTE: '100000000' });
    expect(config).toMatchObject({ port: 8080, jobs: { workerConcurrency: 7 }, rateLimits: { sellerPerMinute: 100_000_000, authPerMinute: 10 } });
    expect(loadConfig(base)).toMatchObject({ port: 3000, maxApplications: 50, maxLicensesPerApplication: 1_000_000, shutdownGraceMs: 15_000 });
  });
});
