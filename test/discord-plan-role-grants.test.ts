import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderDeliveryTargets } from '../src/core/discord/order-delivery-targets.js';
import { discordKeyPair, MANAGE_GUILD, modal, postInteraction, setupForm, type KeyPair, type Member } from './support/discord-interactions.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * A plan may not take the seller role of a server already linked (test/plan-discord-role.test.ts);
 * this is the other order: the plan's role was set first, then a server was linked with that role
 * as its seller role. Redeeming a key of the plan, or buying one in a store, must not make the
 * buyer a seller there.
 */
const ROLE = '900000000000000091';
const OTHER_GUILD = '900000000000000090';
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000067', name: 'Buyer' };
const inGuild = <T extends object>(payload: T, guildId: string) => ({ ...payload, guild_id: guildId });

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe("a plan's role that became a linked server's seller role", () => {
  it('is not granted on redeem, nor named among the servers a store order grants it in', async () => {
    const owner = await h.seller();
    const { app, plan } = await owner.setup({ plan: { discord_role_id: ROLE } });
    const apiKey = (await owner.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const linked = await postInteraction(h.app, keys, setupForm(admin, { app_id: app.app_id, api_key: apiKey }, { guildId: OTHER_GUILD, sellerRoleId: ROLE }));
    expect(String(linked.json().data?.content)).toContain('now linked');

    const [key] = await owner.generate(plan.id, 1);
    const redeemed = await postInteraction(h.app, keys, inGuild(modal(buyer, 'lic:redeem-modal', { license_key: key!.license_key }), OTHER_GUILD));
    expect(redeemed.statusCode).toBe(200);
    const answer = String(redeemed.json().data?.content);
    expect(answer).toContain('Redeemed');
    expect(answer).toContain('not granted');
    // A grant, were one made, runs after the answer.
    await new Promise((r) => setTimeout(r, 300));
    expect(stub.calls.filter((c) => c.method === 'PUT' && c.path.includes('/roles/'))).toEqual([]);

    const targets = await orderDeliveryTargets(h.deps.db, app.id, plan.id);
    expect(targets).toMatchObject({ roleId: ROLE, guildIds: [] });
  });
});
