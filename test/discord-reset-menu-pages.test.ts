import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCustomId } from '../src/discord/custom-ids.js';
import { startHarness, type Harness, type LicenseView } from './support/harness.js';
import { button, MANAGE_GUILD, select, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * The Reset HWID menu reaches every license a customer has, 25 a page (a select's limit): each
 * page is read on its own, Previous/Next turn it in place, a count says where the customer is, and
 * a license past the hundredth can be reset like the first.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const sam: Member = { id: '100000000000000041', name: 'Sam' };
const tess: Member = { id: '100000000000000042', name: 'Tess' };
const uma: Member = { id: '100000000000000043', name: 'Uma' };
const nobody: Member = { id: '100000000000000044', name: 'Nobody' };

const PROMPT = 'Which license should be freed from its current computer?';

let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let sams: LicenseView[];
let tesss: LicenseView[];
let umas: LicenseView[];

/** Licenses made for the application and given to `member`, every `boundEvery`th bound to a computer (oldest first). */
async function licensesOf(member: Member, count: number, boundEvery = 0) {
  const made = (await linked.seller.generate(linked.plan.id, count)).sort((a, b) => a.id - b.id);
  await h.deps.db.query('update licenses set discord_user_id = $1 where id = any($2::int[])', [member.id, made.map((l) => l.id)]);
  const bound = made.filter((_, i) => boundEvery > 0 && i % boundEvery === 0).map((l) => l.id);
  await h.deps.db.query("update licenses set hwids = array['hw-' || id::text], status = 'active', activated_at = now() where id = any($1::int[])", [bound]);
  return made;
}

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, keys } = linked);
  sams = await licensesOf(sam, 60, 4);
  tesss = await licensesOf(tess, 130);
  umas = await licensesOf(uma, 2);
  // Tess's last two (the 129th and 130th) are the ones she wants to move.
  await h.deps.db.query("update licenses set hwids = array['tess-pc', 'tess-laptop'], status = 'active', activated_at = now() where id = any($1::int[])", [tesss.slice(128).map((l) => l.id)]);
});
afterAll(() => linked?.close());

type Answer = {
  type: number;
  data: {
    flags?: number;
    content: string;
    components: { components: { custom_id: string; label?: string; disabled?: boolean; placeholder?: string; options?: { value: string; description: string }[] }[] }[];
  };
};
const send = (payload: unknown): Promise<Answer> => sendInteraction(h.app, keys, payload);
const openMenu = (member: Member) => send(button(member, encodeCustomId({ kind: 'panel', action: 'reset' })));
const turnTo = (member: Member, page: number) => send(button(member, encodeCustomId({ kind: 'reset-page', page })));
const reset = (member: Member, licenseId: number) => send(select(member, encodeCustomId({ kind: 'reset-select' }), [String(licenseId)]));

/** The license ids a page offers, in the order offered. */
const offered = (answer: Answer) => answer.data.components[0]!.components[0]!.options!.map((o) => Number(o.value));
const pager = (answer: Answer) => answer.data.components[1]!.components.map((b) => [b.label, b.custom_id, b.disabled ?? false]);
const ids = (list: LicenseView[]) => list.map((l) => l.id);
const byId = (a: number, b: number) => a - b;
const hwidsOf = async (licenseId: number) => (await h.deps.db.query<{ hwids: string[] }>('select hwids from licenses where id = $1', [licenseId]))[0]!.hwids;

describe('the reset menu of a customer with 60 licenses (three pages)', () => {
  it('opens on the first 25, bound ones first, counted, with Previous disabled and Next to page 2', async () => {
    const first = await openMenu(sam);
    expect(first.type).toBe(4);
    expect(first.data.flags).toBe(64);
    expect(first.data.content).toBe(`${PROMPT}\n60 licenses · page 1 of 3`);
    const page = sams.slice(0, 25);
    const bound = page.filter((_, i) => i % 4 === 0);
    expect(offered(first)).toEqual([...ids(bound), ...ids(page.filter((l) => !bound.includes(l)))]);
    expect(first.data.components[0]!.components[0]!.options!.slice(0, bound.length).every((o) => o.description === 'HWID bound')).toBe(true);
    expect(first.data.components[0]!.components[0]!.placeholder).toBe('Choose the license to reset (page 1 of 3)');
    expect(pager(first)).toEqual([
      ['Previous', 'lic:reset-page:0', true],
      ['Next', 'lic:reset-page:1', false],
    ]);
    expect(await send(slash(sam, 'reset-hwid'))).toEqual(first);
  });

  it('turns the pages in place, every license on exactly one page, the last page the last ten', async () => {
    const pages = [await turnTo(sam, 0), await turnTo(sam, 1), await turnTo(sam, 2)];
    pages.forEach((page, p) => {
      expect(page.type).toBe(7);
      expect(page.data.content).toBe(`${PROMPT}\n60 licenses · page ${p + 1} of 3`);
      expect(pager(page)).toEqual([
        ['Previous', `lic:reset-page:${Math.max(0, p - 1)}`, p === 0],
        ['Next', `lic:reset-page:${Math.min(2, p + 1)}`, p === 2],
      ]);
      expect([...offered(page)].sort(byId)).toEqual(ids(sams.slice(p * 25, (p + 1) * 25)));
    });
    const all = pages.flatMap(offered);
    expect(all).toHaveLength(60);
    expect([...all].sort(byId)).toEqual(ids(sams));
    expect(offered(pages[2]!)).toHaveLength(10);
    // A page past the end (licenses went since the buttons were drawn) is the last one.
    expect((await turnTo(sam, 99)).data).toEqual(pages[2]!.data);
  });
});

describe('the reset menu of a customer with 130 licenses (past the hundredth)', () => {
  it('reaches every one of them, six pages of 25 and a last page of five', async () => {
    const first = await openMenu(tess);
    expect(first.data.content).toBe(`${PROMPT}\n130 licenses · page 1 of 6`);
    const seen = offered(first);
    for (let page = 1; page < 6; page++) {
      const next = await turnTo(tess, page);
      expect(next.type).toBe(7);
      expect(next.data.content).toBe(`${PROMPT}\n130 licenses · page ${page + 1} of 6`);
      seen.push(...offered(next));
    }
    expect(seen).toHaveLength(130);
    expect([...seen].sort(byId)).toEqual(ids(tesss));
    const last = await turnTo(tess, 5);
    expect([...offered(last)].sort(byId)).toEqual(ids(tesss.slice(125)));
    expect(pager(last)).toEqual([
      ['Previous', 'lic:reset-page:4', false],
      ['Next', 'lic:reset-page:5', true],
    ]);
    expect((await turnTo(tess, 999)).data).toEqual(last.data);
  });

  it('resets the HWID of the 130th, chosen from the last page, end to end', async () => {
    const last = await turnTo(tess, 5);
    const target = tesss[129]!;
    // Bound licenses lead the page: the 129th and 130th.
    expect(offered(last).slice(0, 2)).toEqual([tesss[128]!.id, target.id]);
    expect(await hwidsOf(target.id)).toEqual(['tess-pc', 'tess-laptop']);
    linked.stub.clear();
    const answer = await reset(tess, offered(last)[1]!);
    expect(answer.type).toBe(4);
    expect(answer.data.flags).toBe(64);
    expect(answer.data.content).toContain('✅ HWID reset');
    expect(linked.stub.calls).toEqual([]); // answered inline: nothing to call Discord for
    expect(await hwidsOf(target.id)).toEqual([]);
    const view = (await linked.seller.call('GET', `/api/licenses/${target.id}`)).json();
    expect(view).toMatchObject({ hwids: [], discord_user_id: tess.id });
    // The reset is the one the menu offered, and only it: the 129th is still bound.
    expect(await hwidsOf(tesss[128]!.id)).toEqual(['tess-pc', 'tess-laptop']);
    // Its page now lists it among the unbound, still on the same page.
    expect([...offered(await turnTo(tess, 5))].sort(byId)).toEqual(ids(tesss.slice(125)));
  });
});

describe('who sees and resets what', () => {
  it("shows whoever clicks a page button their own licenses, never the customer's whose menu it was", async () => {
    const theirs = await turnTo(uma, 5);
    expect(theirs.type).toBe(7);
    expect(offered(theirs)).toEqual(ids(umas));
    expect(theirs.data.content).toBe(PROMPT);
    expect(theirs.data.components).toHaveLength(1); // one page: no pager
    const none = await turnTo(nobody, 2);
    expect(none.type).toBe(7);
    expect(none.data).toEqual({ content: 'You have no licenses here to reset.', components: [] });
    expect((await openMenu(nobody)).data).toMatchObject({ flags: 64, content: 'You have no licenses here to reset.' });
  });

  it("refuses a reset of someone else's license, past the hundredth too, and leaves it bound", async () => {
    const theirs = tesss[128]!;
    const answer = await reset(uma, theirs.id);
    expect(answer.data).toMatchObject({ flags: 64, content: expect.stringContaining('not one of yours') });
    expect(await hwidsOf(theirs.id)).toEqual(['tess-pc', 'tess-laptop']);
  });

  it('never shows a key whole', async () => {
    for (const page of [0, 1, 2]) {
      const answer = JSON.stringify(await turnTo(sam, page));
      for (const l of sams) expect(answer).not.toContain(l.license_key);
    }
  });
});
