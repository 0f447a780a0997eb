/**
 * Job: the periodic pass — expiry sweep (notices, expired licenses) and forgetting old rows
 * (relayed outbox rows, idempotency keys, Stripe refunds of orders Keycord never fulfilled).
 */
import type { JobsConfig } from '../../config.js';
import type { Deps } from '../../core/deps.js';
import { expirySweep } from '../../core/licenses/expiry-sweep.js';
import { forgetRelayedEvents } from '../../core/events/forget-relayed-events.js';
import { forgetExpiredIdempotencyKeys } from '../../core/idempotency-keys.js';
import { forgetKeylessStripeRefunds } from '../../core/integrations/forget-keyless-refunds.js';
import type { HandlerContext } from '../handlers.js';
import type { JobDefinition } from './job-definition.js';

/** The scheduler's id (one per installation), run every EXPIRY_SWEEP_EVERY. */
export const expirySweepSchedulerId = (installation: string) => `expiry-sweep-${installation}`;

export async function maintenanceTry(deps: Deps, config: Pick<JobsConfig, 'expiryNoticeDays'>) {
  const swept = await expirySweep(deps, { noticeDays: config.expiryNoticeDays });
  await forgetRelayedEvents(deps);
  await forgetExpiredIdempotencyKeys(deps);
  await forgetKeylessStripeRefunds(deps);
  return swept;
}

export const maintenanceJob: JobDefinition = {
  queue: 'maintenance',
  concurrency: () => 1,
  process: (ctx: HandlerContext) => maintenanceTry(ctx.deps, ctx.config),
};
