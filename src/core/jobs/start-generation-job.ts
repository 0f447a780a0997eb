import { jobs } from '../../db/schema.js';
import { actorIdentity, type SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { badRequest } from '../errors.js';
import { enqueueCommand } from '../events/emit-event.js';
import type { GenerateLicensesInput } from '../licenses/generate-licenses.js';
import { keySpecFrom } from '../licenses/key-format.js';
import { assertLicenseCapacity } from '../licenses/license-capacity.js';
import { requirePlan } from '../plans/require-plan.js';
import { toJobView } from './job-view.js';

/**
 * Bulk generation: records the job and its start command in one transaction and answers at once.
 * The command reaches a worker through the outbox, so a job accepted while Redis is down still
 * runs when it is back. The job row holds no keys; they are rows tagged with the job id. Its
 * whole count is reserved against MAX_LICENSES_PER_APPLICATION from this transaction on (the
 * capacity check counts unfinished jobs' remainders under the application row lock).
 */
export async function startGenerationJob(deps: Deps, actor: SellerActor, input: GenerateLicensesInput) {
  if (input.count > deps.limits.maxBulkGenerate) {
    throw badRequest(`count may be at most ${deps.limits.maxBulkGenerate}`, 'VALIDATION_ERROR', [{ path: 'count', message: 'too large' }]);
  }
  const spec = keySpecFrom(input);
  return deps.db.orm.transaction(async (tx) => {
    const { plan } = await requirePlan(tx, actor, input.plan_id, 'manage');
    await assertLicenseCapacity(tx, plan.applicationId, input.count, deps.limits.maxLicensesPerApplication);
    const [job] = await tx
      .insert(jobs)
      .values({
        applicationId: plan.applicationId,
        type: 'generate_licenses',
        count: input.count,
        params: {
          plan_id: plan.id,
          spec,
          notes: input.notes ?? null,
          discord_user_id: input.discord_user_id ?? null,
        },
        actor: actorIdentity(actor),
      })
      .returning();
    await enqueueCommand(tx, plan.applicationId, 'generate_licenses', { job_id: job!.id });
    await writeAudit(tx, actor, { applicationId: plan.applicationId, action: 'job.created', target: `job:${job!.id}`, details: { type: 'generate_licenses', count: input.count, plan_id: plan.id } });
    return toJobView(job!);
  });
}
