import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type AppView, type Harness, type Seller } from './support/harness.js';
import { autocomplete, MANAGE_GUILD, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
let linked: LinkedDiscord;
let h: Harness;
let keys: KeyPair;
let seller: Seller;
let app: AppView;
let plan: { id: number };
/** Another developer's application, which the linked server must never reach. */
let stranger: Seller;
let strangerApp: AppView;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ jobs: 'workers', discord }), admin });
  ({ h, keys, seller, app, plan } = linked);
  stranger = await h.seller('stranger');
  ({ app: strangerApp } = await stranger.setup());
});
afterAll(() => linked?.close());

type Opt = { name: string; value: string | number | boolean; type?: ApplicationCommandOptionType };

/** A slash command with a subcommand, options typed as Discord types them (booleans included). */
function command(member: Member, name: string, subcommand: string | null, options: Opt[] = []) {
  const payload = slash(member, name, [], subcommand ?? undefined);
  const typed = options.map((o) => ({
    name: o.name,
    value: o.value,
    type: o.type ?? (typeof o.value === 'boolean' ? ApplicationCommandOptionType.Boolean : typeof o.value === 'number' ? ApplicationCommandOptionType.Integer : ApplicationCommandOptionType.String),
  }));
  const data = payload.data as { options: { options?: unknown[] }[] | unknown[] };
  if (subcommand) (data.options[0] as { options: unknown[] }).options = typed;
  else data.options = typed;
  return payload;
}

/** The answer, which must be an ephemeral message; returns its text. */
async function reply(payload: unknown): Promise<string> {
  const res = await postInteraction(h.app, keys, payload);
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  expect(body.type, res.body).toBe(4);
  expect(body.data.flags, 'ephemeral').toBe(64);
  return body.data.content as string;
}

const run = (name: string, subcommand: string | null = null, options: Opt[] = [], member = admin) => reply(command(member, name, subcommand, options));

/** An autocomplete request for an option of a subcommand, shaped as Discord sends it. */
async function choices(name: string, subcommand: string, option: string, value: string, member = admin) {
  const payload = autocomplete(member, name, option, value);
  const data = payload.data as { options: unknown[] };
  data.options = [{ name: subcommand, type: ApplicationCommandOptionType.Subcommand, options: data.options }];
  const res = await postInteraction(h.app, keys, payload);
  expect(res.json().type).toBe(8);
  return res.json().data.choices as { name: string; value: string }[];
}

async function signUp(target: AppView, licenseKey: string, username: string) {
  const res = await client(h, '/api/user-auth/create', { app_id: target.app_id, license_key: licenseKey, username, password: 'hunter2hunter2', hwid: `PC-${username}` });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().user as { id: number; license_id: number };
}

const lastAudit = async (action: string) =>
  (
    await h.deps.db.query<{ actor_kind: string; actor_id: string; details: Record<string, unknown> }>(
      'select actor_kind, actor_id, details from audit_logs where action = $1 order by id desc limit 1',
      [action],
    )
  )[0];

describe('/user', () => {
  it('shows a user account, resets its password (shown once, ephemerally) and deletes it, audited as the Discord member', async () => {
    const [lic] = await seller.generate(plan.id);
    const player = await signUp(app, lic!.license_key, 'player_one');
    const info = await run('user', 'info', [{ name: 'username', value: 'PLAYER_ONE' }]);
    expect(info).toContain('`player_one`');
    expect(info).toContain(`user #${player.id}`);
    expect(info).toContain(lic!.license_key);
    expect(info).toContain('`PC-player_one`');

    const reset = await run('user', 'reset-password', [{ name: 'username', value: 'player_one' }]);
    const password = /```\n([A-Za-z0-9_-]{24})\n```/.exec(reset)![1]!;
    const login = (pw: string) => client(h, '/api/user-auth/login', { app_id: app.app_id, username: 'player_one', password: pw, hwid: 'PC-player_one' });
    expect((await login(password)).statusCode).toBe(200);
    expect((await login('hunter2hunter2')).statusCode).toBe(401);
    expect(await lastAudit('user.password_reset')).toMatchObject({ actor_kind: 'discord', actor_id: admin.id, details: { username: 'player_one' } });

    expect(await run('user', 'delete', [{ name: 'username', value: 'player_one' }])).toContain('deleted');
    expect((await seller.call('GET', `/api/users/${player.id}`)).statusCode).toBe(404);
    expect((await seller.call('GET', `/api/licenses/${lic!.id}`)).json().status).toBe('active');
    expect(await lastAudit('user.deleted')).toMatchObject({ actor_kind: 'discord', actor_id: admin.id });
  });

  it('autocompletes usernames of the linked application by prefix, and none of another tenant', async () => {
    const [a, b, c] = await seller.generate(plan.id, 3);
    await signUp(app, a!.license_key, 'gamer_a');
    await signUp(app, b!.license_key, 'Gamer_B');
    await signUp(app, c!.license_key, 'other_c');
    const [theirs] = await stranger.generate((await stranger.call('GET', `/api/applications/${strangerApp.id}/plans`)).json()[0].id);
    await signUp(strangerApp, theirs!.license_key, 'gamer_z');
    expect(await choices('user', 'info', 'username', 'GAM')).toEqual([
      { name: 'gamer_a', value: 'gamer_a' },
      { name: 'Gamer_B', value: 'Gamer_B' },
    ]);
    // LIKE's wildcards are literal: "_" matches no username starting with an underscore.
    expect(await choices('user', 'info', 'username', '_')).toEqual([]);
    // A customer gets no choices.
    expect(await choices('user', 'info', 'username', 'gam', buyer)).toEqual([]);
  });

  it("refuses a customer, an unknown or over-long username and another tenant's user, ephemerally", async () => {
    expect(await run('user', 'info', [{ name: 'username', value: 'gamer_a' }], buyer)).toMatch(/Only sellers/);
    expect(await run('user', 'reset-password', [{ name: 'username', value: 'gamer_a' }], buyer)).toMatch(/Only sellers/);
    expect(await run('user', 'info', [{ name: 'username', value: 'nobody_here' }])).toBe('❌ User not found');
    expect(await run('user', 'delete', [{ name: 'username', value: 'x'.repeat(5000) }])).toBe('❌ User not found');
    // gamer_z signed up with the stranger's application: from this server it does not exist.
    expect(await run('user', 'delete', [{ name: 'username', value: 'gamer_z' }])).toBe('❌ User not found');
    const [row] = await h.deps.db.query<{ n: number }>("select count(*)::int as n from app_users where username = 'gamer_z'");
    expect(row!.n).toBe(1);
  });
});

describe('/variable', () => {
  it('sets (creates, then updates keeping its visibility), lists, and deletes a variable; the client reads what was set', async () => {
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'motd' },
        { name: 'value', value: 'hello' },
      ]),
    ).toBe('✅ Variable `motd` created (private, 5 bytes).');
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'motd' },
        { name: 'value', value: 'hello world' },
        { name: 'visibility', value: 'public' },
      ]),
    ).toBe('✅ Variable `motd` updated (public, 11 bytes).');
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'motd' },
        { name: 'value', value: 'hi `there`' },
      ]),
    ).toBe('✅ Variable `motd` updated (public, 10 bytes).');
    await run('variable', 'set', [
      { name: 'name', value: 'api_token' },
      { name: 'value', value: 'tok_secret' },
    ]);
    const read = await h.app.inject({ method: 'GET', url: `/api/variables/motd?app_id=${app.app_id}` });
    expect(read.json()).toMatchObject({ name: 'motd', value: 'hi `there`' });
    expect((await h.app.inject({ method: 'GET', url: `/api/variables/api_token?app_id=${app.app_id}` })).statusCode).toBe(403);

    const list = await run('variable', 'list', []);
    expect(list).toContain('**Variables** (2, page 1 of 1)');
    expect(list).toContain('`api_token` · private · `tok_secret`');
    expect(list).toContain("`motd` · public · `hi 'there'`");
    expect(await choices('variable', 'delete', 'name', 'api')).toEqual([{ name: 'api_token (private)', value: 'api_token' }]);

    expect(await run('variable', 'delete', [{ name: 'name', value: 'api_token' }])).toBe('🗑️ Variable `api_token` deleted.');
    expect((await seller.call('GET', `/api/applications/${app.id}/variables`)).json().map((v: { name: string }) => v.name)).toEqual(['motd']);
    const audit = await h.deps.db.query<{ action: string; actor_kind: string }>("select action, actor_kind from audit_logs where application_id = $1 and action like 'variable.%' order by id", [
      app.id,
    ]);
    expect(audit.map((a) => a.action)).toEqual(['variable.created', 'variable.updated', 'variable.updated', 'variable.created', 'variable.deleted']);
    expect(new Set(audit.map((a) => a.actor_kind))).toEqual(new Set(['discord']));
  });

  it("refuses a customer, a bad or unknown name, an over-long value and another tenant's variable, ephemerally", async () => {
    expect(await run('variable', 'list', [], buyer)).toMatch(/Only sellers/);
    expect(
      await run(
        'variable',
        'set',
        [
          { name: 'name', value: 'x' },
          { name: 'value', value: 'y' },
        ],
        buyer,
      ),
    ).toMatch(/Only sellers/);
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'bad name!' },
        { name: 'value', value: 'v' },
      ]),
    ).toMatch(/^❌ A variable name is/);
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'n'.repeat(65) },
        { name: 'value', value: 'v' },
      ]),
    ).toMatch(/^❌ A variable name is/);
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'big' },
        { name: 'value', value: 'é'.repeat(40_000) },
      ]),
    ).toMatch(/^❌ A value is at most 65536 bytes/);
    // As the HTTP routes refuse it: control characters other than tab, line feed and carriage return.
    expect(
      await run('variable', 'set', [
        { name: 'name', value: 'ctl' },
        { name: 'value', value: 'a\u0007b' },
      ]),
    ).toMatch(/^❌ A value has no control characters other than tab, line feed and carriage return/);
    expect(await run('variable', 'delete', [{ name: 'name', value: 'never_set' }])).toBe('❌ Variable not found');
    expect((await stranger.call('POST', `/api/applications/${strangerApp.id}/variables`, { name: 'their_var', value: 'theirs', public: false })).statusCode).toBe(201);
    expect(await run('variable', 'delete', [{ name: 'name', value: 'their_var' }])).toBe('❌ Variable not found');
    expect(await choices('variable', 'delete', 'name', 'their')).toEqual([]);
    expect((await stranger.call('GET', `/api/applications/${strangerApp.id}/variables`)).json()).toHaveLength(1);
  });
});

describe('/webhook', () => {
  it('lists every webhook an application may have (20, with long addresses) within one Discord message, each line cut to fit', async () => {
    const rx = await startReceiver();
    try {
      // Up to the application's limit (20), each with a long address: the lines together pass 2,000 characters.
      for (let i = 0; ; i++) {
        const res = await seller.call('POST', `/api/applications/${app.id}/webhooks`, { url: `${rx.url}/hooks/${i}/${'x'.repeat(150)}`, events: ['license.banned'] });
        if (res.statusCode === 409) break;
        expect(res.statusCode, res.body).toBe(201);
      }
      const text = await run('webhook', 'list');
      expect(text.length).toBeLessThanOrEqual(2000);
      expect(text).not.toContain('cut to fit a Discord message');
      const [header, ...lines] = text.split('\n');
      expect(header).toBe('**Webhooks** (20)');
      const hooks = (await seller.call('GET', `/api/applications/${app.id}/webhooks?per_page=100`)).json() as { id: number }[];
      expect(lines.map((l) => Number(/^#(\d+) /.exec(l)![1]))).toEqual(hooks.map((w) => w.id));
      // Each address is shortened inside its code span; the line keeps its last field.
      for (const line of lines) expect(line).toMatch(/^#\d+ · `http:\/\/127\.0\.0\.1:\d+\/\S+…` · (active|paused) · (all events|\d+ events?)$/);
    } finally {
      await rx.close();
      for (const hook of (await seller.call('GET', `/api/applications/${app.id}/webhooks?per_page=100`)).json() as { id: number }[]) await seller.call('DELETE', `/api/webhooks/${hook.id}`);
    }
  });

  it('adds a webhook (secret shown once, ephemerally), lists it, sends it a test event and shows the delivery', async () => {
    const rx = await startReceiver();
    try {
      const added = await run('webhook', 'add', [
        { name: 'url', value: rx.url },
        { name: 'events', value: 'license.banned, license.deleted' },
      ]);
      const id = Number(/Webhook #(\d+) added/.exec(added)![1]);
      const secret = /```\n(whsec_[A-Za-z0-9_-]+)\n```/.exec(added)![1]!;
      expect(added).toContain('license.banned, license.deleted');
      const [hook] = (await seller.call('GET', `/api/applications/${app.id}/webhooks`)).json();
      expect(hook).toMatchObject({ id, url: rx.url, events: ['license.banned', 'license.deleted'] });
      expect(JSON.stringify(hook)).not.toContain(secret);

      expect(await run('webhook', 'list')).toContain(`#${id} · \`${rx.url}\` · active · 2 events`);
      expect(await choices('webhook', 'test', 'webhook', '127.0.0.1')).toEqual([{ name: `#${id} · ${rx.url}`, value: String(id) }]);

      expect(await run('webhook', 'test', [{ name: 'webhook', value: String(id) }])).toMatch(new RegExp(`^📨 Test event #\\d+ queued for webhook #${id}`));
      const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'webhook.test'), 15_000, 'the test event');
      expect(JSON.parse(got.body)).toMatchObject({ type: 'webhook.test', data: { webhook_id: id } });
      const shown = await waitFor(
        async () => {
          const text = await run('webhook', 'deliveries', [{ name: 'webhook', value: `#${id}` }]);
          return text.includes('delivered') ? text : undefined;
        },
        15_000,
        'a delivered delivery',
      );
      expect(shown).toMatch(/webhook\.test · delivered · 1 attempt · HTTP 200/);
      expect(await lastAudit('webhook.tested')).toMatchObject({ actor_kind: 'discord' });
    } finally {
      await rx.close();
    }
  });

  it("refuses a customer, a bad URL, unknown events and another tenant's webhook, ephemerally", async () => {
    expect(await run('webhook', 'list', [], buyer)).toMatch(/Only sellers/);
    expect(await run('webhook', 'add', [{ name: 'url', value: 'https://example.com/hook' }], buyer)).toMatch(/Only sellers/);
    expect(await run('webhook', 'add', [{ name: 'url', value: 'not a url' }])).toBe('❌ url is not a valid URL');
    expect(await run('webhook', 'add', [{ name: 'url', value: 'ftp://example.com/hook' }])).toBe('❌ url must be http or https');
    expect(await run('webhook', 'add', [{ name: 'url', value: `https://example.com/${'a'.repeat(2100)}` }])).toMatch(/^❌ The url is at most 2048/);
    expect(
      await run('webhook', 'add', [
        { name: 'url', value: 'https://example.com/hook' },
        { name: 'events', value: 'license.banned nope.nope' },
      ]),
    ).toMatch(/^❌ Unknown event type `nope\.nope`/);
    expect(await run('webhook', 'test', [{ name: 'webhook', value: 'abc' }])).toMatch(/^❌ Pick a webhook/);
    expect(await run('webhook', 'test', [{ name: 'webhook', value: String(2 ** 40) }])).toMatch(/^❌ Pick a webhook/);
    expect(await run('webhook', 'test', [{ name: 'webhook', value: '999999' }])).toBe('❌ Webhook not found');

    const theirs = await stranger.call('POST', `/api/applications/${strangerApp.id}/webhooks`, { url: 'https://example.com/theirs', events: ['license.banned'] });
    expect(theirs.statusCode).toBe(201);
    const theirId = theirs.json().id as number;
    expect(await run('webhook', 'test', [{ name: 'webhook', value: String(theirId) }])).toBe('❌ Webhook not found');
    expect(await run('webhook', 'deliveries', [{ name: 'webhook', value: String(theirId) }])).toBe('❌ Webhook not found');
    expect(await choices('webhook', 'test', 'webhook', 'example.com/theirs')).toEqual([]);
    const [queued] = await h.deps.db.query<{ n: number }>("select count(*)::int as n from outbox where application_id = $1 and type = 'webhook.test'", [strangerApp.id]);
    expect(queued!.n).toBe(0);
    // Nothing was added by the refused attempts.
    expect((await seller.call('GET', `/api/applications/${app.id}/webhooks`)).json()).toHaveLength(1);
  });
});

describe('/app', () => {
  it('shows the name, app_id, counts and settings, never the secret', async () => {
    const info = await run('app', 'info');
    expect(info).toContain('**My App**');
    expect(info).toContain(`app_id: \`${app.app_id}\``);
    expect(info).toMatch(/Licenses: \d+ \(\d+ active, \d+ inactive, \d+ expired, \d+ banned\) · users: \d+/);
    expect(info).toContain('Paused: no');
    expect(info).not.toContain(app.secret);
  });

  it('pauses (validation answers APP_PAUSED) and resumes', async () => {
    const [lic] = await seller.generate(plan.id);
    const validate = async () => (await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-P' } })).json().code;
    expect(await run('app', 'pause')).toMatch(/^⏸️ Paused/);
    expect(await validate()).toBe('APP_PAUSED');
    expect((await seller.call('GET', `/api/applications/${app.id}`)).json().settings.paused).toBe(true);
    expect(await run('app', 'resume')).toMatch(/^▶️ Resumed/);
    expect(await validate()).toBe('VALID');
    expect(await lastAudit('application.updated')).toMatchObject({ actor_kind: 'discord', details: { settings: { paused: false } } });
  });

  it('changes common settings through the settings schema, and shows them when none is given', async () => {
    const saved = await run('app', 'settings', [
      { name: 'hwid_lock', value: false },
      { name: 'max_hwids', value: 3 },
      { name: 'rate_limit_per_minute', value: 0 },
    ]);
    expect(saved).toContain('✅ Settings saved.');
    expect(saved).toContain('HWID lock: off · max HWIDs: 3');
    expect((await seller.call('GET', `/api/applications/${app.id}`)).json().settings).toMatchObject({ hwid_lock: false, max_hwids: 3, rate_limit_per_minute: 0, hwid_reset_cooldown_hours: 24 });
    expect(await run('app', 'settings')).toContain('HWID lock: off · max HWIDs: 3 · reset cooldown: 24 h');
    await run('app', 'settings', [
      { name: 'hwid_lock', value: true },
      { name: 'max_hwids', value: 1 },
      { name: 'rate_limit_per_minute', value: 300 },
    ]);
  });

  it('refuses a customer and out-of-range or mistyped settings, ephemerally, changing nothing', async () => {
    expect(await run('app', 'info', [], buyer)).toMatch(/Only sellers/);
    expect(await run('app', 'pause', [], buyer)).toMatch(/Only sellers/);
    expect(await run('app', 'settings', [{ name: 'max_hwids', value: 0 }])).toMatch(/^❌ max_hwids: /);
    expect(await run('app', 'settings', [{ name: 'max_hwids', value: 101 }])).toMatch(/^❌ max_hwids: /);
    expect(await run('app', 'settings', [{ name: 'hwid_reset_cooldown_hours', value: 1.5 }])).toMatch(/^❌ hwid_reset_cooldown_hours: /);
    expect(await run('app', 'settings', [{ name: 'rate_limit_per_minute', value: 'lots', type: ApplicationCommandOptionType.Integer }])).toMatch(/^❌ rate_limit_per_minute: /);
    expect((await seller.call('GET', `/api/applications/${app.id}`)).json().settings).toMatchObject({ max_hwids: 1, hwid_reset_cooldown_hours: 24, rate_limit_per_minute: 300, paused: false });
  });
});

describe('/audit', () => {
  it('shows recent entries newest first, a page at a time, each line bounded', async () => {
    const first = await run('audit');
    expect(first).toMatch(/^\*\*Audit log\*\* \(\d+ entries, page 1 of \d+\)/);
    const lines = first.split('\n').slice(1);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^<t:\d+:R> · application\.updated application:\d+ · Admin \(discord\)$/);
    expect(first.length).toBeLessThan(2000);
    expect(await run('audit', null, [{ name: 'page', value: 2 }])).toMatch(/page 2 of/);
    expect(await run('audit', null, [{ name: 'page', value: 9999 }])).toMatch(/^❌ There are \d+ pages/);
  });

  it('escapes what others wrote and refuses a customer', async () => {
    // A name recorded in an audit entry (here a Discord display name) cannot format the list.
    const sneaky: Member = { id: '100000000000000005', name: '**bold** `code`', permissions: MANAGE_GUILD };
    await run(
      'variable',
      'set',
      [
        { name: 'name', value: 'by_sneaky' },
        { name: 'value', value: 'v' },
      ],
      sneaky,
    );
    const text = await run('audit');
    expect(text.split('\n')[1]).toContain('variable.created variable:');
    expect(text.split('\n')[1]).toContain('\\*\\*bold\\*\\* \\`code\\` (discord)');
    expect(await run('audit', null, [], buyer)).toMatch(/Only sellers/);
  });
});

describe('the console commands', () => {
  it('autocomplete the user, variable and webhook a subcommand acts on', async () => {
    const { commandsByName } = await import('../commands/index.js');
    const option = (command: string, sub: string, name: string) =>
      (commandsByName.get(command)!.data.toJSON().options as { name: string; options?: { name: string; autocomplete?: boolean }[] }[])
        .find((s) => s.name === sub)!
        .options!.find((o) => o.name === name);
    for (const sub of ['info', 'delete', 'reset-password']) expect(option('user', sub, 'username')).toMatchObject({ autocomplete: true });
    for (const sub of ['set', 'delete']) expect(option('variable', sub, 'name')).toMatchObject({ autocomplete: true });
    for (const sub of ['test', 'deliveries']) expect(option('webhook', sub, 'webhook')).toMatchObject({ autocomplete: true });
  });
});
