import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { CHANNEL, GUILD, MANAGE_GUILD, modal, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';

/**
 * Bot-token calls (a role grant, a channel post) wait out Discord's 429s; the first answer to an
 * interaction must not wait with them, or Discord shows "This interaction failed" after 3 s.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000021', name: 'Alice' };
const ROLE = '900000000000000050';
const RETRY_AFTER_S = 4;
/** Discord's window for the first answer is 3 s; "well within" leaves the rest to the network. */
const FIRST_ANSWER_WITHIN_MS = 1_500;

/**
 * Between the bot and the Discord stand-in: the next call matching `throttle` is answered 429
 * with a retry_after of RETRY_AFTER_S, as Discord answers a bucket that is used up; everything
 * else (and that call, when tried again) reaches the stand-in, which records it.
 */
async function startThrottlingDiscord(upstream: string) {
  let throttle: { method: string; path: RegExp } | null = null;
  const throttled: string[] = [];
  const origin = new URL(upstream).origin;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const path = (req.url ?? '').split('?')[0]!;
      if (throttle && req.method === throttle.method && throttle.path.test(path)) {
        throttle = null;
        throttled.push(`${req.method} ${path}`);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(RETRY_AFTER_S) });
        res.end(JSON.stringify({ message: 'You are being rate limited.', retry_after: RETRY_AFTER_S, global: false }));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !['host', 'connection', 'content-length', 'transfer-encoding'].includes(name))) as Record<string, string>;
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const answer = await fetch(`${origin}${req.url}`, { method: req.method!, headers, ...(body ? { body } : {}) });
      const type = answer.headers.get('content-type');
      res.writeHead(answer.status, type ? { 'content-type': type } : {});
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    throttled,
    throttleNext: (method: string, path: RegExp) => void (throttle = { method, path }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let linked: LinkedDiscord;
let throttling: Awaited<ReturnType<typeof startThrottlingDiscord>>;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;

beforeAll(async () => {
  linked = await startLinkedDiscord({
    start: async (discord) => {
      throttling = await startThrottlingDiscord(discord.apiUrl);
      return startHarness({ discord: { ...discord, apiUrl: throttling.apiUrl } });
    },
    admin,
    setup: { plan: { name: 'Monthly', duration_days: 30, discord_role_id: ROLE } },
  });
  ({ h, stub, keys, seller } = linked);
});
afterAll(async () => {
  await linked?.close();
  await throttling?.close();
});

/** Sends an interaction; answers its first response and how long it took. */
async function timed(payload: unknown) {
  const started = performance.now();
  const res = await postInteraction(h.app, keys, payload);
  const ms = performance.now() - started;
  expect(res.statusCode, res.body).toBe(200);
  return { body: res.json(), ms };
}

const originalEdits = (token: string) => stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${token}/messages/@original$`));

describe('while Discord rate-limits the bot token', () => {
  it('a customer who redeems a key is answered at once, and told once the plan role is granted', async () => {
    const [lic] = await seller.generate(linked.plan.id);
    stub.clear();
    throttling.throttleNext('PUT', /\/roles\//);
    const payload = modal(alice, 'lic:redeem-modal', { license_key: lic!.license_key });
    const { body, ms } = await timed(payload);
    expect(ms).toBeLessThan(FIRST_ANSWER_WITHIN_MS);
    expect(body).toMatchObject({ type: 4, data: { flags: 64, content: `✅ Redeemed your **Monthly** license. Granting you <@&${ROLE}>…` } });

    await h.bot!.idle();
    expect(throttling.throttled).toEqual([`PUT /api/v10/guilds/${GUILD}/members/${alice.id}/roles/${ROLE}`]);
    expect(stub.find('PUT', new RegExp(`^/guilds/${GUILD}/members/${alice.id}/roles/${ROLE}$`))).toHaveLength(1);
    const [edit] = originalEdits(payload.token);
    expect(edit!.json.content).toBe(`✅ Redeemed your **Monthly** license. You now have <@&${ROLE}>.`);
  });

  it('/panel is acknowledged at once, and the answer says the panel was posted once it is', async () => {
    stub.clear();
    throttling.throttled.splice(0);
    throttling.throttleNext('POST', new RegExp(`/channels/${CHANNEL}/messages$`));
    const payload = slash(admin, 'panel');
    const { body, ms } = await timed(payload);
    expect(ms).toBeLessThan(FIRST_ANSWER_WITHIN_MS);
    expect(body).toEqual({ type: 5, data: { flags: 64 } });

    await h.bot!.idle();
    expect(throttling.throttled).toEqual([`POST /api/v10/channels/${CHANNEL}/messages`]);
    expect(stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`))).toHaveLength(1);
    const [edit] = originalEdits(payload.token);
    expect(edit!.json.content).toBe(`✅ Panel posted in <#${CHANNEL}>.`);
  });
});
