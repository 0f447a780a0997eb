import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { JOB_PROVIDERS_AND_PGLITE, startHarnessWith } from './support/job-providers.js';
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
