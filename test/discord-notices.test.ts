import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { expirySweep } from '../src/core/licenses/expiry-sweep.js';
import { maskKey } from '../src/discord/render.js';
import { client, type Harness, type Seller } from './support/harness.js';
import { JOB_PROVIDERS, startHarnessWith } from './support/job-providers.js';
import type { DiscordStub, RecordedCall } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { CHANNEL, MANAGE_GUILD, modal, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;
const APP_ID = '800000000000000001';
const noticeDays = [3, 1];
const unix = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);

describe.each(JOB_PROVIDERS)('Discord notices with the $name job provider', (provider) => {
  // Signatures are checked against real time; licensing time is this clock's.
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  let h: Harness;
  let stub: DiscordStub;
  let keys: KeyPair;
  let seller: Seller;
  let app: { id: number; app_id: string };
  let plan: { id: number };

  const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
  const alice: Member = { id: '100000000000000051', name: 'Alice' };
  const closed: Member = { id: '100000000000000052', name: 'Closed' };

  let linked: LinkedDiscord;
  beforeAll(async () => {
    linked = await startLinkedDiscord({
      start: (discord) => startHarnessWith(provider, { clock, env: { EXPIRY_SWEEP_EVERY: '1h' }, discord }),
      admin,
      stub: { closedDms: new Set([closed.id]) },
      setup: { plan: { name: 'Monthly', duration_days: 10 } },
    });
    ({ h, stub, keys, seller, app, plan } = linked);
  });
  afterAll(() => linked?.close());

  const send = (payload: unknown) => postInteraction(h.app, keys, payload);
  const dmsTo = (userId: string) => stub.find('POST', new RegExp(`^/channels/dm${userId}/messages$`));
  const logPosts = () => stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`));
  const postsAbout = (calls: RecordedCall[], key: string) => calls.filter((c) => String(c.json?.content).includes(maskKey(key)));

  describe('expiry notices', () => {
    let owned: { id: number; license_key: string };
    let unreachable: { id: number; license_key: string };
    let unclaimed: { id: number; license_key: string };
    let expiresAt: string;

    beforeAll(async () => {
      const made = await seller.generate(plan.id, 3);
      expect(made).toHaveLength(3);
      [owned, unreachable, unclaimed] = [made[0]!, made[1]!, made[2]!];
      for (const [who, lic] of [
        [alice, owned],
        [closed, unreachable],
      ] as const) {
        const res = await send(modal(who, 'lic:redeem-modal', { license_key: lic.license_key }));
        expect(res.json().data.content).toContain('Redeemed');
      }
      for (const lic of [owned, unreachable, unclaimed]) {
        expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic.license_key, hwid: 'PC' })).json().code).toBe('VALID');
      }
      expiresAt = (await seller.call('GET', `/api/licenses/${owned.id}`)).json().expires_at;
      expect(new Date(expiresAt).getTime()).toBe(clock.now().getTime() + 10 * DAY);
    });

    it("reach the owner by DM and the server's log channel when a license is about to expire", async () => {
      stub.clear();
      clock.set(new Date(new Date(expiresAt).getTime() - 2.5 * DAY));
      expect((await expirySweep(h.deps, { noticeDays })).expiringSoon).toBe(3);

      const [dm] = await waitFor(() => dmsTo(alice.id).length > 0 && dmsTo(alice.id), 15_000, "Alice's DM");
      const opened = stub.find('POST', /^\/users\/@me\/channels$/).filter((c) => c.json.recipient_id === alice.id);
      expect(opened).toHaveLength(1);
      expect(stub.calls.indexOf(opened[0]!)).toBeLessThan(stub.calls.indexOf(dm!));
      expect(dm!.headers.authorization).toBe('Bot test-bot-token-0123456789');
      expect(dm!.json.content).toBe(`Your **My App** license \`${maskKey(owned.license_key)}\` expires <t:${unix(expiresAt)}:R>.`);

      const posts = await waitFor(() => logPosts().length >= 3 && logPosts(), 15_000, 'three log channel posts');
      const [aboutAlice] = postsAbout(posts, owned.license_key);
      expect(aboutAlice!.json.content).toBe(`⏰ A **My App** license \`${maskKey(owned.license_key)}\` expires <t:${unix(expiresAt)}:R>. (owner <@${alice.id}>)`);
      expect(aboutAlice!.json.allowed_mentions).toEqual({ parse: [] });
      // A license nobody redeemed has no one to DM; the log channel still hears of it.
      expect(postsAbout(posts, unclaimed.license_key)[0]!.json.content).not.toContain('owner');
    });

    it('log a DM that Discord refuses, never retry it, and still post in the log channel', async () => {
      const info = vi.spyOn(h.deps.log, 'info');
      stub.clear();
      clock.set(new Date(new Date(expiresAt).getTime() + 1000));
      expect((await expirySweep(h.deps, { noticeDays })).expired).toBe(3);

      const posts = await waitFor(() => logPosts().length >= 3 && logPosts(), 15_000, 'three log channel posts');
      for (const lic of [owned, unreachable, unclaimed]) {
        expect(postsAbout(posts, lic.license_key)[0]!.json.content).toBe(
          `⌛ A **My App** license \`${maskKey(lic.license_key)}\` has expired.${lic === unclaimed ? '' : ` (owner <@${lic === owned ? alice.id : closed.id}>)`}`,
        );
      }
      expect(dmsTo(alice.id).map((c) => c.json.content)).toEqual([`Your **My App** license \`${maskKey(owned.license_key)}\` has expired.`]);
      expect(info).toHaveBeenCalledWith({ user: closed.id, license: unreachable.id }, 'expiry notice not delivered: the user does not accept DMs');

      // Give a retry every chance to show up: every expired event dispatched, none waiting for a retry.
      await waitFor(
        async () => {
          const [left] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.expired' and dispatched_at is null`);
          return left!.n === 0 || undefined;
        },
        15_000,
        'every license.expired event dispatched',
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(dmsTo(closed.id)).toHaveLength(1);
      info.mockRestore();
    });

    it('are sent once per window however often the sweep runs', async () => {
      stub.clear();
      await expirySweep(h.deps, { noticeDays });
      await new Promise((r) => setTimeout(r, 300));
      expect(stub.calls).toHaveLength(0);
    });

    it('never put a whole key in the log channel or a DM', () => {
      for (const lic of [owned, unreachable, unclaimed]) for (const c of stub.calls) expect(JSON.stringify(c.json)).not.toContain(lic.license_key);
    });
  });

  describe('/generate for a member', () => {
    const generateFor = (user: Member, count: number) =>
      slash(admin, 'generate', [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: count },
        { name: 'user', value: user.id },
      ]);
    const ownedBy = async (userId: string) =>
      (await h.deps.db.query<{ license_key: string }>('select license_key from licenses where discord_user_id = $1 order by id', [userId])).map((r) => r.license_key);

    it('assigns the keys to the member and DMs them', async () => {
      stub.clear();
      const before = await ownedBy(alice.id);
      const payload = generateFor(alice, 3);
      const res = await send(payload);
      expect(res.json()).toEqual({ type: 5, data: { flags: 64 } });
      await h.bot!.idle();

      const assigned = (await ownedBy(alice.id)).filter((k) => !before.includes(k));
      expect(assigned).toHaveLength(3);
      const [dm] = dmsTo(alice.id);
      expect(dm!.json.content).toContain('You received 3 **My App** license keys');
      expect(/```\n([\s\S]+)\n```/.exec(dm!.json.content)![1]!.split('\n').sort()).toEqual([...assigned].sort());

      const [edit] = stub.find('PATCH', new RegExp(`^/webhooks/${APP_ID}/${payload.token}/messages/@original$`));
      expect(edit!.json.content).toContain(`Assigned to <@${alice.id}> and sent by DM.`);
      expect(edit!.json.allowed_mentions).toEqual({ parse: [] });
      // Keys go nowhere public: only the DM and the seller's ephemeral reply carry them.
      for (const c of stub.calls.filter((c) => c !== dm && c !== edit)) for (const k of assigned) expect(JSON.stringify(c.json)).not.toContain(k);
    });

    it("tells the seller when the member's DMs are closed, and still assigns the keys", async () => {
      stub.clear();
      const before = await ownedBy(closed.id);
      const payload = generateFor(closed, 3);
      expect((await send(payload)).json().type).toBe(5);
      await h.bot!.idle();

      const assigned = (await ownedBy(closed.id)).filter((k) => !before.includes(k));
      expect(assigned).toHaveLength(3);
      expect(dmsTo(closed.id)).toHaveLength(1);
      const [edit] = stub.find('PATCH', new RegExp(`^/webhooks/${APP_ID}/${payload.token}/messages/@original$`));
      expect(edit!.json.content).toContain('their DMs are closed');
      // The seller gets the keys to hand over themselves.
      expect(/```\n([\s\S]+)\n```/.exec(edit!.json.content)![1]!.split('\n').sort()).toEqual([...assigned].sort());
    });
  });
});
