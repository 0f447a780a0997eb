import type { applications } from '../../db/schema.js';
import { mergeSettings } from './application-settings.js';

/** An application row; the view never shows the sealed secret or signing key, so they need not be read. */
type ApplicationRow = Omit<typeof applications.$inferSelect, 'secretEnc' | 'privateKeyEnc' | 'blacklistVersion'>;

/** The API shape of an application. `secret` appears only where the contract shows it once. */
export function toApplicationView(row: ApplicationRow, extra: { secret?: string; role?: string } = {}) {
  return {
    id: row.id,
    app_id: row.appId,
    name: row.name,
    description: row.description,
    ...(extra.secret !== undefined ? { secret: extra.secret } : {}),
    public_key: row.publicKey,
    settings: mergeSettings(row.settings, undefined),
    ...(extra.role !== undefined ? { role: extra.role } : {}),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
