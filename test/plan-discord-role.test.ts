import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { discordKeyPair, GUILD, MANAGE_GUILD, modal, postInteraction, setupForm, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { startHarness, type AppView, type Harness, type PlanView, type Seller } from './support/harness.js';

/**
 * A member holding the role a server was linked with (`/setup seller_role`) runs seller commands
 * with the rights of the developer who linked it, an admin or the owner. A plan's `discord_role_id`
 * is what the bot grants to whoever redeems one of its keys. A manager may edit plans but not the
 * application's settings; were a plan allowed to grant the seller role, a manager could redeem a
 * key of it and act as the admin who linked the server.
 */
const SELLER_ROLE = '900000000000000077';
const CUSTOMER_ROLE = '900000000000000078';
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const mallory: Member = { id: '100000000000000066', name: 'Mallory' };

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let owner: Seller;
let manager: Seller;
let app: AppView;
let plan: PlanView;

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  owner = await h.seller('owner');
  manager = await h.seller('manager');
  ({ app, plan } = await owner.setup());
  const apiKey = (await owner.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
  const linked = await postInteraction(h.app, keys, setupForm(admin, { app_id: app.app_id, api_key: apiKey }, { sellerRoleId: SELLER_ROLE }));
  expect(String(linked.json().data?.content)).toContain('now linked');
  const added = await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: manager.username, role: 'manager' });
  expect(added.statusCode, added.body).toBe(201);
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe("a plan's Discord role", () => {
  it('may not be the seller role of a server linked to the application, for a new plan or a changed one', async () => {
    expectError(await manager.call('PUT', `/api/plans/${plan.id}`, { discord_role_id: SELLER_ROLE }), 400, 'VALIDATION_ERROR');
    expectError(await manager.call('POST', '/api/plans/', { application_id: app.id, name: 'Staff', duration_days: 0, discord_role_id: SELLER_ROLE }), 400, 'VALIDATION_ERROR');
    // Not the owner either: every customer who redeemed such a key would become a seller.
    expectError(await owner.call('PUT', `/api/plans/${plan.id}`, { discord_role_id: SELLER_ROLE }), 400, 'VALIDATION_ERROR');
    const after = (await owner.call('GET', `/api/applications/${app.id}/plans`)).json() as PlanView[];
    expect(after.map((p) => (p as PlanView & { discord_role_id: string | null }).discord_role_id)).toEqual([null]);

    // Any other role is still a plan's to grant.
    const customer = await manager.call('PUT', `/api/plans/${plan.id}`, { discord_role_id: CUSTOMER_ROLE });
    expect(customer.statusCode, customer.body).toBe(200);
    expect(customer.json().discord_role_id).toBe(CUSTOMER_ROLE);
  });

  it('so a manager cannot redeem their way into the seller role and do what only admins may', async () => {
    const staff = (await owner.call('POST', '/api/plans/', { application_id: app.id, name: 'Staff pass', duration_days: 0 })).json() as PlanView;
    await manager.call('PUT', `/api/plans/${staff.id}`, { discord_role_id: SELLER_ROLE });
    const [key] = await manager.generate(staff.id, 1);
    const redeemed = await postInteraction(h.app, keys, modal(mallory, 'lic:redeem-modal', { license_key: key!.license_key }));
    expect(redeemed.statusCode).toBe(200);
    // Let the role grant (run after the answer) reach the stand-in, if it is made at all.
    await new Promise((r) => setTimeout(r, 300));
    const grants = stub.calls.filter((c) => c.method === 'PUT' && c.path === `/guilds/${GUILD}/members/${mallory.id}/roles/${SELLER_ROLE}`);
    expect(grants).toEqual([]);
  });

  it('is what makes a member a seller: with it, a member without Manage Server runs admin-only commands', async () => {
    // Why the grant above matters: Discord vouches for the member's roles, and the seller role
    // alone lets them pause the application, which a manager may not do through the API.
    expectError(await manager.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } }), 403, 'FORBIDDEN');
    await postInteraction(h.app, keys, slash({ ...mallory, roles: [SELLER_ROLE] }, 'app', [], 'pause'));
    expect(((await owner.call('GET', `/api/applications/${app.id}`)).json() as AppView).settings.paused).toBe(true);
  });
});
