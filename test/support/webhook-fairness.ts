import { webhookConcurrency } from '../../src/jobs/definitions/deliver-webhook.js';
import { receiverShares } from '../../src/jobs/receiver-turns.js';
import type { Harness } from './harness.js';

/** Small numbers so the fairness suites are quick: 20 POSTs per process. */
export const FAIRNESS_ENV = { WORKER_CONCURRENCY: '1', WEBHOOK_RETRY_BASE_MS: '200' };
const FAIRNESS_CONCURRENCY = webhookConcurrency({ workerConcurrency: 1 });
/** A slow origin's share of those POSTs, and a slow seller's across all its origins (receiver-turns.ts). */
export const { share: ORIGIN_SHARE, tenantShare: TENANT_SHARE } = receiverShares(FAIRNESS_CONCURRENCY);

/** Commits `n` license.banned events of `applicationId` at once, as a bulk ban leaves them; their keys are `${tag}-${i}`. */
export async function commitBannedEvents(h: Harness, applicationId: number, n: number, tag: string): Promise<void> {
  const payloads = Array.from({ length: n }, (_, i) => JSON.stringify({ license: { id: i, key: `${tag}-${i}` }, reason: 'bulk' }));
  await h.deps.db.query(`insert into outbox (application_id, kind, type, payload) select $1, 'event', 'license.banned', p::jsonb from unnest($2::text[]) as p`, [applicationId, payloads]);
}
