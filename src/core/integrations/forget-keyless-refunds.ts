import type { Deps } from '../deps.js';

/**
 * How long a Stripe refund of an order Keycord never fulfilled is remembered. Stripe retries an
 * undelivered event for up to 3 days, each retry signed anew, so a paid call that comes after its
 * refund comes within that; past it, no paid call for the order can still arrive signed within the
 * 5-minute tolerance (stripe.ts), and the row only holds space.
 */
export const KEYLESS_REFUNDS_KEPT_MS = 30 * 86_400_000;

// Only Stripe's: Sellix and SellAuth sign no timestamp, so a paid call captured once can be sent
// again at any time, and its order's refunded row is what keeps it from issuing keys.
const FORGET = `delete from store_orders o
using store_integrations i
where i.id = o.integration_id and i.provider = 'stripe'
  and o.status = 'refunded' and o.license_ids = '{}' and o.refunded_at < $1::timestamptz`;

/**
 * Drops the keyless "refunded" rows of Stripe integrations older than KEYLESS_REFUNDS_KEPT_MS (the
 * maintenance pass). Every full refund or dispute of a charge on the seller's Stripe account
 * reaches Keycord, most of them for things Keycord never sold, and each left such a row for good.
 */
export async function forgetKeylessStripeRefunds(deps: Deps): Promise<void> {
  const before = new Date(deps.clock.now().getTime() - KEYLESS_REFUNDS_KEPT_MS);
  await deps.db.query(FORGET, [before.toISOString()]);
}
