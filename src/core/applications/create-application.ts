import { randomUUID } from 'node:crypto';
import { count, eq } from 'drizzle-orm';
import { applicationMembers, applications, developers } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import { generateSigningKeyPair, randomToken } from '../crypto.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { mergeSettings, type ApplicationSettingsPatch } from './application-settings.js';
import { toApplicationView } from './application-view.js';

export interface CreateApplicationInput {
  name: string;
  description?: string | null | undefined;
  settings?: ApplicationSettingsPatch | undefined;
}

export const newApplicationSecret = () => randomToken('kcs_', 32);

export async function createApplication(deps: Deps, actor: SellerActor, input: CreateApplicationInput) {
  const secret = newApplicationSecret();
  const keys = generateSigningKeyPair();
  return deps.db.orm.transaction(async (tx) => {
    // Serialises this developer's creations: concurrent requests would otherwise all count the
    // same total and pass the limit together.
    await tx.select({ id: developers.id }).from(developers).where(eq(developers.id, actor.developerId)).for('no key update');
    const [owned] = await tx.select({ n: count() }).from(applications).where(eq(applications.ownerId, actor.developerId));
    if ((owned?.n ?? 0) >= deps.limits.maxApplications) {
      throw conflict(`You may own at most ${deps.limits.maxApplications} applications`, 'LIMIT_REACHED');
    }
    const [app] = await tx
      .insert(applications)
      .values({
        appId: randomUUID(),
        ownerId: actor.developerId,
        name: input.name,
        description: input.description ?? null,
        secretEnc: deps.box.seal(secret),
        publicKey: keys.publicKeyHex,
        privateKeyEnc: deps.box.seal(keys.privateKeyDer),
        settings: mergeSettings({}, input.settings),
      })
      .returning();
    await tx.insert(applicationMembers).values({ applicationId: app!.id, developerId: actor.developerId, role: 'owner' });
    await writeAudit(tx, actor, { applicationId: app!.id, action: 'application.created', target: `application:${app!.id}`, details: { name: input.name } });
    return toApplicationView(app!, { secret, role: 'owner' });
  });
}
