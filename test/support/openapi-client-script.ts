/**
 * A client developer's script, written against types that openapi-typescript generates from
 * /openapi.json and called through openapi-fetch: register → application → plan → generate →
 * validate → ban → list. test/openapi-client.test.ts generates the types, type-checks this file
 * with them under `tsc --strict` and runs it against a live server:
 *
 *   tsx test/support/openapi-client-script.ts http://127.0.0.1:3000
 *
 * Outside the project's own type check (tsconfig.json excludes it): its types exist only once
 * generated (test/.generated/, not committed).
 */
import createClient from 'openapi-fetch';
import type { paths } from '../.generated/keycord-api.js';

const baseUrl = process.argv[2];
if (!baseUrl) throw new Error('usage: openapi-client-script.ts <base URL>');

const client = createClient<paths>({ baseUrl });

function check(condition: unknown, what: string, got?: unknown): asserts condition {
  if (!condition) throw new Error(`${what}${got === undefined ? '' : `; got ${JSON.stringify(got)}`}`);
}
const keysOf = (o: object) => Object.keys(o).sort().join(',');

// 1. A developer account; its token is the bearer of every seller call below.
const username = `client${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const registered = await client.POST('/api/auth/register', {
  body: { email: `${username}@example.test`, username, password: 'correct horse battery' },
});
check(registered.response.status === 201 && registered.data, 'register answers 201 with a body', registered.error);
check(registered.data.developer.username === username && registered.data.token.length > 0, 'register answers the developer and a token', registered.data);
const seller = { headers: { authorization: `Bearer ${registered.data.token}` } };

// 2. An application: its app_id is what the client routes take.
const created = await client.POST('/api/applications', { ...seller, body: { name: 'Client script app' } });
check(created.response.status === 201 && created.data, 'create application answers 201', created.error);
const application = created.data;
check(/^[0-9a-f-]{36}$/.test(application.app_id) && application.name === 'Client script app', 'the application has its app_id and name', application);
check(/^[0-9a-f]{64}$/.test(application.public_key) && application.secret.length > 0, 'the application answers its public key and secret', application);

// 3. A plan of 30 days.
const planned = await client.POST('/api/plans', { ...seller, body: { application_id: application.id, name: 'Monthly', duration_days: 30 } });
check(planned.response.status === 201 && planned.data, 'create plan answers 201', planned.error);
const plan = planned.data;
check(plan.application_id === application.id && plan.name === 'Monthly' && plan.duration_days === 30, 'the plan is as created', plan);

// 4. Three keys, made at once (200), not by a job (202).
const generated = await client.POST('/api/licenses/generate', { ...seller, body: { plan_id: plan.id, count: 3, format: 'random' } });
check(generated.response.status === 200 && generated.data && 'licenses' in generated.data, 'generate 3 answers 200 with the licenses', generated.error ?? generated.data);
const licenses = generated.data.licenses;
check(licenses.length === 3, '3 licenses', licenses.length);
for (const license of licenses) {
  check(/^[0-9A-F]{32}$/.test(license.license_key) && license.status === 'inactive', 'a new key is 32 upper-case hex and inactive', license);
  check(license.plan.id === plan.id && license.plan.duration_days === 30, 'a key carries its plan', license.plan);
}
const [first] = licenses;
check(first, 'a first license');

// 5. The client side: no bearer, the app_id; the answer is signed and names the request.
const nonce = `nonce-${Date.now()}`;
const validated = await client.POST('/api/licenses/validate', { body: { app_id: application.app_id, license_key: first.license_key, hwid: 'HWID-CLIENT-SCRIPT', nonce } });
// Its 200 is either the plain answer or, under X-Body-Encryption, the sealed one ({app_id, payload}).
check(validated.response.status === 200 && validated.data && 'code' in validated.data, 'validate answers 200 in plain JSON', validated.error ?? validated.data);
const answer = validated.data;
check(answer.success === true && answer.code === 'VALID' && answer.message === 'License activated successfully', 'the first validation activates', answer);
check(answer.request, 'the answer names its request', answer);
check(answer.nonce === nonce && answer.request.route === 'POST /api/licenses/validate', 'the answer echoes the nonce and names its request', { nonce: answer.nonce, request: answer.request });
check(keysOf(answer) === 'code,license,message,nonce,request,success', 'the answer has exactly the documented fields', keysOf(answer));
check(answer.license, 'a valid answer carries the license');
check(keysOf(answer.license) === 'activated_at,expires_at,license_key,plan,status', 'the license in the answer has exactly its documented fields', keysOf(answer.license));
check(answer.license.license_key === first.license_key && answer.license.status === 'active' && answer.license.plan.id === plan.id, 'the license is now active', answer.license);
check(answer.license.activated_at !== null && answer.license.expires_at !== null, 'activation starts the clock', answer.license);
const days = (Date.parse(answer.license.expires_at) - Date.parse(answer.license.activated_at)) / 86_400_000;
check(Math.round(days) === 30, 'expires 30 days after activation', days);
check(/^[0-9a-f]{128}$/.test(validated.response.headers.get('x-signature-ed25519') ?? ''), 'the answer is signed', validated.response.headers.get('x-signature-ed25519'));

// 6. Ban it.
const banned = await client.POST('/api/licenses/{id}/ban', { ...seller, params: { path: { id: String(first.id) } }, body: { reason: 'chargeback' } });
check(banned.response.status === 200 && banned.data, 'ban answers 200', banned.error);
check(banned.data.id === first.id && banned.data.status === 'banned', 'the license is banned', banned.data);

// 7. The application's licenses: the banned one and the two untouched.
const listed = await client.GET('/api/applications/{appId}/licenses', { ...seller, params: { path: { appId: String(application.id) }, query: { per_page: '50' } } });
check(listed.response.status === 200 && listed.data, 'list answers 200', listed.error);
check(listed.response.headers.get('x-total-count') === '3', 'X-Total-Count counts the 3 licenses', listed.response.headers.get('x-total-count'));
const statuses = Object.fromEntries(listed.data.map((l) => [l.license_key, l.status]));
const expected = Object.fromEntries(licenses.map((l) => [l.license_key, l.id === first.id ? 'banned' : 'inactive']));
check(
  listed.data.length === 3 && JSON.stringify(statuses, Object.keys(expected).sort()) === JSON.stringify(expected, Object.keys(expected).sort()),
  'the list has the 3 keys, the first banned',
  statuses,
);

console.log(`openapi-fetch client: register, application ${application.id}, plan ${plan.id}, ${licenses.length} keys, validate ${answer.code}, ban, list of ${listed.data.length}: ok`);
