import { randomBytes, timingSafeEqual } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { and, eq, max, sql } from 'drizzle-orm';
import { jobs, licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { sqlStateOf } from '../../db/sql-state.js';
import { actorIdentity, system, type SellerActor } from '../actor.js';
import { requireApplication, requireOwnedBy } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { AppError, badRequest, conflict, forbidden, notFound } from '../errors.js';
import { enqueueCommand } from '../events/emit-event.js';
import { applyBulkBatch, countBulkTargets, type BulkAction, type BulkRequest } from '../licenses/bulk-license-action.js';
import type { LicenseFilters } from '../licenses/list-licenses.js';
import { requirePlan } from '../plans/require-plan.js';
import { emitJobFinished } from './job-finished.js';
import { lockJobBehindApplication } from './lock-job.js';
import type { GenerationRun } from './run-generation-job.js';

/** Up to this many licenses a confirmed bulk action is done at once, in one transaction; beyond, it is a job. */
const BULK_INLINE_MAX = 1000;
/** Licenses a bulk job changes per transaction (each batch commits with the job's cursor). */
const BULK_BATCH_SIZE = 250;
/** A request not confirmed within an interaction token's life (15 minutes) can no longer be. */
const CONFIRM_WITHIN_MS = 14 * 60_000;
export const BULK_SEARCH_MAX = 100;
export const BULK_REASON_MAX = 500;

/**
 * What a bulk job's row keeps in `params`: the request, who asked (the actor its audit entries
 * name and whose access each batch checks again), the confirmation nonce, the newest license id
 * when it was requested (keys made later are left alone) and the cursor: the last license id done.
 */
interface BulkParams extends BulkRequest {
  nonce: string;
  requested_by: SellerActor;
  up_to_id: number;
  after_id: number;
}

type JobRow = typeof jobs.$inferSelect;
const paramsOf = (job: JobRow) => job.params as unknown as BulkParams;

/** A recorded request: what the confirmation button names, and what to show the seller. */
export interface BulkPreview {
  jobId: number;
  nonce: string;
  count: number;
  planName: string | null;
}

function checkRequest(request: BulkRequest) {
  if (request.filters.search !== undefined && request.filters.search.length > BULK_SEARCH_MAX) {
    throw badRequest(`search may be at most ${BULK_SEARCH_MAX} characters`, 'VALIDATION_ERROR', [{ path: 'search', message: 'too long' }]);
  }
  if (request.reason !== null && request.reason.length > BULK_REASON_MAX) {
    throw badRequest(`reason may be at most ${BULK_REASON_MAX} characters`, 'VALIDATION_ERROR', [{ path: 'reason', message: 'too long' }]);
  }
}

/**
 * Step one of a bulk ban or delete: counts what the filter matches and records the request as a
 * `pending` job, which nothing runs until the seller who asked confirms it with its nonce (a
 * random value the confirmation button carries). Answers `null` when nothing matches.
 */
export async function requestBulkAction(deps: Deps, actor: SellerActor, applicationId: number, request: BulkRequest): Promise<BulkPreview | null> {
  checkRequest(request);
  await requireApplication(deps.db.orm, actor, applicationId, 'manage');
  let planName: string | null = null;
  if (request.filters.plan_id !== undefined) {
    const { plan } = await requirePlan(deps.db.orm, actor, request.filters.plan_id, 'read');
    if (plan.applicationId !== applicationId) throw notFound('Plan');
    planName = plan.name;
  }
  const [newest] = await deps.db.orm
    .select({ id: max(licenses.id) })
    .from(licenses)
    .where(eq(licenses.applicationId, applicationId));
  const upToId = newest?.id ?? 0;
  const now = deps.clock.now();
  const count = await countBulkTargets(deps.db.orm, applicationId, request, now, { afterId: 0, upToId });
  if (count === 0) return null;
  // Requests nobody answered can no longer be confirmed: they go as new ones come.
  const stale = new Date(now.getTime() - CONFIRM_WITHIN_MS).toISOString();
  await deps.db.orm.delete(jobs).where(and(eq(jobs.applicationId, applicationId), eq(jobs.type, 'bulk_licenses'), eq(jobs.status, 'pending'), sql`${jobs.createdAt} < ${stale}::timestamptz`));
  const nonce = newConfirmationNonce();
  const params: BulkParams = { ...request, nonce, requested_by: actor, up_to_id: upToId, after_id: 0 };
  const [job] = await deps.db.orm
    .insert(jobs)
    .values({ applicationId, type: 'bulk_licenses', status: 'pending', count, params: params as unknown as Record<string, unknown>, actor: actorIdentity(actor), createdAt: now, updatedAt: now })
    .returning({ id: jobs.id });
  return { jobId: job!.id, nonce, count, planName };
}

/** What a request's Confirm and Cancel buttons carry: whoever holds it (the seller who asked) may answer. */
const newConfirmationNonce = () => randomBytes(12).toString('base64url');
const sameNonce = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const sameRequester = (a: SellerActor, b: SellerActor) => actorIdentity(a).kind === actorIdentity(b).kind && actorIdentity(a).id === actorIdentity(b).id;

/**
 * The pending request a confirmation (or cancel) names, locked: it must exist with that nonce in
 * an application the actor manages (else "not found", as for anything of another tenant), and
 * only the seller who asked may answer it.
 */
async function requirePending(tx: Executor, deps: Deps, actor: SellerActor, jobId: number, nonce: string, lock: { noWait: true } | { noWait?: undefined } = {}) {
  // `key share`: what an inline confirm's writes (audit lines, events) take on the application.
  const job = await lockJobBehindApplication(tx, jobId, 'key share', lock.noWait ? { noWait: true } : {});
  if (!job || job.type !== 'bulk_licenses' || !sameNonce(paramsOf(job).nonce ?? '', nonce)) throw notFound('Bulk action');
  await requireOwnedBy(tx, actor, job.applicationId, 'manage', 'Bulk action');
  if (!sameRequester(paramsOf(job).requested_by, actor)) throw forbidden('Only the seller who asked for this bulk action can confirm or cancel it');
  if (job.status !== 'pending') throw conflict('This bulk action was already confirmed', 'ALREADY_CONFIRMED');
  if (deps.clock.now().getTime() - job.createdAt.getTime() > CONFIRM_WITHIN_MS) throw conflict('This confirmation has expired; ask again', 'CONFIRMATION_EXPIRED');
  return job;
}

export type BulkConfirmation =
  /** Done at once: `changed` licenses. */
  | { outcome: 'done'; action: BulkAction; changed: number }
  /** Recorded as a job that runs in the background (`count` licenses). */
  | { outcome: 'queued'; action: BulkAction; jobId: number; count: number }
  /**
   * The filter matches a different number now: shown again, to be confirmed again with `nonce`, a
   * new one — a click already on its way (a double click) carries the old one and confirms nothing.
   */
  | { outcome: 'recounted'; action: BulkAction; count: number; nonce: string }
  /** Nothing matches any more; the request is dropped. */
  | { outcome: 'nothing'; action: BulkAction };

/**
 * Step two: the count is taken again. If it moved, the seller is shown the new one and confirms
 * again; otherwise up to BULK_INLINE_MAX licenses are changed at once in this transaction, and
 * more become a job started through the outbox (so it survives a Redis outage).
 */
export async function confirmBulkAction(deps: Deps, actor: SellerActor, jobId: number, nonce: string): Promise<BulkConfirmation> {
  return deps.db.orm.transaction(async (tx) => {
    const job = await requirePending(tx, deps, actor, jobId, nonce);
    const params = paramsOf(job);
    const { action } = params;
    const now = deps.clock.now();
    const range = { afterId: 0, upToId: params.up_to_id };
    const count = await countBulkTargets(tx, job.applicationId, params, now, range);
    if (count === 0) {
      await tx.delete(jobs).where(eq(jobs.id, jobId));
      return { outcome: 'nothing', action };
    }
    if (count !== job.count) {
      // The new count must be seen before it is confirmed: the buttons showing it get a new nonce.
      const fresh = newConfirmationNonce();
      await tx
        .update(jobs)
        .set({ count, params: { ...params, nonce: fresh } as unknown as Record<string, unknown>, updatedAt: now })
        .where(eq(jobs.id, jobId));
      return { outcome: 'recounted', action, count, nonce: fresh };
    }
    if (count <= BULK_INLINE_MAX) {
      const { changed } = await applyBulkBatch(tx, actor, job.applicationId, params, { ...range, limit: BULK_INLINE_MAX, now });
      await tx.update(jobs).set({ status: 'completed', generated: changed, count: changed, completedAt: now, updatedAt: now }).where(eq(jobs.id, jobId));
      await emitJobFinished(tx, { ...job, status: 'completed', generated: changed, count: changed, completedAt: now, updatedAt: now });
      await writeAudit(tx, actor, { applicationId: job.applicationId, action: 'job.completed', target: `job:${jobId}`, details: { type: 'bulk_licenses', action, count: changed } });
      return { outcome: 'done', action, changed };
    }
    await tx.update(jobs).set({ status: 'queued', updatedAt: now }).where(eq(jobs.id, jobId));
    await enqueueCommand(tx, job.applicationId, 'bulk_licenses', { job_id: jobId });
    await writeAudit(tx, actor, {
      applicationId: job.applicationId,
      action: 'job.created',
      target: `job:${jobId}`,
      details: { type: 'bulk_licenses', action, count, filters: describeFilters(params.filters) },
    });
    return { outcome: 'queued', action, jobId, count };
  });
}

/**
 * Cancel: the pending request is dropped; nothing was changed. A Confirm running at that moment
 * holds the request's row while it changes up to BULK_INLINE_MAX licenses; Cancel does not queue
 * behind it (its answer has 3 s in Discord, and it could only find the request confirmed) but
 * says so at once (NOWAIT, SQLSTATE 55P03).
 */
export async function cancelBulkAction(deps: Deps, actor: SellerActor, jobId: number, nonce: string): Promise<void> {
  try {
    await deps.db.orm.transaction(async (tx) => {
      await requirePending(tx, deps, actor, jobId, nonce, { noWait: true });
      await tx.delete(jobs).where(and(eq(jobs.id, jobId), eq(jobs.status, 'pending')));
    });
  } catch (err) {
    if (sqlStateOf(err) === LOCK_NOT_AVAILABLE) throw conflict('This bulk action is being confirmed right now; nothing was cancelled', 'BEING_CONFIRMED');
    throw err;
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

const describeFilters = (f: LicenseFilters) => ({ status: f.status ?? null, plan_id: f.plan_id ?? null, search: f.search ?? null, discord_user_id: f.discord_user_id ?? null });

type BulkStep = { done: true; job?: JobRow; missing?: true } | { done: false; paused: true } | { done: false; paused: false; generated: number; count: number };

/**
 * Runs a confirmed bulk job from its cursor, a batch per transaction: the job row is locked, the
 * next batch after `after_id` is changed and the cursor and count move in the same commit — so a
 * worker that dies mid-batch loses only that uncommitted batch, and whoever resumes (the
 * reconciler re-runs unfinished jobs) continues after the last committed license: each license
 * once. The seller's access is checked again on every batch; lost, the job fails there.
 */
export async function runBulkLicenseJob(deps: Deps, jobId: number, run: Pick<GenerationRun, 'onProgress' | 'shouldPause'> & { batchSize?: number }) {
  const batchSize = run.batchSize ?? BULK_BATCH_SIZE;
  for (;;) {
    if (run.shouldPause?.()) return { done: false as const, paused: true as const };
    const step: BulkStep = await deps.db.orm.transaction(async (tx) => {
      // `key share`: what the batch's own writes (audit lines, events) take on the application.
      const job = await lockJobBehindApplication(tx, jobId, 'key share');
      if (!job) return { done: true, missing: true };
      if (job.status !== 'queued' && job.status !== 'running') return { done: true, job };
      const params = paramsOf(job);
      const now = deps.clock.now();
      try {
        await requireApplication(tx, params.requested_by, job.applicationId, 'manage');
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        const error = `The seller who asked may no longer change these licenses; stopped after ${job.generated}`;
        const failed = { ...job, status: 'failed' as const, error, updatedAt: now };
        await tx.update(jobs).set({ status: 'failed', error, updatedAt: now }).where(eq(jobs.id, jobId));
        await emitJobFinished(tx, failed);
        return { done: true, job: failed };
      }
      const { changed, lastId } = await applyBulkBatch(tx, params.requested_by, job.applicationId, params, { afterId: params.after_id, upToId: params.up_to_id, limit: batchSize, now });
      const generated = job.generated + changed;
      // The count shown was taken at confirmation; keys changed since may make it a little off.
      const count = Math.max(job.count, generated);
      const next = { ...params, after_id: lastId } as unknown as Record<string, unknown>;
      if (changed < batchSize) {
        await tx.update(jobs).set({ status: 'completed', generated, count, params: next, completedAt: now, updatedAt: now }).where(eq(jobs.id, jobId));
        await emitJobFinished(tx, { ...job, status: 'completed', generated, count, params: next, completedAt: now, updatedAt: now });
        await writeAudit(tx, system('bulk-job'), {
          applicationId: job.applicationId,
          action: 'job.completed',
          target: `job:${jobId}`,
          details: { type: 'bulk_licenses', action: params.action, count: generated, requested_by: job.actor },
        });
        return { done: true, job: { ...job, status: 'completed', generated, count } };
      }
      await tx.update(jobs).set({ status: 'running', generated, count, params: next, updatedAt: now }).where(eq(jobs.id, jobId));
      return { done: false, paused: false, generated, count };
    });
    if (step.done) return step;
    if (step.paused) return step;
    await run.onProgress?.(step.generated, step.count);
    // The embedded database answers on this thread: let requests and Discord replies through between batches.
    await yieldToEventLoop();
  }
}
