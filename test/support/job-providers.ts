import type { JobsConfig } from '../../src/config.js';
import type { JobProvider } from '../../src/jobs/job-provider.js';
import { startJobSystem } from '../../src/jobs/job-system.js';
import { startLocalJobProvider } from '../../src/jobs/local/local-job-provider.js';
import { startHarness, type Harness, type HarnessOptions } from './harness.js';

/** One way Keycord runs its jobs; a job suite runs once per case, with the same expectations. */
export interface JobProviderCase {
  /** For test titles (`describe.each(…)('… with the $name job provider')`). */
  name: string;
  provider: 'bullmq' | 'local';
  database: 'postgres' | 'pglite';
}

export const JOB_PROVIDERS: readonly JobProviderCase[] = [
  { name: 'bullmq', provider: 'bullmq', database: 'postgres' },
  { name: 'local', provider: 'local', database: 'postgres' },
];

/**
 * Plus the local provider on the embedded database, as `npm start` runs with nothing but Node.
 * Creating PGlite takes seconds per harness, so only the suites the zero-setup promise names use it.
 */
export const JOB_PROVIDERS_AND_PGLITE: readonly JobProviderCase[] = [...JOB_PROVIDERS, { name: 'local on PGlite', provider: 'local', database: 'pglite' }];

/**
 * A harness on `c`'s database and provider. `jobSide: 'stopped'` keeps the API (it still accepts
 * and records work) but runs no job side: the test starts and stops it with `startJobSide`, as a
 * restarted process would.
 */
export async function startHarnessWith(c: JobProviderCase, opts: Omit<HarnessOptions, 'jobs' | 'database'> & { jobSide?: 'running' | 'stopped' } = {}): Promise<Harness> {
  const { jobSide = 'running', env, ...rest } = opts;
  const running = jobSide === 'running';
  // BullMQ keeps its producers when stopped: the harness then flushes this file's queue prefix on close.
  const jobs = c.provider === 'bullmq' ? (running ? 'workers' : 'producer') : running ? 'local' : undefined;
  const h = await startHarness({
    ...rest,
    database: c.database,
    ...(jobs ? { jobs } : {}),
    env: { ...(c.provider === 'local' ? { JOB_PROVIDER: 'local' } : {}), ...env },
  });
  // A case that quietly ran on another provider or database would pass while testing nothing new.
  const ran = { provider: h.config.jobs.provider, database: h.deps.db.kind, jobs: h.jobProvider?.kind };
  if (ran.provider !== c.provider || ran.database !== c.database || (running && ran.jobs !== c.provider)) {
    await h.close();
    throw new Error(`the ${c.name} case started ${JSON.stringify(ran)}`);
  }
  return h;
}

/** The job side of `c` on the harness's database, with `jobs` overriding its configuration. */
export function startJobSide(h: Harness, c: JobProviderCase, jobs: Partial<JobsConfig> = {}): Promise<JobProvider> {
  const config = { redisUrl: h.config.redisUrl, jobs: { ...h.config.jobs, ...jobs } };
  return c.provider === 'bullmq' ? startJobSystem(h.deps, config, { withWorkers: true }) : startLocalJobProvider(h.deps, config.jobs);
}
