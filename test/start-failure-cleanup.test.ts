import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';
import { ADMIN_URL, createTestDatabase } from './support/databases.js';
import { startRefusingDiscord } from './support/discord-stub.js';

/**
 * A start that fails after the job provider started (here: Discord refuses the gateway's token)
 * must stop what it started. Before, the local provider went on in the process about to exit: it
 * held the runner lock and took outbox rows, whose work the exit then cut off mid-way.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'keycord-test-start-failure-'));
let database: Awaited<ReturnType<typeof createTestDatabase>>;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a start that fails once the local job provider runs', () => {
  it('stops the provider and closes the database before it reports the failure', async () => {
    const discord = await startRefusingDiscord(401, { code: 0, message: '401: Unauthorized' });
    try {
      const config = loadConfig({
        KEYCORD_SECRET: 'a'.repeat(64),
        DATA_DIR: dataDir,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database.url,
        JOB_PROVIDER: 'local',
        DISCORD_MODE: 'gateway',
        DISCORD_TOKEN: 'refused-token-0123456789',
        DISCORD_APPLICATION_ID: '800000000000000001',
        DISCORD_API_URL: discord.apiUrl,
      });
      await expect(startKeycord(config)).rejects.toThrow();
      const sessions = await admin<{ state: string | null; query: string }[]>`select state, query from pg_stat_activity where datname = ${database.name}`;
      expect(sessions).toEqual([]);
    } finally {
      await discord.close();
    }
  });
});
