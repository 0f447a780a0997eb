import { renderAsync } from '@resvg/resvg-js';

/** One UTC day of the /stats chart. */
export interface ChartDay {
  /** YYYY-MM-DD */
  date: string;
  validations: number;
  activations: number;
  /** New licenses (keys generated that day). */
  generated: number;
}

/** The series' colours: Discord's blurple, green and yellow, readable on its dark theme. */
export const CHART_COLORS = { background: '#2b2d31', grid: '#3f4147', axis: '#b5bac1', validations: '#5865f2', activations: '#57f287', generated: '#fee75c' } as const;

export const CHART_WIDTH = 960;
export const CHART_HEIGHT = 540;

const LEFT = 72;
const RIGHT = CHART_WIDTH - 24;
const TOP_PANEL = { top: 64, bottom: 280 };
const BOTTOM_PANEL = { top: 336, bottom: 488 };
const WORDS_FONT = 'DejaVu Sans, Liberation Sans, Noto Sans, Arial, Helvetica, sans-serif';

/**
 * Numbers and dates are drawn as strokes (seven-segment digits on a 4 × 6 grid, plus "-", ".",
 * "k" and "M"), so they show on a machine with no font at all — a slim container image has
 * none. Words (title, legend) are text in the first system font found; without one they are
 * left out, and the message names the series and their colours anyway.
 */
const SEGMENTS: Record<string, string> = {
  a: 'M0 0H4',
  b: 'M4 0V3',
  c: 'M4 3V6',
  d: 'M0 6H4',
  e: 'M0 3V6',
  f: 'M0 0V3',
  g: 'M0 3H4',
};
const DIGITS = ['abcdef', 'bc', 'abged', 'abgcd', 'fgbc', 'afgcd', 'afgedc', 'abc', 'abcdefg', 'abcdfg'];
const GLYPHS: Record<string, string> = {
  ...Object.fromEntries(DIGITS.map((segs, d) => [String(d), [...segs].map((s) => SEGMENTS[s]).join('')])),
  // A one centred in its cell, with a flag: the right-hand segments alone read as a gap.
  '1': 'M1 1L2 0V6',
  '-': 'M0.8 3H3.2',
  '.': 'M1.8 5.6L2 6',
  k: 'M0 0V6M0 4.2L3.2 2M1.3 3.3L3.4 6',
  M: 'M0 6V0L2 3.2L4 0V6',
};
const ADVANCE = 6;

/** `text` (digits, - . k M) as one stroked path, `size` px tall, anchored at its right or left end. */
function strokeText(text: string, x: number, baseline: number, size: number, color: string, anchor: 'start' | 'end' | 'middle'): string {
  const scale = size / 6;
  const width = (text.length * ADVANCE - 2) * scale;
  const start = anchor === 'start' ? x : anchor === 'end' ? x - width : x - width / 2;
  const paths = [...text]
    .map((ch, i) => {
      const glyph = GLYPHS[ch];
      return glyph ? `<path transform="translate(${r(start + i * ADVANCE * scale)} ${r(baseline - size)}) scale(${r(scale)})" d="${glyph}"/>` : '';
    })
    .join('');
  return `<g fill="none" stroke="${color}" stroke-width="${r(1.4 / scale)}" stroke-linecap="round" stroke-linejoin="round">${paths}</g>`;
}

const r = (n: number) => Math.round(n * 100) / 100;

/** 0, then a step of 1, 2 or 5 × 10ⁿ: at most four steps up to `max`; 0 to 4 for small counts. */
export function niceTicks(max: number): number[] {
  if (max <= 4) return [0, 1, 2, 3, 4];
  const rough = Math.max(1, max) / 4;
  const base = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * base).find((s) => s >= rough)!);
  const top = Math.max(step, Math.ceil(max / step) * step);
  return Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
}

/** 950, 1.5k, 12k, 3.2M: short enough for the axis, in the stroke glyphs. */
export function compactNumber(n: number): string {
  const short = (v: number, unit: string) => `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10}${unit}`;
  if (n >= 1_000_000) return short(n / 1_000_000, 'M');
  if (n >= 1_000) return short(n / 1_000, 'k');
  return String(Math.round(n));
}

function words(text: string, x: number, y: number, size: number, color: string, anchor = 'start'): string {
  return `<text x="${x}" y="${y}" font-family="${WORDS_FONT}" font-size="${size}" fill="${color}" text-anchor="${anchor}">${text}</text>`;
}

function legend(items: { label: string; color: string; bar?: boolean }[], y: number): string {
  let x = RIGHT;
  const out: string[] = [];
  // Right to left, each item a swatch and its label; a label's width is estimated (no font metrics).
  for (const item of [...items].reverse()) {
    const labelWidth = item.label.length * 7.6;
    x -= labelWidth;
    out.push(words(item.label, x, y + 5, 14, CHART_COLORS.axis));
    x -= 22;
    out.push(item.bar ? `<rect x="${x}" y="${y - 6}" width="14" height="12" fill="${item.color}"/>` : `<line x1="${x}" y1="${y}" x2="${x + 14}" y2="${y}" stroke="${item.color}" stroke-width="3"/>`);
    x -= 20;
  }
  return out.join('');
}

/** The y axis of a panel: grid lines and their values; returns the value → y mapping. */
function panelAxis(panel: { top: number; bottom: number }, max: number, out: string[]): (v: number) => number {
  const ticks = niceTicks(max);
  const top = ticks.at(-1)!;
  const y = (v: number) => panel.bottom - (v / top) * (panel.bottom - panel.top);
  for (const t of ticks) {
    out.push(`<line x1="${LEFT}" y1="${r(y(t))}" x2="${RIGHT}" y2="${r(y(t))}" stroke="${CHART_COLORS.grid}" stroke-width="1"/>`);
    out.push(strokeText(compactNumber(t), LEFT - 10, y(t) + 5, 10, CHART_COLORS.axis, 'end'));
  }
  return y;
}

/**
 * The /stats chart as SVG: over the given days (30, oldest first), validations per day on top
 * (a line over a shaded area); activations (a line with dots) and new licenses (bars) below,
 * each panel on its own scale, with day labels (MM-DD) every five days and on the last.
 * A pure function of the figures: no user text goes into it.
 */
export function statsChartSvg(days: readonly ChartDay[]): string {
  const n = Math.max(1, days.length);
  const slot = (RIGHT - LEFT) / n;
  const x = (i: number) => LEFT + (i + 0.5) * slot;
  const out: string[] = [`<rect width="${CHART_WIDTH}" height="${CHART_HEIGHT}" fill="${CHART_COLORS.background}"/>`];
  out.push(words(`Last ${days.length} days (UTC)`, LEFT, 32, 18, '#ffffff'));

  // Validations.
  const yTop = panelAxis(TOP_PANEL, Math.max(0, ...days.map((d) => d.validations)), out);
  out.push(legend([{ label: 'Validations', color: CHART_COLORS.validations }], TOP_PANEL.top - 22));
  if (days.length) {
    const line = days.map((d, i) => `${i ? 'L' : 'M'}${r(x(i))} ${r(yTop(d.validations))}`).join('');
    out.push(`<path d="${line}L${r(x(days.length - 1))} ${TOP_PANEL.bottom}L${r(x(0))} ${TOP_PANEL.bottom}Z" fill="${CHART_COLORS.validations}" fill-opacity="0.25"/>`);
    out.push(`<path d="${line}" fill="none" stroke="${CHART_COLORS.validations}" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>`);
  }

  // Activations and new licenses.
  const yBottom = panelAxis(BOTTOM_PANEL, Math.max(0, ...days.map((d) => Math.max(d.activations, d.generated))), out);
  out.push(
    legend(
      [
        { label: 'Activations', color: CHART_COLORS.activations },
        { label: 'New licenses', color: CHART_COLORS.generated, bar: true },
      ],
      BOTTOM_PANEL.top - 22,
    ),
  );
  days.forEach((d, i) => {
    if (d.generated > 0) {
      const top = yBottom(d.generated);
      out.push(`<rect x="${r(x(i) - slot * 0.3)}" y="${r(top)}" width="${r(slot * 0.6)}" height="${r(Math.max(1, BOTTOM_PANEL.bottom - top))}" fill="${CHART_COLORS.generated}"/>`);
    }
  });
  if (days.length) {
    out.push(
      `<path d="${days.map((d, i) => `${i ? 'L' : 'M'}${r(x(i))} ${r(yBottom(d.activations))}`).join('')}" fill="none" stroke="${CHART_COLORS.activations}" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>`,
    );
    days.forEach((d, i) => out.push(`<circle cx="${r(x(i))}" cy="${r(yBottom(d.activations))}" r="3.5" fill="${CHART_COLORS.activations}"/>`));
  }

  // Day labels under the lower panel, with a tick on both panels' baselines.
  days.forEach((d, i) => {
    if (i % 5 !== 0 && i !== days.length - 1) return;
    for (const base of [TOP_PANEL.bottom, BOTTOM_PANEL.bottom]) out.push(`<line x1="${r(x(i))}" y1="${base}" x2="${r(x(i))}" y2="${base + 5}" stroke="${CHART_COLORS.axis}" stroke-width="1"/>`);
    out.push(strokeText(d.date.slice(5), x(i), BOTTOM_PANEL.bottom + 24, 10, CHART_COLORS.axis, 'middle'));
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}">${out.join('')}</svg>`;
}

/**
 * The chart as a PNG, rendered by resvg off the event loop (a libuv worker). System fonts are
 * looked up for the words only; with none (or `systemFonts: false`), the words are left out and
 * everything else is drawn (see SEGMENTS above).
 */
export async function renderStatsChart(days: readonly ChartDay[], opts: { systemFonts?: boolean } = {}): Promise<Buffer> {
  const font = opts.systemFonts === false ? { loadSystemFonts: false } : { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };
  const image = await renderAsync(statsChartSvg(days), { font, logLevel: 'off', background: CHART_COLORS.background });
  return image.asPng();
}

/**
 * Charts already drawn, by their figures' content: /stats requests arriving together (each may
 * have read its own copy of the same figures) and every request while the figures do not move
 * share one rendering. Bounded: the oldest chart goes first.
 */
const RENDERED_MAX = 32;
const rendered = new Map<string, Promise<Buffer>>();

export function statsChartPng(days: readonly ChartDay[]): Promise<Buffer> {
  const key = JSON.stringify(days);
  let png = rendered.get(key);
  if (!png) {
    png = renderStatsChart(days);
    rendered.set(key, png);
    if (rendered.size > RENDERED_MAX) rendered.delete(rendered.keys().next().value!);
    png.catch(() => rendered.delete(key));
  }
  return png;
}
