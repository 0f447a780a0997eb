import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { maskKey } from '../src/discord/render.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { discordKeyPair, MANAGE_GUILD, modal, postInteraction, linkServer, type Member } from './support/discord-interactions.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;
// Signatures are checked against real time; licensing time is this clock's.
const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000051', name: 'Alice' };

let h: Harness;
let stub: DiscordStub;
const keys = discordKeyPair();
beforeAll(async () => {
  stub = await startDiscordStub();
  h = await startHarness({ clock, jobs: 'local', env: { EXPIRY_SWEEP_EVERY: '100ms' }, discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

describe('the local job provider and the Discord bot', () => {
  it("sends the expiry notice of its own sweep to the owner's DMs, with no Redis and no worker process", async () => {
    const seller = await h.seller();
    const { app, plan } = await seller.setup({ plan: { name: 'Monthly', duration_days: 10 } });
    await linkServer(h.app, keys, seller, admin, app.app_id);
    const [lic] = await seller.generate(plan.id);
    expect((await postInteraction(h.app, keys, modal(alice, 'lic:redeem-modal', { license_key: lic!.license_key }))).json().data.content).toContain('Redeemed');
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).json().code).toBe('VALID');

    clock.advance(11 * DAY);
    const dms = await waitFor(() => {
      const found = stub.find('POST', new RegExp(`^/channels/dm${alice.id}/messages$`));
      return found.length > 0 && found;
    }, 15_000, "Alice's expiry DM");
    expect(dms.map((c) => c.json.content)).toEqual([`Your **My App** license \`${maskKey(lic!.license_key)}\` has expired.`]);
  });
});
