import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { restartWithOperators } from './support/operators.js';

const OPERATOR = 'edgeoperator';
let h: Harness;
beforeAll(async () => {
  // With the job system on, so the queue dashboard is mounted.
  h = await startHarness({ jobs: 'producer', env: { KEYCORD_OPERATORS: OPERATOR } });
});
afterAll(() => h?.close());

describe('log time ranges', () => {
  it('refuse times JavaScript or Postgres cannot hold with a 400 naming the field', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const logs = (query: string) => s.call('GET', `/api/applications/${app.id}/logs?${query}`);
    for (const [query, field] of [
      // Year 0 exists in ISO 8601 but not in Postgres.
      ['since=0000-01-01T00:00:00Z', 'querystring.since'],
      // Year 10000 once the offset is applied.
      ['until=9999-12-31T23:59:59-14:00', 'querystring.until'],
      ['since=1969-12-31T23:59:59Z', 'querystring.since'],
      ['type=validation&until=0001-01-01T00:00:00%2B14:00', 'querystring.until'],
    ] as const) {
      const body = expectError(await logs(query), 400, 'VALIDATION_ERROR');
      expect(body.details?.map((d) => d.path)).toEqual([field]);
    }
  });

  it('accept every time from 1970 to the end of 9999', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const res = await s.call('GET', `/api/applications/${app.id}/logs?since=1970-01-01T00:00:00Z&until=9999-12-31T23:59:59Z`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['application.created', 'plan.created']));
    const east = await s.call('GET', `/api/applications/${app.id}/logs?until=9999-12-31T23:59:59%2B14:00`);
    expect(east.statusCode, east.body).toBe(200);
  });
});

describe('an upload cut off before its closing boundary', () => {
  const leftovers = () => {
    const dir = h.deps.files.dir;
    const blobs = existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'tmp') : [];
    const temps = existsSync(join(dir, 'tmp')) ? readdirSync(join(dir, 'tmp')) : [];
    return [...blobs, ...temps];
  };

  it('is a 400 at every byte it could stop at, and leaves no file, row or temp file', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const url = `/api/applications/${app.id}/files`;
    // Small, so the whole body reaches the parser in one piece: it then gives up on the part
    // before the upload has started reading it.
    const body = multipart([
      { name: 'name', value: 'cut.txt' },
      { name: 'file', filename: 'cut.bin', data: randomBytes(64) },
    ]);
    const closing = body.payload.lastIndexOf('--\r\n');
    const fileStart = body.payload.indexOf('\r\n\r\n', body.payload.indexOf('filename=')) + 4;
    for (let end = fileStart; end < closing + 2; end++) {
      const res = await h.app.inject({ method: 'POST', url, payload: body.payload.subarray(0, end), headers: { authorization: `Bearer ${s.token}`, ...body.headers } });
      expectError(res, 400, 'VALIDATION_ERROR');
    }
    expect((await s.call('GET', url)).json()).toEqual([]);
    const audit = (await s.call('GET', `/api/applications/${app.id}/logs`)).json() as { action: string }[];
    expect(audit.map((e) => e.action)).not.toContain('file.uploaded');
    expect(leftovers()).toEqual([]);
  });

  it('is a 400 when the break comes after a larger file part, which the parser had already ended', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const url = `/api/applications/${app.id}/files`;
    const body = multipart([{ name: 'file', filename: 'big.bin', data: randomBytes(70_000) }]);
    const closing = body.payload.lastIndexOf('--\r\n');
    for (const end of [closing - 2, closing]) {
      const res = await h.app.inject({ method: 'POST', url, payload: body.payload.subarray(0, end), headers: { authorization: `Bearer ${s.token}`, ...body.headers } });
      expectError(res, 400, 'VALIDATION_ERROR');
    }
    expect((await s.call('GET', url)).json()).toEqual([]);
    expect(leftovers()).toEqual([]);
    // The same body, whole, is stored.
    const whole = await h.app.inject({ method: 'POST', url, payload: body.payload, headers: { authorization: `Bearer ${s.token}`, ...body.headers } });
    expect(whole.statusCode, whole.body).toBe(201);
  });
});

describe('URLs the router refuses before any route', () => {
  it('answer in the API error shape, without echoing the path', async () => {
    const s = await h.seller();
    const badEncoding = expectError(await s.call('GET', '/api/licenses/%ZZ'), 400, 'VALIDATION_ERROR');
    expect(badEncoding.message).not.toContain('%ZZ');
    const longParam = expectError(await s.call('GET', `/api/licenses/${'9'.repeat(300)}`), 414, 'URI_TOO_LONG');
    expect(longParam.message).not.toContain('999');
  });
});

describe('the queue dashboard', () => {
  let operatorToken: string;
  // Operators are settled at start: registered first, then named to a restarted HTTP side.
  let ops: FastifyInstance;
  beforeAll(async () => {
    const reg = await h.app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { email: 'edge-operator@example.test', username: OPERATOR, password: 'operator password' },
    });
    operatorToken = reg.json().token;
    ops = await restartWithOperators(h, [OPERATOR]);
  });
  afterAll(() => ops?.close());

  it('answers a NUL in the query with a 400 in the API error shape, on the page and on its API', async () => {
    for (const url of ['/admin/queues?%00=1', '/admin/queues?a=%00', '/admin/queues/api/queues?%00=1', '/admin/queues/api/queues?activeQueue=%00']) {
      expectError(await ops.inject({ method: 'GET', url, headers: { authorization: `Bearer ${operatorToken}` } }), 400, 'VALIDATION_ERROR');
    }
  });

  it('takes a cookie it cannot decode as no credential at all', async () => {
    expectError(await h.app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: 'keycord_admin=%E0%A4%A' } }), 401, 'UNAUTHORIZED');
  });
});
