import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { busyPostponeMs } from '../src/jobs/definitions/deliver-webhook.js';
import { ReceiverTurns, type EndTurn } from '../src/jobs/receiver-turns.js';
import type { Harness } from './support/harness.js';
import { JOB_PROVIDERS, startHarnessWith } from './support/job-providers.js';
import { startHeldReceiver, startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';
import { commitBannedEvents, FAIRNESS_ENV, ORIGIN_SHARE } from './support/webhook-fairness.js';

/**
 * One seller's receiver hangs while its bulk ban goes out; another seller's event must not wait
 * for it. Before receiver turns (src/jobs/receiver-turns.ts) the hanging POSTs held every webhook
 * slot of the process until their timeout (10 s), and the other seller's delivery waited behind.
 */

const verify = (secret: string, header: string, body: string) => {
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
  return v1 === createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
};

/** Many times the process's POSTs: on its own, the ban would hold every slot for its whole length. */
const BANNED = 200;
/** The other seller's delivery arrives within this while the first seller's receiver hangs. */
const OTHER_WITHIN_MS = 3000;

describe.each(JOB_PROVIDERS)('a hanging receiver with the $name job provider', (provider) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarnessWith(provider, { env: FAIRNESS_ENV });
  });
  afterAll(() => h?.close());

  it("takes only its share of the process's POSTs; another seller's delivery goes at once, and each delivery arrives once when it answers again", async () => {
    const rxA = await startHeldReceiver();
    const rxB = await startReceiver();
    try {
      const a = await h.seller('hanging');
      const { app: appA } = await a.setup();
      const hookA = (await a.call('POST', `/api/applications/${appA.id}/webhooks`, { url: rxA.url, events: ['license.banned'] })).json();
      const b = await h.seller('other');
      const { app: appB, plan: planB } = await b.setup();
      const hookB = (await b.call('POST', `/api/applications/${appB.id}/webhooks`, { url: rxB.url, events: ['license.banned'] })).json();
      const [licenseB] = await b.generate(planB.id, 1);

      // A bulk ban of the first seller: its events committed at once, as a bulk action leaves them.
      await commitBannedEvents(h, appA.id, BANNED, 'BANNED');
      // Its receiver now holds POSTs.
      await waitFor(() => rxA.held() >= ORIGIN_SHARE, 10_000, 'the hanging receiver to hold POSTs');
      await new Promise((r) => setTimeout(r, 500));

      // Meanwhile the other seller bans a license: delivered promptly.
      const bannedAt = Date.now();
      expect((await b.call('POST', `/api/licenses/${licenseB!.id}/ban`, {})).statusCode).toBe(200);
      await waitFor(() => rxB.received.length >= 1, OTHER_WITHIN_MS, "the other seller's delivery");
      expect(Date.now() - bannedAt).toBeLessThan(OTHER_WITHIN_MS);
      // At most its share of POSTs, whatever its backlog.
      expect(rxA.held()).toBeLessThanOrEqual(ORIGIN_SHARE);
      const gotB = rxB.received[0]!;
      expect(verify(hookB.secret, String(gotB.headers['x-keycord-signature']), gotB.body)).toBe(true);

      // Still hanging past a turn's longest wait: the backlog is left to the retry schedule, not attempted.
      await new Promise((r) => setTimeout(r, 2500));
      expect(rxA.held()).toBeLessThanOrEqual(ORIGIN_SHARE);
      const [waiting] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where webhook_id = $1 and status = 'pending' and attempts = 0`, [hookA.id]);
      expect(waiting!.n).toBeGreaterThan(BANNED / 2);

      // The first receiver answers again (before the webhook timeout: no attempt has failed).
      rxA.release();
      const deliveriesA = () =>
        h.deps.db.query<{ id: string; status: string; attempts: number; logged: number }>(
          `select d.id::text, d.status, d.attempts, (select count(*)::int from webhook_attempts w where w.delivery_id = d.id) as logged
             from webhook_deliveries d where d.webhook_id = $1 order by d.id`,
          [hookA.id],
        );
      const rows = await waitFor(
        async () => {
          const r = await deliveriesA();
          return r.length === BANNED && r.every((d) => d.status === 'delivered') && r;
        },
        20_000,
        "every one of the first seller's deliveries",
      );
      // Each delivered on one attempt: a turn put off is no attempt, and a postponed POST was never sent.
      expect(rows.filter((d) => d.attempts !== 1 || d.logged !== 1)).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
      const ids = rxA.received.map((r) => String(r.headers['x-keycord-delivery']));
      expect(ids).toHaveLength(BANNED);
      expect(new Set(ids)).toEqual(new Set(rows.map((d) => d.id)));
      for (const r of rxA.received) expect(verify(hookA.secret, String(r.headers['x-keycord-signature']), r.body)).toBe(true);
      const bodies = new Set(rxA.received.map((r) => (JSON.parse(r.body) as { data: { license: { key: string } } }).data.license.key));
      expect(bodies.size).toBe(BANNED);

      const [rowB] = await h.deps.db.query<{ status: string; attempts: number }>('select status, attempts from webhook_deliveries where webhook_id = $1', [hookB.id]);
      expect(rowB).toEqual({ status: 'delivered', attempts: 1 });
      expect(rxB.received).toHaveLength(1);
    } finally {
      rxA.release();
      await rxA.close();
      await rxB.close();
    }
  }, 30_000);
});

describe('ReceiverTurns (one process, 20 POSTs: a slow origin 5 of them, one that answers all 20)', () => {
  const takeMany = (turns: ReceiverTurns, url: string, n: number) => Promise.all(Array.from({ length: n }, () => turns.take(url)));

  it('a hanging origin has its share; past it a POST waits 2 s at most, none once the origin is slow; other origins go at once', async () => {
    vi.useFakeTimers();
    try {
      const turns = new ReceiverTurns(20);
      const hanging = await takeMany(turns, 'http://a.test/hook', 5);
      expect(hanging.every((e) => typeof e === 'function')).toBe(true);
      let waited: EndTurn | null | undefined;
      void turns.take('http://a.test/other').then((e) => (waited = e));
      expect(await turns.take('http://b.test/hook')).toBeTypeOf('function');
      await vi.advanceTimersByTimeAsync(1500);
      expect(waited).toBeUndefined();
      // Its oldest POST has hung past a second: no wait at all now.
      expect(await turns.take('http://a.test/hook')).toBeNull();
      await vi.advanceTimersByTimeAsync(600);
      expect(waited).toBeNull();
      // It answers again: a freed turn is taken at once.
      hanging[0]!();
      hanging[0]!();
      expect(await turns.take('http://a.test/hook')).toBeTypeOf('function');
    } finally {
      vi.useRealTimers();
    }
  });

  it('an origin that answers goes past its share up to its max, and a freed turn goes to the first waiter', async () => {
    const turns = new ReceiverTurns(20);
    const first = await takeMany(turns, 'http://a.test/hook', 5);
    const order: number[] = [];
    const waiting = [1, 2].map((i) => turns.take('http://a.test/hook').then((e) => (order.push(i), e)));
    first[0]!();
    const [w1, w2] = await Promise.all(waiting);
    expect(order).toEqual([1, 2]);
    // It ended a POST just now and none is old: up to 20 in flight (4 + 2 + 14 more).
    const more = await takeMany(turns, 'http://a.test/hook', 14);
    expect(more.every((e) => typeof e === 'function')).toBe(true);
    let twentyFirst: EndTurn | null | undefined;
    void turns.take('http://a.test/hook').then((e) => (twentyFirst = e));
    await new Promise((r) => setTimeout(r, 20));
    expect(twentyFirst).toBeUndefined();
    w1!();
    await new Promise((r) => setTimeout(r, 0));
    expect(twentyFirst).toBeTypeOf('function');
    for (const end of [...first.slice(1), w2, ...more, twentyFirst]) (end as EndTurn)();
  });
});

describe('a delivery put off because its receiver is busy', () => {
  it('waits 1.5 s the first time, twice as long each time in a row after, at most a minute (±25%)', () => {
    const bounds = (busy: number) => Array.from({ length: 200 }, () => busyPostponeMs(busy));
    for (const [busy, base] of [
      [1, 1500],
      [2, 3000],
      [3, 6000],
      [7, 60_000],
      [40, 60_000],
    ] as const) {
      const waits = bounds(busy);
      expect(Math.min(...waits), `busy ${busy}`).toBeGreaterThanOrEqual(base * 0.75);
      expect(Math.max(...waits), `busy ${busy}`).toBeLessThanOrEqual(base * 1.25);
    }
  });
});
