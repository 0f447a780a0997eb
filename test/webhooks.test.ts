import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPublicWebhookUrl, isPrivateAddress } from '../src/core/webhooks/webhook-url.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { JOB_PROVIDERS_AND_PGLITE, startHarnessWith } from './support/job-providers.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const verify = (secret: string, header: string, body: string) => {
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
  return v1 === createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
};

async function hookedApp(s: Seller, url: string, events = ['license.banned', 'license.activated', 'license.hwid_reset', 'license.deleted', 'license.generated']) {
  const { app, plan } = await s.setup();
  const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events });
  expect(res.statusCode).toBe(201);
  return { app, plan, hook: res.json() };
}

describe.each(JOB_PROVIDERS_AND_PGLITE)('webhook deliveries with the $name job provider', (provider) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarnessWith(provider);
  });
  afterAll(() => h?.close());

  it('delivers a signed event body to the receiver, with the secret shown once', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, plan, hook } = await hookedApp(s, rx.url);
      expect(hook.secret).toMatch(/^whsec_/);
      expect((await s.call('GET', `/api/applications/${app.id}/webhooks`)).json()[0].secret).toBeUndefined();
      const [row] = await h.deps.db.query<{ secret_enc: string }>('select secret_enc from webhooks where id = $1', [hook.id]);
      expect(row!.secret_enc).not.toContain(hook.secret);

      const [lic] = await s.generate(plan.id);
      await s.call('POST', `/api/licenses/${lic!.id}/ban`, { reason: 'fraud' });
      const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.banned'), 15_000, 'license.banned');
      const body = JSON.parse(got.body);
      expect(body).toMatchObject({ type: 'license.banned', application_id: app.id, data: { license: { id: lic!.id, license_key: lic!.license_key, status: 'banned' } } });
      expect(body.id).toMatch(/^evt_\d+$/);
      expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
      expect(verify(hook.secret, String(got.headers['x-keycord-signature']), got.body)).toBe(true);
      expect(verify('whsec_wrong', String(got.headers['x-keycord-signature']), got.body)).toBe(false);
      // The header names this hook's delivery of this event (license.generated has one too).
      const delivery = await waitFor(async () => {
        const list = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json() as { id: number; event_type: string; status: string }[];
        return list.find((d) => d.event_type === 'license.banned' && d.status === 'delivered');
      });
      expect(got.headers['x-keycord-delivery']).toBe(String(delivery.id));
      // license.generated arrived too; an unsubscribed event type did not.
      await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.generated'));
      expect(rx.received.some((r) => r.headers['x-keycord-event'] === 'license.expired')).toBe(false);
    } finally {
      await rx.close();
    }
  });

  it('retries a failing receiver with the same delivery id and records every attempt', async () => {
    const rx = await startReceiver((_r, n) => (n <= 2 ? 500 : 204));
    try {
      const s = await h.seller();
      const { plan, hook } = await hookedApp(s, rx.url, ['license.banned']);
      const [lic] = await s.generate(plan.id);
      await s.call('POST', `/api/licenses/${lic!.id}/ban`, {});
      await waitFor(() => rx.received.length >= 3 || undefined, 20_000, 'three attempts');
      const ids = new Set(rx.received.map((r) => r.headers['x-keycord-delivery']));
      expect(ids.size).toBe(1);
      const deliveries = await waitFor(async () => {
        const list = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json();
        return list[0]?.status === 'delivered' ? list : undefined;
      });
      expect(deliveries).toHaveLength(1);
      expect(deliveries[0]).toMatchObject({ event_type: 'license.banned', status: 'delivered', attempts: 3, last_status_code: 204 });
      expect(rx.received).toHaveLength(3);
      expect([...ids]).toEqual([String(deliveries[0].id)]);
      expect(deliveries[0].attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([500, 500, 204]);
      expect(deliveries[0].attempt_log[0].response_body).toBe('receiver says no');
      expect(typeof deliveries[0].attempt_log[0].duration_ms).toBe('number');
    } finally {
      await rx.close();
    }
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const rx = await startReceiver(() => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } }));
    try {
      const s = await h.seller();
      const { hook } = await hookedApp(s, rx.url, ['license.banned']);
      await s.call('POST', `/api/webhooks/${hook.id}/test`);
      const list = await waitFor(async () => {
        const l = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json();
        return l[0]?.attempts >= 2 ? l : undefined;
      });
      expect(list[0].status).toBe('pending');
      expect(list[0].last_status_code).toBe(302);
      await s.call('PUT', `/api/webhooks/${hook.id}`, { active: false });
    } finally {
      await rx.close();
    }
  });

  it('sends a test event and redelivers a delivery on request', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { hook } = await hookedApp(s, rx.url, ['license.banned']);
      const test = await s.call('POST', `/api/webhooks/${hook.id}/test`);
      expect(test.statusCode).toBe(202);
      const first = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'webhook.test'));
      const [delivery] = (await waitFor(async () => {
        const l = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json();
        return l[0]?.status === 'delivered' ? l : undefined;
      })) as { id: number }[];
      const again = await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${delivery!.id}/redeliver`);
      expect(again.statusCode).toBe(202);
      await waitFor(() => rx.received.length >= 2 || undefined);
      expect(rx.received[1]!.headers['x-keycord-delivery']).toBe(first.headers['x-keycord-delivery']);
      expect(rx.received[1]!.body).toBe(first.body);
    } finally {
      await rx.close();
    }
  });
});

// No job side runs from here on: the API and the core, called directly, are the same for both providers.
describe('without a job side', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  describe('webhooks', () => {
    it('validates input, hides other tenants and updates and deletes', async () => {
      const s = await h.seller();
      const { app } = await s.setup();
      const bad = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'ftp://example.com', events: ['license.banned'] });
      expect(bad.statusCode).toBe(400);
      expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1/x', events: ['nope'] })).statusCode).toBe(400);
      expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1/x', events: [] })).statusCode).toBe(400);
      const { id } = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/x', events: ['license.banned'] })).json();
      const other = await h.seller('other');
      expect((await other.call('GET', `/api/applications/${app.id}/webhooks`)).statusCode).toBe(404);
      expect((await other.call('PUT', `/api/webhooks/${id}`, { active: false })).statusCode).toBe(404);
      expect((await other.call('DELETE', `/api/webhooks/${id}`)).statusCode).toBe(404);
      expect((await other.call('POST', `/api/webhooks/${id}/test`)).statusCode).toBe(404);
      expect((await other.call('GET', `/api/webhooks/${id}/deliveries`)).statusCode).toBe(404);
      const updated = await s.call('PUT', `/api/webhooks/${id}`, { events: ['license.expired', 'license.expiring_soon'], active: false });
      expect(updated.json()).toMatchObject({ id, events: ['license.expired', 'license.expiring_soon'], active: false });
      expect((await s.call('DELETE', `/api/webhooks/${id}`)).json()).toEqual({ message: 'Webhook deleted' });
      expect((await s.call('GET', `/api/applications/${app.id}/webhooks`)).json()).toEqual([]);
    });
  });

  describe('fan-out of an event', () => {
    it('makes one delivery per subscribed active webhook, however often it runs, and returns those still pending', async () => {
      const s = await h.seller();
      const { app, hook: a } = await hookedApp(s, 'http://127.0.0.1:9/a', ['license.banned']);
      const add = async (events: string[]) => (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/x', events })).json();
      const b = await add(['license.banned', 'license.deleted']);
      await add(['license.deleted']); // not subscribed to the event
      const inactive = await add(['license.banned']);
      expect((await s.call('PUT', `/api/webhooks/${inactive.id}`, { active: false })).statusCode).toBe(200);

      // No job side runs, so nothing but this test dispatches the event.
      const insertEvent = async (type: string, payload: Record<string, unknown>) =>
        Number(
          (
            await h.deps.db.query<{ id: string }>(`insert into outbox (application_id, kind, type, payload, relayed_at) values ($1, 'event', $2, $3::jsonb, now()) returning id`, [
              app.id,
              type,
              JSON.stringify(payload),
            ])
          )[0]!.id,
        );
      const { fanOutEvent, FIRST_ATTEMPT_HOLD_MS } = await import('../src/core/webhooks/deliver-webhooks.js');
      // A dispatch later than the holds of those before it (each fan-out holds what it returns).
      let holds = 0;
      const afterTheHolds = () => {
        const at = new Date(Date.now() + ++holds * (FIRST_ATTEMPT_HOLD_MS + 1000));
        return { ...h.deps, clock: { now: () => at } };
      };
      const eventId = await insertEvent('license.banned', { license: { id: 1 } });
      const first = await fanOutEvent(h.deps, eventId);
      expect(first.event?.id).toBe(eventId);
      const rows = () => h.deps.db.query<{ id: string; webhook_id: number; status: string }>('select id, webhook_id, status from webhook_deliveries where event_id = $1 order by id', [eventId]);
      const made = await rows();
      expect(made.map((r) => r.webhook_id).sort()).toEqual([a.id, b.id].sort());
      expect([...first.deliveries].sort()).toEqual(made.map((r) => Number(r.id)).sort());

      // Another dispatch while the first one holds them: nothing new, nothing to send.
      expect((await fanOutEvent(h.deps, eventId)).deliveries).toEqual([]);
      // A retried dispatch job once the hold is over: nothing new, the same pending deliveries again.
      expect([...(await fanOutEvent(afterTheHolds(), eventId)).deliveries].sort()).toEqual([...first.deliveries].sort());
      expect(await rows()).toHaveLength(2);
      await h.deps.db.query(`update webhook_deliveries set status = 'delivered' where id = $1`, [first.deliveries[0]]);
      expect((await fanOutEvent(afterTheHolds(), eventId)).deliveries).toEqual([first.deliveries[1]]);

      // A test event goes to the webhook it names, active or not.
      const testEvent = await insertEvent('webhook.test', { webhook_id: inactive.id });
      const sent = await fanOutEvent(h.deps, testEvent);
      expect(sent.deliveries).toHaveLength(1);
      expect((await h.deps.db.query<{ webhook_id: number }>('select webhook_id from webhook_deliveries where event_id = $1', [testEvent])).map((r) => r.webhook_id)).toEqual([inactive.id]);
    });
  });

  describe('keep-alive connections to a receiver', () => {
    /**
     * A receiver that notes each connection and each request it answers. `dropSecondOnConnection`
     * closes a connection when its second request arrives, unanswered — what a receiver whose
     * keep-alive timeout fires just as the next POST goes out looks like from Keycord's side.
     */
    async function countingReceiver(opts: { dropSecondOnConnection?: boolean; dropEveryFirst?: boolean } = {}) {
      const { createServer } = await import('node:http');
      const answered: { delivery: string; connection: number }[] = [];
      let connections = 0;
      const requestsOn = new WeakMap<object, number>();
      const server = createServer((req, res) => {
        const n = (requestsOn.get(req.socket) ?? 0) + 1;
        requestsOn.set(req.socket, n);
        if ((opts.dropSecondOnConnection && n === 2) || (opts.dropEveryFirst && n === 1)) {
          req.socket.destroy();
          return;
        }
        req.resume();
        req.on('end', () => {
          answered.push({ delivery: String(req.headers['x-keycord-delivery']), connection: (req.socket as unknown as { id: number }).id });
          res.end('ok');
        });
      });
      server.on('connection', (socket) => {
        (socket as unknown as { id: number }).id = ++connections;
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      return {
        url: `http://127.0.0.1:${port}/hook`,
        answered,
        connections: () => connections,
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
    }

    /** Two deliveries of two events to `url`, one after the other, each through its first attempt. */
    async function twoDeliveries(url: string) {
      const s = await h.seller();
      const { app } = await hookedApp(s, url, ['license.banned']);
      const { dispatchEventTry } = await import('../src/jobs/definitions/dispatch-event.js');
      const handedOff: number[] = [];
      const ids: number[] = [];
      for (const n of [1, 2]) {
        const [row] = await h.deps.db.query<{ id: string }>(
          `insert into outbox (application_id, kind, type, payload, relayed_at) values ($1, 'event', 'license.banned', $2::jsonb, now()) returning id`,
          [app.id, JSON.stringify({ license: { id: n } })],
        );
        await dispatchEventTry(h.deps, Number(row!.id), { listeners: [], lastTry: false, sendDeliveries: async (d) => void handedOff.push(...d.map((x) => x.id)) });
        const [delivery] = await h.deps.db.query<{ id: string }>('select id from webhook_deliveries where event_id = $1', [row!.id]);
        ids.push(Number(delivery!.id));
      }
      const rows = await h.deps.db.query<{ id: string; status: string; attempts: number }>('select id, status, attempts from webhook_deliveries where id = any($1::bigint[]) order by id', [ids]);
      return { ids, handedOff, rows: rows.map((r) => ({ id: Number(r.id), status: r.status, attempts: r.attempts })) };
    }

    it('two deliveries to the same receiver go over one connection', async () => {
      const rx = await countingReceiver();
      try {
        const { ids, rows } = await twoDeliveries(rx.url);
        expect(rx.answered.map((a) => a.delivery)).toEqual(ids.map(String));
        expect(rx.connections()).toBe(1);
        expect(rows.map((r) => r.status)).toEqual(['delivered', 'delivered']);
      } finally {
        await rx.close();
      }
    });

    it('a connection the receiver closed between deliveries neither loses nor repeats the next one', async () => {
      const rx = await countingReceiver({ dropSecondOnConnection: true });
      try {
        const { ids, rows, handedOff } = await twoDeliveries(rx.url);
        // The second POST met the closed connection, went again on a fresh one, and arrived once.
        expect(rx.answered.map((a) => a.delivery)).toEqual(ids.map(String));
        expect(rx.connections()).toBe(2);
        expect(rows).toEqual(ids.map((id) => ({ id, status: 'delivered', attempts: 1 })));
        expect(handedOff).toEqual([]);
      } finally {
        await rx.close();
      }
    });

    it('a fresh connection closed before an answer is a failed attempt, not sent again at once', async () => {
      const rx = await countingReceiver({ dropEveryFirst: true });
      try {
        const { ids, rows, handedOff } = await twoDeliveries(rx.url);
        // Each delivery opened its own connection and was dropped there: the receiver may have seen it.
        expect(rx.answered).toEqual([]);
        expect(rx.connections()).toBe(2);
        expect(rows).toEqual(ids.map((id) => ({ id, status: 'pending', attempts: 1 })));
        expect(handedOff).toEqual(ids);
      } finally {
        await rx.close();
      }
    });
  });

  describe('private webhook addresses', () => {
    it('classifies loopback, private, link-local and mapped addresses as private', () => {
      for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '0.0.0.0', '100.64.0.1']) {
        expect(isPrivateAddress(a)).toBe(true);
      }
      for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111']) expect(isPrivateAddress(a)).toBe(false);
    });

    // The audit's finds: ranges that embed or route to IPv4 internals, and ones a hand-kept list missed.
    const auditAddresses = [
      '::127.0.0.1',
      '::7f00:1',
      '::808:808',
      '64:ff9b::7f00:1',
      '64:ff9b::a00:1',
      '2002:7f00:1::1',
      '2002:c0a8:101::1',
      'fec0::1',
      '198.18.0.1',
      '198.19.255.254',
      '2001:db8::1',
      '192.0.2.1',
      'ff02::1',
      '255.255.255.255',
    ];

    it('classifies every address outside ordinary unicast as private, the audit finds included', () => {
      for (const a of auditAddresses) expect(isPrivateAddress(a), a).toBe(true);
      expect(isPrivateAddress('not-an-address')).toBe(true);
    });

    it('refuses the audit finds when a webhook is saved and again when a delivery connects', async () => {
      const strict = { ...h.deps, webhooks: { allowPrivateUrls: false } };
      const { createWebhook } = await import('../src/core/webhooks/manage-webhooks.js');
      const { postWebhook } = await import('../src/core/webhooks/post-webhook.js');
      const s = await h.seller();
      const { app } = await s.setup();
      const actor = { kind: 'developer' as const, developerId: s.developerId, name: s.username, via: 'session' as const, tokenId: 0 };
      for (const a of auditAddresses) {
        const url = `http://${a.includes(':') ? `[${a}]` : a}:8080/hook`;
        await expect(createWebhook(strict, actor, app.id, { url, events: ['license.banned'] }), url).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE' });
        // A webhook saved while private URLs were allowed still never reaches such an address.
        const sent = await postWebhook(url, '{}', {}, { timeoutMs: 2000, allowPrivate: false });
        expect(sent.statusCode, url).toBeNull();
        expect(sent.error, url).toMatch(/refused/);
      }
      // A name is checked on every address it resolves to, at connection time.
      const rx = await startReceiver();
      try {
        const viaName = await postWebhook(rx.url.replace('127.0.0.1', 'localhost'), '{}', {}, { timeoutMs: 2000, allowPrivate: false });
        expect(viaName.error).toMatch(/refused/);
        expect(rx.received).toHaveLength(0);
      } finally {
        await rx.close();
      }
    });

    it('refuses URLs resolving to them unless ALLOW_PRIVATE_WEBHOOK_URLS is set', async () => {
      await expect(assertPublicWebhookUrl('http://127.0.0.1:8080/hook', false)).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE', status: 400 });
      await expect(assertPublicWebhookUrl('http://localhost/hook', false)).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE' });
      await expect(assertPublicWebhookUrl('http://[::1]/hook', false)).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE' });
      await expect(assertPublicWebhookUrl('http://169.254.169.254/latest', false)).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE' });
      await expect(assertPublicWebhookUrl('http://127.0.0.1:8080/hook', true)).resolves.toBeInstanceOf(URL);
    });

    it('is enforced through the API when private URLs are not allowed', async () => {
      const strict = { ...h.deps, webhooks: { allowPrivateUrls: false } };
      const { createWebhook } = await import('../src/core/webhooks/manage-webhooks.js');
      const s = await h.seller();
      const { app } = await s.setup();
      await expect(
        createWebhook(strict, { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 }, app.id, { url: 'http://127.0.0.1:1/x', events: ['license.banned'] }),
      ).rejects.toMatchObject({ code: 'WEBHOOK_URL_PRIVATE' });
    });
  });
});
