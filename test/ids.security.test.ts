import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { discordKeyPair, linkServer, MANAGE_GUILD, postInteraction, select, type KeyPair, type Member } from './support/discord-interactions.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness, type LicenseView, type Seller } from './support/harness.js';

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let appId: number;
let planId: number;
let licenses: LicenseView[];
beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller();
  const { app, plan } = await seller.setup();
  appId = app.id;
  planId = plan.id;
  licenses = await seller.generate(plan.id, 20);
  await linkServer(h.app, keys, seller, { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD }, app.app_id);
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

/** Ways of writing a number that are not a plain positive decimal: each must be refused. */
function lookalikes(n: number): string[] {
  return [`0x${n.toString(16)}`, `${n}e0`, `${n}.0`, `+${n}`, `%20${n}`, `${n}%20`, `0${n}`, `${n / 10}e1`, '0', '-1', '2147483648', '99999999999999999999', '1e400', 'Infinity', 'abc', '%00'];
}
const licenseCount = async () => Number((await h.deps.db.query<{ n: string }>('select count(*) as n from licenses'))[0]!.n);

describe('ids in paths', () => {
  it('are decimal digits only: 0x10, 16e0, +16, " 16", 016 and friends are 400s, never license 16', async () => {
    const target = licenses.find((l) => l.id >= 10)!;
    for (const text of lookalikes(target.id)) {
      const res = await seller.call('GET', `/api/licenses/${text}`);
      expectError(res, 400, 'VALIDATION_ERROR');
    }
    expect((await seller.call('GET', `/api/licenses/${target.id}`)).json()).toMatchObject({ id: target.id });
  });

  it('cannot delete, ban or change another license by writing its id another way', async () => {
    const target = licenses.find((l) => l.id >= 10)!;
    const before = await licenseCount();
    for (const text of [`0x${target.id.toString(16)}`, `${target.id}e0`, `0${target.id}`]) {
      expectError(await seller.call('DELETE', `/api/licenses/${text}`), 400, 'VALIDATION_ERROR');
      expectError(await seller.call('POST', `/api/licenses/${text}/ban`, { reason: 'wrong id' }), 400, 'VALIDATION_ERROR');
      expectError(await seller.call('PUT', `/api/licenses/${text}/notes`, { notes: 'wrong id' }), 400, 'VALIDATION_ERROR');
    }
    expect(await licenseCount()).toBe(before);
    expect((await seller.call('GET', `/api/licenses/${target.id}`)).json()).toMatchObject({ status: 'inactive', notes: null });
  });

  it('are checked the same way in every route that takes one, second ids included', async () => {
    for (const [method, url] of [
      ['GET', `/api/applications/0x${appId.toString(16)}`],
      ['GET', `/api/applications/${appId}e0/plans`],
      ['GET', `/api/applications/+${appId}/licenses`],
      ['DELETE', `/api/applications/${appId}/collaborators/0x1`],
      ['POST', `/api/webhooks/1/deliveries/1e0/redeliver`],
      ['GET', `/api/jobs/01`],
    ] as const) {
      expectError(await seller.call(method, url), 400, 'VALIDATION_ERROR');
    }
  });

  it('past the integer range are a 400, not a database error', async () => {
    for (const text of ['2147483648', '9'.repeat(30)]) {
      expectError(await seller.call('GET', `/api/applications/${text}`), 400, 'VALIDATION_ERROR');
    }
    expectError(await seller.call('GET', '/api/applications/2147483647'), 404, 'NOT_FOUND');
  });
});

describe('ids and numbers in query strings', () => {
  it('follow the same rule: plan_id, application_id, page and per_page', async () => {
    for (const query of [`plan_id=0x${planId.toString(16)}`, `plan_id=${planId}.0`, 'page=0x2', 'page=02', 'per_page=1e2', 'per_page=%2B5', 'page=0', 'per_page=501']) {
      expectError(await seller.call('GET', `/api/applications/${appId}/licenses?${query}`), 400, 'VALIDATION_ERROR');
    }
    expectError(await seller.call('GET', `/api/statistics?application_id=0x${appId.toString(16)}`), 400, 'VALIDATION_ERROR');
    const page = await seller.call('GET', `/api/applications/${appId}/licenses?page=2&per_page=5&plan_id=${planId}`);
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json()).toHaveLength(5);
    expect(page.headers['x-total-count']).toBe('20');
  });
});

describe('ids in JSON bodies', () => {
  it('are JSON integers: true, "1", "0x1", " 1", 1.5, 0 and out-of-range numbers are refused', async () => {
    const before = await h.deps.db.query<{ n: string }>('select count(*) as n from plans');
    for (const bad of [true, String(appId), `0x${appId.toString(16)}`, ` ${appId}`, `${appId}e0`, appId + 0.5, 0, -1, 2 ** 31, null, [appId], { id: appId }]) {
      const res = await seller.call('POST', '/api/plans/', { application_id: bad, name: 'Sneaky', duration_days: 1 });
      const body = expectError(res, 400, 'VALIDATION_ERROR');
      expect(body.details?.map((d) => d.path)).toEqual(['body.application_id']);
    }
    for (const bad of [true, String(planId)]) {
      expectError(await seller.call('POST', '/api/licenses/generate', { plan_id: bad, count: 1 }), 400, 'VALIDATION_ERROR');
    }
    expect(await h.deps.db.query<{ n: string }>('select count(*) as n from plans')).toEqual(before);
    expect(await licenseCount()).toBe(20);
  });

  it('still take a plain integer', async () => {
    const res = await seller.call('POST', '/api/plans/', { application_id: appId, name: 'Yearly', duration_days: 365 });
    expect(res.statusCode, res.body).toBe(201);
  });
});

describe('license ids chosen in the Discord reset menu', () => {
  it('are plain decimals too: 0x1, 1e1 or an id past the integer range are asked for again, not a fault', async () => {
    const customer: Member = { id: '100000000000000077', name: 'Customer' };
    for (const choice of ['0x1', '1e1', ' 1', '01', '2147483648', '99999999999999999999']) {
      const res = await postInteraction(h.app, keys, select(customer, 'lic:reset-select', [choice]));
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toMatchObject({ flags: 64, content: 'Please choose a license from the list.' });
    }
  });
});

describe('the OpenAPI document', () => {
  it('describes path ids as decimal text and body ids as integers', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const param = doc.paths['/api/licenses/{id}'].delete.parameters.find((p: { name: string }) => p.name === 'id');
    expect(param).toMatchObject({ in: 'path', required: true, schema: { type: 'string', pattern: '^[1-9][0-9]*$' } });
    const perPage = doc.paths['/api/applications/{appId}/licenses'].get.parameters.find((p: { name: string }) => p.name === 'per_page');
    expect(perPage.schema).toMatchObject({ type: 'string', pattern: '^[1-9][0-9]*$', default: '50' });
    const body = doc.paths['/api/plans'].post.requestBody.content['application/json'].schema;
    expect(body.properties.application_id).toMatchObject({ type: 'integer', minimum: 1, maximum: 2147483647 });
  });
});
