import { sql } from 'drizzle-orm';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobSpecsFor, type JobSpecs } from '../src/jobs/job-specs.js';
import { OutboxRelay } from '../src/jobs/outbox-relay.js';
import { startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * BullMQ on the embedded database (REDIS_URL set, no DATABASE_URL). When Redis holds a command's
 * job as finished while the database still wants the work (a relay pass whose commit failed after
 * the job went in, then ran), the relay asks the database whether it still does — inside its claim's
 * transaction. It asked on the pool: the embedded database's one connection was the transaction's,
 * so every such pass waited out its 15 s time-out and rolled back, and the outbox stood still.
 * Found by a search for the Reset HWID defect's kind; this hung before the fix.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ database: 'pglite', jobs: 'producer', env: { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' } });
});
afterAll(() => h?.close());

describe('the BullMQ relay on the embedded database', () => {
  it('relays a command whose job Redis holds as finished, asking the database in its own transaction', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5500 });
    expect(res.statusCode).toBe(202);
    const jobId: number = res.json().job.id;
    const specs = jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);
    const spec = specs.generation(jobId);

    // The job is in Redis and has run (a worker that does nothing), while the database still has
    // the job queued and the command unrelayed: as after a relay pass whose commit failed.
    await spec.queue.add(spec.name, spec.data, { ...spec.opts, jobId: spec.jobId });
    const connection = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const worker = new Worker(spec.queue.name, async () => {}, { connection, prefix: spec.queue.opts.prefix });
    try {
      await waitFor(async () => (await (await spec.queue.getJob(spec.jobId))?.getState()) === 'completed', 10_000, 'the job to have run');
    } finally {
      await worker.close();
      await connection.quit();
    }

    const relay = new OutboxRelay(h.deps, specs, { pollMs: 1000, enqueueTimeoutMs: 5000 });
    expect(await relay.relayOnce()).toBe(1);
    // Still wanted: it went in under the next id of its chain.
    expect(await (await spec.queue.getJob(`${spec.jobId}-2`))?.getState()).toBe('waiting');
  });
});

describe('the BullMQ relay, once its claim has timed out', () => {
  it('asks the database nothing more: a statement of the ended transaction would go out on a connection another may hold', async () => {
    // One connection: the transaction that takes it after the claim is the one a late statement would land in.
    const pg = await startHarness({ env: { DATABASE_POOL_SIZE: '1' } });
    try {
      const s = await pg.seller();
      const { plan } = await s.setup();
      expect((await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5500 })).statusCode).toBe(202);
      // Only the generation command is left to relay.
      await pg.deps.db.query(`update outbox set relayed_at = now() where kind = 'event' and relayed_at is null`);
      // A queue that answers after the claim's time-out, holding the job as finished: the relay
      // would then ask whether the database still wants it, and add it under the next id if so.
      const added: string[] = [];
      const looked: string[] = [];
      let data: Record<string, unknown> = {};
      const queue = {
        name: 'slow',
        getJob: async (id: string) => {
          looked.push(id);
          await new Promise((r) => setTimeout(r, 400));
          return { data, getState: async () => 'completed' };
        },
        add: async (_name: string, _data: unknown, opts: { jobId: string }) => void added.push(opts.jobId),
        backend: { client: Promise.resolve({ exists: async () => 0 }) },
        toKey: (id: string) => `slow:${id}`,
      };
      const specs = {
        generation: (jobId: number) => {
          data = { job_id: jobId };
          return { queue, name: 'generate_licenses', data, jobId: `gen-${jobId}` };
        },
      } as unknown as JobSpecs;
      const relay = new OutboxRelay(pg.deps, specs, { pollMs: 1000, enqueueTimeoutMs: 150 });
      await expect(relay.relayOnce()).rejects.toThrow('did not take the claimed rows');
      await pg.deps.db.orm.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        await new Promise((r) => setTimeout(r, 800));
      });
      // The late check was refused: the chain did not go on (next id) on the strength of a statement run outside the claim.
      expect(looked).toHaveLength(1);
      expect(added).toEqual([]);
    } finally {
      await pg.close();
    }
  });
});
