import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SellerActor } from '../src/core/actor.js';
import { MAX_FILES_PER_APP, maxFileStorage } from '../src/core/files/file-rules.js';
import { MAX_PLANS_PER_APP } from '../src/core/plans/create-plan.js';
import { setVariable } from '../src/core/variables/set-variable.js';
import { MAX_VARIABLES_PER_APP } from '../src/core/variables/variable-rules.js';
import { createWebhook } from '../src/core/webhooks/manage-webhooks.js';
import { plans } from '../src/db/schema.js';
import { errorBody, installErrorHandling } from '../src/http/errors.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * Seller writes racing each other: concurrent requests (Promise.all through the harness) against
 * real Postgres. Each write either lands whole or gets the answer it would get alone — never a
 * lost update, a limit overrun, or a 500 from a parent deleted under it.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const actorOf = (s: Seller): SellerActor => ({ kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 });
const count = async (table: string, applicationId: number) => (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from ${table} where application_id = $1`, [applicationId]))[0]!.n;
const statuses = (answers: { statusCode: number }[]) => answers.map((a) => a.statusCode).sort();
let seq = 0;
const upload = (s: Seller, appId: number, data: Buffer = Buffer.from(`content ${++seq}`)) => {
  const form = multipart([{ name: 'file', filename: `f${++seq}.bin`, data }]);
  return s.call('POST', `/api/applications/${appId}/files`, form.payload as never, form.headers);
};

describe('application settings patched concurrently', () => {
  it('three sellers patching different settings at once all land, round after round', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (let round = 0; round < 15; round++) {
      const reset = await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: false, hwid_lock: true, max_hwids: 1 } });
      expect(reset.statusCode).toBe(200);
      const answers = await Promise.all([
        s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } }),
        s.call('PUT', `/api/applications/${app.id}`, { settings: { hwid_lock: false } }),
        s.call('PUT', `/api/applications/${app.id}`, { settings: { max_hwids: 5 } }),
      ]);
      expect(statuses(answers)).toEqual([200, 200, 200]);
      const { settings } = (await s.call('GET', `/api/applications/${app.id}`)).json();
      expect(settings, `round ${round}`).toMatchObject({ paused: true, hwid_lock: false, max_hwids: 5 });
    }
  });
});

describe('a parent deleted while something is created under it', () => {
  it('keys generated while their plan is force-deleted: each generation is a 200 or a 404, and the delete counts exactly the keys that landed', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (let round = 0; round < 15; round++) {
      const plan = (await s.call('POST', '/api/plans/', { application_id: app.id, name: `Doomed ${round}`, duration_days: 30 })).json();
      const generate = () => s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 20, format: 'random' });
      const [del, ...made] = await Promise.all([s.call('DELETE', `/api/plans/${plan.id}?force=true`), generate(), generate(), generate()]);
      expect(del.statusCode, del.body).toBe(200);
      for (const g of made) {
        if (g.statusCode !== 200) expectError(g, 404, 'NOT_FOUND');
      }
      const landed = made.filter((g) => g.statusCode === 200).length * 20;
      expect(del.json().licenses_deleted, `round ${round}`).toBe(landed);
      expect(await h.deps.db.query('select id from licenses where plan_id = $1', [plan.id])).toEqual([]);
    }
  });

  it('plans, variables, webhooks, integrations and files created while the application is deleted: 201 or 404, never a 500', async () => {
    const s = await h.seller();
    for (let round = 0; round < 10; round++) {
      const { app, plan } = await s.setup();
      const content = Buffer.from(`deleted with its application ${app.id}`);
      const [del, ...created] = await Promise.all([
        s.call('DELETE', `/api/applications/${app.id}`),
        s.call('POST', '/api/plans/', { application_id: app.id, name: 'Late', duration_days: 7 }),
        s.call('POST', `/api/applications/${app.id}/variables`, { name: `v${round}`, value: 'x', public: true }),
        s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] }),
        s.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'sellix', secret: 'whsec_racing', products: [{ product_id: 'p1', plan_id: plan.id }] }),
        upload(s, app.id, content),
        s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5, format: 'random' }),
      ]);
      expect(del.statusCode, del.body).toBe(200);
      for (const c of created) {
        if (c.statusCode !== 201 && c.statusCode !== 200) expectError(c, 404, 'NOT_FOUND');
      }
      for (const table of ['plans', 'variables', 'webhooks', 'store_integrations', 'files', 'licenses']) expect(await count(table, app.id), table).toBe(0);
      // An upload that won the race went with the application, its bytes included.
      expect(readdirSync(h.deps.files.dir)).not.toContain(createHash('sha256').update(content).digest('hex'));
    }
  });

  it('a foreign-key violation that still reaches the HTTP layer is a 409 CONFLICT in the error shape, not a 500', async () => {
    // The real error postgres.js and drizzle raise for a child of a missing parent.
    const fkError = await h.deps.db.orm
      .insert(plans)
      .values({ applicationId: 2_147_483_647, name: 'orphan', durationDays: 1 })
      .then(() => null)
      .catch((err: unknown) => err);
    expect(fkError).toBeInstanceOf(Error);
    const app = Fastify();
    installErrorHandling(app, (_request, reply, status, body) => reply.code(status).send(body));
    app.get('/fk', async () => {
      throw fkError;
    });
    const res = await app.inject({ method: 'GET', url: '/fk' });
    await app.close();
    const body = expectError(res, 409, 'CONFLICT');
    expect(body).toEqual(errorBody('CONFLICT', body.message));
    expect(body.message).not.toMatch(/licenses|plans|_fk|insert|2147483647/i);
  });

  it('a write Postgres ended to break a deadlock (or a serialization failure) is a 409 CONFLICT to retry, not a 500', async () => {
    const app = Fastify();
    installErrorHandling(app, (_request, reply, status, body) => reply.code(status).send(body));
    for (const code of ['40P01', '40001']) {
      // As drizzle raises it: the driver's error, with its SQLSTATE, as the cause.
      const ended = new DrizzleQueryError('update files set name = $1 where id = $2', ['x', 1], Object.assign(new Error('deadlock detected'), { code }));
      app.get(`/ended/${code}`, async () => {
        throw ended;
      });
    }
    for (const code of ['40P01', '40001']) expect(expectError(await app.inject({ method: 'GET', url: `/ended/${code}` }), 409, 'CONFLICT').message).toMatch(/try again/);
    await app.close();
  });
});

describe('per-application limits hold under concurrent creates', () => {
  it('26 webhooks at once: exactly 20 are made, the rest are 409 LIMIT_REACHED', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const answers = await Promise.all(Array.from({ length: 26 }, (_, i) => s.call('POST', `/api/applications/${app.id}/webhooks`, { url: `http://127.0.0.1:9/hook${i}`, events: ['license.banned'] })));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(20);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    expect(await count('webhooks', app.id)).toBe(20);
  });

  it('variables at the limit: concurrent creates (HTTP and the Discord /variable set path) stop at exactly the limit', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await h.deps.db.query("insert into variables (application_id, name, value) select $1, 'seed' || g, 'x' from generate_series(1, $2::int) g", [app.id, MAX_VARIABLES_PER_APP - 5]);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => s.call('POST', `/api/applications/${app.id}/variables`, { name: `http${i}`, value: 'v', public: false })));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(5);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    expect(await count('variables', app.id)).toBe(MAX_VARIABLES_PER_APP);

    const other = (await s.setup()).app;
    await h.deps.db.query("insert into variables (application_id, name, value) select $1, 'seed' || g, 'x' from generate_series(1, $2::int) g", [other.id, MAX_VARIABLES_PER_APP - 3]);
    const set = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => setVariable(h.deps, actorOf(s), other.id, { name: `set${i}`, value: 'v' })));
    expect(set.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of set.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ status: 409, code: 'LIMIT_REACHED' });
    expect(await count('variables', other.id)).toBe(MAX_VARIABLES_PER_APP);
  });

  it('26 store integrations at once: exactly 20 are made', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const answers = await Promise.all(
      Array.from({ length: 26 }, (_, i) =>
        s.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'sellix', secret: `whsec_${i}_racing`, products: [{ product_id: `p${i}`, plan_id: plan.id }] }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(20);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    expect(await count('store_integrations', app.id)).toBe(20);
  });

  it(`plans stop at ${MAX_PLANS_PER_APP} per application, concurrent creates included`, async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await h.deps.db.query("insert into plans (application_id, name, duration_days) select $1, 'seed ' || g, 30 from generate_series(1, $2::int) g", [app.id, MAX_PLANS_PER_APP - 1 - 4]);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => s.call('POST', '/api/plans/', { application_id: app.id, name: `Plan ${i}`, duration_days: 30 })));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(4);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    expect(await count('plans', app.id)).toBe(MAX_PLANS_PER_APP);
  });

  it(`files stop at ${MAX_FILES_PER_APP} per application, concurrent uploads included, and nothing of a refused upload is kept`, async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await h.deps.db.query(
      "insert into files (application_id, name, size, sha256, content_type) select $1, 'seed' || g, 1, repeat('0', 64), 'application/octet-stream' from generate_series(1, $2::int) g",
      [app.id, MAX_FILES_PER_APP - 3],
    );
    const contents = Array.from({ length: 9 }, (_, i) => Buffer.from(`quota ${app.id} ${i}`));
    const answers = await Promise.all(contents.slice(0, 8).map((data) => upload(s, app.id, data)));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(3);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    expect(await count('files', app.id)).toBe(MAX_FILES_PER_APP);
    // Full: refused before a byte is stored.
    expectError(await upload(s, app.id, contents[8]), 409, 'LIMIT_REACHED');
    const kept = answers.filter((a) => a.statusCode === 201).map((a) => a.json().sha256 as string);
    const stored = readdirSync(h.deps.files.dir);
    for (const data of contents) {
      const sha256 = createHash('sha256').update(data).digest('hex');
      expect(stored.includes(sha256), sha256).toBe(kept.includes(sha256));
    }
    expect(readdirSync(join(h.deps.files.dir, 'tmp'))).toEqual([]);
  });

  it('files stop at the per-application storage quota, concurrent uploads included', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const quota = maxFileStorage(h.deps.files.maxBytes);
    // Room for exactly two more 1,000-byte files.
    await h.deps.db.query("insert into files (application_id, name, size, sha256, content_type) values ($1, 'big', $2, repeat('0', 64), 'application/octet-stream')", [app.id, quota - 2500]);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(s, app.id, Buffer.alloc(1000, i + 1))));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(2);
    for (const a of answers.filter((a) => a.statusCode !== 201)) expectError(a, 409, 'LIMIT_REACHED');
    const [used] = await h.deps.db.query<{ bytes: string }>('select sum(size)::text as bytes from files where application_id = $1', [app.id]);
    expect(Number(used!.bytes)).toBe(quota - 500);
  });
});

describe('a webhook URL is looked at only after the caller may act on the application', () => {
  let strict: Harness;
  beforeAll(async () => {
    strict = await startHarness({ env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'false' } });
  });
  afterAll(() => strict?.close());

  it('a stranger gets 404 and a viewer 403 for create and update, whatever the URL; only an admin hears about the URL', async () => {
    const owner = await strict.seller('owner');
    const viewer = await strict.seller('viewer');
    const stranger = await strict.seller('stranger');
    const { app } = await owner.setup();
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBe(201);
    // Saved while private URLs were allowed, so it exists to be updated.
    const hook = await createWebhook({ ...strict.deps, webhooks: { allowPrivateUrls: true } }, actorOf(owner), app.id, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] });

    for (const url of ['http://127.0.0.1:8080/hook', 'http://169.254.169.254/latest', `http://kc-probe-${Date.now()}.invalid/hook`]) {
      const body = { url, events: ['license.banned'] };
      expectError(await stranger.call('POST', `/api/applications/${app.id}/webhooks`, body), 404, 'NOT_FOUND');
      expectError(await stranger.call('PUT', `/api/webhooks/${hook.id}`, { url }), 404, 'NOT_FOUND');
      expectError(await viewer.call('POST', `/api/applications/${app.id}/webhooks`, body), 403, 'FORBIDDEN');
      expectError(await viewer.call('PUT', `/api/webhooks/${hook.id}`, { url }), 403, 'FORBIDDEN');
      const own = await owner.call('POST', `/api/applications/${app.id}/webhooks`, body);
      expect(own.statusCode).toBe(400);
      expect(['WEBHOOK_URL_PRIVATE', 'WEBHOOK_URL_UNRESOLVABLE']).toContain(own.json().code);
      expect((await owner.call('PUT', `/api/webhooks/${hook.id}`, { url })).statusCode).toBe(400);
    }
    expect(await strict.deps.db.query<{ url: string }>('select url from webhooks where application_id = $1', [app.id])).toEqual([{ url: 'http://127.0.0.1:9/hook' }]);
  });
});
