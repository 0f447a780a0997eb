import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { system } from '../src/core/actor.js';
import { unlinkGuildsOf } from '../src/core/discord/unlink-guild.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { untilLockWaiters } from './support/wait.js';
import { discordKeyPair, ephemeralText as ephemeral, GUILD, MANAGE_GUILD, modal, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';

/**
 * The /setup form carries the role and channel chosen when it was opened. Discord hands a modal's
 * custom id back as the member's client sends it, so a member with Manage Server (and an API key)
 * could otherwise submit a form naming a channel or role of another server the bot is in, and
 * have this server's alerts posted there. Only a form the bot showed this member in this server
 * is taken, with exactly the values it carried.
 */

const OTHER_GUILD = '900000000000000401';
/** A channel and a role of a server the attacker does not manage (the bot is there too). */
const FOREIGN_CHANNEL = '900000000000000402';
const FOREIGN_ROLE = '900000000000000403';
const OWN_CHANNEL = '900000000000000404';
const OWN_ROLE = '900000000000000405';
/** The longest ids the codec takes: 22 digits. */
const LONG_CHANNEL = '9'.repeat(22);
const LONG_ROLE = '8'.repeat(22);

const admin: Member = { id: '100000000000000401', name: 'Admin', permissions: MANAGE_GUILD };
const coAdmin: Member = { id: '100000000000000402', name: 'Co-admin', permissions: MANAGE_GUILD };
const member: Member = { id: '100000000000000403', name: 'Member' };

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let apiKey: string;

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller();
  ({ app } = await seller.setup());
  apiKey = (await seller.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key;
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

const inGuild = <T extends object>(payload: T, guildId: string) => ({ ...payload, guild_id: guildId });
const ephemeralText = (payload: unknown) => ephemeral(h.app, keys, payload);
const fields = () => ({ app_id: app.app_id, api_key: apiKey });
const linkOf = async (guildId: string) =>
  (await h.deps.db.query<{ seller_role_id: string | null; log_channel_id: string | null }>('select seller_role_id, log_channel_id from discord_guilds where guild_id = $1', [guildId]))[0];
const linkedAudits = async () => Number((await h.deps.db.query<{ n: string }>(`select count(*) as n from audit_logs where action = 'discord.linked'`))[0]!.n);

/** Opens /setup as `who` in `guildId` with these options, and returns the form's custom id as the bot made it. */
async function openSetup(who: Member, guildId: string, options: { seller_role?: string; log_channel?: string } = {}): Promise<string> {
  const answer = await sendInteraction(
    h.app,
    keys,
    inGuild(
      slash(
        who,
        'setup',
        Object.entries(options).map(([name, value]) => ({ name, value })),
      ),
      guildId,
    ),
  );
  expect(answer.type, JSON.stringify(answer)).toBe(9);
  return answer.data.custom_id as string;
}

const REFUSED = /out of date or was not opened by you in this server.*run \/setup again/;

describe('a submitted /setup form', () => {
  it('links with the role and channel chosen when it was opened, its id within the 100 characters Discord allows', async () => {
    const id = await openSetup(admin, GUILD, { seller_role: LONG_ROLE, log_channel: LONG_CHANNEL });
    expect(id.length).toBeLessThanOrEqual(100);
    expect(await ephemeralText(inGuild(modal(admin, id, fields()), GUILD))).toContain('now linked');
    expect(await linkOf(GUILD)).toEqual({ seller_role_id: LONG_ROLE, log_channel_id: LONG_CHANNEL });
  });

  it('naming a channel and role of another server, not put there by the bot, is refused and changes nothing', async () => {
    const own = await openSetup(admin, GUILD, { seller_role: OWN_ROLE, log_channel: OWN_CHANNEL });
    expect(await ephemeralText(inGuild(modal(admin, own, fields()), GUILD))).toContain('now linked');
    const before = await linkOf(GUILD);
    const audits = await linkedAudits();
    // Hand-made ids: the old unsigned shape, and the real form's with its values swapped.
    const tag = own.split(':')[3] ?? 'AAAAAAAAAAAAAAAAAAAAAA';
    for (const forged of [`setup:${FOREIGN_ROLE}:${FOREIGN_CHANNEL}`, `setup:-:${FOREIGN_CHANNEL}`, `setup:${FOREIGN_ROLE}:${FOREIGN_CHANNEL}:${tag}`, `setup:${OWN_ROLE}:${FOREIGN_CHANNEL}:${tag}`]) {
      expect(await ephemeralText(inGuild(modal(admin, forged, fields()), GUILD)), forged).toMatch(REFUSED);
    }
    expect(await linkOf(GUILD)).toEqual(before);
    expect(await linkedAudits()).toBe(audits);
  });

  it('opened by one member in one server is refused from another member or in another server', async () => {
    const before = await linkOf(GUILD);
    const audits = await linkedAudits();
    // The admin opens the form in another server they manage, with a channel of that server...
    const elsewhere = await openSetup(admin, OTHER_GUILD, { log_channel: FOREIGN_CHANNEL });
    // ...and submits it in this one: the channel is not this server's.
    expect(await ephemeralText(inGuild(modal(admin, elsewhere, fields()), GUILD))).toMatch(REFUSED);
    // A form opened by one admin is not another's.
    const admins = await openSetup(admin, GUILD, { log_channel: OWN_CHANNEL });
    expect(await ephemeralText(inGuild(modal(coAdmin, admins, fields()), GUILD))).toMatch(REFUSED);
    expect(await linkOf(GUILD)).toEqual(before);
    expect(await linkOf(OTHER_GUILD)).toBeUndefined();
    expect(await linkedAudits()).toBe(audits);
  });

  it('from before forms were signed is refused with a request to run /setup again, linking nothing', async () => {
    const fresh = '900000000000000499';
    expect(await ephemeralText(inGuild(modal(admin, 'setup:-:-', fields()), fresh))).toMatch(REFUSED);
    expect(await linkOf(fresh)).toBeUndefined();
  });

  it('is refused to a member without Manage Server even with a form the bot made', async () => {
    const before = await linkOf(GUILD);
    const id = await openSetup(admin, GUILD, { log_channel: OWN_CHANNEL });
    expect(await ephemeralText(inGuild(modal(member, id, fields()), GUILD))).toContain('Only members with Manage Server');
    // Nor does the admin's own form work once they lost Manage Server.
    expect(await ephemeralText(inGuild(modal({ ...admin, permissions: '0' }, id, fields()), GUILD))).toContain('Only members with Manage Server');
    expect(await linkOf(GUILD)).toEqual(before);
  });

  it('never echoes the API key typed into it, whether it is refused or taken', async () => {
    const id = await openSetup(admin, GUILD);
    const answers = [
      await ephemeralText(inGuild(modal(admin, 'setup:-:-', fields()), GUILD)),
      await ephemeralText(inGuild(modal(admin, id, { app_id: app.app_id, api_key: `${apiKey}x` }), GUILD)),
      await ephemeralText(inGuild(modal(admin, id, fields()), GUILD)),
    ];
    for (const text of answers) {
      expect(text).not.toContain(apiKey);
      expect(text).not.toContain(apiKey.slice('kc_live_'.length, 'kc_live_'.length + 12));
    }
  });
});

describe('a server linked to one application and set up again with another', () => {
  it("leaves the first application's audit log an entry saying the server was unlinked, and a second /setup of the same one none", async () => {
    const server = '900000000000000450';
    const unlinked = async (applicationId: number) =>
      h.deps.db.query<{ actor_id: string; details: unknown }>(`select actor_id, details from audit_logs where application_id = $1 and action = 'discord.unlinked' and target = $2`, [
        applicationId,
        `guild:${server}`,
      ]);
    expect(await ephemeralText(inGuild(modal(admin, await openSetup(admin, server), fields()), server))).toContain('now linked');
    expect(await ephemeralText(inGuild(modal(admin, await openSetup(admin, server, { log_channel: OWN_CHANNEL }), fields()), server))).toContain('now linked');
    expect(await unlinked(app.id)).toEqual([]);

    // Another admin of the server links it to their own application.
    const other = await h.seller();
    const { app: otherApp } = await other.setup();
    const otherKey = (await other.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    expect(await ephemeralText(inGuild(modal(coAdmin, await openSetup(coAdmin, server), { app_id: otherApp.app_id, api_key: otherKey }), server))).toContain('now linked');
    // Who did it (the Discord member) and whose link ended; nothing of the other application.
    expect(await unlinked(app.id)).toEqual([{ actor_id: coAdmin.id, details: { developer_id: seller.developerId, reason: 'relinked' } }]);
    expect(await unlinked(otherApp.id)).toEqual([]);
  });

  it('set up again while an unlink of it is under way: the first application gets one unlinked entry, not two', async () => {
    const server = '900000000000000470';
    expect(await ephemeralText(inGuild(modal(admin, await openSetup(admin, server), fields()), server))).toContain('now linked');
    const other = await h.seller();
    const { app: otherApp } = await other.setup();
    const otherKey = (await other.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const form = await openSetup(coAdmin, server);
    // The linking developer loses the admin role (unlinkGuildsOf, as collaborators do) in a transaction held open.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const unlinking = h.deps.db.orm.transaction(async (tx) => {
      await unlinkGuildsOf(tx, system('test'), app.id, seller.developerId, 'collaborator.removed');
      await held;
    });
    const relinking = ephemeralText(inGuild(modal(coAdmin, form, { app_id: otherApp.app_id, api_key: otherKey }), server));
    await untilLockWaiters(h.deps.db, 1);
    release();
    await unlinking;
    expect(await relinking).toContain('now linked');
    const entries = await h.deps.db.query<{ reason: string }>(`select details->>'reason' as reason from audit_logs where application_id = $1 and action = 'discord.unlinked' and target = $2`, [
      app.id,
      `guild:${server}`,
    ]);
    expect(entries).toEqual([{ reason: 'collaborator.removed' }]);
  });

  it('first set up by two admins at once with two applications: whichever link lost has its unlinked entry', async () => {
    const other = await h.seller();
    const { app: otherApp } = await other.setup();
    const otherKey = (await other.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    // Several fresh servers, each raced by two /setup submits: a row lock would hold nothing while the server has no row.
    const servers = Array.from({ length: 6 }, (_, i) => `90000000000000046${i}`);
    const forms = await Promise.all(servers.map(async (server) => [await openSetup(admin, server), await openSetup(coAdmin, server)] as const));
    await Promise.all(
      servers.flatMap((server, i) => [
        ephemeralText(inGuild(modal(admin, forms[i]![0], fields()), server)),
        ephemeralText(inGuild(modal(coAdmin, forms[i]![1], { app_id: otherApp.app_id, api_key: otherKey }), server)),
      ]),
    );
    for (const server of servers) {
      const [link] = await h.deps.db.query<{ application_id: string }>('select application_id::text from discord_guilds where guild_id = $1', [server]);
      const loser = Number(link!.application_id) === app.id ? otherApp.id : app.id;
      const entries = await h.deps.db.query(`select 1 from audit_logs where application_id = $1 and action = 'discord.unlinked' and target = $2`, [loser, `guild:${server}`]);
      expect(entries, `server ${server}`).toHaveLength(1);
    }
  });
});

describe('/stats', () => {
  it('shows a member who is not a seller nothing, although a seller counted the figures a moment ago', async () => {
    const id = await openSetup(admin, GUILD);
    expect(await ephemeralText(inGuild(modal(admin, id, fields()), GUILD))).toContain('now linked');
    expect((await sendInteraction(h.app, keys, slash(admin, 'stats'))).data.embeds[0].title).toContain('statistics');
    await h.bot!.idle();
    stub.clear();
    const answer = await sendInteraction(h.app, keys, slash(member, 'stats'));
    expect(answer).toEqual({ type: 4, data: { content: '❌ Only sellers can use this command (Manage Server or the seller role).', flags: 64, allowed_mentions: { parse: [] } } });
    await h.bot!.idle();
    expect(stub.calls).toHaveLength(0);
  });

  it("shows a server re-linked to another application that application's figures at once, though the old ones were counted a moment ago", async () => {
    const other = await h.seller();
    const { app: otherApp, plan: otherPlan } = await other.setup();
    await other.generate(otherPlan.id, 3);
    const otherKey = (await other.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const totals = (answer: any) => answer.data.embeds[0].fields[0].value.split('\n')[0];
    expect(totals(await sendInteraction(h.app, keys, slash(admin, 'stats')))).toBe('0 total');
    const id = await openSetup(admin, GUILD);
    expect(await ephemeralText(inGuild(modal(admin, id, { app_id: otherApp.app_id, api_key: otherKey }), GUILD))).toContain('now linked');
    expect(totals(await sendInteraction(h.app, keys, slash(admin, 'stats')))).toBe('3 total');
    await h.bot!.idle();
  });
});
