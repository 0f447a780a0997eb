import type { JobsConfig } from '../config.js';

// The id itself is the database's (core); what the jobs make of it is here.
export { loadInstallationId } from '../core/installation.js';

/**
 * QUEUE_PREFIX when the operator set one; otherwise `keycord:<first 8 of the installation id>`,
 * so two installations left on the default never share queues.
 */
export function queuePrefixFor(config: Pick<JobsConfig, 'queuePrefix' | 'queuePrefixIsDefault'>, installationId: string): string {
  return config.queuePrefixIsDefault ? `${config.queuePrefix}:${installationId.slice(0, 8)}` : config.queuePrefix;
}
