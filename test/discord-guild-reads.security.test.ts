import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCustomId } from '../src/discord/custom-ids.js';
import { startHarness, type Harness, type LicenseView } from './support/harness.js';
import { button, ephemeralText, GUILD, MANAGE_GUILD, sendInteraction, setupForm, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * Discord read commands fetch the server's link with their data in one query, and /stats reuses
 * an application's figures for a moment. Who may see what is never reused: changes made behind
 * this process's back (here: straight in the database, as another API process would) count on
 * the very next command.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000088', name: 'Buyer' };

let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let license: LicenseView;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, keys } = linked);
  [license] = (await linked.seller.generate(linked.plan.id, 1)) as [LicenseView];
  await h.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [buyer.id, license.id]);
});
afterAll(() => linked?.close());

const text = (payload: unknown) => ephemeralText(h.app, keys, payload);
const info = () => slash(admin, 'license', [{ name: 'key', value: license.license_key }], 'info');
const stats = () => slash(admin, 'stats');
const myLicenses = () => button(buyer, encodeCustomId({ kind: 'panel', action: 'licenses' }));

describe('a developer who no longer has a part in the linked application', () => {
  it('is refused at once, although /stats figures were counted a moment ago', async () => {
    expect((await sendInteraction(h.app, keys, stats())).data.embeds[0].fields[0].value).toContain('1 total');
    expect((await sendInteraction(h.app, keys, info())).data.embeds[0].title).toBe(`License ${license.license_key}`);
    const [membership] = await h.deps.db.query<{ role: string }>('delete from application_members where application_id = $1 and developer_id = $2 returning role', [
      linked.app.id,
      linked.seller.developerId,
    ]);
    try {
      expect(await text(stats())).toBe('❌ Application not found');
      expect(await text(info())).toBe('❌ License not found');
    } finally {
      await h.deps.db.query('insert into application_members (application_id, developer_id, role) values ($1, $2, $3)', [linked.app.id, linked.seller.developerId, membership!.role]);
    }
    expect((await sendInteraction(h.app, keys, stats())).data.embeds[0].title).toContain('statistics');
  });
});

describe('/stats from several servers at once', () => {
  it('answers each server with its own application, also when their links are read in one statement', async () => {
    // A second seller's application, with two licenses, linked to a second server.
    const other = await h.seller();
    const { app: otherApp, plan: otherPlan } = await other.setup();
    await other.generate(otherPlan.id, 2);
    const otherGuild = '900000000000000077';
    const unlinkedGuild = '900000000000000078';
    const inGuild = <T extends object>(payload: T, guildId: string) => ({ ...payload, guild_id: guildId });
    const apiKey = (await other.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    expect(await text(setupForm(admin, { app_id: otherApp.app_id, api_key: apiKey }, { guildId: otherGuild }))).toContain('now linked');
    const totals = (answer: any) => answer.data.embeds?.[0]?.fields[0].value.split('\n')[0] ?? answer.data.content;
    // The first of each counts the figures; the rest read only the links, in batches of a turn.
    expect(totals(await sendInteraction(h.app, keys, stats()))).toBe('1 total');
    expect(totals(await sendInteraction(h.app, keys, inGuild(stats(), otherGuild)))).toBe('2 total');
    const servers = Array.from({ length: 24 }, (_, i) => [GUILD, otherGuild, unlinkedGuild][i % 3]!);
    const answers = await Promise.all(servers.map((guild) => sendInteraction(h.app, keys, inGuild(stats(), guild))));
    expect(answers.map(totals)).toEqual(servers.map((guild) => (guild === GUILD ? '1 total' : guild === otherGuild ? '2 total' : expect.stringContaining('not linked'))));
  });
});

describe('a server whose linking API key is revoked', () => {
  it('is not linked any more for the very next read command, seller or customer', async () => {
    expect(JSON.stringify((await sendInteraction(h.app, keys, myLicenses())).data.embeds)).toContain(license.license_key.slice(-4));
    expect((await sendInteraction(h.app, keys, stats())).data.embeds[0].title).toContain('statistics');
    await h.deps.db.query('delete from developer_tokens where id = (select api_key_id from discord_guilds where guild_id = $1)', [GUILD]);
    for (const payload of [info(), stats(), myLicenses()]) expect(await text(payload)).toContain('not linked');
  });
});
