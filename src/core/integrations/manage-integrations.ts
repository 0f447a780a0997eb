import { and, asc, count, desc, eq, inArray, sql } from 'drizzle-orm';
import { idIn } from '../../db/id-in.js';
import { licenses, plans, storeIntegrations, storeOrders } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, requireOwnedBy, type Need } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import type { StoreProviderName } from './store-provider.js';

export interface IntegrationProductInput {
  product_id: string;
  plan_id: number;
  quantity_per_unit?: number | undefined;
}

export interface IntegrationInput {
  provider: StoreProviderName;
  secret: string;
  products: IntegrationProductInput[];
}

type IntegrationRow = typeof storeIntegrations.$inferSelect;

const MAX_INTEGRATIONS_PER_APP = 20;

/** What the seller sees: never the secret; `path` is where the store calls (the route makes it a URL). */
export const toIntegrationView = (i: IntegrationRow) => ({
  id: i.id,
  application_id: i.applicationId,
  provider: i.provider,
  path: `/api/integrations/${i.id}/${i.provider}`,
  products: i.products,
  created_at: i.createdAt.toISOString(),
  updated_at: i.updatedAt.toISOString(),
});

async function requireIntegration(db: Executor, actor: SellerActor, integrationId: number, need: Need) {
  const [row] = await db.select().from(storeIntegrations).where(eq(storeIntegrations.id, integrationId)).limit(1);
  await requireOwnedBy(db, actor, row?.applicationId, need, 'Integration');
  return row!;
}

/** Every mapped plan must be one of the application's; a product appears once. */
async function checkedProducts(db: Executor, applicationId: number, products: IntegrationProductInput[]) {
  const ids = new Set(products.map((p) => p.product_id));
  if (ids.size !== products.length) throw badRequest('Each product_id may appear once', 'VALIDATION_ERROR', [{ path: 'products', message: 'duplicate product_id' }]);
  const planIds = [...new Set(products.map((p) => p.plan_id))];
  const found = planIds.length
    ? await db
        .select({ id: plans.id })
        .from(plans)
        .where(and(eq(plans.applicationId, applicationId), inArray(plans.id, planIds)))
    : [];
  const known = new Set(found.map((p) => p.id));
  const missing = products.findIndex((p) => !known.has(p.plan_id));
  if (missing >= 0) throw badRequest(`Plan ${products[missing]!.plan_id} is not a plan of this application`, 'VALIDATION_ERROR', [{ path: `products.${missing}.plan_id`, message: 'unknown plan' }]);
  return products.map((p) => ({ product_id: p.product_id, plan_id: p.plan_id, quantity_per_unit: p.quantity_per_unit ?? 1 }));
}

export async function createIntegration(deps: Deps, actor: SellerActor, applicationId: number, input: IntegrationInput) {
  return deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: creates count one after another.
    await requireApplication(tx, actor, applicationId, 'manage', 'no key update');
    const [{ n }] = (await tx.select({ n: count() }).from(storeIntegrations).where(eq(storeIntegrations.applicationId, applicationId))) as [{ n: number }];
    if (n >= MAX_INTEGRATIONS_PER_APP) throw conflict(`An application may have at most ${MAX_INTEGRATIONS_PER_APP} store integrations`, 'LIMIT_REACHED');
    const products = await checkedProducts(tx, applicationId, input.products);
    const [row] = await tx
      .insert(storeIntegrations)
      .values({ applicationId, provider: input.provider, secretEnc: deps.box.seal(input.secret), products })
      .returning();
    await writeAudit(tx, actor, { applicationId, action: 'integration.created', target: `integration:${row!.id}`, details: { provider: input.provider, products } });
    return toIntegrationView(row!);
  });
}

export async function listIntegrations(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const ofApp = eq(storeIntegrations.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(storeIntegrations).where(ofApp),
    deps.db.orm.select().from(storeIntegrations).where(ofApp).orderBy(asc(storeIntegrations.id)).limit(limit).offset(offset),
    toIntegrationView,
  );
}

export async function getIntegration(deps: Deps, actor: SellerActor, integrationId: number) {
  return toIntegrationView(await requireIntegration(deps.db.orm, actor, integrationId, 'read'));
}

export async function updateIntegration(deps: Deps, actor: SellerActor, integrationId: number, input: Partial<Omit<IntegrationInput, 'provider'>>) {
  return deps.db.orm.transaction(async (tx) => {
    const current = await requireIntegration(tx, actor, integrationId, 'manage');
    const products = input.products ? await checkedProducts(tx, current.applicationId, input.products) : undefined;
    const [row] = await tx
      .update(storeIntegrations)
      .set({ ...(products ? { products } : {}), ...(input.secret !== undefined ? { secretEnc: deps.box.seal(input.secret) } : {}), updatedAt: deps.clock.now() })
      .where(eq(storeIntegrations.id, integrationId))
      .returning();
    // Deleted after it was read, while this update waited on its row: as if it had come a moment later.
    if (!row) throw notFound('Integration');
    await writeAudit(tx, actor, {
      applicationId: current.applicationId,
      action: 'integration.updated',
      target: `integration:${integrationId}`,
      details: { ...(products ? { products } : {}), secret_changed: input.secret !== undefined },
    });
    return toIntegrationView(row);
  });
}

export async function deleteIntegration(deps: Deps, actor: SellerActor, integrationId: number) {
  await deps.db.orm.transaction(async (tx) => {
    const current = await requireIntegration(tx, actor, integrationId, 'manage');
    await tx.delete(storeIntegrations).where(eq(storeIntegrations.id, integrationId));
    await writeAudit(tx, actor, { applicationId: current.applicationId, action: 'integration.deleted', target: `integration:${integrationId}`, details: { provider: current.provider } });
  });
  return { message: 'Integration deleted' };
}

/** An integration by id for the store's call (no seller): 404 when it is gone or the provider differs. */
export async function integrationForStore(deps: Deps, integrationId: number, provider: string) {
  const [row] = await deps.db.orm.select().from(storeIntegrations).where(eq(storeIntegrations.id, integrationId)).limit(1);
  if (!row || row.provider !== provider) throw notFound('Integration');
  return row;
}

/**
 * What one page of orders may carry: an order holds up to `maxSyncGenerate` keys (1,000), so 500
 * of them would be half a million keys in one answer. A page holds at most this many keys.
 */
const MAX_KEYS_PER_ORDERS_PAGE = 10_000;

/**
 * The orders an integration fulfilled, newest first, with their keys (how a Stripe seller hands keys over).
 * The page is as long as asked unless the integration's largest order would take it past
 * MAX_KEYS_PER_ORDERS_PAGE keys: then every page of it is shorter alike (`perPage`, which the
 * route puts in the Link header), so page numbers still walk every order once.
 */
export async function listIntegrationOrders(deps: Deps, actor: SellerActor, integrationId: number, page: PageRequest) {
  await requireIntegration(deps.db.orm, actor, integrationId, 'read');
  // A refund that came before its order leaves a row with no keys (receive-store-call.ts): not an order.
  const ofIntegration = and(eq(storeOrders.integrationId, integrationId), sql`cardinality(${storeOrders.licenseIds}) > 0`);
  const [size] = await deps.db.orm
    .select({ total: count(), largest: sql<number>`coalesce(max(cardinality(${storeOrders.licenseIds})), 0)::int` })
    .from(storeOrders)
    .where(ofIntegration);
  const perPage = Math.max(1, Math.min(page.perPage, Math.floor(MAX_KEYS_PER_ORDERS_PAGE / Math.max(1, size?.largest ?? 0))));
  const { limit, offset } = pageWindow({ page: page.page, perPage });
  const items = await deps.db.orm.select().from(storeOrders).where(ofIntegration).orderBy(desc(storeOrders.id)).limit(limit).offset(offset);
  const ids = items.flatMap((o) => o.licenseIds);
  const keys = ids.length ? await deps.db.orm.select({ id: licenses.id, key: licenses.licenseKey }).from(licenses).where(idIn(licenses.id, ids)) : [];
  const keyOf = new Map(keys.map((k) => [k.id, k.key]));
  return {
    total: size?.total ?? 0,
    perPage,
    items: items.map((o) => ({
      order_id: o.orderId,
      line_id: o.lineId,
      status: o.status,
      plan_id: o.planId,
      discord_user_id: o.discordUserId,
      licenses: o.licenseIds.filter((id) => keyOf.has(id)).map((id) => ({ id, license_key: keyOf.get(id)! })),
      created_at: o.createdAt.toISOString(),
    })),
  };
}
