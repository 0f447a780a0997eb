import { and, asc, count, desc, eq, getTableColumns, inArray, lte, ne, sql } from 'drizzle-orm';
import { webhookAttempts, webhookDeliveries, webhooks } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, requireOwnedBy, type Need } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import { randomToken } from '../crypto.js';
import type { Deps } from '../deps.js';
import { conflict, notFound } from '../errors.js';
import { emitEvent, enqueueCommand, type EventType } from '../events/emit-event.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { MAX_ATTEMPTS_KEPT } from './delivery-statements.js';
import { assertPublicWebhookUrl } from './webhook-url.js';
import { toDeliveryView, toWebhookView } from './webhook-view.js';

export interface WebhookInput {
  url: string;
  events: EventType[];
  active?: boolean | undefined;
}

const MAX_WEBHOOKS_PER_APP = 20;

/** A webhook, reachable only through an application the seller is part of (else 404). */
async function requireWebhook(db: Executor, actor: SellerActor, webhookId: number, need: Need) {
  const [hook] = await db.select().from(webhooks).where(eq(webhooks.id, webhookId)).limit(1);
  await requireOwnedBy(db, actor, hook?.applicationId, need, 'Webhook');
  return hook!;
}

/**
 * The URL is looked at (a DNS lookup) only once the caller is known to be allowed to act here: a
 * stranger gets the 404 of hidden existence and a viewer the 403, never an answer about the URL,
 * and nobody without the role can make the server resolve names. The lookup runs outside the
 * transaction (it may take seconds); the transaction then checks access again. So does an update.
 */
export async function createWebhook(deps: Deps, actor: SellerActor, applicationId: number, input: WebhookInput) {
  await requireApplication(deps.db.orm, actor, applicationId, 'admin');
  await assertPublicWebhookUrl(input.url, deps.webhooks.allowPrivateUrls);
  const secret = randomToken('whsec_', 32);
  return deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: creates count one after another.
    await requireApplication(tx, actor, applicationId, 'admin', 'no key update');
    const [existing] = await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.applicationId, applicationId));
    if ((existing?.n ?? 0) >= MAX_WEBHOOKS_PER_APP) throw conflict(`An application may have at most ${MAX_WEBHOOKS_PER_APP} webhooks`, 'LIMIT_REACHED');
    const [hook] = await tx
      .insert(webhooks)
      .values({ applicationId, url: input.url, events: [...new Set(input.events)], active: input.active ?? true, secretEnc: deps.box.seal(secret) })
      .returning();
    await writeAudit(tx, actor, { applicationId, action: 'webhook.created', target: `webhook:${hook!.id}`, details: { url: input.url, events: input.events } });
    return toWebhookView(hook!, { secret });
  });
}

export async function listWebhooks(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const hooks = eq(webhooks.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(deps.db.orm.select({ n: count() }).from(webhooks).where(hooks), deps.db.orm.select().from(webhooks).where(hooks).orderBy(asc(webhooks.id)).limit(limit).offset(offset), (w) =>
    toWebhookView(w),
  );
}

export async function updateWebhook(deps: Deps, actor: SellerActor, webhookId: number, input: Partial<WebhookInput>) {
  if (input.url !== undefined) {
    await requireWebhook(deps.db.orm, actor, webhookId, 'admin');
    await assertPublicWebhookUrl(input.url, deps.webhooks.allowPrivateUrls);
  }
  return deps.db.orm.transaction(async (tx) => {
    const hook = await requireWebhook(tx, actor, webhookId, 'admin');
    const [updated] = await tx
      .update(webhooks)
      .set({
        ...(input.url !== undefined ? { url: input.url } : {}),
        ...(input.events !== undefined ? { events: [...new Set(input.events)] } : {}),
        ...(input.active !== undefined ? { active: input.active } : {}),
        updatedAt: deps.clock.now(),
      })
      .where(eq(webhooks.id, webhookId))
      .returning();
    if (!updated) throw notFound('Webhook'); // deleted meanwhile
    await writeAudit(tx, actor, { applicationId: hook.applicationId, action: 'webhook.updated', target: `webhook:${webhookId}`, details: { ...input } });
    return toWebhookView(updated);
  });
}

export async function deleteWebhook(deps: Deps, actor: SellerActor, webhookId: number) {
  await deps.db.orm.transaction(async (tx) => {
    const hook = await requireWebhook(tx, actor, webhookId, 'admin');
    await tx.delete(webhooks).where(eq(webhooks.id, webhookId));
    await writeAudit(tx, actor, { applicationId: hook.applicationId, action: 'webhook.deleted', target: `webhook:${webhookId}`, details: { url: hook.url } });
  });
  return { message: 'Webhook deleted' };
}

/** A `webhook.test` event addressed to this webhook alone. */
export async function sendTestEvent(deps: Deps, actor: SellerActor, webhookId: number) {
  return deps.db.orm.transaction(async (tx) => {
    const hook = await requireWebhook(tx, actor, webhookId, 'admin');
    const eventId = await emitEvent(tx, hook.applicationId, 'webhook.test', { webhook_id: hook.id, message: 'This is a test event from Keycord' });
    await writeAudit(tx, actor, { applicationId: hook.applicationId, action: 'webhook.tested', target: `webhook:${webhookId}` });
    return { message: 'Test event queued', event_id: eventId };
  });
}

/** The attempts each delivery of the list carries: enough to see how its latest tries went. */
export const LISTED_ATTEMPTS = 5;
/**
 * The attempts one page of deliveries may carry, each with up to 2 KB of the receiver's answer:
 * about 2 MB. With every kept attempt (MAX_ATTEMPTS_KEPT) of 500 deliveries a page could reach
 * some 50 MB, far more than anyone fetches to look at a table of deliveries.
 */
const MAX_LISTED_ATTEMPTS_PER_PAGE = 1_000;
export const MAX_DELIVERIES_PER_PAGE = MAX_LISTED_ATTEMPTS_PER_PAGE / LISTED_ATTEMPTS;

/**
 * A webhook's deliveries, newest first (their total counted by the database, not by reading every
 * id), each with its latest LISTED_ATTEMPTS attempts (`attempts` counts them all); a page holds at most
 * MAX_DELIVERIES_PER_PAGE, for every page alike (`perPage`, which the route puts in the Link
 * header), so page numbers still walk every delivery once. `deliveryId` narrows the list to that
 * one delivery, with every attempt its log keeps: the way to read a whole log, by the id its
 * receiver got as X-Keycord-Delivery.
 */
export async function listDeliveries(deps: Deps, actor: SellerActor, webhookId: number, page: PageRequest, opts: { deliveryId?: number | undefined } = {}) {
  await requireWebhook(deps.db.orm, actor, webhookId, 'read');
  const wholeLog = opts.deliveryId !== undefined;
  const listed = and(eq(webhookDeliveries.webhookId, webhookId), wholeLog ? eq(webhookDeliveries.id, opts.deliveryId!) : undefined);
  const perPage = Math.min(page.perPage, MAX_DELIVERIES_PER_PAGE);
  const { limit, offset } = pageWindow({ page: page.page, perPage });
  const { total, items: rows } = await readPage(
    deps.db.orm.select({ n: count() }).from(webhookDeliveries).where(listed),
    deps.db.orm.select().from(webhookDeliveries).where(listed).orderBy(desc(webhookDeliveries.id)).limit(limit).offset(offset),
    (d) => d,
  );
  const ids = rows.map((r) => r.id);
  const attempts = await latestAttempts(deps, ids, wholeLog ? MAX_ATTEMPTS_KEPT : LISTED_ATTEMPTS);
  const byDelivery = new Map<number, (typeof attempts)[number][]>();
  for (const a of attempts) byDelivery.set(a.deliveryId, [...(byDelivery.get(a.deliveryId) ?? []), a]);
  return { total, perPage, items: rows.map((d) => toDeliveryView(d, byDelivery.get(d.id) ?? [])) };
}

/** The latest `each` attempts of each delivery, oldest first. */
async function latestAttempts(deps: Deps, deliveryIds: number[], each: number) {
  if (deliveryIds.length === 0) return [];
  const ranked = deps.db.orm
    .select({
      ...getTableColumns(webhookAttempts),
      newness: sql<number>`row_number() over (partition by ${webhookAttempts.deliveryId} order by ${webhookAttempts.id} desc)`.as('newness'),
    })
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, deliveryIds))
    .as('ranked');
  return deps.db.orm.select().from(ranked).where(lte(ranked.newness, each)).orderBy(asc(ranked.id));
}

/**
 * Sends a delivery again: the same event body and the same delivery id, so the receiver can tell it
 * is a repeat. Only a delivery that is over (delivered, or failed after its retries) is sent again:
 * one still pending is being retried on its schedule, or has a redelivery not yet made, and a
 * second schedule beside it would only multiply its POSTs and attempts — 409. So a delivery has one
 * schedule at a time, and what a seller asking again and again adds is bounded (an attempt log
 * keeps the latest MAX_ATTEMPTS_KEPT, delivery-statements.ts). Pending again, it is not delivered:
 * `delivered_at` is cleared with the status (and set anew when the redelivery succeeds), so the two
 * never disagree; the earlier success stays visible in the attempt log. The returned id is what the
 * worker queue is told.
 */
export async function redeliver(deps: Deps, actor: SellerActor, webhookId: number, deliveryId: number) {
  return deps.db.orm.transaction(async (tx) => {
    const hook = await requireWebhook(tx, actor, webhookId, 'admin');
    const ofHook = and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId));
    // Two redeliveries at once: the second waits on the row, then finds it pending.
    const [delivery] = await tx
      .update(webhookDeliveries)
      .set({ status: 'pending', deliveredAt: null })
      .where(and(ofHook, ne(webhookDeliveries.status, 'pending')))
      .returning();
    if (!delivery) {
      const [exists] = await tx.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(ofHook).limit(1);
      if (!exists) throw notFound('Delivery');
      throw conflict('The delivery is still pending (being retried, or a redelivery not made yet); it can be sent again once it is delivered or has failed');
    }
    await enqueueCommand(tx, hook.applicationId, 'redeliver_webhook', { delivery_id: delivery.id });
    await writeAudit(tx, actor, { applicationId: hook.applicationId, action: 'webhook.redelivered', target: `delivery:${delivery.id}` });
    return { message: 'Delivery queued', delivery: toDeliveryView(delivery) };
  });
}
