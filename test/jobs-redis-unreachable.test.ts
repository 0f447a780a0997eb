import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../src/jobs/job-system.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { OutboxRelay } from '../src/jobs/outbox-relay.js';
import { closeQueues, createQueues } from '../src/jobs/queues.js';
import { createRedis, hangUp } from '../src/jobs/redis.js';
import { settleWithin } from '../src/settle-within.js';
import { startHarness, type Harness } from './support/harness.js';
import { freePort, PrivateRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';

/** tcpmux: a privileged port nothing here listens on (see start-without-redis.test.ts). */
const DEAD_REDIS = 'redis://127.0.0.1:1';

/** Waits until `redis` has failed to connect and waits to try again: the state a stop found it in. */
const untilReconnecting = (redis: Redis) => waitFor(() => redis.status === 'reconnecting', 10_000, 'the connection to wait to reconnect');

/** Sessions of this test database inside a transaction that waits on nothing of Postgres's. */
const openTransactions = async (h: Harness) =>
  (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`))[0]!.n;

describe('hangUp', () => {
  it('ends a connection that waits to reconnect: its end is announced and its queued commands fail', async () => {
    const redis = createRedis(DEAD_REDIS, 'worker'); // the kind that queues commands while away
    await untilReconnecting(redis);
    const queued = redis.get('some-key');
    const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
    hangUp(redis);
    expect(await settleWithin(ended, 2000, 'no end')).toBeUndefined();
    expect(redis.status).toBe('end');
    await expect(settleWithin(queued, 2000, 'still queued')).rejects.toThrow(/closed/i);
  });

  it('ends a connected one too', async () => {
    const redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
    await waitFor(() => redis.status === 'ready', 10_000, 'the connection to be ready');
    const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
    hangUp(redis);
    expect(await settleWithin(ended, 2000, 'no end')).toBeUndefined();
    expect(redis.status).toBe('end');
  });
});

describe('the bullmq job provider while Redis has never answered', () => {
  let h: Harness;
  const systems: JobSystem[] = [];
  beforeAll(async () => {
    h = await startHarness({ jobs: 'producer' });
  });
  afterAll(async () => {
    await Promise.all(systems.map((system) => settleWithin(system.close(), 5000, undefined)));
    await h?.close();
  });
  const start = async () => {
    const system = await startJobSystem(h.deps, { ...h.config, redisUrl: DEAD_REDIS }, { withWorkers: true });
    systems.push(system);
    return system;
  };

  it('claims no outbox row, so no transaction is held open for the outage, and stops at once', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const system = await start();
    const job = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 });
    expect(job.statusCode).toBe(202);
    await untilReconnecting(system.redis);
    // Twenty of the harness's outbox polls: a relay that claims would have claimed by now.
    await new Promise((r) => setTimeout(r, 20 * h.config.jobs.outboxPollMs));
    expect(await openTransactions(h)).toBe(0);
    const [unclaimed] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where relayed_at is null and type = 'generate_licenses'`);
    expect(unclaimed!.n).toBe(1);
    await expectPromptStop(system);
    expect(await openTransactions(h)).toBe(0);
  });

  it('stops at once while a reconcile pass waits on the queue (started during an outage, with work from before)', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    // A generation job an earlier run relayed and never finished: the reconciler looks for its job.
    const job = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 });
    await h.deps.db.query(`update outbox set relayed_at = now() where type = 'generate_licenses' and relayed_at is null`);
    const [queued] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from jobs where id = $1 and status = 'queued'`, [job.json().job.id]);
    expect(queued!.n).toBe(1);
    const system = await start();
    await untilReconnecting(system.redis);
    await expectPromptStop(system);
  });
});

describe('the outbox relay, when Redis takes its connection and then stops answering', () => {
  let h: Harness;
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    h = await startHarness({ jobs: 'producer' });
  });
  afterAll(async () => {
    redis?.thaw();
    await h?.close();
    await redis?.stop();
  });

  it('rolls its claim back at the time-out, holding no transaction, and relays the rows once Redis answers', async () => {
    const producer = createRedis(redis.url, 'producer');
    const queues = createQueues(producer, 'kct_hung');
    try {
      await queues.generate.waitUntilReady();
      const relay = new OutboxRelay(h.deps, jobSpecsFor(queues, h.jobs!.installationId), { pollMs: 1000, enqueueTimeoutMs: 300, canEnqueue: () => producer.status === 'ready' });
      const s = await h.seller();
      const { plan } = await s.setup();
      const job = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 });
      expect(job.statusCode).toBe(202);

      redis.freeze();
      expect(producer.status).toBe('ready'); // its socket is open: nothing tells the relay Redis is away
      await expect(settleWithin(relay.relayOnce(), 5000, 'still waiting')).rejects.toThrow(/did not take the claimed rows within 300 ms/);
      expect(await openTransactions(h)).toBe(0);
      const [unclaimed] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where relayed_at is null and type = 'generate_licenses'`);
      expect(unclaimed!.n).toBe(1);

      redis.thaw();
      expect(await relay.relayOnce()).toBe(1);
      const [left] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where relayed_at is null`);
      expect(left!.n).toBe(0);
      expect(await queues.generate.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(1);
    } finally {
      redis.thaw();
      await closeQueues(queues);
      hangUp(producer);
    }
  });

  it("gives up on a producer's command after 5 s, not when Redis answers again", { timeout: 20_000 }, async () => {
    const producer = createRedis(redis.url, 'producer');
    try {
      await waitFor(() => producer.status === 'ready', 10_000, 'the connection to be ready');
      redis.freeze();
      const started = Date.now();
      await expect(settleWithin(producer.ping(), 10_000, 'still waiting')).rejects.toThrow(/timed out/i);
      expect(Date.now() - started).toBeLessThan(7_000);
    } finally {
      redis.thaw();
      hangUp(producer);
    }
  });

  it('a job system on it stops at once: its workers do not wait for Redis, and the claim waiting on it rolls back', async () => {
    const system = await startJobSystem(h.deps, { ...h.config, redisUrl: redis.url }, { withWorkers: true });
    try {
      await waitFor(() => system.redis.status === 'ready', 10_000, 'the job system to connect');
      await system.queues.generate.waitUntilReady();
      const s = await h.seller();
      const { plan } = await s.setup();
      redis.freeze();
      expect((await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 })).statusCode).toBe(202);
      await waitFor(async () => (await openTransactions(h)) === 1, 5_000, 'the relay to claim the row and wait on Redis');
      await expectPromptStop(system);
      expect(await openTransactions(h)).toBe(0);
      const [unclaimed] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where relayed_at is null and type = 'generate_licenses'`);
      expect(unclaimed!.n).toBe(1);
    } finally {
      redis.thaw();
      await settleWithin(system.close(), 5000, undefined);
    }
  });
});

/** Its close() is over within 5 s (the shutdown grace is 15 s). */
async function expectPromptStop(system: JobSystem) {
  expect(
    await settleWithin(
      system.close().then(() => 'stopped'),
      5000,
      'still stopping',
    ),
  ).toBe('stopped');
}
