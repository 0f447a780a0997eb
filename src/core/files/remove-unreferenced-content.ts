import { count, eq } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { Deps } from '../deps.js';
import { lockContent, removeBlob } from './file-store.js';

/**
 * Removes the bytes of a content hash once no file row names it any more. Runs in its own
 * transaction after the row's removal has committed, under the content lock: an upload of the
 * same bytes either committed its row first (we see it and keep the bytes) or moves them into
 * place after we are done. So a row never outlives its bytes; at worst (a crash between the two
 * steps) bytes outlive their last row.
 */
export async function removeUnreferencedContent(deps: Deps, sha256: string): Promise<boolean> {
  return deps.db.orm.transaction(async (tx) => {
    await lockContent(tx, sha256);
    const [refs] = await tx.select({ n: count() }).from(files).where(eq(files.sha256, sha256));
    if ((refs?.n ?? 0) > 0) return false;
    await removeBlob(deps.files.dir, sha256);
    return true;
  });
}
