import type { Deps } from '../deps.js';

/**
 * How long a Stripe refund of an order Keycord never fulfilled is remembered. Stripe retries an
 * undelivered event for up to 3 days, each retry signed anew, so a paid call that comes after its
 * refund comes within that; past it, no paid call for the order can still arrive signed within the
 * 5-minute tolerance (stripe.ts), and the row only holds space.
 */
export const KEYLESS_REFUNDS_KEPT_MS = 30 * 86_400_000;

/** At most this many rows a pass (every EXPIRY_SWEEP_EVERY): a backlog goes over several passes, never in one long statement. */
export const KEYLESS_REFUNDS_FORGOTTEN_PER_PASS = 5_000;

// Only Stripe's: Sellix and SellAuth sign no timestamp, so a paid call captured once can be sent
// again at any time, and its order's refunded row is what keeps it from issuing keys. The partial
// index leads with the integration, so the pass walks only old rows of Stripe integrations.
// The lateral look-up (a subquery with a limit is never flattened into a join) runs once per
// Stripe integration, on the index with that integration's id: the plan cannot walk the whole index.
export const FORGET_KEYLESS_STRIPE_REFUNDS = `delete from store_orders where id in (
  select old.id from store_integrations i
  cross join lateral (
    select o.id from store_orders o
    where o.integration_id = i.id and o.status = 'refunded' and o.license_ids = '{}' and o.refunded_at < $1::timestamptz
    limit $2
  ) old
  where i.provider = 'stripe'
  limit $2
)`;

/**
 * Drops the keyless "refunded" rows of Stripe integrations older than KEYLESS_REFUNDS_KEPT_MS (the
 * maintenance pass). Every full refund or dispute of a charge on the seller's Stripe account
 * reaches Keycord, most of them for things Keycord never sold, and each left such a row for good.
 */
export async function forgetKeylessStripeRefunds(deps: Deps): Promise<void> {
  const before = new Date(deps.clock.now().getTime() - KEYLESS_REFUNDS_KEPT_MS);
  await deps.db.query(FORGET_KEYLESS_STRIPE_REFUNDS, [before.toISOString(), KEYLESS_REFUNDS_FORGOTTEN_PER_PASS]);
}
