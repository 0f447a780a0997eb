import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRefusingDiscord } from './support/discord-stub.js';
import { exitOf, fatalLines, spawnKeycordProcess } from './support/keycord-process.js';

/**
 * A DISCORD_TOKEN that Discord refuses (401 on the gateway's first REST call) is a setting the
 * operator must change, like a taken port: one fatal line saying so, no stack (it was "start-up
 * failed" with one), and never the token.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'keycord-token-refused-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('keycord start with a DISCORD_TOKEN Discord refuses', () => {
  it('says in one fatal line that DISCORD_TOKEN was refused, without a stack, and never prints the token', { timeout: 60_000 }, async () => {
    const discord = await startRefusingDiscord(401, { code: 0, message: '401: Unauthorized' });
    try {
      const keycord = await spawnKeycordProcess({
        DATABASE_URL: undefined,
        REDIS_URL: undefined,
        KEYCORD_SECRET: 'token-refused-secret-0123456789abcdef0123456789',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATA_DIR: dataDir,
        DISCORD_MODE: 'gateway',
        DISCORD_TOKEN: 'refused-token-0123456789-SENTINEL',
        DISCORD_APPLICATION_ID: '800000000000000001',
        DISCORD_API_URL: discord.apiUrl,
      });
      const { code } = await exitOf(keycord, 50_000);
      const output = keycord.output();
      expect(code, output).toBe(1);
      expect(output).not.toContain('SENTINEL');
      const fatal = fatalLines(output);
      expect(fatal.map((f) => f.msg).join('\n'), output.slice(-1500)).toContain('DISCORD_TOKEN');
      expect(output).not.toMatch(/"stack"/);
    } finally {
      await discord.close();
    }
  });
});
