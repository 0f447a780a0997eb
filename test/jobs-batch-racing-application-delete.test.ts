import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SellerActor } from '../src/core/actor.js';
import { confirmBulkAction, requestBulkAction, runBulkLicenseJob } from '../src/core/jobs/bulk-license-job.js';
import { runGenerationJob } from '../src/core/jobs/run-generation-job.js';
import type { Harness, Seller } from './support/harness.js';
import { JOB_PROVIDERS, startHarnessWith } from './support/job-providers.js';
import { inOtherSession } from './support/other-session.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * A job's batch beside its application's delete: both end, neither as a deadlock. A batch once
 * locked the job row and then the application row, while a delete holds the application row
 * and then reaches the job row through its cascade; Postgres broke that cycle by aborting one
 * side after a second (the delete answered 409, or the batch failed a try).
 */
let h: Harness;
let s: Seller;
beforeAll(async () => {
  h = await startHarnessWith(JOB_PROVIDERS[0]!, { jobSide: 'stopped', env: { GENERATE_BATCH_SIZE: '100' } });
  s = await h.seller();
});
afterAll(() => h?.close());

/**
 * Holds one of the application's licenses in another session so the delete stops inside its
 * cascade with the application row locked; starts `batch` (which takes the job row first if it
 * is out of order), lets the delete go on, and returns both outcomes.
 */
async function batchBesideDelete(applicationId: number, heldLicenseId: number, batch: () => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  const other = inOtherSession(h, async (tx) => {
    await tx`select id from licenses where id = ${heldLicenseId} for update`;
    held();
    await released;
  });
  await holding;
  const deleted = s.call('DELETE', `/api/applications/${applicationId}`);
  await untilLockWaiters(h.deps.db, 1, 'the delete waiting on the held license');
  const ran = batch().then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  await untilLockWaiters(h.deps.db, 2, 'the batch waiting behind the delete');
  release();
  await other;
  return { deleted: await deleted, ran: await ran };
}

describe('a job batch beside its application’s delete', () => {
  it('a generation batch waits for the delete, then finds its job gone', async () => {
    const { app, plan } = await s.setup();
    const [license] = await s.generate(plan.id, 1);
    const accepted = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5000 });
    expect(accepted.statusCode).toBe(202);
    const jobId = accepted.json().job.id as number;

    const { deleted, ran } = await batchBesideDelete(app.id, license!.id, () => runGenerationJob(h.deps, jobId, { batchSize: 100 }));
    expect(deleted.statusCode).toBe(200);
    expect(ran).toMatchObject({ ok: true, value: { done: true, missing: true } });
    const [left] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [app.id]);
    expect(left!.n).toBe(0);
  });

  it('a bulk ban batch waits for the delete, then finds its job gone', async () => {
    const { app, plan } = await s.setup();
    const made = await s.generate(plan.id, 700);
    await s.generate(plan.id, 400);
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(h.deps, actor, app.id, { action: 'ban', filters: {}, reason: null });
    expect(await confirmBulkAction(h.deps, actor, asked!.jobId, asked!.nonce)).toMatchObject({ outcome: 'queued', count: 1100 });

    const { deleted, ran } = await batchBesideDelete(app.id, made[0]!.id, () => runBulkLicenseJob(h.deps, asked!.jobId, { batchSize: 100 }));
    expect(deleted.statusCode).toBe(200);
    expect(ran).toMatchObject({ ok: true, value: { done: true, missing: true } });
  });

  it('a bulk confirm changing licenses at once waits for the delete, then finds the request gone', async () => {
    const { app, plan } = await s.setup();
    const made = await s.generate(plan.id, 3);
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(h.deps, actor, app.id, { action: 'ban', filters: {}, reason: null });

    const { deleted, ran } = await batchBesideDelete(app.id, made[0]!.id, () => confirmBulkAction(h.deps, actor, asked!.jobId, asked!.nonce));
    expect(deleted.statusCode).toBe(200);
    expect(ran).toMatchObject({ ok: false, err: { status: 404, code: 'NOT_FOUND' } });
  });
});
