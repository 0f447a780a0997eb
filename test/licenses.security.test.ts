import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const licenseRow = async (id: number) => (await h.deps.db.query<{ whole: string }>('select row_to_json(l)::text as whole from licenses l where id = $1', [id]))[0]?.whole;
const auditCount = async () => Number((await h.deps.db.query<{ n: string }>('select count(*) as n from audit_logs'))[0]!.n);

describe("another seller's license", () => {
  it('is a 404 on every route, answered exactly as a missing license, and nothing changes', async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const { app, plan } = await owner.setup();
    const [banned, active] = await owner.generate(plan.id, 2);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: active!.license_key, hwid: 'PC' });
    await owner.call('POST', `/api/licenses/${banned!.id}/ban`, { reason: 'owner decided' });
    const before = { banned: await licenseRow(banned!.id), active: await licenseRow(active!.id) };
    const audits = await auditCount();

    const attempts = (id: number) =>
      [
        ['GET', `/api/licenses/${id}`, undefined],
        ['PUT', `/api/licenses/${id}/notes`, { notes: 'owned' }],
        ['DELETE', `/api/licenses/${id}`, undefined],
        ['POST', `/api/licenses/${id}/reset-hwid`, undefined],
        ['GET', `/api/licenses/${id}/users`, undefined],
        ['POST', `/api/licenses/${id}/ban`, { reason: 'mine now' }],
        ['POST', `/api/licenses/${id}/unban`, undefined],
        ['POST', `/api/licenses/${id}/extend`, { days: 365 }],
      ] as const;

    for (const id of [banned!.id, active!.id]) {
      for (const [method, url, body] of attempts(id)) {
        const res = await intruder.call(method, url, body);
        const missing = await intruder.call(method, url.replace(String(id), '2147483647'), body);
        expect(expectError(res, 404, 'NOT_FOUND'), `${method} ${url}`).toEqual(missing.json());
        expect(res.body).not.toContain(id === banned!.id ? banned!.license_key : active!.license_key);
      }
    }

    expect(await licenseRow(banned!.id)).toBe(before.banned);
    expect(await licenseRow(active!.id)).toBe(before.active);
    expect(await auditCount()).toBe(audits);
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: active!.license_key, hwid: 'PC' })).json().code).toBe('VALID');
  });

  it("is not listed: the other seller's application list 404s and /mine leaves it out", async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const { app, plan } = await owner.setup();
    const [l] = await owner.generate(plan.id, 1, { notes: 'secret customer' });
    await intruder.setup();

    expectError(await intruder.call('GET', `/api/applications/${app.id}/licenses`), 404, 'NOT_FOUND');
    for (const query of ['', `?plan_id=${plan.id}`, `?search=${l!.license_key}`, '?search=secret']) {
      const res = await intruder.call('GET', `/api/licenses/mine${query}`);
      expect(res.statusCode).toBe(200);
      expect(res.json(), query).toEqual([]);
      expect(res.headers['x-total-count']).toBe('0');
    }
  });
});

describe('search input', () => {
  it('treats LIKE wildcards literally, so "%" or "_" do not match every key', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    await s.generate(plan.id, 3);
    const [withPercent] = await s.generate(plan.id, 1, { notes: '100% off' });
    for (const [search, expected] of [
      ['%', [withPercent!.id]],
      ['_', []],
      ['\\', []],
      ["' or 1=1 --", []],
    ] as const) {
      const res = await s.call('GET', `/api/applications/${app.id}/licenses?search=${encodeURIComponent(search)}`);
      expect(res.statusCode, search).toBe(200);
      expect(
        res.json().map((l: { id: number }) => l.id),
        search,
      ).toEqual(expected);
    }
  });
});

describe('license keys', () => {
  it('are unpredictable: a thousand random keys share no common prefix beyond chance', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const keys = (await s.generate(plan.id, 1000)).map((k) => k.license_key);
    const firstChars = new Set(keys.map((k) => k.slice(0, 2)));
    // 1000 draws over 256 two-hex-digit prefixes: well over 200 distinct ones are expected.
    expect(firstChars.size).toBeGreaterThan(200);
    const hexCounts = new Map<string, number>();
    for (const k of keys) for (const c of k) hexCounts.set(c, (hexCounts.get(c) ?? 0) + 1);
    expect(hexCounts.size).toBe(16);
    for (const n of hexCounts.values()) expect(n).toBeGreaterThan(1700);
  });
});
