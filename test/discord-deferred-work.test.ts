import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { button, MANAGE_GUILD, postInteraction, sendInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { waitFor } from './support/wait.js';

/**
 * /export and the /license bulk Confirm button read (and change) every license their filter
 * matches: on a large application that takes longer than the 3 s Discord waits for a first answer.
 * So they answer first and do the work after. Measured by order, not by time: while a transaction
 * holds the licenses table (no statement on it gets through), the interaction is already answered
 * with the deferral, and the outcome reaches Discord as an edit once the table is let go.
 */

const APP = '800000000000000001';
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let plan: { id: number };
let sql: postgres.Sql;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord, clock }), admin });
  ({ h, stub, keys, seller, plan } = linked);
  sql = postgres(h.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await linked?.close();
});

type Payload = ReturnType<typeof slash>;

/** What the bot sent Discord with an interaction's token: edits of its original message, and follow-ups. */
const sentWith = (payload: Payload) => {
  const of = (method: string, path: string) => stub.find(method, new RegExp(`/webhooks/${APP}/${payload.token}${path}$`));
  return { edits: of('PATCH', '/messages/@original'), followUps: of('POST', '') };
};

/** Keycord's statements waiting for a lock right now. */
const waitingForALock = async () =>
  (await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`)[0]!.n;

/**
 * Sends the interactions while a transaction holds the licenses table, until `waiting` of
 * Keycord's statements wait for it (each interaction has started its work); answers, per
 * interaction, whether Discord had its answer by then and how many edits it had seen at that
 * answer, then (the table let go, the work done) the answers themselves.
 */
async function whileLicensesHeld(payloads: Payload[], waiting = payloads.length) {
  let answeredEarly: boolean[] = [];
  const editsAtAnswer: number[] = payloads.map(() => -1);
  let sent: Promise<{ statusCode: number; json(): any }>[] = [];
  await sql.begin(async (tx) => {
    await tx`lock table licenses in access exclusive mode`;
    sent = payloads.map((p, i) =>
      postInteraction(h.app, keys, p).then((res) => {
        editsAtAnswer[i] = sentWith(p).edits.length;
        return res;
      }),
    );
    const answered = payloads.map(() => false);
    sent.forEach((s, i) => s.then(() => (answered[i] = true)).catch(() => {}));
    await waitFor(async () => (await waitingForALock()) >= waiting, 15_000, 'the work to wait for the licenses');
    answeredEarly = [...answered];
  });
  const answers = (await Promise.all(sent)).map((res) => {
    expect(res.statusCode).toBe(200);
    return res.json();
  });
  await h.bot!.idle();
  return { answeredEarly, editsAtAnswer, answers };
}

/** Asks for a bulk ban of the licenses noted `note`; answers the Confirm button's custom id. */
async function askBulkBan(note: string, count: number) {
  const asked = await sendInteraction(
    h.app,
    keys,
    slash(
      admin,
      'license',
      [
        { name: 'action', value: 'ban' },
        { name: 'search', value: note },
      ],
      'bulk',
    ),
  );
  expect(asked.data.content).toContain(`${count} licenses`);
  return asked.data.components[0].components[0].custom_id as string;
}

/** The Cancel button next to a Confirm button: the same request and nonce. */
const cancelOf = (confirm: string) => confirm.replace(/^bulk:ok:/, 'bulk:no:');

const count = async (text: string, params: unknown[]) => Number((await h.deps.db.query<{ n: number | string }>(text, params))[0]!.n);

describe('/export', () => {
  it('is answered with an ephemeral deferral before it reads a license, then the CSV is edited in', async () => {
    const made = await seller.generate(plan.id, 3, { notes: 'export-held' });
    const payload = slash(admin, 'export', [{ name: 'search', value: 'export-held' }]);
    const { answeredEarly, editsAtAnswer, answers } = await whileLicensesHeld([payload]);
    expect(answeredEarly).toEqual([true]);
    expect(editsAtAnswer).toEqual([0]);
    expect(answers).toEqual([{ type: 5, data: { flags: 64 } }]);
    const { edits, followUps } = sentWith(payload);
    expect(followUps).toEqual([]);
    expect(edits).toHaveLength(1);
    expect(edits[0]!.json.content).toContain('Exported 3 licenses');
    const [name] = Object.keys(edits[0]!.files);
    expect(name).toMatch(/^licenses-\d{4}-\d{2}-\d{2}\.csv$/);
    for (const l of made) expect(edits[0]!.files[name!]).toContain(l.license_key);
  });

  it('edits a refusal that comes after the deferral into the ephemeral reply', async () => {
    const theirs = await (await h.seller('other-tenant')).setup();
    const payload = slash(admin, 'export', [{ name: 'plan', value: String(theirs.plan.id) }]);
    expect((await postInteraction(h.app, keys, payload)).json()).toEqual({ type: 5, data: { flags: 64 } });
    await h.bot!.idle();
    const { edits, followUps } = sentWith(payload);
    expect(followUps).toEqual([]);
    expect(edits.map((e) => [e.json.content, e.files])).toEqual([['❌ Plan not found', {}]]);
  });
});

describe('the /license bulk Confirm button', () => {
  it('is acknowledged (type 6) before it counts or bans a license, then the outcome is edited into the message', async () => {
    const few = await seller.generate(plan.id, 3, { notes: 'bulk-held' });
    const click = button(admin, await askBulkBan('bulk-held', 3));
    const { answeredEarly, editsAtAnswer, answers } = await whileLicensesHeld([click]);
    expect(answeredEarly).toEqual([true]);
    expect(editsAtAnswer).toEqual([0]);
    expect(answers).toEqual([{ type: 6 }]);
    const { edits, followUps } = sentWith(click);
    expect(followUps).toEqual([]);
    expect(edits.map((e) => e.json)).toEqual([{ content: '✅ Banned 3 licenses.', components: [], allowed_mentions: { parse: [] } }]);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [few.map((l) => l.id)])).toBe(3);
  });

  it('bans once on a double click: both clicks acknowledged, one outcome edited in, the other click told so on its own', async () => {
    const few = await seller.generate(plan.id, 3, { notes: 'bulk-double' });
    const confirm = await askBulkBan('bulk-double', 3);
    const clicks = [button(admin, confirm), button(admin, confirm)];
    // Both wait: the first for the licenses, the second for the request the first has locked.
    const { answeredEarly, answers } = await whileLicensesHeld(clicks, 2);
    expect(answeredEarly).toEqual([true, true]);
    expect(answers).toEqual([{ type: 6 }, { type: 6 }]);
    const sent = clicks.map(sentWith);
    expect(sent.flatMap((s) => s.edits.map((e) => e.json.content))).toEqual(['✅ Banned 3 licenses.']);
    const followUps = sent.flatMap((s) => s.followUps.map((f) => f.json));
    expect(followUps).toEqual([{ content: '❌ This bulk action was already confirmed', flags: 64, allowed_mentions: { parse: [] } }]);
    // The follow-up went with the click that did not edit: the outcome is never overwritten.
    expect(sent.filter((s) => s.edits.length === 1 && s.followUps.length === 0)).toHaveLength(1);
    const ids = few.map((l) => l.id);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [ids])).toBe(3);
    expect(await count(`select count(*) as n from audit_logs where action = 'license.banned' and target = any($1::text[])`, [ids.map((id) => `license:${id}`)])).toBe(3);
    expect(await count(`select count(*) as n from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = any($1::int[])`, [ids])).toBe(3);
  });

  it('lets a Cancel clicked while Confirm is banning answer at once, that the request is being confirmed', async () => {
    const few = await seller.generate(plan.id, 3, { notes: 'bulk-cancel-late' });
    const confirm = await askBulkBan('bulk-cancel-late', 3);
    expect(cancelOf(confirm)).not.toBe(confirm);
    const click = button(admin, confirm);
    let confirmed: Promise<unknown> = Promise.resolve();
    let cancelled: any;
    await sql.begin(async (tx) => {
      await tx`lock table licenses in access exclusive mode`;
      confirmed = postInteraction(h.app, keys, click);
      // The Confirm holds the request's row and waits for the licenses.
      await waitFor(async () => (await waitingForALock()) >= 1, 15_000, 'the Confirm to wait for the licenses');
      // The table is still held: a Cancel that queued behind the Confirm would not get through.
      cancelled = await sendInteraction(h.app, keys, button(admin, cancelOf(confirm)));
    });
    expect(cancelled).toEqual({ type: 4, data: { content: '❌ This bulk action is being confirmed right now; nothing was cancelled', flags: 64, allowed_mentions: { parse: [] } } });
    await confirmed;
    await h.bot!.idle();
    expect(sentWith(click).edits.map((e) => e.json.content)).toEqual(['✅ Banned 3 licenses.']);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [few.map((l) => l.id)])).toBe(3);
  });

  it('cancels a request nobody is confirming, and a Confirm after it finds nothing to confirm', async () => {
    const few = await seller.generate(plan.id, 2, { notes: 'bulk-cancelled' });
    const confirm = await askBulkBan('bulk-cancelled', 2);
    const cancelled = await sendInteraction(h.app, keys, button(admin, cancelOf(confirm)));
    expect(cancelled).toMatchObject({ type: 7, data: { content: 'Cancelled; nothing was changed.', components: [] } });
    const late = button(admin, confirm);
    expect(await sendInteraction(h.app, keys, late)).toEqual({ type: 6 });
    await h.bot!.idle();
    expect(sentWith(late).followUps.map((f) => f.json.content)).toEqual(['❌ Bulk action not found']);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [few.map((l) => l.id)])).toBe(0);
  });

  it('edits a refusal that comes after the acknowledgement into the message: an expired confirmation', async () => {
    const few = await seller.generate(plan.id, 2, { notes: 'bulk-late' });
    const click = button(admin, await askBulkBan('bulk-late', 2));
    clock.advance(15 * 60_000);
    expect(await sendInteraction(h.app, keys, click)).toEqual({ type: 6 });
    await h.bot!.idle();
    const { edits, followUps } = sentWith(click);
    expect(followUps).toEqual([]);
    expect(edits.map((e) => e.json.content)).toEqual(['❌ This confirmation has expired; ask again']);
    expect(await count(`select count(*) as n from licenses where id = any($1::int[]) and status = 'banned'`, [few.map((l) => l.id)])).toBe(0);
  });
});
