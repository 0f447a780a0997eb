import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { requireApplication } from './access.js';
import { toApplicationView } from './application-view.js';

export async function getApplication(deps: Deps, actor: SellerActor, applicationId: number) {
  const { app, role } = await requireApplication(deps.db.orm, actor, applicationId, 'read');
  return toApplicationView(app, { role });
}
