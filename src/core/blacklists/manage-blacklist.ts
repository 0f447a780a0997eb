import { and, asc, count, eq, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { applications, blacklistEntries } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, requireOwnedBy } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { isUniqueViolation } from '../developers/register-developer.js';
import { badRequest, conflict } from '../errors.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { normalizeIp } from './ip-range.js';

/** Entries one application may hold: the in-process copy of every list stays bounded. */
const MAX_BLACKLIST_ENTRIES = 10_000;

type BlacklistType = 'hwid' | 'ip';

export interface BlacklistEntryInput {
  application_id: number;
  type: BlacklistType;
  value: string;
  reason?: string | null | undefined;
}

export const toBlacklistEntryView = (row: typeof blacklistEntries.$inferSelect) => ({
  id: row.id,
  application_id: row.applicationId,
  type: row.type,
  value: row.value,
  reason: row.reason,
  created_at: row.createdAt.toISOString(),
});

function normalizedValue(type: BlacklistType, value: string): { value: string; network: string | null } {
  if (type === 'hwid') {
    // Validate compares the trimmed HWID, so the entry is kept trimmed too.
    const hwid = value.trim();
    if (!hwid) throw badRequest('A HWID must not be empty');
    return { value: hwid, network: null };
  }
  const ip = normalizeIp(value.trim());
  if (!ip) throw badRequest('An ip entry must be an IPv4 or IPv6 address or CIDR range (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)');
  return { value: ip.value, network: ip.cidr };
}

/**
 * Every change bumps the application's blacklist version in its transaction (which also locks the
 * application row, so concurrent adds count against the limit one after the other).
 */
async function bumpVersion(tx: Executor, applicationId: number) {
  await tx
    .update(applications)
    .set({ blacklistVersion: sql`${applications.blacklistVersion} + 1` })
    .where(eq(applications.id, applicationId));
}

/** This process sees a change at once; others within APP_CACHE_TTL_MS (see BlacklistCache). */
function forgetCached(deps: Deps, app: { id: number; appId: string }) {
  deps.apps.invalidate(app.appId);
  deps.blacklists.invalidate(app.id);
}

export async function addBlacklistEntry(deps: Deps, actor: SellerActor, input: BlacklistEntryInput) {
  const normalized = normalizedValue(input.type, input.value);
  try {
    const { entry, app } = await deps.db.orm.transaction(async (tx) => {
      const { app } = await requireApplication(tx, actor, input.application_id, 'manage');
      await bumpVersion(tx, app.id);
      const [held] = await tx.select({ n: count() }).from(blacklistEntries).where(eq(blacklistEntries.applicationId, app.id));
      if ((held?.n ?? 0) >= MAX_BLACKLIST_ENTRIES) throw conflict(`An application holds at most ${MAX_BLACKLIST_ENTRIES} blacklist entries`, 'LIMIT_REACHED');
      const [row] = await tx
        .insert(blacklistEntries)
        .values({ applicationId: app.id, type: input.type, value: normalized.value, network: normalized.network, reason: input.reason ?? null })
        .returning();
      await writeAudit(tx, actor, {
        applicationId: app.id,
        action: 'blacklist.added',
        target: `blacklist:${row!.id}`,
        details: { type: input.type, value: normalized.value, reason: input.reason ?? null },
      });
      return { entry: row!, app };
    });
    forgetCached(deps, app);
    return toBlacklistEntryView(entry);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`This ${input.type} is already blacklisted`);
    throw err;
  }
}

export async function listBlacklist(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = eq(blacklistEntries.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(blacklistEntries).where(where),
    deps.db.orm.select().from(blacklistEntries).where(where).orderBy(asc(blacklistEntries.id)).limit(limit).offset(offset),
    toBlacklistEntryView,
  );
}

export async function deleteBlacklistEntry(deps: Deps, actor: SellerActor, entryId: number) {
  const app = await deps.db.orm.transaction(async (tx) => {
    const [entry] = await tx.select().from(blacklistEntries).where(eq(blacklistEntries.id, entryId)).limit(1);
    const { app } = await requireOwnedBy(tx, actor, entry?.applicationId, 'manage', 'Blacklist entry');
    await bumpVersion(tx, app.id);
    await tx.delete(blacklistEntries).where(and(eq(blacklistEntries.id, entryId), eq(blacklistEntries.applicationId, app.id)));
    await writeAudit(tx, actor, { applicationId: app.id, action: 'blacklist.removed', target: `blacklist:${entryId}`, details: { type: entry!.type, value: entry!.value } });
    return app;
  });
  forgetCached(deps, app);
}
