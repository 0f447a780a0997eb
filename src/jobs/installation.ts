import { randomBytes } from 'node:crypto';
import { installation } from '../db/schema.js';
import type { Db } from '../db/client.js';
import type { JobsConfig } from '../config.js';

/**
 * This database's installation id, made by whichever process asks first (the one-row table's
 * primary key settles a race). A recreated database gets a new one.
 */
export async function loadInstallationId(db: Db): Promise<string> {
  await db.orm.insert(installation).values({ id: randomBytes(8).toString('hex') }).onConflictDoNothing();
  const [row] = await db.orm.select({ id: installation.id }).from(installation);
  return row!.id;
}

/**
 * QUEUE_PREFIX when the operator set one; otherwise `keycord:<first 8 of the installation id>`,
 * so two installations left on the default never share queues.
 */
export function queuePrefixFor(config: Pick<JobsConfig, 'queuePrefix' | 'queuePrefixIsDefault'>, installationId: string): string {
  return config.queuePrefixIsDefault ? `${config.queuePrefix}:${installationId.slice(0, 8)}` : config.queuePrefix;
}
