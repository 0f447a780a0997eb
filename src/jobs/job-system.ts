import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobsConfig } from '../config.js';
import type { Deps } from '../core/deps.js';
import { deliverWebhook, dispatchEvent, generateLicenses, maintenance, type EventListener, type HandlerContext } from './handlers.js';
import { OutboxRelay } from './outbox-relay.js';
import { closeQueues, createQueues, QUEUES, webhookBackoff, type Queues } from './queues.js';
import { createRedis, RedisMonitor } from './redis.js';

export const EXPIRY_SCHEDULER_ID = 'expiry-sweep';

export interface JobSystem {
  queues: Queues;
  /** The fail-fast producer connection, shared with the API's rate limiter. */
  redis: Redis;
  redisHealth(): Promise<'ok' | 'down'>;
  /** Present when this process runs workers (role worker or all). */
  relay?: OutboxRelay;
  onEvent(listener: EventListener): void;
  onGenerationProgress(listener: (jobId: number, generated: number, count: number) => void): void;
  close(): Promise<void>;
}

/**
 * Keycord's background side on BullMQ. `withWorkers: false` (the API-only role) keeps just the
 * producers: the dashboard and health need the queues, nothing more.
 */
export async function startJobSystem(deps: Deps, config: { redisUrl: string; jobs: JobsConfig }, opts: { withWorkers: boolean }): Promise<JobSystem> {
  const producer = createRedis(config.redisUrl, 'producer');
  const monitor = new RedisMonitor(producer, deps.log);
  const queues = createQueues(producer, config.jobs.queuePrefix);
  const ctx: HandlerContext = { deps, queues, config: config.jobs, eventListeners: [], generationProgress: [] };
  const workerConnections: Redis[] = [];
  const workers: Worker[] = [];
  let relay: OutboxRelay | undefined;

  if (opts.withWorkers) {
    const worker = (name: string, process: (job: Job) => Promise<unknown>, concurrency: number) => {
      const connection = createRedis(config.redisUrl, 'worker');
      workerConnections.push(connection);
      const w = new Worker(name, process, {
        connection,
        prefix: config.jobs.queuePrefix,
        concurrency,
        lockDuration: config.jobs.lockMs,
        stalledInterval: config.jobs.lockMs,
        maxStalledCount: 10,
        settings: { backoffStrategy: (attemptsMade: number) => webhookBackoff(attemptsMade, config.jobs.webhookRetryBaseMs) },
      });
      w.on('error', () => {}); // connection trouble is reported once by the RedisMonitor
      w.on('failed', (job, err) => deps.log.warn({ queue: name, job: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job attempt failed'));
      workers.push(w);
    };
    worker(QUEUES.events, (job) => dispatchEvent(ctx, job), config.jobs.workerConcurrency);
    worker(QUEUES.webhooks, (job) => deliverWebhook(ctx, job), Math.max(10, config.jobs.workerConcurrency * 4));
    worker(QUEUES.generate, (job) => generateLicenses(ctx, job), 1);
    worker(QUEUES.maintenance, () => maintenance(ctx), 1);
    relay = new OutboxRelay(deps, queues, { pollMs: config.jobs.outboxPollMs });
    relay.start();
    // The scheduler is idempotent (same id, same interval); with Redis away it is set on reconnect.
    const schedule = () =>
      queues.maintenance
        .upsertJobScheduler(EXPIRY_SCHEDULER_ID, { every: config.jobs.expirySweepEveryMs }, { name: 'expiry-sweep', data: {} })
        .catch((err: Error) => deps.log.warn({ err: err.message }, 'could not set the expiry sweep schedule yet'));
    await schedule();
    producer.on('ready', () => void schedule());
  }

  return {
    queues,
    redis: producer,
    relay,
    redisHealth: () => monitor.check(),
    onEvent: (l) => void ctx.eventListeners.push(l),
    onGenerationProgress: (l) => void ctx.generationProgress.push(l),
    // Order: stop feeding work, let running jobs finish (BullMQ waits for them), then hang up.
    close: async () => {
      monitor.stop();
      await relay?.stop();
      await Promise.allSettled(workers.map((w) => w.close()));
      await closeQueues(queues);
      for (const c of workerConnections) c.disconnect();
      producer.disconnect();
    },
  };
}
