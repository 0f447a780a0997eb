/**
 * The bare baseline of webhook delivery on BullMQ (bench/webhooks.ts), in a child process as
 * Keycord's worker role is: a BullMQ worker on one queue, at Keycord's webhook concurrency, whose
 * job carries a delivery's body and id; it signs the body as Keycord does (HMAC-SHA256 over
 * "t.body") and POSTs it over an undici keep-alive pool to the receiver. No database, no relay,
 * no fan-out: what delivering costs with the same libraries and nothing else.
 *
 *   BARE_REDIS_URL, BARE_QUEUE_PREFIX, BARE_QUEUE   where the jobs are
 *   BARE_RECEIVER_URL                               where they go
 *   BARE_SECRET                                     the signing secret
 *   BARE_CONCURRENCY                                jobs at once (Keycord's webhook concurrency)
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bareSignedPoster } from './bare-signed-post.js';

export type BareWorkerMessage = { type: 'ready' };
export interface BareDeliveryJob {
  delivery: string;
  body: string;
}

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const poster = bareSignedPoster(env('BARE_RECEIVER_URL'), env('BARE_SECRET'));
const connection = new Redis(env('BARE_REDIS_URL'), { maxRetriesPerRequest: null });

const worker = new Worker<BareDeliveryJob>(
  env('BARE_QUEUE'),
  async (job) => {
    const statusCode = await poster.post(job.data.body, job.data.delivery);
    if (statusCode < 200 || statusCode >= 300) throw new Error(`receiver answered ${statusCode}`);
  },
  { connection, prefix: env('BARE_QUEUE_PREFIX'), concurrency: Number(env('BARE_CONCURRENCY')) },
);
worker.on('error', () => {});
await worker.waitUntilReady();
process.send?.({ type: 'ready' } satisfies BareWorkerMessage);

let stopping = false;
const stop = async () => {
  // Asked to stop, then disconnected: close once.
  if (stopping) return;
  stopping = true;
  await worker.close();
  await poster.close();
  connection.disconnect();
  process.disconnect?.();
};
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());
