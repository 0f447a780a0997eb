import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../src/jobs/job-system.js';
import { FOREIGN_JOB } from '../src/jobs/queues.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { flushRedisPrefix } from './support/redis.js';
import { waitFor } from './support/wait.js';

const harnesses: Harness[] = [];
const systems: JobSystem[] = [];
const prefixes = new Set<string>();
afterAll(async () => {
  for (const system of systems) await system.close();
  for (const h of harnesses) await h.close();
  for (const prefix of prefixes) await flushRedisPrefix(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
});

async function installation(env: Record<string, string>, jobs?: 'workers') {
  const h = await startHarness({ env: { GENERATE_BATCH_SIZE: '500', JOB_RECONCILE_EVERY: '200ms', ...env }, ...(jobs ? { jobs } : {}) });
  harnesses.push(h);
  if (h.jobs) prefixes.add(h.jobs.queuePrefix);
  return h;
}

async function workersFor(h: Harness) {
  const system = await startJobSystem(h.deps, h.config, { withWorkers: true });
  systems.push(system);
  prefixes.add(system.queuePrefix);
  return system;
}

async function firstBulkJob(h: Harness, count: number) {
  const s = await h.seller();
  const { plan } = await s.setup();
  const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count });
  expect(res.statusCode).toBe(202);
  return { s, job: res.json().job as { id: number } };
}

async function completed(h: Harness, s: Seller, jobId: number, count: number) {
  const job = await waitFor(
    async () => {
      const j = (await s.call('GET', `/api/jobs/${jobId}`)).json();
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    },
    30_000,
    `job ${jobId} of ${h.databaseUrl}`,
  );
  expect(job).toMatchObject({ status: 'completed', generated: count });
  const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where job_id = $1', [jobId]);
  expect(row!.n).toBe(count);
}

// BullMQ only: queue prefixes and installation ids on a shared Redis; the local provider shares nothing.
describe('installations sharing one Redis', () => {
  it('left on the default queue prefix, each gets a prefix of its own and both first bulk jobs complete', async () => {
    // QUEUE_PREFIX empty is QUEUE_PREFIX unset.
    const a = await installation({ QUEUE_PREFIX: '' }, 'workers');
    const b = await installation({ QUEUE_PREFIX: '' }, 'workers');
    expect(a.jobs!.installationId).not.toBe(b.jobs!.installationId);
    expect(a.jobs!.queuePrefix).toBe(`keycord:${a.jobs!.installationId.slice(0, 8)}`);
    expect(b.jobs!.queuePrefix).not.toBe(a.jobs!.queuePrefix);

    const first = await firstBulkJob(a, 1500);
    const second = await firstBulkJob(b, 2000);
    expect(first.job.id).toBe(second.job.id);
    await completed(a, first.s, first.job.id, 1500);
    await completed(b, second.s, second.job.id, 2000);
  }, 60_000);

  it('given the same QUEUE_PREFIX, each runs only its own jobs and both first bulk jobs complete', async () => {
    const shared = `kct_shared_${randomBytes(4).toString('hex')}`;
    const a = await installation({ QUEUE_PREFIX: shared }, 'workers');
    const b = await installation({ QUEUE_PREFIX: shared }, 'workers');
    expect(a.jobs!.queuePrefix).toBe(shared);

    const [first, second] = await Promise.all([firstBulkJob(a, 3000), firstBulkJob(b, 2500)]);
    expect(first.job.id).toBe(second.job.id);
    await completed(a, first.s, first.job.id, 3000);
    await completed(b, second.s, second.job.id, 2500);
  }, 60_000);

  it('a worker refuses, without retry, a job that names another installation', async () => {
    const h = await installation({ QUEUE_PREFIX: `kct_foreign_${randomBytes(4).toString('hex')}` }, 'workers');
    const foreign = await h.jobs!.queues.generate.add('generate_licenses', { job_id: 1, installation: 'another-installation' }, { jobId: 'gen-another-1', attempts: 5 });
    const state = await waitFor(
      async () => {
        const s = await foreign.getState();
        return s === 'failed' || s === 'completed' ? s : undefined;
      },
      15_000,
      'the foreign job to be refused',
    );
    expect(state).toBe('failed');
    const refused = await h.jobs!.queues.generate.getJob('gen-another-1');
    expect(refused!.failedReason).toMatch(new RegExp(`^${FOREIGN_JOB}`));
    expect(refused!.attemptsMade).toBe(1);
  });

  it('a database restored from a backup reissues a job id Redis holds as completed: the new job is told apart and runs', async () => {
    const prefix = `kct_restored_${randomBytes(4).toString('hex')}`;
    const before = await installation({ QUEUE_PREFIX: prefix });
    const beforeWorkers = await workersFor(before);
    const old = await firstBulkJob(before, 1100);
    await completed(before, old.s, old.job.id, 1100);
    await beforeWorkers.close();
    systems.splice(systems.indexOf(beforeWorkers), 1);

    // The restored database: same installation id, same sequences, none of the later work.
    const restored = await installation({ QUEUE_PREFIX: prefix });
    await restored.deps.db.query('insert into installation (id) values ($1)', [beforeWorkers.installationId]);
    const workers = await workersFor(restored);
    expect(workers.installationId).toBe(beforeWorkers.installationId);
    const reissued = await firstBulkJob(restored, 1200);
    expect(reissued.job.id).toBe(old.job.id);
    await completed(restored, reissued.s, reissued.job.id, 1200);
  }, 60_000);
});
