import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateKeyFromDer, SecretBox } from '../src/core/crypto.js';
import { expectError } from './support/expect-error.js';
import { startHarness, TEST_SECRET, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

type AppRow = { secret_enc: string; private_key_enc: string; public_key: string; whole: string };
const appRow = async (id: number) => (await h.deps.db.query<AppRow>('select secret_enc, private_key_enc, public_key, row_to_json(a)::text as whole from applications a where id = $1', [id]))[0]!;

describe('application secrets at rest', () => {
  it('stores the secret and the private key only sealed with KEYCORD_SECRET', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Sealed' })).json();
    const row = await appRow(app.id);

    expect(row.secret_enc).toMatch(/^v1\./);
    expect(row.private_key_enc).toMatch(/^v1\./);
    expect(row.whole).not.toContain(app.secret);

    // The sealed private key is the one behind the public key: open it, derive, compare.
    const box = new SecretBox(TEST_SECRET);
    expect(box.open(row.secret_enc).toString('utf8')).toBe(app.secret);
    const der = box.open(row.private_key_enc);
    const privateKey = privateKeyFromDer(der);
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    expect(spki.subarray(-32).toString('hex')).toBe(app.public_key);

    // …and none of its encodings appear in the row.
    const seed = der.subarray(-32);
    for (const form of [der.toString('base64'), der.toString('base64url'), der.toString('hex'), seed.toString('hex'), seed.toString('base64'), seed.toString('base64url')]) {
      expect(row.whole).not.toContain(form);
    }
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(row.whole).not.toContain(pem.split('\n')[1]!);
  });

  it('cannot be opened with another master secret', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Other key' })).json();
    const row = await appRow(app.id);
    const wrong = new SecretBox('another-secret-0123456789abcdef0123456789');
    expect(() => wrong.open(row.secret_enc)).toThrow();
    expect(() => wrong.open(row.private_key_enc)).toThrow();
  });

  it('seals each value with a fresh IV, so equal inputs do not look equal', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Rotate' })).json();
    const before = await appRow(app.id);
    const rotated = (await s.call('POST', `/api/applications/${app.id}/rotate-secret`)).json();
    const after = await appRow(app.id);
    expect(after.secret_enc).not.toBe(before.secret_enc);
    expect(after.secret_enc).toMatch(/^v1\./);
    expect(new SecretBox(TEST_SECRET).open(after.secret_enc).toString('utf8')).toBe(rotated.secret);
    expect(after.whole).not.toContain(rotated.secret);
    expect(after.private_key_enc).toBe(before.private_key_enc);
  });
});

describe("another seller's application", () => {
  it('is a 404 for GET, PUT, DELETE and rotate-secret, answered exactly as a missing one', async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const app = (await owner.call('POST', '/api/applications', { name: 'Private', settings: { max_hwids: 2 } })).json();
    const snapshot = await appRow(app.id);
    const missing = (await intruder.call('GET', '/api/applications/2147483647')).json();

    for (const [method, url, body] of [
      ['GET', `/api/applications/${app.id}`, undefined],
      ['PUT', `/api/applications/${app.id}`, { name: 'Pwned', settings: { paused: true } }],
      ['DELETE', `/api/applications/${app.id}`, undefined],
      ['POST', `/api/applications/${app.id}/rotate-secret`, undefined],
      ['GET', `/api/applications/${app.id}/plans`, undefined],
      ['GET', `/api/applications/${app.id}/licenses`, undefined],
    ] as const) {
      const res = await intruder.call(method, url, body);
      expect(expectError(res, 404, 'NOT_FOUND'), `${method} ${url}`).toEqual(missing);
      expect(res.body).not.toContain(app.app_id);
    }

    // Nothing changed: same name, settings, sealed secret; still there for its owner.
    const after = await appRow(app.id);
    expect(after.whole).toBe(snapshot.whole);
    const mine = await owner.call('GET', `/api/applications/${app.id}`);
    expect(mine.json()).toMatchObject({ name: 'Private', settings: { max_hwids: 2, paused: false } });
  });

  it("is absent from the other seller's list and does not count toward their limit", async () => {
    const owner = await h.seller('owner');
    const other = await h.seller('other');
    const app = (await owner.call('POST', '/api/applications', { name: 'Mine' })).json();
    const theirs = (await other.call('POST', '/api/applications', { name: 'Theirs' })).json();
    const list = (await other.call('GET', '/api/applications')).json() as { id: number }[];
    expect(list.map((a) => a.id)).toEqual([theirs.id]);
    expect(list.map((a) => a.id)).not.toContain(app.id);
    expect((await other.call('GET', '/api/applications/limits')).json().applications_used).toBe(1);
  });

  it('cannot receive plans from the other seller', async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const app = (await owner.call('POST', '/api/applications', { name: 'Mine' })).json();
    expectError(await intruder.call('POST', '/api/plans/', { application_id: app.id, name: 'Free', duration_days: 0 }), 404, 'NOT_FOUND');
    expect((await owner.call('GET', `/api/applications/${app.id}/plans`)).json()).toEqual([]);
  });
});
