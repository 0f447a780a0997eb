import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';

const dataDir = mkdtempSync(join(tmpdir(), 'keycord-provider-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const base = { KEYCORD_SECRET: 'a'.repeat(64), DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent' };

describe('choosing the job provider', () => {
  it('is local when REDIS_URL is not set, and bullmq when it is', () => {
    expect(loadConfig(base).jobs.provider).toBe('local');
    expect(loadConfig({ ...base, REDIS_URL: '' }).jobs.provider).toBe('local');
    const withRedis = loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6390' });
    expect(withRedis.jobs.provider).toBe('bullmq');
    expect(withRedis.redisUrl).toBe('redis://127.0.0.1:6390');
  });

  it('follows JOB_PROVIDER when it is set; bullmq without REDIS_URL looks for Redis on this machine', () => {
    expect(loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6390', JOB_PROVIDER: 'local' }).jobs.provider).toBe('local');
    const bullmq = loadConfig({ ...base, JOB_PROVIDER: 'bullmq' });
    expect(bullmq.jobs.provider).toBe('bullmq');
    expect(bullmq.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('stops on an unknown JOB_PROVIDER, naming the variable', () => {
    expect(() => loadConfig({ ...base, JOB_PROVIDER: 'sidekiq' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, JOB_PROVIDER: 'sidekiq' })).toThrow(/JOB_PROVIDER/);
  });

  it('refuses --role api and --role worker with the local provider, before opening any database', async () => {
    // The embedded database is never opened: a refused start leaves nothing behind in DATA_DIR.
    const config = loadConfig(base);
    for (const role of ['api', 'worker', 'bot'] as const) {
      const start = startKeycord(config, { role });
      await expect(start).rejects.toBeInstanceOf(ConfigError);
      await expect(start).rejects.toThrow(new RegExp(`JOB_PROVIDER: "local" runs the API, the bot and every job in one process, so --role ${role} cannot run on its own`));
      await expect(start).rejects.toThrow(/set REDIS_URL/);
    }
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
