import { PermissionFlagsBits } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { CHANNEL, MANAGE_GUILD, postInteraction, slash, autocomplete, type KeyPair, type Member } from './support/discord-interactions.js';

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ jobs: 'workers', discord }), admin });
  ({ h, stub, keys, seller, app, plan } = linked);
});
afterAll(() => linked?.close());

const send = (payload: unknown) => postInteraction(h.app, keys, payload);

describe('a seller in Discord', () => {
  it('generates 5 keys as an ephemeral code block', async () => {
    const res = await send(
      slash(admin, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 5 },
      ]),
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.type).toBe(4);
    expect(body.data.flags).toBe(64);
    const shown = /```\n([\s\S]+)\n```/.exec(body.data.content)![1]!.split('\n');
    expect(shown).toHaveLength(5);
    expect(shown.every((k: string) => /^[0-9A-F]{32}$/.test(k))).toBe(true);
  });

  it('generates 500 keys: defers, then edits the reply with a keys.txt', async () => {
    stub.clear();
    const payload = slash(admin, 'generate', [
      { name: 'plan', value: String(plan.id) },
      { name: 'count', value: 500 },
    ]);
    const res = await send(payload);
    expect(res.json()).toEqual({ type: 5, data: { flags: 64 } });
    await h.bot!.idle();
    const [edit] = stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${payload.token}/messages/@original$`));
    expect(edit!.json.content).toContain('Generated 500 keys');
    expect(edit!.files['keys.txt']!.trim().split('\n')).toHaveLength(500);
  });

  it('generates 1500 keys through the bulk job with progress edits', async () => {
    stub.clear();
    const payload = slash(admin, 'generate', [
      { name: 'plan', value: String(plan.id) },
      { name: 'count', value: 1500 },
    ]);
    expect((await send(payload)).json().type).toBe(5);
    await h.bot!.idle();
    const edits = stub.find('PATCH', /messages\/@original$/);
    expect(edits.at(-1)!.files['keys.txt']!.trim().split('\n')).toHaveLength(1500);
  });

  it('offers the plans of the linked application in autocomplete', async () => {
    const res = await send(autocomplete(admin, 'generate', 'plan', 'mon'));
    expect(res.json()).toEqual({ type: 8, data: { choices: [{ name: 'Monthly (30 days)', value: String(plan.id) }] } });
  });

  it('refuses seller commands to other members, ephemerally', async () => {
    const res = await send(
      slash(buyer, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 1 },
      ]),
    );
    expect(res.json().data).toMatchObject({ flags: 64 });
    expect(res.json().data.content).toMatch(/Only sellers/);
  });

  it('lets an Administrator without Manage Server run seller commands (Administrator grants every permission)', async () => {
    const administrator: Member = { id: '100000000000000002', name: 'Owner', permissions: String(PermissionFlagsBits.Administrator) };
    const res = await send(slash(administrator, 'plans'));
    expect(res.json().data.content ?? '').not.toMatch(/Only sellers/);
    expect(res.json().data.embeds[0].title).toBeTruthy();
    // A member with permissions that do not include Manage Server is still refused.
    const moderator: Member = { id: '100000000000000003', name: 'Mod', permissions: String(PermissionFlagsBits.KickMembers | PermissionFlagsBits.BanMembers) };
    expect((await send(slash(moderator, 'plans'))).json().data.content).toMatch(/Only sellers/);
  });

  it('shows license info and resets a HWID', async () => {
    const [lic] = await seller.generate(plan.id);
    await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' } });
    const info = await send(slash(admin, 'license', [{ name: 'key', value: lic!.license_key }], 'info'));
    expect(info.json().data.embeds[0].title).toBe(`License ${lic!.license_key}`);
    const reset = await send(slash(admin, 'license', [{ name: 'key', value: lic!.license_key }], 'reset-hwid'));
    expect(reset.json().data.content).toContain('HWID reset');
    expect((await seller.call('GET', `/api/licenses/${lic!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [] });
    const [audit] = await h.deps.db.query<{ actor_kind: string; actor_id: string }>(`select actor_kind, actor_id from audit_logs where action = 'license.hwid_reset' order by id desc limit 1`);
    expect(audit).toEqual({ actor_kind: 'discord', actor_id: admin.id });
  });

  it('keeps the blacklist: adds a HWID that validation then refuses, lists it, removes it', async () => {
    const [lic] = await seller.generate(plan.id);
    const added = (
      await send(
        slash(
          admin,
          'blacklist',
          [
            { name: 'type', value: 'hwid' },
            { name: 'value', value: 'CRACKED-PC' },
            { name: 'reason', value: 'shared key' },
          ],
          'add',
        ),
      )
    ).json();
    expect(added.data).toMatchObject({ flags: 64 });
    const id = Number(/entry #(\d+)/.exec(added.data.content)![1]);
    const validate = () => h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'CRACKED-PC' } });
    expect((await validate()).json().code).toBe('BLACKLISTED');
    expect((await seller.call('GET', `/api/licenses/${lic!.id}`)).json().hwids).toEqual([]);
    const listed = (await send(slash(admin, 'blacklist', [], 'list'))).json().data.content;
    expect(listed).toContain(`#${id} · HWID \`CRACKED-PC\` — shared key`);
    expect((await send(slash(admin, 'blacklist', [{ name: 'id', value: id }], 'remove'))).json().data.content).toContain(`Entry #${id} removed`);
    expect((await validate()).json().code).toBe('VALID');
    const [audit] = await h.deps.db.query<{ actor_kind: string }>(`select actor_kind from audit_logs where action = 'blacklist.removed' order by id desc limit 1`);
    expect(audit).toEqual({ actor_kind: 'discord' });
  });

  it('refuses a bad blacklist entry and a customer, ephemerally', async () => {
    const add = (member: Member, type: string, value: string) =>
      send(
        slash(
          member,
          'blacklist',
          [
            { name: 'type', value: type },
            { name: 'value', value },
          ],
          'add',
        ),
      );
    const bad = (await add(admin, 'ip', '10.0.0.0/33')).json().data;
    expect(bad.flags).toBe(64);
    expect(bad.content).toMatch(/^❌/);
    const refused = (await add(buyer, 'hwid', 'X')).json().data;
    expect(refused).toMatchObject({ flags: 64 });
    expect(refused.content).toMatch(/Only sellers/);
    expect((await send(slash(admin, 'blacklist', [{ name: 'id', value: 999999 }], 'remove'))).json().data.content).toMatch(/^❌.*not found/i);
    // An id past the database's integer range is refused as input, not a database error.
    expect((await send(slash(admin, 'blacklist', [{ name: 'id', value: 2 ** 40 }], 'remove'))).json().data).toMatchObject({ flags: 64, content: expect.stringMatching(/^❌ Give the entry id/) });
  });

  it('posts the panel to a channel', async () => {
    stub.clear();
    const payload = slash(admin, 'panel');
    const res = await send(payload);
    // Acknowledged first: posting is a bot-token call that may wait out a rate limit.
    expect(res.json()).toEqual({ type: 5, data: { flags: 64 } });
    await h.bot!.idle();
    const [edit] = stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${payload.token}/messages/@original$`));
    expect(edit!.json.content).toBe(`✅ Panel posted in <#${CHANNEL}>.`);
    const [post] = stub.find('POST', new RegExp(`/channels/${CHANNEL}/messages$`));
    expect(post!.json.components[0].components.map((c: { custom_id: string }) => c.custom_id)).toEqual(['lic:redeem', 'lic:licenses', 'lic:reset']);
  });

  it('posts the panel where the command ran when the interaction names its channel only by channel_id', async () => {
    stub.clear();
    const payload = slash(admin, 'panel') as { channel?: unknown; channel_id?: string };
    delete payload.channel;
    expect(payload.channel_id).toBe(CHANNEL);
    expect((await send(payload)).json().type).toBe(5);
    await h.bot!.idle();
    expect(stub.find('PATCH', /\/messages\/@original$/)[0]!.json.content).toContain('Panel posted');
    expect(stub.find('POST', new RegExp(`/channels/${CHANNEL}/messages$`))).toHaveLength(1);
  });
});
