import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobsConfig } from '../config.js';
import type { Deps } from '../core/deps.js';
import { JOBS } from './definitions/index.js';
import { webhookConcurrency } from './definitions/deliver-webhook.js';
import { ownJobsOnly, type HandlerContext } from './handlers.js';
import { loadInstallationId, queuePrefixFor } from './installation.js';
import type { JobProvider } from './job-provider.js';
import { jobSpecsFor } from './job-specs.js';
import { OutboxRelay } from './outbox-relay.js';
import { closeQueues, createQueues, QUEUES, WEBHOOK_ATTEMPTS, webhookBackoff, type Queues } from './queues.js';
import { ReceiverTurns } from './receiver-turns.js';
import { Reconciler } from './reconciler.js';
import { createRedis, hangUp, RedisMonitor } from './redis.js';
import { settleWithin } from '../settle-within.js';

/** How long a stop waits for Redis to answer the health check's PING before it takes Redis for away. */
const REDIS_STOP_PROBE_MS = 1000;

/** The scheduler of releases before installation ids; removed at start so it stops firing. */
const LEGACY_EXPIRY_SCHEDULER_ID = 'expiry-sweep';

/** The `bullmq` job provider, with what only it has: queues (Bull Board) and Redis. */
export interface JobSystem extends JobProvider {
  readonly kind: 'bullmq';
  queues: Queues;
  /** The BullMQ prefix in use: QUEUE_PREFIX, or one derived from the installation id. */
  queuePrefix: string;
  /** The fail-fast producer connection, shared with the API's rate limiter. */
  redis: Redis;
  redisHealth(): Promise<'ok' | 'down'>;
  /** Present when this process runs workers (role worker or all). */
  relay?: OutboxRelay;
  reconciler?: Reconciler;
}

/**
 * Keycord's background side on BullMQ. `withWorkers: false` (the API-only role) keeps just the
 * producers: the dashboard and health need the queues, nothing more.
 */
export async function startJobSystem(deps: Deps, config: { redisUrl: string; jobs: JobsConfig }, opts: { withWorkers: boolean }): Promise<JobSystem> {
  const installation = await loadInstallationId(deps.db);
  const queuePrefix = queuePrefixFor(config.jobs, installation);
  const producer = createRedis(config.redisUrl, 'producer');
  const monitor = new RedisMonitor(producer, deps.log);
  const queues = createQueues(producer, queuePrefix);
  const specs = jobSpecsFor(queues, installation);
  const ctx: HandlerContext = { deps, queues, config: config.jobs, installation, specs, eventListeners: [], stopping: false, receiverTurns: new ReceiverTurns(webhookConcurrency(config.jobs)) };
  const workerConnections: Redis[] = [];
  const workers: Worker[] = [];
  let relay: OutboxRelay | undefined;
  let reconciler: Reconciler | undefined;

  if (opts.withWorkers) {
    const worker = (name: string, process: (job: Job, token?: string) => Promise<unknown>, concurrency: number) => {
      const connection = createRedis(config.redisUrl, 'worker');
      workerConnections.push(connection);
      const w = new Worker(name, ownJobsOnly(ctx, process), {
        connection,
        prefix: queuePrefix,
        concurrency,
        lockDuration: config.jobs.lockMs,
        stalledInterval: config.jobs.lockMs,
        maxStalledCount: 10,
        // A delivery job added after attempts made elsewhere (its first, by the fan-out; earlier
        // ones, when the reconciler re-adds it) has that many fewer attempts: its schedule goes on from there.
        settings: {
          backoffStrategy: (attemptsMade: number, _type?: string, _err?: Error, job?: { opts: { attempts?: number } }) =>
            webhookBackoff(attemptsMade + Math.max(0, WEBHOOK_ATTEMPTS - (job?.opts.attempts ?? WEBHOOK_ATTEMPTS)), config.jobs.webhookRetryBaseMs),
        },
      });
      w.on('error', () => {}); // connection trouble is reported once by the RedisMonitor
      w.on('failed', (job, err) => deps.log.warn({ queue: name, job: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job attempt failed'));
      workers.push(w);
    };
    for (const definition of JOBS) worker(QUEUES[definition.queue], (job, token) => definition.process(ctx, job, token), definition.concurrency(config.jobs));
    relay = new OutboxRelay(deps, specs, { pollMs: config.jobs.outboxPollMs, canEnqueue: () => producer.status === 'ready' });
    relay.start();
    reconciler = new Reconciler(deps, specs, { everyMs: config.jobs.reconcileEveryMs, webhookRetryBaseMs: config.jobs.webhookRetryBaseMs });
    reconciler.start();
    // The scheduler is idempotent (same id, same interval); with Redis away it is set on reconnect.
    const schedule = async () => {
      try {
        await queues.maintenance.removeJobScheduler(LEGACY_EXPIRY_SCHEDULER_ID);
        await queues.maintenance.upsertJobScheduler(specs.ids.expirySweepScheduler(), { every: config.jobs.expirySweepEveryMs }, { name: 'expiry-sweep', data: { installation } });
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'could not set the expiry sweep schedule yet');
      }
    };
    // Not awaited: with Redis down at start, BullMQ waits for a connection that is not there, and
    // the API must listen regardless (jobs simply wait). The 'ready' handler sets it once Redis is up.
    if (producer.status === 'ready') void schedule(); // else the 'ready' handler below sets it
    // A Redis that comes back may have come back empty: set the schedule again, compare the queues.
    producer.on('ready', () => {
      if (ctx.stopping) return;
      void schedule();
      reconciler?.trigger();
      relay?.wake();
    });
  }

  return {
    kind: 'bullmq',
    queues,
    installationId: installation,
    queuePrefix,
    redis: producer,
    relay,
    reconciler,
    redisHealth: () => monitor.check(),
    onEvent: (l) => void ctx.eventListeners.push(l),
    // Order: stop feeding work; running jobs finish, or (bulk generation) hand themselves back at
    // the next batch with their progress committed; then hang up.
    close: async () => {
      ctx.stopping = true;
      monitor.stop();
      // With Redis away no job can be running here (holding one needs Redis), and anything that
      // waits on it — a reconcile pass looking for its jobs, BullMQ's close — would wait for a
      // connection that is not coming: hang up first (hangUp: also a connection waiting to
      // reconnect), so those waits end, then close without waiting. Away includes a Redis that
      // keeps its sockets open and stops answering (its connection still reads 'ready'): a
      // worker's close would wait for its blocking command forever.
      const redisAway = (await settleWithin(monitor.check(), REDIS_STOP_PROBE_MS, 'down')) === 'down';
      const hangUpAll = () => {
        for (const c of workerConnections) hangUp(c);
        hangUp(producer);
      };
      if (redisAway) hangUpAll();
      await reconciler?.stop();
      await relay?.stop();
      await Promise.allSettled(workers.map((w) => w.close(redisAway)));
      await closeQueues(queues);
      hangUpAll();
    },
  };
}
