import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLocalJobProvider, type LocalJobProvider, type LocalJobProviderOptions } from '../src/jobs/local/local-job-provider.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

// The harness runs no job side: each test starts a local provider of its own on the one database.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h' } });
  // The database refuses every key of a held job, and counts the tries (a sequence is not rolled back).
  await h.deps.db.query('create sequence held_tries');
  await h.deps.db.query(`create function refuse_held_key() returns trigger language plpgsql as $$
    begin
      perform nextval('held_tries');
      raise exception 'held for the test';
    end $$`);
  await h.deps.db.query(`create trigger refuse_held_key before insert on licenses for each row when (new.notes like 'held-%') execute function refuse_held_key()`);
});
afterAll(() => h?.close());

const providers: LocalJobProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
  vi.useRealTimers();
});

/** Polls on the monotonic clock: Date stands still in these tests. */
async function waitUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const tries = async () => Number((await h.deps.db.query<{ n: string }>('select case when is_called then last_value else 0 end as n from held_tries'))[0]!.n);

/**
 * `held` generation jobs the database refuses (oldest first), then `later` ones of 3 keys each:
 * one through the API, the others added beside it as rows, as a busy application would have them.
 */
async function jobs(s: Seller, held: number, later: number, tag: string) {
  const { plan } = await s.setup();
  const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1001, notes: tag });
  expect(res.statusCode).toBe(202);
  const first = res.json().job.id as number;
  const clone = (n: number, count: number, notes: string | null) =>
    h.deps.db.query<{ id: number }>(
      `insert into jobs (application_id, type, count, params, actor)
       select application_id, type, $2::int, jsonb_set(params, '{notes}', coalesce(to_jsonb($3::text), 'null'::jsonb)), actor from jobs, generate_series(1, $4::int) where id = $1
       returning id`,
      [first, count, notes, n],
    );
  await clone(held - 1, 1, tag);
  const laterIds = (await clone(later, 3, null)).map((r) => Number(r.id)).sort((a, b) => a - b);
  return { laterIds };
}

const jobRow = async (id: number) => (await h.deps.db.query<{ status: string; generated: number }>('select status, generated from jobs where id = $1', [id]))[0]!;
const unfinishedHeld = async (tag: string) =>
  Number((await h.deps.db.query<{ n: string }>(`select count(*) as n from jobs where params->>'notes' = $1 and status in ('queued', 'running') and generated = 0`, [tag]))[0]!.n);

/** A provider whose failed tries wait for good: the clock that times their backoff stands still. */
async function startWithTimeStill(opts: LocalJobProviderOptions) {
  vi.useFakeTimers({ toFake: ['Date'] });
  const p = await startLocalJobProvider(h.deps, { ...h.config.jobs, outboxPollMs: 5, generateBatchSize: 1 }, opts);
  providers.push(p);
  return p;
}

describe('the local provider with more unfinished generation jobs than a page', () => {
  it('runs later jobs while every job of the oldest pages waits for its retry, one job at a time', async () => {
    const s = await h.seller();
    const { laterIds } = await jobs(s, 7, 2, 'held-small');
    const before = await tries();
    await startWithTimeStill({ generationPageSize: 3 });

    // Pages of three: [held ×3] [held ×3] [held, later, later].
    for (const id of laterIds) {
      await waitUntil(async () => ((await jobRow(id)).status === 'completed' ? true : undefined), 30_000, `later job ${id}`);
    }
    expect(await Promise.all(laterIds.map(jobRow))).toEqual(laterIds.map(() => ({ status: 'completed', generated: 3 })));
    // Each held job was tried once and then waited; none ran again before its backoff was over.
    expect((await tries()) - before).toBe(7);
    expect(await unfinishedHeld('held-small')).toBe(7);
    // One job at a time: the second later job's keys were all made after the first's.
    const [order] = await h.deps.db.query<{ first_max: number; second_min: number }>(
      'select (select max(id) from licenses where job_id = $1) as first_max, (select min(id) from licenses where job_id = $2) as second_min',
      [laterIds[0], laterIds[1]],
    );
    expect(Number(order!.first_max)).toBeLessThan(Number(order!.second_min));

    await h.deps.db.query(`update jobs set status = 'failed', error = 'held' where params->>'notes' = 'held-small'`);
  });

  it('with its real page size, reaches a job behind a thousand waiting ones', { timeout: 120_000 }, async () => {
    const s = await h.seller();
    const { laterIds } = await jobs(s, 1000, 1, 'held-default');
    const before = await tries();
    await startWithTimeStill({});

    await waitUntil(async () => ((await jobRow(laterIds[0]!)).status === 'completed' ? true : undefined), 90_000, 'the job after the thousand waiting ones');
    expect(await jobRow(laterIds[0]!)).toEqual({ status: 'completed', generated: 3 });
    expect((await tries()) - before).toBe(1000);
    expect(await unfinishedHeld('held-default')).toBe(1000);

    await h.deps.db.query(`update jobs set status = 'failed', error = 'held' where params->>'notes' = 'held-default'`);
  });
});
