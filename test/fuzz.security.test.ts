import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { autocomplete, button, discordKeyPair, linkServer, MANAGE_GUILD, modal, select, signedInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { edgesOf, ODD_HEADERS, ODD_IDS, ODD_QUERIES, ODD_RAW_BODIES, ODD_VALUES, pick, plausible, sample, seededRandom, withField, type JsonSchema, type Random } from './support/fuzz.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { restartWithOperators } from './support/operators.js';

/**
 * Walks every operation of /openapi.json (plus the routes the document hides: the queue
 * dashboard, health, Discord interactions) and sends each a bounded, seeded set of malformed
 * requests: odd ids, bodies, query strings and headers, with and without credentials. Whatever
 * the input, the answer is below 500, and every JSON refusal has the API.md error shape.
 */
const SEED = 0x6b6579;
const OPERATOR = 'fuzzoperator';

interface Operation {
  method: string;
  path: string;
  parameters: { in: string; name: string; schema?: JsonSchema }[];
  body?: JsonSchema;
}

interface Attempt {
  label: string;
  request: InjectOptions;
}

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let operatorToken: string;
let operatorApp: FastifyInstance;
let known: Record<string, unknown>;
let pathIds: Record<string, string>;

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ jobs: 'producer', env: { KEYCORD_OPERATORS: OPERATOR }, discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller('fuzz');
  const colleague = await h.seller('colleague');
  // No client rate limit, so hundreds of client requests reach the handlers instead of a 429.
  const { app, plan } = await seller.setup({ settings: { rate_limit_per_minute: 0 } });
  const licenses = await seller.generate(plan.id, 3);
  await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: licenses[0]!.license_key, hwid: 'FUZZ-HWID' } });
  const webhook = (await seller.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/fuzz', events: ['webhook.test'] })).json();
  await seller.call('POST', `/api/webhooks/${webhook.id}/test`);
  const variable = (await seller.call('POST', `/api/applications/${app.id}/variables`, { name: 'FUZZ_VAR', value: 'v', public: true })).json();
  const upload = multipart([{ name: 'file', filename: 'fuzz.bin', data: Buffer.from('fuzz') }]);
  const file = (await h.call(seller.token, { method: 'POST', url: `/api/applications/${app.id}/files`, payload: upload.payload, headers: upload.headers })).json();
  const apiKey = (await seller.call('POST', '/api/auth/api-keys', { name: 'fuzz' })).json();
  await seller.call('POST', `/api/applications/${app.id}/collaborators`, { login: colleague.username, role: 'viewer' });
  // A linked server, so interactions reach the handlers rather than the "run /setup" answer.
  await linkServer(h.app, keys, seller, { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD }, app.app_id);
  const operator = await h.app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'fuzz-operator@example.test', username: OPERATOR, password: 'operator password' } });
  operatorToken = operator.json().token;
  // Operators are settled at start: the dashboard's attempts go to an HTTP side started after the operator registered.
  operatorApp = await restartWithOperators(h, [OPERATOR]);

  known = {
    app_id: app.app_id,
    application_id: app.id,
    plan_id: plan.id,
    license_key: licenses[1]!.license_key,
    old_license_key: licenses[1]!.license_key,
    new_license_key: licenses[2]!.license_key,
    hwid: 'FUZZ-HWID',
    username: 'fuzzuser',
    password: 'fuzz password 1',
    login: colleague.username,
    url: 'http://127.0.0.1:9/fuzz',
    events: ['webhook.test'],
    // Left as they are, so a PUT cannot pause the application or demand encryption mid-run.
    settings: {},
    count: 1,
  };
  pathIds = {
    applications: String(app.id),
    licenses: String(licenses[1]!.id),
    plans: String(plan.id),
    webhooks: String(webhook.id),
    deliveries: '1',
    variables: String(variable.id),
    files: String(file.id),
    jobs: '1',
    'api-keys': String(apiKey.id),
    collaborators: String(colleague.developerId),
  };
});
afterAll(async () => {
  await operatorApp?.close();
  await h?.close();
  await stub?.close();
});

/** A real value for each path parameter: the id of the resource its segment names. */
function realPath(op: Operation): string {
  const segments = op.path.split('/');
  return segments
    .map((segment, i) => {
      const param = /^\{(\w+)\}$/.exec(segment)?.[1];
      if (!param) return segment;
      if (param === 'name') return 'FUZZ_VAR';
      if (param === 'appId') return pathIds.applications!;
      return pathIds[segments[i - 1]!] ?? '1';
    })
    .join('/');
}

function withOddParam(op: Operation, index: number, odd: string): string {
  let n = -1;
  const real = realPath(op).split('/');
  return op.path
    .split('/')
    .map((segment, i) => (/^\{\w+\}$/.test(segment) && ++n === index ? odd : real[i]))
    .join('/');
}

/** The malformed requests for one operation. */
function attemptsFor(op: Operation, random: Random): Attempt[] {
  const realUrl = realPath(op);
  const base = op.body ? plausible(op.body, known) : undefined;
  // A DELETE that names a real resource with valid credentials would succeed and take that
  // resource away from the rest of the run; those go out with odd ids or without credentials only.
  const credentials = { authorization: `Bearer ${seller.token}` };
  const auth = op.method === 'DELETE' ? {} : credentials;
  const out: Attempt[] = [];
  /** `body` goes as JSON (`raw` as it is); the plausible body when neither is given. */
  const add = (label: string, o: { url?: string; body?: unknown; raw?: string; headers?: Record<string, string>; query?: Record<string, string> }) => {
    const payload = o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : base !== undefined ? JSON.stringify(base) : undefined);
    out.push({
      label: `${op.method} ${op.path} ${label}`,
      request: {
        method: op.method as InjectOptions['method'],
        url: o.url ?? realUrl,
        ...(o.query ? { query: o.query } : {}),
        ...(payload !== undefined ? { payload } : {}),
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
      },
    });
  };

  add('without credentials', {});
  const paramCount = op.path.split('/').filter((s) => /^\{\w+\}$/.test(s)).length;
  for (let p = 0; p < paramCount; p++) {
    for (const odd of p === 0 ? ODD_IDS : sample(random, ODD_IDS, 5)) add(`path param ${p} = ${odd.slice(0, 20)}`, { url: withOddParam(op, p, odd), headers: credentials });
  }
  if (op.body) {
    for (const raw of sample(random, ODD_RAW_BODIES, 10)) add(`raw body ${JSON.stringify(raw.slice(0, 20))}`, { raw, headers: auth });
    add('body over the limit', { body: { x: 'x'.repeat(1_100_000) }, headers: auth });
    for (const [key, schema] of Object.entries(op.body.properties ?? {})) {
      for (const value of [...sample(random, ODD_VALUES, 4), ...sample(random, edgesOf(schema), 3)]) {
        add(`body.${key} = ${JSON.stringify(value)?.slice(0, 20)}`, { body: withField(base, key, value), headers: auth });
      }
      const { [key]: _dropped, ...missing } = base as Record<string, unknown>;
      add(`body without ${key}`, { body: missing, headers: auth });
    }
    const garbage = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))).toString('base64');
    add('garbage encrypted body', { body: { app_id: known.app_id, payload: garbage }, headers: { ...auth, 'x-body-encryption': 'aes-256-gcm' } });
  }
  for (const param of op.parameters.filter((p) => p.in === 'query')) {
    for (const value of [...sample(random, ODD_VALUES, 3), ...edgesOf(param.schema)]) {
      add(`query ${param.name} = ${JSON.stringify(value)?.slice(0, 20)}`, { query: { [param.name]: typeof value === 'string' ? value : JSON.stringify(value) }, headers: auth });
    }
  }
  for (const query of sample(random, ODD_QUERIES, 8)) add(`query ${query.slice(0, 30)}`, { url: `${realUrl}?${query}`, headers: auth });
  for (const { headers, auth: keepsCredentials } of sample(random, ODD_HEADERS, 8)) {
    const raw = base === undefined ? pick(random, ['', '{}', 'x']) : undefined;
    add(`headers ${JSON.stringify(headers).slice(0, 40)}`, { ...(raw !== undefined ? { raw } : {}), headers: { ...(keepsCredentials ? auth : {}), ...headers } });
  }
  return out;
}

/** The routes the OpenAPI document does not list, with the credentials that get them past auth. */
function hiddenAttempts(random: Random): Attempt[] {
  const operator = { authorization: `Bearer ${operatorToken}` };
  const out: Attempt[] = [];
  for (const url of ['/admin/queues', '/admin/queues/api/queues', '/api/health']) {
    for (const query of ODD_QUERIES) out.push({ label: `GET ${url}?${query.slice(0, 30)}`, request: { method: 'GET', url: `${url}?${query}`, headers: operator } });
    for (const { headers } of ODD_HEADERS) out.push({ label: `GET ${url} ${JSON.stringify(headers).slice(0, 40)}`, request: { method: 'GET', url, headers: { ...operator, ...headers } } });
  }
  out.push({ label: 'GET /admin/queues bad cookie', request: { method: 'GET', url: '/admin/queues', headers: { cookie: 'keycord_admin=%E0%A4%A' } } });
  out.push({ label: 'GET /admin/queues/api/queues/%00', request: { method: 'GET', url: '/admin/queues/api/queues/%00', headers: operator } });
  return [...out, ...uploadAttempts(random), ...interactionAttempts(random)];
}

/** The upload route documents no JSON body: multipart bodies cut short or framed wrongly instead. */
function uploadAttempts(random: Random): Attempt[] {
  const url = `/api/applications/${pathIds.applications}/files`;
  const auth = { authorization: `Bearer ${seller.token}` };
  const body = multipart([
    { name: 'name', value: 'fuzz.txt' },
    { name: 'file', filename: 'fuzz.bin', data: Buffer.from('f'.repeat(64)) },
  ]);
  const cuts = sample(
    random,
    Array.from({ length: body.payload.length - 1 }, (_, i) => i + 1),
    12,
  );
  const out = cuts.map((end) => ({ label: `POST ${url} cut at ${end}`, request: { method: 'POST' as const, url, payload: body.payload.subarray(0, end), headers: { ...auth, ...body.headers } } }));
  const wrongBoundary = { ...body.headers, 'content-type': 'multipart/form-data; boundary=not-the-one' };
  out.push({ label: `POST ${url} wrong boundary`, request: { method: 'POST', url, payload: body.payload, headers: { ...auth, ...wrongBoundary } } });
  const twoFiles = multipart([
    { name: 'a', filename: 'a.bin', data: Buffer.from('a') },
    { name: 'b', filename: 'b.bin', data: Buffer.from('b') },
  ]);
  out.push({ label: `POST ${url} two files`, request: { method: 'POST', url, payload: twoFiles.payload, headers: { ...auth, ...twoFiles.headers } } });
  return out;
}

/** Discord interactions, unsigned and badly signed, and signed but malformed in every part. */
function interactionAttempts(random: Random): Attempt[] {
  const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
  const customer: Member = { id: '100000000000000031', name: 'Customer' };
  const interactions: Record<string, unknown>[] = [
    { type: 1 },
    slash(admin, 'license', [{ name: 'key', value: 'NOPE' }], 'info'),
    slash(admin, 'generate', [
      { name: 'plan', value: 'x' },
      { name: 'count', value: 1 },
    ]),
    slash(customer, 'redeem'),
    autocomplete(admin, 'generate', 'plan', 'x'),
    button(customer, 'lic:reset'),
    select(customer, 'lic:reset-select', ['0x10']),
    select(customer, 'lic:reset-select', ['2147483648']),
    modal(customer, 'lic:redeem-modal', { key: 'NOPE' }),
    modal(admin, 'setup:-:-', { app_id: String(known.app_id), api_key: 'kc_live_nope' }),
  ];
  const out: Attempt[] = [];
  const signed = (label: string, payload: unknown, raw?: string) =>
    out.push({ label: `POST /discord/interactions ${label}`, request: signedInteraction(keys, payload, raw === undefined ? {} : { rawBody: raw }) });
  for (const interaction of interactions) {
    const name = `${interaction.type}:${JSON.stringify(interaction.data ?? {}).slice(0, 30)}`;
    signed(`${name} as sent`, interaction);
    for (const key of ['type', 'data', 'member', 'guild_id', 'channel_id', 'token', 'id']) {
      for (const value of sample(random, ODD_VALUES, 2)) signed(`${name} ${key}=${JSON.stringify(value)?.slice(0, 20)}`, withField(interaction, key, value));
    }
    const data = interaction.data as Record<string, unknown> | undefined;
    for (const key of Object.keys(data ?? {})) {
      for (const value of sample(random, ODD_VALUES, 2)) signed(`${name} data.${key}=${JSON.stringify(value)?.slice(0, 20)}`, withField(interaction, 'data', withField(data, key, value)));
    }
  }
  for (const raw of ODD_RAW_BODIES) signed(`raw ${JSON.stringify(raw.slice(0, 20))}`, null, raw);
  for (const customId of ['lic:reset-page:0x10', 'lic:reset-page:999', `lic:${'x'.repeat(500)}`, 'setup:%00:%00', ':::', 'lic:reset:-1']) {
    signed(`custom id ${customId.slice(0, 30)}`, button(customer, customId));
  }
  const unsigned = { ...signedInteraction(keys, { type: 1 }), headers: { 'content-type': 'application/json' } };
  out.push({ label: 'POST /discord/interactions unsigned', request: unsigned });
  const tampered = signedInteraction(keys, { type: 1 }, { tamper: true });
  out.push({ label: 'POST /discord/interactions tampered', request: tampered });
  const badHex = { ...tampered, headers: { ...tampered.headers, 'x-signature-ed25519': 'zz'.repeat(64), 'x-signature-timestamp': 'soon' } };
  out.push({ label: 'POST /discord/interactions bad signature header', request: badHex });
  return out;
}

/** Bull Board's API answers its own UI in its own shape (`{error: {key}}`), which that UI translates. */
const isBullBoardAnswer = (url: string, body: Record<string, unknown>) => url.startsWith('/admin/queues/api/') && typeof (body.error as { key?: unknown } | undefined)?.key === 'string';

/**
 * The bot answers every interaction with 200, even when a handler fails: its 500 is the reply
 * that hands out a log reference.
 */
const isInteractionFault = (url: string, res: LightMyRequestResponse) => url === '/discord/interactions' && /Something went wrong \(reference/.test(res.body);

/** What is wrong with an answer, or null when it is an acceptable one. */
function fault(url: string, res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500 || isInteractionFault(url, res)) return `status ${res.statusCode}: ${res.body.slice(0, 200)}`;
  if (res.statusCode < 400 || !String(res.headers['content-type'] ?? '').startsWith('application/json')) return null;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `status ${res.statusCode} with a JSON content type but no JSON: ${res.body.slice(0, 100)}`;
  }
  const shaped = body?.success === false && typeof body.code === 'string' && typeof body.message === 'string';
  return shaped || isBullBoardAnswer(url, body) ? null : `status ${res.statusCode} without the error shape: ${res.body.slice(0, 200)}`;
}

describe('a hostile client sending malformed requests to every route', () => {
  // ~3,000 requests: ~10 s alone, several times that on a loaded 2-core machine.
  it('never gets a 5xx, and every JSON refusal has the API error shape', { timeout: 180_000 }, async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { parameters?: Operation['parameters']; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
    };
    const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        ...(op.requestBody?.content['application/json'] ? { body: op.requestBody.content['application/json'].schema } : {}),
      })),
    );
    expect(operations.length).toBeGreaterThan(50);

    const random = seededRandom(SEED);
    // Deletes last: until then every id the other operations use still exists.
    const ordered = [...operations.filter((o) => o.method !== 'DELETE'), ...operations.filter((o) => o.method === 'DELETE')];
    const attempts = [...ordered.flatMap((op) => attemptsFor(op, random)), ...hiddenAttempts(random)];

    const faults: string[] = [];
    const byClass: Record<string, number> = {};
    for (const { label, request } of attempts) {
      const res = await (String(request.url).startsWith('/admin/') ? operatorApp : h.app).inject(request);
      const klass = `${String(res.statusCode)[0]}xx`;
      byClass[klass] = (byClass[klass] ?? 0) + 1;
      const problem = fault(String(request.url), res);
      if (problem) faults.push(`${label} → ${problem}`);
    }
    console.log(`fuzz: ${attempts.length} requests to ${operations.length} documented operations and the hidden routes (seed ${SEED}); answers ${JSON.stringify(byClass)}`);
    expect(faults).toEqual([]);
  });
});
