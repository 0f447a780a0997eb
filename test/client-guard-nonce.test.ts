import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdentity, type RequestIdentity, type RequestSubject } from '../src/client/answer-binding.js';
import { bodyKey, decryptBody, encryptBody } from '../src/core/body-encryption.js';
import { expectError } from './support/expect-error.js';
import { verifySigned } from './support/client-signature.js';
import { startHarness, type AppView, type Harness } from './support/harness.js';

/*
 * API.md: every client answer is signed, and a request's `nonce` (8–64 chars) is echoed so that a
 * captured answer cannot be replayed for another request. The client guard's refusals (429
 * RATE_LIMITED, 400 ENCRYPTION_REQUIRED) and the schema's 400 VALIDATION_ERROR came before any route
 * bound its answer: signed, but echoing nothing, so one recorded refusal passed for any request.
 * Now they echo the nonce and name the request as the route's own answers do (its declared subject,
 * from the fields as sent), so an SDK that checks both takes them for the refusals they are.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const NONCE = 'guard-nonce-0001';
/** Too short, too long, not a string (twice), not visible ASCII: the route's schema refuses each. */
const MALFORMED: unknown[] = ['short', 'x'.repeat(65), 12345678, { n: 'guard-nonce-0002' }, 'has a space in it'];

const VALIDATE = 'POST /api/licenses/validate';
const DOWNLOAD_1 = requestIdentity('GET /api/files/:id/download', { file_id: 1 });
const validateOf = (subject: RequestSubject) => requestIdentity(VALIDATE, subject);

/** The API.md error shape plus the echoed nonce and the request it names, nothing else; signed over the body as sent. */
function expectEchoed(app: AppView, res: LightMyRequestResponse, status: number, code: string, echoed: string, names: RequestIdentity) {
  expect(res.statusCode, res.body).toBe(status);
  expect(verifySigned(app, res)).toBe(true);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ success: false, code, nonce: echoed });
  expect(body.request).toEqual(names);
  for (const key of Object.keys(body)) expect(['success', 'code', 'message', 'details', 'nonce', 'request']).toContain(key);
  return body;
}

/** A refusal that echoes nothing: the plain API.md shape (expectError allows no other field), still signed. */
function expectUnbound(app: AppView, res: LightMyRequestResponse, status: number, code: string) {
  const body = expectError(res, status, code);
  expect(verifySigned(app, res)).toBe(true);
  return body;
}

/** `res` with its body decrypted, when it came encrypted; the signature is checked over the encrypted bytes first. */
function opened(app: AppView, res: LightMyRequestResponse): LightMyRequestResponse {
  expect(res.headers['x-body-encryption']).toBe('aes-256-gcm');
  expect(verifySigned(app, res)).toBe(true);
  const body = decryptBody(bodyKey(app.secret, app.app_id), (res.json() as { payload: string }).payload)!;
  return { ...res, body, json: () => JSON.parse(body) } as LightMyRequestResponse;
}

const validate = (body: Record<string, unknown>, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: '/api/licenses/validate', remoteAddress, headers, payload: body });

const sealedValidate = (app: AppView, inner: Record<string, unknown>, remoteAddress = '127.0.0.1', key = bodyKey(app.secret, app.app_id), clear: Record<string, unknown> = {}) =>
  validate({ ...clear, app_id: app.app_id, payload: encryptBody(key, JSON.stringify(inner)) }, remoteAddress, { 'x-body-encryption': 'aes-256-gcm' });

describe('RATE_LIMITED from the client guard', () => {
  it("echoes a plain request's valid nonce, signed, and never a malformed one", async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { rate_limit_per_minute: 1 } });
    expect((await validate({ app_id: app.app_id, license_key: 'ANY-KEY' }, '10.71.0.1')).statusCode).toBe(200);

    const limited = await validate({ app_id: app.app_id, license_key: 'ANY-KEY', nonce: NONCE }, '10.71.0.1');
    expectEchoed(app, limited, 429, 'RATE_LIMITED', NONCE, validateOf({ license_key: 'ANY-KEY' }));
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    // Another request's nonce is its own: the recorded refusal cannot pass for it.
    expectEchoed(
      app,
      await validate({ app_id: app.app_id, license_key: 'ANY-KEY', nonce: 'another-nonce-02' }, '10.71.0.1'),
      429,
      'RATE_LIMITED',
      'another-nonce-02',
      validateOf({ license_key: 'ANY-KEY' }),
    );
    // Also on another client route, and for a GET's nonce in its query.
    const expiration = await h.app.inject({ method: 'POST', url: '/api/licenses/check-expiration', remoteAddress: '10.71.0.1', payload: { app_id: app.app_id, license_key: 'K', nonce: NONCE } });
    expectEchoed(app, expiration, 429, 'RATE_LIMITED', NONCE, requestIdentity('POST /api/licenses/check-expiration', { license_key: 'K' }));
    expectEchoed(
      app,
      await h.app.inject({ method: 'GET', url: '/api/files/1/download', remoteAddress: '10.71.0.1', query: { app_id: app.app_id, nonce: NONCE } }),
      429,
      'RATE_LIMITED',
      NONCE,
      DOWNLOAD_1,
    );

    for (const bad of MALFORMED) expectUnbound(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY', nonce: bad }, '10.71.0.1'), 429, 'RATE_LIMITED');
    expectUnbound(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY' }, '10.71.0.1'), 429, 'RATE_LIMITED');
  });

  it('to an encrypted request is decided before anything is decrypted: plain, signed, unbound', async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { rate_limit_per_minute: 1 } });
    expect((await validate({ app_id: app.app_id, license_key: 'ANY-KEY' }, '10.71.0.2')).statusCode).toBe(200);
    const res = await sealedValidate(app, { license_key: 'ANY-KEY', nonce: NONCE }, '10.71.0.2', undefined, { nonce: 'clear-nonce-0001' });
    expect(res.headers['x-body-encryption']).toBeUndefined();
    expectUnbound(app, res, 429, 'RATE_LIMITED');
  });
});

describe('ENCRYPTION_REQUIRED from the client guard', () => {
  it("echoes a plain request's valid nonce (body, or a GET's query), signed, and never a malformed one", async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { require_encryption: true } });
    expectEchoed(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY', hwid: 'PC', nonce: NONCE }), 400, 'ENCRYPTION_REQUIRED', NONCE, validateOf({ license_key: 'ANY-KEY', hwid: 'PC' }));
    expectEchoed(
      app,
      await h.app.inject({ method: 'GET', url: '/api/files/1/download', query: { app_id: app.app_id, license_key: 'K', hwid: 'PC', nonce: NONCE } }),
      400,
      'ENCRYPTION_REQUIRED',
      NONCE,
      DOWNLOAD_1,
    );
    for (const bad of MALFORMED) expectUnbound(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY', nonce: bad }), 400, 'ENCRYPTION_REQUIRED');
    expectUnbound(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY' }), 400, 'ENCRYPTION_REQUIRED');
  });

  it('to a GET that asked for an encrypted answer comes back encrypted, the nonce inside', async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { require_encryption: true } });
    const res = await h.app.inject({
      method: 'GET',
      url: '/api/files/1/download',
      query: { app_id: app.app_id, license_key: 'K', hwid: 'PC', nonce: NONCE },
      headers: { 'x-body-encryption': 'aes-256-gcm' },
    });
    const inner = opened(app, res);
    expect(inner.statusCode).toBe(400);
    expect(inner.json()).toMatchObject({ success: false, code: 'ENCRYPTION_REQUIRED', nonce: NONCE });
  });
});

describe("a client route's schema refusal (VALIDATION_ERROR)", () => {
  it('echoes the valid nonce of a plain request, signed, with the details', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const body = expectEchoed(app, await validate({ app_id: app.app_id, license_key: 42, nonce: NONCE }), 400, 'VALIDATION_ERROR', NONCE, validateOf({}));
    expect((body.details as { path: string }[]).map((d) => d.path)).toEqual(['body.license_key']);
    const query = expectEchoed(
      app,
      await h.app.inject({ method: 'GET', url: '/api/files/1/download', query: { app_id: app.app_id, hwid: 'x'.repeat(300), nonce: NONCE } }),
      400,
      'VALIDATION_ERROR',
      NONCE,
      DOWNLOAD_1,
    );
    expect((query.details as { path: string }[]).map((d) => d.path)).toEqual(['querystring.hwid']);
  });

  it('never reflects a malformed nonce, alone or next to another error', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (const bad of MALFORMED) {
      const alone = expectUnbound(app, await validate({ app_id: app.app_id, license_key: 'ANY-KEY', nonce: bad }), 400, 'VALIDATION_ERROR');
      expect(alone.details?.map((d) => d.path)).toEqual(['body.nonce']);
      const both = expectUnbound(app, await validate({ app_id: app.app_id, license_key: 42, nonce: bad }), 400, 'VALIDATION_ERROR');
      expect(both.details?.map((d) => d.path).sort()).toEqual(['body.license_key', 'body.nonce']);
    }
  });

  it("of the guard's own (text no database can store) echoes the nonce too", async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    expectEchoed(app, await validate({ app_id: app.app_id, license_key: 'AB\u0000CD', nonce: NONCE }), 400, 'VALIDATION_ERROR', NONCE, validateOf({ license_key: 'AB\u0000CD' }));
  });

  it('to an encrypted request echoes the sealed nonce inside the encrypted, signed answer', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const refused = opened(app, await sealedValidate(app, { license_key: 42, hwid: 'PC', nonce: NONCE }));
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      success: false,
      code: 'VALIDATION_ERROR',
      message: 'The request is not valid',
      details: [expect.objectContaining({ path: 'body.license_key' })],
      nonce: NONCE,
      request: validateOf({ hwid: 'PC' }),
    });
    const unstorable = opened(app, await sealedValidate(app, { license_key: 'KEY', hwid: 'PC\u0000', nonce: NONCE }));
    expect(unstorable.json()).toMatchObject({ code: 'VALIDATION_ERROR', nonce: NONCE });
    for (const bad of MALFORMED) {
      const res = opened(app, await sealedValidate(app, { license_key: 42, nonce: bad }));
      expect(res.json()).toMatchObject({ code: 'VALIDATION_ERROR' });
      expect(res.json()).not.toHaveProperty('nonce');
    }
  });
});

describe('refusals that cannot read the nonce stay as they were', () => {
  it('DECRYPTION_FAILED: plain, signed, never echoing a nonce written in clear beside the payload', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const res = await sealedValidate(app, { license_key: 'K', nonce: NONCE }, '127.0.0.1', bodyKey('not-the-secret', app.app_id), { nonce: 'clear-nonce-0001' });
    expectUnbound(app, res, 400, 'DECRYPTION_FAILED');
  });

  it('a body that is not JSON: unsigned, unbound', async () => {
    const notJson = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', headers: { 'content-type': 'application/json' }, payload: `{"nonce":"${NONCE}",` });
    expectError(notJson, 400, 'VALIDATION_ERROR');
    expect(notJson.headers['x-signature-ed25519']).toBeUndefined();
  });

  it('every answer above is one the OpenAPI document describes', () => {
    expect(h.contractViolations).toEqual([]);
  });
});

describe('the OpenAPI document', () => {
  it("declares the guard's refusals (400, 429) with the nonce wherever a client route's errors carry it", async () => {
    type Response = { content?: { 'application/json'?: { schema?: { properties?: Record<string, unknown> } } } };
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses?: Record<string, Response> }>> };
    const echoes = (r: Response | undefined) => r?.content?.['application/json']?.schema?.properties?.nonce !== undefined;
    const missing = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, op]) => {
        const responses = op.responses ?? {};
        if (!Object.entries(responses).some(([status, r]) => /^4/.test(status) && echoes(r))) return [];
        return ['400', '429'].filter((status) => !echoes(responses[status])).map((status) => `${method.toUpperCase()} ${path} ${status}`);
      }),
    );
    expect(missing).toEqual([]);
  });
});
