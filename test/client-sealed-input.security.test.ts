import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { bodyKey, decryptBody, encryptBody } from '../src/core/body-encryption.js';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type AppView, type Harness } from './support/harness.js';

/*
 * What an encrypted request seals is client input like any other. The audit sent NUL characters
 * inside the envelope, past the app-wide text guard that only saw the envelope: the sender got a
 * 500, so did every other tenant's validation batched in the same turn, and a log line holding
 * the NUL failed the shared usage flush on every try, stopping everyone's usage records.
 */
let h: Harness;
let sql: postgres.Sql;
beforeAll(async () => {
  h = await startHarness();
  sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

/** An encrypted validate request; an encrypted answer comes back opened (headers as sent). */
async function sealed(app: AppView, inner: Record<string, unknown>, remoteAddress = '127.0.0.1', key = bodyKey(app.secret, app.app_id)): Promise<LightMyRequestResponse> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/licenses/validate',
    remoteAddress,
    headers: { 'x-body-encryption': 'aes-256-gcm' },
    payload: { app_id: app.app_id, payload: encryptBody(key, JSON.stringify(inner)) },
  });
  return opened(res, key);
}

/** `res`, its body decrypted with `key` when it came encrypted (status and headers as sent). */
function opened(res: LightMyRequestResponse, key: Buffer): LightMyRequestResponse {
  if (res.headers['x-body-encryption'] === undefined) return res;
  const body = decryptBody(key, (res.json() as { payload: string }).payload)!;
  return { ...res, statusCode: res.statusCode, headers: res.headers, body, json: () => JSON.parse(body) } as LightMyRequestResponse;
}

describe('sealed client input', () => {
  it('is refused 400 with the field named when it holds NUL or a lone surrogate, like plain input', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [license] = await s.generate(plan.id);
    for (const [inner, path] of [
      [{ license_key: 'AB\u0000CD', hwid: 'PC-1' }, 'body.license_key'],
      [{ license_key: license!.license_key, hwid: 'PC\u00001' }, 'body.hwid'],
      [{ license_key: license!.license_key, hwid: 'PC-\ud800' }, 'body.hwid'],
    ] as const) {
      const body = expectError(await sealed(app, inner), 400, 'VALIDATION_ERROR');
      expect(body.details?.map((d) => d.path)).toEqual([path]);
    }
    // Nothing was bound or activated by the refused requests.
    const [row] = await sql`select status, hwids from licenses where id = ${license!.id}`;
    expect(row).toMatchObject({ status: 'inactive', hwids: [] });
  });

  it('is refused like plain input, and the refusal is signed like every client answer', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (const res of [await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: 'KEY', hwid: 'PC\u0000' }), await sealed(app, { license_key: 'KEY', hwid: 'PC\u0000' })]) {
      expect(expectError(res, 400, 'VALIDATION_ERROR').details?.map((d) => d.path)).toEqual(['body.hwid']);
      expect(res.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    }
  });

  it("is refused in a GET's sealed query too", async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const key = bodyKey(app.secret, app.app_id);
    const payload = encryptBody(key, JSON.stringify({ license_key: 'KEY\u0000', hwid: 'PC-1' }));
    const res = await h.app.inject({
      method: 'GET',
      url: `/api/variables/motd?app_id=${app.app_id}&payload=${encodeURIComponent(payload)}`,
      headers: { 'x-body-encryption': 'aes-256-gcm' },
    });
    const body = expectError(opened(res, key), 400, 'VALIDATION_ERROR');
    expect(body.details?.map((d) => d.path)).toEqual(['querystring.license_key']);
  });

  it("never fails another tenant's validation in the same turn, nor the usage flush after it", async () => {
    const victim = await h.seller();
    const { app: victimApp, plan } = await victim.setup();
    const [key] = await victim.generate(plan.id);
    const attacker = await h.seller();
    const { app: attackerApp } = await attacker.setup();
    await client(h, '/api/licenses/validate', { app_id: attackerApp.app_id, license_key: 'WARM-UP' });

    const [good, bad] = await Promise.all([
      client(h, '/api/licenses/validate', { app_id: victimApp.app_id, license_key: key!.license_key, hwid: 'VICTIM-PC' }),
      // NOT_FOUND needs no write, so before the fix this answered 200 and left its NUL in the flush.
      sealed(attackerApp, { license_key: 'NOPE', hwid: 'H\u0000' }),
    ]);
    expect(good.json()).toMatchObject({ success: true, code: 'VALID' });
    expectError(bad, 400, 'VALIDATION_ERROR');

    await h.deps.usage.flush();
    expect(h.deps.usage.pending).toBe(0);
    const [logged] = await sql`select count(*)::int as n from validation_logs where application_id = ${victimApp.id}`;
    expect(logged!.n).toBe(1);
  });

  it('counts against the rate limit even when it does not decrypt', async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { rate_limit_per_minute: 3 } });
    const wrongKey = bodyKey('not-the-secret', app.app_id);
    for (let i = 0; i < 3; i++) expectError(await sealed(app, { license_key: 'X' }, '10.9.0.1', wrongKey), 400, 'DECRYPTION_FAILED');
    expectError(await sealed(app, { license_key: 'X' }, '10.9.0.1', wrongKey), 429, 'RATE_LIMITED');
    // The same window as plain requests from that address.
    expectError(await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: 'X' }).then(() => sealed(app, { license_key: 'X' }, '10.9.0.1')), 429, 'RATE_LIMITED');
  });
});

describe('the usage flush', () => {
  it('drops a row the database refuses and writes the rest of its batch, instead of retrying it forever', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [license] = await s.generate(plan.id);
    const at = new Date();
    const line = (hwid: string) => ({ licenseId: license!.id, code: 'VALID', hwid, ip: '10.0.0.1', watched: false });
    h.deps.usage.recordValidation(app.id, at, true, { licenseId: license!.id, ip: '10.0.0.1' }, line('GOOD-1'));
    // Past the guards only through a bug; then it must cost one row, not the whole flush.
    h.deps.usage.recordValidation(app.id, at, true, undefined, line('BAD-\u0000'));
    h.deps.usage.recordValidation(app.id, at, true, undefined, line('GOOD-2'));

    await h.deps.usage.flush();
    expect(h.deps.usage.pending).toBe(0);
    const rows = await sql`select hwid from validation_logs where application_id = ${app.id} order by hwid`;
    expect(rows.map((r) => r.hwid)).toEqual(['GOOD-1', 'GOOD-2']);
    const [counter] = await sql`select validations from daily_counters where application_id = ${app.id}`;
    expect(counter!.validations).toBe(3);
    const [used] = await sql`select last_used from licenses where id = ${license!.id}`;
    expect(used!.last_used).not.toBeNull();
  });
});

describe('HEAD on the client variable route', () => {
  it('is not served, so it cannot run the license check and activate a key', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [license] = await s.generate(plan.id);
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'motd', value: 'hello' })).statusCode).toBe(201);
    const res = await h.app.inject({ method: 'HEAD', url: `/api/variables/motd?app_id=${app.app_id}&license_key=${license!.license_key}&hwid=HEAD-PC` });
    expect(res.statusCode).toBe(404);
    const [row] = await sql`select status, hwids from licenses where id = ${license!.id}`;
    expect(row).toMatchObject({ status: 'inactive', hwids: [] });
  });
});
