import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { MANAGE_GUILD, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * Discord takes the first answer to an interaction within 3 s; a later one is thrown away and the
 * member sees "The application did not respond". Some answers cannot be asked for again: the
 * signing secret of a new webhook and a user's new password are shown only there, and the keys
 * of a small /generate are in it. Their work is quick as a rule, but not bounded (a DNS lookup, a
 * password hash, a row another write holds): while it runs past the window, the change is made
 * and its answer lost. Here another transaction holds the row the work needs for longer than
 * that; the interaction must still be answered in time (a deferral), and the secret, password or
 * keys edited in once the work is done.
 */

const APP = '800000000000000001';
/** Discord's window for a first answer. */
const DISCORD_WINDOW_MS = 3_000;
/** How long the other transaction holds the row: past the window. */
const HELD_MS = 4_500;

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };
let sql: postgres.Sql;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, stub, keys, seller, app, plan } = linked);
  sql = postgres(h.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await linked?.close();
});

type Payload = ReturnType<typeof slash>;

function command(name: string, subcommand: string | null, options: { name: string; value: string | number }[]): Payload {
  const payload = slash(admin, name, [], subcommand ?? undefined);
  const typed = options.map((o) => ({ ...o, type: typeof o.value === 'number' ? 4 : 3 }));
  const data = payload.data as { options: { options?: unknown[] }[] | unknown[] };
  if (subcommand) (data.options[0] as { options: unknown[] }).options = typed;
  else data.options = typed;
  return payload;
}

/**
 * Sends the interaction while another transaction holds a row (`lock` takes it) for HELD_MS;
 * answers how long the first answer took, the answer, and the content Discord ends up with for
 * the reply: the answer's own, or the last edit of the original made with the token.
 */
async function whileHeld(lock: (tx: postgres.TransactionSql) => Promise<unknown>, payload: Payload) {
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = sql.begin(async (tx) => {
    await lock(tx);
    locked();
    await new Promise((resolve) => setTimeout(resolve, HELD_MS));
  });
  await isLocked;
  const started = Date.now();
  const res = await postInteraction(h.app, keys, payload);
  const tookMs = Date.now() - started;
  await holding;
  expect(res.statusCode, res.body).toBe(200);
  const answer = res.json();
  const edits = () => stub.find('PATCH', new RegExp(`/webhooks/${APP}/${payload.token}/messages/@original$`));
  const content: string = answer.type === 4 ? answer.data.content : await waitFor(() => edits().at(-1)?.json?.content as string | undefined, 15_000, 'the answer edited in');
  return { tookMs, answer, content };
}

const holdApplication = (tx: postgres.TransactionSql) => tx`select id from applications where id = ${app.id} for no key update`;

describe('an answer that cannot be asked for again, while its work waits past Discord’s window', () => {
  it('/webhook add is answered in time, and the signing secret is edited in', async () => {
    const rx = await startReceiver();
    try {
      const { tookMs, answer, content } = await whileHeld(holdApplication, command('webhook', 'add', [{ name: 'url', value: rx.url }]));
      expect(tookMs, 'the first answer reached Discord within its window').toBeLessThan(DISCORD_WINDOW_MS);
      expect(answer).toMatchObject({ type: 5, data: { flags: 64 } });
      const id = Number(/Webhook #(\d+) added/.exec(content)?.[1]);
      expect(content).toMatch(/```\nwhsec_[A-Za-z0-9_-]+\n```/);
      const hooks = (await seller.call('GET', `/api/applications/${app.id}/webhooks`)).json() as { id: number }[];
      expect(hooks.map((w) => w.id)).toEqual([id]);
    } finally {
      await rx.close();
    }
  });

  it('/user reset-password is answered in time, and the new password (which works) is edited in', async () => {
    const [lic] = await seller.generate(plan.id);
    const created = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: lic!.license_key, username: 'late_player', password: 'hunter2hunter2', hwid: 'PC-late' });
    expect(created.statusCode, created.body).toBe(201);
    const userId = created.json().user.id as number;
    const holdUser = (tx: postgres.TransactionSql) => tx`select id from app_users where id = ${userId} for update`;
    const { tookMs, answer, content } = await whileHeld(holdUser, command('user', 'reset-password', [{ name: 'username', value: 'late_player' }]));
    expect(tookMs, 'the first answer reached Discord within its window').toBeLessThan(DISCORD_WINDOW_MS);
    expect(answer).toMatchObject({ type: 5, data: { flags: 64 } });
    const password = /```\n([A-Za-z0-9_-]{24})\n```/.exec(content)?.[1];
    const login = await client(h, '/api/user-auth/login', { app_id: app.app_id, username: 'late_player', password, hwid: 'PC-late' });
    expect(login.statusCode, login.body).toBe(200);
  });

  it('/generate of a few keys is answered in time, and the keys made are edited in', async () => {
    const { tookMs, answer, content } = await whileHeld(
      holdApplication,
      command('generate', null, [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 3 },
      ]),
    );
    expect(tookMs, 'the first answer reached Discord within its window').toBeLessThan(DISCORD_WINDOW_MS);
    expect(answer).toMatchObject({ type: 5, data: { flags: 64 } });
    const shown = /```\n([\s\S]+)\n```/.exec(content)?.[1]?.split('\n') ?? [];
    expect(shown).toHaveLength(3);
    const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1 and license_key = any($2::text[])', [app.id, shown]);
    expect(row!.n).toBe(3);
  });

  it('is still answered at once, with no deferral, when nothing holds it up', async () => {
    const res = await postInteraction(
      h.app,
      keys,
      command('generate', null, [
        { name: 'plan', value: String(plan.id) },
        { name: 'count', value: 2 },
      ]),
    );
    expect(res.json()).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(res.json().data.content).toMatch(/^✅ Generated 2 keys\n```\n/);
  });
});
