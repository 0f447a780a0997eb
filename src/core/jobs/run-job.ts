import type { Deps } from '../deps.js';
import { runBulkLicenseJob } from './bulk-license-job.js';
import { runGenerationJob, type GenerationRun } from './run-generation-job.js';

/**
 * Runs one row of the jobs table, whatever its type: both kinds are long, batched, resumable from
 * what the row has committed, and share the queue, job ids, relay, reconciler and local provider.
 * The type picks the runner (one more read, once per try, not per batch).
 */
export async function runJob(deps: Deps, jobId: number, run: GenerationRun) {
  const [row] = await deps.db.query<{ type: string }>('select type from jobs where id = $1', [jobId]);
  if (row?.type === 'bulk_licenses') {
    return runBulkLicenseJob(deps, jobId, { ...(run.onProgress ? { onProgress: run.onProgress } : {}), ...(run.shouldPause ? { shouldPause: run.shouldPause } : {}) });
  }
  return runGenerationJob(deps, jobId, run);
}
