import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lockKeyInTransaction, LOCK_NAMESPACES } from '../../db/advisory-lock.js';
import type { Executor } from '../../db/client.js';
import type { Logger } from '../../log.js';
import { AppError, badRequest } from '../errors.js';

/**
 * The bytes of uploaded files, on disk under `dir`: content-addressed as `dir/<sha256>`, so
 * identical content is stored once however many rows (in however many applications) name it.
 * Uploads land in `dir/tmp` first and are renamed into place, which is atomic on one filesystem.
 */
const SHA256_HEX = /^[0-9a-f]{64}$/;

const tempDir = (dir: string) => join(dir, 'tmp');

function blobPath(dir: string, sha256: string): string {
  // The hash always comes from our own hashing, but it names a path: never let it be anything else.
  if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  return join(dir, sha256);
}

/**
 * A temp file untouched this long belongs to no upload under way: every write refreshes its time,
 * and an upload is cut off after HTTP_UPLOAD_TIMEOUT_MS, at most a day. Older ones were left by a
 * process that stopped mid-upload, and nothing else would ever remove them.
 */
const ABANDONED_TEMP_MS = 25 * 3_600_000;
/** The temp directories swept by this process: once each, as what is abandoned comes from earlier processes. */
const sweptTempDirs = new Set<string>();

/**
 * Removes the abandoned temp files of `dir`, once per process. Housekeeping, never a reason to
 * refuse an upload: a failure (permissions, a busy file) is logged and tried again on the next.
 */
export async function sweepAbandonedTemps(dir: string, log: Pick<Logger, 'warn'>): Promise<void> {
  if (sweptTempDirs.has(dir)) return;
  sweptTempDirs.add(dir);
  const cutoff = Date.now() - ABANDONED_TEMP_MS;
  try {
    const names = await readdir(tempDir(dir)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const name of names) {
      const path = join(tempDir(dir), name);
      // Gone meanwhile (another process's upload finished, or its sweep): nothing to do.
      const info = await stat(path).catch(() => null);
      if (info?.isFile() && info.mtimeMs < cutoff) await rm(path, { force: true });
    }
  } catch (err) {
    sweptTempDirs.delete(dir);
    log.warn({ dir: tempDir(dir), err: (err as Error).message }, 'could not remove abandoned upload temp files; tried again on the next upload');
  }
}

export const payloadTooLarge = (maxBytes: number) => new AppError('PAYLOAD_TOO_LARGE', `The file is larger than the limit of ${maxBytes} bytes`, 413);

export interface Received {
  tempPath: string;
  sha256: string;
  size: number;
}

/**
 * Streams `source` to a temp file, hashing and counting on the way; memory use stays a few
 * chunks whatever the size. Past `maxBytes` nothing more is written, but the source is still
 * read to its end so the rest of the request is consumed and the connection stays usable; then
 * the temp file is removed and the upload refused with 413. (The multipart parser truncates a
 * part one byte past the limit, so that draining costs nothing.)
 */
export async function receiveToTemp(dir: string, source: Readable, maxBytes: number): Promise<Received> {
  await mkdir(tempDir(dir), { recursive: true });
  const tempPath = join(tempDir(dir), `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  let size = 0;
  let tooLarge = false;
  const sink = createWriteStream(tempPath, { flags: 'wx', mode: 0o600 });
  const failedFirst = firstToFail(source, sink);
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (tooLarge) return done();
      size += chunk.length;
      if (size > maxBytes) {
        tooLarge = true;
        return done();
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, sink);
  } catch (err) {
    // A pipeline can give up while the temp file is still being opened; removed before that
    // open completes, the file would come back afterwards and stay.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    await rm(tempPath, { force: true });
    // A body that ends mid-part or is not valid multipart is the client's doing; a disk error is ours.
    if (failedFirst() === 'source') throw badRequest('The upload ended early or is not valid multipart data');
    throw err;
  }
  if (tooLarge) {
    await rm(tempPath, { force: true });
    throw payloadTooLarge(maxBytes);
  }
  return { tempPath, sha256: hash.digest('hex'), size };
}

/**
 * Which side of a copy failed first. A pipeline hands the first error to every stream in it, so
 * the error alone cannot say whether the client's body broke off or the disk failed. The source
 * may also have failed before anyone listened (the multipart parser destroys a part as soon as
 * it sees the body end early, which with a body that arrived in one piece is before the upload
 * even starts), and then it counts as first.
 */
function firstToFail(source: Readable, sink: Writable): () => 'source' | 'sink' | null {
  let first: 'source' | 'sink' | null = source.errored ? 'source' : null;
  source.once('error', () => (first ??= 'source'));
  sink.once('error', () => (first ??= 'sink'));
  return () => first;
}

/**
 * Serialises everything that adds or removes the bytes of one content hash (an upload moving
 * them into place and inserting its row; a delete deciding they are no longer referenced), so
 * a delete can never remove bytes a concurrent upload of the same content is about to name.
 * Transaction-scoped: released at commit or rollback.
 */
export async function lockContent(tx: Executor, sha256: string): Promise<void> {
  await lockKeyInTransaction(tx, LOCK_NAMESPACES.fileContent, sha256);
}

export async function moveIntoPlace(dir: string, tempPath: string, sha256: string): Promise<void> {
  // Replacing an existing blob is harmless: same hash, same bytes.
  await rename(tempPath, blobPath(dir, sha256));
}

export async function removeBlob(dir: string, sha256: string): Promise<void> {
  await rm(blobPath(dir, sha256), { force: true });
}

/**
 * Opens the bytes for reading, or null when they are missing. Once open, the stream keeps
 * reading even if a delete unlinks the file meanwhile (POSIX semantics), so a download that
 * has started always completes.
 */
export async function openBlob(dir: string, sha256: string): Promise<{ stream: ReadStream; size: number } | null> {
  let handle;
  try {
    handle = await open(blobPath(dir, sha256), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    return { stream: handle.createReadStream(), size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
