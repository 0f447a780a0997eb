import { asRecord, discordFromFields, discordIdOf, header, hmacHexMatches, idText, parseJson, quantityOf, type StoreProvider } from './store-provider.js';

/**
 * SellAuth (docs.sellauth.com, "Dynamic Delivery" and "HTTP Notifications"):
 * - a POST per invoice item (event `INVOICE.ITEM.DELIVER-DYNAMIC`, the invoice's fields at the top:
 *   `id`, `unique_id`, `email`, …), headers `X-Signature` (hex HMAC-SHA256 of the JSON body with
 *   the shop's webhook secret), `X-Timestamp`, `Idempotency-Key`. 3 attempts 5 s apart, a 10 s
 *   timeout, answers up to 1 MB; "your server … returns the deliverables", shown to the buyer.
 * - NOT in the stored copy of the docs (cut short after the invoice's `payments`): the item's own
 *   fields and the exact answer format. We read the item from `item` (`item.id`, `item.product_id`
 *   or `item.product.id`, `item.quantity`, `item.custom_fields` as { name: value }), falling back to
 *   the invoice's `product_id` / `amount`, and answer the keys as plain text, one per line (what the
 *   page calls "the deliverables"). A public integration built against the live store reads the same
 *   `item` fields and answers its key as plain text; it is not SellAuth's word, so the README still
 *   says to check with one test sale from the dashboard.
 * - NOT in the docs either: a refund event. HTTP notifications carry only ids
 *   (`{event: "NOTIFICATION.…", data: {invoice_id}}`); a notification whose event names a refund
 *   or dispute bans the keys of `data.invoice_id`.
 * - the buyer's Discord id: `discord_id` / `discord` in the item's or invoice's `custom_fields`.
 */
export const sellauth: StoreProvider = {
  name: 'sellauth',
  verify: (request, secret) => hmacHexMatches('sha256', secret, request.rawBody, header(request, 'x-signature')),
  read(request) {
    const body = parseJson(request.rawBody);
    const event = typeof body.event === 'string' ? body.event.slice(0, 100) : '';
    if (event.startsWith('NOTIFICATION.') && /REFUND|DISPUTE|CHARGEBACK/.test(event)) {
      return { kind: 'refunded', orderId: idText(asRecord(body.data).invoice_id, 'data.invoice_id'), reason: event.includes('REFUND') ? 'refund' : 'chargeback' };
    }
    if (event !== 'INVOICE.ITEM.DELIVER-DYNAMIC') return { kind: 'ignored', event };
    const item = asRecord(body.item);
    const orderId = idText(body.id, 'id');
    const productId = idText(item.product_id ?? asRecord(item.product).id ?? body.product_id, 'item.product_id');
    const lineId = item.id === undefined ? productId : idText(item.id, 'item.id');
    const quantity = quantityOf(item.quantity ?? body.amount ?? 1);
    return { kind: 'paid', orderId, lineId, productId, quantity, discordUserId: discordFromFields(item.custom_fields) ?? discordFromFields(body.custom_fields) ?? discordIdOf(body.discord_id) };
  },
  answerPaid: (keys) => ({ contentType: 'text/plain', body: keys.join('\n') }),
};
