import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Round-trip budgets of the seller writes over HTTP with a seller token, counted on the wire
 * between Keycord and Postgres (deterministic, unlike time): a change that adds a round trip to
 * one of them fails here. Each write is one read (the license, its plan and the seller's role)
 * and one statement that updates, audits and emits together; the token is remembered briefly.
 * Before: a ban was 8 round trips (token, BEGIN, locked read, application read, UPDATE, audit,
 * outbox, COMMIT); reading a license 4.
 */
let h: Harness;
let s: Seller;
let planId: number;
beforeAll(async () => {
  h = await startHarness({ countRoundTrips: true });
  s = await h.seller();
  planId = (await s.setup()).plan.id;
});
afterAll(() => h?.close());

interface Write {
  name: string;
  method: 'POST' | 'PUT' | 'DELETE';
  path: (id: number) => string;
  body?: unknown;
  /** A license that is already banned, for unban. */
  banned?: boolean;
  budget: number;
}

const WRITES: Write[] = [
  { name: 'ban', method: 'POST', path: (id) => `/api/licenses/${id}/ban`, body: { reason: 'chargeback' }, budget: 2 },
  { name: 'unban', method: 'POST', path: (id) => `/api/licenses/${id}/unban`, banned: true, budget: 2 },
  { name: 'extend', method: 'POST', path: (id) => `/api/licenses/${id}/extend`, body: { days: 7 }, budget: 2 },
  { name: 'reset-hwid', method: 'POST', path: (id) => `/api/licenses/${id}/reset-hwid`, budget: 2 },
  { name: 'notes', method: 'PUT', path: (id) => `/api/licenses/${id}/notes`, body: { notes: 'VIP' }, budget: 2 },
  { name: 'delete', method: 'DELETE', path: (id) => `/api/licenses/${id}`, budget: 2 },
];

async function freshLicenses(count: number, banned: boolean) {
  const keys = await s.generate(planId, count);
  if (banned) for (const k of keys) expect((await s.call('POST', `/api/licenses/${k.id}/ban`, {})).statusCode).toBe(200);
  return keys.map((k) => k.id);
}

describe('database round trips of seller writes', () => {
  for (const write of WRITES) {
    it(`${write.name} costs at most ${write.budget} round trips`, async () => {
      const [warm, measured] = await freshLicenses(2, write.banned ?? false);
      // Warm: the first use of a statement on a connection pays a Describe, and the token is looked up once.
      expect((await s.call(write.method, write.path(warm!), write.body)).statusCode).toBe(200);
      const cost = await h.roundTrips!.measure(async () => expect((await s.call(write.method, write.path(measured!), write.body)).statusCode).toBe(200));
      expect(cost.roundTrips).toBeLessThanOrEqual(write.budget);
    });
  }

  it('reading one license (GET /api/licenses/:id) costs at most 1 round trip', async () => {
    const [warm, measured] = await freshLicenses(2, false);
    expect((await s.call('GET', `/api/licenses/${warm}`)).statusCode).toBe(200);
    const cost = await h.roundTrips!.measure(async () => expect((await s.call('GET', `/api/licenses/${measured}`)).json()).toMatchObject({ id: measured }));
    expect(cost.roundTrips).toBeLessThanOrEqual(1);
  });

  it('a ban within its budget still writes its audit entry and its outbox event, with the change', async () => {
    const [warm, measured] = await freshLicenses(2, false);
    await s.call('POST', `/api/licenses/${warm}/ban`, {});
    const cost = await h.roundTrips!.measure(() => s.call('POST', `/api/licenses/${measured}/ban`, { reason: 'refund abuse' }));
    expect(cost.roundTrips).toBeLessThanOrEqual(2);

    const [license] = await h.deps.db.query<{ status: string; ban_reason: string; license_key: string }>('select status, ban_reason, license_key from licenses where id = $1', [measured]);
    expect(license).toMatchObject({ status: 'banned', ban_reason: 'refund abuse' });
    const audit = await h.deps.db.query<{ actor_kind: string; actor_id: string; action: string; details: string }>(
      "select actor_kind, actor_id, action, details::text from audit_logs where target = $1 and action = 'license.banned'",
      [`license:${measured}`],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_kind: 'developer', actor_id: String(s.developerId) });
    expect(JSON.parse(audit[0]!.details)).toEqual({ license_key: license!.license_key, reason: 'refund abuse' });
    const events = await h.deps.db.query<{ kind: string; payload: string }>("select kind, payload::text from outbox where type = 'license.banned' and payload->'license'->>'id' = $1", [
      String(measured),
    ]);
    expect(events).toHaveLength(1);
    expect(events[0]!.kind).toBe('event');
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ license: { id: measured, license_key: license!.license_key, status: 'banned' } });
  });
});

describe('seller writes racing each other', () => {
  it('twenty simultaneous extends of one license all land: 20 days more, 20 audit entries', async () => {
    const [id] = await freshLicenses(1, false);
    const before = (await s.call('GET', `/api/licenses/${id}`)).json();
    const answers = await Promise.all(Array.from({ length: 20 }, () => s.call('POST', `/api/licenses/${id}/extend`, { days: 1 })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    const [row] = await h.deps.db.query<{ duration_days: number }>('select duration_days from licenses where id = $1', [id]);
    expect(row!.duration_days).toBe(before.plan.duration_days + 20);
    const [audit] = await h.deps.db.query<{ n: number }>("select count(*)::int as n from audit_logs where target = $1 and action = 'license.extended'", [`license:${id}`]);
    expect(audit!.n).toBe(20);
  });

  it('a ban and a delete racing: the license ends deleted, and the ban is audited only if it landed first', async () => {
    const [id] = await freshLicenses(1, false);
    const [ban, del] = await Promise.all([s.call('POST', `/api/licenses/${id}/ban`, {}), s.call('DELETE', `/api/licenses/${id}`)]);
    expect(del.statusCode).toBe(200);
    expect([200, 404]).toContain(ban.statusCode);
    const audit = await h.deps.db.query<{ action: string }>('select action from audit_logs where target = $1 order by id', [`license:${id}`]);
    expect(audit.map((a) => a.action)).toEqual(ban.statusCode === 200 ? ['license.banned', 'license.deleted'] : ['license.deleted']);
  });
});

describe('the same writes on the embedded database (PGlite)', () => {
  let e: Harness;
  beforeAll(async () => {
    e = await startHarness({ database: 'pglite' });
  }, 120_000);
  afterAll(() => e?.close());

  it('ban, unban, extend, reset-hwid, notes and delete answer as on Postgres and leave their audit entries and events', async () => {
    const seller = await e.seller();
    const { plan } = await seller.setup();
    const [license] = await seller.generate(plan.id, 1);
    const id = license!.id;
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
      const res = await seller.call(method, path, body);
      expect(res.statusCode, `${method} ${path}: ${res.body}`).toBe(200);
      return res.json();
    };

    expect(await call('POST', `/api/licenses/${id}/ban`, { reason: 'chargeback' })).toMatchObject({ id, status: 'banned', ban_reason: 'chargeback' });
    expect(await call('POST', `/api/licenses/${id}/unban`)).toMatchObject({ id, status: 'inactive', ban_reason: null });
    expect(await call('POST', `/api/licenses/${id}/extend`, { days: 5 })).toMatchObject({ id, expires_at: null });
    expect(await call('POST', `/api/licenses/${id}/reset-hwid`)).toMatchObject({ license: { id, hwid: null } });
    expect(await call('PUT', `/api/licenses/${id}/notes`, { notes: 'VIP' })).toMatchObject({ id, notes: 'VIP' });
    expect(await call('GET', `/api/licenses/${id}`)).toMatchObject({ id, notes: 'VIP', status: 'inactive' });
    expect(await call('DELETE', `/api/licenses/${id}`)).toEqual({ message: 'License deleted' });
    expect((await seller.call('GET', `/api/licenses/${id}`)).statusCode).toBe(404);

    const audit = await e.deps.db.query<{ action: string; details: string }>('select action, details::text from audit_logs where target = $1 order by id', [`license:${id}`]);
    expect(audit.map((a) => a.action)).toEqual(['license.banned', 'license.unbanned', 'license.extended', 'license.hwid_reset', 'license.notes_updated', 'license.deleted']);
    expect(JSON.parse(audit[2]!.details)).toEqual({ license_key: license!.license_key, days: 5 });
    const events = await e.deps.db.query<{ type: string; payload: string }>("select type, payload::text from outbox where kind = 'event' and payload->'license'->>'id' = $1 order by id", [String(id)]);
    expect(events.map((ev) => ev.type)).toEqual(['license.banned', 'license.hwid_reset', 'license.deleted']);
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ license: { id, status: 'banned', license_key: license!.license_key } });
  });
});
