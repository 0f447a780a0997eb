import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emitEvent } from '../src/core/events/emit-event.js';
import { dispatchEventJob, type EventListener } from '../src/jobs/definitions/dispatch-event.js';
import { EVENT_LEASE, EventLeases } from '../src/jobs/event-leases.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { createLogger } from '../src/log.js';
import { startHarness, type Harness } from './support/harness.js';
import { startHeldReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * The leases a BullMQ dispatch takes on its events (event-leases.ts) belong to one run of a job,
 * not to the job: two live runs of one job id (BullMQ took the first for stalled while its event
 * loop was blocked) must not both run an event's listeners. And a lease lasts as long as its run
 * renews it, however long a batch takes. Real Redis, on the harness's queue prefix (flushed on close).
 */
let h: Harness;
let applicationId: number;
let queue: Queue;
let installation: string;
const warnings: string[] = [];
const log = createLogger('warn', { write: (line: string) => void warnings.push(line) });

beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
  const s = await h.seller();
  applicationId = (await s.setup()).app.id;
  queue = h.jobs!.queues.events;
  installation = h.jobs!.installationId;
});
afterAll(async () => {
  await h?.close();
});

/** A lease length short enough to watch it lapse, renewed three times within it. */
const SHORT = { ms: 300, renewEveryMs: 100 };
let nextEventId = 1_000_000;
const run = (holder: string, timing = SHORT) => new EventLeases(queue, installation, holder, log, timing);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event leases', () => {
  it('two runs of one job id hold apart: the second cannot take an event the first holds', async () => {
    const event = nextEventId++;
    const first = run(`evb-x:${randomUUID()}`);
    const second = run(`evb-x:${randomUUID()}`);
    try {
      expect(await first.take([event])).toEqual(new Set([event]));
      expect(await second.take([event])).toEqual(new Set());
      // The same run asking again still has it.
      expect(await first.take([event])).toEqual(new Set([event]));
    } finally {
      first.end();
      second.end();
    }
  });

  it('a take that fails part-way lets go of what it set: a retry (another token) takes those at once', async () => {
    const [a, b, broken] = [nextEventId++, nextEventId++, nextEventId++];
    // A key of the wrong type: Redis answers that one lease's script with an error, after setting the others.
    const client = (await queue.backend.client) as unknown as { hset(key: string, field: string, value: string): Promise<number>; del(key: string): Promise<number> };
    const brokenKey = queue.toKey(`lease-${installation}-${broken}`);
    await client.hset(brokenKey, 'x', '1');
    const first = run(`evb-y:${randomUUID()}`);
    const retry = run(`evb-y:${randomUUID()}`);
    try {
      await expect(first.take([a, b, broken])).rejects.toThrow(/WRONGTYPE/);
      expect(await retry.take([a, b])).toEqual(new Set([a, b]));
    } finally {
      first.end();
      retry.end();
      await client.del(brokenKey);
    }
  });

  it('a lease renewed outlasts its length, and lapses to another holder once its run is over', async () => {
    const [held, other] = [nextEventId++, nextEventId++];
    const a = run('a');
    const b = run('b');
    try {
      expect(await a.take([held, other])).toEqual(new Set([held, other]));
      await sleep(SHORT.ms * 3);
      expect(await b.take([held, other])).toEqual(new Set());
      a.end();
      // Not let go by the end of the run: it lapses.
      expect(await b.take([held])).toEqual(new Set());
      await waitFor(async () => (await b.take([held, other])).size === 2, 2_000, 'the leases to lapse');
    } finally {
      a.end();
      b.end();
    }
  });

  it('a renewal that finds its lease gone to another holder warns, naming the event', async () => {
    const event = nextEventId++;
    const a = run('a');
    try {
      await a.take([event]);
      const client = await queue.backend.client;
      await client.set(queue.toKey(`lease-${installation}-${event}`), 'someone else');
      await waitFor(() => warnings.find((w) => w.includes('event lease lost') && JSON.parse(w).event === event), 2_000, 'the lost lease warning');
    } finally {
      a.end();
    }
  });

  it('a lease confirmed within a renewal turn is held without asking Redis; one older is asked about, and found lost', async () => {
    const event = nextEventId++;
    const a = run('a', EVENT_LEASE);
    const client = await queue.backend.client;
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      await a.take([event]);
      // Another holder now (only a lapse allows it; written here): not seen, as no round trip is made.
      await client.set(queue.toKey(`lease-${installation}-${event}`), 'someone else');
      expect(await a.stillHeld(event)).toBe(true);
      // Past a renewal turn with no renewal run (an event loop held up): asked, and lost.
      vi.advanceTimersByTime(EVENT_LEASE.renewEveryMs + 1);
      expect(await a.stillHeld(event)).toBe(false);
      expect(await a.stillHeld(event)).toBe(false);
    } finally {
      vi.useRealTimers();
      a.end();
    }
  });

  it("a release by its holder lets another take it at once; another's release does nothing", async () => {
    const event = nextEventId++;
    // The default length (a minute): only a release frees it within the test.
    const a = run('a', EVENT_LEASE);
    const b = run('b', EVENT_LEASE);
    try {
      await a.take([event]);
      await b.release(event);
      expect(await b.take([event])).toEqual(new Set());
      await a.release(event);
      expect(await b.take([event])).toEqual(new Set([event]));
    } finally {
      a.end();
      b.end();
    }
  });
});

/** What a worker hands its jobs, with these listeners (the Discord notices). */
const handlerContext = (eventListeners: EventListener[]): HandlerContext => ({
  deps: h.deps,
  queues: h.jobs!.queues,
  config: h.config.jobs,
  installation,
  specs: jobSpecsFor(h.jobs!.queues, installation),
  eventListeners,
  stopping: false,
});

/** A committed event and its dispatch job in the queue. */
async function eventJob(): Promise<{ id: number; job: Job }> {
  const id = await emitEvent(h.deps.db.orm, applicationId, 'license.banned', { license: { id: 1 } });
  const spec = handlerContext([]).specs.event(id, 'license.banned');
  await queue.add(spec.name, spec.data, { ...spec.opts, jobId: spec.jobId });
  return { id, job: (await queue.getJob(spec.jobId)) as Job };
}

describe('a dispatch job run twice at once (a false stall)', () => {
  it("runs the event's listeners once: the second run, with another lock token, leaves it", async () => {
    const { id, job } = await eventJob();
    const heard: number[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const ctx = handlerContext([
      async (e) => {
        heard.push(e.id);
        if (heard.length === 1) await slow;
      },
    ]);
    const first = dispatchEventJob.process(ctx, job, randomUUID());
    await waitFor(() => heard.includes(id), 5_000, 'the first run in its listeners');
    const second = dispatchEventJob.process(ctx, job, randomUUID());
    await expect(second).rejects.toThrow(/being dispatched by another job/);
    release();
    await first;
    expect(heard).toEqual([id]);
  });

  it('a run whose dispatch failed lets its event go: the retry takes it at once', async () => {
    const { id, job } = await eventJob();
    let fail = true;
    const heard: number[] = [];
    const ctx = handlerContext([
      async (e) => {
        heard.push(e.id);
        if (fail) throw new Error('discord away');
      },
    ]);
    await expect(dispatchEventJob.process(ctx, job, randomUUID())).rejects.toThrow('discord away');
    fail = false;
    await dispatchEventJob.process(ctx, job, randomUUID());
    expect(heard).toEqual([id, id]);
    const [row] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [id]);
    expect(row!.dispatched).toBe(true);
  });
});

describe('a dispatch run held up past its lease (its event loop blocked longer than a lease lasts)', () => {
  it('leaves the listeners to the run that took the event meanwhile: they run once, and its first attempt is not made again', async () => {
    const rx = await startHeldReceiver();
    const s = await h.seller();
    const { app } = await s.setup();
    expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).statusCode).toBe(201);
    applicationId = app.id;
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const { id, job } = await eventJob();
      const heard: number[] = [];
      const ctx = handlerContext([async (e) => void heard.push(e.id)]);
      const held = dispatchEventJob.process(ctx, job, 'held-up-run');
      held.catch(() => {});
      // The first run waits on its POST; meanwhile its lease lapses and a second run takes the event.
      await waitFor(() => rx.held() === 1, 5_000, 'the first attempt in flight');
      await (await queue.backend.client).del(queue.toKey(`lease-${installation}-${id}`));
      await dispatchEventJob.process(ctx, job, 'run-that-took-over');
      expect(heard).toEqual([id]);
      // The first run comes back after more than a lease's length without a renewal.
      vi.advanceTimersByTime(EVENT_LEASE.ms + 10_000);
      rx.release();
      await expect(held).rejects.toThrow(/taken by another job/);
      expect(heard).toEqual([id]);
      expect(rx.received).toHaveLength(1);
      const [row] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [id]);
      expect(row!.dispatched).toBe(true);
      const deliveries = await h.deps.db.query<{ status: string; attempts: number }>('select d.status, d.attempts from webhook_deliveries d where d.event_id = $1', [id]);
      expect(deliveries).toEqual([{ status: 'delivered', attempts: 1 }]);
    } finally {
      vi.useRealTimers();
      rx.release();
      await rx.close();
    }
  });
});
