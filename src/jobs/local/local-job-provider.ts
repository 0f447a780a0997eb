import type { JobsConfig } from '../../config.js';
import type { Deps } from '../../core/deps.js';
import { keysetPages, RECONCILE_PAGE, unfinishedGenerationJobs } from '../../core/jobs/unfinished-work.js';
import type { OutboxRow } from '../../core/webhooks/delivery-statements.js';
import { loadInstallationId } from '../installation.js';
import type { JobProvider } from '../job-provider.js';
import { dispatchEventTry, EVENT_RETRY, type EventListener } from '../definitions/dispatch-event.js';
import { webhookConcurrency } from '../definitions/deliver-webhook.js';
import { GENERATION_RETRY, generateLicensesTry } from '../definitions/generate-licenses.js';
import { maintenanceTry } from '../definitions/maintenance.js';
import { ReceiverTurns } from '../receiver-turns.js';
import { DeliverySchedule } from './delivery-schedule.js';
import { claimOutboxRows } from './outbox-claim.js';
import { RetrySchedule } from './retry-schedule.js';
import { RunnerLock } from './runner-lock.js';

/** Outbox rows taken per pass; a full batch means more are waiting, so the next pass runs at once. */
const CLAIM_BATCH = 200;

export interface LocalJobProvider extends JobProvider {
  readonly kind: 'local';
}

type LocalJobsConfig = Pick<JobsConfig, 'outboxPollMs' | 'reconcileEveryMs' | 'expirySweepEveryMs' | 'expiryNoticeDays' | 'generateBatchSize' | 'workerConcurrency' | 'webhookRetryBaseMs'>;

export interface LocalJobProviderOptions {
  /** Unfinished generation jobs read per page while looking for one to run (RECONCILE_PAGE by default). */
  generationPageSize?: number;
}

/**
 * The `local` job provider: every job runs in this process, driven from the database, which holds
 * every fact a queue would (outbox rows and their dispatch marks, generation jobs with their
 * committed counts, delivery attempts with their times, notice rows). One loop, every
 * OUTBOX_POLL_MS: take new outbox rows, dispatch undispatched events, start due webhook attempts,
 * run the oldest unfinished generation job not waiting for a retry (one at a time, looked for a page
 * at a time past any number of waiting ones). The expiry sweep runs every
 * EXPIRY_SWEEP_EVERY. Stopped at any point, the next start carries on from the database: a
 * generation job from its committed count, deliveries on their schedule, events not yet marked.
 * Several processes on one Postgres each have a provider, of which one at a time runs the jobs
 * (RunnerLock); the others stand by and take over from the database.
 */
export async function startLocalJobProvider(deps: Deps, config: LocalJobsConfig, opts: LocalJobProviderOptions = {}): Promise<LocalJobProvider> {
  const { log } = deps;
  const generationPageSize = opts.generationPageSize ?? RECONCILE_PAGE;
  const installationId = await loadInstallationId(deps.db);
  const lock = new RunnerLock(deps, installationId, { retryMs: Math.min(config.reconcileEveryMs, 5000) });
  lock.start();
  let running = false;
  const listeners: EventListener[] = [];
  const deliveryConcurrency = webhookConcurrency(config);
  // One receiver's share of the POSTs, for first attempts and scheduled ones alike.
  const receiverTurns = new ReceiverTurns(deliveryConcurrency);
  const deliveries = new DeliverySchedule(deps, { retryBaseMs: config.webhookRetryBaseMs, concurrency: deliveryConcurrency, turn: receiverTurns.take });
  const eventRetries = new RetrySchedule(EVENT_RETRY);
  const generationRetries = new RetrySchedule(GENERATION_RETRY);
  let stopping = false;
  let generation: Promise<void> | undefined;
  let maintenance: Promise<void> | undefined;
  let nextLoadAt = 0;
  // Unfinished generation jobs are looked for when there may be one to start: at start and on the
  // reconcile interval, after a generate_licenses command is taken, after a run ends, and once a
  // failed one's wait for its retry is over — not on every pass of a webhook burst.
  let generationCheckDue = true;

  const dispatchEvent = async (event: OutboxRow) => {
    const { id } = event;
    if (!eventRetries.ready(id)) return;
    const lastTry = eventRetries.isLastTry(id);
    const tenure = lock.tenure;
    try {
      await dispatchEventTry(deps, id, {
        listeners,
        lastTry,
        event,
        turn: receiverTurns.take,
        sendDeliveries: async (handedOff) => deliveries.added(handedOff),
        // A process that lost the runner lock while its first attempts were out (even if it has
        // taken it back since) leaves the listeners to the one that took over, which dispatches
        // the event again: no notice twice for a takeover.
        stillHeld: () => lock.confirm(tenure),
      });
      eventRetries.forget(id);
    } catch (err) {
      log.warn({ event: id, err: (err as Error).message }, lastTry ? 'event dispatch failed; giving up' : 'event dispatch failed; will retry');
      if (lastTry) eventRetries.forget(id);
      else eventRetries.failed(id);
    }
  };

  // A dispatch makes its deliveries' first attempts, so it waits on receivers: several run at once,
  // as many as webhook attempts do. A pass does not wait for them: one POST to a hanging receiver
  // holds its dispatch up to the webhook timeout, and the next claim's events (other receivers')
  // must not wait for it. The last claim's events not yet started wait here, oldest first.
  const dispatching = new Map<number, Promise<void>>();
  let backlog: OutboxRow[] = [];
  let backlogAt = 0;
  let backlogStarted: (() => void) | undefined;
  // A claim's snapshot may predate the mark of a dispatch that ended while it ran, and return that
  // event as undispatched: such events (ended during claim n) are left out of claim n's backlog.
  let claims = 0;
  const endedDuring = new Map<number, number>();

  const startDispatches = () => {
    while (dispatching.size < deliveryConcurrency && backlogAt < backlog.length && !stopping && lock.holds) {
      const event = backlog[backlogAt++]!;
      if (dispatching.has(event.id)) continue;
      dispatching.set(
        event.id,
        dispatchEvent(event).finally(() => {
          dispatching.delete(event.id);
          endedDuring.set(event.id, claims);
          startDispatches();
        }),
      );
    }
    if (backlogStarted && (backlogAt >= backlog.length || stopping || !lock.holds)) {
      const started = backlogStarted;
      backlogStarted = undefined;
      started();
    }
  };

  /** Resolves once every event of the last claim has started (or the provider closes). */
  const untilBacklogStarted = () =>
    new Promise<void>((resolve) => {
      backlogStarted = resolve;
      wake = resolve;
      startDispatches();
    });

  const runGeneration = async (jobId: number) => {
    const lastTry = generationRetries.isLastTry(jobId);
    try {
      const result = await generateLicensesTry(deps, config, jobId, {
        lastTry,
        shouldPause: () => stopping,
        onProgress: (generated, count) => log.debug({ job: jobId, generated, count }, 'generation job progress'),
      });
      if (result.done) generationRetries.forget(jobId);
    } catch (err) {
      // The error itself, not its message: the logger redacts the bound values (a batch's keys) along its causes.
      log.warn({ job: jobId, err }, lastTry ? 'generation job failed; giving up' : 'generation job failed; will retry');
      if (lastTry) generationRetries.forget(jobId);
      else generationRetries.failed(jobId);
    }
  };

  /**
   * The oldest unfinished job whose retry (if it failed) is due, read a page at a time by keyset:
   * the oldest may all be waiting out a backoff while later ones could run. Stops at the first one
   * found, so it reads past the waiting ones only.
   */
  const nextGeneration = async (): Promise<number | undefined> => {
    const pages = keysetPages(
      (page) => unfinishedGenerationJobs(deps, page),
      (id) => id,
      { limit: generationPageSize, stopped: () => stopping },
    );
    for await (const page of pages) {
      const next = page.find((id) => generationRetries.ready(id));
      if (next !== undefined) return next;
    }
    return undefined;
  };

  // One job at a time: nothing is looked for while one runs.
  const startGeneration = async () => {
    if (generation || !(generationCheckDue || generationRetries.anyDue())) return;
    const next = await nextGeneration();
    generationCheckDue = false;
    if (next === undefined || stopping) return;
    generation = runGeneration(next).finally(() => {
      generation = undefined;
      generationCheckDue = true;
    });
  };

  // The delivery schedule is loaded beside the passes, not in one: a load reads every pending
  // delivery (300,000 of them take 3–4 s: bench:schedule), and the passes go on claiming and dispatching
  // meanwhile. A schedule that left due deliveries in the database (over its capacity) is loaded
  // again before the reconcile interval, once the last load's time has passed again (at most half
  // the time spent loading).
  // Until a load begun since this process (last) took the runner lock has ended, the schedule in
  // memory is not started from: another process may have moved it on meanwhile.
  let loading: Promise<void> | undefined;
  let nextEarlyLoadAt = 0;
  let scheduleEpoch = 0;
  let scheduleCurrent = false;
  const loadDeliveries = () => {
    const startedAt = Date.now();
    const epoch = scheduleEpoch;
    loading = deliveries
      .load({ stopped: () => stopping })
      .then(() => {
        if (epoch === scheduleEpoch) scheduleCurrent = true;
        if (scheduleCurrent && !stopping && lock.holds) deliveries.startDue();
      })
      .catch((err: Error) => {
        log.warn({ err: err.message }, 'webhook delivery schedule could not be loaded; will try again');
        nextLoadAt = Math.min(nextLoadAt, Date.now() + Math.min(config.reconcileEveryMs, 5000));
      })
      .finally(() => {
        nextEarlyLoadAt = Date.now() + Math.max(config.outboxPollMs, Date.now() - startedAt);
        loading = undefined;
      });
  };

  /** One pass; returns whether a full batch was claimed (more rows are waiting). */
  const pass = async (): Promise<boolean> => {
    if (!lock.holds) {
      running = false;
      return false;
    }
    if (!running) {
      // Taken over (or back): another process may have moved every schedule on meanwhile.
      running = true;
      nextLoadAt = 0;
      scheduleEpoch++;
      scheduleCurrent = false;
      generationCheckDue = true;
    }
    if (sweepOwed) sweep();
    const claim = ++claims;
    const { claimed, undispatched } = await claimOutboxRows(deps, CLAIM_BATCH);
    backlog = undispatched.filter((e) => !dispatching.has(e.id) && endedDuring.get(e.id) !== claim);
    backlogAt = 0;
    endedDuring.clear();
    for (const row of claimed) {
      if (row.kind === 'command' && row.type === 'redeliver_webhook') deliveries.redelivered(Number(row.payload.delivery_id));
      // The job row is what startGeneration reads.
      if (row.kind === 'command' && (row.type === 'generate_licenses' || row.type === 'bulk_licenses')) generationCheckDue = true;
    }
    if (Date.now() >= nextLoadAt && !loading) {
      loadDeliveries();
      generationCheckDue = true;
      nextLoadAt = Date.now() + config.reconcileEveryMs;
    } else if (!loading && Date.now() >= nextEarlyLoadAt && deliveries.wantsLoad()) {
      loadDeliveries();
    }
    startDispatches();
    if (scheduleCurrent) deliveries.startDue();
    await startGeneration();
    return claimed.length === CLAIM_BATCH;
  };

  // The sweep is a job like the others: run by the process holding the runner lock only. One due
  // while standing by (at start, before the lock is taken) runs on the first pass that holds it.
  let sweepOwed = false;
  const sweep = () => {
    if (maintenance || stopping) return;
    sweepOwed = !lock.holds;
    if (sweepOwed) return;
    maintenance = maintenanceTry(deps, config)
      .then((swept) => {
        if (swept.expired + swept.expiringSoon > 0) log.info({ ...swept }, 'expiry sweep');
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'expiry sweep failed; will run again'))
      .finally(() => (maintenance = undefined));
  };

  let wake: (() => void) | undefined;
  const loop = (async () => {
    let failing = false;
    while (!stopping) {
      let more = false;
      try {
        more = await pass();
        if (failing) log.info('local jobs resumed');
        failing = false;
      } catch (err) {
        if (!failing) log.warn({ err: (err as Error).message }, 'local jobs paused (database unavailable); the work stays in the database');
        failing = true;
      }
      // More rows are waiting: claimed once this claim's events have all started, as dispatches end.
      if (more && !stopping) await untilBacklogStarted();
      else if (!stopping) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, config.outboxPollMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  })();

  sweep();
  const sweepTimer = setInterval(sweep, config.expirySweepEveryMs);
  sweepTimer.unref();

  return {
    kind: 'local',
    installationId,
    onEvent: (listener) => void listeners.push(listener),
    // Stop taking work, then wait for what runs: a generation job stops after its current batch
    // (committed), webhook attempts finish and are recorded.
    close: async () => {
      stopping = true;
      clearInterval(sweepTimer);
      wake?.();
      await loop;
      await Promise.allSettled([...dispatching.values()]);
      await loading;
      await generation;
      await deliveries.settle();
      await maintenance;
      // Last: a process standing by takes over only once this one's work is settled.
      await lock.stop();
    },
  };
}
