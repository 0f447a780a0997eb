import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { banLicense } from '../src/core/licenses/license-actions.js';
import { sellerActorFor, findGuildLink } from '../src/core/discord/guild-link.js';
import { encodeCustomId } from '../src/discord/custom-ids.js';
import { startHarness, type Harness, type LicenseView } from './support/harness.js';
import { button, GUILD, MANAGE_GUILD, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * What a Discord command costs the database, counted on the wire (deterministic, unlike time).
 * A read command answers in at most two round trips; a write costs the core's own write plus
 * at most one read of what the command names. Each command is warmed first: a statement's
 * first use on a connection pays a Describe.
 */

const READ_BUDGET = 2;
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000077', name: 'Buyer' };

let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let owned: LicenseView;
let spare: LicenseView;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord, countRoundTrips: true }), admin });
  ({ h, keys } = linked);
  [owned, spare] = (await linked.seller.generate(linked.plan.id, 2)) as [LicenseView, LicenseView];
  await h.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [buyer.id, owned.id]);
});
afterAll(() => linked?.close());

/** Round trips of one interaction (fresh id each time), after `warm` unmeasured runs of it. */
async function cost(payload: () => unknown, check: (answer: any) => void, warm = 3) {
  for (let i = 0; i < warm; i++) check(await sendInteraction(h.app, keys, payload()));
  let answer: any;
  const counted = await h.roundTrips!.measure(async () => {
    answer = await sendInteraction(h.app, keys, payload());
  });
  check(answer);
  return counted;
}

describe('a Discord read command costs at most two database round trips', () => {
  it('/license info', async () => {
    const counted = await cost(
      () => slash(admin, 'license', [{ name: 'key', value: owned.license_key }], 'info'),
      (answer) => expect(answer.data.embeds[0].description ?? JSON.stringify(answer.data.embeds[0])).toContain(owned.license_key),
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });

  it('/stats', async () => {
    const counted = await cost(
      () => slash(admin, 'stats'),
      (answer) => expect(answer.data.embeds[0].title).toContain('My App'),
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });

  it("the customer's My licenses button", async () => {
    const counted = await cost(
      () => button(buyer, encodeCustomId({ kind: 'panel', action: 'licenses' })),
      (answer) => expect(JSON.stringify(answer.data.embeds)).toContain(owned.license_key.slice(-4)),
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });

  it("a page of the customer's My licenses (Next)", async () => {
    const collector: Member = { id: '100000000000000078', name: 'Collector' };
    const theirs = await linked.seller.generate(linked.plan.id, 25);
    await h.deps.db.query('update licenses set discord_user_id = $1 where id = any($2::int[])', [collector.id, theirs.map((l) => l.id)]);
    const counted = await cost(
      () => button(collector, encodeCustomId({ kind: 'licenses-page', page: 1 })),
      (answer) => {
        expect(answer.type).toBe(7);
        expect(answer.data.embeds[0].footer.text).toBe('25 licenses · page 2 of 3');
      },
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });

  it("the customer's Reset HWID menu", async () => {
    const counted = await cost(
      () => button(buyer, encodeCustomId({ kind: 'panel', action: 'reset' })),
      (answer) => expect(answer.data.components[0].components[0].options.map((o: { value: string }) => o.value)).toEqual([String(owned.id)]),
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });

  it("a page of the customer's Reset HWID menu past the hundredth license (Next)", async () => {
    const hoarder: Member = { id: '100000000000000079', name: 'Hoarder' };
    const theirs = await linked.seller.generate(linked.plan.id, 130);
    await h.deps.db.query('update licenses set discord_user_id = $1 where id = any($2::int[])', [hoarder.id, theirs.map((l) => l.id)]);
    const counted = await cost(
      () => button(hoarder, encodeCustomId({ kind: 'reset-page', page: 5 })),
      (answer) => {
        expect(answer.type).toBe(7);
        expect(answer.data.content).toContain('130 licenses · page 6 of 6');
        expect(answer.data.components[0].components[0].options).toHaveLength(5);
      },
    );
    expect(counted.roundTrips, JSON.stringify(counted)).toBeLessThanOrEqual(READ_BUDGET);
  });
});

describe('Discord reads arriving together share one statement', () => {
  it('20 /license info and 20 My licenses at once cost a handful of statements, not 40', async () => {
    const info = () => slash(admin, 'license', [{ name: 'key', value: owned.license_key }], 'info');
    const mine = () => button(buyer, encodeCustomId({ kind: 'panel', action: 'licenses' }));
    for (const p of [info, mine]) await sendInteraction(h.app, keys, p()); // warm
    let answers: any[] = [];
    const counted = await h.roundTrips!.measure(async () => {
      answers = await Promise.all(Array.from({ length: 40 }, (_, i) => sendInteraction(h.app, keys, i % 2 ? mine() : info())));
    });
    expect(answers.filter((_, i) => i % 2 === 0).every((a) => JSON.stringify(a.data.embeds[0]).includes(owned.license_key))).toBe(true);
    expect(answers.filter((_, i) => i % 2 === 1).every((a) => JSON.stringify(a.data.embeds).includes(owned.license_key.slice(-4)))).toBe(true);
    expect(counted.statements, JSON.stringify(counted)).toBeLessThanOrEqual(8);
  });
});

describe('a Discord write command costs what the core write costs, plus one read', () => {
  it('/license ban', async () => {
    const actor = sellerActorFor((await findGuildLink(h.deps.db.orm, GUILD))!, admin);
    const unban = () => h.deps.db.query("update licenses set status = 'inactive', ban_reason = null where id = $1", [spare.id]);
    const coreBan = async () => {
      await unban();
      return h.roundTrips!.measure(() => banLicense(h.deps, actor, spare.id, 'chargeback'));
    };
    const discordBan = async () => {
      await unban();
      let answer: any;
      const counted = await h.roundTrips!.measure(async () => {
        answer = await sendInteraction(
          h.app,
          keys,
          slash(
            admin,
            'license',
            [
              { name: 'key', value: spare.license_key },
              { name: 'reason', value: 'chargeback' },
            ],
            'ban',
          ),
        );
      });
      expect(answer.data.content).toContain('License banned');
      return counted;
    };
    for (let i = 0; i < 3; i++) {
      await coreBan();
      await discordBan();
    }
    const core = await coreBan();
    const discord = await discordBan();
    expect(discord.roundTrips, `discord ${JSON.stringify(discord)}, core ${JSON.stringify(core)}`).toBeLessThanOrEqual(core.roundTrips + 1);
  });
});
