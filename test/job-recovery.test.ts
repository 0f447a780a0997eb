import { Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { forgetRelayedEvents } from '../src/core/events/forget-relayed-events.js';
import { enqueueManyUnlessHeld, enqueueUnlessHeld, type JobSpec } from '../src/jobs/enqueue.js';
import { startJobSystem, type JobSystem } from '../src/jobs/job-system.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { startLocalJobProvider, type LocalJobProvider } from '../src/jobs/local/local-job-provider.js';
import { QUEUES } from '../src/jobs/queues.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { createRedis } from '../src/jobs/redis.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver, type Received } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const deliveryIdOf = (r: Received) => String(r.headers['x-keycord-delivery']);

/** A seller's application with a webhook on license.banned at `url`, and `count` licenses to ban. */
async function hookedLicenses(h: Harness, url: string, count: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] });
  expect(hook.statusCode).toBe(201);
  const licenses = await s.generate(plan.id, count);
  const ban = async (i: number) => {
    expect((await s.call('POST', `/api/licenses/${licenses[i]!.id}/ban`, {})).statusCode).toBe(200);
    const [row] = await h.deps.db.query<{ id: string }>(`select max(id)::text as id from outbox where type = 'license.banned'`);
    return Number(row!.id);
  };
  return { s, app, plan, hookId: (hook.json() as { id: number }).id, ban };
}

/**
 * `n` events of `appId` relayed and dispatched, each with a pending delivery to `hookId` (ids
 * ascending), written as a day of a dead receiver leaves them. `attempted` of the first ones have had
 * an attempt just now.
 */
async function pendingDeliveriesOf(h: Harness, appId: number, hookId: number, n: number, attempted = 0) {
  const rows = await h.deps.db.query<{ id: string }>(
    `with ev as (
       insert into outbox (application_id, kind, type, payload, relayed_at, dispatched_at)
       select $1, 'event', 'license.banned', '{}'::jsonb, now(), now() from generate_series(1, $3::int)
       returning id
     )
     insert into webhook_deliveries (webhook_id, event_id, event_type, body)
     select $2, id, 'license.banned', '{}' from ev order by id
     returning id::text`,
    [appId, hookId, n],
  );
  const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  if (attempted > 0) {
    await h.deps.db.query(
      `with a as (insert into webhook_attempts (delivery_id, status_code, duration_ms) select unnest($1::bigint[]), 503, 5 returning delivery_id)
       update webhook_deliveries set attempts = 1, last_status_code = 503 where id = any($1::bigint[])`,
      [ids.slice(0, attempted)],
    );
  }
  return ids;
}

describe('BullMQ: work whose last try failed while Postgres was down', () => {
  let h: Harness;
  const systems: JobSystem[] = [];
  beforeAll(async () => {
    // This process only takes requests; workers are started by the test.
    h = await startHarness({ jobs: 'producer' });
  });
  afterAll(async () => {
    for (const system of systems) await system.close();
    await h?.close();
  });

  it('is added again by the reconciler under the next id of its chain, and finishes', async () => {
    const rx = await startReceiver(() => 200);
    try {
      const { s, app, plan, hookId, ban } = await hookedLicenses(h, rx.url, 2);
      const jobs = h.jobs!;
      const specs = jobSpecsFor(jobs.queues, jobs.installationId);
      // A generation job, an event and a delivery the database still calls unfinished…
      const generation = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 })).json().job as { id: number };
      const eventId = await ban(0);
      await h.deps.db.query(`update outbox set relayed_at = now() where id = $1 or (kind = 'command' and type = 'generate_licenses')`, [eventId]);
      const [deliveryId] = await pendingDeliveriesOf(h, app.id, hookId, 1);

      // …whose jobs BullMQ holds as failed: their last try could not write its give-up.
      const held: JobSpec[] = [specs.generation(generation.id), specs.event(eventId, 'license.banned'), specs.delivery(deliveryId!)];
      for (const spec of held) await spec.queue.add(spec.name, spec.data, { ...spec.opts, jobId: spec.jobId, attempts: 1 });
      const workerRedis = createRedis(h.config.redisUrl, 'worker');
      const failing = [QUEUES.generate, QUEUES.events, QUEUES.webhooks].map(
        (name) =>
          new Worker(
            name,
            async () => {
              throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
            },
            { connection: workerRedis, prefix: jobs.queuePrefix },
          ),
      );
      try {
        await waitFor(
          async () => ((await Promise.all(held.map(async (spec) => (await spec.queue.getJob(spec.jobId))?.getState()))).every((st) => st === 'failed') ? true : undefined),
          15_000,
          'the three jobs to fail',
        );
      } finally {
        await Promise.all(failing.map((w) => w.close()));
        workerRedis.disconnect();
      }

      const reconciler = new Reconciler(h.deps, specs, { everyMs: 60_000, webhookRetryBaseMs: h.config.jobs.webhookRetryBaseMs });
      expect(await reconciler.reconcileOnce()).toEqual({ generation: 1, deliveries: 1, events: 1 });
      for (const spec of held) expect(await spec.queue.getJob(`${spec.jobId}-2`)).toBeDefined();
      // Held alive now: a second pass adds nothing.
      expect(await reconciler.reconcileOnce()).toEqual({ generation: 0, deliveries: 0, events: 0 });

      systems.push(await startJobSystem(h.deps, h.config, { withWorkers: true }));
      const done = await waitFor(
        async () => {
          const job = (await s.call('GET', `/api/jobs/${generation.id}`)).json() as { status: string; generated: number };
          return job.status === 'completed' ? job : undefined;
        },
        60_000,
        'the generation job to complete',
      );
      expect(done.generated).toBe(1500);
      const delivered = await waitFor(
        async () => {
          const rows = await h.deps.db.query<{ id: string; status: string }>(`select id::text, status from webhook_deliveries where webhook_id = $1 order by id`, [hookId]);
          return rows.length === 2 && rows.every((r) => r.status === 'delivered') ? rows : undefined;
        },
        30_000,
        'the event dispatched and both deliveries delivered',
      );
      const [dispatched] = await h.deps.db.query<{ at: Date | null }>(`select dispatched_at as at from outbox where id = $1`, [eventId]);
      expect(dispatched?.at).not.toBeNull();
      expect(rx.received.map(deliveryIdOf).sort()).toEqual(delivered.map((r) => r.id).sort());
    } finally {
      await rx.close();
      // The next tests run reconciler passes of their own, with no worker taking the jobs.
      for (const system of systems.splice(0)) await system.close();
    }
  }, 120_000);

  it('a job id whose chain goes on past a removed stale job is not taken again', async () => {
    const jobs = h.jobs!;
    const spec: JobSpec = { queue: jobs.queues.events, name: 'gap', data: { outbox_id: 987_654, installation: jobs.installationId }, jobId: `gap-${jobs.installationId}-1` };
    const other: JobSpec = { ...spec, data: { outbox_id: 987_655, installation: jobs.installationId }, jobId: `gap-${jobs.installationId}-2` };
    // `<id>` went stale and has since been removed; `<id>-2` carries the work, waiting its turn.
    await spec.queue.add(spec.name, spec.data, { jobId: `${spec.jobId}-2`, delay: 3_600_000 });
    const wanted = vi.fn(async () => true);
    expect(await enqueueUnlessHeld(spec, wanted)).toBeNull();
    expect(
      await enqueueManyUnlessHeld(spec.queue, [
        { spec, stillWanted: wanted },
        { spec: other, stillWanted: wanted },
      ]),
    ).toBe(1);
    expect(await spec.queue.getJob(spec.jobId)).toBeUndefined();
    expect(await spec.queue.getJob(other.jobId)).toBeDefined();
    // Failed jobs are capped in number as completed ones are, not only kept for a week.
    expect(jobs.queues.webhooks.defaultJobOptions.removeOnFail).toMatchObject({ count: 10_000 });
  });

  it('the reconciler looks past a thousand pending deliveries whose retries Redis holds', async () => {
    const rx = await startReceiver(() => 200);
    try {
      const { app, hookId } = await hookedLicenses(h, rx.url, 1);
      const jobs = h.jobs!;
      const specs = jobSpecsFor(jobs.queues, jobs.installationId);
      const ids = await pendingDeliveriesOf(h, app.id, hookId, 1005, 1000);
      // The oldest thousand wait for their next attempt in Redis; the five after them were lost.
      await jobs.queues.webhooks.addBulk(
        ids.slice(0, 1000).map((id) => {
          const spec = specs.delivery(id, { delayMs: 3_600_000, attemptsLeft: 18 });
          return { name: spec.name, data: spec.data, opts: { ...spec.opts, jobId: spec.jobId } };
        }),
      );
      const reconciler = new Reconciler(h.deps, specs, { everyMs: 60_000, webhookRetryBaseMs: h.config.jobs.webhookRetryBaseMs });
      const counts = await reconciler.reconcileOnce();
      expect(counts.deliveries).toBe(5);
      for (const id of ids.slice(1000)) expect(await jobs.queues.webhooks.getJob(specs.ids.delivery(id))).toBeDefined();
      expect((await reconciler.reconcileOnce()).deliveries).toBe(0);
    } finally {
      await rx.close();
    }
  }, 60_000);
});

describe('BullMQ: an event dispatch whose hand-off to the retry schedule fails', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ jobs: 'workers' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs its listeners once, is not retried, and its delivery is re-added by the reconciler', async () => {
    const rx = await startReceiver((_r, n) => (n === 1 ? 503 : 200));
    try {
      const jobs = h.jobs!;
      const heard: number[] = [];
      h.jobProvider!.onEvent(async (event) => void heard.push(event.id));
      const { hookId, ban } = await hookedLicenses(h, rx.url, 1);
      // Redis blinks as the failed first attempt is handed to the delivery schedule.
      const handOff = vi.spyOn(jobs.queues.webhooks, 'addBulk').mockImplementationOnce(async () => {
        throw new Error('Connection is closed.');
      });
      const eventId = await ban(0);
      await waitFor(async () => handOff.mock.calls.length > 0 || undefined, 15_000, 'the hand-off');
      const [delivery] = await waitFor(
        async () => {
          const rows = await h.deps.db.query<{ id: string; attempts: number; dispatched: boolean }>(
            `select d.id::text, d.attempts, o.dispatched_at is not null as dispatched from webhook_deliveries d join outbox o on o.id = d.event_id where d.webhook_id = $1`,
            [hookId],
          );
          return rows[0]?.attempts === 1 && rows[0].dispatched ? rows : undefined;
        },
        15_000,
        'the failed first attempt, recorded with the dispatch mark',
      );
      // Time for a retry of the dispatch (a job of its own, a second later), had one been made.
      await new Promise((r) => setTimeout(r, 2500));
      expect(heard.filter((id) => id === eventId)).toHaveLength(1);
      expect(await jobs.queues.events.getJob(jobSpecsFor(jobs.queues, jobs.installationId).ids.event(eventId))).toBeUndefined();
      expect(rx.received).toHaveLength(1);

      // The delivery is pending in the database, its first attempt recorded: the reconciler takes it.
      expect((await jobs.reconciler!.reconcileOnce()).deliveries).toBe(1);
      const row = await waitFor(
        async () => {
          const [d] = await h.deps.db.query<{ status: string; attempts: number }>('select status, attempts from webhook_deliveries where id = $1', [delivery!.id]);
          return d?.status === 'delivered' ? d : undefined;
        },
        15_000,
        'the retry the reconciler added',
      );
      expect(row).toEqual({ status: 'delivered', attempts: 2 });
      expect(rx.received.map(deliveryIdOf)).toEqual([delivery!.id, delivery!.id]);
      expect(heard.filter((id) => id === eventId)).toHaveLength(1);
    } finally {
      await rx.close();
    }
  }, 60_000);

  it('an event job for an event already dispatched runs neither its fan-out nor its listeners', async () => {
    const rx = await startReceiver(() => 200);
    try {
      const jobs = h.jobs!;
      const heard: number[] = [];
      h.jobProvider!.onEvent(async (event) => void heard.push(event.id));
      const { hookId, ban } = await hookedLicenses(h, rx.url, 1);
      const eventId = await ban(0);
      await waitFor(async () => (await h.deps.db.query(`select 1 from outbox where id = $1 and dispatched_at is not null`, [eventId])).length > 0 || undefined, 15_000, 'the dispatch');
      await waitFor(async () => rx.received.length === 1 || undefined, 15_000, 'the delivery');
      // Its delivery let go again (as if it had been left to the schedule): a fan-out would take it.
      await h.deps.db.query(`update webhook_deliveries set status = 'pending' where webhook_id = $1`, [hookId]);

      const spec = jobSpecsFor(jobs.queues, jobs.installationId).event(eventId, 'license.banned');
      await spec.queue.add(spec.name, spec.data, { ...spec.opts, jobId: spec.jobId });
      const job = await waitFor(async () => ((await (await spec.queue.getJob(spec.jobId))?.getState()) === 'completed' ? spec.queue.getJob(spec.jobId) : undefined), 15_000, 'the event job');
      expect(job?.returnvalue).toEqual({ deliveries: 0 });
      expect(heard.filter((id) => id === eventId)).toHaveLength(1);
      expect(rx.received).toHaveLength(1);
      await h.deps.db.query(`update webhook_deliveries set status = 'delivered' where webhook_id = $1`, [hookId]);
    } finally {
      await rx.close();
    }
  }, 60_000);
});

describe('forgetting relayed outbox rows', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  it('drops commands and dispatched events past the week, keeps undispatched events and says how many', async () => {
    const rows = await h.deps.db.query<{ id: string; label: string }>(
      `insert into outbox (kind, type, payload, relayed_at, dispatched_at)
       values ('event', 'license.banned', '{"secret":"s3cret"}', now() - interval '8 days', now() - interval '8 days'),
              ('event', 'license.banned', '{"secret":"s3cret"}', now() - interval '8 days', null),
              ('command', 'generate_licenses', '{"job_id":1}', now() - interval '8 days', null),
              ('event', 'license.banned', '{}', now() - interval '1 day', now() - interval '1 day'),
              ('event', 'license.banned', '{}', now() - interval '8 days', now() - interval '1 day')
       returning id::text, case when dispatched_at is null then kind || ' undispatched' else kind end as label`,
    );
    const warn = vi.fn();
    const log = new Proxy(h.deps.log, { get: (target, key) => (key === 'warn' ? warn : Reflect.get(target, key)) });
    await forgetRelayedEvents({ ...h.deps, log } as Deps);
    const left = await h.deps.db.query<{ id: string }>(`select id::text from outbox where id = any($1::bigint[]) order by id`, [rows.map((r) => r.id)]);
    // The old dispatched event and the old command are gone; the undispatched one, and the events
    // dispatched within the week, stay.
    expect(left.map((r) => r.id)).toEqual([rows[1]!.id, rows[3]!.id, rows[4]!.id]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toEqual({ undispatched: 1 });
    expect(JSON.stringify(warn.mock.calls)).not.toContain('s3cret');
  });
});

describe('the local provider after a restart', () => {
  let h: Harness;
  const providers: LocalJobProvider[] = [];
  beforeAll(async () => {
    // No job side: the test starts the provider, as a restarted process would.
    h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h' } });
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
  });
  afterAll(() => h?.close());

  it('schedules every pending delivery, not only the thousand oldest', async () => {
    const rx = await startReceiver(() => 200);
    try {
      const s: Seller = await h.seller();
      const { app } = await s.setup();
      const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] });
      const hookId = (hook.json() as { id: number }).id;
      // The oldest thousand failed a moment ago and wait an hour for their next attempt; five after them are due.
      const ids = await pendingDeliveriesOf(h, app.id, hookId, 1005, 1000);
      providers.push(await startLocalJobProvider(h.deps, { ...h.config.jobs, webhookRetryBaseMs: 600_000 }));
      await waitFor(async () => rx.received.length >= 5 || undefined, 15_000, 'the five due deliveries');
      await waitFor(
        async () => {
          const [n] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where id = any($1::bigint[]) and status = 'delivered'`, [ids.slice(1000)]);
          return n!.n === 5 || undefined;
        },
        15_000,
        'the five recorded as delivered',
      );
      expect(rx.received.map(deliveryIdOf).sort()).toEqual(ids.slice(1000).map(String).sort());
    } finally {
      await rx.close();
    }
  }, 60_000);
});
