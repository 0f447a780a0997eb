import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_ATTEMPTS } from '../src/jobs/definitions/deliver-webhook.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { startHarness, type Harness } from './support/harness.js';
import { startReceiver } from './support/receiver.js';

/**
 * A delivery is tried WEBHOOK_ATTEMPTS times at most per schedule (API.md: about 24 h of retries,
 * then `failed`). A worker that recorded the last attempt and stopped before giving up leaves the
 * delivery pending with every attempt made: the reconciler marks it failed, it does not add one
 * more attempt — nor, for a delivery the seller redelivered, a fresh schedule on top of the
 * attempts its redelivery has had. No worker runs here: the test reconciles and reads the queue.
 */
let h: Harness;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let webhookId: number;
let applicationId: number;

beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
  rx = await startReceiver(() => 500);
  const s = await h.seller();
  const { app } = await s.setup();
  applicationId = app.id;
  const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] });
  expect(res.statusCode).toBe(201);
  webhookId = res.json().id;
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

/** A pending delivery of a dispatched event with `attempts` failed attempts logged, the last an hour ago. */
async function pendingDelivery(attempts: number, opts: { redeliveredAfter?: number } = {}) {
  const [event] = await h.deps.db.query<{ id: string }>(
    `insert into outbox (application_id, kind, type, payload, relayed_at, dispatched_at, created_at)
     values ($1, 'event', 'license.banned', '{}'::jsonb, now() - interval '2 days', now() - interval '2 days', now() - interval '2 days') returning id::text`,
    [applicationId],
  );
  const [delivery] = await h.deps.db.query<{ id: string }>(
    `insert into webhook_deliveries (webhook_id, event_id, event_type, body, attempts, last_status_code) values ($1, $2, 'license.banned', '{}', $3, 500) returning id::text`,
    [webhookId, event!.id, attempts],
  );
  const id = Number(delivery!.id);
  // Attempt n at (attempts - n + 1) hours ago; a redelivery between attempt k and k + 1.
  await h.deps.db.query(
    `insert into webhook_attempts (delivery_id, status_code, duration_ms, created_at)
     select $1, 500, 3, now() - make_interval(hours => $2::int - n + 1) from generate_series(1, $2::int) n`,
    [id, attempts],
  );
  if (opts.redeliveredAfter !== undefined) {
    await h.deps.db.query(
      `insert into outbox (application_id, kind, type, payload, relayed_at, created_at)
       values ($1, 'command', 'redeliver_webhook', jsonb_build_object('delivery_id', $2::bigint), now(), now() - make_interval(hours => $3::int - $4::int) - interval '30 minutes')`,
      [applicationId, id, attempts, opts.redeliveredAfter],
    );
  }
  return id;
}

const statusOf = async (id: number) => (await h.deps.db.query<{ status: string }>('select status from webhook_deliveries where id = $1', [id]))[0]!.status;

describe('the reconciler and the attempt cap', () => {
  const specs = () => jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);
  const reconciler = () => new Reconciler(h.deps, specs(), { everyMs: 60_000, webhookRetryBaseMs: 5000 });
  const deliveryJobs = async (id: number) => (await h.jobs!.queues.webhooks.getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => (j.data as { delivery_id: number }).delivery_id === id);

  it(`a delivery left pending with its ${WEBHOOK_ATTEMPTS} attempts made (a crash before the give-up) is marked failed, not attempted once more`, async () => {
    const id = await pendingDelivery(WEBHOOK_ATTEMPTS);
    await reconciler().reconcileOnce();
    expect(await deliveryJobs(id)).toEqual([]);
    expect(await statusOf(id)).toBe('failed');
  });

  it('a delivery with attempts left is re-added with only those attempts', async () => {
    const id = await pendingDelivery(WEBHOOK_ATTEMPTS - 3);
    await reconciler().reconcileOnce();
    const jobs = await deliveryJobs(id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.opts.attempts).toBe(3);
    expect(await statusOf(id)).toBe('pending');
  });

  it(`a redelivered delivery whose redelivery has had its ${WEBHOOK_ATTEMPTS} attempts is marked failed; one with attempts left gets only those`, async () => {
    const done = await pendingDelivery(WEBHOOK_ATTEMPTS + 5, { redeliveredAfter: 5 });
    const left = await pendingDelivery(WEBHOOK_ATTEMPTS + 2, { redeliveredAfter: 10 });
    await reconciler().reconcileOnce();
    expect(await deliveryJobs(done)).toEqual([]);
    expect(await statusOf(done)).toBe('failed');
    const jobs = await deliveryJobs(left);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.opts.attempts).toBe(WEBHOOK_ATTEMPTS - (WEBHOOK_ATTEMPTS + 2 - 10));
  });
});
