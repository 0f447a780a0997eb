import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCustomId } from '../src/discord/custom-ids.js';
import { maskKey } from '../src/discord/render.js';
import { startHarness, type Harness, type LicenseView } from './support/harness.js';
import { button, MANAGE_GUILD, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * My licenses shows a customer every license they have, ten a page: Previous/Next turn the page in
 * place, a footer counts them, and the buttons show whoever clicks them their own licenses.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const pat: Member = { id: '100000000000000031', name: 'Pat' };
const quinn: Member = { id: '100000000000000032', name: 'Quinn' };
const nobody: Member = { id: '100000000000000033', name: 'Nobody' };

let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let pats: LicenseView[];
let quinns: LicenseView[];

/** Licenses made for the application and given to `member` (oldest first, as the list shows them). */
async function licensesOf(member: Member, count: number) {
  const made = await linked.seller.generate(linked.plan.id, count);
  await h.deps.db.query('update licenses set discord_user_id = $1 where id = any($2::int[])', [member.id, made.map((l) => l.id)]);
  return made.sort((a, b) => a.id - b.id);
}

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, keys } = linked);
  pats = await licensesOf(pat, 23);
  quinns = await licensesOf(quinn, 2);
});
afterAll(() => linked?.close());

type Answer = {
  type: number;
  data: { flags?: number; content: string; embeds: { description: string; footer: { text: string } }[]; components: { components: { label: string; custom_id: string; disabled?: boolean }[] }[] };
};
const send = (payload: unknown): Promise<Answer> => sendInteraction(h.app, keys, payload);
const myLicenses = (member: Member) => send(button(member, encodeCustomId({ kind: 'panel', action: 'licenses' })));
const turnTo = (member: Member, page: number) => send(button(member, encodeCustomId({ kind: 'licenses-page', page })));

/** The masked keys a page lists, in order. */
const listed = (answer: Answer) => answer.data.embeds[0]!.description.split('\n\n').map((entry) => /`([^`]+)`/.exec(entry)![1]!);
const pager = (answer: Answer) => answer.data.components[0]!.components.map((b) => [b.label, b.custom_id, b.disabled ?? false]);
const masked = (list: LicenseView[]) => list.map((l) => maskKey(l.license_key));

describe('My licenses for a customer with more than a page', () => {
  it('opens on the first ten, counted, with Previous disabled and Next to page 2', async () => {
    const first = await myLicenses(pat);
    expect(first.type).toBe(4);
    expect(first.data.flags).toBe(64);
    expect(listed(first)).toEqual(masked(pats.slice(0, 10)));
    expect(first.data.embeds[0]!.footer.text).toBe('23 licenses · page 1 of 3');
    expect(pager(first)).toEqual([
      ['Previous', 'lic:licenses-page:0', true],
      ['Next', 'lic:licenses-page:1', false],
    ]);
    expect(await send(slash(pat, 'licenses'))).toEqual(first);
  });

  it('turns the pages in place, every license on exactly one of them, and back', async () => {
    const second = await turnTo(pat, 1);
    expect(second.type).toBe(7);
    expect(second.data.embeds[0]!.footer.text).toBe('23 licenses · page 2 of 3');
    expect(pager(second)).toEqual([
      ['Previous', 'lic:licenses-page:0', false],
      ['Next', 'lic:licenses-page:2', false],
    ]);
    const third = await turnTo(pat, 2);
    expect(third.data.embeds[0]!.footer.text).toBe('23 licenses · page 3 of 3');
    expect(pager(third)).toEqual([
      ['Previous', 'lic:licenses-page:1', false],
      ['Next', 'lic:licenses-page:2', true],
    ]);
    const back = await turnTo(pat, 0);
    expect(back.type).toBe(7);
    expect([...listed(back), ...listed(second), ...listed(third)]).toEqual(masked(pats));
    // A page past the end (a license went since the buttons were drawn) is the last one.
    expect((await turnTo(pat, 99)).data).toEqual(third.data);
  });

  it("shows whoever clicks a page button their own licenses, never the customer's whose message it was", async () => {
    const theirs = await turnTo(quinn, 1);
    expect(theirs.type).toBe(7);
    expect(listed(theirs)).toEqual(masked(quinns));
    expect(theirs.data.embeds[0]!.footer.text).toBe('2 licenses');
    expect(theirs.data.components).toEqual([]);
    const none = await turnTo(nobody, 2);
    expect(none.type).toBe(7);
    expect(none.data).toEqual({ content: expect.stringContaining('no licenses here yet'), embeds: [], components: [] });
    for (const answer of [theirs, none]) for (const l of pats) expect(JSON.stringify(answer)).not.toContain(maskKey(l.license_key));
  });

  it('never shows a key whole', async () => {
    for (const page of [0, 1, 2]) {
      const answer = JSON.stringify(await turnTo(pat, page));
      for (const l of pats) expect(answer).not.toContain(l.license_key);
    }
  });
});

describe('My licenses for a customer with hundreds', () => {
  it('lists every one of 135, a page at a time, and the last page is the last five', async () => {
    const rae: Member = { id: '100000000000000034', name: 'Rae' };
    const raes = await licensesOf(rae, 135);
    const first = await myLicenses(rae);
    expect(first.data.embeds[0]!.footer.text).toBe('135 licenses · page 1 of 14');
    const seen = listed(first);
    for (let page = 1; page < 14; page++) {
      const next = await turnTo(rae, page);
      expect(next.data.embeds[0]!.footer.text).toBe(`135 licenses · page ${page + 1} of 14`);
      seen.push(...listed(next));
    }
    expect(seen).toEqual(masked(raes));
    expect(listed(await turnTo(rae, 13))).toEqual(masked(raes.slice(130)));
    expect(listed(await turnTo(rae, 500))).toEqual(masked(raes.slice(130)));
  });
});
