import { and, eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import { forbidden, notFound } from '../errors.js';
import { proveClient, type ClientCredentials } from '../users/client-credentials.js';

/**
 * A variable as a customer app reads it. Public ones are open to anyone holding the `app_id`;
 * a private one is handed out only to a caller who proves a right to it: a license + HWID that
 * validate (exactly as /validate, so a first use activates the key) or a user token whose
 * license still stands (not deleted, banned or expired; the application not paused).
 *
 * An unknown name is answered like a private variable until the caller proves a right (then
 * 404): otherwise anyone holding the `app_id` could list the private names by probing.
 */
export async function getClientVariable(deps: Deps, app: ClientApplication, name: string, creds: ClientCredentials) {
  const [variable] = await deps.db.orm
    .select({ name: variables.name, value: variables.value, public: variables.public })
    .from(variables)
    .where(and(eq(variables.applicationId, app.id), eq(variables.name, name)))
    .limit(1);
  if (!variable?.public) {
    const proof = await proveClient(deps, app, creds);
    if (!proof.ok) throw forbidden(`${proof.message} (${proof.code})`);
  }
  if (!variable) throw notFound('Variable');
  return { name: variable.name, value: variable.value };
}
