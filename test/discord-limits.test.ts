import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderDeliverer } from '../src/discord/order-delivery.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { ephemeralText, MANAGE_GUILD, select, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';

/**
 * Lists and keys at their largest, as a seller can make them: every answer stays within Discord's
 * limits (2,000 characters a message, 4,096 an embed description, 1,024 a field) without
 * dropping what it says it shows, and ids past Postgres's integer are refused as input.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
const ROLE = '900000000000000020';
/** The longest key /generate makes: a 32-character prefix and a 128-character mask. */
const LONGEST_KEY = { format: 'custom', prefix: 'P'.repeat(32), custom_format: 'X'.repeat(128) };
const CUT_NOTE = 'cut to fit a Discord message';

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, stub, keys, seller, app, plan } = linked);
});
afterAll(() => linked?.close());

const send = (payload: unknown) => sendInteraction(h.app, keys, payload);
const say = (payload: unknown) => ephemeralText(h.app, keys, payload);
const options = (o: Record<string, string | number>) => Object.entries(o).map(([name, value]) => ({ name, value }));

/** The deferred answer's edit, once the bot's follow-up work is done. */
async function editOf(token: string) {
  await h.bot!.idle();
  const edits = stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${token}/messages/@original$`));
  expect(edits, JSON.stringify(stub.calls.map((c) => c.path))).toHaveLength(1);
  return edits[0]!;
}

describe('/generate with the longest keys', () => {
  it('attaches 25 keys of 160 characters as keys.txt instead of cutting the code block after 11', async () => {
    stub.clear();
    const payload = slash(admin, 'generate', options({ plan: String(plan.id), count: 25, ...LONGEST_KEY }));
    expect(await send(payload)).toEqual({ type: 5, data: { flags: 64 } });
    const edit = await editOf(payload.token);
    expect(edit.json.content).toBe('✅ Generated 25 keys (attached as keys.txt)');
    const sent = edit.files['keys.txt']!.trim().split('\n');
    expect(sent).toHaveLength(25);
    expect(sent.every((k) => /^P{32}[A-Z0-9]{128}$/.test(k))).toBe(true);
    const [stored] = await h.deps.db.query<{ count: number }>('select count(*)::int as count from licenses where license_key = any($1)', [sent]);
    expect(stored!.count).toBe(25);
  });

  it('DMs the member 25 such keys as keys.txt too, and tells the seller', async () => {
    stub.clear();
    const payload = slash(admin, 'generate', options({ plan: String(plan.id), count: 25, ...LONGEST_KEY, user: buyer.id }));
    expect((await send(payload)).type).toBe(5);
    const edit = await editOf(payload.token);
    expect(edit.json.content).toBe(`✅ Generated 25 keys\nAssigned to <@${buyer.id}> and sent by DM. (attached as keys.txt)`);
    const [dm] = stub.find('POST', new RegExp(`^/channels/dm${buyer.id}/messages$`));
    expect(dm!.json.content).toBe('You received 25 **My App** license keys: (attached as keys.txt)');
    expect(dm!.files['keys.txt']!.trim().split('\n')).toEqual(edit.files['keys.txt']!.trim().split('\n'));
  });

  it("DMs a store order's 25 such keys to the buyer as keys.txt", async () => {
    stub.clear();
    const bought = await seller.generate(plan.id, 25, LONGEST_KEY);
    const order = { order_id: 'ord-1', plan_id: plan.id, discord_user_id: buyer.id, licenses: bought.map((l) => ({ id: l.id, license_key: l.license_key })) };
    await orderDeliverer(h.deps, h.bot!.context.api)({ type: 'order.fulfilled', applicationId: app.id, payload: order } as never);
    const [dm] = stub.find('POST', new RegExp(`^/channels/dm${buyer.id}/messages$`));
    expect(dm!.json.content).toBe('Thank you for your purchase! Your **My App** license keys: (attached as keys.txt)');
    expect(dm!.files['keys.txt']!.trim().split('\n')).toEqual(bought.map((l) => l.license_key));
  });

  it('still answers a few short keys inline, at once', async () => {
    const text = await say(slash(admin, 'generate', options({ plan: String(plan.id), count: 3 })));
    expect(/```\n([\s\S]+)\n```/.exec(text)![1]!.split('\n')).toHaveLength(3);
  });
});

describe('/license info of a license on many machines', () => {
  it('shows the HWIDs that fit the field and counts the rest, instead of failing', async () => {
    const many = (await seller.call('POST', '/api/plans/', { application_id: app.id, name: 'Site', duration_days: 30, max_hwids: 20 })).json();
    const [lic] = await seller.generate(many.id);
    const hwids = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'A'.repeat(62)}`);
    for (const hwid of hwids) expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid })).json().code).toBe('VALID');
    const body = await send(slash(admin, 'license', [{ name: 'key', value: lic!.license_key }], 'info'));
    const field = (body.data.embeds[0].fields as { name: string; value: string }[]).find((f) => f.name === 'HWIDs')!.value;
    expect(field.length).toBeLessThanOrEqual(1024);
    const lines = field.split('\n');
    const more = /^…and (\d+) more$/.exec(lines.pop()!);
    expect(more, field).not.toBeNull();
    expect(lines.length + Number(more![1])).toBe(20);
    for (const line of lines) expect(hwids.map((x) => `\`${x}\``)).toContain(line);
  });
});

describe('/plans with 25 long plans', () => {
  it('lists whole lines within the embed description and counts the rest, instead of failing', async () => {
    // Every plan at its longest line: a 100-character name, the longest duration, a HWID limit and a role.
    const longest = (i: number) => ({ name: `Plan ${i} `.padEnd(100, 'x'), duration_days: 36_500, max_hwids: 100, discord_role_id: ROLE });
    const existing = await h.deps.db.query<{ id: number }>('select id from plans where application_id = $1', [app.id]);
    for (const p of existing) expect((await seller.call('PUT', `/api/plans/${p.id}`, longest(p.id))).statusCode).toBe(200);
    for (let i = existing.length; i < 25; i++) expect((await seller.call('POST', '/api/plans/', { application_id: app.id, ...longest(i) })).statusCode).toBe(201);
    const embed = (await send(slash(admin, 'plans'))).data.embeds[0];
    expect(embed.title).toBe('My App — plans');
    expect(embed.description.length).toBeLessThanOrEqual(4096);
    const lines = (embed.description as string).split('\n');
    const more = /^…and (\d+) more \(GET \/api\/applications\/:id\/plans lists them all\)\.$/.exec(lines.pop()!);
    expect(more, embed.description).not.toBeNull();
    expect(lines.length + Number(more![1])).toBe(25);
    for (const line of lines) expect(line).toMatch(new RegExp(`^\\*\\*Plan \\d+ x+\\*\\* \\(#\\d+\\) · 36500 days · 100 HWIDs · grants <@&${ROLE}>$`));
  });
});

describe('/blacklist list with long entries', () => {
  it('shows every entry of a full page, so none falls between page 1 and page 2', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await seller.call('POST', `/api/applications/${app.id}/blacklist`, {
        type: 'hwid',
        value: `${String(i).padStart(2, '0')}${'H'.repeat(62)}`,
        reason: `reason ${i} `.padEnd(200, 'r'),
      });
      expect(res.statusCode, res.body).toBe(201);
      ids.push(res.json().id);
    }
    const page = async (n: number) => {
      const text = await say(slash(admin, 'blacklist', [{ name: 'page', value: n }], 'list'));
      expect(text.length).toBeLessThanOrEqual(2000);
      expect(text).not.toContain(CUT_NOTE);
      return text.split('\n').slice(1);
    };
    const first = await page(1);
    const second = await page(2);
    expect([...first, ...second].map((l) => Number(/^#(\d+) · HWID `/.exec(l)![1]))).toEqual(ids);
    expect(first[0]).toMatch(new RegExp(`^#${ids[0]} · HWID \`00H{62}\` — reason 0 r+…$`));
  });
});

describe('ids past Postgres integer', () => {
  it('are refused as input, with the answer a bad pick gets', async () => {
    const tooLarge = '3000000000';
    expect(await say(slash(admin, 'generate', options({ plan: tooLarge, count: 1 })))).toBe('❌ Pick a plan from the list.');
    expect(await say(slash(admin, 'generate', options({ plan: '1e3', count: 1 })))).toBe('❌ Pick a plan from the list.');
    expect(await say(slash(admin, 'export', options({ plan: tooLarge })))).toBe('❌ Pick a plan from the list.');
    expect(await say(slash(admin, 'license', options({ plan: tooLarge }), 'search'))).toBe('❌ Pick a plan from the list.');
    expect(await say(slash(admin, 'webhook', options({ webhook: `#${tooLarge}` }), 'test'))).toBe('❌ Pick a webhook from the list (or give its id).');
    expect(await say(select(buyer, 'lic:reset-select', [tooLarge]))).toBe('Please choose a license from the list.');
  });
});
