import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReceiverTurns, type EndTurn } from '../src/jobs/receiver-turns.js';
import type { Harness, Seller } from './support/harness.js';
import { JOB_PROVIDERS, startHarnessWith } from './support/job-providers.js';
import { startHeldReceiver, startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';
import { commitBannedEvents, FAIRNESS_ENV, TENANT_SHARE } from './support/webhook-fairness.js';

/**
 * One seller registers webhooks on many receivers that hang, across several applications. Each
 * origin alone is held to its share (webhook-receiver-fairness.test.ts), but before the tenant
 * bound (src/jobs/receiver-turns.ts) the seller had a share at every one of them, and four such
 * origins took all of a process's POSTs: every other seller's deliveries waited behind them.
 */

/** Events per application of the hanging seller: each goes to both of its application's receivers. */
const EVENTS = 40;
const OTHER_WITHIN_MS = 3000;

async function hooked(s: Seller, urls: string[]) {
  const { app } = await s.setup();
  const hooks = [];
  for (const url of urls) hooks.push((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] })).json() as { id: number });
  return { app, hooks };
}

describe.each(JOB_PROVIDERS)('a seller whose many receivers hang, with the $name job provider', (provider) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarnessWith(provider, { env: FAIRNESS_ENV });
  });
  afterAll(() => h?.close());

  it("holds at most its tenant share across all its origins and applications; another seller's receivers, many and fast, are not held back; each delivery arrives once", async () => {
    const hanging = await Promise.all(Array.from({ length: 4 }, () => startHeldReceiver()));
    const fast = await Promise.all(Array.from({ length: 4 }, () => startReceiver()));
    const heldByA = () => hanging.reduce((n, rx) => n + rx.held(), 0);
    try {
      // Two applications of one seller, two receivers each: four origins, a share at each of 5.
      const a = await h.seller('many-hanging');
      const a1 = await hooked(a, [hanging[0]!.url, hanging[1]!.url]);
      const a2 = await hooked(a, [hanging[2]!.url, hanging[3]!.url]);
      const b = await h.seller('many-fast');
      const b1 = await hooked(b, [fast[0]!.url, fast[1]!.url]);
      const b2 = await hooked(b, [fast[2]!.url, fast[3]!.url]);

      await commitBannedEvents(h, a1.app.id, EVENTS, 'A1');
      await commitBannedEvents(h, a2.app.id, EVENTS, 'A2');
      await waitFor(() => heldByA() >= TENANT_SHARE, 10_000, "the hanging seller's receivers to hold POSTs");
      await new Promise((r) => setTimeout(r, 500));
      // Per origin alone it would hold 4 × 5 = 20: every POST of the process.
      expect(heldByA()).toBeLessThanOrEqual(TENANT_SHARE);

      // Meanwhile the other seller's burst to its four receivers goes through at once.
      const sentAt = Date.now();
      await commitBannedEvents(h, b1.app.id, 10, 'B1');
      await commitBannedEvents(h, b2.app.id, 10, 'B2');
      await waitFor(() => fast.every((rx) => rx.received.length >= 10), OTHER_WITHIN_MS, "the other seller's deliveries");
      expect(Date.now() - sentAt).toBeLessThan(OTHER_WITHIN_MS);
      expect(heldByA()).toBeLessThanOrEqual(TENANT_SHARE);

      // Still hanging past a turn's longest wait: the rest is left to the retry schedule, not attempted.
      await new Promise((r) => setTimeout(r, 2500));
      expect(heldByA()).toBeLessThanOrEqual(TENANT_SHARE);
      const hookIdsA = [...a1.hooks, ...a2.hooks].map((w) => w.id);
      const [notTried] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where webhook_id = any($1::int[]) and attempts = 0`, [hookIdsA]);
      expect(notTried!.n).toBeGreaterThan(EVENTS);

      // The receivers answer again: every delivery arrives once, on one attempt (a turn refused is no attempt).
      for (const rx of hanging) rx.release();
      const rows = await waitFor(
        async () => {
          const r = await h.deps.db.query<{ id: string; status: string; attempts: number; logged: number }>(
            `select d.id::text, d.status, d.attempts, (select count(*)::int from webhook_attempts w where w.delivery_id = d.id) as logged
               from webhook_deliveries d where d.webhook_id = any($1::int[])`,
            [hookIdsA],
          );
          return r.length === 4 * EVENTS && r.every((d) => d.status === 'delivered') && r;
        },
        30_000,
        "every one of the hanging seller's deliveries",
      );
      expect(rows.filter((d) => d.attempts !== 1 || d.logged !== 1)).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
      const ids = hanging.flatMap((rx) => rx.received.map((r) => String(r.headers['x-keycord-delivery'])));
      expect(ids).toHaveLength(4 * EVENTS);
      expect(new Set(ids)).toEqual(new Set(rows.map((d) => d.id)));
      for (const rx of fast) expect(rx.received).toHaveLength(10);
    } finally {
      for (const rx of hanging) rx.release();
      await Promise.all([...hanging, ...fast].map((rx) => rx.close()));
    }
  }, 60_000);
});

describe('ReceiverTurns per tenant (one process, 20 POSTs: a slow origin 5 of them, a slow tenant 10)', () => {
  const takeMany = (turns: ReceiverTurns, url: string, tenant: number, n: number) => Promise.all(Array.from({ length: n }, () => turns.take(url, tenant)));
  const isTurn = (e: EndTurn | null | undefined) => typeof e === 'function';
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a tenant has 10 POSTs in flight across its slow origins; past them one waits 2 s at most, none once it is slow; another tenant goes at once', async () => {
    const turns = new ReceiverTurns(20);
    // Two origins' shares: 10, the tenant's bound.
    const held = [...(await takeMany(turns, 'http://a1.test/hook', 1, 5)), ...(await takeMany(turns, 'http://a2.test/hook', 1, 5))];
    expect(held.every(isTurn)).toBe(true);
    let waited: EndTurn | null | undefined;
    void turns.take('http://a3.test/hook', 1).then((e) => (waited = e));
    expect(await turns.take('http://b.test/hook', 2)).toBeTypeOf('function');
    await vi.advanceTimersByTimeAsync(1500);
    expect(waited).toBeUndefined();
    // Its oldest POST has hung past a second: no wait at all now, at any of its origins.
    expect(await turns.take('http://a4.test/hook', 1)).toBeNull();
    await vi.advanceTimersByTimeAsync(600);
    expect(waited).toBeNull();
    // Another tenant goes at the origin the first one was refused at: its own bound is untouched.
    expect(await turns.take('http://a3.test/hook', 2)).toBeTypeOf('function');
    // A POST of it ends: the freed turn goes at once.
    held[0]!();
    expect(await turns.take('http://a4.test/hook', 1)).toBeTypeOf('function');
  });

  it('a tenant whose origins answer is not held back, however many, even beside one of them that hangs; an idle one of its receivers still has turns', async () => {
    const turns = new ReceiverTurns(20);
    const hung = await takeMany(turns, 'http://hangs.test/hook', 1, 5);
    await vi.advanceTimersByTimeAsync(1500);
    // Eight receivers that answer: each ends a POST, and is known to answer.
    const fastOrigins = Array.from({ length: 8 }, (_, i) => `http://fast${i}.test/hook`);
    for (const url of fastOrigins) (await turns.take(url, 1))!();
    // Then 24 at once across them: past the tenant's 10 and its one origin's 5, none turned away or kept waiting.
    const burst = (await Promise.all(fastOrigins.map((url) => takeMany(turns, url, 1, 3)))).flat();
    expect(burst).toHaveLength(24);
    expect(burst.every(isTurn)).toBe(true);
    // An idle receiver of it has not answered lately: it takes the tenant's turns, which the hanging one leaves room for.
    expect((await takeMany(turns, 'http://idle.test/hook', 1, 5)).every(isTurn)).toBe(true);
    expect(await turns.take('http://idle2.test/hook', 1)).toBeNull();
    for (const end of [...hung, ...burst]) end!();
  });

  it("a hanging origin's timeouts are no answers: after them it and its tenant are held to their bounds again, not opened to the whole process", async () => {
    const turns = new ReceiverTurns(20);
    const origins = Array.from({ length: 4 }, (_, i) => `http://hangs${i}.test/hook`);
    /** Asks `n` turns at each origin; what each got so far (undefined: still waiting). */
    const ask = (n: number) => {
      const got: (EndTurn | null | undefined)[] = [];
      origins.forEach((url, o) => {
        for (let i = 0; i < n; i++) void turns.take(url, 1).then((e) => (got[o * n + i] = e));
      });
      return got;
    };
    const first = ask(5);
    await vi.advanceTimersByTimeAsync(0);
    expect(first.filter(isTurn)).toHaveLength(10);
    // The webhook timeout: every POST in flight ends, none of them answered.
    await vi.advanceTimersByTimeAsync(10_000);
    for (const end of first) end?.();
    // Straight after, as before: the tenant's 10 across its origins, no more.
    const next = ask(25);
    await vi.advanceTimersByTimeAsync(0);
    expect(next.filter(isTurn).length).toBeLessThanOrEqual(10);
    await vi.advanceTimersByTimeAsync(2_100);
    expect(next.filter(isTurn).length).toBeLessThanOrEqual(10);
    for (const end of next) end?.();
  });

  it("parks none of a tenant's turns in a hanging origin's queue: its idle receiver still gets turns in the same burst", async () => {
    const turns = new ReceiverTurns(20);
    const got = (url: string, n: number) => {
      const ends: (EndTurn | null | undefined)[] = [];
      for (let i = 0; i < n; i++) void turns.take(url, 1).then((e) => (ends[i] = e));
      return ends;
    };
    const hanging = got('http://hangs.test/hook', 20);
    const idle = got('http://idle.test/hook', 5);
    await vi.advanceTimersByTimeAsync(0);
    // The hanging origin has its share; the tenant's other half is the idle receiver's, at once.
    expect(idle.filter(isTurn)).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(2_100);
    expect(hanging.filter(isTurn)).toHaveLength(5);
    expect(hanging.filter((e) => e === null)).toHaveLength(15);
    for (const end of [...hanging, ...idle]) end?.();
  });

  it('keeps a tenant only while it has POSTs in flight or waiting, or ended one within a second; one refused at its origin gives its turn back', async () => {
    const turns = new ReceiverTurns(20);
    const hung = await takeMany(turns, 'http://shared.test/hook', 1, 5);
    await vi.advanceTimersByTimeAsync(1500);
    // Tenant 2 at the hanging origin: a turn of its own, then none at the origin, so nothing kept for it.
    expect(await turns.take('http://shared.test/hook', 2)).toBeNull();
    expect(turns.kept()).toEqual({ origins: 1, tenants: 1 });
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => turns.take(`http://t${i}.test/hook`, 100 + i)));
    expect(turns.kept()).toEqual({ origins: 51, tenants: 51 });
    // The hung POSTs end late: no answer, so their origin and tenant are not kept for it.
    for (const end of [...hung, ...many]) end!();
    expect(turns.kept()).toEqual({ origins: 50, tenants: 50 });
    await vi.advanceTimersByTimeAsync(999);
    expect(turns.kept().tenants).toBe(50);
    await vi.advanceTimersByTimeAsync(2);
    expect(turns.kept()).toEqual({ origins: 0, tenants: 0 });
  });
});
