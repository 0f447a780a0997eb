import { and, asc, eq, gte, like } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { normalizeKey } from './key-format.js';

/** Discord shows 25 choices at most. */
const MATCHING_KEYS_MAX = 25;
/** Index entries an autocomplete walks at most, whatever was typed. */
const WALK_MAX = 200;

/** A LIKE pattern matching what starts with `text`, its own `%`, `_` and `\` taken literally. */
const startsWithPattern = (text: string) => `${text.replace(/[\\%_]/g, (c) => '\\' + c)}%`;

/**
 * The keys of an application that start with what a seller has typed (keys are stored upper-case,
 * as `normalizeKey` makes them), in key order: what `/license … key:` offers while typing.
 * Bounded whatever the application holds: a walk of at most WALK_MAX entries of the
 * (application_id, license_key) unique index from the typed text on, filtered by the prefix.
 * With the C collation the prefix's keys are exactly the walk's start; with another collation
 * (punctuation weighed later) the walk still stops, at worst offering fewer keys.
 */
export async function matchingLicenseKeys(deps: Deps, actor: SellerActor, applicationId: number, typed: string): Promise<string[]> {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const prefix = normalizeKey(typed).slice(0, 256);
  const walk = deps.db.orm
    .select({ key: licenses.licenseKey })
    .from(licenses)
    .where(and(eq(licenses.applicationId, applicationId), prefix ? gte(licenses.licenseKey, prefix) : undefined))
    .orderBy(asc(licenses.licenseKey))
    .limit(WALK_MAX)
    .as('walk');
  const rows = await deps.db.orm
    .select({ key: walk.key })
    .from(walk)
    .where(prefix ? like(walk.key, startsWithPattern(prefix)) : undefined)
    .orderBy(asc(walk.key))
    .limit(MATCHING_KEYS_MAX);
  return rows.map((r) => r.key);
}
