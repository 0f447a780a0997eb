import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { Deps } from '../src/core/deps.js';
import { startJobSystem, type JobSystem } from '../src/jobs/job-system.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { startHarness, TEST_SECRET, type Harness, type Seller } from './support/harness.js';
import { startReceiver, type Received } from './support/receiver.js';
import { flushRedisPrefix, freePort, PrivateRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';

const deliveryIdOf = (r: Received) => String(r.headers['x-keycord-delivery']);

async function jobWhen(s: Seller, jobId: number, ready: (job: { status: string; generated: number }) => boolean, what: string) {
  return waitFor(
    async () => {
      const job = (await s.call('GET', `/api/jobs/${jobId}`)).json();
      return ready(job) ? job : undefined;
    },
    60_000,
    what,
  );
}

async function jobKeys(h: Harness, jobId: number) {
  const [row] = await h.deps.db.query<{ n: number; distinct_keys: number }>('select count(*)::int as n, count(distinct license_key)::int as distinct_keys from licenses where job_id = $1', [jobId]);
  return row;
}

async function pendingDeliveryAttempts(h: Harness) {
  return h.deps.db.query<{ id: string; attempts: number }>(`select id::text, attempts from webhook_deliveries where status = 'pending' order by id`);
}

/** A seller with a webhook on `license.banned` pointing at `url`, and licenses to ban. */
async function bannableLicenses(h: Harness, url: string, count: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] })).statusCode).toBe(201);
  const licenses = await s.generate(plan.id, count);
  const ban = async (i: number) => expect((await s.call('POST', `/api/licenses/${licenses[i]!.id}/ban`, {})).statusCode).toBe(200);
  return { s, plan, ban };
}

// BullMQ only: the reconciler re-enqueues what Redis lost; the local provider reads the database on every pass.
describe('Redis loses its data while work is unfinished', () => {
  let h: Harness;
  const systems: JobSystem[] = [];
  beforeAll(async () => {
    // This process only accepts requests; the worker side is started, stopped and restarted here.
    h = await startHarness({ jobs: 'producer', env: { GENERATE_BATCH_SIZE: '500', WEBHOOK_RETRY_BASE_MS: '4000' } });
  });
  afterAll(async () => {
    for (const system of systems) await system.close();
    await h?.close();
  });
  const workers = async () => {
    const system = await startJobSystem(h.deps, h.config, { withWorkers: true });
    systems.push(system);
    return system;
  };

  it('a restarted worker re-enqueues from the database what the queue lost, and everything completes exactly once', async () => {
    // The first three requests fail: their deliveries wait for a retry when Redis loses them.
    const rx = await startReceiver((_, n) => (n <= 3 ? 503 : 200));
    try {
      const { s, plan, ban } = await bannableLicenses(h, rx.url, 5);
      const first = await workers();
      for (const i of [0, 1, 2]) await ban(i);
      await waitFor(async () => ((await pendingDeliveryAttempts(h)).filter((d) => d.attempts === 1).length === 3 ? true : undefined), 15_000, 'three failed first attempts');

      const running = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 40_000 })).json().job;
      const queued = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).json().job;
      await jobWhen(s, running.id, (j) => j.generated >= 1000, 'the big job to be under way');
      await first.close();

      // Two events while no worker runs: one still in the outbox, one relayed whose job is then lost.
      await ban(3);
      const [lost] = await h.deps.db.query<{ id: string }>(`update outbox set relayed_at = now() where id = (select max(id) from outbox where type = 'license.banned') returning id::text`);
      await ban(4);

      const before = (await s.call('GET', `/api/jobs/${running.id}`)).json();
      expect(before.status).toBe('running');
      expect(before.generated).toBeLessThan(40_000);
      expect((await s.call('GET', `/api/jobs/${queued.id}`)).json().status).toBe('queued');
      expect((await pendingDeliveryAttempts(h)).map((d) => d.attempts)).toEqual([1, 1, 1]);
      await flushRedisPrefix(h.config.redisUrl, h.config.jobs.queuePrefix);
      expect(await h.jobs!.queues.generate.getJobCounts()).toMatchObject({ waiting: 0, active: 0, delayed: 0 });

      await workers();
      const done = await jobWhen(s, running.id, (j) => j.status !== 'running', 'the interrupted job to finish');
      expect(done).toMatchObject({ status: 'completed', generated: 40_000 });
      expect(await jobKeys(h, running.id)).toEqual({ n: 40_000, distinct_keys: 40_000 });
      expect(await jobWhen(s, queued.id, (j) => j.status !== 'queued' && j.status !== 'running', 'the queued job to finish')).toMatchObject({ status: 'completed', generated: 3000 });
      expect(await jobKeys(h, queued.id)).toEqual({ n: 3000, distinct_keys: 3000 });

      const deliveries = await waitFor(
        async () => {
          const rows = await h.deps.db.query<{ id: string; event_id: string; status: string; attempts: number }>(
            `select d.id::text, d.event_id::text, d.status, d.attempts from webhook_deliveries d join webhooks w on w.id = d.webhook_id
           where w.url = $1 order by d.id`,
            [rx.url],
          );
          return rows.length === 5 && rows.every((d) => d.status === 'delivered') ? rows : undefined;
        },
        30_000,
        'all five deliveries',
      );
      expect(deliveries.map((d) => d.event_id)).toContain(lost!.id);
      // Each delivery: its failed attempts (the first three), then exactly one success, all under its own id.
      expect(deliveries.map((d) => d.attempts)).toEqual([2, 2, 2, 1, 1]);
      const successes = rx.received.slice(3).map(deliveryIdOf);
      expect(successes.sort()).toEqual(deliveries.map((d) => d.id).sort());
      expect(rx.received.slice(0, 3).map(deliveryIdOf).sort()).toEqual(
        deliveries
          .slice(0, 3)
          .map((d) => d.id)
          .sort(),
      );
      // An event is marked dispatched when its job ends, which may be just after its deliveries land.
      await waitFor(
        async () => {
          const [undispatched] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where kind = 'event' and dispatched_at is null`);
          return undispatched!.n === 0 ? true : undefined;
        },
        15_000,
        'every event marked dispatched',
      );
    } finally {
      await rx.close();
    }
  }, 120_000);
});

describe('Redis restarts empty under running workers', () => {
  let h: Harness;
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    h = await startHarness({ jobs: 'workers', env: { REDIS_URL: redis.url, WEBHOOK_RETRY_BASE_MS: '1500' } });
  });
  afterAll(async () => {
    await redis?.start().catch(() => {});
    await h?.close();
    await redis?.stop();
  });

  it('the workers compare the queues with the database when Redis is back, and the waiting retry is delivered once', async () => {
    const rx = await startReceiver((_, n) => (n === 1 ? 503 : 200));
    try {
      const { ban } = await bannableLicenses(h, rx.url, 1);
      await ban(0);
      const [pending] = await waitFor(
        async () => {
          const rows = await pendingDeliveryAttempts(h);
          return rows.length === 1 && rows[0]!.attempts === 1 ? rows : undefined;
        },
        15_000,
        'the failed first attempt',
      );

      // This Redis keeps nothing on disk: it comes back empty, the retry it held gone with it.
      await redis.stop();
      await redis.start();

      // The attempt is recorded after the receiver has answered: wait for the row, not the request.
      const row = await waitFor(
        async () => {
          const [d] = await h.deps.db.query<{ status: string; attempts: number }>('select status, attempts from webhook_deliveries where id = $1', [pending!.id]);
          return d?.status === 'pending' ? undefined : d;
        },
        30_000,
        'the retry after Redis came back',
      );
      expect(row).toEqual({ status: 'delivered', attempts: 2 });
      expect(rx.received.map(deliveryIdOf)).toEqual([pending!.id, pending!.id]);
    } finally {
      await rx.close();
    }
  }, 60_000);
});

describe('the reconciler reads every list whole, a page at a time', () => {
  let h: Harness;
  beforeAll(async () => {
    // No workers: what the reconciler adds stays in the queues for the test to count.
    h = await startHarness({ jobs: 'producer' });
  });
  afterAll(() => h?.close());
  const flushQueues = () => flushRedisPrefix(h.config.redisUrl, h.config.jobs.queuePrefix);
  beforeEach(flushQueues);
  // Each test's work ends finished, so the next one's passes see only its own.
  afterEach(async () => {
    await h.deps.db.query(`update jobs set status = 'failed' where status in ('queued', 'running')`);
    await h.deps.db.query(`update outbox set dispatched_at = now() where kind = 'event' and dispatched_at is null`);
    await h.deps.db.query(`update webhook_deliveries set status = 'failed' where status = 'pending'`);
  });

  const specs = () => jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);
  const reconciler = (deps: Deps, pageSize?: number) => new Reconciler(deps, specs(), { everyMs: 60_000, webhookRetryBaseMs: 50, ...(pageSize ? { pageSize } : {}) });

  /** `n` of each kind of unfinished work, as the database holds it after Redis lost its jobs: ids ascending. */
  async function unfinishedWork(n: { generation: number; deliveries: number; events: number }) {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] });
    expect(hook.statusCode).toBe(201);
    const ids = async (rows: Promise<{ id: string }[]>) => (await rows).map((r) => Number(r.id)).sort((a, b) => a - b);
    const generation = await ids(
      h.deps.db.query(
        `insert into jobs (application_id, type, status, count, params, actor)
         select $1, 'generate_licenses', 'queued', 1000, $2::jsonb, '{}'::jsonb from generate_series(1, $3::int) returning id::text`,
        [app.id, JSON.stringify({ plan_id: plan.id, spec: { format: 'random' }, notes: null, discord_user_id: null }), n.generation],
      ),
    );
    // Relayed, their fan-out never run (so they have no deliveries yet).
    const events = await ids(
      h.deps.db.query(
        `insert into outbox (application_id, kind, type, payload, relayed_at) select $1, 'event', 'license.banned', '{}'::jsonb, now() from generate_series(1, $2::int) returning id::text`,
        [app.id, n.events],
      ),
    );
    // Each of its own dispatched event, none attempted yet.
    const deliveries = await ids(
      h.deps.db.query(
        `with ev as (
           insert into outbox (application_id, kind, type, payload, relayed_at, dispatched_at)
           select $1, 'event', 'license.banned', '{}'::jsonb, now(), now() from generate_series(1, $3::int) returning id
         )
         insert into webhook_deliveries (webhook_id, event_id, event_type, body) select $2, id, 'license.banned', '{}' from ev returning id::text`,
        [app.id, (hook.json() as { id: number }).id, n.deliveries],
      ),
    );
    return { generation, events, deliveries };
  }

  /** How many jobs each queue holds alive, and whether `ids` are each held under their first id and no later one. */
  async function held(ids: { generation: number[]; events: number[]; deliveries: number[] }) {
    const { queues } = h.jobs!;
    const alive = async (q: typeof queues.generate) => Object.values(await q.getJobCounts('waiting', 'delayed', 'prioritized', 'active')).reduce((a, b) => a + b, 0);
    const each = async (jobIds: string[], q: typeof queues.generate) => {
      const found = await Promise.all(jobIds.map(async (id) => [(await q.getJob(id)) !== undefined, (await q.getJob(`${id}-2`)) !== undefined]));
      return found.every(([first, second]) => first && !second);
    };
    const { ids: jobIds } = specs();
    return {
      generation: { alive: await alive(queues.generate), once: await each(ids.generation.map(jobIds.generation), queues.generate) },
      deliveries: { alive: await alive(queues.webhooks), once: await each(ids.deliveries.map(jobIds.delivery), queues.webhooks) },
      events: { alive: await alive(queues.events), once: await each(ids.events.map(jobIds.event), queues.events) },
    };
  }

  it('re-adds every one of more than a page of each kind, each once, after Redis is flushed', async () => {
    // Pages of 4: two and a bit, two exactly (an empty third page read), three and a bit.
    const ids = await unfinishedWork({ generation: 9, deliveries: 8, events: 13 });
    await flushQueues();
    const r = reconciler(h.deps, 4);
    expect(await r.reconcileOnce()).toEqual({ generation: 9, deliveries: 8, events: 13 });
    const once = { generation: { alive: 9, once: true }, deliveries: { alive: 8, once: true }, events: { alive: 13, once: true } };
    expect(await held(ids)).toEqual(once);
    // Everything is held now: the next pass adds nothing.
    expect(await r.reconcileOnce()).toEqual({ generation: 0, deliveries: 0, events: 0 });
    expect(await held(ids)).toEqual(once);
  });

  it('looks past a thousand generation jobs and events whose jobs Redis holds to the ones it lost', async () => {
    const ids = await unfinishedWork({ generation: 1003, deliveries: 0, events: 1003 });
    const s = specs();
    // The oldest thousand of each are held (waiting, or delayed); the three after them were lost.
    await h.jobs!.queues.generate.addBulk(
      ids.generation.slice(0, 1000).map((id) => ({ name: s.generation(id).name, data: s.generation(id).data, opts: { ...s.generation(id).opts, jobId: s.generation(id).jobId } })),
    );
    await h.jobs!.queues.events.addBulk(
      ids.events.slice(0, 1000).map((id) => {
        const spec = s.event(id, 'license.banned', { delayMs: 3_600_000 });
        return { name: spec.name, data: spec.data, opts: { ...spec.opts, jobId: spec.jobId } };
      }),
    );
    expect(await reconciler(h.deps).reconcileOnce()).toEqual({ generation: 3, deliveries: 0, events: 3 });
    expect(await held(ids)).toMatchObject({ generation: { alive: 1003, once: true }, events: { alive: 1003, once: true } });
  });

  it('a pass stopped part-way reads no further page', async () => {
    await unfinishedWork({ generation: 5, deliveries: 5, events: 5 });
    // Stopped while it reads its first page: that page's jobs go in, nothing after them is read.
    let reads = 0;
    let r: Reconciler | undefined;
    const query = <T>(text: string, params?: unknown[]) => {
      if (++reads === 1) void r!.stop();
      return h.deps.db.query<T>(text, params);
    };
    r = reconciler({ ...h.deps, db: { ...h.deps.db, query } }, 2);
    expect(await r.reconcileOnce()).toEqual({ generation: 2, deliveries: 0, events: 0 });
    expect(reads).toBe(1);
  });
});

describe('JOB_RECONCILE_EVERY', () => {
  const load = (every?: string) => loadConfig({ NODE_ENV: 'test', KEYCORD_SECRET: TEST_SECRET, ...(every ? { JOB_RECONCILE_EVERY: every } : {}) });

  it('defaults to a pass a minute and takes a duration', () => {
    expect(load().jobs.reconcileEveryMs).toBe(60_000);
    expect(load('30s').jobs.reconcileEveryMs).toBe(30_000);
  });

  it('stops start-up naming the variable when it is not a duration', () => {
    expect(() => load('soon')).toThrow(/JOB_RECONCILE_EVERY/);
    expect(() => load('10ms')).toThrow(/JOB_RECONCILE_EVERY/);
  });
});
