import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import { asRecord, discordFromFields, discordIdOf, header, idText, parseJson, quantityOf, RECEIVED, type StoreProvider } from './store-provider.js';

/**
 * Stripe (docs.stripe.com, "Webhooks" / "Fulfill orders"):
 * - verified with the official package: `Stripe.webhooks.constructEvent(rawBody, Stripe-Signature,
 *   endpoint secret whsec_…)` (HMAC-SHA256 over `t.body`, 5-minute tolerance).
 * - `checkout.session.completed` with `payment_status` `paid` (or `no_payment_required`), and
 *   `checkout.session.async_payment_succeeded` for delayed methods, fulfil the order. Line items
 *   are not in the event (they need an API call with a secret key Keycord does not hold), so the
 *   product is the session's `metadata.product_id`, else its Payment Link (`plink_…`); the
 *   quantity is `metadata.quantity` (default 1).
 * - the order id is the PaymentIntent (`pi_…`), which refunds and disputes name too; the session id
 *   when there is none.
 * - `charge.refunded` bans the keys when the charge is fully refunded (`refunded: true`; a partial
 *   refund is ignored); `charge.dispute.created` bans them at once.
 * - Stripe shows the buyer nothing of the answer (`{received: true}`): the keys reach them by
 *   Discord DM when `metadata.discord_id` (or a Checkout custom field `discord_id`) is set, and the
 *   seller reads them in the integration's orders.
 */
/**
 * The Stripe SDK (4 MB of heap; ~20 MB resident when loaded alone) is loaded at the first Stripe call, not by every
 * Keycord that starts: most never sell through Stripe, and idle memory is a goal (bench:memory).
 * Node caches the module after that first call.
 */
const stripeSdk = () => createRequire(import.meta.url)('stripe') as typeof Stripe;

const PAID_EVENTS = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);

export const stripe: StoreProvider = {
  name: 'stripe',
  verify(request, secret) {
    const signature = header(request, 'stripe-signature');
    if (!signature || signature.length > 1000) return false;
    try {
      stripeSdk().webhooks.constructEvent(request.rawBody, signature, secret);
      return true;
    } catch {
      return false;
    }
  },
  read(request) {
    const event = parseJson(request.rawBody);
    const type = typeof event.type === 'string' ? event.type.slice(0, 100) : '';
    const object = asRecord(asRecord(event.data).object);
    if (PAID_EVENTS.has(type)) {
      if (object.payment_status !== 'paid' && object.payment_status !== 'no_payment_required') return { kind: 'ignored', event: `${type} (${String(object.payment_status).slice(0, 32)})` };
      const metadata = asRecord(object.metadata);
      const orderId = idText(object.payment_intent ?? object.id, 'data.object.payment_intent');
      const productId = idText(metadata.product_id ?? object.payment_link, 'data.object.metadata.product_id');
      const fields = Array.isArray(object.custom_fields) ? object.custom_fields.map(asRecord) : [];
      const field = fields.find((f) => f.key === 'discord_id' || f.key === 'discord');
      return {
        kind: 'paid',
        orderId,
        lineId: '',
        productId,
        quantity: quantityOf(metadata.quantity ?? 1),
        discordUserId: discordIdOf(metadata.discord_id) ?? discordFromFields(metadata) ?? discordIdOf(asRecord(field?.text).value),
      };
    }
    if (type === 'charge.refunded') {
      if (object.refunded !== true) return { kind: 'ignored', event: `${type} (partial)` };
      return { kind: 'refunded', orderId: idText(object.payment_intent ?? object.id, 'data.object.payment_intent'), reason: 'refund' };
    }
    if (type === 'charge.dispute.created') return { kind: 'refunded', orderId: idText(object.payment_intent ?? object.charge, 'data.object.payment_intent'), reason: 'chargeback' };
    return { kind: 'ignored', event: type };
  },
  answerPaid: () => RECEIVED,
};
