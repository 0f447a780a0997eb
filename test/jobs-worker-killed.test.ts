import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

let h: Harness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // This process only accepts requests; the work happens in worker processes we can kill.
  h = await startHarness({ jobs: 'producer' });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h?.close();
});

function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/worker-process.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: h.databaseUrl,
      REDIS_URL: h.config.redisUrl,
      QUEUE_PREFIX: h.config.jobs.queuePrefix,
      KEYCORD_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
      GENERATE_BATCH_SIZE: '200',
      JOB_LOCK_MS: '1500',
      OUTBOX_POLL_MS: '25',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('worker ready') && resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

// BullMQ only: workers in processes of their own; the local provider's kill -9 is in jobs-local-provider-killed.
describe('a worker killed in the middle of a bulk generation job', () => {
  it('is resumed by another worker and the job ends with exactly count distinct keys', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const first = await startWorker();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 20_000 })).json();

    const partial = await waitFor(
      async () => {
        const j = (await s.call('GET', `/api/jobs/${job.id}`)).json();
        return j.generated >= 2000 ? j : undefined;
      },
      30_000,
      'the first worker to make progress',
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(partial.status).toBe('running');

    const stalled = (await s.call('GET', `/api/jobs/${job.id}`)).json();
    expect(stalled.generated).toBeLessThan(20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await s.call('GET', `/api/jobs/${job.id}`)).json().generated).toBe(stalled.generated);

    await startWorker();
    const done = await waitFor(
      async () => {
        const j = (await s.call('GET', `/api/jobs/${job.id}`)).json();
        return j.status === 'completed' ? j : undefined;
      },
      60_000,
      'the second worker to finish the job',
    );
    expect(done.generated).toBe(20_000);

    const [row] = await h.deps.db.query<{ n: number; distinct_keys: number }>('select count(*)::int as n, count(distinct license_key)::int as distinct_keys from licenses where job_id = $1', [job.id]);
    expect(row).toEqual({ n: 20_000, distinct_keys: 20_000 });
  }, 90_000);
});
