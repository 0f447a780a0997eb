import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGE_GUILD, modal, postInteraction, setupForm, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * Text typed into Discord that Postgres cannot store (a NUL, an unpaired surrogate) is bad input:
 * an ephemeral refusal before any handler. It reached the database, where it failed as a fault
 * ("Something went wrong"), and in the `/license` reads batched per turn it failed every read of
 * that turn, another server's too (an audit).
 */
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let seller: Seller;
let plan: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, keys, seller, plan } = linked);
});
afterAll(() => linked?.close());

const info = (member: Member, key: string) => slash(member, 'license', [{ name: 'key', value: key }], 'info');
const shown = (res: Awaited<ReturnType<typeof postInteraction>>) => (res.json().data?.embeds?.[0]?.title ?? res.json().data?.content) as string;
const REFUSED = /cannot be stored/;

describe('unstorable text typed into Discord', () => {
  it('is refused, ephemeral, in a command option, a modal field and a note', async () => {
    const [lic] = await seller.generate(plan.id, 1);
    for (const res of [
      await postInteraction(h.app, keys, info(admin, 'ABC\u0000DEF')),
      await postInteraction(h.app, keys, info(admin, 'ABC\ud800DEF')),
      await postInteraction(h.app, keys, modal(buyer, 'lic:redeem-modal', { license_key: 'AB\u0000CD' })),
      await postInteraction(
        h.app,
        keys,
        slash(
          admin,
          'license',
          [
            { name: 'key', value: lic!.license_key },
            { name: 'notes', value: 'a\u0000b' },
          ],
          'notes',
        ),
      ),
    ]) {
      expect(res.statusCode).toBe(200);
      expect(res.json().data.flags).toBe(64);
      expect(shown(res)).toMatch(REFUSED);
    }
    // Nothing was written.
    const [row] = await h.deps.db.query<{ notes: string | null }>('select notes from licenses where id = $1', [lic!.id]);
    expect(row?.notes ?? null).toBeNull();
  });

  it("does not fail another server's read of the same turn", async () => {
    const otherGuild = '900000000000000777';
    const other: Member = { id: '100000000000000077', name: 'Mallory', permissions: MANAGE_GUILD };
    const mallory = await h.seller();
    const { app } = await mallory.setup();
    const apiKey = (await mallory.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    expect(shown(await postInteraction(h.app, keys, setupForm(other, { app_id: app.app_id, api_key: apiKey }, { guildId: otherGuild })))).toContain('now linked');
    const [lic] = await seller.generate(plan.id, 1);
    for (const bad of ['X\u0000', 'X\ud800']) {
      const [mine, theirs] = await Promise.all([postInteraction(h.app, keys, info(admin, lic!.license_key)), postInteraction(h.app, keys, { ...info(other, bad), guild_id: otherGuild })]);
      expect(shown(mine)).toContain(lic!.license_key);
      expect(shown(theirs)).toMatch(REFUSED);
    }
  });
});
