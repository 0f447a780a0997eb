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
});
