import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { decodeCustomId, encodeCustomId } from '../src/discord/custom-ids.js';
import { maskKey } from '../src/discord/render.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { inOtherSession } from './support/other-session.js';
import type { DiscordStub, RecordedCall } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { button, CHANNEL, ephemeralText, MANAGE_GUILD, sendInteraction, type KeyPair, type Member } from './support/discord-interactions.js';
import { untilLockWaiters, waitFor } from './support/wait.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Interaction signatures are checked against real time; licensing time is this clock's.
const clock = fixedClock(new Date(Math.floor(Date.now() / DAY) * DAY + 10 * HOUR));

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const sellerByRole: Member = { id: '100000000000000002', name: 'Role*Seller', roles: [] };
const customer: Member = { id: '100000000000000051', name: 'Customer' };

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({
    start: (discord) => startHarness({ clock, jobs: 'local', discord, env: { USAGE_FLUSH_MS: '60000' } }),
    admin,
    setup: { settings: { rate_limit_per_minute: 0, sharing: { max_ips_per_24h: 1 } } },
  });
  ({ h, stub, keys, seller, app, plan } = linked);
});
afterAll(() => linked?.close());

const click = (member: Member, customId: string) => button(member, customId);
const logPosts = () => stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`));
const validateFrom = (appId: string, key: string, ip: string, hwid = 'PC-1') =>
  h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: appId, license_key: key, hwid }, remoteAddress: ip });

/** A fresh key of the linked application seen from two IPs (past the limit of one): its flag and the alert posted for it. */
async function flaggedKey(appId = app.app_id, planId = plan.id, by: Seller = seller) {
  const [lic] = await by.generate(planId);
  for (const ip of ['198.51.100.1', '198.51.100.2']) expect((await validateFrom(appId, lic!.license_key, ip)).json().code).toBe('VALID');
  await h.deps.usage.flush();
  const [flag] = await h.deps.db.query<{ id: number }>('select id from sharing_flags where license_id = $1', [lic!.id]);
  expect(flag).toBeDefined();
  return { license: lic!, flagId: flag!.id };
}

const alertFor = (key: string) => waitFor(() => logPosts().find((c) => String(c.json?.content).includes(maskKey(key))), 15_000, 'the sharing alert');
const customIds = (post: RecordedCall) => (post.json.components ?? []).flatMap((row: { components: { custom_id: string }[] }) => row.components.map((b) => b.custom_id));
const licenseRow = async (id: number) =>
  (await h.deps.db.query<{ status: string; ban_reason: string | null; hwids: string[] }>('select status, ban_reason, hwids from licenses where id = $1', [id]))[0]!;
const flagStatus = async (id: number) => (await h.deps.db.query<{ status: string; resolved_by: string | null }>('select status, resolved_by from sharing_flags where id = $1', [id]))[0]!;

describe('the sharing alert in the log channel', () => {
  it('is posted with the figures, a masked key and the buttons Ban, Reset HWID, Ignore', async () => {
    stub.clear();
    const { license, flagId } = await flaggedKey();
    const post = await alertFor(license.license_key);
    expect(post.headers.authorization).toBe('Bot test-bot-token-0123456789');
    expect(post.json.content).toContain('Possible key sharing');
    expect(post.json.content).toContain('**My App**');
    expect(post.json.content).toContain('IPs that day: **2**');
    expect(post.json.content).toContain('HWID mismatches that hour: **0**');
    expect(JSON.stringify(post.json)).not.toContain(license.license_key);
    expect(post.json.allowed_mentions).toEqual({ parse: [] });
    expect(post.json.components[0].components.map((b: { label: string; style: number }) => [b.label, b.style])).toEqual([
      ['Ban', 4],
      ['Reset HWID', 1],
      ['Ignore', 2],
    ]);
    expect(customIds(post)).toEqual([`share:ban:${flagId}`, `share:reset:${flagId}`, `share:ignore:${flagId}`]);
    // Once per window: more traffic posts nothing more.
    await validateFrom(app.app_id, license.license_key, '198.51.100.3');
    await h.deps.usage.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(logPosts().filter((c) => String(c.json?.content).includes(maskKey(license.license_key)))).toHaveLength(1);
  });

  it('says the license was banned, with no buttons, when the action is ban', async () => {
    // A plan of the linked application with its own setting: ban.
    const strict = await seller.call('POST', '/api/plans/', { application_id: app.id, name: 'Strict', duration_days: 30, sharing: { max_ips_per_24h: 1, action: 'ban' } });
    expect(strict.statusCode).toBe(201);
    const { license } = await flaggedKey(app.app_id, strict.json().id);
    const post = await alertFor(license.license_key);
    expect(post.json.content).toContain('Banned automatically');
    expect(post.json.components).toEqual([]);
    expect(await licenseRow(license.id)).toMatchObject({ status: 'banned', ban_reason: 'sharing' });
  });
});

describe('the alert buttons', () => {
  it('refuse a customer ephemerally and change nothing', async () => {
    const { license, flagId } = await flaggedKey();
    for (const action of ['ban', 'reset', 'ignore']) {
      expect(await ephemeralText(h.app, keys, click(customer, `share:${action}:${flagId}`))).toBe('❌ Only sellers can use this command (Manage Server or the seller role).');
    }
    expect(await licenseRow(license.id)).toMatchObject({ status: 'active', ban_reason: null });
    expect(await flagStatus(flagId)).toEqual({ status: 'open', resolved_by: null });
  });

  it('refuse a forged id: a flag of another application is not found, a malformed one unsupported', async () => {
    const other = await h.seller();
    const { app: foreign, plan: foreignPlan } = await other.setup({ settings: { rate_limit_per_minute: 0, sharing: { max_ips_per_24h: 1 } } });
    const { license, flagId } = await flaggedKey(foreign.app_id, foreignPlan.id, other);
    expect(await ephemeralText(h.app, keys, click(admin, `share:ban:${flagId}`))).toBe('❌ Sharing alert not found');
    expect(await licenseRow(license.id)).toMatchObject({ status: 'active' });
    expect(await flagStatus(flagId)).toMatchObject({ status: 'open' });
    for (const forged of ['share:ban:0', 'share:ban:01', 'share:ban:99999999999', 'share:nuke:1', 'share:ban:1:2', 'share:ban:-1']) {
      expect(decodeCustomId(forged)).toBeNull();
      expect(await ephemeralText(h.app, keys, click(admin, forged))).toBe('❌ This button is no longer supported.');
    }
    expect(decodeCustomId(encodeCustomId({ kind: 'sharing', action: 'reset', flagId: 42 }))).toEqual({ kind: 'sharing', action: 'reset', flagId: 42 });
  });

  it('Ignore: marks the flag ignored and edits the alert to say who did it', async () => {
    const { license, flagId } = await flaggedKey();
    const post = await alertFor(license.license_key);
    const res = await sendInteraction(h.app, keys, click(admin, `share:ignore:${flagId}`));
    expect(res.type).toBe(7);
    expect(res.data.components).toEqual([]);
    expect(res.data.content).toBe(`${post.json.content}\n🙈 **Admin** ignored this alert.`);
    expect(await flagStatus(flagId)).toEqual({ status: 'ignored', resolved_by: 'Admin' });
    expect(await licenseRow(license.id)).toMatchObject({ status: 'active' });
    // Handled once: a second click (another seller's stale message) is told so.
    expect(await ephemeralText(h.app, keys, click(admin, `share:ban:${flagId}`))).toBe('❌ This alert was already handled (ignored by Admin).');
    expect(await licenseRow(license.id)).toMatchObject({ status: 'active' });
  });

  it('Ban and Ignore clicked at once: the one that takes the flag is done, and the license ends as the flag says', async () => {
    const { license, flagId } = await flaggedKey();
    let ban!: ReturnType<typeof sendInteraction>;
    let ignore!: ReturnType<typeof sendInteraction>;
    // The license is held, so the Ban waits on it, mid-way; the Ignore comes meanwhile.
    await inOtherSession(h, async (tx) => {
      await tx`select id from licenses where id = ${license.id} for update`;
      ban = sendInteraction(h.app, keys, click(admin, `share:ban:${flagId}`));
      await untilLockWaiters(h.deps.db, 1, 'the Ban waiting on the license');
      ignore = sendInteraction(h.app, keys, click(admin, `share:ignore:${flagId}`));
      // It waits on the flag the Ban has taken (or, were the Ban's action apart from its flag, is done at once).
      await Promise.race([ignore, untilLockWaiters(h.deps.db, 2).catch(() => undefined)]);
    });
    const [banned, ignored] = await Promise.all([ban, ignore]);
    expect(banned.data.content).toMatch(/banned the license\.$/);
    expect(ignored.data.content).toBe('❌ This alert was already handled.');
    expect(await flagStatus(flagId)).toEqual({ status: 'banned', resolved_by: 'Admin' });
    expect(await licenseRow(license.id)).toMatchObject({ status: 'banned', ban_reason: 'sharing' });
  });

  it('Ban: bans the license with reason sharing as /license ban does (audited, license.banned), and validate answers BANNED', async () => {
    const { license, flagId } = await flaggedKey();
    const res = await sendInteraction(h.app, keys, click(admin, `share:ban:${flagId}`));
    expect(res.type).toBe(7);
    expect(res.data.content).toMatch(/\n⛔ \*\*Admin\*\* banned the license\.$/);
    expect(res.data.components).toEqual([]);
    expect(await licenseRow(license.id)).toMatchObject({ status: 'banned', ban_reason: 'sharing' });
    expect(await flagStatus(flagId)).toEqual({ status: 'banned', resolved_by: 'Admin' });
    expect((await validateFrom(app.app_id, license.license_key, '198.51.100.1')).json().code).toBe('BANNED');
    const audit = await h.deps.db.query<{ action: string; actor_kind: string; actor_id: string }>(
      `select action, actor_kind, actor_id from audit_logs where target = $1 and action in ('license.banned', 'sharing.banned') order by id`,
      [`license:${license.id}`],
    );
    expect(audit).toEqual([
      { action: 'license.banned', actor_kind: 'discord', actor_id: admin.id },
      { action: 'sharing.banned', actor_kind: 'discord', actor_id: admin.id },
    ]);
    const [banned] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = $1`, [license.id]);
    expect(banned!.n).toBe(1);
  });

  it('Reset HWID: unbinds the license as /license reset-hwid does, for a member with the seller role too', async () => {
    await h.deps.db.query('update discord_guilds set seller_role_id = $1 where application_id = $2', ['300000000000000001', app.id]);
    const { license, flagId } = await flaggedKey();
    // Without the role: refused. With it: allowed.
    expect(await ephemeralText(h.app, keys, click(sellerByRole, `share:reset:${flagId}`))).toContain('Only sellers');
    const res = await sendInteraction(h.app, keys, click({ ...sellerByRole, roles: ['300000000000000001'] }, `share:reset:${flagId}`));
    expect(res.type).toBe(7);
    expect(res.data.content).toMatch(/\n♻️ \*\*Role\\\*Seller\*\* reset its HWID\.$/);
    expect(await licenseRow(license.id)).toMatchObject({ status: 'inactive', hwids: [] });
    expect(await flagStatus(flagId)).toEqual({ status: 'hwid_reset', resolved_by: 'Role*Seller' });
    const [reset] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.hwid_reset' and (payload->'license'->>'id')::int = $1`, [license.id]);
    expect(reset!.n).toBe(1);
  });
});
