import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalJobProvider, type LocalJobProvider } from '../src/jobs/local/local-job-provider.js';
import { DeliverySchedule } from '../src/jobs/local/delivery-schedule.js';
import { WEBHOOK_ATTEMPTS } from '../src/jobs/queues.js';
import { startHarness, type Harness } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

// The harness runs no job side: each test starts and stops local providers on the one database,
// as a process that stops and starts again would. A bulk job handed back at shutdown is in
// jobs-operations (both providers); what is here depends on how the local provider keeps its schedule.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h' } });
});
afterAll(() => h?.close());

const providers: LocalJobProvider[] = [];
const startProvider = async (jobs: Partial<Harness['config']['jobs']> = {}) => {
  const p = await startLocalJobProvider(h.deps, { ...h.config.jobs, ...jobs });
  providers.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});

/** A seller's application with a webhook on license.banned at `url`, and one of its licenses banned. */
async function bannedLicenseWithHook(url: string) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] });
  expect(res.statusCode).toBe(201);
  const [lic] = await s.generate(plan.id);
  await s.call('POST', `/api/licenses/${lic!.id}/ban`, {});
  return { hook: res.json() as { id: number }, lic: lic! };
}

const deliveryRow = async (hookId: number) =>
  (await h.deps.db.query<{ id: string; status: string; attempts: number }>('select id, status, attempts from webhook_deliveries where webhook_id = $1', [hookId]))[0];

describe('the local job provider across restarts', () => {
  it('stopped in the middle of a retry schedule, the next start finishes the delivery once, under the same id', async () => {
    const rx = await startReceiver((_r, n) => (n <= 2 ? 500 : 204));
    try {
      const { hook } = await bannedLicenseWithHook(rx.url);
      const first = await startProvider();
      await waitFor(async () => ((await deliveryRow(hook.id))?.attempts ?? 0) >= 1 || undefined, 15_000, 'a first, failed attempt');
      await first.close();
      const between = await deliveryRow(hook.id);
      expect(between?.status).toBe('pending');

      await startProvider();
      const delivered = await waitFor(
        async () => {
          const d = await deliveryRow(hook.id);
          return d?.status === 'delivered' ? d : undefined;
        },
        15_000,
        'the delivery to succeed after the restart',
      );
      expect(delivered.attempts).toBe(3);
      expect(rx.received.map((r) => r.headers['x-keycord-delivery'])).toEqual([delivered.id, delivered.id, delivered.id].map(String));
      const [deliveries] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from webhook_deliveries where webhook_id = $1', [hook.id]);
      expect(deliveries!.n).toBe(1);
    } finally {
      await rx.close();
    }
  });

  it('keeps the retry schedule across a restart: the next attempt is the last one plus its backoff, from the database', async () => {
    const retryBaseMs = 600_000;
    const rx = await startReceiver(() => 500);
    try {
      const { hook } = await bannedLicenseWithHook(rx.url);
      const first = await startProvider({ webhookRetryBaseMs: retryBaseMs });
      await waitFor(async () => ((await deliveryRow(hook.id))?.attempts ?? 0) >= 1 || undefined, 15_000, 'a first, failed attempt');
      await first.close();
      const [last] = await h.deps.db.query<{ at: Date }>('select max(a.created_at) as at from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.webhook_id = $1', [hook.id]);
      const lastAttemptAt = new Date(last!.at).getTime();

      // What a restarted provider rebuilds from the database.
      const schedule = new DeliverySchedule(h.deps, { retryBaseMs, concurrency: 10 });
      await schedule.load();
      schedule.startDue(lastAttemptAt + retryBaseMs - 1);
      await schedule.settle();
      expect(rx.received).toHaveLength(1);
      schedule.startDue(lastAttemptAt + retryBaseMs);
      await schedule.settle();
      expect(rx.received).toHaveLength(2);
      expect(rx.received[1]!.headers['x-keycord-delivery']).toBe(rx.received[0]!.headers['x-keycord-delivery']);
      expect((await deliveryRow(hook.id))?.attempts).toBe(2);
    } finally {
      await rx.close();
    }
  });

  it('gives up on a delivery whose last attempt was recorded before the process stopped, without another attempt', async () => {
    const rx = await startReceiver(() => 500);
    try {
      const { hook } = await bannedLicenseWithHook(rx.url);
      const first = await startProvider({ webhookRetryBaseMs: 600_000 });
      const delivery = await waitFor(
        async () => {
          const d = await deliveryRow(hook.id);
          return (d?.attempts ?? 0) >= 1 ? d : undefined;
        },
        15_000,
        'a first, failed attempt',
      );
      await first.close();
      // The other attempts of the schedule, as a process that died right after the last would leave them.
      await h.deps.db.query(`insert into webhook_attempts (delivery_id, status_code, duration_ms) select $1::bigint, 500, 1 from generate_series(2, $2::int)`, [delivery.id, WEBHOOK_ATTEMPTS]);
      await h.deps.db.query('update webhook_deliveries set attempts = $2 where id = $1', [delivery.id, WEBHOOK_ATTEMPTS]);

      const schedule = new DeliverySchedule(h.deps, { retryBaseMs: 10, concurrency: 10 });
      await schedule.load();
      schedule.startDue(Number.MAX_SAFE_INTEGER);
      await schedule.settle();
      expect(await deliveryRow(hook.id)).toMatchObject({ status: 'failed', attempts: WEBHOOK_ATTEMPTS });
      expect(rx.received).toHaveLength(1);
    } finally {
      await rx.close();
    }
  });

  it('dispatches an event a stopped process had taken from the outbox but not dispatched', async () => {
    const rx = await startReceiver();
    try {
      const { hook, lic } = await bannedLicenseWithHook(rx.url);
      // Taken (relayed) by a process that died before its fan-out ran.
      await h.deps.db.query(`update outbox set relayed_at = now() where type = 'license.banned' and (payload->'license'->>'id')::int = $1`, [lic.id]);
      await startProvider();
      await waitFor(async () => (await deliveryRow(hook.id))?.status === 'delivered' || undefined, 15_000, 'the delivery');
      expect(rx.received).toHaveLength(1);
      const [event] = await h.deps.db.query<{ dispatched: boolean }>(
        `select dispatched_at is not null as dispatched from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = $1`,
        [lic.id],
      );
      expect(event!.dispatched).toBe(true);
    } finally {
      await rx.close();
    }
  });
});
