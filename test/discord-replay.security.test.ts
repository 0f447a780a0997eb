import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordInteractionRoutes } from '../src/discord/adapters/http-interactions.js';
import { InteractionReplayGuard, RecentInteractionIds } from '../src/discord/adapters/interaction-replay-guard.js';
import { Redis } from 'ioredis';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { MANAGE_GUILD, postInteraction, signedInteraction, slash, snowflake, type KeyPair, type Member } from './support/discord-interactions.js';

const WINDOW_MS = 300_000;

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const replicas: FastifyInstance[] = [];
let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let app: { id: number; app_id: string };
let plan: { id: number };

beforeAll(async () => {
  // With the job system's Redis, as in production: handled ids are shared between replicas.
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ jobs: 'producer', discord }), admin });
  ({ h, keys, app, plan } = linked);
});
afterAll(async () => {
  for (const r of replicas) await r.close();
  await linked?.close();
});

const ping = (id: unknown = snowflake()) => ({ id, application_id: '800000000000000001', type: 1, token: 'ping-token', version: 1 });
const licenseCount = async () => Number((await h.deps.db.query<{ n: string }>('select count(*) as n from licenses where application_id = $1', [app.id]))[0]!.n);

/** Another API process on the same database and Redis, with its own memory. */
async function replica(guard?: InteractionReplayGuard, now?: () => number) {
  const r = Fastify();
  await discordInteractionRoutes(r, {
    bot: h.bot!,
    publicKey: keys.publicKeyHex,
    ...(guard ? { replayGuard: guard } : { redis: h.jobs!.redis, redisPrefix: h.config.jobs.queuePrefix }),
    ...(now ? { now } : {}),
  });
  await r.ready();
  replicas.push(r);
  return r;
}

describe('a signed interaction posted again', () => {
  it('is handled once: the exact same request a second time is refused with 409 and changes nothing', async () => {
    const request = signedInteraction(
      keys,
      slash(admin, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 1 },
      ]),
    );
    const before = await licenseCount();
    const first = await h.app.inject(request);
    expect(first.json().data.content).toContain('Generated 1 key');
    expect(await licenseCount()).toBe(before + 1);
    expectError(await h.app.inject(request), 409, 'INTERACTION_REPLAYED');
    expect(await licenseCount()).toBe(before + 1);
  });

  it('is refused even when re-signed with a new timestamp: the id is what was handled', async () => {
    const payload = ping();
    expect((await postInteraction(h.app, keys, payload)).json()).toEqual({ type: 1 });
    expectError(await postInteraction(h.app, keys, payload, { timestamp: Math.floor(Date.now() / 1000) + 1 }), 409, 'INTERACTION_REPLAYED');
  });

  it('is refused by another API replica that never saw it, through the shared Redis', async () => {
    const other = await replica();
    const request = signedInteraction(keys, ping());
    expect((await h.app.inject(request)).json()).toEqual({ type: 1 });
    expectError(await other.inject(request), 409, 'INTERACTION_REPLAYED');
  });

  it('is still refused by the same process while Redis is unreachable', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false });
    try {
      const alone = await replica(new InteractionReplayGuard({ windowMs: WINDOW_MS, redis: down }));
      const request = signedInteraction(keys, ping());
      expect((await alone.inject(request)).json()).toEqual({ type: 1 });
      expectError(await alone.inject(request), 409, 'INTERACTION_REPLAYED');
    } finally {
      down.disconnect();
    }
  });
});

describe('the id of an interaction', () => {
  it('may be up to five minutes old', async () => {
    expect((await postInteraction(h.app, keys, ping(snowflake(Date.now() - WINDOW_MS + 10_000)))).json()).toEqual({ type: 1 });
  });

  it('is refused when older than five minutes or as far in the future, however fresh the signature', async () => {
    const before = await licenseCount();
    for (const at of [Date.now() - WINDOW_MS - 10_000, Date.now() - 86_400_000, Date.now() + WINDOW_MS + 10_000]) {
      const old = {
        ...slash(admin, 'generate', [
          { name: 'plan', value: String(plan.id) },
          { name: 'count', value: 1 },
        ]),
        id: snowflake(at),
      };
      expectError(await postInteraction(h.app, keys, old), 401, 'UNAUTHORIZED');
    }
    expect(await licenseCount()).toBe(before);
  });

  it.each([['1'], ['1000000000000000001']])('is refused when it dates from Discord’s early days (%s)', async (id) => {
    expectError(await postInteraction(h.app, keys, ping(id)), 401, 'UNAUTHORIZED');
  });

  it.each([
    ['letters', 'abc'],
    ['a negative number', '-1'],
    ['empty', ''],
    ['a decimal', '1.5'],
    ['past 64 bits', '18446744073709551616'],
    ['21 digits', '1'.repeat(21)],
    ['a JSON number', 1234567890123456789],
    ['null', null],
    ['an object', { id: '1' }],
  ])('is bad input when it is %s', async (_what, id) => {
    expectError(await postInteraction(h.app, keys, ping(id)), 400, 'VALIDATION_ERROR');
  });
});

describe('a malformed interaction body', () => {
  it.each([
    ['an empty object', {}],
    ['an empty list', []],
    ['no id', { type: 1, token: 'x' }],
    ['no type', { id: snowflake(), token: 'x' }],
    ['a type that is a string', { id: snowflake(), type: '2', token: 'x', data: { name: 'licenses' } }],
    ['a fractional type', { id: snowflake(), type: 2.5, token: 'x' }],
    ['no token', { id: snowflake(), type: 2, data: { name: 'licenses' } }],
    ['a token that is a number', { id: snowflake(), type: 2, token: 7 }],
    ['a huge token', { id: snowflake(), type: 2, token: 'x'.repeat(5000) }],
  ])('is answered 400 when it has %s', async (_what, payload) => {
    const body = expectError(await postInteraction(h.app, keys, payload), 400, 'VALIDATION_ERROR');
    expect(body.message).toBe('The body is not an interaction');
  });

  it('is answered 413 when it is huge, before anything is parsed', async () => {
    const huge = { ...ping(), padding: 'x'.repeat(600 * 1024) };
    expectError(await postInteraction(h.app, keys, huge), 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('the memory of handled interactions', () => {
  it('keeps at most its cap of ids, whatever arrives, and still refuses the recent ones', async () => {
    const guard = new InteractionReplayGuard({ windowMs: WINDOW_MS, cap: 20 });
    const small = await replica(guard);
    let last = signedInteraction(keys, ping());
    for (let i = 0; i < 100; i++) {
      last = signedInteraction(keys, ping());
      expect((await small.inject(last)).statusCode).toBe(200);
      expect(guard.recent.size).toBeLessThanOrEqual(20);
    }
    expect(guard.recent.size).toBe(20);
    expectError(await small.inject(last), 409, 'INTERACTION_REPLAYED');
  });

  it('keeps exactly the newest ids at its cap and as they expire, across its compactions', () => {
    const capped = new RecentInteractionIds(1500);
    for (let i = 0; i < 5000; i++) expect(capped.remember(`id${i}`, Number.MAX_SAFE_INTEGER, 0)).toBe(true);
    expect(capped.size).toBe(1500);
    // The newest 1,500 are remembered (a replay of one is refused), the older ones forgotten.
    for (const i of [3500, 4000, 4999]) expect(capped.remember(`id${i}`, Number.MAX_SAFE_INTEGER, 0)).toBe(false);
    expect(capped.remember('id3499', Number.MAX_SAFE_INTEGER, 0)).toBe(true);
    expect(capped.size).toBe(1500);

    // Each id lives 100 ms; one arrives every ms: about 100 are held, the rest forgotten in order.
    const expiring = new RecentInteractionIds();
    for (let now = 0; now < 5000; now++) expect(expiring.remember(`id${now}`, now + 100, now)).toBe(true);
    expect(expiring.size).toBe(100);
    expect(expiring.remember('id4950', 5050, 4999)).toBe(false);
    expect(expiring.remember('id4800', 4900, 4999)).toBe(true);
  });

  it('forgets ids once their window has passed, since those are refused as stale anyway', async () => {
    let clock = Date.now();
    const guard = new InteractionReplayGuard({ windowMs: WINDOW_MS });
    const later = await replica(guard, () => clock);
    const first = ping();
    expect((await later.inject(signedInteraction(keys, first))).statusCode).toBe(200);
    for (let i = 0; i < 9; i++) expect((await later.inject(signedInteraction(keys, ping()))).statusCode).toBe(200);
    expect(guard.recent.size).toBe(10);
    clock += WINDOW_MS + 60_000;
    const now = signedInteraction(keys, ping(snowflake(clock)), { timestamp: Math.floor(clock / 1000) });
    expect((await later.inject(now)).statusCode).toBe(200);
    expect(guard.recent.size).toBe(1);
    // The forgotten id stays refused by its age, even under a signature fresh at the later time.
    const body = expectError(await later.inject(signedInteraction(keys, first, { timestamp: Math.floor(clock / 1000) })), 401, 'UNAUTHORIZED');
    expect(body.message).toBe('Stale interaction');
  });
});
