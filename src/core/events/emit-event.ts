import { outbox, type licenses } from '../../db/schema.js';
import { insertRuns } from '../../db/insert-rows.js';
import type { Executor } from '../../db/client.js';

export const EVENT_TYPES = [
  'license.generated',
  'license.activated',
  'license.hwid_reset',
  'license.expiring_soon',
  'license.expired',
  'license.banned',
  'license.deleted',
  'license.sharing_suspected',
  'user.created',
  'webhook.test',
  'order.fulfilled',
  'order.refunded',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Events for Keycord's own listeners (the Discord log channels), never for a seller's webhooks: no
 * webhook can subscribe to them (webhooks take EVENT_TYPES) and the fan-out skips them.
 */
export const INTERNAL_EVENT_TYPES = ['job.finished', 'webhook.failing'] as const;
export type InternalEventType = (typeof INTERNAL_EVENT_TYPES)[number];
export const isInternalEvent = (type: string): type is InternalEventType => (INTERNAL_EVENT_TYPES as readonly string[]).includes(type);

/**
 * Records an event in the outbox, inside the caller's transaction: the event exists exactly when
 * the change that caused it committed. The relay hands it to the workers (webhooks, Discord).
 */
export async function emitEvent(tx: Executor, applicationId: number, type: EventType | InternalEventType, data: Record<string, unknown>) {
  const [row] = await tx.insert(outbox).values({ applicationId, kind: 'event', type, payload: data }).returning({ id: outbox.id });
  return row!.id;
}

/** Many events of one application in one statement (a bulk action's, one per license). */
export async function emitEvents(tx: Executor, applicationId: number, events: { type: EventType; data: Record<string, unknown> }[]) {
  for (const run of insertRuns(events)) await tx.insert(outbox).values(run.map((e) => ({ applicationId, kind: 'event' as const, type: e.type, payload: e.data })));
}

/** Starts background work the same way, so a job is never lost between commit and enqueue. */
export type CommandType = 'generate_licenses' | 'redeliver_webhook' | 'bulk_licenses';

export async function enqueueCommand(tx: Executor, applicationId: number, type: CommandType, data: Record<string, unknown>) {
  await tx.insert(outbox).values({ applicationId, kind: 'command', type, payload: data });
}

/** What events say about a license (never its HWIDs' history, never secrets). */
export function licenseEventData(l: typeof licenses.$inferSelect) {
  return {
    license: {
      id: l.id,
      license_key: l.licenseKey,
      status: l.status,
      plan_id: l.planId,
      activated_at: l.activatedAt?.toISOString() ?? null,
      expires_at: l.expiresAt?.toISOString() ?? null,
      discord_user_id: l.discordUserId,
    },
  };
}
