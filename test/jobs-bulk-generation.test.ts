import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failGenerationJob, runGenerationJob } from '../src/core/jobs/run-generation-job.js';
import { generateLicensesTry } from '../src/jobs/definitions/generate-licenses.js';
import { startJobSystem, type JobSystem } from '../src/jobs/job-system.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { JOB_PROVIDERS_AND_PGLITE, startHarnessWith } from './support/job-providers.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

async function finished(s: Seller, jobId: number) {
  return waitFor(
    async () => {
      const job = (await s.call('GET', `/api/jobs/${jobId}`)).json();
      return job.status === 'completed' || job.status === 'failed' ? job : undefined;
    },
    30_000,
    `job ${jobId}`,
  );
}

describe.each(JOB_PROVIDERS_AND_PGLITE)('bulk generation with the $name job provider', (provider) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarnessWith(provider, { env: { GENERATE_BATCH_SIZE: '1000' } });
  });
  afterAll(() => h?.close());

  it('answers 202 with a job and ends with exactly count distinct keys', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5500, format: 'custom', prefix: 'BULK-', custom_format: 'XXXX-XXXX-XXXX-XXXX' });
    expect(res.statusCode).toBe(202);
    const { job } = res.json();
    expect(job).toMatchObject({ status: 'queued', count: 5500, generated: 0, progress: 0 });

    expect(await finished(s, job.id)).toMatchObject({ status: 'completed', count: 5500, generated: 5500, progress: 100 });

    const txt = await s.call('GET', `/api/jobs/${job.id}/licenses?format=txt`);
    expect(txt.headers['content-type']).toContain('text/plain');
    const keys = txt.body.trim().split('\n');
    expect(keys).toHaveLength(5500);
    expect(new Set(keys).size).toBe(5500);
    expect(keys.every((k) => /^BULK-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(k))).toBe(true);

    const json = (await s.call('GET', `/api/jobs/${job.id}/licenses?format=json`)).json();
    expect(json).toHaveLength(5500);
    expect(json[0]).toMatchObject({ license_key: keys[0], status: 'inactive' });
    const csv = (await s.call('GET', `/api/jobs/${job.id}/licenses?format=csv`)).body.trim().split('\n');
    expect(csv[0]).toBe('id,license_key,status,created_at');
    expect(csv).toHaveLength(5501);

    const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where job_id = $1', [job.id]);
    expect(row!.n).toBe(5500);
    const [generated] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.generated' and (payload->>'job_id')::int = $1`, [job.id]);
    expect(generated!.n).toBe(1);
  });

  it('hands out the keys a failed job committed before it failed, and none of a job still running', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 })).json();
    await finished(s, job.id);
    // As a job the worker gave up on after its first batches: its status failed, its keys kept.
    await h.deps.db.query(`update jobs set status = 'failed', error = 'gave up' where id = $1`, [job.id]);
    const keys = (await s.call('GET', `/api/jobs/${job.id}/licenses?format=txt`)).body.trim().split('\n');
    expect(keys).toHaveLength(1500);
    await h.deps.db.query(`update jobs set status = 'running' where id = $1`, [job.id]);
    const running = await s.call('GET', `/api/jobs/${job.id}/licenses?format=txt`);
    expect(running.statusCode).toBe(409);
    expect(running.json()).toMatchObject({ code: 'JOB_NOT_COMPLETED' });
    await h.deps.db.query(`update jobs set status = 'completed' where id = $1`, [job.id]);
  });

  // On PGlite this also checks that a job yields between batches (PGlite answers on this thread).
  it('reports the committed count batch by batch while the job runs', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5500 })).json();
    const seen = new Set<number>();
    await waitFor(
      async () => {
        const j = (await s.call('GET', `/api/jobs/${job.id}`)).json();
        seen.add(j.generated);
        return j.status === 'completed' || j.status === 'failed' ? j : undefined;
      },
      30_000,
      `job ${job.id}`,
    );
    // GENERATE_BATCH_SIZE 1000
    expect([...seen].some((g) => g > 0 && g < 5500 && g % 1000 === 0)).toBe(true);
  });

  it('returns the same job for a retried request with the same Idempotency-Key', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const body = { plan_id: plan.id, count: 2000 };
    const first = await s.call('POST', '/api/licenses/generate', body, { 'idempotency-key': 'bulk-1' });
    const second = await s.call('POST', '/api/licenses/generate', body, { 'idempotency-key': 'bulk-1' });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json().job.id).toBe(first.json().job.id);
    expect(await finished(s, first.json().job.id)).toMatchObject({ status: 'completed', generated: 2000 });
    const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from jobs where application_id = $1', [plan.application_id]);
    expect(row!.n).toBe(1);
  });

  it('refuses counts above 100000, keys before completion, and other tenants', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const tooMany = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 100_001 });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().code).toBe('VALIDATION_ERROR');
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).json();
    const other = await h.seller('other');
    expect((await other.call('GET', `/api/jobs/${job.id}`)).statusCode).toBe(404);
    expect((await other.call('GET', `/api/jobs/${job.id}/licenses`)).statusCode).toBe(404);
    await finished(s, job.id);
    expect((await s.call('GET', '/api/jobs/999999')).statusCode).toBe(404);
  });
});

// BullMQ only: it is about what BullMQ keeps in Redis; the local provider keeps nothing outside the database.
describe('bulk generation on BullMQ', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ jobs: 'workers' });
  });
  afterAll(() => h?.close());

  it('keeps no license key in Redis', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 })).json();
    await finished(s, job.id);
    const keys = (await s.call('GET', `/api/jobs/${job.id}/licenses?format=txt`)).body.trim().split('\n');
    const redis = new Redis(h.config.redisUrl);
    try {
      const names = await redis.keys(`${h.config.jobs.queuePrefix}:*`);
      expect(names.length).toBeGreaterThan(0);
      let dump = '';
      for (const name of names) {
        const type = await redis.type(name);
        if (type === 'hash') dump += JSON.stringify(await redis.hgetall(name));
        else if (type === 'string') dump += await redis.get(name);
        else if (type === 'list') dump += JSON.stringify(await redis.lrange(name, 0, -1));
      }
      expect(dump).toMatch(new RegExp(`job_id\\\\?":${job.id}\\b`));
      for (const key of keys.slice(0, 50)) expect(dump).not.toContain(key);
    } finally {
      redis.disconnect();
    }
  });
});

/** The `license.generated` events a job left in the outbox, oldest first. */
async function generatedEvents(h: Harness, jobId: number) {
  const rows = await h.deps.db.query<{ payload: Record<string, unknown> }>(`select payload from outbox where type = 'license.generated' and (payload->>'job_id')::int = $1 order by id`, [jobId]);
  return rows.map((r) => r.payload);
}

// BullMQ: the job's try is held under one attempt, so the failure the database throws is its last.
describe('a bulk generation job that fails part-way', () => {
  let h: Harness;
  const systems: JobSystem[] = [];
  beforeAll(async () => {
    // The API only, at first: the test adds the job itself before the workers start.
    h = await startHarness({ jobs: 'producer', env: { GENERATE_BATCH_SIZE: '500' } });
  });
  afterAll(async () => {
    for (const system of systems) await system.close();
    await h?.close();
  });

  it('tells the webhooks of the keys it committed, once, marked partial', async () => {
    const rx = await startReceiver(() => 200);
    try {
      const s = await h.seller();
      const { app, plan } = await s.setup();
      expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.generated'] })).statusCode).toBe(201);
      const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 })).json();
      // The database refuses the job's second batch, as a disk that filled up would.
      await h.deps.db.query(`create function fail_second_batch() returns trigger language plpgsql as $$
        begin
          if (select generated from jobs where id = new.job_id) >= 500 then raise exception using errcode = 'disk_full', message = 'could not extend file: No space left on device'; end if;
          return new;
        end $$`);
      await h.deps.db.query(`create trigger fail_second_batch before insert on licenses for each row when (new.job_id = ${Number(job.id)}) execute function fail_second_batch()`);
      // Its job, on its last try: added here under one attempt, the relay's hand-off taken as done.
      const spec = jobSpecsFor(h.jobs!.queues, h.jobs!.installationId).generation(job.id);
      await spec.queue.add(spec.name, spec.data, { ...spec.opts, jobId: spec.jobId, attempts: 1 });
      await h.deps.db.query(`update outbox set relayed_at = now() where kind = 'command' and (payload->>'job_id')::int = $1`, [job.id]);
      systems.push(await startJobSystem(h.deps, h.config, { withWorkers: true }));

      const failed = await finished(s, job.id);
      expect(failed).toMatchObject({ status: 'failed', count: 1500, generated: 500 });
      const keys = (await s.call('GET', `/api/jobs/${job.id}/licenses?format=txt`)).body.trim().split('\n');
      expect(keys).toHaveLength(500);
      // Why, without the failed query drizzle quotes (the refused batch's keys among its values);
      // and BullMQ keeps that text, not the query, as the try's failedReason in Redis.
      expect(failed.error).toBe('Database error 53100: could not extend file: No space left on device');
      const reason = (await spec.queue.getJob(spec.jobId))?.failedReason;
      expect(reason).toBe(failed.error);

      // The receiver hears of the 500 keys that exist: the success path's payload, marked partial.
      const delivery = await waitFor(async () => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.generated'), 15_000, 'the license.generated delivery');
      expect(JSON.parse(delivery.body)).toMatchObject({ type: 'license.generated', application_id: app.id, data: { plan_id: plan.id, count: 500, job_id: job.id, partial: true } });

      // Once: another try (a retry, a worker resuming it) and another give-up find the job ended.
      await h.deps.db.query('drop trigger fail_second_batch on licenses');
      expect(await generateLicensesTry(h.deps, h.config.jobs, job.id, { lastTry: true, shouldPause: () => false })).toMatchObject({ done: true, job: { status: 'failed' } });
      await failGenerationJob(h.deps, job.id, 'given up again');
      expect(await generatedEvents(h, job.id)).toEqual([{ plan_id: plan.id, count: 500, job_id: job.id, partial: true }]);
      expect(rx.received.filter((r) => r.headers['x-keycord-event'] === 'license.generated')).toHaveLength(1);
    } finally {
      await rx.close();
    }
  }, 60_000);
});

describe('a bulk generation job that ends early in a batch of its own', () => {
  let h: Harness;
  beforeAll(async () => {
    // No job side: the test runs the job, a batch at a time.
    h = await startHarness();
  });
  afterAll(() => h?.close());

  /** A 3,000-key job with its first 1,000 keys committed. */
  async function halfDoneJob() {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).json();
    let batches = 0;
    expect(await runGenerationJob(h.deps, job.id, { batchSize: 1000, onProgress: () => void batches++, shouldPause: () => batches >= 1 })).toMatchObject({ done: false });
    return { s, plan, jobId: job.id as number };
  }

  it('stopped by a lowered license limit, it emits license.generated for the keys it made, once', async () => {
    const { plan, jobId } = await halfDoneJob();
    const lowered = { ...h.deps, limits: { ...h.deps.limits, maxLicensesPerApplication: 2500 } };
    expect(await runGenerationJob(lowered, jobId, { batchSize: 1000 })).toMatchObject({ done: true, job: { status: 'failed', generated: 1000 } });
    expect(await runGenerationJob(lowered, jobId, { batchSize: 1000 })).toMatchObject({ done: true, job: { status: 'failed' } });
    expect(await generatedEvents(h, jobId)).toEqual([{ plan_id: plan.id, count: 1000, job_id: jobId, partial: true }]);
  });

  it('whose plan was deleted (with its keys, each with its license.deleted), it emits no license.generated', async () => {
    const { s, plan, jobId } = await halfDoneJob();
    expect((await s.call('DELETE', `/api/plans/${plan.id}?force=true`)).statusCode).toBe(200);
    expect(await runGenerationJob(h.deps, jobId, { batchSize: 1000 })).toMatchObject({ done: true, job: { status: 'failed', error: 'The plan was deleted' } });
    expect(await generatedEvents(h, jobId)).toEqual([]);
  });

  it('one that fails before its first batch emits no license.generated', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).json();
    await failGenerationJob(h.deps, job.id, 'the database was away');
    expect(await generatedEvents(h, job.id)).toEqual([]);
  });
});
