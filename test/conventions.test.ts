import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { buildApp } from '../src/http/app.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const raw = (s: Seller, method: 'POST' | 'PUT', url: string, payload: string, headers: Record<string, string> = {}) =>
  h.app.inject({ method, url, payload, headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', ...headers } });
const appCount = async (s: Seller) => (await s.call('GET', '/api/applications')).json().length as number;

describe('error answers', () => {
  it('answer a malformed JSON body with 400 VALIDATION_ERROR and creates nothing', async () => {
    const s = await h.seller();
    for (const body of ['{"name":', '{name: "x"}', "{'name':'x'}", 'not json']) {
      const err = expectError(await raw(s, 'POST', '/api/applications', body), 400, 'VALIDATION_ERROR');
      expect(err.message).toBe('The body is not valid JSON');
    }
    expectError(await raw(s, 'POST', '/api/applications', ''), 400, 'VALIDATION_ERROR');
    expect(await appCount(s)).toBe(0);
  });

  it('answer wrong types with 400 and one {path, message} per problem', async () => {
    const s = await h.seller();
    const err = expectError(await s.call('POST', '/api/applications', { name: 42, description: false, settings: { max_hwids: 'two' } }), 400, 'VALIDATION_ERROR');
    expect(err.details).toEqual(
      expect.arrayContaining([
        { path: 'body.name', message: expect.any(String) },
        { path: 'body.description', message: expect.any(String) },
        { path: 'body.settings.max_hwids', message: expect.any(String) },
      ]),
    );
    expect(err.details).toHaveLength(3);
    const notObject = expectError(await raw(s, 'POST', '/api/applications', '[1,2,3]'), 400, 'VALIDATION_ERROR');
    expect(notObject.details?.[0]?.path).toBe('body');
  });

  it('answer a body over 1 MiB with 413 PAYLOAD_TOO_LARGE', async () => {
    const s = await h.seller();
    const big = JSON.stringify({ name: 'big', description: 'x'.repeat(1024 * 1024) });
    expectError(await raw(s, 'POST', '/api/applications', big), 413, 'PAYLOAD_TOO_LARGE');
    expect(await appCount(s)).toBe(0);
    // Just under the limit is parsed (and then refused by the schema, not by size).
    const under = JSON.stringify({ name: 'big', description: 'x'.repeat(1024 * 1024 - 100) });
    expectError(await raw(s, 'POST', '/api/applications', under), 400, 'VALIDATION_ERROR');
  });

  it('answer an unknown route or method with the 404 shape', async () => {
    const s = await h.seller();
    const err = expectError(await h.app.inject({ method: 'GET', url: '/api/does-not-exist?x=1' }), 404, 'NOT_FOUND');
    expect(err.message).toBe('No route GET /api/does-not-exist');
    expectError(await s.call('PATCH', '/api/applications', {}), 404, 'NOT_FOUND');
    expectError(await h.app.inject({ method: 'GET', url: '/' }), 404, 'NOT_FOUND');
  });

  it('answer a non-numeric id with 400 and a huge one with 400 or 404, never 500', async () => {
    const s = await h.seller();
    for (const url of ['/api/applications/abc', '/api/licenses/abc', '/api/plans/abc', '/api/licenses/1.5/users', '/api/applications/-3/plans', '/api/auth/api-keys/NaN']) {
      const method = url.startsWith('/api/plans') || url.startsWith('/api/auth') ? 'DELETE' : 'GET';
      expectError(await s.call(method, url), 400, 'VALIDATION_ERROR');
    }
    for (const id of ['2147483648', '99999999999999999999999999', '1e400', `9${'9'.repeat(150)}`]) {
      for (const url of [`/api/applications/${id}`, `/api/licenses/${id}`, `/api/applications/${id}/licenses`]) {
        const res = await s.call('GET', url);
        expect([400, 404], url).toContain(res.statusCode);
        expectError(res, res.statusCode, res.statusCode === 400 ? 'VALIDATION_ERROR' : 'NOT_FOUND');
      }
    }
    // The largest id the database holds is simply not found.
    expectError(await s.call('GET', '/api/licenses/2147483647'), 404, 'NOT_FOUND');
  });
});

describe('text the database cannot store', () => {
  it('is refused with 400 naming the field (NUL characters, unpaired surrogates), never a 500', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id, 1, { notes: 'before' });
    const cases: [string, () => Promise<import('fastify').LightMyRequestResponse>, string][] = [
      ['notes with NUL', () => s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: 'a\u0000b' }), 'body.notes'],
      ['notes with a lone surrogate', () => s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: 'a\ud800b' }), 'body.notes'],
      ['application name', () => s.call('POST', '/api/applications', { name: 'x\u0000' }), 'body.name'],
      ['plan name', () => s.call('POST', '/api/plans/', { application_id: app.id, name: '\udc00', duration_days: 1 }), 'body.name'],
      ['API key name', () => s.call('POST', '/api/auth/api-keys', { name: 'k\u0000' }), 'body.name'],
      ['ban reason', () => s.call('POST', `/api/licenses/${l!.id}/ban`, { reason: 'r\u0000' }), 'body.reason'],
      ['generate notes', () => s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, notes: 'n\u0000' }), 'body.notes'],
      ['login', () => h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: 'a\u0000', password: 'x' } }), 'body.login'],
      ['search', () => s.call('GET', `/api/applications/${app.id}/licenses?search=%00`), 'querystring.search'],
      ['client hwid', () => h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: l!.license_key, hwid: 'pc\u0000' } }), 'body.hwid'],
    ];
    for (const [label, send, path] of cases) {
      const err = expectError(await send(), 400, 'VALIDATION_ERROR');
      expect(err.details, label).toEqual([{ path, message: expect.any(String) }]);
    }
    // A well-formed pair (an emoji) is fine.
    const emoji = await s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: 'paid 💸' });
    expect(emoji.statusCode).toBe(200);
    expect(emoji.json().notes).toBe('paid 💸');
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).json()).toMatchObject({ notes: 'paid 💸', status: 'inactive' });
  });
});

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and body and creates nothing new', async () => {
    const s = await h.seller();
    const headers = { 'idempotency-key': 'create-app-1' };
    const first = await s.call('POST', '/api/applications', { name: 'Once' }, headers);
    expect(first.statusCode).toBe(201);
    const again = await s.call('POST', '/api/applications', { name: 'Once' }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['content-type']).toMatch(/^application\/json/);
    expect(await appCount(s)).toBe(1);
    expect((await s.call('GET', '/api/applications/limits')).json().applications_used).toBe(1);

    // Without the header, or with another key, it is a new request.
    expect((await s.call('POST', '/api/applications', { name: 'Once' })).json().id).not.toBe(first.json().id);
    expect((await s.call('POST', '/api/applications', { name: 'Once' }, { 'idempotency-key': 'create-app-2' })).json().id).not.toBe(first.json().id);
    expect(await appCount(s)).toBe(3);
  });

  it('answers 409 IDEMPOTENCY_MISMATCH for the same key with a different body', async () => {
    const s = await h.seller();
    const headers = { 'idempotency-key': 'k-mismatch' };
    expect((await s.call('POST', '/api/applications', { name: 'First' }, headers)).statusCode).toBe(201);
    expectError(await s.call('POST', '/api/applications', { name: 'Second' }, headers), 409, 'IDEMPOTENCY_MISMATCH');
    expect((await s.call('GET', '/api/applications')).json().map((a: { name: string }) => a.name)).toEqual(['First']);
  });

  it('forgets a request that failed, so it can be corrected and retried with the same key', async () => {
    const s = await h.seller();
    const headers = { 'idempotency-key': 'k-retry' };
    expectError(await s.call('POST', '/api/applications', { name: 'x', settings: { nope: 1 } }, headers), 400, 'VALIDATION_ERROR');
    const ok = await s.call('POST', '/api/applications', { name: 'x' }, headers);
    expect(ok.statusCode).toBe(201);
    expect((await s.call('POST', '/api/applications', { name: 'x' }, headers)).json().id).toBe(ok.json().id);
  });

  it('keeps keys per developer: the same key from another developer is their own request', async () => {
    const a = await h.seller();
    const b = await h.seller();
    const headers = { 'idempotency-key': 'shared-key' };
    const ra = await a.call('POST', '/api/applications', { name: 'Same' }, headers);
    const rb = await b.call('POST', '/api/applications', { name: 'Same' }, headers);
    expect(rb.statusCode).toBe(201);
    expect(rb.json().id).not.toBe(ra.json().id);
    expect(rb.body).not.toContain(ra.json().secret);
  });

  it('creates exactly one application from concurrent requests with the same key', async () => {
    const s = await h.seller();
    const headers = { 'idempotency-key': 'k-race' };
    const results = await Promise.all(Array.from({ length: 5 }, () => s.call('POST', '/api/applications', { name: 'Race' }, headers)));
    const created = results.filter((r) => r.statusCode === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of results.filter((x) => x.statusCode !== 201)) expectError(r, 409, 'IDEMPOTENCY_IN_PROGRESS');
    expect(new Set(created.map((r) => r.json().id)).size).toBe(1);
    expect(await appCount(s)).toBe(1);
  });

  it('works on /api/licenses/generate: the same keys come back and no more are made', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const headers = { 'idempotency-key': 'gen-1' };
    const body = { plan_id: plan.id, count: 5, format: 'random' };
    const first = await s.call('POST', '/api/licenses/generate', body, headers);
    expect(first.statusCode).toBe(200);
    const again = await s.call('POST', '/api/licenses/generate', body, headers);
    expect(again.statusCode).toBe(200);
    expect(again.json().licenses.map((l: { license_key: string }) => l.license_key)).toEqual(first.json().licenses.map((l: { license_key: string }) => l.license_key));
    expect((await s.call('GET', `/api/applications/${app.id}/licenses?per_page=1`)).headers['x-total-count']).toBe('5');
    expectError(await s.call('POST', '/api/licenses/generate', { ...body, count: 6 }, headers), 409, 'IDEMPOTENCY_MISMATCH');
    expect((await s.call('GET', `/api/applications/${app.id}/licenses?per_page=1`)).headers['x-total-count']).toBe('5');
  });

  it('refuses an over-long key', async () => {
    const s = await h.seller();
    expectError(await s.call('POST', '/api/applications', { name: 'x' }, { 'idempotency-key': 'k'.repeat(256) }), 400, 'VALIDATION_ERROR');
    expect(await appCount(s)).toBe(0);
  });
});

describe('health', () => {
  it('answers ok with the version, uptime and the database check', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/health' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/), uptime_s: expect.any(Number), checks: { database: 'ok' } });
    expect(body.uptime_s).toBeGreaterThanOrEqual(0);
    expect(Object.values(body.checks).every((c) => c === 'ok')).toBe(true);
  });

  it('answers 200 degraded while an optional dependency is down', async () => {
    const app = await buildApp(h.deps, { healthChecks: { redis: async () => 'down' } });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'degraded', checks: { database: 'ok', redis: 'down' } });
    } finally {
      await app.close();
    }
  });

  it('answers 503 with the error shape when the database is unreachable', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const db = { ...h.deps.db, query: async () => Promise.reject(refused) } as Deps['db'];
    const app = await buildApp({ ...h.deps, db });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/health' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ success: false, code: 'UNAVAILABLE', message: expect.any(String), checks: { database: 'down' } });
      expect(res.body).not.toContain('ECONNREFUSED');
    } finally {
      await app.close();
    }
  });
});

describe('API documentation', () => {
  it('serves an OpenAPI 3.1 document with the request body schemas of validate and generate', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });

    const validate = doc.paths['/api/licenses/validate']?.post;
    const validateSchema = validate?.requestBody?.content?.['application/json']?.schema;
    expect(validateSchema?.properties).toHaveProperty('app_id');
    expect(validateSchema?.properties).toHaveProperty('license_key');
    expect(validateSchema?.properties).toHaveProperty('hwid');
    expect(validateSchema?.required).toEqual(expect.arrayContaining(['app_id', 'license_key']));

    const generateSchema = doc.paths['/api/licenses/generate']?.post?.requestBody?.content?.['application/json']?.schema;
    expect(generateSchema?.properties).toHaveProperty('plan_id');
    expect(generateSchema?.properties).toHaveProperty('count');
    expect(generateSchema?.properties?.format?.enum).toEqual(['random', 'custom']);
    expect(generateSchema?.required).toEqual(expect.arrayContaining(['plan_id', 'count']));

    for (const path of ['/api/applications', '/api/applications/{id}', '/api/licenses/{id}/reset-hwid', '/api/auth/register']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });

  it('serves a browsable reference at /docs', async () => {
    let res = await h.app.inject({ method: 'GET', url: '/docs' });
    if (res.statusCode >= 300 && res.statusCode < 400) res = await h.app.inject({ method: 'GET', url: String(res.headers.location) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
  });
});

describe('the audit log', () => {
  it('records who did what, from where, for each change', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id, 2);
    await s.call('POST', `/api/licenses/${l!.id}/ban`, { reason: 'fraud' });

    const rows = await h.deps.db.query<{
      application_id: number | null;
      actor_kind: string;
      actor_id: string;
      actor_name: string;
      action: string;
      target: string;
      details: Record<string, unknown>;
      ip: string;
    }>('select application_id, actor_kind, actor_id, actor_name, action, target, details, ip from audit_logs where actor_id = $1 order by id', [String(s.developerId)]);
    expect(rows.map((r) => r.action)).toEqual(['developer.registered', 'application.created', 'plan.created', 'license.generated', 'license.banned']);
    for (const r of rows) expect(r).toMatchObject({ actor_kind: 'developer', actor_id: String(s.developerId), actor_name: s.username, ip: '127.0.0.1' });
    const byAction = Object.fromEntries(rows.map((r) => [r.action, r]));
    expect(byAction['application.created']).toMatchObject({ application_id: app.id, target: `application:${app.id}` });
    expect(byAction['plan.created']).toMatchObject({ application_id: app.id, target: `plan:${plan.id}` });
    expect(byAction['license.generated']).toMatchObject({ application_id: app.id, details: expect.objectContaining({ count: 2 }) });
    expect(byAction['license.banned']).toMatchObject({ application_id: app.id, target: `license:${l!.id}`, details: expect.objectContaining({ reason: 'fraud', license_key: l!.license_key }) });
  });

  it('records nothing for a refused change', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const count = async () => Number((await h.deps.db.query<{ n: string }>('select count(*) as n from audit_logs where actor_id = $1', [String(s.developerId)]))[0]!.n);
    const before = await count();
    await s.call('POST', `/api/licenses/${l!.id}/unban`);
    await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, format: 'custom', custom_format: '####' });
    expect(await count()).toBe(before);
  });
});
