import { eq } from 'drizzle-orm';
import { applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { requireApplication } from './access.js';

/** Deletes the application with its plans and licenses (cascade); only its owner may. */
export async function deleteApplication(deps: Deps, actor: SellerActor, applicationId: number) {
  const appId = await deps.db.orm.transaction(async (tx) => {
    const { app } = await requireApplication(tx, actor, applicationId, 'owner');
    await writeAudit(tx, actor, { applicationId: null, action: 'application.deleted', target: `application:${applicationId}`, details: { name: app.name, app_id: app.appId } });
    await tx.delete(applications).where(eq(applications.id, applicationId));
    return app.appId;
  });
  deps.apps.invalidate(appId);
}
