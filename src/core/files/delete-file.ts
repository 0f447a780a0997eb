import { eq } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { requireFile } from './require-file.js';
import { removeUnreferencedContent } from './remove-unreferenced-content.js';

/** Removes the row; the bytes go too unless another file row (in any application) has the same content. */
export async function deleteFile(deps: Deps, actor: SellerActor, fileId: number) {
  const file = await deps.db.orm.transaction(async (tx) => {
    const found = await requireFile(tx, actor, fileId, 'manage');
    await tx.delete(files).where(eq(files.id, fileId));
    await writeAudit(tx, actor, {
      applicationId: found.applicationId,
      action: 'file.deleted',
      target: `file:${fileId}`,
      details: { name: found.name, size: found.size, sha256: found.sha256 },
    });
    return found;
  });
  await removeUnreferencedContent(deps, file.sha256);
  return { message: 'File deleted' };
}
