import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { files } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { cleanContentType, cleanFileName } from './file-rules.js';
import { lockContent, moveIntoPlace, receiveToTemp } from './file-store.js';
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
 * Stores an uploaded file for an application. `receive` is only called once the seller is known
 * to be allowed to upload here, so nobody else gets to stream bytes onto the disk. The bytes go
 * to a temp file (hashed and counted as they pass; over `deps.files.maxBytes` → 413, nothing
 * kept), then into place by content hash, and the row is inserted with its audit entry.
 */
export async function uploadFile(deps: Deps, actor: SellerActor, applicationId: number, receive: () => Promise<IncomingFile>) {
  await requireApplication(deps.db.orm, actor, applicationId, 'manage');
  const incoming = await receive();
  const name = cleanFileName(incoming.name);
  const contentType = cleanContentType(incoming.contentType);
  const received = await receiveToTemp(deps.files.dir, incoming.content, deps.files.maxBytes);
  let moved = false;
  try {
    // A body that breaks off after the file's bytes is as incomplete as one that breaks off in them.
    await incoming.finish();
    return await deps.db.orm.transaction(async (tx) => {
      // Checked again: the upload may have taken a while, and roles change.
      await requireApplication(tx, actor, applicationId, 'manage');
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
