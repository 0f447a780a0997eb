import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_COLORS, CHART_HEIGHT, CHART_WIDTH, compactNumber, niceTicks, renderStatsChart, statsChartSvg, type ChartDay } from '../src/discord/stats-chart.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { ephemeralText, MANAGE_GUILD, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { countColor, decodePng, distinctColors } from './support/png.js';

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const buyer: Member = { id: '100000000000000009', name: 'Buyer' };

const DAY = 86_400_000;
const days = (n: number, f: (i: number) => Omit<ChartDay, 'date'>): ChartDay[] =>
  Array.from({ length: n }, (_, i) => ({ date: new Date(Date.UTC(2026, 10, 4) + i * DAY).toISOString().slice(0, 10), ...f(i) }));
const busy = days(30, (i) => ({ validations: 1000 + ((i * 37) % 400), activations: 5 + (i % 6), generated: i % 4 === 0 ? 12 : 0 }));

describe('the /stats chart', () => {
  it('is a 960 × 540 PNG with the three series drawn in their colours', async () => {
    const png = decodePng(await renderStatsChart(busy));
    expect([png.width, png.height]).toEqual([CHART_WIDTH, CHART_HEIGHT]);
    expect(distinctColors(png)).toBeGreaterThan(20);
    expect(countColor(png, CHART_COLORS.background)).toBeGreaterThan((CHART_WIDTH * CHART_HEIGHT) / 3);
    for (const series of ['validations', 'activations', 'generated'] as const) expect(countColor(png, CHART_COLORS[series]), series).toBeGreaterThan(200);
  });

  it('draws numbers and dates without any font, leaving only the words out', async () => {
    const withFonts = decodePng(await renderStatsChart(busy));
    const bare = decodePng(await renderStatsChart(busy, { systemFonts: false }));
    expect([bare.width, bare.height]).toEqual([CHART_WIDTH, CHART_HEIGHT]);
    // Axis values and day labels are strokes in the axis colour; the title is white text.
    expect(countColor(bare, CHART_COLORS.axis)).toBeGreaterThan(300);
    expect(countColor(bare, '#ffffff')).toBe(0);
    expect(countColor(withFonts, '#ffffff')).toBeGreaterThan(50);
  });

  it('renders an application with no activity at all (flat series, a 0–4 scale)', async () => {
    const png = decodePng(await renderStatsChart(days(30, () => ({ validations: 0, activations: 0, generated: 0 }))));
    expect(png.width).toBe(CHART_WIDTH);
    expect(distinctColors(png)).toBeGreaterThan(5);
    expect(niceTicks(0)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps the SVG free of anything but figures, with nice axis steps', () => {
    const svg = statsChartSvg(busy);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).not.toMatch(/<script|href=/);
    expect(niceTicks(1420)).toEqual([0, 500, 1000, 1500]);
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect([950, 1500, 12_000, 3_200_000].map(compactNumber)).toEqual(['950', '1.5k', '12k', '3.2M']);
  });
});

describe('/stats in Discord', () => {
  let linked: LinkedDiscord;
  let h: Harness;
  let stub: DiscordStub;
  let keys: KeyPair;

  beforeAll(async () => {
    linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
    ({ h, stub, keys } = linked);
    const made = await linked.seller.generate(linked.plan.id, 3);
    // Two first activations today (the third key stays unused); a second validation is no new activation.
    for (const lic of made.slice(0, 2)) {
      for (let i = 0; i < 2; i++) expect((await client(h, '/api/licenses/validate', { app_id: linked.app.app_id, license_key: lic.license_key, hwid: 'PC-1' })).json().code).toBe('VALID');
    }
  });
  afterAll(() => linked?.close());

  it('answers with the figures at once, then attaches stats.png to the same ephemeral reply', async () => {
    stub.clear();
    const payload = slash(admin, 'stats');
    const res = await postInteraction(h.app, keys, payload);
    const answer = res.json();
    expect(answer.type).toBe(4);
    expect(answer.data.flags).toBe(64);
    expect(answer.data.embeds[0].fields[0].value).toContain('3 total');
    await h.bot!.idle();
    const [edit, ...more] = stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${payload.token}/messages/@original$`));
    expect(more).toHaveLength(0);
    expect(edit!.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(edit!.headers.authorization).toBeUndefined();
    expect(edit!.json.attachments).toEqual([{ id: 0, filename: 'stats.png' }]);
    expect(edit!.json.embeds[0].image).toEqual({ url: 'attachment://stats.png' });
    expect(edit!.json.embeds[0].fields).toEqual(answer.data.embeds[0].fields);
    expect(edit!.json.embeds[0].footer.text).toMatch(/validations.*activations.*new licenses/);
    const png = decodePng(edit!.fileBytes['stats.png']!);
    expect([png.width, png.height]).toEqual([CHART_WIDTH, CHART_HEIGHT]);
    expect(distinctColors(png)).toBeGreaterThan(10);
    expect(countColor(png, CHART_COLORS.activations)).toBeGreaterThan(50);
    expect(countColor(png, CHART_COLORS.generated)).toBeGreaterThan(50);
  });

  it('counts activations per day from first activations, and new licenses from the generated counter', async () => {
    const { readGuildStatistics } = await import('../src/core/discord/read-guild-statistics.js');
    const read = await readGuildStatistics(h.deps.db, '900000000000000001', h.deps.clock.now());
    const today = read!.statistics.daily.at(-1)!;
    expect(read!.statistics.daily).toHaveLength(30);
    expect(today).toMatchObject({ date: h.deps.clock.now().toISOString().slice(0, 10), activations: 2, generated: 3 });
    expect(read!.statistics.daily.slice(0, -1).every((d) => d.activations === 0 && d.generated === 0)).toBe(true);
  });

  it('is refused to a member who is not a seller, with no upload', async () => {
    stub.clear();
    expect(await ephemeralText(h.app, keys, slash(buyer, 'stats'))).toBe('❌ Only sellers can use this command (Manage Server or the seller role).');
    await h.bot!.idle();
    expect(stub.calls).toHaveLength(0);
  });
});

describe('/stats with a public URL: the chart as a signed link', () => {
  let linked: LinkedDiscord;
  let h: Harness;
  let stub: DiscordStub;
  let keys: KeyPair;
  const origin = 'https://keycord.example.com';

  beforeAll(async () => {
    linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord, env: { PUBLIC_URL: `${origin}/` } }), admin });
    ({ h, stub, keys } = linked);
    await linked.seller.generate(linked.plan.id, 2);
  });
  afterAll(() => linked?.close());

  it('answers once, with the chart as an embed image Discord fetches; nothing is uploaded', async () => {
    stub.clear();
    const answer = (await postInteraction(h.app, keys, slash(admin, 'stats'))).json();
    expect(answer.data.flags).toBe(64);
    const url = String(answer.data.embeds[0].image.url);
    expect(url.startsWith(`${origin}/discord/charts/stats.png?c=`)).toBe(true);
    expect(url.length).toBeLessThan(2048);
    expect(answer.data.embeds[0].footer.text).toMatch(/validations.*activations.*new licenses/);
    await h.bot!.idle();
    expect(stub.calls).toHaveLength(0);

    const image = await h.app.inject({ method: 'GET', url: url.slice(origin.length) });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
    expect(image.headers['cache-control']).toContain('immutable');
    const png = decodePng(image.rawPayload);
    expect([png.width, png.height]).toEqual([CHART_WIDTH, CHART_HEIGHT]);
    expect(countColor(png, CHART_COLORS.generated)).toBeGreaterThan(50);
  });

  it('draws only charts Keycord signed: a changed figure, another secret, a bad or over-long name are 404s', async () => {
    const { chartToken, daysFromToken } = await import('../src/discord/chart-links.js');
    const { SecretBox } = await import('../src/core/crypto.js');
    const token = chartToken(h.deps.box, busy);
    expect(daysFromToken(h.deps.box, token)).toEqual(busy);
    const forged = token.replace('~', '~1');
    const otherSecret = chartToken(new SecretBox('another-secret-of-at-least-32-characters!!'), busy);
    for (const c of [forged, otherSecret, `${token}x`, 'x', '', 'a'.repeat(1400)]) {
      const res = await h.app.inject({ method: 'GET', url: `/discord/charts/stats.png?c=${encodeURIComponent(c)}` });
      expect(res.statusCode, c.slice(0, 40)).toBe(404);
      expect(res.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    }
    for (const url of [`/discord/charts/stats.png?c=${'a'.repeat(2000)}`, '/discord/charts/stats.png']) expect((await h.app.inject({ method: 'GET', url })).statusCode).toBe(400);
  });

  it('reuses a link only for the same figures, secret and public URL', async () => {
    const { chartUrl, daysFromToken } = await import('../src/discord/chart-links.js');
    const { SecretBox } = await import('../src/core/crypto.js');
    const tokenOf = (url: string | null) => new URL(url!).searchParams.get('c')!;
    const first = chartUrl('https://keycord.example', h.deps.box, busy);
    expect(chartUrl('https://keycord.example', h.deps.box, busy)).toBe(first);
    // The same figures under another instance's secret or address: a link of its own, never the first one.
    const other = new SecretBox('another-secret-of-at-least-32-characters!!');
    const underOther = chartUrl('https://keycord.example', other, busy);
    expect(daysFromToken(other, tokenOf(underOther))).toEqual(busy);
    expect(daysFromToken(h.deps.box, tokenOf(underOther))).toBeNull();
    expect(chartUrl('https://other.example', h.deps.box, busy)).toMatch(/^https:\/\/other\.example\/discord\/charts\/stats\.png\?c=/);
    expect(chartUrl(undefined, h.deps.box, busy)).toBeNull();
    // Back to the first pair: still its own link.
    expect(daysFromToken(h.deps.box, tokenOf(chartUrl('https://keycord.example', h.deps.box, busy)))).toEqual(busy);
  });
});
