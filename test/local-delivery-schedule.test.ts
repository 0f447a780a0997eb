import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { DeliverySchedule } from '../src/jobs/local/delivery-schedule.js';
import { startLocalJobProvider } from '../src/jobs/local/local-job-provider.js';
import { WEBHOOK_ATTEMPTS } from '../src/jobs/queues.js';
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

/** Deps whose load statement (pending deliveries) returns its rows only once `release` is called. */
function gatedDeps() {
  let gate: Promise<void> | undefined;
  let release = () => {};
  let readDone = () => {};
  let read = Promise.resolve();
  const deps: Deps = {
    ...h.deps,
    db: {
      ...h.deps.db,
      query: async (text: string, params?: unknown[]) => {
        const rows = await h.deps.db.query(text, params);
        if (gate && text.includes('redeliveries as') && Number(params?.[0]) > 0) {
          readDone();
          await gate;
        }
        return rows as never;
      },
    },
  };
  return {
    deps,
    arm: () => {
      gate = new Promise<void>((r) => (release = r));
      read = new Promise<void>((r) => (readDone = r));
    },
    readTaken: () => read,
    release: () => {
      const r = release;
      gate = undefined;
      r();
    },
  };
}

/** `n` deliveries to `url`, each with one failed attempt recorded (status 500), pending. */
async function failedOnce(url: string, n: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] })).json() as { id: number };
  for (const lic of await s.generate(plan.id, n)) expect((await s.call('POST', `/api/licenses/${lic.id}/ban`, {})).statusCode).toBe(200);
  const provider = await startLocalJobProvider(h.deps, { ...h.config.jobs, webhookRetryBaseMs: 3_600_000 });
  try {
    await waitFor(
      async () => {
        const [row] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where webhook_id = $1 and attempts = 1`, [hook.id]);
        return row!.n === n || undefined;
      },
      20_000,
      'failed first attempts',
    );
  } finally {
    await provider.close();
  }
  const ids = (await h.deps.db.query<{ id: string }>(`select id from webhook_deliveries where webhook_id = $1 order by id`, [hook.id])).map((r) => Number(r.id));
  return { hook, ids };
}

const posts = (rx: { received: { headers: Record<string, unknown> }[] }, id: number) => rx.received.filter((r) => Number(r.headers['x-keycord-delivery']) === id).length;

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

describe('the local delivery schedule, handed a delivery it holds', () => {
  it('takes the backoff of an attempt the dispatch made since, not its older slot due at once', async () => {
    // No database work may start here: nothing is due.
    let statements = 0;
    const deps = { ...h.deps, db: { ...h.deps.db, query: async () => void statements++ } } as unknown as Deps;
    const schedule = new DeliverySchedule(deps, { retryBaseMs: 600_000, concurrency: 10 });
    // Handed over unattempted (no turn at its receiver): due at once.
    schedule.added([{ id: 1, attemptsMade: 0 }]);
    // A re-run dispatch of its event made its first attempt, which failed: 10 minutes away.
    schedule.added([{ id: 1, attemptsMade: 1 }]);
    // Handed over again with what it already knows: nothing changes.
    schedule.added([{ id: 1, attemptsMade: 1 }], Date.now() - 600_000);
    expect(schedule.scheduled).toBe(1);
    schedule.startDue(Date.now() + 60_000);
    await schedule.settle();
    expect(statements).toBe(0);
  });
});

describe('the local delivery schedule, loads racing attempts', () => {
  it('does not attempt a delivery again after its last attempt gave up on it', async () => {
    const rx = await startReceiver(() => 500);
    try {
      const x = (await failedOnce(rx.url, 1)).ids[0]!;
      // 18 attempts made, the last 4 hours ago: its 19th (last) attempt is due.
      await h.deps.db.query(`insert into webhook_attempts (delivery_id, status_code, duration_ms) select $1::bigint, 500, 1 from generate_series(2, $2::int)`, [x, WEBHOOK_ATTEMPTS - 1]);
      await h.deps.db.query(`update webhook_attempts set created_at = now() - interval '4 hours' where delivery_id = $1`, [x]);
      await h.deps.db.query('update webhook_deliveries set attempts = $2 where id = $1', [x, WEBHOOK_ATTEMPTS - 1]);
      // A thousand more pending deliveries (after X: a second page of the load), each failed just now.
      await h.deps.db.query(
        `insert into webhook_deliveries (webhook_id, event_id, event_type, body, status, attempts)
         select webhook_id, -g, event_type, body, 'pending', 1 from webhook_deliveries, generate_series(1, 1000) g where id = $1`,
        [x],
      );
      await h.deps.db.query(
        `insert into webhook_attempts (delivery_id, status_code, duration_ms) select d.id, 500, 1 from webhook_deliveries d
         where d.webhook_id = (select webhook_id from webhook_deliveries where id = $1) and d.event_id < 0`,
        [x],
      );
      const g = gatedDeps();
      const schedule = new DeliverySchedule(g.deps, { retryBaseMs: 600_000, concurrency: 10 });
      await schedule.load();

      // A load reads X (18 attempts) ...
      g.arm();
      const loading = schedule.load();
      await g.readTaken();
      // ... then a pass starts X's last attempt, which fails: X is given up on.
      schedule.startDue();
      await schedule.settle();
      expect((await h.deps.db.query<{ status: string }>('select status from webhook_deliveries where id = $1', [x]))[0]!.status).toBe('failed');
      expect(posts(rx, x)).toBe(2);
      // The load ends.
      g.release();
      await loading;
      expect(schedule.scheduled).toBe(1000); // the read from before it gave up on X does not put X back
      schedule.startDue();
      await schedule.settle();
      expect(posts(rx, x)).toBe(2); // no 20th POST, after giving up
    } finally {
      await rx.close();
    }
  });

  it('a retry that finds the schedule full is not attempted again at once on the stale read (no backoff)', async () => {
    const rx = await startReceiver(() => 500);
    try {
      const { ids } = await failedOnce(rx.url, 2);
      const [x, y] = ids as [number, number];
      // X failed an hour ago: due. Y failed just now: due in 10 minutes.
      await h.deps.db.query(`update webhook_attempts set created_at = now() - interval '1 hour' where delivery_id = $1`, [x]);
      await h.deps.db.query(`update webhook_attempts set created_at = now() where delivery_id = $1`, [y]);
      const g = gatedDeps();
      const schedule = new DeliverySchedule(g.deps, { retryBaseMs: 600_000, concurrency: 10, capacity: 2 });
      await schedule.load();
      expect(schedule.scheduled).toBe(2);
      const before = rx.received.length;

      g.arm();
      const loading = schedule.load();
      await g.readTaken();
      schedule.startDue(); // X's 2nd attempt starts
      // A dispatch hands over another delivery meanwhile (first attempt failed): the schedule is full again.
      schedule.added([{ id: 2_000_000_000, attemptsMade: 1 }]);
      await schedule.settle(); // X fails again: its retry (20 min away) is left in the database
      expect(posts(rx, x)).toBeGreaterThan(0);
      const xPostsAfterSecond = posts(rx, x);
      g.release();
      await loading;
      schedule.startDue();
      await schedule.settle();
      // X's next attempt is 20 minutes away: no POST now.
      expect(posts(rx, x)).toBe(xPostsAfterSecond); // not again at once, from the read before its attempt
      expect(rx.received.length - before).toBe(1);
    } finally {
      await rx.close();
    }
  });
});

/** Waits until a session of this test's database holds the runner lock (an advisory lock). */
const untilLockHeld = (timeoutMs: number, what: string) =>
  waitFor(
    async () =>
      (await h.deps.db.query(`select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`)).length > 0 || undefined,
    timeoutMs,
    what,
  );

describe('the local provider taking the runner lock back', () => {
  it('does not start attempts from the schedule held before the lock was lost, before reading the database', { timeout: 30_000 }, async () => {
    const rx = await startReceiver(() => 500);
    try {
      // The tests before leave deliveries pending; this provider has only its own to attempt.
      await h.deps.db.query(`update webhook_deliveries set status = 'failed' where status = 'pending'`);
      const s = await h.seller();
      const { app, plan } = await s.setup();
      const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
      // Retries ~3 s apart; the lock is retried 4 s after it is lost.
      const provider = await startLocalJobProvider(h.deps, { ...h.config.jobs, webhookRetryBaseMs: 3000, reconcileEveryMs: 4000 });
      try {
        await untilLockHeld(10_000, 'the runner lock');
        const [lic] = await s.generate(plan.id);
        expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, {})).statusCode).toBe(200);
        const d = await waitFor(
          async () => (await h.deps.db.query<{ id: string }>(`select id from webhook_deliveries where webhook_id = $1 and attempts = 1`, [hook.id]))[0],
          10_000,
          'a failed first attempt',
        );
        // The lock's connection is lost: this process stops running the jobs (its schedule: X due in ~3 s).
        await h.deps.db.query(`select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`);
        // Meanwhile another process runs them, and makes X's next attempts (the last one just now).
        await h.deps.db.query(`insert into webhook_attempts (delivery_id, status_code, duration_ms) select $1::bigint, 500, 1 from generate_series(1, 3)`, [d.id]);
        await h.deps.db.query(`update webhook_deliveries set attempts = 4 where id = $1`, [d.id]);
        // This process takes the lock back (~4 s later): X's next attempt is 24 s after the other process's last one.
        await untilLockHeld(15_000, 'the lock taken back');
        await new Promise((r) => setTimeout(r, 1500));
        expect(rx.received).toHaveLength(1); // not the slot held before the lock was lost, at once
      } finally {
        await provider.close();
      }
    } finally {
      await rx.close();
    }
  });
});
