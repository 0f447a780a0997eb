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
import { createHmac } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';

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
const receiver = new URL(env('BARE_RECEIVER_URL'));
const secret = env('BARE_SECRET');
const pool = new Pool(receiver.origin, { connections: 64, keepAliveTimeout: 4_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
const connection = new Redis(env('BARE_REDIS_URL'), { maxRetriesPerRequest: null });

const worker = new Worker<BareDeliveryJob>(
  env('BARE_QUEUE'),
  async (job) => {
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', secret).update(`${t}.${job.data.body}`).digest('hex');
    const res = await pool.request({
      method: 'POST',
      path: receiver.pathname,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'bare-webhooks/1',
        'X-Keycord-Event': 'license.banned',
        'X-Keycord-Delivery': job.data.delivery,
        'X-Keycord-Signature': `t=${t},v1=${v1}`,
      },
      body: job.data.body,
    });
    await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`receiver answered ${res.statusCode}`);
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
  await pool.close();
  connection.disconnect();
  process.disconnect?.();
};
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());
