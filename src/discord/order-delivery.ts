import type { outbox } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { orderDeliveryTargets } from '../core/discord/order-delivery-targets.js';
import type { DiscordApi } from './discord-api.js';
import { keysMessage, type KeysMessage } from './keys-message.js';

type OutboxRow = typeof outbox.$inferSelect;
type OrderPayload = { order_id?: string; plan_id?: number; discord_user_id?: string | null; licenses?: { id: number; license_key: string }[] };

/**
 * A store order whose buyer gave a Discord id: the keys by DM and the plan's role in each server
 * linked to the application. Runs from the order.fulfilled event, after the order committed, so
 * a closed DM or a missing permission is logged and never holds up the order or its webhooks.
 */
export function orderDeliverer(deps: Deps, api: DiscordApi) {
  return async (event: OutboxRow): Promise<void> => {
    if (event.type !== 'order.fulfilled' || event.applicationId === null) return;
    const order = event.payload as OrderPayload;
    const user = order.discord_user_id;
    if (!user || !order.licenses?.length || typeof order.plan_id !== 'number') return;
    const targets = await orderDeliveryTargets(deps.db, event.applicationId, order.plan_id);
    if (!targets) return;
    const keys = order.licenses.map((l) => l.license_key);
    const dm = await keysMessage(keys, `Thank you for your purchase! Your **${targets.applicationName}** license key${keys.length === 1 ? '' : 's'}:`);
    if (dm.tooLarge) deps.log.warn({ user, order: order.order_id, keys: keys.length }, 'order keys not sent by DM: too many for one Discord upload');
    else await sendKeys(deps, api, user, order.order_id, dm);
    if (!targets.roleId) return;
    for (const guild of targets.guildIds) {
      await api
        .addRole(guild, user, targets.roleId, `Bought a ${targets.applicationName} license`)
        .catch((err: Error) => deps.log.warn({ err: err.message, guild, role: targets.roleId }, 'could not grant the plan role for a store order'));
    }
  };
}

/** The keys by DM; a closed DM or a failed call is logged, never thrown (the order has committed). */
async function sendKeys(deps: Deps, api: DiscordApi, user: string, orderId: string | undefined, dm: KeysMessage) {
  try {
    const delivered = await api.sendDm(user, { content: dm.content }, dm.files);
    if (!delivered) deps.log.info({ user, order: orderId }, 'order keys not sent by DM: the user does not accept DMs');
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, order: orderId }, 'order keys DM failed');
  }
}
