import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhookJob } from '../src/jobs/definitions/deliver-webhook.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import type { JobProvider } from '../src/jobs/job-provider.js';
import { WEBHOOK_ATTEMPTS, WEBHOOK_MAX_DELAY_MS, webhookBackoff } from '../src/jobs/queues.js';
import { startHarness, type Harness } from './support/harness.js';
import { JOB_PROVIDERS, startHarnessWith, startJobSide } from './support/job-providers.js';
import { restartWithOperators } from './support/operators.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

// BullMQ only, up to the graceful shutdown: Bull Board shows BullMQ's queues, and the give-up test
// drives the BullMQ handler with a hand-made Job (the local provider's is in jobs-local-provider-restart).
let h: Harness;
/** The HTTP side started again once the operators had registered: operators are settled at start. */
let ops: FastifyInstance;
const operatorTokens: Record<string, string> = {};
beforeAll(async () => {
  // One proxy hop trusted, so X-Forwarded-Proto: https can stand for a TLS-terminating proxy.
  h = await startHarness({ jobs: 'producer', env: { KEYCORD_OPERATORS: 'opsadmin1,opsadmin2,someone', TRUST_PROXY: '1' } });
  for (const [username, email] of [
    ['opsadmin1', 'ops@example.test'],
    ['opsadmin2', 'ops2@example.test'],
  ] as const) {
    const reg = await h.app.inject({ method: 'POST', url: '/api/auth/register', payload: { email, username, password: 'operator password' } });
    operatorTokens[username] = reg.json().token;
  }
  ops = await restartWithOperators(h, h.config.jobs.operators);
});
afterAll(async () => {
  await ops?.close();
  await h?.close();
});

describe('the queue dashboard at /admin/queues', () => {
  it('opens for operators only', async () => {
    expect((await ops.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(401);
    const seller = await h.seller('seller');
    const refused = await ops.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Bearer ${seller.token}` } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('FORBIDDEN');
    const page = await ops.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Bearer ${operatorTokens.opsadmin1}` } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^keycord_admin=/);
    const api = await ops.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } });
    expect(api.statusCode).toBe(200);
    expect(
      api
        .json()
        .queues.map((q: { name: string }) => q.name)
        .sort(),
    ).toEqual(['events', 'generate', 'maintenance', 'webhooks']);
  });
});

describe('signing in to the queue dashboard', () => {
  const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    ops.inject({ method: 'POST', url: '/admin/queues/login', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: new URLSearchParams(fields).toString() });

  it('sends a browser without a session to the form, which posts only to itself', async () => {
    const visit = await ops.inject({ method: 'GET', url: '/admin/queues', headers: { accept: 'text/html' } });
    expect(visit.statusCode).toBe(303);
    expect(visit.headers.location).toBe('/admin/queues/login');
    const page = await ops.inject({ method: 'GET', url: '/admin/queues/login' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form method="post" action="/admin/queues/login">');
    expect(page.headers['content-security-policy']).toContain("form-action 'self'");
  });

  it('takes no token from the URL', async () => {
    const res = await ops.inject({ method: 'GET', url: `/admin/queues/api/queues?Authorization=Bearer%20${operatorTokens.opsadmin2}` });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a wrong password and a seller who is not an operator, on the form', async () => {
    const wrong = await form({ login: 'opsadmin2', password: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('Invalid login or password');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const seller = await h.seller('plain');
    const notOperator = await form({ login: seller.username, password: 'correct horse battery' });
    expect(notOperator.statusCode).toBe(403);
    expect(notOperator.headers['set-cookie']).toBeUndefined();
    expect((await form({ login: 'opsadmin2' })).statusCode).toBe(400);
  });

  it('signs an operator in with an HttpOnly, path-scoped cookie, Secure behind HTTPS, and out again', async () => {
    const plain = await form({ login: 'opsadmin2', password: 'operator password' });
    expect(plain.statusCode).toBe(303);
    expect(plain.headers.location).toBe('/admin/queues');
    const setCookie = String(plain.headers['set-cookie']);
    expect(setCookie).toMatch(/^keycord_admin=kc_sess_/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/admin/queues');
    expect(setCookie).not.toContain('Secure');
    const cookie = setCookie.split(';')[0]!;
    const api = await ops.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } });
    expect(api.statusCode).toBe(200);

    const viaHttps = await form({ login: 'opsadmin2', password: 'operator password' }, { 'x-forwarded-proto': 'https' });
    expect(String(viaHttps.headers['set-cookie'])).toContain('; Secure');

    const out = await ops.inject({ method: 'POST', url: '/admin/queues/logout', headers: { cookie } });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/^keycord_admin=; .*Max-Age=0/);
  });
});

describe('the queue dashboard with no operator named', () => {
  let bare: Harness;
  beforeAll(async () => {
    bare = await startHarness({ jobs: 'producer' });
  });
  afterAll(() => bare?.close());

  it('is not loaded: its paths answer 404 saying how to turn it on, to a seller too', async () => {
    const seller = await bare.seller('nobodyops');
    for (const url of ['/admin/queues', '/admin/queues/login', '/admin/queues/api/queues']) {
      const res = await seller.call('GET', url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({ success: false, code: 'NOT_FOUND', message: expect.stringContaining('KEYCORD_OPERATORS') });
    }
    const login = await bare.app.inject({ method: 'POST', url: '/admin/queues/login', payload: { username: 'a', password: 'b' } });
    expect(login.statusCode).toBe(404);
    expect(login.json().code).toBe('NOT_FOUND');
  });
});

describe('webhook retries', () => {
  it('back off exponentially with jitter for about a day', () => {
    const delays = Array.from({ length: WEBHOOK_ATTEMPTS - 1 }, (_, i) => webhookBackoff(i + 1, 5000));
    expect(delays[0]).toBeGreaterThanOrEqual(4000);
    expect(delays[0]).toBeLessThanOrEqual(6000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(WEBHOOK_MAX_DELAY_MS * 1.2);
    const total = delays.reduce((a, b) => a + b, 0) / 3_600_000;
    expect(total).toBeGreaterThan(18);
    expect(total).toBeLessThan(30);
  });

  it('mark the delivery failed after the last attempt', async () => {
    const rx = await startReceiver(() => 503);
    try {
      const s = await h.seller();
      const { app, plan } = await s.setup();
      const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json();
      const [lic] = await s.generate(plan.id);
      await s.call('POST', `/api/licenses/${lic!.id}/ban`, {});
      const [event] = await h.deps.db.query<{ id: number }>(`select id from outbox where type = 'license.banned' order by id desc limit 1`);
      const [delivery] = await h.deps.db.query<{ id: number }>(`insert into webhook_deliveries (webhook_id, event_id, event_type, body) values ($1, $2, 'license.banned', '{}') returning id`, [
        hook.id,
        event!.id,
      ]);
      const ctx = { deps: h.deps } as HandlerContext;
      const job = (attemptsMade: number) =>
        ({ data: { delivery_id: Number(delivery!.id), installation: h.jobs!.installationId }, attemptsMade, opts: { attempts: WEBHOOK_ATTEMPTS } }) as unknown as Job;
      await expect(deliverWebhookJob.process(ctx, job(0))).rejects.toThrow(/will retry/);
      expect((await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json()[0].status).toBe('pending');
      await expect(deliverWebhookJob.process(ctx, job(WEBHOOK_ATTEMPTS - 1))).rejects.toThrow(/giving up/);
      const [d] = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json();
      expect(d).toMatchObject({ status: 'failed', attempts: 2, last_status_code: 503 });
    } finally {
      await rx.close();
    }
  });
});

describe.each(JOB_PROVIDERS)('graceful shutdown of the $name job provider', (provider) => {
  let h: Harness;
  const sides: JobProvider[] = [];
  beforeAll(async () => {
    // The API accepts the job; the job side is started and stopped here, as a restarted process would.
    h = await startHarnessWith(provider, { jobSide: 'stopped' });
  });
  afterAll(async () => {
    for (const side of sides) await side.close();
    await h?.close();
  });
  const jobSide = async () => {
    const side = await startJobSide(h, provider, { generateBatchSize: 500 });
    sides.push(side);
    return side;
  };

  it('hands the bulk job in flight back at a batch boundary, and the next start finishes it with exactly count keys', async () => {
    const first = await jobSide();
    const s = await h.seller();
    const { plan } = await s.setup();
    const { job } = (await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 10_000 })).json();
    await waitFor(async () => ((await s.call('GET', `/api/jobs/${job.id}`)).json().generated > 0 ? true : undefined), 20_000, 'job to start');
    await first.close();
    sides.splice(sides.indexOf(first), 1);

    const after = (await s.call('GET', `/api/jobs/${job.id}`)).json();
    expect(after.status).toBe('running');
    expect(after.generated).toBeLessThan(10_000);
    expect(after.generated % 500).toBe(0);

    // Handed back, not abandoned: BullMQ would otherwise wait JOB_LOCK_MS (30 s) before the next worker may take it.
    await jobSide();
    const done = await waitFor(
      async () => {
        const j = (await s.call('GET', `/api/jobs/${job.id}`)).json();
        return j.status === 'completed' || j.status === 'failed' ? j : undefined;
      },
      20_000,
      'the next start to finish the job',
    );
    expect(done).toMatchObject({ status: 'completed', generated: 10_000 });
    const [row] = await h.deps.db.query<{ n: number; distinct_keys: number }>('select count(*)::int as n, count(distinct license_key)::int as distinct_keys from licenses where job_id = $1', [job.id]);
    expect(row).toEqual({ n: 10_000, distinct_keys: 10_000 });
  });
});
