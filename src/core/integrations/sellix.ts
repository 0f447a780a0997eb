import { badRequest } from '../errors.js';
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
 * - the signature covers the body only: `X-Sellix-Event` and `X-Sellix-Product-Id` are anyone's
 *   to set on a replayed or relayed body. So the body decides: its `event` when it has one (a
 *   header that says otherwise is refused), a plain order's `data.product_id` (a header naming
 *   another product is refused), and for a cart the header only picks one of the signed cart's
 *   products (one of one when it is absent); a product named by the header alone is refused.
 */
const PAID = new Set(['order:paid', 'product:dynamic']);

const disagrees = (what: string, header: string) => badRequest(`The ${header} header disagrees with the signed body`, 'VALIDATION_ERROR', [{ path: what, message: `differs from ${header}` }]);

/** The event: the signed body's when it names one; the header (where Sellix documents it) otherwise. */
function eventOf(body: Record<string, unknown>, given: string | undefined): string {
  if (typeof body.event !== 'string') return given ?? '';
  if (given !== undefined && given.trim() !== body.event) throw disagrees('event', 'X-Sellix-Event');
  return body.event;
}

/** The product this call is for and how many units of it, from the signed order. */
function lineOf(order: Record<string, unknown>, given: string | undefined): { productId: string; quantity: number } {
  // A cart lists its products; a plain order has one product and `quantity`.
  const cart = Array.isArray(order.cart) ? order.cart : Array.isArray(asRecord(order.cart).products) ? (asRecord(order.cart).products as unknown[]) : [];
  // A line names its product by `uniqid` or `product_id` (the stored docs show neither shape in full).
  const idsOf = (l: Record<string, unknown>) => [l.product_id, l.uniqid].filter((v): v is string => typeof v === 'string' && v !== '');
  const lines = cart.map(asRecord);
  if (lines.length > 0) {
    const wanted = given?.trim() ?? (lines.length === 1 ? idsOf(lines[0]!)[0] : undefined);
    const line = wanted === undefined ? undefined : lines.find((l) => idsOf(l).includes(wanted));
    if (!line || wanted === undefined) throw badRequest('The call names no product of the signed cart', 'VALIDATION_ERROR', [{ path: 'data.cart', message: 'product not in the cart' }]);
    return { productId: idText(wanted, 'data.cart.products.uniqid'), quantity: quantityOf(line.unit_quantity) };
  }
  const productId = idText(order.product_id, 'data.product_id');
  if (given !== undefined && given.trim() !== productId) throw disagrees('data.product_id', 'X-Sellix-Product-Id');
  return { productId, quantity: quantityOf(order.quantity) };
}

export const sellix: StoreProvider = {
  name: 'sellix',
  verify: (request, secret) => hmacHexMatches('sha512', secret, request.rawBody, header(request, 'x-sellix-signature')),
  read(request) {
    const body = parseJson(request.rawBody);
    const event = eventOf(body, header(request, 'x-sellix-event'));
    const order = asRecord(body.data);
    if (event === 'order:disputed') {
      // A dispute bans keys: only a signed body may say so. A body without `event` (a dynamic
      // product's call) replayed with the header set to order:disputed would otherwise ban them.
      if (body.event !== event)
        throw badRequest('A dispute must be named by the signed body, not by the X-Sellix-Event header alone', 'VALIDATION_ERROR', [{ path: 'event', message: 'missing from the signed body' }]);
      return { kind: 'refunded', orderId: idText(order.uniqid, 'data.uniqid'), reason: 'chargeback' };
    }
    if (!PAID.has(event)) return { kind: 'ignored', event: event.slice(0, 64) };
    const orderId = idText(order.uniqid, 'data.uniqid');
    const { productId, quantity } = lineOf(order, header(request, 'x-sellix-product-id'));
    return { kind: 'paid', orderId, lineId: productId, productId, quantity, discordUserId: discordFromFields(order.custom_fields) };
  },
  answerPaid: (keys) => ({ contentType: 'text/plain', body: keys.join('\n') }),
};
