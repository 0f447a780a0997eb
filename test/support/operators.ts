import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import type { Logger } from '../../src/log.js';
import type { Harness } from './harness.js';

/**
 * The HTTP side of `h` started again, over the same database and queues, with `operators` named in
 * KEYCORD_OPERATORS. Operators are settled when the dashboard starts (an account registered after
 * that is no operator: sign-up is open), so tests register them first and then call this. The
 * caller closes the app.
 */
export async function restartWithOperators(h: Harness, operators: string[], opts: { log?: Logger; publicUrl?: string } = {}): Promise<FastifyInstance> {
  if (!h.jobs) throw new Error('the queue dashboard needs the harness started with jobs');
  return buildApp(
    { ...h.deps, ...(opts.log ? { log: opts.log } : {}) },
    {
      jobs: h.jobs,
      operators,
      publicUrl: opts.publicUrl,
      trustProxy: h.config.trustProxy,
      rateLimits: { ...h.config.rateLimits, prefix: h.jobs.queuePrefix },
    },
  );
}
