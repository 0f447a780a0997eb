import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { idIn } from '../../db/id-in.js';
import { lockKeyInTransaction, LOCK_NAMESPACES } from '../../db/advisory-lock.js';
import { licenses, plans, storeOrders } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { system, type Actor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { badRequest, conflict, unauthorized } from '../errors.js';
import { emitEvent } from '../events/emit-event.js';
import { generatesNow, issueLicenses } from '../licenses/generate-licenses.js';
import { changeLicenses } from '../licenses/change-many.js';
import { banChange } from '../licenses/license-actions.js';
import { integrationForStore } from './manage-integrations.js';
import { PROVIDERS } from './providers.js';
import { RECEIVED, type StoreAnswer, type StoreNotice, type StoreProviderName, type StoreRequest } from './store-provider.js';

type Integration = Awaited<ReturnType<typeof integrationForStore>>;
type PaidNotice = Extract<StoreNotice, { kind: 'paid' }>;

const storeActor = (i: Integration): Actor => system(`${i.provider} integration #${i.id}`);

const lockOrder = (tx: Executor, integrationId: number, orderId: string) => lockKeyInTransaction(tx, LOCK_NAMESPACES.storeOrder, `${integrationId}:${orderId}`);

/**
 * A store's call to `/api/integrations/:id/:provider`: the signature first (401, nothing done), then
 * the order — paid: its keys, issued exactly once; refunded or disputed: its keys banned — and
 * the answer in the store's format. Never logs the secret or the body.
 */
export async function receiveStoreCall(deps: Deps, integrationId: number, providerName: StoreProviderName, request: StoreRequest): Promise<StoreAnswer> {
  const integration = await integrationForStore(deps, integrationId, providerName);
  const provider = PROVIDERS[providerName];
  const secret = deps.box.open(integration.secretEnc).toString('utf8');
  if (!provider.verify(request, secret)) {
    deps.log.warn({ integration: integration.id, provider: providerName }, 'store call refused: bad or missing signature');
    throw unauthorized('Invalid store signature');
  }
  const notice = provider.read(request);
  if (notice.kind === 'ignored') {
    deps.log.info({ integration: integration.id, event: notice.event }, 'store call ignored: not a paid order or a refund');
    return RECEIVED;
  }
  if (notice.kind === 'refunded') {
    await refundOrder(deps, integration, notice.orderId, notice.reason);
    return RECEIVED;
  }
  const keys = await fulfilOrder(deps, integration, notice);
  return provider.answerPaid(keys);
}

/**
 * The order row and its keys in one transaction, under the order's lock: a concurrent duplicate
 * waits until this commits, then finds the row and answers the same keys. A line the store calls
 * for the first time after the order was refunded (a refund that came first leaves a row with
 * no keys) issues nothing: 409 ORDER_REFUNDED, or for the refund's own line its empty answer.
 */
async function fulfilOrder(deps: Deps, integration: Integration, notice: PaidNotice): Promise<string[]> {
  const mapping = integration.products.find((p) => p.product_id === notice.productId);
  if (!mapping) throw badRequest(`Product ${notice.productId} is not mapped to a plan in this integration`, 'UNKNOWN_PRODUCT', [{ path: 'product_id', message: 'not mapped' }]);
  const count = notice.quantity * mapping.quantity_per_unit;
  if (!generatesNow(deps, count)) throw badRequest(`The order asks for ${count} keys; at most ${deps.limits.maxSyncGenerate} per order`, 'QUANTITY_TOO_LARGE');
  const actor = storeActor(integration);
  const where = and(eq(storeOrders.integrationId, integration.id), eq(storeOrders.orderId, notice.orderId), eq(storeOrders.lineId, notice.lineId));
  return deps.db.orm.transaction(async (tx) => {
    await lockOrder(tx, integration.id, notice.orderId);
    const [claimed] = await tx
      .insert(storeOrders)
      .values({ integrationId: integration.id, orderId: notice.orderId, lineId: notice.lineId, planId: mapping.plan_id, discordUserId: notice.discordUserId })
      .onConflictDoNothing()
      .returning({ id: storeOrders.id });
    if (!claimed) {
      const [existing] = await tx.select().from(storeOrders).where(where).limit(1);
      if (existing?.licenseIds.length === 0) deps.log.info({ integration: integration.id, order: notice.orderId }, 'store paid call for an order refunded before it was fulfilled: no key issued');
      return keysOf(tx, existing?.licenseIds ?? []);
    }
    const [refunded] = await tx
      .select({ id: storeOrders.id })
      .from(storeOrders)
      .where(and(eq(storeOrders.integrationId, integration.id), eq(storeOrders.orderId, notice.orderId), eq(storeOrders.status, 'refunded')))
      .limit(1);
    if (refunded) throw conflict(`Order ${notice.orderId} was refunded or disputed: it issues no more keys`, 'ORDER_REFUNDED');
    const [plan] = await tx
      .select()
      .from(plans)
      .where(and(eq(plans.id, mapping.plan_id), eq(plans.applicationId, integration.applicationId)))
      .limit(1);
    if (!plan) throw conflict(`The plan mapped to product ${notice.productId} no longer exists`, 'PLAN_GONE');
    const made = await issueLicenses(tx, deps, actor, plan, {
      count,
      format: 'random',
      notes: `${integration.provider} order ${notice.orderId}`.slice(0, 1000),
      discord_user_id: notice.discordUserId,
    });
    await tx
      .update(storeOrders)
      .set({ licenseIds: made.map((l) => l.id) })
      .where(eq(storeOrders.id, claimed.id));
    const licensesOut = made.map((l) => ({ id: l.id, license_key: l.license_key }));
    await emitEvent(tx, integration.applicationId, 'order.fulfilled', {
      order_id: notice.orderId,
      provider: integration.provider,
      integration_id: integration.id,
      plan_id: plan.id,
      discord_user_id: notice.discordUserId,
      licenses: licensesOut,
    });
    await writeAudit(tx, actor, {
      applicationId: integration.applicationId,
      action: 'order.fulfilled',
      target: `integration:${integration.id}`,
      details: { order_id: notice.orderId, line_id: notice.lineId, plan_id: plan.id, count: made.length, first_id: made[0]?.id, last_id: made.at(-1)?.id },
    });
    return made.map((l) => l.license_key);
  });
}

async function keysOf(tx: Executor, ids: number[]) {
  if (ids.length === 0) return [];
  const rows = await tx.select({ key: licenses.licenseKey }).from(licenses).where(idIn(licenses.id, ids)).orderBy(asc(licenses.id));
  return rows.map((r) => r.key);
}

/**
 * A refund or chargeback: every key of the order (all its lines) banned with reason `refunded` by
 * the same rule as a seller's ban (audit entry and license.banned event per key), then
 * order.refunded. An order Keycord has not fulfilled (yet) gets a refunded row with no keys, so
 * its paid call, if it comes after all, issues nothing (logged).
 */
async function refundOrder(deps: Deps, integration: Integration, orderId: string, reason: 'refund' | 'chargeback') {
  const actor = storeActor(integration);
  const now = deps.clock.now();
  const done = await deps.db.orm.transaction(async (tx) => {
    await lockOrder(tx, integration.id, orderId);
    const rows = await tx
      .select()
      .from(storeOrders)
      .where(and(eq(storeOrders.integrationId, integration.id), eq(storeOrders.orderId, orderId)))
      .for('update');
    if (rows.length === 0) {
      await tx
        .insert(storeOrders)
        .values({ integrationId: integration.id, orderId, lineId: '', status: 'refunded', refundedAt: sql`${now.toISOString()}::timestamptz` })
        .onConflictDoNothing();
      return null;
    }
    const orders = rows.filter((o) => o.status === 'fulfilled');
    if (orders.length === 0) return null;
    const ids = orders.flatMap((o) => o.licenseIds);
    const keys = ids.length ? await tx.select().from(licenses).where(idIn(licenses.id, ids)).orderBy(asc(licenses.id)).for('update') : [];
    await changeLicenses(tx, actor, integration.applicationId, keys, banChange('refunded'), now);
    await tx
      .update(storeOrders)
      .set({ status: 'refunded', refundedAt: sql`${now.toISOString()}::timestamptz` })
      .where(
        inArray(
          storeOrders.id,
          orders.map((o) => o.id),
        ),
      );
    const banned = keys.map((r) => ({ id: r.id, license_key: r.licenseKey }));
    await emitEvent(tx, integration.applicationId, 'order.refunded', { order_id: orderId, provider: integration.provider, integration_id: integration.id, reason, licenses: banned });
    await writeAudit(tx, actor, {
      applicationId: integration.applicationId,
      action: 'order.refunded',
      target: `integration:${integration.id}`,
      details: { order_id: orderId, reason, banned: banned.length },
    });
    return banned.length;
  });
  if (done === null) deps.log.info({ integration: integration.id, order: orderId }, 'store refund for an order Keycord has not fulfilled: no key banned; a paid call for it will issue none');
}
