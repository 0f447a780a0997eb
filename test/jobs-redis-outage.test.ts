import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';
import { freePort, PrivateRedis } from './support/redis.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

let h: Harness;
let redis: PrivateRedis;

beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
  h = await startHarness({ jobs: 'workers', env: { REDIS_URL: redis.url } });
});
afterAll(async () => {
  await redis?.start().catch(() => {});
  await h?.close();
  await redis?.stop();
});

// BullMQ only: the local provider has no Redis to lose.
describe('Redis goes away', () => {
  it('changes still commit, the API serves, and their events are delivered once Redis is back', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, plan } = await s.setup();
      await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned', 'license.activated'] });
      const [a, b] = await s.generate(plan.id, 2);
      expect((await h.app.inject({ method: 'GET', url: '/api/health' })).json().checks.redis).toBe('ok');

      await redis.stop();
      const health = await waitFor(async () => {
        const r = await h.app.inject({ method: 'GET', url: '/api/health' });
        return r.json().checks.redis === 'down' ? r : undefined;
      });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toMatchObject({ status: 'degraded', checks: { database: 'ok', redis: 'down' } });

      // The seller and client APIs go on; nothing waits on Redis.
      const ban = await s.call('POST', `/api/licenses/${a!.id}/ban`, { reason: 'while redis was down' });
      expect(ban.statusCode).toBe(200);
      const validation = await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: b!.license_key, hwid: 'PC' });
      expect(validation.json().code).toBe('VALID');
      const big = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 });
      expect(big.statusCode).toBe(202);

      await new Promise((r) => setTimeout(r, 500));
      const pending = await h.deps.db.query<{ type: string }>('select type from outbox where relayed_at is null order by id');
      expect(pending.map((p) => p.type)).toEqual(expect.arrayContaining(['license.banned', 'license.activated', 'generate_licenses']));
      expect(rx.received).toHaveLength(0);

      await redis.start();
      await waitFor(() => rx.received.length >= 2 || undefined, 30_000, 'events after Redis came back');
      expect(rx.received.map((r) => r.headers['x-keycord-event']).sort()).toEqual(['license.activated', 'license.banned']);
      const job = await waitFor(
        async () => {
          const j = (await s.call('GET', `/api/jobs/${big.json().job.id}`)).json();
          return j.status === 'completed' ? j : undefined;
        },
        30_000,
        'the bulk job accepted during the outage',
      );
      expect(job.generated).toBe(1500);
      expect((await h.app.inject({ method: 'GET', url: '/api/health' })).json().status).toBe('ok');
    } finally {
      await rx.close();
    }
  }, 60_000);
});
