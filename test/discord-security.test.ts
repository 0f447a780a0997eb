import { sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import {
  sendInteraction,
  ephemeralText as ephemeral,
  autocomplete,
  button,
  CHANNEL,
  discordKeyPair,
  GUILD,
  MANAGE_GUILD,
  modal,
  postInteraction,
  select,
  setupForm,
  setupFormId,
  slash,
  snowflake,
  type KeyPair,
  type Member,
} from './support/discord-interactions.js';

const GUILD2 = '900000000000000101';
const UNLINKED = '900000000000000102';
const SELLER_ROLE = '900000000000000110';
const NEW_CHANNEL = '900000000000000120';

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let rival: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };
let rivalApp: { id: number; app_id: string };
let rivalPlan: { id: number };
let apiKey: string;
let rivalKey: string;

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const helper: Member = { id: '100000000000000002', name: 'Helper', roles: [SELLER_ROLE] };
const alice: Member = { id: '100000000000000031', name: 'Alice' };
const bob: Member = { id: '100000000000000032', name: 'Bobby Tables' };
const stranger: Member = { id: '100000000000000033', name: 'Stranger', roles: ['900000000000000999'] };

const inGuild = <T extends object>(payload: T, guildId: string) => ({ ...payload, guild_id: guildId });

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller();
  ({ app, plan } = await seller.setup());
  apiKey = (await seller.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key;
  expect(seller.token.startsWith('kc_sess_')).toBe(true); // a login session, for the /setup refusal below
  rival = await h.seller('rival');
  ({ app: rivalApp, plan: rivalPlan } = await rival.setup());
  rivalKey = (await rival.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key;

  const linked = await postInteraction(h.app, keys, setupForm(admin, { app_id: app.app_id, api_key: apiKey }, { sellerRoleId: SELLER_ROLE, logChannelId: CHANNEL }));
  expect(linked.json().data.content).toContain('now linked');
  const rivalLinked = await postInteraction(h.app, keys, setupForm(admin, { app_id: rivalApp.app_id, api_key: rivalKey }, { guildId: GUILD2 }));
  expect(rivalLinked.json().data.content).toContain('now linked');
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

const send = (payload: unknown) => sendInteraction(h.app, keys, payload);
const ephemeralText = (payload: unknown) => ephemeral(h.app, keys, payload);

const licenseRow = async (id: number) =>
  (
    await h.deps.db.query<{ discord_user_id: string | null; hwids: string[]; status: string; last_hwid_reset_at: Date | null }>(
      'select discord_user_id, hwids, status, last_hwid_reset_at from licenses where id = $1',
      [id],
    )
  )[0]!;
const guildRow = async (guildId: string) => (await h.deps.db.query<Record<string, unknown>>('select * from discord_guilds where guild_id = $1', [guildId]))[0];

describe("a customer and other people's licenses", () => {
  let bobs: { id: number; license_key: string };
  let alicesElsewhere: { id: number; license_key: string };

  beforeAll(async () => {
    bobs = (await seller.generate(plan.id))[0]!;
    expect(await ephemeralText(modal(bob, 'lic:redeem-modal', { license_key: bobs.license_key }))).toContain('Redeemed');
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: bobs.license_key, hwid: 'BOB-PC' });
    // Alice owns a license of the other server's application.
    alicesElsewhere = (await rival.generate(rivalPlan.id))[0]!;
    expect(await ephemeralText(inGuild(modal(alice, 'lic:redeem-modal', { license_key: alicesElsewhere.license_key }), GUILD2))).toContain('Redeemed');
  });

  it("cannot reset another user's license by sending its id", async () => {
    const before = await licenseRow(bobs.id);
    expect(before).toMatchObject({ discord_user_id: bob.id, status: 'active', hwids: ['BOB-PC'], last_hwid_reset_at: null });
    expect(await ephemeralText(select(alice, 'lic:reset-select', [String(bobs.id)]))).toBe('❌ That license is not one of yours.');
    expect(await licenseRow(bobs.id)).toEqual(before);
    expect(await h.deps.db.query(`select 1 from audit_logs where action = 'license.hwid_reset' and target = $1`, [`license:${bobs.id}`])).toHaveLength(0);
  });

  it('cannot reset their own license of another application from this server', async () => {
    const before = await licenseRow(alicesElsewhere.id);
    expect(await ephemeralText(select(alice, 'lic:reset-select', [String(alicesElsewhere.id)]))).toBe('❌ That license is not one of yours.');
    expect(await licenseRow(alicesElsewhere.id)).toEqual(before);
  });

  it.each([['abc'], ['-1'], ['0'], ['1.5'], ['99999999']])('gets a plain refusal for the license id %j', async (value) => {
    expect(await ephemeralText(select(alice, 'lic:reset-select', [value]))).toMatch(/^(Please choose a license from the list\.|❌ That license is not one of yours\.)$/);
  });

  it('gets a plain refusal for a select without values', async () => {
    expect(await ephemeralText(select(alice, 'lic:reset-select', []))).toBe('Please choose a license from the list.');
  });

  it('cannot claim a key someone else redeemed, and is not told whose it is', async () => {
    const text = await ephemeralText(modal(alice, 'lic:redeem-modal', { license_key: bobs.license_key }));
    expect(text).toContain('already been redeemed by another account');
    expect(text).not.toContain(bob.id);
    expect(text).not.toContain(bob.name);
    expect(text).not.toContain('Bobby');
    expect((await licenseRow(bobs.id)).discord_user_id).toBe(bob.id);
  });

  it("cannot redeem a key of another server's application: it does not exist here", async () => {
    const [theirs] = await rival.generate(rivalPlan.id);
    expect(await ephemeralText(modal(alice, 'lic:redeem-modal', { license_key: theirs!.license_key }))).toBe('❌ That key does not exist for this application. Check for typos.');
    expect((await licenseRow(theirs!.id)).discord_user_id).toBeNull();
  });

  it("sees neither another user's licenses nor those of another server's application", async () => {
    const mine = await send(slash(alice, 'licenses'));
    expect(mine.data.content).toContain('no licenses here yet');
    const bobsView = JSON.stringify(await send(slash(bob, 'licenses')));
    expect(bobsView).toContain(bobs.license_key.slice(-4));
    const elsewhere = await send(inGuild(slash(alice, 'licenses'), GUILD2));
    expect(elsewhere.data.embeds[0].description.split('\n\n')).toHaveLength(1);
    expect(JSON.stringify(elsewhere)).not.toContain(bobs.license_key.slice(-4));
    const menu = await send(button(alice, 'lic:reset'));
    expect(JSON.stringify(menu)).not.toContain(`"value":"${bobs.id}"`);
  });
});

describe('seller commands', () => {
  const sellerCommands = () =>
    [
      [
        '/generate',
        (m: Member) =>
          slash(m, 'generate', [
            { name: 'plan', value: String(plan.id) },
            { name: 'count', value: 1 },
          ]),
      ],
      ['/license info', (m: Member) => slash(m, 'license', [{ name: 'key', value: 'ANY-KEY' }], 'info')],
      ['/license delete', (m: Member) => slash(m, 'license', [{ name: 'key', value: 'ANY-KEY' }], 'delete')],
      ['/plans', (m: Member) => slash(m, 'plans')],
      ['/stats', (m: Member) => slash(m, 'stats')],
      ['/panel', (m: Member) => slash(m, 'panel')],
    ] as const;

  it('are refused to members without Manage Server or the seller role, changing nothing', async () => {
    const count = async () => (await h.deps.db.query<{ n: string }>('select count(*) as n from licenses'))[0]!.n;
    const before = await count();
    stub.clear();
    for (const [name, build] of sellerCommands()) {
      for (const who of [alice, stranger]) {
        const text = await ephemeralText(build(who));
        expect(text, name).toBe('❌ Only sellers can use this command (Manage Server or the seller role).');
      }
    }
    expect(await count()).toBe(before);
    expect(stub.calls).toHaveLength(0);
  });

  it('offer non-sellers no plans in autocomplete', async () => {
    expect(await send(autocomplete(stranger, 'generate', 'plan', ''))).toEqual({ type: 8, data: { choices: [] } });
  });

  it('are allowed to a member with the seller role the server was linked with', async () => {
    const [lic] = await seller.generate(plan.id);
    expect((await send(slash(helper, 'plans'))).data.embeds[0].description).toContain('Monthly');
    expect((await send(slash(helper, 'stats'))).data.embeds[0].title).toContain('statistics');
    expect((await send(slash(helper, 'license', [{ name: 'key', value: lic!.license_key }], 'info'))).data.embeds[0].title).toBe(`License ${lic!.license_key}`);
    expect(
      await ephemeralText(
        slash(helper, 'generate', [
          { name: 'plan', value: String(plan.id) },
          { name: 'count', value: 2 },
        ]),
      ),
    ).toContain('Generated 2 keys');
    expect((await send(autocomplete(helper, 'generate', 'plan', ''))).data.choices).toEqual([{ name: 'Monthly (30 days)', value: String(plan.id) }]);
    // The earlier commands' follow-up work (the /stats chart's edit) ends before the panel's is read.
    await h.bot!.idle();
    stub.clear();
    expect((await send(slash(helper, 'panel'))).type).toBe(5);
    await h.bot!.idle();
    expect(stub.find('PATCH', /\/messages\/@original$/)[0]!.json.content).toContain('Panel posted');
    expect(stub.find('POST', new RegExp(`/channels/${CHANNEL}/messages$`))).toHaveLength(1);
  });

  it("do not reach another server's application with this server's seller role", async () => {
    // GUILD2 was linked without a seller role: the role means nothing there.
    expect(await ephemeralText(inGuild(slash(helper, 'plans'), GUILD2))).toContain('Only sellers');
  });

  it('cannot look up a key of another application', async () => {
    const [theirs] = await rival.generate(rivalPlan.id);
    expect(await ephemeralText(slash(admin, 'license', [{ name: 'key', value: theirs!.license_key }], 'info'))).toBe('❌ License not found');
  });
});

describe('/setup', () => {
  it('is refused to a member without Manage Server, without showing the form', async () => {
    expect(await ephemeralText(slash(stranger, 'setup'))).toContain('Only members with Manage Server');
    expect(await ephemeralText(slash(helper, 'setup'))).toContain('Only members with Manage Server');
  });

  it('shows the form to a member with Manage Server', async () => {
    const res = await send(slash(admin, 'setup', [{ name: 'log_channel', value: NEW_CHANNEL }]));
    expect(res.type).toBe(9);
    expect(res.data.custom_id).toBe(setupFormId(admin, { logChannelId: NEW_CHANNEL }));
  });

  it('refuses the form submitted by a member without Manage Server, changing nothing', async () => {
    const before = await guildRow(GUILD);
    expect(await ephemeralText(setupForm(stranger, { app_id: app.app_id, api_key: apiKey }, { logChannelId: NEW_CHANNEL }))).toContain('Only members with Manage Server');
    expect(await ephemeralText(setupForm(stranger, { app_id: app.app_id, api_key: apiKey }, { guildId: UNLINKED }))).toContain('Only members with Manage Server');
    expect(await guildRow(GUILD)).toEqual(before);
    expect(await guildRow(UNLINKED)).toBeUndefined();
  });

  const refusals = () =>
    [
      ['an invalid API key', () => ({ app_id: app.app_id, api_key: 'kc_live_' + 'f'.repeat(64) }), /invalid credentials/],
      ['something that is not a key at all', () => ({ app_id: app.app_id, api_key: 'hunter2hunter2' }), /not a Keycord API key/],
      ['a session token instead of an API key', () => ({ app_id: app.app_id, api_key: seller.token }), /not a Keycord API key/],
      ["the app_id of another developer's application", () => ({ app_id: rivalApp.app_id, api_key: apiKey }), /^❌ Application not found$/],
      ['an app_id that does not exist', () => ({ app_id: '00000000-0000-4000-8000-000000000000', api_key: apiKey }), /^❌ Application not found$/],
      ['an app_id that is not a UUID', () => ({ app_id: 'my-app', api_key: apiKey }), /app_id UUID/],
    ] as const;

  it.each(refusals())('is refused with %s, creating and changing no link', async (_what, fields, message) => {
    const before = await guildRow(GUILD);
    expect(await ephemeralText(setupForm(admin, fields(), { guildId: UNLINKED }))).toMatch(message);
    expect(await guildRow(UNLINKED)).toBeUndefined();
    expect(await ephemeralText(setupForm(admin, fields(), { logChannelId: NEW_CHANNEL }))).toMatch(message);
    expect(await guildRow(GUILD)).toEqual(before);
  });

  it('updates the link when run again (a new log channel)', async () => {
    const before = (await guildRow(GUILD))!;
    expect(before.log_channel_id).toBe(CHANNEL);
    const text = await ephemeralText(setupForm(admin, { app_id: app.app_id, api_key: apiKey }, { sellerRoleId: SELLER_ROLE, logChannelId: NEW_CHANNEL }));
    expect(text).toContain(`Log channel: <#${NEW_CHANNEL}>`);
    const after = (await guildRow(GUILD))!;
    expect(after).toMatchObject({ application_id: app.id, seller_role_id: SELLER_ROLE, log_channel_id: NEW_CHANNEL, linked_by: admin.id });
    expect(new Date(after.created_at as string).getTime()).toBe(new Date(before.created_at as string).getTime());
    expect((await h.deps.db.query('select 1 from discord_guilds where guild_id = $1', [GUILD])).length).toBe(1);
  });

  it('never stores the API key typed into the form, in the link or in the audit log', async () => {
    const secrets = [apiKey, rivalKey, seller.token, apiKey.slice('kc_live_'.length)];
    const tables = await h.deps.db.query<{ t: string }>(`select row_to_json(g)::text as t from discord_guilds g union all select row_to_json(a)::text from audit_logs a`);
    expect(tables.some((r) => r.t.includes('discord.linked'))).toBe(true);
    for (const { t } of tables) for (const s of secrets) expect(t).not.toContain(s);
  });
});

describe('the interactions endpoint', () => {
  // Each interaction Discord sends has an id of its own; a repeated one is refused as a replay.
  const ping = () => ({ id: snowflake(), application_id: '800000000000000001', type: 1, token: 'ping-token', version: 1 });

  it('answers a PING with a PONG', async () => {
    const res = await postInteraction(h.app, keys, ping());
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ type: 1 });
  });

  it('refuses a tampered body', async () => {
    expect((await postInteraction(h.app, keys, ping(), { tamper: true })).statusCode).toBe(401);
  });

  it('refuses a body signed with another key', async () => {
    expect((await postInteraction(h.app, discordKeyPair(), ping())).statusCode).toBe(401);
  });

  it('refuses a stale or future timestamp, however well signed', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await postInteraction(h.app, keys, ping(), { timestamp: now - 600 })).statusCode).toBe(401);
    expect((await postInteraction(h.app, keys, ping(), { timestamp: now + 600 })).statusCode).toBe(401);
    expect((await postInteraction(h.app, keys, ping(), { timestamp: now - 60 })).statusCode).toBe(200);
  });

  it('refuses a request with missing or malformed signature headers', async () => {
    const body = JSON.stringify(ping());
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign(null, Buffer.from(timestamp + body), keys.privateKey).toString('hex');
    const post = (headers: Record<string, string>) => h.app.inject({ method: 'POST', url: '/discord/interactions', headers: { 'content-type': 'application/json', ...headers }, payload: body });
    expect((await post({})).statusCode).toBe(401);
    expect((await post({ 'x-signature-ed25519': signature })).statusCode).toBe(401);
    expect((await post({ 'x-signature-timestamp': timestamp })).statusCode).toBe(401);
    expect((await post({ 'x-signature-ed25519': 'zz', 'x-signature-timestamp': timestamp })).statusCode).toBe(401);
    expect((await post({ 'x-signature-ed25519': signature, 'x-signature-timestamp': 'soon' })).statusCode).toBe(401);
    expect((await post({ 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp })).statusCode).toBe(200);
  });

  it('answers 400 to a well-signed body that is not JSON', async () => {
    const res = await postInteraction(h.app, keys, null, { rawBody: '{"type": 2, "data": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
  });

  const member = { user: { id: alice.id, username: 'alice' }, roles: [], permissions: '0' };
  const base = { application_id: '800000000000000001', token: 'tok', version: 1, guild_id: GUILD };
  const nonsense: [string, unknown][] = [
    ['a command without data', { ...base, type: 2, member }],
    ['a command with data of the wrong type', { ...base, type: 2, member, data: 'generate' }],
    ['an unknown command', { ...base, type: 2, member, data: { name: 'rm-rf', type: 1 } }],
    ['a command whose name is a number', { ...base, type: 2, member, data: { name: 42 } }],
    ['options that are not a list', { ...base, type: 2, member: { ...member, permissions: MANAGE_GUILD }, data: { name: 'generate', options: 'count=5' } }],
    [
      'option values of the wrong type',
      {
        ...base,
        type: 2,
        member: { ...member, permissions: MANAGE_GUILD },
        data: {
          name: 'generate',
          options: [
            { name: 'plan', type: 3, value: { id: 1 } },
            { name: 'count', type: 4, value: [5] },
          ],
        },
      },
    ],
    ['an unknown button', { ...base, type: 3, member, data: { custom_id: 'lic:self-destruct', component_type: 2 } }],
    ['a button without a custom id', { ...base, type: 3, member, data: { component_type: 2 } }],
    ['a custom id that is a number', { ...base, type: 3, member, data: { custom_id: 7 } }],
    ['an unknown form', { ...base, type: 5, member, data: { custom_id: 'survey:1', components: [] } }],
    ['a redeem form without fields', { ...base, type: 5, member, data: { custom_id: 'lic:redeem-modal' } }],
    ['a redeem form with fields of the wrong shape', { ...base, type: 5, member, data: { custom_id: 'lic:redeem-modal', components: 'key' } }],
    ['a redeem form whose fields are a number', { ...base, type: 5, member, data: { custom_id: 'lic:redeem-modal', components: 5 } }],
    ['a redeem form with empty rows', { ...base, type: 5, member, data: { custom_id: 'lic:redeem-modal', components: [null, { components: {} }, { component: { custom_id: 1, value: 2 } }] } }],
    ['a select whose values are not a list', { ...base, type: 3, member, data: { custom_id: 'lic:reset-select', component_type: 3, values: 5 } }],
    ['an interaction with no user', { ...base, type: 2, data: { name: 'licenses' } }],
    ['a member with a user of the wrong type', { ...base, type: 2, member: { user: 'alice' }, data: { name: 'licenses' } }],
    ['permissions that are not a number', { ...base, type: 2, member: { ...member, permissions: 'all of them' }, data: { name: 'plans' } }],
    ['an unknown interaction type', { ...base, type: 99, member, data: {} }],
  ];

  it.each(nonsense)('answers %s with an ephemeral refusal, never a 500 or an internal error', async (_what, payload) => {
    const res = await postInteraction(h.app, keys, { ...(payload as object), id: snowflake() });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.type).toBe(4);
    expect(body.data.flags).toBe(64);
    expect(body.data.content.length).toBeGreaterThan(0);
    expect(body.data.content).not.toMatch(/TypeError|undefined|\n\s+at /);
    // Malformed input is bad input, answered as such, not an unexpected failure for the logs.
    expect(body.data.content).not.toMatch(/Something went wrong/);
  });

  it('answers autocomplete nonsense with no choices', async () => {
    const res = await postInteraction(h.app, keys, { ...base, id: snowflake(), type: 4, member, data: { name: 'generate', options: 'x' } });
    expect(res.json()).toEqual({ type: 8, data: { choices: [] } });
  });

  it('answers JSON that is not an object with 400, not 500', async () => {
    for (const raw of ['null', '42', '"interaction"', 'true']) {
      const res = await postInteraction(h.app, keys, null, { rawBody: raw });
      expect(res.statusCode, raw).toBe(400);
    }
  });

  it('keeps working after all that', async () => {
    expect((await postInteraction(h.app, keys, ping())).json()).toEqual({ type: 1 });
    expect(await ephemeralText(slash(alice, 'licenses'))).toContain('no licenses here yet');
  });

  it('says a server is not linked yet, ephemerally, to customers and sellers alike', async () => {
    for (const payload of [
      slash(alice, 'licenses'),
      slash(alice, 'reset-hwid'),
      button(alice, 'lic:licenses'),
      modal(alice, 'lic:redeem-modal', { license_key: 'ABCD-EFGH' }),
      select(alice, 'lic:reset-select', ['1']),
      slash(admin, 'plans'),
      slash(admin, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 1 },
      ]),
    ]) {
      expect(await ephemeralText(inGuild(payload, UNLINKED))).toContain('not linked');
    }
  });

  it('says customer commands work only inside a server when used in a DM', async () => {
    const { guild_id: _g, member: m, ...rest } = slash(alice, 'licenses');
    const dm = { ...rest, user: m.user, channel: { id: '1', type: 1 } };
    expect(await ephemeralText(dm)).toContain('only inside a server');
  });
});
