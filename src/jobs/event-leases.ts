import type { Queue } from 'bullmq';

/**
 * How long a BullMQ dispatch holds an event it has in hand. Longer than a dispatch takes (its
 * first attempts start within a minute of its fan-out and last 11 s at most; then the listeners):
 * a dispatch that crashed holds its events this long, after which a retry or the reconciler's job
 * takes them.
 */
const EVENT_LEASE_MS = 5 * 60_000;

// Taken when free, or when this holder has it already (a retried or stalled run of the same job,
// which is over by then), and renewed.
const TAKE = `local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;

// BullMQ's client interface leaves EVAL out; Keycord's queues run on ioredis (redis.ts), which has it.
type Evaluates<T> = { eval(script: string, numKeys: number, ...args: (string | number)[]): T };

const leaseKey = (queue: Queue, installation: string, eventId: number) => queue.toKey(`lease-${installation}-${eventId}`);

/**
 * Which of these events `holder` (a job id) may dispatch: those no other job has in hand. A relay
 * pass whose commit failed after its jobs were in Redis relays its rows again, and the next pass's
 * batches differ from the first's (rows dispatched meanwhile left out, new ones in), so two batch
 * jobs of different ids may carry one event at once. The fan-out's hold keeps its deliveries to one
 * POST each; this keeps its listeners (the Discord notices) to one run: one round trip for a batch.
 * A lease is not let go once its event is dispatched (the mark says so; a stale copy of the row kept
 * by the relay does not), only when the dispatch fails and leaves it to a job of its own.
 */
export async function takeEventLeases(queue: Queue, installation: string, eventIds: readonly number[], holder: string): Promise<Set<number>> {
  const taken = new Set<number>();
  if (eventIds.length === 0) return taken;
  const client = await queue.backend.client;
  const pipeline = client.pipeline() as unknown as Evaluates<unknown> & { exec(): Promise<[Error | null, unknown][] | null> };
  for (const id of eventIds) pipeline.eval(TAKE, 1, leaseKey(queue, installation, id), holder, EVENT_LEASE_MS);
  const answers = (await pipeline.exec()) ?? [];
  eventIds.forEach((id, i) => {
    const [err, took] = answers[i] ?? [new Error('no answer'), 0];
    if (err) throw err;
    if (Number(took) === 1) taken.add(id);
  });
  return taken;
}

/** Lets an event go (its dispatch failed), unless another holder has it by now. */
export async function releaseEventLease(queue: Queue, installation: string, eventId: number, holder: string): Promise<void> {
  const client = (await queue.backend.client) as unknown as Evaluates<Promise<unknown>>;
  await client.eval(RELEASE, 1, leaseKey(queue, installation, eventId), holder);
}
