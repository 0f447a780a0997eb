import type { outbox } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { expiryNoticeTargets } from '../core/discord/expiry-notice-targets.js';
import type { DiscordApi } from './discord-api.js';
import { expiryNoticeText } from './render.js';

type OutboxRow = typeof outbox.$inferSelect;
type LicensePayload = { license?: { id: number; license_key: string; expires_at: string | null; discord_user_id: string | null } };

/**
 * Expiry notices from the sweep reach the license's Discord owner by DM and each linked server's
 * log channel. Discord refusing a DM (closed DMs) is logged and dropped, never retried; other
 * failures are logged too, so one unreachable user cannot hold up the event's webhooks.
 */
export function expiryNotifier(deps: Deps, api: DiscordApi) {
  return async (event: OutboxRow): Promise<void> => {
    if (event.type !== 'license.expiring_soon' && event.type !== 'license.expired') return;
    const license = (event.payload as LicensePayload).license;
    if (!license || event.applicationId === null) return;
    const targets = await expiryNoticeTargets(deps.db, event.applicationId);
    if (!targets) return;
    const text = expiryNoticeText(event.type, targets.applicationName, license);
    if (license.discord_user_id) {
      try {
        const delivered = await api.sendDm(license.discord_user_id, { content: text });
        if (!delivered) deps.log.info({ user: license.discord_user_id, license: license.id }, 'expiry notice not delivered: the user does not accept DMs');
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, license: license.id }, 'expiry notice DM failed');
      }
    }
    for (const channel of targets.logChannelIds) {
      const owner = license.discord_user_id ? ` (owner <@${license.discord_user_id}>)` : '';
      await api
        .postMessage(channel, { content: `${event.type === 'license.expired' ? '⌛' : '⏰'} ${text.replace('Your', 'A')}${owner}`, allowed_mentions: { parse: [] } })
        .catch((err: Error) => deps.log.warn({ err: err.message, channel }, 'could not post to the log channel'));
    }
  };
}
