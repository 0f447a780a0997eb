import { asRecord, discordFromFields, header, hmacHexMatches, idText, parseJson, quantityOf, type StoreProvider } from './store-provider.js';

/**
 * Sellix (docs.sellix.io, "Webhooks" and "Dynamic products"):
 * - every webhook carries `X-Sellix-Signature`, an HMAC of the JSON request body with the shop's
 *   webhook secret, and `X-Sellix-Event` with the event name. The page names the HMAC but its
 *   algorithm is only in its code samples, which the stored copy did not show: we use HMAC-SHA512
 *   hex, as the brief and other stores' docs contrasting themselves with Sellix ("SellApp uses
 *   sha256 instead of sha512") say.
 * - a "Dynamic" product calls its URL with the event `product:dynamic`, the order in `data`; the
 *   quantity is `data.quantity`, or for a cart (`data.type === 'SHOPPING_CART'`) the line's
 *   `unit_quantity`; the header `X-Sellix-Product-Id` names the product (one call per product).
 *   Sellix sends it once, no retries, and "the whole response body will be taken and used as the
 *   product … return raw text": the answer is the keys, one per line.
 * - `order:paid` is "the final state" of an order: a shop webhook pointed here issues too (the
 *   same order and product as a dynamic call: the same keys). `order:created` is not paid: ignored.
 * - `order:disputed` ("a Stripe/PayPal dispute has been opened") bans the order's keys. The event
 *   list has no refund event of its own.
 * - the buyer's Discord id is read from the order's `custom_fields` (`discord_id` or `discord`).
 */
const PAID = new Set(['order:paid', 'product:dynamic']);

export const sellix: StoreProvider = {
  name: 'sellix',
  verify: (request, secret) => hmacHexMatches('sha512', secret, request.rawBody, header(request, 'x-sellix-signature')),
  read(request) {
    const body = parseJson(request.rawBody);
    const event = header(request, 'x-sellix-event') ?? (typeof body.event === 'string' ? body.event : '');
    const order = asRecord(body.data);
    if (event === 'order:disputed') return { kind: 'refunded', orderId: idText(order.uniqid, 'data.uniqid'), reason: 'chargeback' };
    if (!PAID.has(event)) return { kind: 'ignored', event: event.slice(0, 64) };
    const orderId = idText(order.uniqid, 'data.uniqid');
    const productId = idText(header(request, 'x-sellix-product-id') ?? order.product_id, 'data.product_id');
    // A cart lists its products; a plain order has one product and `quantity`.
    const cart = Array.isArray(order.cart) ? order.cart : Array.isArray(asRecord(order.cart).products) ? (asRecord(order.cart).products as unknown[]) : [];
    const line = cart.map(asRecord).find((l) => String(l.uniqid ?? l.product_id ?? '') === productId);
    const quantity = quantityOf(line ? line.unit_quantity : order.quantity);
    return { kind: 'paid', orderId, lineId: productId, productId, quantity, discordUserId: discordFromFields(order.custom_fields) };
  },
  answerPaid: (keys) => ({ contentType: 'text/plain', body: keys.join('\n') }),
};
