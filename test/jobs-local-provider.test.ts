import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

// No Redis anywhere here: the harness runs Keycord as `npm start` does without REDIS_URL.
const clock = fixedClock(new Date());
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local', clock, env: { GENERATE_BATCH_SIZE: '1000', EXPIRY_SWEEP_EVERY: '100ms' } });
});
afterAll(() => h?.close());

const verify = (secret: string, header: string, body: string) => {
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
  return v1 === createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
};

async function hookedApp(s: Seller, url: string, events: string[]) {
  const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
  const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events });
  expect(res.statusCode).toBe(201);
  return { app, plan, hook: res.json() };
}

const deliveriesOf = async (s: Seller, hookId: number) => (await s.call('GET', `/api/webhooks/${hookId}/deliveries`)).json();

describe('the local job provider (no Redis)', () => {
  it('is the one chosen, and the API reports no Redis to depend on', async () => {
    expect(h.config.jobs.provider).toBe('local');
    expect(h.jobProvider?.kind).toBe('local');
    expect(h.jobs).toBeUndefined();
    const health = (await h.call(null, { method: 'GET', url: '/api/health' })).json();
    expect(health.status).toBe('ok');
    expect(JSON.stringify(health)).not.toContain('redis');
  });

  it('runs a 5,000-key bulk generation as a job, with progress, to exactly 5,000 distinct keys', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5000, format: 'custom', prefix: 'LOCAL-', custom_format: 'XXXX-XXXX-XXXX' });
    expect(res.statusCode).toBe(202);
    const { job } = res.json();
    const seen = new Set<number>();
    const done = await waitFor(async () => {
      const j = (await s.call('GET', `/api/jobs/${job.id}`)).json();
      seen.add(j.generated);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 60_000, 'the generation job');
    expect(done).toMatchObject({ status: 'completed', count: 5000, generated: 5000, progress: 100 });
    // Progress is the committed count, batch by batch (GENERATE_BATCH_SIZE 1000).
    expect([...seen].some((g) => g > 0 && g < 5000 && g % 1000 === 0)).toBe(true);
    const [row] = await h.deps.db.query<{ n: number; distinct_keys: number }>(
      'select count(*)::int as n, count(distinct license_key)::int as distinct_keys from licenses where job_id = $1',
      [job.id],
    );
    expect(row).toEqual({ n: 5000, distinct_keys: 5000 });
    const [generated] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.generated' and (payload->>'job_id')::int = $1`, [job.id]);
    expect(generated!.n).toBe(1);
  });

  it('delivers a signed webhook to a local receiver', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, plan, hook } = await hookedApp(s, rx.url, ['license.banned']);
      const [lic] = await s.generate(plan.id);
      await s.call('POST', `/api/licenses/${lic!.id}/ban`, { reason: 'fraud' });
      const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.banned'), 15_000, 'license.banned');
      expect(JSON.parse(got.body)).toMatchObject({ type: 'license.banned', application_id: app.id, data: { license: { id: lic!.id, status: 'banned' } } });
      expect(verify(hook.secret, String(got.headers['x-keycord-signature']), got.body)).toBe(true);
      const [delivery] = await waitFor(async () => {
        const list = await deliveriesOf(s, hook.id);
        return list[0]?.status === 'delivered' ? list : undefined;
      });
      expect(got.headers['x-keycord-delivery']).toBe(String(delivery.id));
    } finally {
      await rx.close();
    }
  });

  it('retries a failing receiver with the same delivery id until it answers, recording every attempt', async () => {
    const rx = await startReceiver((_r, n) => (n <= 2 ? 500 : 204));
    try {
      const s = await h.seller();
      const { plan, hook } = await hookedApp(s, rx.url, ['license.banned']);
      const [lic] = await s.generate(plan.id);
      await s.call('POST', `/api/licenses/${lic!.id}/ban`, {});
      const [delivery] = await waitFor(async () => {
        const list = await deliveriesOf(s, hook.id);
        return list[0]?.status === 'delivered' ? list : undefined;
      }, 20_000, 'the delivery to succeed');
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 204 });
      expect(delivery.attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([500, 500, 204]);
      expect(rx.received).toHaveLength(3);
      expect(new Set(rx.received.map((r) => r.headers['x-keycord-delivery']))).toEqual(new Set([String(delivery.id)]));
    } finally {
      await rx.close();
    }
  });

  it('redelivers a delivered delivery on request, under the same id', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { hook } = await hookedApp(s, rx.url, ['license.banned']);
      expect((await s.call('POST', `/api/webhooks/${hook.id}/test`)).statusCode).toBe(202);
      const [delivery] = await waitFor(async () => {
        const list = await deliveriesOf(s, hook.id);
        return list[0]?.status === 'delivered' ? list : undefined;
      });
      expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${delivery.id}/redeliver`)).statusCode).toBe(202);
      await waitFor(() => rx.received.length >= 2 || undefined, 15_000, 'the redelivery');
      expect(rx.received.map((r) => r.headers['x-keycord-delivery'])).toEqual([String(delivery.id), String(delivery.id)]);
      expect(rx.received[1]!.body).toBe(rx.received[0]!.body);
    } finally {
      await rx.close();
    }
  });

  it('runs the expiry sweep on its interval: an expired license is marked and license.expired is delivered once', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, plan, hook } = await hookedApp(s, rx.url, ['license.expired']);
      const [lic] = await s.generate(plan.id);
      expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).json()).toMatchObject({ success: true });
      clock.advance(2 * 86_400_000);
      const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.expired'), 15_000, 'license.expired');
      expect(JSON.parse(got.body).data.license).toMatchObject({ id: lic!.id });
      expect(verify(hook.secret, String(got.headers['x-keycord-signature']), got.body)).toBe(true);
      expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json().status).toBe('expired');
      const [events] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.expired' and (payload->'license'->>'id')::int = $1`, [lic!.id]);
      expect(events!.n).toBe(1);
    } finally {
      await rx.close();
    }
  });
});
