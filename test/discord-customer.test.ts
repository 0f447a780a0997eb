import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { createDiscordBot } from '../src/discord/create-discord.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub, startRefusingDiscord } from './support/discord-stub.js';
import { button, discordKeyPair, GUILD, MANAGE_GUILD, modal, postInteraction, select, slash, type KeyPair, type Member, linkServer } from './support/discord-interactions.js';

const HOUR = 3_600_000;
const ROLE = '900000000000000050';
const PLAN_COOLDOWN_H = 6;
const APP_COOLDOWN_H = 48;

// Time moves only when a test says so; signatures are still checked against the real time.
const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
const unix = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let monthly: { id: number };
let lifetime: { id: number };

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000021', name: 'Alice' };
const bob: Member = { id: '100000000000000022', name: 'Bob' };
const carol: Member = { id: '100000000000000023', name: 'Carol' };

/** Every interaction answer of this file, to check at the end that none was public. */
const answers: { type: number; data?: { flags?: number; content?: string; embeds?: unknown[]; components?: unknown[] } }[] = [];
const allKeys: string[] = [];

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ clock, discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller();
  ({ app, plan: monthly } = await seller.setup({
    settings: { hwid_reset_cooldown_hours: APP_COOLDOWN_H },
    plan: { name: 'Monthly', duration_days: 30, discord_role_id: ROLE, hwid_reset_cooldown_hours: PLAN_COOLDOWN_H },
  }));
  const p = await seller.call('POST', '/api/plans/', { application_id: app.id, name: 'Lifetime', duration_days: 0 });
  expect(p.statusCode).toBe(201);
  lifetime = p.json();
  await linkServer(h.app, keys, seller, admin, app.app_id);
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

async function send(payload: unknown) {
  const res = await postInteraction(h.app, keys, payload);
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  answers.push(body);
  return body;
}

async function newKey(planId: number) {
  const [lic] = await seller.generate(planId);
  allKeys.push(lic!.license_key);
  return lic!;
}

const ownerOf = async (licenseId: number) => (await h.deps.db.query<{ discord_user_id: string | null }>('select discord_user_id from licenses where id = $1', [licenseId]))[0]!.discord_user_id;

const redeem = (member: Member, key: string) => send(modal(member, 'lic:redeem-modal', { license_key: key }));
const resetOf = (member: Member, licenseId: number) => send(select(member, 'lic:reset-select', [String(licenseId)]));

describe('redeeming a key', () => {
  it('opens a modal asking for the license key, from the panel button and from /redeem', async () => {
    const fromButton = await send(button(alice, 'lic:redeem'));
    expect(fromButton.type).toBe(9);
    expect(fromButton.data.custom_id).toBe('lic:redeem-modal');
    expect(JSON.stringify(fromButton.data.components)).toContain('"custom_id":"license_key"');
    const fromCommand = await send(slash(alice, 'redeem'));
    expect(fromCommand).toEqual(fromButton);
  });

  it("claims an unclaimed key for the clicking user and grants the plan's role", async () => {
    const lic = await newKey(monthly.id);
    stub.clear();
    // Typed by hand: surrounding spaces and lower case are forgiven.
    const reply = await redeem(alice, `  ${lic.license_key.toLowerCase()} `);
    expect(reply.type).toBe(4);
    expect(reply.data.flags).toBe(64);
    expect(reply.data.content).toContain('Redeemed your **Monthly** license');
    expect(reply.data.content).toContain(`<@&${ROLE}>`);
    expect(await ownerOf(lic.id)).toBe(alice.id);

    // The role is granted once the answer is out, and the answer then says so.
    await h.bot!.idle();
    const [edit] = stub.find('PATCH', /\/messages\/@original$/);
    expect(edit!.json.content).toBe(`✅ Redeemed your **Monthly** license. You now have <@&${ROLE}>.`);
    const [grant] = stub.find('PUT', new RegExp(`^/guilds/${GUILD}/members/${alice.id}/roles/${ROLE}$`));
    expect(grant, JSON.stringify(stub.calls.map((c) => c.path))).toBeDefined();
    expect(grant!.headers.authorization).toBe('Bot test-bot-token-0123456789');
    expect(decodeURIComponent(String(grant!.headers['x-audit-log-reason']))).toContain('Monthly');

    const [audit] = await h.deps.db.query<{ actor_kind: string; actor_id: string }>(`select actor_kind, actor_id from audit_logs where action = 'license.redeemed' and target = $1`, [
      `license:${lic.id}`,
    ]);
    expect(audit).toEqual({ actor_kind: 'discord', actor_id: alice.id });
  });

  it('tells the owner a key is already theirs, and grants no role for a plan without one', async () => {
    const lic = await newKey(lifetime.id);
    stub.clear();
    expect((await redeem(alice, lic.license_key)).data.content).toBe('✅ Redeemed your **Lifetime** license.');
    expect(stub.find('PUT', /\/roles\//)).toHaveLength(0);
    expect((await redeem(alice, lic.license_key)).data.content).toContain('already linked to your account');
    expect(await ownerOf(lic.id)).toBe(alice.id);
  });

  it('refuses a key that does not exist, and an empty one', async () => {
    expect((await redeem(alice, 'NOPE-NOT-A-KEY')).data.content).toContain('does not exist');
    expect((await redeem(alice, '   ')).data).toMatchObject({ flags: 64, content: 'Please enter a license key.' });
  });

  it('refuses a banned key', async () => {
    const lic = await newKey(monthly.id);
    expect((await seller.call('POST', `/api/licenses/${lic.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
    expect((await redeem(alice, lic.license_key)).data.content).toContain('can no longer be redeemed');
    expect(await ownerOf(lic.id)).toBeNull();
  });

  it('refuses a key whose time has run out, even before the expiry sweep has marked it', async () => {
    const lic = await newKey(monthly.id);
    // Bought and used, but never redeemed in Discord.
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic.license_key, hwid: 'PC-X' })).json().code).toBe('VALID');
    const start = clock.now();
    try {
      clock.advance(31 * 24 * HOUR);
      const [row] = await h.deps.db.query<{ status: string; expires_at: Date }>('select status, expires_at from licenses where id = $1', [lic.id]);
      expect(row!.status).toBe('active');
      expect(new Date(row!.expires_at).getTime()).toBeLessThan(clock.now().getTime());
      expect((await redeem(bob, lic.license_key)).data.content).toContain('can no longer be redeemed');
      expect(await ownerOf(lic.id)).toBeNull();
    } finally {
      clock.set(start);
    }
  });

  it('lets exactly one of two members racing for the same key have it', async () => {
    const lic = await newKey(monthly.id);
    const [a, b] = await Promise.all([redeem(alice, lic.license_key), redeem(bob, lic.license_key)]);
    const contents = [a.data.content, b.data.content];
    expect(contents.filter((c: string) => c.includes('Redeemed your'))).toHaveLength(1);
    expect(contents.filter((c: string) => c.includes('already been redeemed by another account'))).toHaveLength(1);
    const winner = a.data.content.includes('Redeemed your') ? alice : bob;
    expect(await ownerOf(lic.id)).toBe(winner.id);
  });

  it('still claims the key when Discord refuses the role grant, and says so', async () => {
    const failing = await startRefusingDiscord(403, { code: 50013, message: 'Missing Permissions' });
    try {
      // The same handlers on the same database, with a Discord that refuses everything (bot lacks permissions).
      const bot = createDiscordBot(h.deps, { ...h.config.discord, apiUrl: failing.apiUrl })!;
      const lic = await newKey(monthly.id);
      const result = await bot.handle(modal(alice, 'lic:redeem-modal', { license_key: lic.license_key }) as never);
      const data = (result.response as { data: { flags: number; content: string } }).data;
      expect(data.flags).toBe(64);
      expect(data.content).toContain('Redeemed your **Monthly** license');
      expect(await ownerOf(lic.id)).toBe(alice.id);
      // The grant runs after the answer, which is then edited to say how it went (this Discord
      // refuses the edit too, so the edit is caught here).
      const edits: string[] = [];
      bot.context.api.editOriginal = async (_token, body) => {
        edits.push(String(body.content));
        return {} as never;
      };
      await result.after!();
      expect(edits).toEqual([expect.stringMatching(/^✅ Redeemed your \*\*Monthly\*\* license\. \(The role for this plan could not be granted/)]);
      expect(failing.paths).toContain(`PUT /api/v10/guilds/${GUILD}/members/${alice.id}/roles/${ROLE}`);
    } finally {
      await failing.close();
    }
  });
});

describe("a customer's licenses", () => {
  let active: { id: number; license_key: string };
  let unused: { id: number; license_key: string };
  let bobs: { id: number; license_key: string };
  let unclaimed: { id: number; license_key: string };
  let expiresAt: string;

  beforeAll(async () => {
    // Carol is new here, so keys redeemed in earlier tests do not show up in her list.
    active = await newKey(monthly.id);
    unused = await newKey(lifetime.id);
    bobs = await newKey(monthly.id);
    unclaimed = await newKey(monthly.id);
    expect((await redeem(carol, active.license_key)).data.content).toContain('Redeemed');
    expect((await redeem(carol, unused.license_key)).data.content).toContain('Redeemed');
    expect((await redeem(bob, bobs.license_key)).data.content).toContain('Redeemed');
    const v = await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: active.license_key, hwid: 'CAROL-PC' });
    expect(v.json().code).toBe('VALID');
    expiresAt = (await seller.call('GET', `/api/licenses/${active.id}`)).json().expires_at;
    expect(expiresAt).toBeTruthy();
  });

  it('My licenses lists only her own, with plan, status, expiry and whether a HWID is bound', async () => {
    const reply = await send(button(carol, 'lic:licenses'));
    expect(reply.type).toBe(4);
    expect(reply.data.flags).toBe(64);
    const text = reply.data.embeds[0].description as string;
    const entries = text.split('\n\n');
    expect(entries).toHaveLength(2);
    expect(entries[0]).toContain('**Monthly**');
    expect(entries[0]).toContain('Status: active');
    expect(entries[0]).toContain(`Expires: <t:${unix(expiresAt)}:f>`);
    expect(entries[0]).toContain('HWID: bound');
    expect(entries[1]).toContain('**Lifetime**');
    expect(entries[1]).toContain('Status: inactive');
    expect(entries[1]).toContain('HWID: not bound');
    for (const other of [bobs, unclaimed]) {
      expect(text).not.toContain(other.license_key.slice(0, 4) + '…' + other.license_key.slice(-4));
      expect(JSON.stringify(reply)).not.toContain(other.license_key);
    }
  });

  it('/licenses answers exactly as the button does', async () => {
    expect(await send(slash(carol, 'licenses'))).toEqual(await send(button(carol, 'lic:licenses')));
  });

  it('tells a member without licenses how to add one', async () => {
    const nobody: Member = { id: '100000000000000029', name: 'Nobody' };
    expect((await send(slash(nobody, 'licenses'))).data).toMatchObject({ flags: 64, content: expect.stringContaining('no licenses here yet') });
    expect((await send(button(nobody, 'lic:reset'))).data).toMatchObject({ flags: 64, content: expect.stringContaining('no licenses here to reset') });
  });

  it('Reset HWID offers a select of her own licenses only, from the button and from /reset-hwid', async () => {
    const fromButton = await send(button(carol, 'lic:reset'));
    expect(fromButton.data.flags).toBe(64);
    const menu = fromButton.data.components[0].components[0];
    expect(menu.custom_id).toBe('lic:reset-select');
    expect(menu.options.map((o: { value: string }) => o.value)).toEqual([String(active.id), String(unused.id)]);
    expect(await send(slash(carol, 'reset-hwid'))).toEqual(fromButton);
  });

  it('pages the reset menu for a member with more than 25 licenses, in place', async () => {
    const dave: Member = { id: '100000000000000024', name: 'Dave' };
    const owned = await seller.generate(lifetime.id, 30);
    allKeys.push(...owned.map((l) => l.license_key));
    await h.deps.db.query('update licenses set discord_user_id = $1 where id = any($2::int[])', [dave.id, owned.map((l) => l.id)]);
    const options = (answer: { data: { components: { components: { options?: { value: string }[] }[] }[] } }) => answer.data.components[0]!.components[0]!.options!.map((o) => Number(o.value));
    const buttons = (answer: { data: { components: { components: { custom_id: string; disabled?: boolean }[] }[] } }) =>
      answer.data.components[1]!.components.map((b) => [b.custom_id, b.disabled ?? false]);

    const first = await send(button(dave, 'lic:reset'));
    expect(first.type).toBe(4);
    expect(options(first)).toEqual(owned.slice(0, 25).map((l) => l.id));
    expect(first.data.content).toBe('Which license should be freed from its current computer?\n30 licenses · page 1 of 2');
    expect(buttons(first)).toEqual([
      ['lic:reset-page:0', true],
      ['lic:reset-page:1', false],
    ]);
    const next = await send(button(dave, 'lic:reset-page:1'));
    expect(next.type).toBe(7); // the ephemeral menu is updated, not answered anew
    expect(options(next)).toEqual(owned.slice(25).map((l) => l.id));
    expect(buttons(next)).toEqual([
      ['lic:reset-page:0', false],
      ['lic:reset-page:1', true],
    ]);
    // The last license is reachable and resettable from its page.
    expect((await resetOf(dave, owned[29]!.id)).data.content).toContain('HWID reset');
    // Another member turning the page sees her own licenses, never Dave's.
    const carolsPage = await send(button(carol, 'lic:reset-page:1'));
    expect(options(carolsPage).some((id) => owned.some((l) => l.id === id))).toBe(false);
  });

  describe('resetting a HWID', () => {
    let resetAt: Date;

    it('frees the chosen license from its computer', async () => {
      resetAt = clock.now();
      const reply = await resetOf(carol, active.id);
      expect(reply.data).toMatchObject({ flags: 64, content: expect.stringContaining('HWID reset') });
      const license = (await seller.call('GET', `/api/licenses/${active.id}`)).json();
      expect(license).toMatchObject({ status: 'inactive', hwids: [], expires_at: expiresAt });
    });

    it("refuses a second reset within the plan's cooldown and says exactly when the next is allowed", async () => {
      clock.advance(HOUR);
      const next = unix(resetAt) + PLAN_COOLDOWN_H * 3600;
      const reply = await resetOf(carol, active.id);
      expect(reply.data.flags).toBe(64);
      expect(reply.data.content).toContain(`<t:${next}:F>`);
      expect(reply.data.content).toContain(`<t:${next}:R>`);
      expect((await h.deps.db.query<{ n: string }>(`select count(*) as n from audit_logs where action = 'license.hwid_reset' and target = $1`, [`license:${active.id}`]))[0]!.n).toBe('1');
    });

    it('keeps the cooldown across a restart: it is read from the license row', async () => {
      const [row] = await h.deps.db.query<{ last_hwid_reset_at: Date }>('select last_hwid_reset_at from licenses where id = $1', [active.id]);
      expect(new Date(row!.last_hwid_reset_at).getTime()).toBe(resetAt.getTime());
      // A new bot process: nothing held in memory survives, only the database.
      const restarted = createDiscordBot(h.deps, h.config.discord)!;
      expect(restarted).not.toBe(h.bot);
      const { response } = await restarted.handle(select(carol, 'lic:reset-select', [String(active.id)]) as never);
      const next = unix(resetAt) + PLAN_COOLDOWN_H * 3600;
      expect((response as { data: { content: string } }).data.content).toContain(`<t:${next}:F>`);
    });

    it("uses the application's cooldown for a plan without its own", async () => {
      const first = clock.now();
      expect((await resetOf(carol, unused.id)).data.content).toContain('HWID reset');
      clock.advance(PLAN_COOLDOWN_H * HOUR + 1000);
      const next = unix(first) + APP_COOLDOWN_H * 3600;
      const reply = await resetOf(carol, unused.id);
      expect(reply.data.content).toContain(`<t:${next}:F>`);
      expect(reply.data.content).toContain(`<t:${next}:R>`);
    });

    it('allows the next reset once the cooldown has passed', async () => {
      clock.set(new Date(resetAt.getTime() + PLAN_COOLDOWN_H * HOUR));
      expect((await resetOf(carol, active.id)).data.content).toContain('HWID reset');
      expect((await resetOf(carol, active.id)).data.content).toContain(`<t:${unix(clock.now()) + PLAN_COOLDOWN_H * 3600}:F>`);
    });
  });
});

describe('privacy', () => {
  it('answered every customer interaction ephemerally', () => {
    expect(answers.length).toBeGreaterThan(15);
    for (const a of answers) {
      if (a.type === 9) continue; // a modal is not a message
      // 7 turns a page of the reset menu: it updates that (ephemeral) message in place.
      if (a.type === 7) continue;
      expect(a.type).toBe(4);
      expect(a.data?.flags, JSON.stringify(a)).toBe(64);
    }
  });

  it('never put a key in a message anyone else can see', () => {
    const publicPosts = stub.calls.filter((c) => c.method === 'POST' && /^\/channels\/(?!dm)\d+\/messages$/.test(c.path));
    for (const post of publicPosts) for (const key of allKeys) expect(JSON.stringify(post.json)).not.toContain(key);
    for (const a of answers) for (const key of allKeys) expect(JSON.stringify(a)).not.toContain(key);
  });
});
