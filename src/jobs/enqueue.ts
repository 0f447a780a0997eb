import type { JobsOptions, Queue } from 'bullmq';
import { FOREIGN_JOB } from './queues.js';

/** A job as Keycord adds it: its deterministic id, and what it carries. */
export interface JobSpec {
  queue: Queue;
  name: string;
  data: Record<string, unknown>;
  jobId: string;
  opts?: Omit<JobsOptions, 'jobId'>;
}

/** A job whose id keeps being taken is a bug to report, not a loop to spin in. */
const MAX_IDS_PER_JOB = 20;

// Values compared as JSON: an event batch's payload carries an array (its outbox ids).
const sameValue = (x: unknown, y: unknown) => x === y || (typeof x === 'object' && x !== null && JSON.stringify(x) === JSON.stringify(y));
const sameData = (a: Record<string, unknown>, b: Record<string, unknown>) => Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => sameValue(v, b[k]));

const chainId = (spec: JobSpec, n: number) => (n === 1 ? spec.jobId : `${spec.jobId}-${n}`);

/** The keys of the ids after `n` in a job's chain. */
const laterKeys = (spec: JobSpec, n: number) => Array.from({ length: MAX_IDS_PER_JOB - n }, (_, i) => spec.queue.toKey(chainId(spec, n + 1 + i)));

/**
 * Adds a job unless Redis already holds it alive. BullMQ silently keeps whatever job has the id
 * already, so the held job is read back: one that carries other data, that a worker refused as
 * another installation's, or that finished (completed, or failed its last try) while the database
 * still wants the work (`stillWanted`, asked only then) is stale, and the job goes in under the
 * next id of its chain (`<id>-2`, `<id>-3`…). A last try that failed is normally given up on in
 * the database too; when that write itself failed (the database was away) the database still says
 * unfinished, and that is what counts. The chain is deterministic, so two processes doing this at
 * once still add one job. Finished jobs are removed after a while (queues.ts), so a free id with a
 * later one of its chain held is a stale job's gap, passed over: the chain goes on from the later one.
 * Returns the id added, or null when the job was already in hand (or is no longer wanted).
 */
export async function enqueueUnlessHeld(spec: JobSpec, stillWanted: () => Promise<boolean>): Promise<string | null> {
  for (let n = 1; n <= MAX_IDS_PER_JOB; n++) {
    const jobId = chainId(spec, n);
    const held = await spec.queue.getJob(jobId);
    if (!held) {
      if (n < MAX_IDS_PER_JOB && (await laterIdsHeld(spec, n))) continue;
      await spec.queue.add(spec.name, spec.data, { ...spec.opts, jobId });
      return jobId;
    }
    if (!sameData(spec.data, held.data as Record<string, unknown>)) continue;
    const state = await held.getState();
    if (state === 'failed' && held.failedReason?.startsWith(FOREIGN_JOB)) continue;
    if (state !== 'completed' && state !== 'failed') return null;
    if (!(await stillWanted())) return null;
  }
  throw new Error(`job ${spec.jobId}: ${MAX_IDS_PER_JOB} ids in a row are held by stale jobs`);
}

// BullMQ's client interface leaves EXISTS out; Keycord's queues run on ioredis (redis.ts), which has it.
type Exists<T> = { exists(...keys: string[]): T };

async function laterIdsHeld(spec: JobSpec, n: number): Promise<boolean> {
  const client = (await spec.queue.backend.client) as unknown as Exists<Promise<number>>;
  return (await client.exists(...laterKeys(spec, n))) > 0;
}

/**
 * `enqueueUnlessHeld` for many jobs of one queue at once: one pipelined look for their ids, one
 * `addBulk` for those no job holds (the common case: a relay's fresh batch), and the careful path
 * above, job by job, for ids something holds already (or whose chain goes on past them). Two
 * processes racing still add each job once: BullMQ keeps whatever job an id has, as with `add`.
 * Returns how many jobs it added.
 */
export async function enqueueManyUnlessHeld(queue: Queue, jobs: { spec: JobSpec; stillWanted: () => Promise<boolean> }[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const client = await queue.backend.client;
  const pipeline = client.pipeline();
  // Per job: its first id's hash, and whether any later id of its chain is held.
  for (const { spec } of jobs) {
    pipeline.hgetall(queue.toKey(spec.jobId));
    (pipeline as unknown as Exists<unknown>).exists(...laterKeys(spec, 1));
  }
  const found = (await pipeline.exec()) ?? [];
  const free: JobSpec[] = [];
  const held: typeof jobs = [];
  jobs.forEach((job, i) => {
    const [err, hash] = found[2 * i] ?? [new Error('no answer'), null];
    const [laterErr, later] = found[2 * i + 1] ?? [new Error('no answer'), null];
    if (err) throw err;
    if (laterErr) throw laterErr;
    if ((!hash || Object.keys(hash as object).length === 0) && Number(later) === 0) free.push(job.spec);
    else held.push(job);
  });
  if (free.length) await queue.addBulk(free.map((s) => ({ name: s.name, data: s.data, opts: { ...s.opts, jobId: s.jobId } })));
  const added = await Promise.all(held.map(({ spec, stillWanted }) => enqueueUnlessHeld(spec, stillWanted)));
  return free.length + added.filter((id) => id !== null).length;
}
