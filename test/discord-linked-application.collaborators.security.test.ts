import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expiryNoticeTargets } from '../src/core/discord/expiry-notice-targets.js';
import { orderDeliveryTargets } from '../src/core/discord/order-delivery-targets.js';
import { failGenerationJob } from '../src/core/jobs/run-generation-job.js';
import { client, startHarness, type Harness, type LicenseView, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { expectError } from './support/expect-error.js';
import {
  button,
  CHANNEL,
  discordKeyPair,
  ephemeralText as ephemeral,
  GUILD,
  linkServer,
  MANAGE_GUILD,
  modal,
  setupForm,
  select,
  slash,
  type KeyPair,
  type Member,
} from './support/discord-interactions.js';
import { waitFor } from './support/wait.js';

/**
 * A server linked by a collaborator acts with that collaborator's admin role: customers redeem the
 * application's keys there and its alerts are posted there. Once the owner removes them, they
 * leave, or their role drops below admin, the server is no longer linked — nothing of the
 * application answers or arrives there — while the owner's own server goes on. The owner (or an
 * admin) may also unlink a server someone else linked.
 */

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let owner: Seller;
let viewer: Seller;
let stranger: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };

const PLAN_ROLE = '900000000000000700';
const NOT_LINKED = 'This server is not linked to a Keycord application yet. An admin can run /setup.';
const serverAdmin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000071', name: 'Alice' };

let servers = 0;
/** A Discord server of the collaborator's own, with its log channel. */
const nextServer = () => {
  servers++;
  return { guild: String(900000000000000200n + BigInt(servers)), channel: String(900000000000000300n + BigInt(servers)) };
};

const inGuild = <T extends object>(payload: T, guildId: string) => ({ ...payload, guild_id: guildId });
const ephemeralText = (payload: unknown) => ephemeral(h.app, keys, payload);
const linkRow = async (guildId: string) => (await h.deps.db.query<{ developer_id: number }>('select developer_id from discord_guilds where guild_id = $1', [guildId]))[0];
const licenseRow = async (id: number) => (await h.deps.db.query<{ discord_user_id: string | null; hwids: string[] }>('select discord_user_id, hwids from licenses where id = $1', [id]))[0]!;
const rolesGranted = (guild: string) => stub.find('PUT', new RegExp(`^/guilds/${guild}/members/${alice.id}/roles/`));
const collaborators = (id: number) => `/api/applications/${app.id}/collaborators/${id}`;
const unlinkUrl = (guild: string, applicationId = app.id) => `/api/applications/${applicationId}/discord-guilds/${guild}`;

async function setupIn(guild: string, channel: string, apiKey: string, appId = app.app_id) {
  return ephemeralText(setupForm(serverAdmin, { app_id: appId, api_key: apiKey }, { guildId: guild, logChannelId: channel }));
}

/** A developer the owner adds as admin, who links a server of theirs with their own API key. */
async function adminWithServer(name: string) {
  const dev = await h.seller(name);
  expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: dev.username, role: 'admin' })).statusCode).toBe(201);
  const apiKey = (await dev.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
  const { guild, channel } = nextServer();
  expect(await setupIn(guild, channel, apiKey)).toContain('now linked');
  expect((await linkRow(guild))?.developer_id).toBe(dev.developerId);
  return { dev, apiKey, guild, channel };
}

/**
 * Alice redeems a key in the collaborator's server and binds it to her PC while the server is
 * linked, so there is something of hers there to list and reset afterwards.
 */
async function aliceOwnsALicenseIn(guild: string): Promise<LicenseView> {
  const [license] = await owner.generate(plan.id, 1);
  expect(await ephemeralText(inGuild(modal(alice, 'lic:redeem-modal', { license_key: license!.license_key }), guild))).toContain('✅ Redeemed');
  expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: license!.license_key, hwid: 'ALICE-PC' })).json().code).toBe('VALID');
  expect(await ephemeralText(inGuild(slash(alice, 'licenses'), guild))).not.toContain(NOT_LINKED);
  return license!;
}

/** Everything a customer does in `guild` is refused as in a server never linked, and changes nothing. */
async function expectNothingAnswersIn(guild: string, hers: LicenseView) {
  const [unclaimed] = await owner.generate(plan.id, 1);
  stub.clear();
  expect(await ephemeralText(inGuild(modal(alice, 'lic:redeem-modal', { license_key: unclaimed!.license_key }), guild))).toContain(NOT_LINKED);
  expect(await ephemeralText(inGuild(slash(alice, 'licenses'), guild))).toContain(NOT_LINKED);
  expect(await ephemeralText(inGuild(button(alice, 'lic:licenses'), guild))).toContain(NOT_LINKED);
  expect(await ephemeralText(inGuild(button(alice, 'lic:reset'), guild))).toContain(NOT_LINKED);
  expect(await ephemeralText(inGuild(select(alice, 'lic:reset-select', [String(hers.id)]), guild))).toContain(NOT_LINKED);
  expect(await ephemeralText(inGuild(slash(serverAdmin, 'plans'), guild))).toContain(NOT_LINKED);
  expect((await licenseRow(unclaimed!.id)).discord_user_id).toBeNull();
  expect((await licenseRow(hers.id)).hwids).toEqual(['ALICE-PC']);
  expect(rolesGranted(guild)).toEqual([]);
}

/** Neither the log-channel alerts nor the expiry notices nor store-order roles reach the server any more. */
async function expectNoTrafficTo(guild: string, channel: string) {
  expect(await linkRow(guild)).toBeUndefined();
  const notices = await expiryNoticeTargets(h.deps.db, app.id);
  expect(notices?.logChannelIds).toContain(CHANNEL);
  expect(notices?.logChannelIds).not.toContain(channel);
  expect((await orderDeliveryTargets(h.deps.db, app.id, plan.id))?.guildIds).not.toContain(guild);
  // An alert still reaches the owner's log channel, and only it.
  stub.clear();
  const [job] = await h.deps.db.query<{ id: number }>(
    `insert into jobs (application_id, type, status, count, generated, params, actor) values ($1, 'generate_licenses', 'running', 3000, 0, $2::jsonb, '{}'::jsonb) returning id`,
    [app.id, JSON.stringify({ plan_id: plan.id, spec: {}, notes: null, discord_user_id: null })],
  );
  await failGenerationJob(h.deps, job!.id, 'stopped for the test');
  await waitFor(() => stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`)).some((c) => String(c.json?.content).startsWith(`⛔ Job #${job!.id}`)), 15_000, 'the alert');
  expect(stub.find('POST', new RegExp(`^/channels/${channel}/messages$`))).toEqual([]);
}

async function expectUnlinkAudited(guild: string, developerId: number, reason: string) {
  const audit = (await owner.call('GET', `/api/applications/${app.id}/logs?type=audit&per_page=500`)).json() as { action: string; target: string; details: unknown }[];
  expect(audit.filter((e) => e.action === 'discord.unlinked' && e.target === `guild:${guild}`)).toEqual([expect.objectContaining({ details: { developer_id: developerId, reason } })]);
}

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ jobs: 'local', discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  owner = await h.seller('owner');
  ({ app, plan } = await owner.setup({ plan: { discord_role_id: PLAN_ROLE } }));
  viewer = await h.seller('viewer');
  expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBe(201);
  stranger = await h.seller('stranger');
  // The owner's own server, which every change below must leave linked.
  await linkServer(h.app, keys, owner, serverAdmin, app.app_id);
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe('a server linked by a collaborator the owner removes', () => {
  it('answers nothing of the application any more, gets none of its alerts, and cannot be linked again with their key', async () => {
    const x = await adminWithServer('removed');
    const hers = await aliceOwnsALicenseIn(x.guild);
    expect(rolesGranted(x.guild)).not.toEqual([]);

    expect((await owner.call('DELETE', collaborators(x.dev.developerId))).statusCode).toBe(200);

    await expectNothingAnswersIn(x.guild, hers);
    await expectNoTrafficTo(x.guild, x.channel);
    await expectUnlinkAudited(x.guild, x.dev.developerId, 'collaborator.removed');
    // Their key no longer proves anything about the application.
    expect(await setupIn(x.guild, x.channel, x.apiKey)).toContain('Application not found');
    expect(await linkRow(x.guild)).toBeUndefined();
    // The owner's server is untouched.
    expect(await ephemeralText(slash(alice, 'licenses'))).not.toContain(NOT_LINKED);
  });

  it('is unlinked the same when the collaborator leaves by themselves', async () => {
    const x = await adminWithServer('leaver');
    const hers = await aliceOwnsALicenseIn(x.guild);
    expect((await x.dev.call('DELETE', collaborators(x.dev.developerId))).statusCode).toBe(200);
    await expectNothingAnswersIn(x.guild, hers);
    expect(await linkRow(x.guild)).toBeUndefined();
    await expectUnlinkAudited(x.guild, x.dev.developerId, 'collaborator.removed');
  });
});

describe('a server linked by a collaborator whose role drops below admin', () => {
  it.each(['viewer', 'manager'] as const)('is unlinked on a change to %s, with its alerts and expiry notices', async (role) => {
    const x = await adminWithServer(`down${role}`);
    const hers = await aliceOwnsALicenseIn(x.guild);

    const changed = await owner.call('PUT', collaborators(x.dev.developerId), { role });
    expect(changed.json()).toMatchObject({ developer_id: x.dev.developerId, role });

    await expectNothingAnswersIn(x.guild, hers);
    await expectNoTrafficTo(x.guild, x.channel);
    await expectUnlinkAudited(x.guild, x.dev.developerId, 'collaborator.updated');
    // Still a member, but no admin: /setup refuses them.
    expect(await setupIn(x.guild, x.channel, x.apiKey)).toContain('Your role does not allow this action');
    expect(await linkRow(x.guild)).toBeUndefined();
  });

  it('never outlives the role when /setup and the change race each other', async () => {
    for (let round = 0; round < 6; round++) {
      const dev = await h.seller(`racer${round}`);
      await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: dev.username, role: 'admin' });
      const apiKey = (await dev.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
      const { guild, channel } = nextServer();
      const change = round % 2 ? owner.call('DELETE', collaborators(dev.developerId)) : owner.call('PUT', collaborators(dev.developerId), { role: 'viewer' });
      const [linked, changed] = await Promise.all([setupIn(guild, channel, apiKey), change]);
      expect(changed.statusCode).toBe(200);
      expect(linked).toMatch(/now linked|Application not found|Your role does not allow/);
      expect(await linkRow(guild)).toBeUndefined();
    }
  });

  it('stays linked while the role stays admin', async () => {
    const x = await adminWithServer('kept');
    expect((await owner.call('PUT', collaborators(x.dev.developerId), { role: 'admin' })).statusCode).toBe(200);
    expect((await linkRow(x.guild))?.developer_id).toBe(x.dev.developerId);
    expect(await ephemeralText(inGuild(slash(alice, 'licenses'), x.guild))).not.toContain(NOT_LINKED);
    expect((await expiryNoticeTargets(h.deps.db, app.id))?.logChannelIds).toContain(x.channel);
  });
});

describe('DELETE /api/applications/:id/discord-guilds/:guildId', () => {
  it('lets the owner unlink a server a collaborator linked, who stays a collaborator', async () => {
    const x = await adminWithServer('unlinked');
    const hers = await aliceOwnsALicenseIn(x.guild);

    const res = await owner.call('DELETE', unlinkUrl(x.guild));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Discord server unlinked' });

    await expectNothingAnswersIn(x.guild, hers);
    await expectNoTrafficTo(x.guild, x.channel);
    await expectUnlinkAudited(x.guild, x.dev.developerId, 'unlinked');
    expect((await x.dev.call('GET', `/api/applications/${app.id}`)).statusCode).toBe(200);
    expectError(await owner.call('DELETE', unlinkUrl(x.guild)), 404, 'NOT_FOUND');
  });

  it('is refused to a viewer (403) and to a stranger (404, as if the application did not exist), unlinking nothing', async () => {
    const x = await adminWithServer('kept2');
    expectError(await viewer.call('DELETE', unlinkUrl(x.guild)), 403, 'FORBIDDEN');
    const hidden = expectError(await stranger.call('DELETE', unlinkUrl(x.guild)), 404, 'NOT_FOUND');
    expect(hidden).toEqual(expectError(await stranger.call('DELETE', unlinkUrl(x.guild, 2_147_483_647)), 404, 'NOT_FOUND'));
    expect((await linkRow(x.guild))?.developer_id).toBe(x.dev.developerId);
    expect((await linkRow(GUILD))?.developer_id).toBe(owner.developerId);
  });

  it('answers 404 for a server linked to another application, leaving that link alone, and 400 for an id that is no snowflake', async () => {
    const other = await stranger.setup();
    const strangerKey = (await stranger.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const { guild, channel } = nextServer();
    expect(await setupIn(guild, channel, strangerKey, other.app.app_id)).toContain('now linked');
    expectError(await owner.call('DELETE', unlinkUrl(guild)), 404, 'NOT_FOUND');
    expectError(await owner.call('DELETE', unlinkUrl('900000000000009999')), 404, 'NOT_FOUND');
    expect((await linkRow(guild))?.developer_id).toBe(stranger.developerId);
    expectError(await owner.call('DELETE', unlinkUrl('not-a-server')), 400, 'VALIDATION_ERROR');
  });
});
