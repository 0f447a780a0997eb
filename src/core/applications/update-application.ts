import { eq } from 'drizzle-orm';
import { applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { requireApplication } from './access.js';
import { mergeSettings, type ApplicationSettingsPatch } from './application-settings.js';
import { toApplicationView } from './application-view.js';

export interface UpdateApplicationInput {
  name?: string | undefined;
  description?: string | null | undefined;
  settings?: ApplicationSettingsPatch | undefined;
}

export async function updateApplication(deps: Deps, actor: SellerActor, applicationId: number, input: UpdateApplicationInput) {
  const view = await deps.db.orm.transaction(async (tx) => {
    // Read under the row lock: concurrent patches (HTTP, Discord /app pause|resume|settings) merge
    // one after another, each over the settings the previous one wrote, so none is lost.
    const { app, role } = await requireApplication(tx, actor, applicationId, 'admin', 'no key update');
    const [updated] = await tx
      .update(applications)
      .set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        settings: mergeSettings(app.settings, input.settings),
        updatedAt: deps.clock.now(),
      })
      .where(eq(applications.id, applicationId))
      .returning();
    await writeAudit(tx, actor, { applicationId, action: 'application.updated', target: `application:${applicationId}`, details: { ...input } });
    return toApplicationView(updated!, { role });
  });
  deps.apps.invalidate(view.app_id);
  return view;
}
