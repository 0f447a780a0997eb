import { randomBytes } from 'node:crypto';
import { installation } from '../db/schema.js';
import type { Db } from '../db/client.js';

/**
 * This database's installation id, made by whichever process asks first (the one-row table's
 * primary key settles a race). A recreated database gets a new one.
 */
export async function loadInstallationId(db: Db): Promise<string> {
  await db.orm
    .insert(installation)
    .values({ id: randomBytes(8).toString('hex') })
    .onConflictDoNothing();
  const [row] = await db.orm.select({ id: installation.id }).from(installation);
  return row!.id;
}
