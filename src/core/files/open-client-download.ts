import { and, eq } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import { forbidden, notFound } from '../errors.js';
import { proveClient, type ClientCredentials } from '../users/client-credentials.js';
import { openBlob } from './file-store.js';

/**
 * A file as a customer app downloads it: only for a caller who proves a right to it — a license +
 * HWID that validate (exactly as /validate) or a user token whose license still stands (else 403
 * with the reason's code: see proveClient) — and only a file of this application (else 404).
 * Returns an open stream of the bytes.
 */
export async function openClientDownload(deps: Deps, app: ClientApplication, fileId: number, creds: ClientCredentials) {
  const [file] = await deps.db.orm
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.applicationId, app.id)))
    .limit(1);
  // Proof first: an unknown id is answered as a known one until the caller proves a right (then
  // 404), as a variable's name is, so the app_id alone does not tell which file ids exist.
  const proof = await proveClient(deps, app, creds);
  if (!proof.ok) throw forbidden(`${proof.message} (${proof.code})`);
  if (!file) throw notFound('File');
  const blob = await openBlob(deps.files.dir, file.sha256);
  if (!blob) {
    await reportMissingBytes(deps, file);
    throw notFound('File');
  }
  if (blob.size !== file.size) deps.log.error({ fileId: file.id, stored: file.size, onDisk: blob.size }, 'a stored file has changed size on disk');
  return { name: file.name, contentType: file.contentType, sha256: file.sha256, size: blob.size, stream: blob.stream };
}

/**
 * Bytes missing for a file row read a moment ago. A delete removes the bytes only after its row's
 * removal has committed (removeUnreferencedContent), so a row that is gone now means the file was
 * deleted while this download was starting: the same 404 as the next download gets, an expected
 * race, not a fault. A row still there has lost its bytes with no delete of it: that is an error.
 */
export async function reportMissingBytes(deps: Deps, file: typeof files.$inferSelect): Promise<void> {
  // A database that fails this look-up leaves the answer a 404 all the same, logged as the fault it may be.
  const rows = await deps.db.orm
    .select({ id: files.id })
    .from(files)
    .where(eq(files.id, file.id))
    .limit(1)
    .catch(() => [file]);
  if (rows.length === 0) deps.log.info({ fileId: file.id }, 'a file was deleted while a download of it was starting: answered 404');
  else deps.log.error({ fileId: file.id, sha256: file.sha256 }, 'the bytes of a stored file are missing from the files directory');
}
