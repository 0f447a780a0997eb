import { settleWithin } from './settle-within.js';
import type { Logger } from './log.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown> | unknown;
}

export interface ShutdownPlan {
  /** Stopped in order: stop taking requests, finish or hand back jobs, … */
  steps: ShutdownStep[];
  /**
   * Run on every exit path after `steps` — when they are done, when one of them throws, and when
   * the grace runs out with a request still open: buffered writes (usage counters) and the
   * database they go to. Each has its own bound so a dead database cannot hold the exit forever.
   */
  final: ShutdownStep[];
  graceMs: number;
  finalStepMs?: number;
  log: Logger;
  exit: (code: number) => void;
}

const TIMED_OUT = Symbol('timed out');

async function bounded(p: Promise<unknown>, ms: number) {
  if ((await settleWithin(p, ms, TIMED_OUT)) === TIMED_OUT) throw new Error(`did not finish within ${ms} ms`);
}

/** Why the process stops: a signal asking it to, or a crash it leaves through the same door. */
export type ShutdownReason = NodeJS.Signals | 'uncaughtException' | 'unhandledRejection';

const CRASHES: ReadonlySet<ShutdownReason> = new Set(['uncaughtException', 'unhandledRejection']);

/**
 * Ordered graceful shutdown with a deadline. The audit found the old version skipped the usage
 * flush when a request outlived the 15 s grace (the forced exit came first); here the final
 * steps run whatever happened, and the exit code says whether the stop went as asked: 0 for a
 * signal carried out in order, 1 when a step failed, the grace ran out, or a crash started it
 * (however cleanly it then closed: a supervisor restarting on failure must see one).
 */
export function createShutdown(plan: ShutdownPlan): (reason: ShutdownReason) => Promise<void> {
  let started = false;
  let failed = false;
  return async (reason) => {
    // A crash while a signal's shutdown is under way makes that stop a failure too.
    if (CRASHES.has(reason)) failed = true;
    if (started) return;
    started = true;
    plan.log.info({ signal: reason }, 'shutting down');
    let running: string | undefined;
    const graceful = (async () => {
      for (const step of plan.steps) {
        running = step.name;
        try {
          await step.run();
        } catch (err) {
          failed = true;
          plan.log.error({ err, step: step.name }, 'error during shutdown');
        }
      }
      return 'done' as const;
    })();
    const outcome = await settleWithin(graceful, plan.graceMs, 'grace over' as const);
    if (outcome === 'grace over') {
      failed = true;
      // Which step was still waiting: what an operator looks into when stops keep running out of time.
      plan.log.warn({ graceMs: plan.graceMs, step: running }, `shutdown grace ran out in step "${running}"; writing what is buffered and exiting`);
    }
    for (const step of plan.final) {
      try {
        await bounded(Promise.resolve(step.run()), plan.finalStepMs ?? 10_000);
      } catch (err) {
        failed = true;
        plan.log.error({ err, step: step.name }, 'error during shutdown');
      }
    }
    plan.exit(failed ? 1 : 0);
  };
}
