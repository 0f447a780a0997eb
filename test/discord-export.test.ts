import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell, EXPORT_COLUMNS, type LicenseExport } from '../src/core/licenses/export-licenses.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import type { InteractionContext } from '../src/discord/interaction.js';
import { deliverLicenseExport, takeExportSlot } from '../src/discord/license-export.js';
import { startHarness, type Harness } from './support/harness.js';
import { autocomplete, ephemeralText, MANAGE_GUILD, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import type { DiscordStub, RecordedCall } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };
const APP = '800000000000000001';

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, stub, keys } = linked);
});
afterAll(() => linked?.close());

/** RFC 4180: records of fields, quoted fields may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') record.push(field), (field = '');
    else if (ch === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      (record = []), (field = ''), i++;
    } else field += ch;
  }
  if (field || record.length) throw new Error('CSV does not end with CRLF');
  return records;
}

/** Runs /export and waits for its follow-up; returns the first answer and the final edit. */
async function runExport(options: { name: string; value: string }[] = []) {
  stub.clear();
  const payload = slash(admin, 'export', options);
  const first = (await postInteraction(h.app, keys, payload)).json();
  await h.bot!.idle();
  const edits = stub.find('PATCH', new RegExp(`/webhooks/${APP}/${payload.token}/messages/@original$`));
  return { first, edits, last: edits.at(-1) };
}

const attachment = (call: RecordedCall) => {
  const [name] = Object.keys(call.fileBytes);
  const bytes = call.fileBytes[name!]!;
  return { name: name!, text: (name!.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8') };
};

describe('/export of a few licenses', () => {
  let ids: number[];
  beforeAll(async () => {
    const made = await linked.seller.generate(linked.plan.id, 4);
    ids = made.map((l) => l.id).sort((a, b) => a - b);
    const q = (text: string, params: unknown[]) => h.deps.db.query(text, params);
    await q("update licenses set notes = $2, hwids = '{PC-1,\"=cmd|calc\"}', ip_address = '203.0.113.7' where id = $1", [ids[0], '=HYPERLINK("http://evil.example","click, here")']);
    await q('update licenses set notes = $2 where id = $1', [ids[1], '+1 line one\r\nline "two"']);
    await q("update licenses set notes = $2, status = 'banned', ban_reason = 'chargeback' where id = $1", [ids[2], '@SUM(A1)']);
    await q("update licenses set status = 'active', activated_at = now() - interval '40 days', expires_at = now() - interval '10 days', notes = $2 where id = $1", [ids[3], '\tTabbed']);
  });

  it('defers ephemerally, then attaches the CSV with every column, quoted and neutralized', async () => {
    const { first, last } = await runExport();
    expect(first).toEqual({ type: 5, data: { flags: 64 } });
    expect(last!.json.content).toContain('Exported 4 licenses');
    expect(last!.json.attachments).toEqual([{ id: 0, filename: expect.stringMatching(/^licenses-\d{4}-\d{2}-\d{2}\.csv$/) }]);
    expect(last!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(last!.headers.authorization).toBeUndefined();
    const { name, text } = attachment(last!);
    expect(name.endsWith('.csv')).toBe(true);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...EXPORT_COLUMNS]);
    expect(rows.map((r) => Number(r[0]))).toEqual(ids);
    const byId = new Map(rows.map((r) => [Number(r[0]), Object.fromEntries(EXPORT_COLUMNS.map((c, i) => [c, r[i]!]))]));
    const first4 = byId.get(ids[0]!)!;
    expect(first4.notes).toBe(`'=HYPERLINK("http://evil.example","click, here")`);
    expect(first4.hwids).toBe('PC-1;=cmd|calc');
    expect(first4.ip_address).toBe('203.0.113.7');
    expect(first4.plan).toBe('Monthly');
    expect(byId.get(ids[1]!)!.notes).toBe(`'+1 line one\r\nline "two"`);
    expect(byId.get(ids[2]!)!).toMatchObject({ status: 'banned', notes: "'@SUM(A1)" });
    // Expired by its date, though the sweep has not marked it: the effective status.
    expect(byId.get(ids[3]!)!).toMatchObject({ status: 'expired', notes: "'\tTabbed" });
    expect(byId.get(ids[3]!)!.expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    // No cell that a spreadsheet would evaluate.
    for (const r of rows) for (const cell of r) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('filters by status, plan and search like the license list', async () => {
    const banned = attachment((await runExport([{ name: 'status', value: 'banned' }])).last!);
    expect(
      parseCsv(banned.text)
        .slice(1)
        .map((r) => Number(r[0])),
    ).toEqual([ids[2]]);
    const expired = attachment((await runExport([{ name: 'status', value: 'expired' }])).last!);
    expect(
      parseCsv(expired.text)
        .slice(1)
        .map((r) => Number(r[0])),
    ).toEqual([ids[3]]);
    const searched = attachment((await runExport([{ name: 'search', value: 'HYPERLINK' }])).last!);
    expect(
      parseCsv(searched.text)
        .slice(1)
        .map((r) => Number(r[0])),
    ).toEqual([ids[0]]);
    const byPlan = attachment((await runExport([{ name: 'plan', value: String(linked.plan.id) }])).last!);
    expect(parseCsv(byPlan.text)).toHaveLength(5);
  });

  it('offers the plans of the linked application in autocomplete', async () => {
    const res = await postInteraction(h.app, keys, autocomplete(admin, 'export', 'plan', 'mon'));
    expect(res.json()).toEqual({ type: 8, data: { choices: [{ name: 'Monthly (30 days)', value: String(linked.plan.id) }] } });
  });

  it('refuses a plan not picked from the list at once, and what the database refuses in the deferred reply, nothing uploaded', async () => {
    const other = await (await h.seller('other')).setup();
    stub.clear();
    const text = (options: { name: string; value: string }[]) => ephemeralText(h.app, keys, slash(admin, 'export', options));
    expect(await text([{ name: 'plan', value: 'Monthly' }])).toBe('❌ Pick a plan from the list.');
    expect(await text([{ name: 'plan', value: '99999999999' }])).toBe('❌ Pick a plan from the list.');
    expect(await text([{ name: 'plan', value: '2147483648' }])).toBe('❌ Pick a plan from the list.');
    await h.bot!.idle();
    expect(stub.calls).toHaveLength(0);
    // Checking the rest reads the database, after the acknowledgement: the refusal is edited in.
    const edited = async (options: { name: string; value: string }[]) => {
      const { first, edits } = await runExport(options);
      expect(first).toEqual({ type: 5, data: { flags: 64 } });
      expect(edits).toHaveLength(1);
      expect(edits[0]!.fileBytes).toEqual({});
      expect(stub.calls).toHaveLength(1);
      return edits[0]!.json.content as string;
    };
    expect(await edited([{ name: 'status', value: 'deleted' }])).toBe('❌ status must be one of inactive, active, expired, banned.');
    expect(await edited([{ name: 'plan', value: String(other.plan.id) }])).toBe('❌ Plan not found');
    expect(await edited([{ name: 'search', value: 'x'.repeat(201) }])).toBe('❌ search is at most 200 characters.');
    expect(await edited([{ name: 'search', value: 'no such license anywhere' }])).toBe('No licenses match these filters: nothing to export.');
  });

  it('waits its turn: a second export of the same application while one runs is told so, nothing uploaded', async () => {
    const held = takeExportSlot(linked.app.id);
    if ('busy' in held) throw new Error('the slot should be free');
    try {
      const { first, edits } = await runExport();
      expect(first.type).toBe(5);
      expect(edits).toHaveLength(1);
      expect(edits[0]!.json.content).toContain('An export of this application is already running');
      expect(Object.keys(edits[0]!.fileBytes)).toHaveLength(0);
    } finally {
      held.release();
    }
    const { last } = await runExport();
    expect(attachment(last!).name).toMatch(/\.csv$/);
  });

  it('is refused to a member who is not a seller', async () => {
    stub.clear();
    expect(await ephemeralText(h.app, keys, slash(buyer, 'export'))).toBe('❌ Only sellers can use this command (Manage Server or the seller role).');
    await h.bot!.idle();
    expect(stub.calls).toHaveLength(0);
  });

  it('is audited, with the count and the filters', async () => {
    const [row] = await h.deps.db.query<{ action: string; details: { count: number; filters: Record<string, unknown> } }>(
      "select action, details from audit_logs where action = 'license.exported' and details->'filters'->>'status' = 'banned' order by id desc limit 1",
    );
    expect(row!.details).toEqual({ count: 1, filters: { status: 'banned' } });
  });
});

describe('the CSV cells', () => {
  it('are quoted only when needed, with quotes doubled', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(12)).toBe('12');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('\rx')).toBe(`"'\rx"`);
  });
});

describe('an export past the upload limit', () => {
  /** An export of incompressible text (random hex), `rows` lines of 200 bytes. */
  const randomExport = (rows: number): LicenseExport => ({
    total: rows,
    async *chunks() {
      for (let i = 0; i < rows; i++) yield { text: `${randomBytes(99).toString('hex')}\r\n`, rows: 1 };
    },
  });
  const ctx = (token: string) => ({ bot: { api: new DiscordApi(APP, { apiUrl: stub.apiUrl }), progressEveryMs: 100_000, deps: h.deps }, interaction: { token } }) as unknown as InteractionContext;

  it('is gzipped when the CSV is over the limit and the gzip is not', async () => {
    stub.clear();
    await deliverLicenseExport(
      ctx('tok-gz'),
      {
        total: 50,
        async *chunks() {
          for (let i = 0; i < 50; i++) yield { text: `${'A'.repeat(198)}\r\n`, rows: 1 };
        },
      },
      { baseName: 'x', limitBytes: 5_000 },
    );
    const [edit] = stub.find('PATCH', /tok-gz\/messages\/@original$/);
    expect(edit!.json.content).toContain('gzipped');
    expect(Object.keys(edit!.fileBytes)).toEqual(['x.csv.gz']);
    expect(gunzipSync(edit!.fileBytes['x.csv.gz']!).length).toBe(10_000);
  });

  it('says so, naming the sizes, when even the gzip is over it', async () => {
    stub.clear();
    await deliverLicenseExport(ctx('tok-big'), randomExport(50), { baseName: 'x', limitBytes: 5_000 });
    const [edit, ...more] = stub.find('PATCH', /tok-big\/messages\/@original$/);
    expect(more).toHaveLength(0);
    expect(edit!.json.content).toMatch(/^❌ The export of 50 licenses is 0\.0 MB .* over Discord's 0\.0 MB upload limit\. Narrow it/);
    expect(edit!.fileBytes).toEqual({});
  });
});

describe('/export of 100,000 licenses', () => {
  it('streams them all to Discord as a .csv.gz under the limit, with progress, in bounded memory', { timeout: 240_000 }, async () => {
    const appId = linked.app.id;
    const planId = linked.plan.id;
    await h.deps.db.query('delete from licenses where application_id = $1', [appId]);
    // Realistic rows (~170 bytes): half activated, with a HWID, an address and dates.
    await h.deps.db.query(
      `insert into licenses (application_id, plan_id, license_key, status, duration_days, hwids, activated_at, expires_at, ip_address, last_used, notes)
       select $1, $2, upper(md5(g::text)), case when g % 2 = 0 then 'active' else 'inactive' end, 30,
         case when g % 2 = 0 then array['HWID-' || md5('h' || g::text)] else '{}'::text[] end,
         case when g % 2 = 0 then now() - interval '1 day' end, case when g % 2 = 0 then now() + interval '29 days' end,
         case when g % 2 = 0 then '198.51.100.' || (g % 250)::text end, case when g % 2 = 0 then now() end,
         case when g % 10 = 0 then 'batch ' || g::text end
       from generate_series(1, 100000) g`,
      [appId, planId],
    );
    const [{ n }] = (await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [appId])) as [{ n: number }];

    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
    }, 250);
    let run: Awaited<ReturnType<typeof runExport>>;
    const started = Date.now();
    try {
      run = await runExport();
    } finally {
      clearInterval(sampler);
    }
    const { first, edits, last } = run;
    expect(first).toEqual({ type: 5, data: { flags: 64 } });
    const progress = edits.filter((e) => /^⏳ Exported [\d,]+ of [\d,]+ licenses…$/.test(e.json?.content ?? ''));
    expect(progress.length).toBeGreaterThan(0);
    expect(last!.json.content).toContain(`Exported ${n.toLocaleString('en-US')} licenses`);
    expect(last!.json.content).toContain('gzipped');
    expect(last!.size).toBeLessThan(10 * 1024 * 1024);
    const { name, text } = attachment(last!);
    expect(name).toMatch(/\.csv\.gz$/);
    expect(text.length).toBeGreaterThan(10 * 1024 * 1024);
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(n + 2);
    const exportedIds = new Set(lines.slice(1, -1).map((l) => Number(l.slice(0, l.indexOf(',')))));
    expect(exportedIds.size).toBe(n);
    // Live heap after a collection, sampled during the export (measured: under 10 MB, the stub's own
    // copy of the upload included). Holding the rows would not fit: the CSV text alone is ~14 MB,
    // and 100,000 row objects with their dates several times that.
    expect(peak, `peak heap growth ${Math.round(peak / 1024 / 1024)} MB`).toBeLessThan(32 * 1024 * 1024);
    console.log(
      `100k export: upload ${(last!.size / 1024 / 1024).toFixed(1)} MB, CSV ${(text.length / 1024 / 1024).toFixed(1)} MB, peak heap growth ${(peak / 1024 / 1024).toFixed(1)} MB, ${Date.now() - started} ms`,
    );
  });
});
