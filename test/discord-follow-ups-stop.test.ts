import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { discordKeyPair } from './support/discord-interactions.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * A stop waits for the bot's follow-ups a bounded time (start-keycord.ts): one waiting on a Discord
 * that does not answer (an upload, a long rate limit) would otherwise hold it past its grace.
 */
let stub: DiscordStub;
let h: Harness;
beforeAll(async () => {
  stub = await startDiscordStub();
  h = await startHarness({ discord: { publicKeyHex: discordKeyPair().publicKeyHex, apiUrl: stub.apiUrl } });
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe("the bot's follow-ups when the process stops", () => {
  it('are waited for until they are done, or until the deadline, which reports how many were left', async () => {
    const bot = h.bot!;
    const finish: (() => void)[] = [];
    // Two follow-ups that wait on Discord until the test lets them go.
    for (const token of ['token-a', 'token-b']) bot.runAfter({ after: () => new Promise<void>((r) => finish.push(r)) } as never, token);
    const started = Date.now();
    expect(await bot.idle(300)).toBe(2);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(5_000);
    finish[0]!();
    expect(await bot.idle(300)).toBe(1);
    finish[1]!();
    expect(await bot.idle()).toBe(0);
  });
});
