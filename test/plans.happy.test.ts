import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';

const clock = fixedClock(new Date('2026-03-01T00:00:00Z'));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock });
});
afterAll(() => h?.close());

const newApp = async (s: Seller, name = 'App') => (await s.call('POST', '/api/applications', { name })).json() as { id: number; app_id: string };

describe('creating a plan', () => {
  it('answers 201 with the plan as API.md shows it', async () => {
    const s = await h.seller();
    const app = await newApp(s);
    const res = await s.call('POST', '/api/plans/', {
      application_id: app.id,
      name: 'Monthly VIP',
      duration_days: 30,
      max_hwids: 2,
      hwid_reset_cooldown_hours: 12,
      discord_role_id: '123456789012345678',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.any(Number),
      application_id: app.id,
      name: 'Monthly VIP',
      duration_days: 30,
      max_hwids: 2,
      hwid_reset_cooldown_hours: 12,
      discord_role_id: '123456789012345678',
      sharing: null,
      max_concurrent: null,
      heartbeat_interval_s: null,
      max_offline_hours: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it('takes the optional fields as null (inherit from the application), and 0 days as lifetime', async () => {
    const s = await h.seller();
    const app = await newApp(s);
    const res = await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Lifetime', duration_days: 0 });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ name: 'Lifetime', duration_days: 0, max_hwids: null, hwid_reset_cooldown_hours: null, discord_role_id: null });
  });

  it('is reachable without the trailing slash too', async () => {
    const s = await h.seller();
    const app = await newApp(s);
    const res = await s.call('POST', '/api/plans', { application_id: app.id, name: 'Weekly', duration_days: 7 });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ application_id: app.id, name: 'Weekly', duration_days: 7 });
  });
});

describe('listing plans', () => {
  it("lists one application's plans in creation order, and only that application's", async () => {
    const s = await h.seller();
    const a = await newApp(s, 'A');
    const b = await newApp(s, 'B');
    const p1 = (await s.call('POST', '/api/plans/', { application_id: a.id, name: 'One', duration_days: 1 })).json();
    const p2 = (await s.call('POST', '/api/plans/', { application_id: a.id, name: 'Two', duration_days: 2 })).json();
    const p3 = (await s.call('POST', '/api/plans/', { application_id: b.id, name: 'Three', duration_days: 3 })).json();
    const listA = await s.call('GET', `/api/applications/${a.id}/plans`);
    expect(listA.statusCode).toBe(200);
    expect(listA.json()).toEqual([p1, p2]);
    expect((await s.call('GET', `/api/applications/${b.id}/plans`)).json()).toEqual([p3]);
  });

  it('answers an empty array for an application without plans', async () => {
    const s = await h.seller();
    const app = await newApp(s);
    const res = await s.call('GET', `/api/applications/${app.id}/plans`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([]);
  });
});

describe('updating a plan', () => {
  it('changes only the fields sent and can clear an override back to null', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { max_hwids: 3, discord_role_id: '123456789012345678' } });
    clock.advance(60_000);
    const res = await s.call('PUT', `/api/plans/${plan.id}`, { name: 'Renamed', max_hwids: null });
    expect(res.statusCode).toBe(200);
    const updated = res.json();
    expect(updated).toMatchObject({ id: plan.id, application_id: app.id, name: 'Renamed', duration_days: 30, max_hwids: null, discord_role_id: '123456789012345678' });
    expect(updated.updated_at).toBe(clock.now().toISOString());
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()).toEqual([updated]);
  });

  it('applies a new duration to keys generated afterwards; existing keys keep theirs', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [before] = await s.generate(plan.id);
    await s.call('PUT', `/api/plans/${plan.id}`, { duration_days: 90 });
    const [after] = await s.generate(plan.id);
    const activate = (key: string) => client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: key, hwid: 'PC' });
    expect((await activate(before!.license_key)).json().license.expires_at).toBe(new Date(clock.now().getTime() + 30 * 86_400_000).toISOString());
    expect((await activate(after!.license_key)).json().license.expires_at).toBe(new Date(clock.now().getTime() + 90 * 86_400_000).toISOString());
  });
});

describe('deleting a plan', () => {
  it('deletes an unused plan', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const res = await s.call('DELETE', `/api/plans/${plan.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ message: 'Plan deleted', licenses_deleted: 0 });
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()).toEqual([]);
  });

  it('with ?force=true deletes the plan and the licenses that use it, and no others', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const other = (await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Other', duration_days: 7 })).json();
    const doomed = await s.generate(plan.id, 3);
    const [kept] = await s.generate(other.id, 1);

    const res = await s.call('DELETE', `/api/plans/${plan.id}?force=true`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ message: 'Plan deleted', licenses_deleted: 3 });
    for (const l of doomed) expect((await s.call('GET', `/api/licenses/${l.id}`)).statusCode).toBe(404);
    expect((await s.call('GET', `/api/licenses/${kept!.id}`)).statusCode).toBe(200);
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json().map((p: { id: number }) => p.id)).toEqual([other.id]);
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: doomed[0]!.license_key, hwid: 'PC' })).json().code).toBe('NOT_FOUND');
  });

  it('with ?force=true leaves, per deleted license, the audit entry and license.deleted event a delete leaves', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const doomed = await s.generate(plan.id, 3);
    expect((await s.call('DELETE', `/api/plans/${plan.id}?force=true`)).statusCode).toBe(200);

    const sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const events = await sql`select payload->'license'->>'license_key' as key from outbox where application_id = ${app.id} and type = 'license.deleted' order by id`;
      expect(events.map((e) => e.key)).toEqual(doomed.map((l) => l.license_key));
      const audits = await sql`select target from audit_logs where application_id = ${app.id} and action = 'license.deleted' order by id`;
      expect(audits.map((a) => a.target)).toEqual(doomed.map((l) => `license:${l.id}`));
    } finally {
      await sql.end();
    }
  });
});
