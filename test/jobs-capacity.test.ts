import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerationJob } from '../src/core/jobs/run-generation-job.js';
import { generateLicenses } from '../src/core/licenses/generate-licenses.js';
import type { SellerActor } from '../src/core/actor.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

const LIMIT = 5000;
let h: Harness;

beforeAll(async () => {
  // No workers: jobs are accepted here and run by the test, one batch at a time where it matters.
  h = await startHarness({ limits: { maxLicensesPerApplication: LIMIT } });
});
afterAll(() => h?.close());

const licensesOf = async (applicationId: number) => (await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [applicationId]))[0]!.n;

describe('MAX_LICENSES_PER_APPLICATION and bulk jobs', () => {
  it('reserves a job’s whole count when it is accepted: of two 3,000-key jobs sent together under a 5,000 limit, the second is refused', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const body = { plan_id: plan.id, count: 3000 };
    const answers = await Promise.all([s.call('POST', '/api/licenses/generate', body), s.call('POST', '/api/licenses/generate', body)]);
    const accepted = answers.filter((r) => r.statusCode === 202);
    const refused = answers.filter((r) => r.statusCode !== 202);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expectError(refused[0]!, 409, 'LIMIT_REACHED');
    const [jobs] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from jobs where application_id = $1', [plan.application_id]);
    expect(jobs!.n).toBe(1);
  });

  it('keeps the reservation from synchronous generation: it may use what is left, not more', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    expect((await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).statusCode).toBe(202);
    await s.generate(plan.id, 1000);
    await s.generate(plan.id, 1000);
    expectError(await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1 }), 409, 'LIMIT_REACHED');
    expect(await licensesOf(plan.application_id)).toBe(2000);
  });

  it('stops a job that meets a full application at insert time, with a clear error and without going past the limit', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3000 })).json();
    let batches = 0;
    const firstBatch = await runGenerationJob(h.deps, job.id, { batchSize: 1000, onProgress: () => void batches++, shouldPause: () => batches >= 1 });
    expect(firstBatch.done).toBe(false);
    expect(await licensesOf(plan.application_id)).toBe(1000);

    // The operator lowers the limit and restarts while the job is half done.
    const lowered = { ...h.deps, limits: { ...h.deps.limits, maxLicensesPerApplication: 2500 } };
    const owner: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    await expect(generateLicenses(lowered, owner, { plan_id: plan.id, count: 1, format: 'random' })).rejects.toMatchObject({ code: 'LIMIT_REACHED' });
    const resumed = await runGenerationJob(lowered, job.id, { batchSize: 1000 });
    expect(resumed.done).toBe(true);

    const view = (await s.call('GET', `/api/jobs/${job.id}`)).json();
    expect(view).toMatchObject({ status: 'failed', generated: 1000 });
    expect(view.error).toMatch(/limit of 2500 licenses/);
    expect(await licensesOf(plan.application_id)).toBe(1000);
  });
});
