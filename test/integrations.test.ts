import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/log.js';
import { GUILD, MANAGE_GUILD } from './support/discord-interactions.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const SECRET = 'store-webhook-secret-0123456789';
const STRIPE_SECRET = 'whsec_test_0123456789abcdefghijklmnop';
const DISCORD_ID = '123456789012345678';
let seq = 0;
const orderId = (prefix: string) => `${prefix}${Date.now().toString(36)}${++seq}`;

/** A fixture written from the store's docs, with this test's order, product and buyer filled in. */
const fixture = (name: string, vars: { order: string; product?: string; discord?: string }) =>
  readFileSync(new URL(`./fixtures/stores/${name}.json`, import.meta.url), 'utf8')
    .replaceAll('ORDER_ID', vars.order)
    .replaceAll('PRODUCT_ID', vars.product ?? 'none')
    .replaceAll('DISCORD_ID', vars.discord ?? DISCORD_ID)
    // SellAuth ids are numbers in its payloads.
    .replace('"id": 10042,', /^\d+$/.test(vars.order) ? `"id": ${vars.order},` : '"id": 10042,')
    .replace('"invoice_id": 10042', /^\d+$/.test(vars.order) ? `"invoice_id": ${vars.order}` : '"invoice_id": 10042');

const hmac = (alg: 'sha256' | 'sha512', secret: string, body: string) => createHmac(alg, secret).update(body).digest('hex');

const stripeSigner = new Stripe('sk_test_unused');
const stripeHeader = (body: string, secret = STRIPE_SECRET) => stripeSigner.webhooks.generateTestHeaderString({ payload: body, secret });

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local' });
});
afterAll(() => h?.close());

async function connect(s: Seller, provider: 'sellix' | 'sellauth' | 'stripe', product: string, opts: { quantityPerUnit?: number; secret?: string } = {}) {
  const { app, plan } = await s.setup();
  const res = await s.call('POST', `/api/applications/${app.id}/integrations`, {
    provider,
    secret: opts.secret ?? (provider === 'stripe' ? STRIPE_SECRET : SECRET),
    products: [{ product_id: product, plan_id: plan.id, ...(opts.quantityPerUnit ? { quantity_per_unit: opts.quantityPerUnit } : {}) }],
  });
  expect(res.statusCode, res.body).toBe(201);
  return { app, plan, integration: res.json() as { id: number; provider: string; url: string } };
}

const post = (path: string, body: string, headers: Record<string, string>) => h.app.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json', ...headers } });
const pathOf = (url: string) => new URL(url).pathname;

const sellixCall = (url: string, body: string, event: string, product?: string, secret = SECRET) =>
  post(pathOf(url), body, { 'x-sellix-event': event, 'x-sellix-signature': hmac('sha512', secret, body), ...(product ? { 'x-sellix-product-id': product } : {}) });
const sellauthCall = (url: string, body: string, secret = SECRET) =>
  post(pathOf(url), body, { 'x-signature': hmac('sha256', secret, body), 'x-timestamp': String(Math.floor(Date.now() / 1000)), 'idempotency-key': 'k' });
const stripeCall = (url: string, body: string, secret = STRIPE_SECRET) => post(pathOf(url), body, { 'stripe-signature': stripeHeader(body, secret) });

async function licensesOf(s: Seller, appId: number) {
  const res = await s.call('GET', `/api/applications/${appId}/licenses?per_page=100`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { id: number; license_key: string; status: string; ban_reason: string | null; discord_user_id: string | null }[];
}

describe('store integrations: the seller side', () => {
  it('connects a store: 201 with the url to paste; the secret is stored sealed and never shown', async () => {
    const s = await h.seller();
    const { app, plan, integration } = await connect(s, 'sellix', 'prod-a');
    expect(integration).toEqual({ id: expect.any(Number), provider: 'sellix', url: expect.stringMatching(new RegExp(`^https?://[^/]+/api/integrations/${integration.id}/sellix$`)) });
    const list = await s.call('GET', `/api/applications/${app.id}/integrations`);
    expect(list.statusCode).toBe(200);
    expect(list.json()[0]).toMatchObject({ id: integration.id, provider: 'sellix', url: integration.url, products: [{ product_id: 'prod-a', plan_id: plan.id, quantity_per_unit: 1 }] });
    expect(list.body).not.toContain(SECRET);
    const one = await s.call('GET', `/api/integrations/${integration.id}`);
    expect(one.body).not.toContain(SECRET);
    const [row] = await h.deps.db.query<{ secret_enc: string }>('select secret_enc from store_integrations where id = $1', [integration.id]);
    expect(row!.secret_enc).not.toContain(SECRET);
    const audit = await h.deps.db.query<{ action: string; details: unknown }>('select action, details from audit_logs where target = $1 order by id', [`integration:${integration.id}`]);
    expect(audit.map((a) => a.action)).toEqual(['integration.created']);
    expect(JSON.stringify(audit)).not.toContain(SECRET);
  });

  it('refuses a plan of another application and a duplicate product', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const other = await s.setup();
    const bad = await s.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'stripe', secret: STRIPE_SECRET, products: [{ product_id: 'p', plan_id: other.plan.id }] });
    expect(bad.statusCode).toBe(400);
    const dup = await s.call('POST', `/api/applications/${app.id}/integrations`, {
      provider: 'stripe',
      secret: STRIPE_SECRET,
      products: [
        { product_id: 'p', plan_id: plan.id },
        { product_id: 'p', plan_id: plan.id },
      ],
    });
    expect(dup.statusCode).toBe(400);
  });

  it('another tenant can neither read nor change nor delete an integration (404)', async () => {
    const owner = await h.seller();
    const { app, integration } = await connect(owner, 'stripe', 'prod-x');
    const stranger = await h.seller();
    expect((await stranger.call('GET', `/api/integrations/${integration.id}`)).statusCode).toBe(404);
    expect((await stranger.call('GET', `/api/applications/${app.id}/integrations`)).statusCode).toBe(404);
    expect((await stranger.call('PUT', `/api/integrations/${integration.id}`, { secret: 'attacker-secret-123' })).statusCode).toBe(404);
    expect((await stranger.call('DELETE', `/api/integrations/${integration.id}`)).statusCode).toBe(404);
    expect((await stranger.call('GET', `/api/integrations/${integration.id}/orders`)).statusCode).toBe(404);
    expect((await owner.call('GET', `/api/integrations/${integration.id}`)).statusCode).toBe(200);
  });

  it('changes the products and the secret, then disconnects', async () => {
    const s = await h.seller();
    const { plan, integration } = await connect(s, 'sellix', 'prod-b');
    const put = await s.call('PUT', `/api/integrations/${integration.id}`, { secret: 'rotated-secret-abcdef', products: [{ product_id: 'prod-c', plan_id: plan.id, quantity_per_unit: 3 }] });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().products).toEqual([{ product_id: 'prod-c', plan_id: plan.id, quantity_per_unit: 3 }]);
    expect(put.body).not.toContain('rotated-secret-abcdef');
    const order = orderId('sx');
    const body = fixture('sellix-product-dynamic', { order, product: 'prod-c' });
    expect((await sellixCall(integration.url, body, 'product:dynamic', 'prod-c')).statusCode).toBe(401);
    const ok = await sellixCall(integration.url, body, 'product:dynamic', 'prod-c', 'rotated-secret-abcdef');
    expect(ok.statusCode).toBe(200);
    expect(ok.body.split('\n')).toHaveLength(6);
    expect((await s.call('DELETE', `/api/integrations/${integration.id}`)).statusCode).toBe(200);
    expect((await sellixCall(integration.url, body, 'product:dynamic', 'prod-c', 'rotated-secret-abcdef')).statusCode).toBe(404);
  });
});

describe('store integrations: the url to paste, with PUBLIC_URL set', () => {
  let pub: Harness;
  beforeAll(async () => {
    pub = await startHarness({ jobs: 'local', env: { PUBLIC_URL: 'https://licenses.example.com' } });
  });
  afterAll(() => pub?.close());

  it('is built on PUBLIC_URL, whatever Host header the caller sent', async () => {
    const s = await pub.seller();
    const { app, plan } = await s.setup();
    const res = await s.call(
      'POST',
      `/api/applications/${app.id}/integrations`,
      { provider: 'sellix', secret: SECRET, products: [{ product_id: 'p', plan_id: plan.id }] },
      { host: 'attacker.example' },
    );
    expect(res.statusCode, res.body).toBe(201);
    const { id, url } = res.json() as { id: number; url: string };
    expect(url).toBe(`https://licenses.example.com/api/integrations/${id}/sellix`);
    const list = await s.call('GET', `/api/applications/${app.id}/integrations`, undefined, { host: 'attacker.example' });
    expect(list.json()[0].url).toBe(url);
    expect((await s.call('GET', `/api/integrations/${id}`)).json().url).toBe(url);
  });
});

describe('Sellix', () => {
  it('a dynamic product call answers the keys as plain text, bound to the buyer’s Discord id; a replay answers the same keys', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellix', 'sellix-prod', { quantityPerUnit: 2 });
    const order = orderId('sx');
    const body = fixture('sellix-product-dynamic', { order, product: 'sellix-prod' });
    const res = await sellixCall(integration.url, body, 'product:dynamic', 'sellix-prod');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const keys = res.body.split('\n');
    expect(keys).toHaveLength(4); // quantity 2 × 2 per unit
    const issued = await licensesOf(s, app.id);
    expect(issued.map((l) => l.license_key).sort()).toEqual([...keys].sort());
    expect(issued.every((l) => l.discord_user_id === DISCORD_ID)).toBe(true);

    const again = await sellixCall(integration.url, body, 'product:dynamic', 'sellix-prod');
    expect(again.body).toBe(res.body);
    // order:paid for the same order and product is the same sale.
    const paid = await sellixCall(integration.url, body.replace('product:dynamic', 'order:paid'), 'order:paid');
    expect(paid.body).toBe(res.body);
    expect(await licensesOf(s, app.id)).toHaveLength(4);

    const orders = await s.call('GET', `/api/integrations/${integration.id}/orders`);
    expect(orders.json()).toEqual([expect.objectContaining({ order_id: order, line_id: 'sellix-prod', status: 'fulfilled', discord_user_id: DISCORD_ID })]);
    const audit = await h.deps.db.query<{ action: string; actor_kind: string }>(
      "select action, actor_kind from audit_logs where application_id = $1 and action in ('license.generated', 'order.fulfilled')",
      [app.id],
    );
    expect(audit.map((a) => `${a.actor_kind}:${a.action}`).sort()).toEqual(['system:license.generated', 'system:order.fulfilled']);
  });

  it('a bad or missing signature is 401 and issues nothing', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellix', 'sellix-prod');
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'sellix-prod' });
    expect((await sellixCall(integration.url, body, 'product:dynamic', 'sellix-prod', 'not-the-secret')).statusCode).toBe(401);
    expect((await post(pathOf(integration.url), body, { 'x-sellix-event': 'product:dynamic' })).statusCode).toBe(401);
    const tampered = await post(pathOf(integration.url), body.replace('"quantity": 2', '"quantity": 200'), { 'x-sellix-event': 'product:dynamic', 'x-sellix-signature': hmac('sha512', SECRET, body) });
    expect(tampered.statusCode).toBe(401);
    // A Stripe-style sha256 signature is not Sellix's.
    expect((await post(pathOf(integration.url), body, { 'x-sellix-signature': hmac('sha256', SECRET, body) })).statusCode).toBe(401);
    expect(await licensesOf(s, app.id)).toHaveLength(0);
  });

  it('a call to an unknown integration, under another provider, or with a body that is not JSON is refused with the error shape, nothing issued', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellix', 'sellix-prod');
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'sellix-prod' });
    const url = integration.url;
    const unknown = await sellixCall(url.replace(`/integrations/${integration.id}/`, '/integrations/2147483000/'), body, 'product:dynamic', 'sellix-prod');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, code: expect.any(String), message: expect.any(String) });
    for (const other of ['stripe', 'sellauth', 'gumroad']) {
      const res = await sellixCall(url.replace(/\/sellix$/, `/${other}`), body, 'product:dynamic', 'sellix-prod');
      expect([400, 401, 404], `${other}: ${res.body}`).toContain(res.statusCode);
      expect(res.json()).toMatchObject({ success: false, code: expect.any(String) });
    }
    const garbage = await sellixCall(url, '{"not json', 'product:dynamic', 'sellix-prod');
    expect(garbage.statusCode, garbage.body).toBeGreaterThanOrEqual(400);
    expect(garbage.statusCode).toBeLessThan(500);
    expect(await licensesOf(s, app.id)).toHaveLength(0);
  });

  it('an unknown product is a clear 400 and issues nothing', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellix', 'sellix-prod');
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'another-product' });
    const res = await sellixCall(integration.url, body, 'product:dynamic', 'another-product');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'UNKNOWN_PRODUCT', message: expect.stringContaining('another-product') });
    expect(await licensesOf(s, app.id)).toHaveLength(0);
    expect((await h.deps.db.query('select 1 from store_orders where integration_id = $1', [integration.id])).length).toBe(0);
  });

  it('10 concurrent duplicate calls issue one set of keys', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellix', 'sellix-prod');
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'sellix-prod' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => sellixCall(integration.url, body, 'product:dynamic', 'sellix-prod')));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers[0]!.body.split('\n')).toHaveLength(2);
    expect(await licensesOf(s, app.id)).toHaveLength(2);
  });

  it('a dispute bans the order’s keys with reason refunded and sends order.refunded', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, integration } = await connect(s, 'sellix', 'sellix-prod');
      const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['order.fulfilled', 'order.refunded', 'license.banned'] });
      expect(hook.statusCode).toBe(201);
      const order = orderId('sx');
      const keys = (await sellixCall(integration.url, fixture('sellix-product-dynamic', { order, product: 'sellix-prod' }), 'product:dynamic', 'sellix-prod')).body.split('\n');
      const dispute = await sellixCall(integration.url, fixture('sellix-order-disputed', { order, product: 'sellix-prod' }), 'order:disputed');
      expect(dispute.statusCode).toBe(200);
      expect(dispute.json()).toEqual({ received: true });
      const after = await licensesOf(s, app.id);
      expect(after.map((l) => [l.status, l.ban_reason])).toEqual(keys.map(() => ['banned', 'refunded']));
      const refunded = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'order.refunded'), 15_000, 'order.refunded');
      expect(JSON.parse(refunded.body).data).toMatchObject({ order_id: order, provider: 'sellix', licenses: keys.map((k) => expect.objectContaining({ license_key: k })) });
      const fulfilled = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'order.fulfilled'), 15_000, 'order.fulfilled');
      expect(JSON.parse(fulfilled.body).data).toMatchObject({ order_id: order, provider: 'sellix', discord_user_id: DISCORD_ID });
      await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.banned'), 15_000, 'license.banned');
    } finally {
      await rx.close();
    }
  });
});

describe('SellAuth', () => {
  it('a dynamic delivery answers the keys as plain text; a retry answers the same keys; a bad signature is 401', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'sellauth', 'sa-prod');
    const invoice = String(100000 + (Date.now() % 100000));
    const body = fixture('sellauth-deliver-dynamic', { order: invoice, product: 'sa-prod' });
    expect((await sellauthCall(integration.url, body, 'wrong-secret-000')).statusCode).toBe(401);
    expect(await licensesOf(s, app.id)).toHaveLength(0);
    const res = await sellauthCall(integration.url, body);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.split('\n')).toHaveLength(3);
    expect((await sellauthCall(integration.url, body)).body).toBe(res.body);
    const issued = await licensesOf(s, app.id);
    expect(issued).toHaveLength(3);
    expect(issued.every((l) => l.discord_user_id === DISCORD_ID)).toBe(true);

    const refund = await sellauthCall(integration.url, fixture('sellauth-refund-notification', { order: invoice }));
    expect(refund.statusCode).toBe(200);
    expect((await licensesOf(s, app.id)).every((l) => l.status === 'banned' && l.ban_reason === 'refunded')).toBe(true);
  });
});

describe('Stripe', () => {
  it('checkout.session.completed issues the keys once and answers {received: true}; the seller reads them in the orders', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'stripe', 'stripe-prod');
    const pi = orderId('pi_');
    const body = fixture('stripe-checkout-session-completed', { order: pi, product: 'stripe-prod' });
    const res = await stripeCall(integration.url, body);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ received: true });
    expect((await stripeCall(integration.url, body)).json()).toEqual({ received: true });
    const issued = await licensesOf(s, app.id);
    expect(issued).toHaveLength(1);
    expect(issued[0]!.discord_user_id).toBe(DISCORD_ID);
    const orders = (await s.call('GET', `/api/integrations/${integration.id}/orders`)).json();
    expect(orders).toEqual([expect.objectContaining({ order_id: pi, status: 'fulfilled', licenses: [{ id: issued[0]!.id, license_key: issued[0]!.license_key }] })]);
  });

  it('a bad signature (wrong secret, tampered body, none) is 401 and issues nothing', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'stripe', 'stripe-prod');
    const body = fixture('stripe-checkout-session-completed', { order: orderId('pi_'), product: 'stripe-prod' });
    expect((await stripeCall(integration.url, body, 'whsec_someone_else_000000')).statusCode).toBe(401);
    expect((await post(pathOf(integration.url), body.replace('"quantity": "1"', '"quantity": "50"'), { 'stripe-signature': stripeHeader(body) })).statusCode).toBe(401);
    expect((await post(pathOf(integration.url), body, {})).statusCode).toBe(401);
    expect(await licensesOf(s, app.id)).toHaveLength(0);
  });

  it('charge.refunded bans the keys; a dispute of the same order changes nothing more; a refund of an unknown order is 200 and changes nothing', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'stripe', 'stripe-prod');
    const pi = orderId('pi_');
    await stripeCall(integration.url, fixture('stripe-checkout-session-completed', { order: pi, product: 'stripe-prod' }));
    const unknown = await stripeCall(integration.url, fixture('stripe-charge-refunded', { order: orderId('pi_') }));
    expect(unknown.statusCode).toBe(200);
    expect((await licensesOf(s, app.id)).map((l) => l.status)).toEqual(['inactive']);
    const partial = fixture('stripe-charge-refunded', { order: pi }).replace('"refunded": true', '"refunded": false');
    expect((await stripeCall(integration.url, partial)).statusCode).toBe(200);
    expect((await licensesOf(s, app.id))[0]!.status).toBe('inactive');
    const refund = await stripeCall(integration.url, fixture('stripe-charge-refunded', { order: pi }));
    expect(refund.json()).toEqual({ received: true });
    expect((await licensesOf(s, app.id)).map((l) => [l.status, l.ban_reason])).toEqual([['banned', 'refunded']]);
    expect((await stripeCall(integration.url, fixture('stripe-charge-dispute-created', { order: pi }))).statusCode).toBe(200);
    const refundedEvents = await h.deps.db.query("select 1 from outbox where application_id = $1 and type = 'order.refunded'", [app.id]);
    expect(refundedEvents).toHaveLength(1);
  });

  it('a dispute bans the keys too', async () => {
    const s = await h.seller();
    const { app, integration } = await connect(s, 'stripe', 'stripe-prod');
    const pi = orderId('pi_');
    await stripeCall(integration.url, fixture('stripe-checkout-session-completed', { order: pi, product: 'stripe-prod' }));
    expect((await stripeCall(integration.url, fixture('stripe-charge-dispute-created', { order: pi }))).statusCode).toBe(200);
    expect((await licensesOf(s, app.id)).map((l) => [l.status, l.ban_reason])).toEqual([['banned', 'refunded']]);
  });
});

describe('secrets stay secret', () => {
  let app: FastifyInstance;
  const lines: string[] = [];
  beforeAll(async () => {
    app = await buildApp({ ...h.deps, log: createLogger('trace', { write: (line: string) => void lines.push(line) }) }, { logRequests: true });
    await app.ready();
  });
  afterAll(() => app?.close());

  it('the store secret is in no answer and no log line, through creation, calls and refusals', async () => {
    const s = await h.seller();
    const { app: application, plan } = await s.setup();
    const secret = 'very-secret-store-key-9f8e7d6c5b';
    const auth = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
    const made = await app.inject({
      method: 'POST',
      url: `/api/applications/${application.id}/integrations`,
      headers: auth,
      payload: { provider: 'sellix', secret, products: [{ product_id: 'p1', plan_id: plan.id }] },
    });
    expect(made.statusCode).toBe(201);
    const url = pathOf(made.json().url);
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'p1' });
    const answers = [
      made,
      await app.inject({ method: 'GET', url: `/api/applications/${application.id}/integrations`, headers: auth }),
      await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'x-sellix-signature': hmac('sha512', secret, body), 'x-sellix-event': 'product:dynamic' },
        payload: body,
      }),
      await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-sellix-signature': 'bad', 'x-sellix-event': 'product:dynamic' }, payload: body }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([201, 200, 200, 401]);
    for (const a of answers) expect(a.body).not.toContain(secret);
    const logged = lines.join('');
    expect(logged).toContain('store call refused');
    expect(logged).not.toContain(secret);
  });
});

describe('a buyer with a Discord id (bot linked)', () => {
  const ROLE = '700000000000000077';
  const BUYER = '100000000000000061';
  const CLOSED = '100000000000000062';
  let linked: LinkedDiscord;
  beforeAll(async () => {
    linked = await startLinkedDiscord({
      start: (discord) => startHarness({ jobs: 'local', discord }),
      admin: { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD },
      stub: { closedDms: new Set([CLOSED]) },
      setup: { plan: { name: 'Lifetime', duration_days: 0, discord_role_id: ROLE } },
    });
  });
  afterAll(() => linked?.close());

  async function sellixIntegration() {
    const { seller, app, plan } = linked;
    const res = await seller.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'sellix', secret: SECRET, products: [{ product_id: 'dp', plan_id: plan.id }] });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { url: string };
  }
  const buy = (url: string, discord: string) => {
    const body = fixture('sellix-product-dynamic', { order: orderId('sx'), product: 'dp', discord });
    const signed = { 'x-sellix-event': 'product:dynamic', 'x-sellix-signature': hmac('sha512', SECRET, body), 'content-type': 'application/json' };
    return linked.h.app.inject({ method: 'POST', url: pathOf(url), payload: body, headers: signed });
  };

  it('DMs the keys and grants the plan role in the linked server, after the order', async () => {
    const { url } = await sellixIntegration();
    const res = await buy(url, BUYER);
    expect(res.statusCode).toBe(200);
    const dm = await waitFor(() => linked.stub.find('POST', new RegExp(`^/channels/dm${BUYER}/messages$`))[0], 15_000, 'the DM');
    expect(dm.json.content).toContain(res.body);
    await waitFor(() => linked.stub.find('PUT', new RegExp(`^/guilds/${GUILD}/members/${BUYER}/roles/${ROLE}$`))[0], 15_000, 'the role');
  });

  it('a buyer with closed DMs still gets the keys in the store’s answer, and the role', async () => {
    const { url } = await sellixIntegration();
    const res = await buy(url, CLOSED);
    expect(res.statusCode).toBe(200);
    expect(res.body.split('\n')).toEqual([expect.stringMatching(/^[0-9A-F]{32}$/i), expect.stringMatching(/^[0-9A-F]{32}$/i)]);
    await waitFor(() => linked.stub.find('PUT', new RegExp(`^/guilds/${GUILD}/members/${CLOSED}/roles/${ROLE}$`))[0], 15_000, 'the role');
  });
});
