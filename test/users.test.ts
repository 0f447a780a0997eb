import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** An application with `names.length` users, each signed up with a license of its own through the user-auth API. */
async function appWithUsers(s: Seller, names: string[]) {
  const { app, plan } = await s.setup();
  const keys = await s.generate(plan.id, names.length);
  const users: { id: number; username: string; license_id: number; license_key: string }[] = [];
  for (const [i, username] of names.entries()) {
    const res = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[i]!.license_key, username, password: 'hunter2hunter2', hwid: `PC-${i}` });
    expect(res.statusCode, res.body).toBe(201);
    users.push({ ...res.json().user, license_key: keys[i]!.license_key });
  }
  return { app, plan, users };
}

const login = (appId: string, username: string, password: string, hwid: string) => client(h, '/api/user-auth/login', { app_id: appId, username, password, hwid });

async function addCollaborator(owner: Seller, appId: number, role: 'viewer' | 'manager') {
  const member = await h.seller(role);
  const res = await owner.call('POST', `/api/applications/${appId}/collaborators`, { login: member.username, role });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return member;
}

describe("a seller looking after an application's users", () => {
  it('lists them a page at a time with their license, and searches by part of the username', async () => {
    const s = await h.seller();
    const { app, users } = await appWithUsers(s, ['alice', 'bob', 'Alicia', 'carol']);
    const page1 = await s.call('GET', `/api/applications/${app.id}/users?per_page=3`);
    expect(page1.statusCode).toBe(200);
    expect(page1.headers['x-total-count']).toBe('4');
    expect(page1.headers.link).toContain('rel="next"');
    const first = page1.json();
    expect(first.map((u: { username: string }) => u.username)).toEqual(['alice', 'bob', 'Alicia']);
    expect(first[0]).toEqual({
      id: users[0]!.id,
      application_id: app.id,
      username: 'alice',
      hwid: 'PC-0',
      license_id: users[0]!.license_id,
      license: { id: users[0]!.license_id, license_key: users[0]!.license_key, status: 'active', expires_at: expect.any(String) },
      created_at: expect.any(String),
      last_login: expect.any(String),
    });
    expect(JSON.stringify(first)).not.toMatch(/password|argon2/);
    expect((await s.call('GET', `/api/applications/${app.id}/users?per_page=3&page=2`)).json().map((u: { username: string }) => u.username)).toEqual(['carol']);

    const found = await s.call('GET', `/api/applications/${app.id}/users?search=ALI`);
    expect(found.headers['x-total-count']).toBe('2');
    expect(found.json().map((u: { username: string }) => u.username)).toEqual(['alice', 'Alicia']);
    // LIKE's wildcards are taken literally.
    expect((await s.call('GET', `/api/applications/${app.id}/users?search=%25`)).json()).toEqual([]);
    expect((await s.call('GET', `/api/applications/${app.id}/users?search=_`)).json()).toEqual([]);
  });

  it('reads one user, and shows a deleted license as null', async () => {
    const s = await h.seller();
    const { users } = await appWithUsers(s, ['dave']);
    const dave = users[0]!;
    expect((await s.call('GET', `/api/users/${dave.id}`)).json()).toMatchObject({ id: dave.id, username: 'dave', license: { license_key: dave.license_key } });
    expect((await s.call('DELETE', `/api/licenses/${dave.license_id}`)).statusCode).toBe(200);
    expect((await s.call('GET', `/api/users/${dave.id}`)).json()).toMatchObject({ id: dave.id, license_id: null, license: null });
  });

  it('resets a password: the new one is shown once, works at login, the old one no longer does, and the audit keeps neither', async () => {
    const s = await h.seller();
    const { app, users } = await appWithUsers(s, ['erin']);
    const erin = users[0]!;
    const res = await s.call('POST', `/api/users/${erin.id}/reset-password`);
    expect(res.statusCode, res.body).toBe(200);
    const { password, user } = res.json();
    expect(user).toEqual({ id: erin.id, username: 'erin' });
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await login(app.app_id, 'erin', password, 'PC-0')).statusCode).toBe(200);
    expect((await login(app.app_id, 'erin', 'hunter2hunter2', 'PC-0')).statusCode).toBe(401);
    const [row] = await h.deps.db.query<{ password_hash: string }>('select password_hash from app_users where id = $1', [erin.id]);
    expect(row!.password_hash).toMatch(/^\$argon2id\$/);
    const audit = await h.deps.db.query<{ action: string; details: unknown }>("select action, details from audit_logs where target = $1 and action = 'user.password_reset'", [`user:${erin.id}`]);
    expect(audit).toEqual([{ action: 'user.password_reset', details: { username: 'erin' } }]);
    expect(JSON.stringify(audit)).not.toContain(password);
  });

  it('deletes a user (audited): the account is gone, its license stays, and its login fails', async () => {
    const s = await h.seller();
    const { app, users } = await appWithUsers(s, ['frank']);
    const frank = users[0]!;
    const res = await s.call('DELETE', `/api/users/${frank.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'User deleted' });
    expectError(await s.call('GET', `/api/users/${frank.id}`), 404, 'NOT_FOUND');
    expectError(await s.call('DELETE', `/api/users/${frank.id}`), 404, 'NOT_FOUND');
    expect((await s.call('GET', `/api/licenses/${frank.license_id}`)).json()).toMatchObject({ status: 'active' });
    expect((await login(app.app_id, 'frank', 'hunter2hunter2', 'PC-0')).statusCode).toBe(401);
    const [audit] = await h.deps.db.query<{ actor_kind: string; details: unknown }>("select actor_kind, details from audit_logs where action = 'user.deleted' and target = $1", [`user:${frank.id}`]);
    expect(audit).toEqual({ actor_kind: 'developer', details: { username: 'frank', license_id: frank.license_id } });
  });

  it('lets a viewer read but not delete or reset; a manager may', async () => {
    const owner = await h.seller();
    const { app, users } = await appWithUsers(owner, ['gina', 'hank']);
    const viewer = await addCollaborator(owner, app.id, 'viewer');
    expect((await viewer.call('GET', `/api/applications/${app.id}/users`)).json()).toHaveLength(2);
    expect((await viewer.call('GET', `/api/users/${users[0]!.id}`)).statusCode).toBe(200);
    expectError(await viewer.call('DELETE', `/api/users/${users[0]!.id}`), 403, 'FORBIDDEN');
    expectError(await viewer.call('POST', `/api/users/${users[0]!.id}/reset-password`), 403, 'FORBIDDEN');

    const manager = await addCollaborator(owner, app.id, 'manager');
    expect((await manager.call('POST', `/api/users/${users[0]!.id}/reset-password`)).statusCode).toBe(200);
    expect((await manager.call('DELETE', `/api/users/${users[1]!.id}`)).statusCode).toBe(200);
    expect((await owner.call('GET', `/api/applications/${app.id}/users`)).headers['x-total-count']).toBe('1');
  });

  it("hides another tenant's users and application (404), and refuses bad ids and an over-long search with 400", async () => {
    const owner = await h.seller();
    const { app, users } = await appWithUsers(owner, ['ivan']);
    const stranger = await h.seller();
    expectError(await stranger.call('GET', `/api/applications/${app.id}/users`), 404, 'NOT_FOUND');
    expectError(await stranger.call('GET', `/api/users/${users[0]!.id}`), 404, 'NOT_FOUND');
    expectError(await stranger.call('DELETE', `/api/users/${users[0]!.id}`), 404, 'NOT_FOUND');
    expectError(await stranger.call('POST', `/api/users/${users[0]!.id}/reset-password`), 404, 'NOT_FOUND');
    expect((await owner.call('GET', `/api/users/${users[0]!.id}`)).statusCode).toBe(200);

    expectError(await owner.call('GET', '/api/users/0x1'), 400, 'VALIDATION_ERROR');
    expectError(await owner.call('GET', `/api/users/${2 ** 40}`), 400, 'VALIDATION_ERROR');
    expectError(await owner.call('GET', `/api/applications/${app.id}/users?search=${'a'.repeat(65)}`), 400, 'VALIDATION_ERROR');
    expectError(await owner.call('GET', `/api/applications/${app.id}/users?per_page=501`), 400, 'VALIDATION_ERROR');
    expectError(await h.call(null, { method: 'GET', url: `/api/users/${users[0]!.id}` }), 401, 'UNAUTHORIZED');
  });
});
