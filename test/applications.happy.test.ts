import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  // The default cache TTL: changes must show at once through invalidation, not by expiry.
  h = await startHarness();
});
afterAll(() => h?.close());

const DEFAULT_SETTINGS = {
  hwid_lock: true,
  max_hwids: 1,
  hwid_reset_cooldown_hours: 24,
  require_encryption: false,
  paused: false,
  rate_limit_per_minute: 300,
  sharing: { max_ips_per_24h: null, max_hwid_mismatches_per_1h: null, action: 'alert' },
  max_concurrent: null,
  heartbeat_interval_s: 300,
  max_offline_hours: 72,
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('creating an application', () => {
  it('answers 201 with a secret, a 64-hex public key, a lower-case app_id and default settings', async () => {
    const s = await h.seller();
    const res = await s.call('POST', '/api/applications', { name: 'Aimbot Pro', description: 'The best one' });
    expect(res.statusCode).toBe(201);
    const app = res.json();
    expect(app).toMatchObject({
      id: expect.any(Number),
      app_id: expect.stringMatching(UUID),
      name: 'Aimbot Pro',
      description: 'The best one',
      secret: expect.any(String),
      public_key: expect.stringMatching(/^[0-9a-f]{64}$/),
      settings: DEFAULT_SETTINGS,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(app.secret.length).toBeGreaterThanOrEqual(32);
    expect(new Date(app.created_at).toISOString()).toBe(app.created_at);
  });

  it('takes a subset of settings and fills the rest with defaults; description defaults to null', async () => {
    const s = await h.seller();
    const res = await s.call('POST', '/api/applications', { name: 'Custom', settings: { max_hwids: 3, hwid_lock: false } });
    expect(res.statusCode).toBe(201);
    expect(res.json().description).toBeNull();
    expect(res.json().settings).toEqual({ ...DEFAULT_SETTINGS, max_hwids: 3, hwid_lock: false });
  });

  it('gives every application its own id, app_id, secret and key pair', async () => {
    const s = await h.seller();
    const a = (await s.call('POST', '/api/applications', { name: 'A' })).json();
    const b = (await s.call('POST', '/api/applications', { name: 'B' })).json();
    expect(a.id).not.toBe(b.id);
    expect(a.app_id).not.toBe(b.app_id);
    expect(a.secret).not.toBe(b.secret);
    expect(a.public_key).not.toBe(b.public_key);
  });
});

describe('listing and reading applications', () => {
  it('lists the caller applications in creation order, without secrets', async () => {
    const s = await h.seller();
    const a = (await s.call('POST', '/api/applications', { name: 'First' })).json();
    const b = (await s.call('POST', '/api/applications', { name: 'Second' })).json();
    const res = await s.call('GET', '/api/applications');
    expect(res.statusCode).toBe(200);
    const list = res.json() as Record<string, unknown>[];
    expect(list.map((x) => x.id)).toEqual([a.id, b.id]);
    for (const x of list) expect(x).not.toHaveProperty('secret');
    expect(res.body).not.toContain(a.secret);
    expect(res.body).not.toContain(b.secret);
    expect(list[0]).toMatchObject({ app_id: a.app_id, name: 'First', public_key: a.public_key, settings: DEFAULT_SETTINGS });
  });

  it('reads one application with everything but the secret', async () => {
    const s = await h.seller();
    const { secret, ...created } = (await s.call('POST', '/api/applications', { name: 'Readable' })).json();
    const res = await s.call('GET', `/api/applications/${created.id}`);
    expect(res.statusCode).toBe(200);
    const got = res.json();
    expect(got).not.toHaveProperty('secret');
    expect(res.body).not.toContain(secret);
    expect(got).toMatchObject(created);
  });

  it('reports limits that count only the applications the caller owns', async () => {
    const s = await h.seller();
    const other = await h.seller();
    await other.call('POST', '/api/applications', { name: 'Not mine' });
    const limits = (await s.call('GET', '/api/applications/limits')).json();
    expect(limits).toMatchObject({ max_applications: 50, applications_used: 0, max_licenses_per_application: 1_000_000 });
    // The largest count one generate request takes (synchronous or as a background job).
    expect(limits.max_count_per_generate).toBeGreaterThanOrEqual(1000);
    await s.call('POST', '/api/applications', { name: 'One' });
    await s.call('POST', '/api/applications', { name: 'Two' });
    expect((await s.call('GET', '/api/applications/limits')).json().applications_used).toBe(2);
  });
});

describe('updating an application', () => {
  it('merges a partial settings change over the stored settings', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Mergeable', settings: { hwid_lock: false } })).json();
    const res = await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_hwids: 4 } });
    expect(res.statusCode).toBe(200);
    expect(res.json().settings).toEqual({ ...DEFAULT_SETTINGS, hwid_lock: false, max_hwids: 4 });
    const again = await s.call('PUT', `/api/applications/${app.id}`, { settings: { rate_limit_per_minute: 0 } });
    expect(again.json().settings).toEqual({ ...DEFAULT_SETTINGS, hwid_lock: false, max_hwids: 4, rate_limit_per_minute: 0 });
    expect((await s.call('GET', `/api/applications/${app.id}`)).json().settings).toEqual(again.json().settings);
  });

  it('changes the name and clears the description, leaving what was not sent', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Old', description: 'desc', settings: { max_hwids: 2 } })).json();
    const res = await s.call('PUT', `/api/applications/${app.id}`, { name: 'New', description: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: app.id, app_id: app.app_id, name: 'New', description: null, public_key: app.public_key, settings: { max_hwids: 2 } });
    expect(res.json()).not.toHaveProperty('secret');
    expect(new Date(res.json().updated_at).getTime()).toBeGreaterThanOrEqual(new Date(app.updated_at).getTime());
  });

  it('takes effect on the client API at once (pausing answers APP_PAUSED on the next validation)', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const validate = () => client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    expect((await validate()).json().code).toBe('VALID');
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } });
    expect((await validate()).json().code).toBe('APP_PAUSED');
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: false } });
    expect((await validate()).json().code).toBe('VALID');
  });
});

describe('rotating the secret', () => {
  it('answers a new secret, different from the old one, and keeps the signing key', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'Rotating' })).json();
    const res = await s.call('POST', `/api/applications/${app.id}/rotate-secret`);
    expect(res.statusCode).toBe(200);
    const rotated = res.json();
    expect(rotated).toMatchObject({ id: app.id, app_id: app.app_id, public_key: app.public_key, secret: expect.any(String) });
    expect(rotated.secret).not.toBe(app.secret);
    const twice = (await s.call('POST', `/api/applications/${app.id}/rotate-secret`)).json();
    expect(twice.secret).not.toBe(rotated.secret);
    expect((await s.call('GET', `/api/applications/${app.id}`)).json()).not.toHaveProperty('secret');
  });
});

describe('deleting an application', () => {
  it('answers a message, then 404s the application, its plans and licenses, for the seller and the client API', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    // Warm the client cache first: deletion must not leave a stale entry answering.
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).json().code).toBe('VALID');

    const res = await s.call('DELETE', `/api/applications/${app.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Application deleted' });

    expect((await s.call('GET', `/api/applications/${app.id}`)).statusCode).toBe(404);
    expect((await s.call('GET', '/api/applications')).json()).toEqual([]);
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).statusCode).toBe(404);
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).statusCode).toBe(404);
    expect((await s.call('DELETE', `/api/applications/${app.id}`)).statusCode).toBe(404);
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).statusCode).toBe(404);
    expect((await s.call('GET', '/api/applications/limits')).json().applications_used).toBe(0);
  });
});
