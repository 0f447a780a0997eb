import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { count, eq, sql } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { cleanContentType, cleanFileName, MAX_FILES_PER_APP, maxFileStorage } from './file-rules.js';
import { lockContent, moveIntoPlace, receiveToTemp, sweepAbandonedTemps } from './file-store.js';
import { toFileView } from './file-view.js';
import { removeUnreferencedContent } from './remove-unreferenced-content.js';

export interface IncomingFile {
  name: string | undefined;
  contentType: string | undefined;
  content: Readable;
  /** Settles once the rest of the request body is read; rejects when it was cut off or malformed. */
  finish(): Promise<void>;
}

/**
 * Refuses a file beyond the application's quota: MAX_FILES_PER_APP files, and `maxFileStorage`
 * bytes in all with this one's `adding` bytes. Decisive only under the application row's lock.
 */
async function assertFileQuota(db: Executor, deps: Deps, applicationId: number, adding: number) {
  const [used] = await db
    .select({ n: count(), bytes: sql<string>`coalesce(sum(${files.size}), 0)::text` })
    .from(files)
    .where(eq(files.applicationId, applicationId));
  if ((used?.n ?? 0) >= MAX_FILES_PER_APP) throw conflict(`An application may have at most ${MAX_FILES_PER_APP} files`, 'LIMIT_REACHED');
  const quota = maxFileStorage(deps.files.maxBytes);
  if (Number(used?.bytes ?? 0) + adding > quota) throw conflict(`An application's files may take at most ${quota} bytes in all`, 'LIMIT_REACHED');
}

/**
 * Stores an uploaded file for an application. `receive` is only called once the seller is known
 * to be allowed to upload here, so nobody else gets to stream bytes onto the disk. The bytes go
 * to a temp file (hashed and counted as they pass; over `deps.files.maxBytes` → 413, nothing
 * kept), then into place by content hash, and the row is inserted with its audit entry. Past the
 * application's quota (files, bytes) the answer is 409 LIMIT_REACHED and nothing is kept.
 */
export async function uploadFile(deps: Deps, actor: SellerActor, applicationId: number, receive: () => Promise<IncomingFile>) {
  await requireApplication(deps.db.orm, actor, applicationId, 'manage');
  // An application already at its quota is refused before any byte reaches the disk.
  await assertFileQuota(deps.db.orm, deps, applicationId, 0);
  const incoming = await receive();
  const name = cleanFileName(incoming.name);
  const contentType = cleanContentType(incoming.contentType);
  await sweepAbandonedTemps(deps.files.dir, deps.log);
  const received = await receiveToTemp(deps.files.dir, incoming.content, deps.files.maxBytes);
  let moved = false;
  try {
    // A body that breaks off after the file's bytes is as incomplete as one that breaks off in them.
    await incoming.finish();
    return await deps.db.orm.transaction(async (tx) => {
      // Checked again: the upload may have taken a while, and roles change.
      // Under the application row's lock, uploads are counted against the quota one after another
      // (and a concurrent delete of the application makes this a 404, not a foreign-key violation).
      await requireApplication(tx, actor, applicationId, 'manage', 'no key update');
      await assertFileQuota(tx, deps, applicationId, received.size);
      await lockContent(tx, received.sha256);
      await moveIntoPlace(deps.files.dir, received.tempPath, received.sha256);
      moved = true;
      const [file] = await tx.insert(files).values({ applicationId, name, size: received.size, sha256: received.sha256, contentType }).returning();
      await writeAudit(tx, actor, {
        applicationId,
        action: 'file.uploaded',
        target: `file:${file!.id}`,
        details: { name, size: received.size, sha256: received.sha256, content_type: contentType },
      });
      return toFileView(file!);
    });
  } catch (err) {
    if (!moved) await rm(received.tempPath, { force: true });
    else await removeUnreferencedContent(deps, received.sha256).catch((e) => deps.log.error({ err: e, sha256: received.sha256 }, 'could not remove the bytes of a failed upload'));
    throw err;
  }
}
