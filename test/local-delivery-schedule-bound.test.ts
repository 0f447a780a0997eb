import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliverySchedule } from '../src/jobs/local/delivery-schedule.js';
import { startLocalJobProvider } from '../src/jobs/local/local-job-provider.js';
import { startHarness, type Harness } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

// The harness runs no job side: each test starts its own local provider, or a delivery schedule
// alone, on the one database.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h' } });
});
afterAll(() => h?.close());

const pendingOf = async (hookId: number) =>
  (await h.deps.db.query<{ id: string }>(`select id from webhook_deliveries where webhook_id = $1 and status = 'pending' order by id`, [hookId])).map((r) => Number(r.id));

describe('the local delivery schedule, bounded', () => {
  it('holds the soonest due up to its capacity, and takes in the rest from the database as they come due', async () => {
    let status = 500;
    const rx = await startReceiver(() => status);
    try {
      const s = await h.seller();
      const { app, plan } = await s.setup();
      const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
      for (const lic of await s.generate(plan.id, 10)) expect((await s.call('POST', `/api/licenses/${lic.id}/ban`, {})).statusCode).toBe(200);

      // Each delivery's first attempt fails, with a retry far away.
      const provider = await startLocalJobProvider(h.deps, { ...h.config.jobs, webhookRetryBaseMs: 3_600_000 });
      try {
        await waitFor(
          async () => {
            const [row] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where webhook_id = $1 and attempts = 1`, [hook.id]);
            return row!.n === 10 || undefined;
          },
          20_000,
          'ten failed first attempts',
        );
      } finally {
        await provider.close();
      }
      // The newest delivery failed longest ago: due first. Due order is the reverse of id order.
      await h.deps.db.query(
        `update webhook_attempts a set created_at = now() - interval '1 hour' + make_interval(secs => r.n)
         from (select id, row_number() over (order by id desc) as n from webhook_deliveries where webhook_id = $1) r
         where a.delivery_id = r.id`,
        [hook.id],
      );
      const byDue = (await pendingOf(hook.id)).reverse();
      expect(byDue).toHaveLength(10);

      status = 200;
      const schedule = new DeliverySchedule(h.deps, { retryBaseMs: 1000, concurrency: 100, capacity: 4 });
      await schedule.load();
      expect(schedule.scheduled).toBe(4);
      // Full: a redelivery of one it does not hold stays in the database, for a load to take in.
      schedule.redelivered(byDue[9]!);
      expect(schedule.scheduled).toBe(4);
      expect(schedule.wantsLoad()).toBe(false); // held ones are due and not started yet

      const rounds: number[][] = [];
      for (let round = 0; round < 5 && (await pendingOf(hook.id)).length > 0; round++) {
        if (round > 0) {
          expect(schedule.wantsLoad()).toBe(true);
          await schedule.load();
        }
        const before = rx.received.length;
        schedule.startDue();
        await schedule.settle();
        rounds.push(rx.received.slice(before).map((r) => Number(r.headers['x-keycord-delivery'])));
      }
      // Four at a time, soonest due first.
      expect(rounds.map((r) => [...r].sort((a, b) => a - b))).toEqual([byDue.slice(0, 4), byDue.slice(4, 8), byDue.slice(8)].map((ids) => [...ids].sort((a, b) => a - b)));
      expect(await pendingOf(hook.id)).toEqual([]);
      await schedule.load();
      expect(schedule.scheduled).toBe(0);
      expect(schedule.wantsLoad()).toBe(false);
    } finally {
      await rx.close();
    }
  });

  it('a pass does not wait for the schedule to load: events are dispatched while it reads', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    // A transaction holding webhook_attempts stops the load's read (it counts attempts) until it ends.
    const sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = sql.begin(async (tx) => {
      await tx`lock table webhook_attempts in access exclusive mode`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    const heard: string[] = [];
    const provider = await startLocalJobProvider(h.deps, h.config.jobs);
    try {
      provider.onEvent(async (e) => void heard.push(`${e.type}:${(e.payload as { license: { id: number } }).license?.id}`));
      expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, {})).statusCode).toBe(200);
      await waitFor(async () => heard.includes(`license.banned:${lic!.id}`) || undefined, 10_000, 'the event dispatched while the load waits');
    } finally {
      release();
      await holding;
      await sql.end();
      await provider.close();
    }
  });
});
