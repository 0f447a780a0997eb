import type { EventListener } from './definitions/dispatch-event.js';

/**
 * What the rest of Keycord needs of whichever runs the jobs: `bullmq` (Redis, workers in any
 * number of processes, Bull Board) or `local` (this process, driven from the database alone).
 */
export interface JobProvider {
  readonly kind: 'bullmq' | 'local';
  /** This database's installation id. */
  readonly installationId: string;
  /** Called with each event as it is dispatched (the Discord expiry notices). */
  onEvent(listener: EventListener): void;
  /** Stops taking work; running work finishes or hands itself back with its progress committed. */
  close(): Promise<void>;
}
