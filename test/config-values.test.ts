import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

/** Numbers, intervals and connection URLs in the environment: what is refused, by name, and what is read. */

/** A configuration that loads: each test changes what it is about. */
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

describe('duration settings', () => {
  it('refuse 0, which would run the expiry sweep back to back, naming the variable', () => {
    expect(refusal({ EXPIRY_SWEEP_EVERY: '0' })).toContain('EXPIRY_SWEEP_EVERY');
    expect(refusal({ EXPIRY_SWEEP_EVERY: '0s' })).toContain('EXPIRY_SWEEP_EVERY');
  });

  it('refuse a length no timer can hold (Node fires those after 1 ms), naming the variable', () => {
    // 2^31 ms is about 24.8 days; Node replaces a longer timer with one of 1 ms.
    for (const every of ['1000h', '2147483648', '99999999999999999999m']) {
      expect(refusal({ EXPIRY_SWEEP_EVERY: every })).toContain('EXPIRY_SWEEP_EVERY');
      expect(refusal({ JOB_RECONCILE_EVERY: every })).toContain('JOB_RECONCILE_EVERY');
    }
  });

  it('take a day at most and the documented forms', () => {
    const config = loadConfig({ ...base, EXPIRY_SWEEP_EVERY: '24h', JOB_RECONCILE_EVERY: '90s' });
    expect(config.jobs.expirySweepEveryMs).toBe(86_400_000);
    expect(config.jobs.reconcileEveryMs).toBe(90_000);
    expect(loadConfig({ ...base, EXPIRY_SWEEP_EVERY: '100ms' }).jobs.expirySweepEveryMs).toBe(100);
  });
});

describe('DATABASE_POOL_SIZE', () => {
  it('is at least 2 when jobs run in this process on Postgres, where the runner lock keeps one connection', () => {
    const postgresOnly = { ...base, DATABASE_URL: 'postgres://keycord@127.0.0.1:5432/keycord', DATABASE_POOL_SIZE: '1' };
    expect(refusal(postgresOnly)).toMatch(/DATABASE_POOL_SIZE: must be at least 2/);
    expect(refusal({ ...postgresOnly, REDIS_URL: 'redis://127.0.0.1:6379', JOB_PROVIDER: 'local' })).toMatch(/DATABASE_POOL_SIZE/);
    // With Redis (BullMQ) no connection is kept: one is enough.
    expect(loadConfig({ ...postgresOnly, REDIS_URL: 'redis://127.0.0.1:6379' }).databasePoolSize).toBe(1);
    expect(loadConfig({ ...postgresOnly, DATABASE_POOL_SIZE: '2' }).databasePoolSize).toBe(2);
  });
});

describe('connection URLs', () => {
  it('with a password the database driver cannot decode stop the configuration by name, never quoting the password', () => {
    const message = refusal({ DATABASE_URL: 'postgres://bob:50%off-hunter2@127.0.0.1:5432/keycord' });
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('percent-encode');
    expect(message).not.toContain('hunter2');
    const redis = refusal({ REDIS_URL: 'redis://:50%off-hunter2@127.0.0.1:6379' });
    expect(redis).toContain('REDIS_URL');
    expect(redis).not.toContain('hunter2');
  });

  it('with a percent-encoded password are taken as they are', () => {
    const config = loadConfig({ ...base, DATABASE_URL: 'postgres://bob:50%25off@127.0.0.1:5432/keycord', REDIS_URL: 'redis://:p%40ss@127.0.0.1:6379' });
    expect(config.databaseUrl).toBe('postgres://bob:50%25off@127.0.0.1:5432/keycord');
    expect(config.redisUrl).toBe('redis://:p%40ss@127.0.0.1:6379');
  });

  it('with several Postgres hosts (postgres.js fails over between them) are taken, and still checked', () => {
    const several = 'postgres://bob:s3cret@db1.internal:5432,db2.internal:5432/keycord?target_session_attrs=read-write';
    expect(loadConfig({ ...base, DATABASE_URL: several }).databaseUrl).toBe(several);
    const message = refusal({ DATABASE_URL: 'postgres://bob:100%off@db1:5432,db2:5432/keycord' });
    expect(message).toContain('DATABASE_URL');
    expect(message).not.toContain('100%off');
    // postgres.js reads the host list from the first @: an unencoded one in the password is refused by name.
    const at = refusal({ DATABASE_URL: 'postgres://bob:s3cr@t@db1:5432,db2:5432/keycord' });
    expect(at).toContain('DATABASE_URL');
    expect(at).not.toContain('s3cr');
  });

  it('for Postgres with an unencoded @ in the password are refused with one host too', () => {
    // postgres.js would read `tailpart@127.0.0.1` as the host list and connect to (and log) `secretpart`.
    const message = refusal({ DATABASE_URL: 'postgres://postgres:Hunter2@secretpart,tailpart@127.0.0.1:5432/test' });
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('percent-encode');
    expect(message).not.toMatch(/Hunter2|secretpart|tailpart/);
    expect(refusal({ DATABASE_URL: 'postgres://bob:p@ss@db.internal:5432/keycord' })).toContain('DATABASE_URL');
    // Encoded, it is the password it says.
    expect(loadConfig({ ...base, DATABASE_URL: 'postgres://bob:p%40ss@db.internal:5432/keycord' }).databaseUrl).toBe('postgres://bob:p%40ss@db.internal:5432/keycord');
  });
});
