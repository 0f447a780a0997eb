import { eq } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy, type Need } from '../applications/access.js';

/** A file, visible only through an application the seller is part of (else 404). */
export async function requireFile(db: Executor, actor: SellerActor, fileId: number, need: Need) {
  const [file] = await db.select().from(files).where(eq(files.id, fileId)).limit(1);
  await requireOwnedBy(db, actor, file?.applicationId, need, 'File');
  return file!;
}
