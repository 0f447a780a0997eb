import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { createDiscordBot } from '../src/discord/create-discord.js';
import type { Logger } from '../src/log.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub, startRefusingDiscord } from './support/discord-stub.js';
import { autocomplete, button, CHANNEL, discordKeyPair, MANAGE_GUILD, modal, postInteraction, setupFormId, slash, type KeyPair, type Member } from './support/discord-interactions.js';

const APP_ID = '800000000000000001';

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let gateway: GatewayAdapter;
let app: { id: number; app_id: string };
let plan: { id: number };
const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() };

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000041', name: 'Alice' };

type Payload = { id: string; token: string };
const dispatch = (d: unknown) => gateway.onRaw({ t: 'INTERACTION_CREATE', d });
const callbackOf = (p: Payload) => stub.find('POST', new RegExp(`^/interactions/${p.id}/${p.token}/callback$`));

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  gateway = new GatewayAdapter(h.bot!, log as unknown as Logger);
  seller = await h.seller();
  ({ app, plan } = await seller.setup());
});
beforeEach(() => {
  stub.clear();
  vi.clearAllMocks();
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe('interactions from the gateway', () => {
  it('link the server through /setup, answering through the interaction callback', async () => {
    const apiKey = (await seller.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const open = slash(admin, 'setup', [{ name: 'log_channel', value: CHANNEL }]);
    await dispatch(open);
    const customId = setupFormId(admin, { logChannelId: CHANNEL });
    expect(callbackOf(open)[0]!.json).toMatchObject({ type: 9, data: { custom_id: customId } });

    const submit = modal(admin, customId, { app_id: app.app_id, api_key: apiKey });
    await dispatch(submit);
    const [answer] = callbackOf(submit);
    expect(answer!.json).toMatchObject({ type: 4, data: { flags: 64, content: expect.stringContaining('now linked') } });
    // The callback is authorised by the interaction token in its path, not the bot token.
    expect(answer!.headers.authorization).toBeUndefined();
    expect(stub.calls).toHaveLength(2);
  });

  it.each([
    ['/plans', () => slash(admin, 'plans')],
    ['/stats', () => slash(admin, 'stats')],
    ['/licenses', () => slash(alice, 'licenses')],
    ['the Redeem key button', () => button(alice, 'lic:redeem')],
    ['a refused seller command', () => slash(alice, 'plans')],
    ['plan autocomplete', () => autocomplete(admin, 'generate', 'plan', 'Mon')],
    ['an unknown button', () => button(alice, 'lic:gone')],
  ])('answer %s with the same body the HTTP door gives', async (_what, build) => {
    const viaGateway = build();
    await dispatch(viaGateway);
    const [callback] = callbackOf(viaGateway);
    expect(callback, JSON.stringify(stub.calls.map((c) => c.path))).toBeDefined();
    const viaHttp = await postInteraction(h.app, keys, build());
    expect(viaHttp.statusCode).toBe(200);
    expect(callback!.json).toEqual(viaHttp.json());
  });

  it('defer /generate of 30 keys, then edit the original reply with keys.txt', async () => {
    const payload = slash(admin, 'generate', [
      { name: 'plan', value: String(plan.id) },
      { name: 'count', value: 30 },
    ]);
    await dispatch(payload);
    await h.bot!.idle();
    const callback = callbackOf(payload)[0]!;
    expect(callback.json).toEqual({ type: 5, data: { flags: 64 } });
    const [edit] = stub.find('PATCH', new RegExp(`^/webhooks/${APP_ID}/${payload.token}/messages/@original$`));
    expect(edit).toBeDefined();
    expect(stub.calls.indexOf(callback)).toBeLessThan(stub.calls.indexOf(edit!));
    expect(edit!.json.content).toContain('Generated 30 keys');
    const lines = edit!.files['keys.txt']!.trim().split('\n');
    expect(lines).toHaveLength(30);
    const stored = await h.deps.db.query<{ n: string }>('select count(*) as n from licenses where license_key = any($1)', [lines]);
    expect(stored[0]!.n).toBe('30');
  });

  it('answer 5 keys in the first response itself, ephemerally', async () => {
    const payload = slash(admin, 'generate', [
      { name: 'plan', value: String(plan.id) },
      { name: 'count', value: 5 },
    ]);
    await dispatch(payload);
    await h.bot!.idle();
    const body = callbackOf(payload)[0]!.json;
    expect(body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(/```\n([\s\S]+)\n```/.exec(body.data.content)![1]!.split('\n')).toHaveLength(5);
    expect(stub.find('PATCH', /@original$/)).toHaveLength(0);
  });
});

describe('packets the gateway adapter ignores', () => {
  it('ignores dispatches that are not interactions', async () => {
    await gateway.onRaw({ t: 'MESSAGE_CREATE', d: { id: '1', token: 'x', content: 'hello', channel_id: CHANNEL } });
    await gateway.onRaw({ t: 'GUILD_CREATE', d: { id: '1' } });
    await gateway.onRaw({ t: null, d: null });
    await gateway.onRaw({});
    expect(stub.calls).toHaveLength(0);
  });

  it.each([
    ['no payload', { t: 'INTERACTION_CREATE' }],
    ['a null payload', { t: 'INTERACTION_CREATE', d: null }],
    ['a string payload', { t: 'INTERACTION_CREATE', d: 'INTERACTION' }],
    ['an empty payload', { t: 'INTERACTION_CREATE', d: {} }],
    ['a numeric id', { t: 'INTERACTION_CREATE', d: { id: 5, token: 'tok', type: 2 } }],
    ['no token', { t: 'INTERACTION_CREATE', d: { id: '5', type: 2 } }],
  ])('drops an INTERACTION_CREATE with %s without throwing', async (_what, packet) => {
    await expect(gateway.onRaw(packet)).resolves.toBeUndefined();
    expect(stub.calls).toHaveLength(0);
  });

  it('answers an interaction it can address but not understand with an ephemeral error', async () => {
    const d = { id: '1000000000000000999', token: 'itoken-nonsense', type: 2, application_id: APP_ID, data: { name: 'licenses' } };
    await expect(dispatch(d)).resolves.toBeUndefined();
    expect(callbackOf(d)[0]!.json).toMatchObject({ type: 4, data: { flags: 64, content: '❌ The interaction has no user.' } });
  });

  it('logs an answer Discord refuses (e.g. an expired interaction) and drops its follow-up work', async () => {
    const refusing = await startRefusingDiscord(404, { code: 10062, message: 'Unknown interaction' });
    try {
      const bot = createDiscordBot(h.deps, { ...h.config.discord, apiUrl: refusing.apiUrl })!;
      const adapter = new GatewayAdapter(bot, log as unknown as Logger);
      const payload = slash(admin, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 30 },
      ]);
      const before = (await h.deps.db.query<{ n: string }>('select count(*) as n from licenses'))[0]!.n;
      await expect(adapter.onRaw({ t: 'INTERACTION_CREATE', d: payload })).resolves.toBeUndefined();
      await bot.idle();
      expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ interaction: payload.id }), 'could not answer an interaction');
      expect(refusing.paths).toEqual([`POST /api/v10/interactions/${payload.id}/${payload.token}/callback`]);
      expect((await h.deps.db.query<{ n: string }>('select count(*) as n from licenses'))[0]!.n).toBe(before);
    } finally {
      await refusing.close();
    }
  });
});
