import { eq } from 'drizzle-orm';
import { developers } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { applicationLimits } from '../applications/application-limits.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { toDeveloperView } from './developer-view.js';

export async function getDeveloperProfile(deps: Deps, actor: SellerActor) {
  const [developer] = await deps.db.orm.select().from(developers).where(eq(developers.id, actor.developerId));
  if (!developer) throw notFound('Developer');
  return { developer: toDeveloperView(developer), limits: await applicationLimits(deps, actor) };
}
