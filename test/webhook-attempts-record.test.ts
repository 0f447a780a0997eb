import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { FIRST_ATTEMPT_HOLD_MS } from '../src/core/webhooks/deliver-webhooks.js';
import { dispatchEventTry } from '../src/jobs/definitions/dispatch-event.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startHeldReceiver, type HeldReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * The attempts of the deliveries in flight are recorded together (one statement, shared by every
 * dispatch running at once: coalesce.ts), so one attempt the database cannot take must not take
 * the others down with it — else their first attempts, made and answered 2xx, stay unrecorded,
 * and are POSTed again once their hold is over: delivered twice, to tenants who did nothing wrong.
 * Two ways one attempt was unrecordable: its webhook was deleted while its POST was in flight (the
 * attempt's delivery row went with it), and a receiver answering a body with a NUL byte (which no
 * Postgres text, nor jsonb, can hold).
 */

/** A receiver that holds every POST until `release()`, then answers them all in one go. */

const laterDeps = (deps: Deps, atMs: number): Deps => ({ ...deps, clock: { now: () => new Date(Date.now() + atMs) } });
const dispatch = (deps: Deps, eventId: number) => dispatchEventTry(deps, eventId, { listeners: [], lastTry: false, sendDeliveries: async () => {} });

describe('recording the attempts of deliveries in flight together', () => {
  let h: Harness;
  const receivers: HeldReceiver[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await h?.close();
  });

  const receiver = async (body?: string) => {
    const r = await startHeldReceiver(body);
    receivers.push(r);
    return r;
  };

  /** An application of `s` with a webhook to each URL; returns its id and the webhooks' ids. */
  const appWithHooks = async (s: Seller, urls: string[]) => {
    const { app } = await s.setup();
    const hooks: number[] = [];
    for (const url of urls) {
      const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] });
      expect(res.statusCode).toBe(201);
      hooks.push(res.json().id);
    }
    return { appId: app.id, hooks };
  };

  /** A relayed, undispatched license.banned event of the application. */
  const event = async (appId: number) => {
    const [row] = await h.deps.db.query<{ id: string }>(
      `insert into outbox (application_id, kind, type, payload, relayed_at) values ($1, 'event', 'license.banned', '{"license":{"id":1}}', now()) returning id`,
      [appId],
    );
    return Number(row!.id);
  };

  const deliveryOf = async (webhookId: number, eventId: number) => {
    const [d] = await h.deps.db.query<{ id: string; status: string; attempts: number; response_body: string | null }>(
      `select d.id, d.status, d.attempts, (select a.response_body from webhook_attempts a where a.delivery_id = d.id order by a.id desc limit 1) as response_body
       from webhook_deliveries d where d.webhook_id = $1 and d.event_id = $2`,
      [webhookId, eventId],
    );
    return d ? { ...d, id: Number(d.id) } : undefined;
  };

  const dispatched = async (eventId: number) => {
    const [row] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [eventId]);
    return row!.dispatched;
  };

  it('a webhook deleted while its POST is in flight: the other webhook of the event is recorded delivered and never POSTed again', async () => {
    const s = await h.seller();
    const [gone, kept] = [await receiver(), await receiver()];
    const { appId, hooks } = await appWithHooks(s, [gone.url, kept.url]);
    const eventId = await event(appId);
    const running = dispatch(h.deps, eventId);
    await waitFor(() => gone.received.length === 1 && kept.received.length === 1, 10_000, 'both POSTs in flight');
    expect((await s.call('DELETE', `/api/webhooks/${hooks[0]}`)).statusCode).toBe(200);
    gone.release();
    kept.release();
    await expect(running).resolves.toEqual({ deliveries: 2 });

    const delivery = await deliveryOf(hooks[1]!, eventId);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, response_body: 'ok' });
    expect(await dispatched(eventId)).toBe(true);
    // The event's job tried again after the hold: nothing is sent twice.
    await dispatch(laterDeps(h.deps, FIRST_ATTEMPT_HOLD_MS + 1000), eventId).catch(() => {});
    expect(kept.postsOf(delivery!.id)).toBe(1);
  });

  it("another tenant's webhook deleted mid-POST does not cost this tenant's delivery its record", async () => {
    const [other, mine] = [await h.seller('other'), await h.seller('mine')];
    const [gone, kept] = [await receiver(), await receiver()];
    const a = await appWithHooks(other, [gone.url]);
    const b = await appWithHooks(mine, [kept.url]);
    const [eventA, eventB] = [await event(a.appId), await event(b.appId)];
    const running = [dispatch(h.deps, eventA), dispatch(h.deps, eventB)];
    await waitFor(() => gone.received.length === 1 && kept.received.length === 1, 10_000, 'both POSTs in flight');
    expect((await other.call('DELETE', `/api/webhooks/${a.hooks[0]}`)).statusCode).toBe(200);
    // Both answers come back together: their attempts go in one statement.
    gone.release();
    kept.release();
    await Promise.allSettled(running);

    const delivery = await deliveryOf(b.hooks[0]!, eventB);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, response_body: 'ok' });
    expect(await dispatched(eventB)).toBe(true);
    await dispatch(laterDeps(h.deps, FIRST_ATTEMPT_HOLD_MS + 1000), eventB).catch(() => {});
    expect(kept.postsOf(delivery!.id)).toBe(1);
  });

  it("a receiver answering a NUL byte is recorded (without it), and so is another tenant's delivery answered at the same time", async () => {
    const [other, mine] = [await h.seller('nul'), await h.seller('mine')];
    const [nul, kept] = [await receiver('ok\u0000then binary'), await receiver()];
    const a = await appWithHooks(other, [nul.url]);
    const b = await appWithHooks(mine, [kept.url]);
    const [eventA, eventB] = [await event(a.appId), await event(b.appId)];
    const running = [dispatch(h.deps, eventA), dispatch(h.deps, eventB)];
    await waitFor(() => nul.received.length === 1 && kept.received.length === 1, 10_000, 'both POSTs in flight');
    nul.release();
    kept.release();
    await Promise.allSettled(running);

    expect(await deliveryOf(a.hooks[0]!, eventA)).toMatchObject({ status: 'delivered', attempts: 1, response_body: 'okthen binary' });
    const delivery = await deliveryOf(b.hooks[0]!, eventB);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, response_body: 'ok' });
    expect(await dispatched(eventA)).toBe(true);
    expect(await dispatched(eventB)).toBe(true);
    await dispatch(laterDeps(h.deps, FIRST_ATTEMPT_HOLD_MS + 1000), eventB).catch(() => {});
    expect(kept.postsOf(delivery!.id)).toBe(1);
  });
});
