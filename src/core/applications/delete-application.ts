import { eq } from 'drizzle-orm';
import { applications, files } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { removeUnreferencedContent } from '../files/remove-unreferenced-content.js';
import { requireApplication } from './access.js';

/** Deletes the application with its plans, licenses and files (cascade) and its validation log (a trigger, migration 0018); only its owner may. */
export async function deleteApplication(deps: Deps, actor: SellerActor, applicationId: number) {
  const { appId, contents } = await deps.db.orm.transaction(async (tx) => {
    // Locked first, as the DELETE below would: uploads still running commit before the files are
    // read here (so their bytes are removed too), and later ones find the application gone.
    const { app } = await requireApplication(tx, actor, applicationId, 'owner', 'update');
    const stored = await tx.selectDistinct({ sha256: files.sha256 }).from(files).where(eq(files.applicationId, applicationId));
    await writeAudit(tx, actor, { applicationId: null, action: 'application.deleted', target: `application:${applicationId}`, details: { name: app.name, app_id: app.appId } });
    await tx.delete(applications).where(eq(applications.id, applicationId));
    return { appId: app.appId, contents: stored.map((f) => f.sha256) };
  });
  deps.apps.invalidate(appId);
  // The file rows went with the cascade; their bytes go too unless another application has the same content.
  for (const sha256 of contents) {
    await removeUnreferencedContent(deps, sha256).catch((err) => deps.log.error({ err, sha256 }, 'could not remove the bytes of a deleted application’s file'));
  }
}
