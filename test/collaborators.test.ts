import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';

let h: Harness;
let owner: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };
const members: Record<string, Seller> = {};
let ownerApiKeyId: number;

beforeAll(async () => {
  // Usage is flushed by the test when it wants it (a timer flush mid-test would break the batching check).
  h = await startHarness({ env: { USAGE_FLUSH_MS: '60000' } });
  owner = await h.seller('owner');
  ({ app, plan } = await owner.setup());
  for (const role of ['admin', 'manager', 'viewer'] as const) {
    members[role] = await h.seller(role);
    const added = await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: members[role]!.username, role });
    expect(added.statusCode).toBe(201);
  }
  members.owner = owner;
  members.stranger = await h.seller('stranger');
  ownerApiKeyId = (await owner.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().id;
});
afterAll(() => h?.close());

type Need = 'read' | 'manage' | 'admin';
let seq = 0;
const upload = (s: Seller) => {
  const form = multipart([{ name: 'file', filename: `f${++seq}.bin`, data: Buffer.from(`content ${seq}`) }]);
  return s.call('POST', `/api/applications/${app.id}/files`, form.payload as never, form.headers);
};
let servers = 0;
/** A Discord server the owner linked (as /setup records it), for a route that unlinks one. */
async function linkedServer() {
  const guildId = String(900000000000000000n + BigInt(++servers));
  await h.deps.db.query(`insert into discord_guilds (guild_id, application_id, developer_id, api_key_id, linked_by) values ($1, $2, $3, $4, '100000000000000001')`, [
    guildId,
    app.id,
    owner.developerId,
    ownerApiKeyId,
  ]);
  return guildId;
}
const ROLES = ['owner', 'admin', 'manager', 'viewer', 'stranger'] as const;
const ALLOWED: Record<Need, string[]> = {
  read: ['owner', 'admin', 'manager', 'viewer'],
  manage: ['owner', 'admin', 'manager'],
  admin: ['owner', 'admin'],
};

const storeIntegration = () => ({ provider: 'sellix', secret: 'store-secret-0123', products: [{ product_id: `prod-${++seq}`, plan_id: plan.id }] });

/** Each seller route with the least role it needs; `call` builds fresh targets so calls don't interfere. */
const ROUTES: { name: string; need: Need; call: (s: Seller) => Promise<{ statusCode: number }> }[] = [
  { name: 'GET application', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}`) },
  { name: 'PUT application', need: 'admin', call: (s) => s.call('PUT', `/api/applications/${app.id}`, { description: 'x' }) },
  { name: 'rotate secret', need: 'admin', call: (s) => s.call('POST', `/api/applications/${app.id}/rotate-secret`) },
  { name: 'list plans', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/plans`) },
  { name: 'create plan', need: 'manage', call: (s) => s.call('POST', '/api/plans/', { application_id: app.id, name: 'P', duration_days: 1 }) },
  { name: 'update plan', need: 'manage', call: (s) => s.call('PUT', `/api/plans/${plan.id}`, { name: 'Monthly' }) },
  {
    name: 'delete plan',
    need: 'manage',
    call: async (s) => s.call('DELETE', `/api/plans/${(await owner.call('POST', '/api/plans/', { application_id: app.id, name: 'Tmp', duration_days: 1 })).json().id}`),
  },
  { name: 'generate', need: 'manage', call: (s) => s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1 }) },
  { name: 'list licenses', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/licenses`) },
  { name: 'get license', need: 'read', call: async (s) => s.call('GET', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}`) },
  { name: 'license users', need: 'read', call: async (s) => s.call('GET', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}/users`) },
  { name: 'notes', need: 'manage', call: async (s) => s.call('PUT', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}/notes`, { notes: 'n' }) },
  { name: 'ban', need: 'manage', call: async (s) => s.call('POST', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}/ban`, {}) },
  { name: 'reset hwid', need: 'manage', call: async (s) => s.call('POST', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}/reset-hwid`) },
  { name: 'extend', need: 'manage', call: async (s) => s.call('POST', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}/extend`, { days: 1 }) },
  { name: 'delete license', need: 'manage', call: async (s) => s.call('DELETE', `/api/licenses/${(await owner.generate(plan.id))[0]!.id}`) },
  { name: 'list webhooks', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/webhooks`) },
  { name: 'create webhook', need: 'admin', call: (s) => s.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/x', events: ['license.banned'] }) },
  { name: 'unlink discord server', need: 'admin', call: async (s) => s.call('DELETE', `/api/applications/${app.id}/discord-guilds/${await linkedServer()}`) },
  { name: 'list collaborators', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/collaborators`) },
  { name: 'list variables', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/variables`) },
  { name: 'create variable', need: 'manage', call: (s) => s.call('POST', `/api/applications/${app.id}/variables`, { name: `v${++seq}`, value: 'x', public: false }) },
  {
    name: 'update variable',
    need: 'manage',
    call: async (s) =>
      s.call('PUT', `/api/variables/${(await owner.call('POST', `/api/applications/${app.id}/variables`, { name: `u${++seq}`, value: 'x', public: false })).json().id}`, { value: 'y' }),
  },
  {
    name: 'delete variable',
    need: 'manage',
    call: async (s) => s.call('DELETE', `/api/variables/${(await owner.call('POST', `/api/applications/${app.id}/variables`, { name: `d${++seq}`, value: 'x', public: false })).json().id}`),
  },
  { name: 'list files', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/files`) },
  { name: 'upload file', need: 'manage', call: (s) => upload(s) },
  { name: 'delete file', need: 'manage', call: async (s) => s.call('DELETE', `/api/files/${(await upload(owner)).json().id}`) },
  { name: 'list blacklist', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/blacklist`) },
  { name: 'add to blacklist', need: 'manage', call: (s) => s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: `HW-${++seq}` }) },
  {
    name: 'remove from blacklist',
    need: 'manage',
    call: async (s) => s.call('DELETE', `/api/blacklist/${(await owner.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: `RM-${++seq}` })).json().id}`),
  },
  // A store integration issues keys of a plan, as generating does: managers connect and change them.
  { name: 'list integrations', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/integrations`) },
  { name: 'connect store', need: 'manage', call: (s) => s.call('POST', `/api/applications/${app.id}/integrations`, storeIntegration()) },
  {
    name: 'update integration',
    need: 'manage',
    call: async (s) => s.call('PUT', `/api/integrations/${(await owner.call('POST', `/api/applications/${app.id}/integrations`, storeIntegration())).json().id}`, { secret: 'store-secret-rotated-1' }),
  },
  {
    name: 'delete integration',
    need: 'manage',
    call: async (s) => s.call('DELETE', `/api/integrations/${(await owner.call('POST', `/api/applications/${app.id}/integrations`, storeIntegration())).json().id}`),
  },
  { name: 'logs', need: 'read', call: (s) => s.call('GET', `/api/applications/${app.id}/logs`) },
  { name: 'statistics', need: 'read', call: (s) => s.call('GET', `/api/statistics?application_id=${app.id}`) },
];

describe('collaborator roles, on every seller route', () => {
  for (const route of ROUTES) {
    for (const role of ROLES) {
      const expected = role === 'stranger' ? 404 : ALLOWED[route.need].includes(role) ? 'ok' : 403;
      it(`${role} → ${route.name}: ${expected}`, async () => {
        const res = await route.call(members[role]!);
        if (expected === 'ok') expect(res.statusCode, route.name).toBeLessThan(300);
        else expect(res.statusCode, route.name).toBe(expected);
      });
    }
  }
});

describe('managing collaborators', () => {
  it('lists members with their roles, and keeps the owner in place', async () => {
    const list = (await owner.call('GET', `/api/applications/${app.id}/collaborators`)).json();
    expect(list.map((m: { role: string }) => m.role).sort()).toEqual(['admin', 'manager', 'owner', 'viewer']);
    const admin = members.admin!;
    expect((await admin.call('PUT', `/api/applications/${app.id}/collaborators/${owner.developerId}`, { role: 'viewer' })).statusCode).toBe(403);
    expect((await admin.call('DELETE', `/api/applications/${app.id}/collaborators/${owner.developerId}`)).statusCode).toBe(403);
    expect((await admin.call('DELETE', `/api/applications/${app.id}`)).statusCode).toBe(403);
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: members.viewer!.username, role: 'admin' })).statusCode).toBe(409);
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: 'nobody-here', role: 'admin' })).statusCode).toBe(404);
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: members.stranger!.username, role: 'owner' })).statusCode).toBe(400);
  });

  it('changes a role, lets a member leave, and shows the app in the member list', async () => {
    const extra = await h.seller('extra');
    await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: extra.username, role: 'viewer' });
    expect((await extra.call('GET', '/api/applications')).json().map((a: { id: number }) => a.id)).toContain(app.id);
    expect((await extra.call('POST', '/api/plans/', { application_id: app.id, name: 'no', duration_days: 1 })).statusCode).toBe(403);
    const promoted = await members.admin!.call('PUT', `/api/applications/${app.id}/collaborators/${extra.developerId}`, { role: 'manager' });
    expect(promoted.json()).toMatchObject({ developer_id: extra.developerId, role: 'manager' });
    expect((await extra.call('POST', '/api/plans/', { application_id: app.id, name: 'yes', duration_days: 1 })).statusCode).toBe(201);
    expect((await extra.call('DELETE', `/api/applications/${app.id}/collaborators/${extra.developerId}`)).statusCode).toBe(200);
    expect((await extra.call('GET', `/api/applications/${app.id}`)).statusCode).toBe(404);
    const audit = (await owner.call('GET', `/api/applications/${app.id}/logs?type=audit&per_page=500`)).json();
    expect(audit.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['collaborator.added', 'collaborator.updated', 'collaborator.removed']));
  });

  it('reads the logs with filters and pages', async () => {
    const all = await owner.call('GET', `/api/applications/${app.id}/logs?per_page=2`);
    expect(all.json()).toHaveLength(2);
    expect(Number(all.headers['x-total-count'])).toBeGreaterThan(2);
    expect(all.json()[0]).toMatchObject({ type: 'audit', actor: { kind: 'developer' } });
    const future = await owner.call('GET', `/api/applications/${app.id}/logs?since=2999-01-01T00:00:00Z`);
    expect(future.json()).toEqual([]);
    expect((await owner.call('GET', `/api/applications/${app.id}/logs?since=yesterday`)).statusCode).toBe(400);
    expect((await owner.call('GET', `/api/applications/${app.id}/logs?type=nope`)).statusCode).toBe(400);
  });
});

describe('validation records', () => {
  it('are written in batches and read back through the logs', async () => {
    const [lic] = await owner.generate(plan.id);
    await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'REC-1' } });
    await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: 'NOPE', hwid: 'REC-2' } });
    await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'REC-1' } });
    expect((await owner.call('GET', `/api/applications/${app.id}/logs?type=validation`)).json()).toEqual([]);
    await h.deps.usage.flush();
    const records = (await members.viewer!.call('GET', `/api/applications/${app.id}/logs?type=validation`)).json();
    expect(records.map((r: { details: { code: string } }) => r.details.code)).toEqual(['NOT_FOUND', 'VALID']);
    // Identical validations within one flush are one line with a count.
    expect(records[1]).toMatchObject({ type: 'validation', actor: { kind: 'client' }, target: `license:${lic!.id}`, details: { hwid: 'REC-1', count: 2 }, ip: '127.0.0.1' });
    expect(records[0].details.count).toBe(1);
    expect((await members.stranger!.call('GET', `/api/applications/${app.id}/logs?type=validation`)).statusCode).toBe(404);
  });
});
