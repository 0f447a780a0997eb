import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS_KEPT } from '../src/core/webhooks/delivery-statements.js';
import { LISTED_ATTEMPTS, MAX_DELIVERIES_PER_PAGE } from '../src/core/webhooks/manage-webhooks.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * How much one page of a webhook's deliveries can weigh. Each attempt keeps up to 2 KB of what the
 * receiver answered, and a delivery up to MAX_ATTEMPTS_KEPT attempts: a page of 500 deliveries with
 * all of them would be some 50 MB. The list carries each delivery's latest LISTED_ATTEMPTS attempts
 * and at most MAX_DELIVERIES_PER_PAGE deliveries; `?delivery_id=` reads one delivery's whole log.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** At most 1,000 attempts of a 2 KB answer each, with room for their fields and the deliveries'. */
const PAGE_BYTES_BOUND = 2.5 * 1024 * 1024;
const BODY_BYTES = 2048;

type DeliveryView = { id: number; attempts: number; attempt_log: { response_body: string }[] };

async function hookOf(s: Seller) {
  const { app } = await s.setup();
  return (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] })).json() as { id: number };
}

/** Event ids of the deliveries made up below: a webhook has one delivery per event. */
let eventIds = 1_000_000;

/** `count` failed deliveries of the webhook with `attempts` attempts each, every one answered with 2 KB naming it ("<delivery>#<n> …"). */
async function deliveriesWithAttempts(webhookId: number, count: number, attempts: number): Promise<number[]> {
  const rows = await h.deps.db.query<{ id: string }>(
    `insert into webhook_deliveries (webhook_id, event_id, event_type, body, status, attempts, last_status_code)
     select $1::int, $4::bigint + g, 'license.banned', '{}', 'failed', $3::int, 500 from generate_series(1, $2::int) g
     returning id`,
    [webhookId, count, attempts, (eventIds += count)],
  );
  const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  await h.deps.db.query(
    `insert into webhook_attempts (delivery_id, status_code, duration_ms, response_body)
     select e.d::bigint, 500, 10, rpad(e.d || '#' || n || ' ', ${BODY_BYTES}, 'x')
     from jsonb_array_elements_text($1::jsonb) as e(d), generate_series(1, $2::int) n
     order by e.d::bigint, n`,
    [JSON.stringify(ids), attempts],
  );
  return ids;
}

describe("a webhook's deliveries, each with a long log of 2 KB answers", () => {
  it('come a bounded page at a time, each with its latest attempts, and one delivery can be read with its whole log', async () => {
    const s = await h.seller();
    const hook = await hookOf(s);
    // The oldest delivery has a whole log; the newer ones, more attempts than the list shows.
    const [oldest] = await deliveriesWithAttempts(hook.id, 1, MAX_ATTEMPTS_KEPT);
    const newer = await deliveriesWithAttempts(hook.id, MAX_DELIVERIES_PER_PAGE + 9, 2 * LISTED_ATTEMPTS);
    expect(newer.length).toBe(MAX_DELIVERIES_PER_PAGE + 9);

    const first = await s.call('GET', `/api/webhooks/${hook.id}/deliveries?per_page=500`);
    expect(first.statusCode).toBe(200);
    expect(Buffer.byteLength(first.body)).toBeLessThan(PAGE_BYTES_BOUND);
    const page1 = first.json() as DeliveryView[];
    expect(page1).toHaveLength(MAX_DELIVERIES_PER_PAGE);
    expect(first.headers['x-total-count']).toBe(String(MAX_DELIVERIES_PER_PAGE + 10));
    // The Link header says how the pages are cut, so walking it reaches every delivery once.
    expect(first.headers.link).toContain(`per_page=${MAX_DELIVERIES_PER_PAGE}&page=2>; rel="next"`);
    for (const d of page1) {
      expect(d.attempts).toBe(2 * LISTED_ATTEMPTS);
      // Its latest attempts, oldest first.
      expect(d.attempt_log.map((a) => a.response_body.split(' ')[0])).toEqual([6, 7, 8, 9, 10].map((n) => `${d.id}#${n}`));
      expect(d.attempt_log[0]!.response_body).toHaveLength(BODY_BYTES);
    }

    const second = await s.call('GET', `/api/webhooks/${hook.id}/deliveries?page=2&per_page=500`);
    const page2 = second.json() as DeliveryView[];
    expect([...page1, ...page2].map((d) => d.id)).toEqual([...newer, oldest!].sort((a, b) => b - a));
    expect(page2.at(-1)).toMatchObject({ id: oldest, attempts: MAX_ATTEMPTS_KEPT });
    expect(page2.at(-1)!.attempt_log).toHaveLength(LISTED_ATTEMPTS);

    // Its whole log, by its id.
    const one = await s.call('GET', `/api/webhooks/${hook.id}/deliveries?delivery_id=${oldest}`);
    expect(one.statusCode).toBe(200);
    expect(one.headers['x-total-count']).toBe('1');
    expect(Buffer.byteLength(one.body)).toBeLessThan(PAGE_BYTES_BOUND);
    const [whole] = one.json() as DeliveryView[];
    expect(whole!.id).toBe(oldest);
    expect(whole!.attempt_log.map((a) => a.response_body.split(' ')[0])).toEqual(Array.from({ length: MAX_ATTEMPTS_KEPT }, (_, i) => `${oldest}#${i + 1}`));
  });

  it("narrowed to a delivery of another webhook (the seller's own or someone else's), the list is empty", async () => {
    const s = await h.seller();
    const hook = await hookOf(s);
    const other = await hookOf(s);
    await deliveriesWithAttempts(hook.id, 1, 1);
    const [theirs] = await deliveriesWithAttempts(other.id, 1, 1);
    const mine = await s.call('GET', `/api/webhooks/${hook.id}/deliveries?delivery_id=${theirs}`);
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toEqual([]);
    expect(mine.headers['x-total-count']).toBe('0');
    const stranger = await h.seller('stranger');
    expect((await stranger.call('GET', `/api/webhooks/${other.id}/deliveries?delivery_id=${theirs}`)).statusCode).toBe(404);
  });
});
