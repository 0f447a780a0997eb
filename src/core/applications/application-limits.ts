import { count, eq } from 'drizzle-orm';
import { applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';

export async function applicationLimits(deps: Deps, actor: SellerActor) {
  const [owned] = await deps.db.orm.select({ n: count() }).from(applications).where(eq(applications.ownerId, actor.developerId));
  return {
    max_applications: deps.limits.maxApplications,
    applications_used: owned?.n ?? 0,
    max_licenses_per_application: deps.limits.maxLicensesPerApplication,
    max_count_per_generate: deps.limits.maxBulkGenerate,
    max_count_per_sync_generate: deps.limits.maxSyncGenerate,
  };
}
