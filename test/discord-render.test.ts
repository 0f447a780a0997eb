import { gunzipSync } from 'node:zlib';
import { fitContent, MESSAGE_CONTENT_MAX } from '../src/discord/message-limits.js';
import { describe, expect, it } from 'vitest';
import { keysMessage, MAX_INLINE_KEYS } from '../src/discord/keys-message.js';
import { DISCORD_UPLOAD_LIMIT } from '../src/discord/upload-limit.js';
import { decodeCustomId, encodeCustomId, type CustomId } from '../src/discord/custom-ids.js';
import { discordTime } from '../src/discord/interaction.js';
import {
  customerLicensesMessage,
  expiryNoticeText,
  LICENSES_PAGE_SIZE,
  licenseInfoEmbed,
  maskKey,
  panelMessage,
  plansEmbed,
  redeemModal,
  resetMenu,
  RESET_PAGE_SIZE,
  setupModal,
  statsEmbed,
} from '../src/discord/render.js';
import type { CustomerLicense } from '../src/core/customers/customer-licenses.js';
import type { LicenseView } from '../src/core/licenses/license-view.js';

const KEY = '0123456789ABCDEF0123456789ABCDEF';
const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
const keys = (n: number) => Array.from({ length: n }, (_, i) => `KEY-${String(i).padStart(4, '0')}-ABCDEFGH`);

/** Text inputs of a modal definition, whether wrapped in labels or action rows. */
const inputsOf = (m: { components: unknown[] }) =>
  (m.components as { component?: { custom_id: string }; components?: { custom_id: string }[] }[]).flatMap((c) => (c.component ? [c.component] : (c.components ?? [])));

describe('the custom id codec', () => {
  const ids: CustomId[] = [
    { kind: 'panel', action: 'redeem' },
    { kind: 'panel', action: 'licenses' },
    { kind: 'panel', action: 'reset' },
    { kind: 'redeem-modal' },
    { kind: 'reset-select' },
    { kind: 'reset-page', page: 0 },
    { kind: 'reset-page', page: 3 },
    { kind: 'reset-page', page: 12345 },
    { kind: 'licenses-page', page: 0 },
    { kind: 'licenses-page', page: 12345 },
    { kind: 'setup-modal', sellerRoleId: null, logChannelId: null, tag: 'AAAAAAAAAAAAAAAAAAAAAA' },
    { kind: 'setup-modal', sellerRoleId: '900000000000000010', logChannelId: null, tag: 'abcdefghijklmnopqrst-_' },
    { kind: 'setup-modal', sellerRoleId: null, logChannelId: '900000000000000011', tag: '0123456789ABCDEFGHIJKL' },
    { kind: 'setup-modal', sellerRoleId: '9'.repeat(22), logChannelId: '8'.repeat(22), tag: 'zzzzzzzzzzzzzzzzzzzzzz' },
    // A form opened before forms were tagged: decoded so its submitter can be told to run /setup again.
    { kind: 'setup-modal', sellerRoleId: '900000000000000010', logChannelId: '900000000000000011', tag: null },
  ];

  it.each(ids.map((id) => [encodeCustomId(id), id] as const))('round-trips %s', (encoded, id) => {
    expect(decodeCustomId(encoded)).toEqual(id);
    // Discord allows 100 characters in a custom id.
    expect(encoded.length).toBeLessThanOrEqual(100);
  });

  it('keeps the ids panels already posted use (stable across releases)', () => {
    expect(encodeCustomId({ kind: 'panel', action: 'redeem' })).toBe('lic:redeem');
    expect(encodeCustomId({ kind: 'panel', action: 'licenses' })).toBe('lic:licenses');
    expect(encodeCustomId({ kind: 'panel', action: 'reset' })).toBe('lic:reset');
    expect(encodeCustomId({ kind: 'redeem-modal' })).toBe('lic:redeem-modal');
    expect(encodeCustomId({ kind: 'reset-select' })).toBe('lic:reset-select');
  });

  it.each([
    '',
    'nonsense',
    'lic',
    'lic:',
    'lic:delete',
    'lic:reset-page',
    'lic:reset-page:-1',
    'lic:reset-page:x',
    'lic:reset-page:1e3',
    'lic:reset-page:1234567',
    'lic:reset-page:1:100000000000000021',
    'lic:licenses-page',
    'lic:licenses-page:',
    'lic:licenses-page:-1',
    'lic:licenses-page:1e3',
    'lic:licenses-page:1234567',
    'lic:licenses-page:1:100000000000000021',
    'LIC:REDEEM',
    'setup',
    'setup:-',
    'setup:x:-',
    'setup:-:123',
    'setup:%00:%00',
    'setup:-:-:',
    'setup:-:-:short',
    'setup:-:-:AAAAAAAAAAAAAAAAAAAAAA:extra',
    'setup:-:-:AAAAAAAAAAAAAAAAAAAAA=',
    ':::',
    'other:redeem',
    '🙂',
  ])('decodes garbage %j to null', (raw) => {
    expect(decodeCustomId(raw)).toBeNull();
  });
});

/** Keys as long as /generate makes them: a 32-character prefix and a 128-character custom mask. */
const longKeys = (n: number) =>
  Array.from({ length: n }, (_, i) => `${'PRO-'.padEnd(32, 'X')}${Array.from({ length: 128 }, (_, j) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[(i * 131 + j * 7 + ((i * j) % 29)) % 36]).join('')}`);

describe('keysMessage', () => {
  it(`shows up to ${MAX_INLINE_KEYS} keys inline in a code block, one a line`, async () => {
    const list = keys(MAX_INLINE_KEYS);
    const m = await keysMessage(list, 'Your keys');
    expect(m.files).toBeUndefined();
    expect(m.content.startsWith('Your keys\n```\n')).toBe(true);
    expect(/```\n([\s\S]+)\n```/.exec(m.content)![1]!.split('\n')).toEqual(list);
    // Discord refuses message content over 2000 characters.
    expect(m.content.length).toBeLessThanOrEqual(2000);
  });

  it(`attaches more than ${MAX_INLINE_KEYS} keys as keys.txt and keeps them out of the text`, async () => {
    const list = keys(MAX_INLINE_KEYS + 1);
    const m = await keysMessage(list, 'Your keys');
    expect(m.files).toHaveLength(1);
    expect(m.files![0]!.name).toBe('keys.txt');
    expect(String(m.files![0]!.data).trim().split('\n')).toEqual(list);
    expect(m.content).toContain('keys.txt');
    for (const k of list) expect(m.content).not.toContain(k);
  });

  it('shows a single key inline', async () => {
    expect((await keysMessage([KEY], 'One')).content).toBe(`One\n\`\`\`\n${KEY}\n\`\`\``);
  });

  it('attaches 25 keys of 160 characters as keys.txt, since their code block would be past 2,000 characters and cut', async () => {
    const list = longKeys(25);
    expect(list[0]).toHaveLength(160);
    const m = await keysMessage(list, '✅ Generated 25 keys');
    expect(m.content).toBe('✅ Generated 25 keys (attached as keys.txt)');
    expect(String(m.files![0]!.data).trim().split('\n')).toEqual(list);
    // As many as fit stay inline: 11 of them do.
    expect((await keysMessage(list.slice(0, 11), 'Some')).files).toBeUndefined();
  });

  it("gzips 100,000 keys of 160 characters (16 MB) to fit Discord's upload limit, and they unzip to every key", async () => {
    const list = longKeys(100_000);
    const m = await keysMessage(list, '✅ Generated 100000 keys');
    expect(m.tooLarge).toBeUndefined();
    const [file] = m.files!;
    expect(file!.name).toBe('keys.txt.gz');
    expect(file!.data.length).toBeLessThanOrEqual(DISCORD_UPLOAD_LIMIT);
    expect(m.content).toMatch(/^✅ Generated 100000 keys \(attached as keys\.txt\.gz: the 15\.4 MB of keys are past Discord's upload limit, so they are gzipped/);
    const unzipped = gunzipSync(file!.data as Buffer).toString('utf8');
    expect(unzipped.length).toBe(161 * 100_000);
    expect(unzipped.slice(0, 161 * 3)).toBe(`${list.slice(0, 3).join('\n')}\n`);
  });

  it('attaches nothing when even gzipped the keys are past the upload limit, and says where to get them', async () => {
    const m = await keysMessage(longKeys(1000), '✅ Generated 1000 keys', { limitBytes: 10_000, elsewhere: 'Fetch them with GET /api/jobs/7/licenses?format=txt' });
    expect(m.tooLarge).toBe(true);
    expect(m.files).toBeUndefined();
    expect(m.content).toMatch(
      /^✅ Generated 1000 keys\n❌ Too many keys to attach: keys\.txt would be 0\.2 MB \(0\.\d MB compressed\), over Discord's 0\.0 MB upload limit\. Fetch them with GET \/api\/jobs\/7\/licenses\?format=txt\.$/,
    );
  });
});

describe('customer renderings', () => {
  const list: CustomerLicense[] = [
    { id: 7, licenseKey: KEY, planName: 'Monthly', status: 'active', expiresAt: new Date('2026-04-01T12:00:00Z'), hwidBound: true },
    { id: 9, licenseKey: 'FEDCBA9876543210FEDCBA9876543210', planName: 'Lifetime', status: 'inactive', expiresAt: null, hwidBound: false },
  ];

  it('masks keys so a shoulder-surfer cannot copy them', () => {
    expect(maskKey(KEY)).toBe('0123…CDEF');
    expect(maskKey('SHORT')).toBe('SHORT');
  });

  it("lists a customer's licenses with plan, status, expiry and HWID, keys masked", () => {
    const text = customerLicensesMessage({ total: 2, items: list }, 0).embeds[0]!.description!;
    expect(text).toContain('**Monthly**');
    expect(text).toContain('Status: active');
    expect(text).toContain(`Expires: <t:${unix('2026-04-01T12:00:00Z')}:f>`);
    expect(text).toContain('HWID: bound');
    expect(text).toContain('**Lifetime**');
    expect(text).toContain('Status: inactive');
    expect(text).toContain('starts at first use');
    expect(text).toContain('HWID: not bound');
    expect(text).not.toContain(KEY);
    expect(text).toContain(maskKey(KEY));
  });

  it('says how many there are, with no pager when they fit one page', () => {
    const one = customerLicensesMessage({ total: 1, items: list.slice(0, 1) }, 0);
    expect(one.embeds[0]!.footer).toEqual({ text: '1 license' });
    expect(one.components).toEqual([]);
    const full = Array.from({ length: LICENSES_PAGE_SIZE }, (_, i) => ({ ...list[0]!, id: i + 1 }));
    expect(customerLicensesMessage({ total: LICENSES_PAGE_SIZE, items: full }, 0).components).toEqual([]);
  });

  it('pages a long list within the embed limit, whatever the plan names, seats and leases: every license on a page, counted', () => {
    type Row = { components: { custom_id: string; label: string; disabled?: boolean }[] };
    // The longest entries there can be: a 100-character plan name, seats and an offline lease.
    const longest = (i: number): CustomerLicense => ({
      ...list[0]!,
      id: i + 1,
      licenseKey: `${String(i).padStart(4, '0')}${'X'.repeat(200)}`,
      planName: `${i} ${'P'.repeat(100)}`.slice(0, 100),
      status: 'inactive',
      expiresAt: null,
      hwidBound: false,
      seats: { used: 2_147_483_647, max: 2_147_483_647 },
      leases: { until: new Date('2026-04-01T12:00:00Z'), machines: 2_147_483_647 },
    });
    const many = Array.from({ length: 95 }, (_, i) => longest(i));
    const pages = Array.from({ length: 10 }, (_, p) => customerLicensesMessage({ total: many.length, items: many.slice(p * LICENSES_PAGE_SIZE, (p + 1) * LICENSES_PAGE_SIZE) }, p));
    const shown: string[] = [];
    pages.forEach((message, p) => {
      const embed = message.embeds[0]!;
      expect(embed.description!.length).toBeLessThanOrEqual(4096);
      expect(embed.footer).toEqual({ text: `95 licenses · page ${p + 1} of 10` });
      const entries = embed.description!.split('\n\n');
      expect(entries).toHaveLength(p === 9 ? 5 : LICENSES_PAGE_SIZE);
      for (const e of entries) expect(e).toMatch(/Expires: starts at first use · HWID: not bound · Seats: 2147483647 of 2147483647 in use\nOffline lease: until .* \(2147483647 machines\)$/);
      shown.push(...entries.map((e) => /^\*\*(\d+) /.exec(e)![1]!));
      const [pager] = message.components as Row[];
      expect(pager!.components.map((b) => [b.label, b.custom_id, b.disabled])).toEqual([
        ['Previous', `lic:licenses-page:${Math.max(0, p - 1)}`, p === 0],
        ['Next', `lic:licenses-page:${Math.min(9, p + 1)}`, p === 9],
      ]);
    });
    expect(shown).toEqual(many.map((_, i) => String(i)));
    // A page asked for past the end is shown as the last one.
    expect(customerLicensesMessage({ total: 95, items: many.slice(90) }, 40)).toEqual(pages[9]);
  });

  it('offers the reset select with license ids as values, bound ones first, and no pager or count on a single page', () => {
    type Row = { components: { custom_id: string; placeholder?: string; options: { label: string; value: string; description: string }[] }[] };
    const one = resetMenu({ total: 2, items: [list[1]!, list[0]!] });
    expect(one.content).toBe('Which license should be freed from its current computer?');
    const [row, ...rest] = one.components as Row[];
    expect(rest).toEqual([]); // one page: no pager
    const menu = row!.components[0]!;
    expect(menu.custom_id).toBe('lic:reset-select');
    expect(menu.placeholder).toBe('Choose the license to reset');
    expect(menu.options.map((o) => o.value)).toEqual(['7', '9']);
    expect(menu.options[0]!.label).toBe(`Monthly · ${maskKey(KEY)}`);
    expect(JSON.stringify(one)).not.toContain(KEY);
    const full = Array.from({ length: RESET_PAGE_SIZE }, (_, i) => ({ ...list[0]!, id: i + 1 }));
    expect(resetMenu({ total: RESET_PAGE_SIZE, items: full }).components).toHaveLength(1);
  });

  it('renders a page of the reset menu from that page alone: its 25 licenses (bound ones first), a count and a pager', () => {
    type Row = { components: { custom_id: string; disabled?: boolean; placeholder?: string; options: { label: string; value: string }[] }[] };
    // 130 licenses, every third bound: each page is the next 25 by age, bound ones leading within it.
    const many = Array.from({ length: 130 }, (_, i) => ({ ...list[0]!, id: i + 1, planName: 'P'.repeat(150), hwidBound: i % 3 === 0 }));
    const pageOf = (p: number) => resetMenu({ total: many.length, items: many.slice(p * RESET_PAGE_SIZE, (p + 1) * RESET_PAGE_SIZE) }, p);
    const seen: string[] = [];
    for (let p = 0; p < 6; p++) {
      const page = pageOf(p);
      const [select, pager] = page.components as Row[];
      const options = select!.components[0]!.options;
      const items = many.slice(p * RESET_PAGE_SIZE, (p + 1) * RESET_PAGE_SIZE);
      expect(options.map((o) => o.value)).toEqual([...items.filter((l) => l.hwidBound), ...items.filter((l) => !l.hwidBound)].map((l) => String(l.id)));
      expect(options.every((o) => o.label.length <= 100)).toBe(true);
      expect(select!.components[0]!.placeholder).toBe(`Choose the license to reset (page ${p + 1} of 6)`);
      expect(page.content).toBe(`Which license should be freed from its current computer?\n130 licenses · page ${p + 1} of 6`);
      expect(pager!.components.map((b) => [b.custom_id, b.disabled])).toEqual([
        [`lic:reset-page:${Math.max(0, p - 1)}`, p === 0],
        [`lic:reset-page:${Math.min(5, p + 1)}`, p === 5],
      ]);
      seen.push(...options.map((o) => o.value));
    }
    // Every license on exactly one page; the last page is the last five.
    expect([...seen].sort((a, b) => Number(a) - Number(b))).toEqual(many.map((l) => String(l.id)));
    expect((pageOf(5).components[0] as Row).components[0]!.options).toHaveLength(5);
    // A page asked for past the end (the read gives the last page's licenses) is shown as the last one.
    expect(resetMenu({ total: many.length, items: many.slice(125) }, 40)).toEqual(pageOf(5));
  });

  it('builds the panel with the three persistent buttons and no keys', () => {
    const p = panelMessage('Acme');
    expect(p.embeds[0]!.title).toBe('Acme — licenses');
    expect((p.components[0]!.components as { custom_id: string; label: string }[]).map((b) => [b.custom_id, b.label])).toEqual([
      ['lic:redeem', 'Redeem key'],
      ['lic:licenses', 'My licenses'],
      ['lic:reset', 'Reset HWID'],
    ]);
  });

  it('asks for the license key in the redeem modal', () => {
    const m = redeemModal();
    expect(m.custom_id).toBe('lic:redeem-modal');
    expect(inputsOf(m).map((i) => i.custom_id)).toEqual(['license_key']);
  });

  it('names the next reset time in full and relative form', () => {
    const at = new Date('2026-03-02T10:00:00Z');
    expect(discordTime(at)).toBe(`<t:${unix('2026-03-02T10:00:00Z')}:F> (<t:${unix('2026-03-02T10:00:00Z')}:R>)`);
  });

  it('words expiry notices with the masked key', () => {
    const license = { license_key: KEY, expires_at: '2026-04-01T12:00:00.000Z' };
    const soon = expiryNoticeText('license.expiring_soon', 'Acme', license);
    expect(soon).toBe(`Your **Acme** license \`${maskKey(KEY)}\` expires <t:${unix('2026-04-01T12:00:00Z')}:R>.`);
    expect(expiryNoticeText('license.expired', 'Acme', license)).toBe(`Your **Acme** license \`${maskKey(KEY)}\` has expired.`);
    expect(expiryNoticeText('license.expiring_soon', 'Acme', { license_key: KEY, expires_at: null })).toContain('expires soon');
  });
});

describe('seller renderings', () => {
  const view: LicenseView = {
    id: 1,
    application_id: 1,
    license_key: KEY,
    status: 'active',
    plan: { id: 3, name: 'Monthly', duration_days: 30 },
    activation_date: '2026-03-01T00:00:00.000Z',
    expires_at: '2026-03-31T00:00:00.000Z',
    hwid: 'PC-1',
    hwids: ['PC-1', 'PC-2'],
    ip_address: null,
    last_used: null,
    notes: null,
    discord_user_id: '100000000000000009',
    ban_reason: null,
    created_at: '2026-03-01T00:00:00.000Z',
    updated_at: '2026-03-01T00:00:00.000Z',
  };
  const field = (e: { fields?: { name: string; value: string }[] }, name: string) => e.fields!.find((f) => f.name === name)?.value;

  it('shows a license in full to the seller', () => {
    const e = licenseInfoEmbed(view);
    expect(e.title).toBe(`License ${KEY}`);
    expect(field(e, 'Plan')).toBe('Monthly (30 days)');
    expect(field(e, 'Status')).toBe('active');
    expect(field(e, 'Owner')).toBe('<@100000000000000009>');
    expect(field(e, 'Expires')).toBe(`<t:${unix('2026-03-31T00:00:00Z')}:f>`);
    expect(field(e, 'HWIDs')).toBe('`PC-1`\n`PC-2`');
    expect(field(e, 'Last used')).toBe('never');
    expect(field(e, 'Notes')).toBe('—');
  });

  it('says how an unused, unclaimed license will expire', () => {
    const e = licenseInfoEmbed({ ...view, status: 'inactive', activation_date: null, expires_at: null, hwid: null, hwids: [], discord_user_id: null });
    expect(field(e, 'Owner')).toBe('unclaimed');
    expect(field(e, 'Expires')).toBe('at first use + duration');
    expect(field(e, 'HWIDs')).toBe('none');
    const lifetime = licenseInfoEmbed({ ...view, expires_at: null, plan: { id: 3, name: 'Forever', duration_days: 0 } });
    expect(field(lifetime, 'Plan')).toBe('Forever (lifetime)');
    expect(field(lifetime, 'Expires')).toBe('never');
  });

  it('shows the HWIDs that fit the field (1,024 characters) in whole lines, and counts the rest', () => {
    const hwids = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'F'.repeat(62)}`);
    const e = licenseInfoEmbed({ ...view, hwids });
    const lines = field(e, 'HWIDs')!.split('\n');
    expect(field(e, 'HWIDs')!.length).toBeLessThanOrEqual(1024);
    const more = /^…and (\d+) more$/.exec(lines.pop()!);
    expect(lines.length + Number(more![1])).toBe(20);
    expect(lines).toEqual(hwids.slice(0, lines.length).map((h) => `\`${h}\``));
  });

  it('lists 25 plans with 100-character names and roles within the embed description, whole lines first, then a count', () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ id: 2_000_000_000 + i, name: `${i}`.padEnd(100, 'n'), duration_days: 36_500, max_hwids: 100, discord_role_id: '900000000000000020' }));
    const description = plansEmbed('Acme', { total: 30, items }).description!;
    expect(description.length).toBeLessThanOrEqual(4096);
    const lines = description.split('\n');
    const more = /^…and (\d+) more \(GET \/api\/applications\/:id\/plans lists them all\)\.$/.exec(lines.pop()!);
    expect(lines.length + Number(more![1])).toBe(30);
    lines.forEach((l, i) => expect(l).toBe(`**${items[i]!.name}** (#${items[i]!.id}) · 36500 days · 100 HWIDs · grants <@&900000000000000020>`));
  });

  it('lists plans with duration, HWID limit and role', () => {
    const items = [
      { id: 1, name: 'Monthly', duration_days: 30, max_hwids: 2, discord_role_id: '900000000000000020' },
      { id: 2, name: 'Forever', duration_days: 0, max_hwids: null, discord_role_id: null },
    ];
    const e = plansEmbed('Acme', { total: 2, items });
    expect(e.description).toBe('**Monthly** (#1) · 30 days · 2 HWIDs · grants <@&900000000000000020>\n**Forever** (#2) · lifetime');
    expect(plansEmbed('Acme', { total: 0, items: [] }).description).toContain('No plans yet');
    // More plans than one embed shows: the rest are counted, not dropped silently.
    expect(plansEmbed('Acme', { total: 40, items }).description).toContain('…and 38 more');
  });

  it('summarises statistics, with no success rate before any validation', () => {
    const licenses = { total: 10, active: 4, inactive: 3, expired: 2, banned: 1 };
    const e = statsEmbed('Acme', { licenses, validations: { last_24h: 5, last_7d: 20, success_rate: 0.875 } });
    expect(field(e, 'Licenses')).toBe('10 total\n4 active · 3 unused\n2 expired · 1 banned');
    expect(field(e, 'Validations')).toContain('Success rate: 87.5%');
    expect(field(statsEmbed('Acme', { licenses, validations: { last_24h: 0, last_7d: 0, success_rate: null } }), 'Validations')).toContain('Success rate: —');
  });

  it('asks for the Application ID and API key in the setup modal, carrying role and channel in its id', () => {
    const id = { kind: 'setup-modal', sellerRoleId: '900000000000000010', logChannelId: null, tag: 'AAAAAAAAAAAAAAAAAAAAAA' } as const;
    const m = setupModal(id);
    expect(decodeCustomId(m.custom_id)).toEqual(id);
    expect(inputsOf(m).map((i) => i.custom_id)).toEqual(['app_id', 'api_key']);
  });
});

describe('message content within Discord limit', () => {
  it('leaves a short text alone, cuts a long one at its last whole line, and a single long line at the limit', () => {
    expect(fitContent('short')).toBe('short');
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i} ${'x'.repeat(60)}`).join('\n');
    const cut = fitContent(lines);
    expect(cut.length).toBeLessThanOrEqual(MESSAGE_CONTENT_MAX);
    expect(cut.endsWith('(cut to fit a Discord message: narrow the list or ask for another page)')).toBe(true);
    expect(lines.startsWith(cut.slice(0, cut.lastIndexOf('\n…')))).toBe(true);
    expect(
      cut
        .slice(0, cut.lastIndexOf('\n…'))
        .split('\n')
        .every((l) => /^line \d+ x{60}$/.test(l)),
    ).toBe(true);
    expect(fitContent('y'.repeat(5000)).length).toBeLessThanOrEqual(MESSAGE_CONTENT_MAX);
  });
});
