import { count, eq } from 'drizzle-orm';
import { applications, licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { conflict } from '../errors.js';

/**
 * Refuses keys beyond the per-application limit. The application row is locked first, so
 * concurrent generations for one application count one after another instead of all passing.
 */
export async function assertLicenseCapacity(tx: Executor, applicationId: number, adding: number, limit: number) {
  await tx.select({ id: applications.id }).from(applications).where(eq(applications.id, applicationId)).for('no key update');
  const [existing] = await tx.select({ n: count() }).from(licenses).where(eq(licenses.applicationId, applicationId));
  if ((existing?.n ?? 0) + adding > limit) {
    throw conflict(`An application may hold at most ${limit} licenses`, 'LIMIT_REACHED');
  }
}
