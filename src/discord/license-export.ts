import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { LicenseExport } from '../core/licenses/export-licenses.js';
import type { InteractionContext } from './interaction.js';
import { DISCORD_UPLOAD_LIMIT, fitUpload, mb, overUploadLimit } from './upload-limit.js';

/** Exports this large show "Exported N of M…" while they run (smaller ones take a moment). */
const PROGRESS_FROM = 5_000;

/**
 * Exports this process builds at once, and one per application: each reads its licenses in
 * batches and spools up to ~15 MB to a temporary file, so a burst of /export (or one seller
 * repeating it) waits its turn instead of filling the disk and the database's connections.
 */
const MAX_EXPORTS_AT_ONCE = 3;
const exporting = new Set<number>();

/** Takes an export slot for the application; null (with the reason) when none is free. */
export function takeExportSlot(applicationId: number): { release(): void } | { busy: string } {
  if (exporting.has(applicationId)) return { busy: 'An export of this application is already running: wait for it to finish, then try again.' };
  if (exporting.size >= MAX_EXPORTS_AT_ONCE) return { busy: 'Several exports are running right now: try again in a minute.' };
  exporting.add(applicationId);
  return { release: () => exporting.delete(applicationId) };
}

/** Writes `text`, waiting when the file stream's buffer is full (so memory stays bounded). */
async function write(out: WriteStream, text: string): Promise<void> {
  if (out.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', done).off('error', done);
      if (err) reject(err);
      else resolve();
    };
    out.on('drain', done).on('error', done);
  });
}

/**
 * /export's follow-up: the CSV is spooled to a temporary file a batch at a time (memory stays
 * flat whatever the count), then streamed from it into the upload with its exact length. Plain
 * `.csv` when it fits Discord's limit, else gzipped to `.csv.gz` (license keys and timestamps
 * compress to about a third: ~100,000 licenses fit), else — notes can make rows long — the
 * seller is told to narrow the export. The temporary files are removed whatever happens.
 */
export async function deliverLicenseExport(ctx: InteractionContext, exp: LicenseExport, opts: { baseName: string; limitBytes?: number }): Promise<void> {
  const { api } = ctx.bot;
  const token = ctx.interaction.token;
  const limit = opts.limitBytes ?? DISCORD_UPLOAD_LIMIT;
  const dir = await mkdtemp(join(tmpdir(), 'keycord-export-'));
  try {
    const csvPath = join(dir, `${opts.baseName}.csv`);
    const out = createWriteStream(csvPath);
    const closed = new Promise<void>((resolve, reject) => out.once('close', resolve).once('error', reject));
    let exported = 0;
    let shownAt = Date.now();
    try {
      for await (const chunk of exp.chunks()) {
        await write(out, chunk.text);
        exported += chunk.rows;
        if (exp.total >= PROGRESS_FROM && exported < exp.total && Date.now() - shownAt >= ctx.bot.progressEveryMs) {
          shownAt = Date.now();
          await api.editOriginal(token, { content: `⏳ Exported ${exported.toLocaleString('en-US')} of ${exp.total.toLocaleString('en-US')} licenses…` });
        }
      }
    } finally {
      out.end();
      await closed;
    }
    const rows = `${exported.toLocaleString('en-US')} license${exported === 1 ? '' : 's'}`;
    const csvSize = (await stat(csvPath)).size;
    const gzPath = `${csvPath}.gz`;
    const fit = await fitUpload(
      csvSize,
      async () => {
        await pipeline(createReadStream(csvPath), createGzip({ level: 6 }), createWriteStream(gzPath));
        return (await stat(gzPath)).size;
      },
      limit,
    );
    if (fit.as === 'plain') {
      await api.editOriginalWithStream(
        token,
        { content: `✅ Exported ${rows} (${mb(csvSize)}).`, allowed_mentions: { parse: [] } },
        { name: `${opts.baseName}.csv`, contentType: 'text/csv; charset=utf-8', size: csvSize, open: () => createReadStream(csvPath) },
      );
      return;
    }
    if (fit.as === 'too-large') {
      await api.editOriginal(token, { content: `❌ The export of ${rows} is ${overUploadLimit(fit, limit)}. Narrow it with the status, plan or search options.` });
      return;
    }
    await api.editOriginalWithStream(
      token,
      {
        content: `✅ Exported ${rows}. The CSV is ${mb(csvSize)}, over Discord's ${mb(limit)} upload limit, so it is gzipped (${mb(fit.gzSize)}): open it with any archive tool, or \`gunzip\`.`,
        allowed_mentions: { parse: [] },
      },
      { name: `${opts.baseName}.csv.gz`, contentType: 'application/gzip', size: fit.gzSize, open: () => createReadStream(gzPath) },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
