import { eq } from 'drizzle-orm';
import { applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { requireApplication } from './access.js';
import { toApplicationView } from './application-view.js';
import { newApplicationSecret } from './create-application.js';

export async function rotateApplicationSecret(deps: Deps, actor: SellerActor, applicationId: number) {
  const secret = newApplicationSecret();
  const view = await deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: a delete committing meanwhile is seen here (a 404, as for
    // any change racing a delete), not met by the audit entry's foreign key.
    const { role } = await requireApplication(tx, actor, applicationId, 'admin', 'no key update');
    const [updated] = await tx
      .update(applications)
      .set({ secretEnc: deps.box.seal(secret), updatedAt: deps.clock.now() })
      .where(eq(applications.id, applicationId))
      .returning();
    if (!updated) throw notFound('Application');
    await writeAudit(tx, actor, { applicationId, action: 'application.secret_rotated', target: `application:${applicationId}` });
    return toApplicationView(updated, { secret, role });
  });
  deps.apps.invalidate(view.app_id);
  return view;
}
