import { sql } from 'drizzle-orm';
import type { Executor } from './client.js';

/**
 * The namespaces of Keycord's keyed advisory locks, in one list so no two uses share one (a lock
 * is the pair namespace, hashtext(key); a shared namespace would make unrelated work wait).
 * The migration lock (db/migrate.ts) and the local job runner's (jobs/local/runner-lock.ts) are
 * not keyed by text and keep their own constants.
 */
export const LOCK_NAMESPACES = {
  /** One store order: its fulfilment and its refund take turns (integrations/receive-store-call.ts). */
  storeOrder: 0x4b434f31, // "KCO1"
  /** One file content hash: an upload and the delete of the last file with it (files/file-store.ts). */
  fileContent: 0x4b434631, // "KCF1"
  /** One Discord server: two /setup links of it take turns (discord/link-guild.ts). */
  discordGuild: 0x4b434731, // "KCG1"
} as const;

/** Takes the transaction-scoped advisory lock on `key` in `namespace`; it is let go at commit or rollback. */
export const lockKeyInTransaction = (tx: Executor, namespace: (typeof LOCK_NAMESPACES)[keyof typeof LOCK_NAMESPACES], key: string) =>
  tx.execute(sql`select pg_advisory_xact_lock(${namespace}::int4, hashtext(${key}))`);
