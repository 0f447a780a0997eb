import { ApplicationCommandOptionType, InteractionType } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SellerActor } from '../src/core/actor.js';
import { confirmBulkAction, requestBulkAction, runBulkLicenseJob } from '../src/core/jobs/bulk-license-job.js';
import type { LicenseView } from '../src/core/licenses/license-view.js';
import { decodeCustomId, encodeCustomId } from '../src/discord/custom-ids.js';
import { SEARCH_LINE_MAX, SEARCH_PAGE, searchLine, searchMessage } from '../src/discord/license-search.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { waitFor } from './support/wait.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { button, ephemeralText, MANAGE_GUILD, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const otherSeller: Member = { id: '100000000000000002', name: 'Co-seller', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
const owner = '300000000000000042';

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let plan: { id: number; name: string };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ jobs: 'workers', discord }), admin });
  ({ h, stub, keys, seller, plan } = linked);
});
afterAll(() => linked?.close());

type Opt = { name: string; value: string | number };
const license = (member: Member, sub: string, options: Opt[] = []) => slash(member, 'license', options, sub);
const say = (payload: unknown) => ephemeralText(h.app, keys, payload);
const make = (count: number, extra: Record<string, unknown> = {}) => seller.generate(plan.id, count, extra);

/** An autocomplete interaction on a /license subcommand, the focused option nested as Discord nests it. */
function autocompleteIn(member: Member, sub: string, focused: string, value: string) {
  const payload = slash(member, 'license', [], sub) as { type: InteractionType; data: { options: { options: unknown[] }[] } };
  payload.type = InteractionType.ApplicationCommandAutocomplete;
  payload.data.options[0]!.options = [{ name: focused, type: ApplicationCommandOptionType.String, value, focused: true }];
  return payload;
}
const choices = async (member: Member, sub: string, focused: string, value: string) => {
  const body = await sendInteraction(h.app, keys, autocompleteIn(member, sub, focused, value));
  expect(body.type).toBe(8);
  return body.data.choices as { name: string; value: string }[];
};

/** A user option (type 6): Discord sends the member's id. */
const userOption = (id: string) => ({ name: 'user', value: id });
const withUserType = (payload: ReturnType<typeof license>) => {
  for (const o of (payload.data as { options: { options: { name: string; type: number }[] }[] }).options[0]!.options) if (o.name === 'user') o.type = ApplicationCommandOptionType.User;
  return payload;
};

const statusOf = async (id: number) => (await seller.call('GET', `/api/licenses/${id}`)).json().status as string;
const count = async (text: string, params: unknown[]) => Number((await h.deps.db.query<{ n: number | string }>(text, params))[0]!.n);

/** Asks for a bulk action and answers its buttons' custom ids (asserting the question). */
async function askBulk(member: Member, options: Opt[], expectCount: number) {
  const body = await sendInteraction(h.app, keys, license(member, 'bulk', options));
  expect(body.type, JSON.stringify(body)).toBe(4);
  expect(body.data.flags).toBe(64);
  expect(body.data.content).toContain(`${expectCount.toLocaleString('en-US')} license`);
  const [confirm, cancel] = body.data.components[0].components as { custom_id: string; label: string }[];
  expect(confirm!.label).toMatch(/^Confirm/);
  expect(cancel!.label).toBe('Cancel');
  expect(confirm!.custom_id.length).toBeLessThanOrEqual(100);
  return { confirm: confirm!.custom_id, cancel: cancel!.custom_id };
}

/**
 * Clicks Confirm: the click is acknowledged at once (type 6, the message left as it is), and the
 * outcome follows with the click's token — edits of the message, or a follow-up of its own.
 */
async function clickConfirm(member: Member, customId: string) {
  const click = button(member, customId);
  expect(await sendInteraction(h.app, keys, click)).toEqual({ type: 6 });
  await h.bot!.idle();
  const sent = (method: string, path: string) => stub.find(method, new RegExp(`/webhooks/800000000000000001/${click.token}${path}$`)).map((c) => c.json);
  return { edits: sent('PATCH', '/messages/@original'), followUps: sent('POST', '') };
}
/** The text of the one follow-up a refused confirmation sends (the message itself is left alone). */
async function refusedConfirm(member: Member, customId: string) {
  const { edits, followUps } = await clickConfirm(member, customId);
  expect(edits).toEqual([]);
  expect(followUps).toHaveLength(1);
  expect(followUps[0].flags).toBe(64);
  return followUps[0].content as string;
}

describe('/license unban', () => {
  it('lifts a ban: the key is what its dates and HWIDs say again; a key not banned is refused', async () => {
    const [lic] = await make(1);
    expect(await say(license(admin, 'ban', [{ name: 'key', value: lic!.license_key }]))).toContain('banned');
    expect(await say(license(admin, 'unban', [{ name: 'key', value: lic!.license_key.toLowerCase() }]))).toBe('✅ License unbanned; it is inactive again.');
    expect(await statusOf(lic!.id)).toBe('inactive');
    expect(await say(license(admin, 'unban', [{ name: 'key', value: lic!.license_key }]))).toBe('❌ License is not banned');
    expect(await say(license(admin, 'unban', [{ name: 'key', value: 'NO-SUCH-KEY' }]))).toBe('❌ License not found');
    expect(await say(license(buyer, 'unban', [{ name: 'key', value: lic!.license_key }]))).toMatch(/^❌ Only sellers/);
  });
});

describe('/license search', () => {
  it('lists the licenses a filter matches, ten a page, every reply ephemeral and within 2,000 characters', async () => {
    await make(12, { notes: 'page-test', prefix: 'PAGE-' });
    const first = await say(license(admin, 'search', [{ name: 'search', value: 'page-test' }]));
    const lines = first.split('\n');
    expect(lines[0]).toContain('12 licenses');
    expect(lines[0]).toContain('page 1 of 2');
    expect(lines.slice(1)).toHaveLength(10);
    expect(lines.slice(1).every((l) => /`PAGE-[0-9A-F]{32}` · inactive · Monthly · not started/.test(l))).toBe(true);
    expect(first.length).toBeLessThanOrEqual(2000);
    const second = await say(
      license(admin, 'search', [
        { name: 'search', value: 'page-test' },
        { name: 'page', value: 2 },
      ]),
    );
    expect(second.split('\n')).toHaveLength(3);
    expect(second).toContain('page 2 of 2');
    // Page 1 and 2 together are the 12 keys, once each.
    const shown = [...first.matchAll(/`(PAGE-[0-9A-F]+)`/g), ...second.matchAll(/`(PAGE-[0-9A-F]+)`/g)].map((m) => m[1]);
    expect(new Set(shown).size).toBe(12);
  });

  it('filters by status, plan and member', async () => {
    const mine = await make(2, { notes: 'filter-test', discord_user_id: owner });
    await make(1, { notes: 'filter-test' });
    await say(license(admin, 'ban', [{ name: 'key', value: mine[0]!.license_key }]));
    const banned = await say(
      license(admin, 'search', [
        { name: 'search', value: 'filter-test' },
        { name: 'status', value: 'banned' },
      ]),
    );
    expect(banned).toContain('**1 license**');
    expect(banned).toContain(mine[0]!.license_key);
    const owned = await say(withUserType(license(admin, 'search', [{ name: 'search', value: 'filter-test' }, userOption(owner)])));
    expect(owned).toContain('**2 licenses**');
    expect(owned).toContain(`<@${owner}>`);
    const byPlan = await say(
      license(admin, 'search', [
        { name: 'search', value: 'filter-test' },
        { name: 'plan', value: String(plan.id) },
      ]),
    );
    expect(byPlan).toContain('**3 licenses**');
    expect(await say(license(admin, 'search', [{ name: 'search', value: 'no-such-note' }]))).toBe('No license matches (containing `no-such-note`).');
  });

  it('refuses a non-seller, an over-long search and a plan not picked from the list, ephemerally', async () => {
    expect(await say(license(buyer, 'search', [{ name: 'search', value: 'page-test' }]))).toMatch(/^❌ Only sellers/);
    expect(await say(license(admin, 'search', [{ name: 'search', value: 'x'.repeat(101) }]))).toBe('❌ search may be at most 100 characters.');
    expect(await say(license(admin, 'search', [{ name: 'plan', value: 'Monthly' }]))).toBe('❌ Pick a plan from the list.');
    expect(await say(license(admin, 'search', [{ name: 'status', value: 'lost' }]))).toMatch(/^❌ status must be one of/);
  });
});

describe('/license autocomplete', () => {
  it("offers the linked application's keys starting with what was typed — never another tenant's", async () => {
    const ours = await make(3, { prefix: 'AUTO-' });
    const stranger = await h.seller('stranger');
    const theirs = await stranger.setup();
    const foreign = await stranger.generate(theirs.plan.id, 3, { prefix: 'AUTO-' });
    const offered = await choices(admin, 'info', 'key', 'auto-');
    expect(offered.map((c) => c.value).sort()).toEqual(ours.map((l) => l.license_key).sort());
    for (const l of foreign) expect(offered.map((c) => c.value)).not.toContain(l.license_key);
    // The typed text is a prefix taken literally: LIKE's wildcards match nothing here.
    expect(await choices(admin, 'ban', 'key', 'AUTO_')).toEqual([]);
    expect(await choices(admin, 'ban', 'key', '%')).toEqual([]);
    // At most 25, in key order, whatever the application holds.
    const many = (await make(30, { prefix: 'MANY-' })).map((l) => l.license_key).sort();
    expect((await choices(admin, 'unban', 'key', 'many-')).map((c) => c.value)).toEqual(many.slice(0, 25));
    expect((await choices(admin, 'unban', 'key', '')).length).toBe(25);
  });

  it("offers the linked application's plans, and nothing to a non-seller", async () => {
    expect(await choices(admin, 'search', 'plan', 'mon')).toEqual([{ name: 'Monthly (30 days)', value: String(plan.id) }]);
    expect(await choices(admin, 'bulk', 'plan', '')).toEqual([{ name: 'Monthly (30 days)', value: String(plan.id) }]);
    expect(await choices(buyer, 'info', 'key', 'AUTO-')).toEqual([]);
    expect(await choices(buyer, 'search', 'plan', '')).toEqual([]);
  });
});

describe('/license bulk', () => {
  it('bans a few after Confirm: each banned once, with the audit entry and event a single ban makes', async () => {
    const few = await make(3, { notes: 'bulk-few' });
    const { confirm } = await askBulk(
      admin,
      [
        { name: 'action', value: 'ban' },
        { name: 'search', value: 'bulk-few' },
        { name: 'reason', value: 'chargeback' },
      ],
      3,
    );
    const done = await clickConfirm(admin, confirm);
    expect(done).toEqual({ edits: [{ content: '✅ Banned 3 licenses.', components: [], allowed_mentions: { parse: [] } }], followUps: [] });
    for (const l of few) expect(await statusOf(l.id)).toBe('banned');
    const targets = few.map((l) => `license:${l.id}`);
    const audits = await h.deps.db.query<{ actor_kind: string; actor_id: string; details: { license_key: string; reason: string } }>(
      `select actor_kind, actor_id, details from audit_logs where action = 'license.banned' and target = any($1::text[])`,
      [targets],
    );
    expect(audits).toHaveLength(3);
    expect(audits.every((a) => a.actor_kind === 'discord' && a.actor_id === admin.id && a.details.reason === 'chargeback')).toBe(true);
    expect(await count(`select count(*) as n from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = any($1::int[])`, [few.map((l) => l.id)])).toBe(3);
    // The button is spent: a second click changes nothing, and says so without touching the outcome.
    expect(await refusedConfirm(admin, confirm)).toBe('❌ This bulk action was already confirmed');
  });

  it('changes nothing on Cancel, and the cancelled request cannot be confirmed', async () => {
    const kept = await make(2, { notes: 'bulk-cancel' });
    const { confirm, cancel } = await askBulk(
      admin,
      [
        { name: 'action', value: 'delete' },
        { name: 'search', value: 'bulk-cancel' },
      ],
      2,
    );
    expect((await sendInteraction(h.app, keys, button(admin, cancel))).data.content).toBe('Cancelled; nothing was changed.');
    for (const l of kept) expect(await statusOf(l.id)).toBe('inactive');
    expect(await refusedConfirm(admin, confirm)).toBe('❌ Bulk action not found');
    for (const l of kept) expect(await statusOf(l.id)).toBe('inactive');
  });

  it('refuses a customer, another seller, a forged nonce and a request of another application', async () => {
    const kept = await make(2, { notes: 'bulk-refused' });
    const { confirm } = await askBulk(
      admin,
      [
        { name: 'action', value: 'delete' },
        { name: 'search', value: 'bulk-refused' },
      ],
      2,
    );
    expect(await say(button(buyer, confirm))).toMatch(/^❌ Only sellers/);
    expect((await clickConfirm(otherSeller, confirm)).edits).toEqual([{ content: '❌ Only the seller who asked for this bulk action can confirm or cancel it' }]);
    const id = decodeCustomId(confirm);
    if (id?.kind !== 'bulk') throw new Error('not a bulk id');
    expect(await refusedConfirm(admin, encodeCustomId({ ...id, nonce: 'AAAAAAAAAAAAAAAA' }))).toBe('❌ Bulk action not found');
    expect(await refusedConfirm(admin, encodeCustomId({ ...id, jobId: id.jobId + 1000 }))).toBe('❌ Bulk action not found');
    // Malformed ids never reach the core.
    for (const forged of [`bulk:ok:${id.jobId}`, `bulk:ok:0:${id.nonce}`, `bulk:ok:${id.jobId}:${id.nonce}:x`, `bulk:yes:${id.jobId}:${id.nonce}`, `bulk:ok:${id.jobId}:${id.nonce}!`]) {
      expect(decodeCustomId(forged)).toBeNull();
      expect(await say(button(admin, forged))).toBe('❌ This button is no longer supported.');
    }
    // A pending request of another application (its real id and nonce) is not found from this server.
    const stranger = await h.seller('other-tenant');
    const theirs = await stranger.setup();
    await stranger.generate(theirs.plan.id, 2);
    const actor: SellerActor = { kind: 'developer', developerId: stranger.developerId, name: stranger.username, via: 'session', tokenId: 0 };
    const foreign = await requestBulkAction(h.deps, actor, theirs.app.id, { action: 'delete', filters: {}, reason: null });
    expect(await refusedConfirm(admin, encodeCustomId({ kind: 'bulk', answer: 'ok', jobId: foreign!.jobId, nonce: foreign!.nonce }))).toBe('❌ Bulk action not found');
    expect(await count(`select count(*) as n from licenses where application_id = $1`, [theirs.app.id])).toBe(2);
    for (const l of kept) expect(await statusOf(l.id)).toBe('inactive');
    // The one who asked still can.
    expect((await clickConfirm(admin, confirm)).edits.map((e) => e.content)).toEqual(['✅ Deleted 2 licenses.']);
    for (const l of kept) expect((await seller.call('GET', `/api/licenses/${l.id}`)).statusCode).toBe(404);
  });

  it('counts again at Confirm: a changed count is shown to be confirmed again; keys made since are left alone', async () => {
    await make(2, { notes: 'bulk-recount' });
    const { confirm } = await askBulk(
      admin,
      [
        { name: 'action', value: 'ban' },
        { name: 'search', value: 'bulk-recount' },
      ],
      2,
    );
    // Made after the request: not part of it (the request covers the keys that existed when asked).
    const [extra] = await make(1, { notes: 'bulk-recount' });
    const again = await clickConfirm(admin, confirm);
    expect(again.edits.map((e) => e.content)).toEqual(['✅ Banned 2 licenses.']);
    expect(await statusOf(extra!.id)).toBe('inactive');
    const more = await make(2, { notes: 'bulk-recount-2' });
    const second = await askBulk(
      admin,
      [
        { name: 'action', value: 'ban' },
        { name: 'search', value: 'bulk-recount-2' },
      ],
      2,
    );
    await say(license(admin, 'ban', [{ name: 'key', value: more[0]!.license_key }]));
    const recounted = await clickConfirm(admin, second.confirm);
    expect(recounted.edits).toHaveLength(1);
    const recount = recounted.edits[0];
    expect(recount.content).toContain('now matches 1 license');
    // New buttons: a click on the old ones (a double click on its way) cannot confirm a count nobody saw.
    const reconfirm = recount.components[0].components[0].custom_id as string;
    expect(reconfirm).not.toBe(second.confirm);
    expect(await refusedConfirm(admin, second.confirm)).toBe('❌ Bulk action not found');
    expect(await statusOf(more[1]!.id)).toBe('inactive');
    expect((await clickConfirm(admin, reconfirm)).edits.map((e) => e.content)).toEqual(['✅ Banned 1 license.']);
  });

  it('refuses bad input ephemerally: no action, an over-long search or reason, a plan of another application', async () => {
    expect(await say(license(admin, 'bulk', [{ name: 'action', value: 'explode' }]))).toBe('❌ Pick an action: ban or delete.');
    expect(
      await say(
        license(admin, 'bulk', [
          { name: 'action', value: 'ban' },
          { name: 'search', value: 'y'.repeat(101) },
        ]),
      ),
    ).toBe('❌ search may be at most 100 characters.');
    expect(
      await say(
        license(admin, 'bulk', [
          { name: 'action', value: 'ban' },
          { name: 'reason', value: 'r'.repeat(501) },
        ]),
      ),
    ).toBe('❌ reason may be at most 500 characters.');
    const stranger = await h.seller('plan-owner');
    const theirs = await stranger.setup();
    expect(
      await say(
        license(admin, 'bulk', [
          { name: 'action', value: 'ban' },
          { name: 'plan', value: String(theirs.plan.id) },
        ]),
      ),
    ).toBe('❌ Plan not found');
    expect(
      await say(
        license(admin, 'bulk', [
          { name: 'action', value: 'ban' },
          { name: 'search', value: 'matches-nothing' },
        ]),
      ),
    ).toBe('No license matches (containing `matches-nothing`); nothing to ban.');
    expect(await say(license(buyer, 'bulk', [{ name: 'action', value: 'ban' }]))).toMatch(/^❌ Only sellers/);
  });

  it('runs over 1,000 licenses as a job: progress edits, then the final edit; each license banned exactly once', async () => {
    const big = [...(await make(600, { notes: 'bulk-big' })), ...(await make(600, { notes: 'bulk-big' }))];
    const { confirm } = await askBulk(
      admin,
      [
        { name: 'action', value: 'ban' },
        { name: 'search', value: 'bulk-big' },
      ],
      1200,
    );
    const { edits: sent } = await clickConfirm(admin, confirm);
    const edits = sent.map((e) => e.content as string);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits.slice(0, -1).every((e) => e.startsWith('⏳ Banning 1,200 licenses in the background… '))).toBe(true);
    // The first edit takes the buttons away.
    expect(sent[0].components).toEqual([]);
    expect(edits.at(-1)).toBe('✅ Banned 1,200 licenses.');
    const ids = big.map((l) => l.id);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [ids])).toBe(1200);
    const targets = ids.map((id) => `license:${id}`);
    expect(await count(`select count(*) as n from audit_logs where action = 'license.banned' and target = any($1::text[])`, [targets])).toBe(1200);
    expect(await count(`select count(distinct target) as n from audit_logs where action = 'license.banned' and target = any($1::text[])`, [targets])).toBe(1200);
    expect(await count(`select count(*) as n from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = any($1::int[])`, [ids])).toBe(1200);
    const { jobId } = decodeCustomId(confirm) as { jobId: number };
    const job = await seller.call('GET', `/api/jobs/${jobId}`);
    expect(job.json()).toMatchObject({ type: 'bulk_licenses', status: 'completed', count: 1200, generated: 1200, progress: 100 });
    // Run again (a redelivered job): nothing more is changed.
    expect(await runBulkLicenseJob(h.deps, jobId, {})).toMatchObject({ done: true });
    expect(await count(`select count(*) as n from audit_logs where action = 'license.banned' and target = any($1::text[])`, [targets])).toBe(1200);
  });
});

describe('a /license search page', () => {
  it('stays within Discord limits with the longest keys, plan names and owners', () => {
    const longest: LicenseView = {
      id: 1,
      application_id: 1,
      license_key: `${'P'.repeat(32)}${'X'.repeat(128)}`,
      status: 'active',
      plan: { id: 1, name: 'N'.repeat(100), duration_days: 30 },
      activation_date: '2026-01-01T00:00:00.000Z',
      expires_at: '2026-02-01T00:00:00.000Z',
      hwid: null,
      hwids: [],
      ip_address: null,
      last_used: null,
      notes: null,
      discord_user_id: '12345678901234567890',
      ban_reason: null,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
    };
    expect(searchLine(longest).length).toBeLessThanOrEqual(SEARCH_LINE_MAX);
    const message = searchMessage(
      { total: 2_000_000_000, items: Array.from({ length: SEARCH_PAGE }, () => longest) },
      1,
      `containing \`${'s'.repeat(100)}\`, plan #2147483647, assigned to <@12345678901234567890>`,
    );
    expect(message.length).toBeLessThanOrEqual(2000);
    expect(message.split('\n')).toHaveLength(SEARCH_PAGE + 1);
  });
});

describe('a bulk job stopped between batches', () => {
  let bare: Harness;
  beforeAll(async () => {
    bare = await startHarness();
  });
  afterAll(() => bare?.close());

  it('resumes after its last committed batch: every license changed once', async () => {
    const s = await bare.seller();
    const { app: a, plan: p } = await s.setup();
    await s.generate(p.id, 700, { notes: 'resume' });
    await s.generate(p.id, 400, { notes: 'resume' });
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(bare.deps, actor, a.id, { action: 'ban', filters: { search: 'resume' }, reason: null });
    expect(asked!.count).toBe(1100);
    const confirmed = await confirmBulkAction(bare.deps, actor, asked!.jobId, asked!.nonce);
    expect(confirmed).toMatchObject({ outcome: 'queued', count: 1100 });
    let batches = 0;
    const paused = await runBulkLicenseJob(bare.deps, asked!.jobId, { batchSize: 300, shouldPause: () => batches++ >= 2 });
    expect(paused).toEqual({ done: false, paused: true });
    const banned = () => bare.deps.db.query<{ n: string | number }>(`select count(*) as n from licenses where application_id = $1 and status = 'banned'`, [a.id]).then((r) => Number(r[0]!.n));
    expect(await banned()).toBe(600);
    expect((await s.call('GET', `/api/jobs/${asked!.jobId}`)).json()).toMatchObject({ status: 'running', generated: 600, progress: 54 });
    expect(await runBulkLicenseJob(bare.deps, asked!.jobId, { batchSize: 300 })).toMatchObject({ done: true });
    expect(await banned()).toBe(1100);
    const audits = await bare.deps.db.query<{ n: string | number; d: string | number }>(
      `select count(*) as n, count(distinct target) as d from audit_logs where application_id = $1 and action = 'license.banned'`,
      [a.id],
    );
    expect(Number(audits[0]!.n)).toBe(1100);
    expect(Number(audits[0]!.d)).toBe(1100);
    expect((await s.call('GET', `/api/jobs/${asked!.jobId}`)).json()).toMatchObject({ type: 'bulk_licenses', status: 'completed', generated: 1100 });
  });

  it('cannot be confirmed once an interaction token would have expired', async () => {
    const s = await bare.seller();
    const { app: a, plan: p } = await s.setup();
    await s.generate(p.id, 1);
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(bare.deps, actor, a.id, { action: 'delete', filters: {}, reason: null });
    const later = { ...bare.deps, clock: { now: () => new Date(Date.now() + 15 * 60_000) } };
    await expect(confirmBulkAction(later, actor, asked!.jobId, asked!.nonce)).rejects.toMatchObject({ code: 'CONFIRMATION_EXPIRED' });
    expect(await bare.deps.db.query(`select id from licenses where application_id = $1`, [a.id])).toHaveLength(1);
  });

  it('is never run while it waits for its confirmation', async () => {
    const s = await bare.seller();
    const { app: a, plan: p } = await s.setup();
    await s.generate(p.id, 2);
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(bare.deps, actor, a.id, { action: 'delete', filters: {}, reason: null });
    expect(await runBulkLicenseJob(bare.deps, asked!.jobId, {})).toMatchObject({ done: true });
    expect(await bare.deps.db.query(`select id from licenses where application_id = $1`, [a.id])).toHaveLength(2);
    expect((await s.call('GET', `/api/jobs/${asked!.jobId}`)).json()).toMatchObject({ status: 'pending', count: 2 });
  });
});

describe('a bulk job on the local job provider', () => {
  let local: Harness;
  beforeAll(async () => {
    local = await startHarness({ jobs: 'local' });
  });
  afterAll(() => local?.close());

  it('runs to completion in process, as generation jobs do', async () => {
    const s = await local.seller();
    const { app: a, plan: p } = await s.setup();
    await s.generate(p.id, 1000);
    await s.generate(p.id, 5);
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(local.deps, actor, a.id, { action: 'delete', filters: {}, reason: null });
    expect(await confirmBulkAction(local.deps, actor, asked!.jobId, asked!.nonce)).toMatchObject({ outcome: 'queued', count: 1005 });
    await waitFor(async () => (await s.call('GET', `/api/jobs/${asked!.jobId}`)).json().status === 'completed', 20_000);
    expect(await local.deps.db.query(`select id from licenses where application_id = $1`, [a.id])).toHaveLength(0);
    expect(Number((await local.deps.db.query<{ n: string }>(`select count(*) as n from audit_logs where application_id = $1 and action = 'license.deleted'`, [a.id]))[0]!.n)).toBe(1005);
  });
});
