import { sql } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { conflict } from '../errors.js';
import { makeKeys, type KeySpec } from './key-format.js';

export interface NewLicenseFields {
  applicationId: number;
  planId: number;
  durationDays: number;
  notes?: string | null;
  discordUserId?: string | null;
}

/**
 * Inserts `count` fresh keys. A collision with an existing key is skipped by the unique index
 * and made again, so the result always holds exactly `count` new licenses.
 */
export async function insertUniqueKeys(tx: Executor, spec: KeySpec, count: number, fields: NewLicenseFields) {
  const inserted: (typeof licenses.$inferSelect)[] = [];
  for (let attempt = 0; inserted.length < count; attempt++) {
    if (attempt >= 8) throw conflict('Could not make enough unique keys; use a longer mask', 'KEY_SPACE_EXHAUSTED');
    const keys = [...new Set(makeKeys(spec, count - inserted.length))];
    const rows = await tx
      .insert(licenses)
      .values(
        keys.map((licenseKey) => ({
          applicationId: fields.applicationId,
          planId: fields.planId,
          licenseKey,
          durationDays: fields.durationDays,
          notes: fields.notes ?? null,
          discordUserId: fields.discordUserId ?? null,
        })),
      )
      .onConflictDoNothing()
      .returning();
    inserted.push(...rows);
  }
  return inserted;
}

/** Adds to today's `generated` counter of the application. */
export async function countGenerated(tx: Executor, applicationId: number, day: string, n: number) {
  await tx.execute(sql`insert into daily_counters (application_id, day, generated) values (${applicationId}, ${day}, ${n})
    on conflict (application_id, day) do update set generated = daily_counters.generated + excluded.generated`);
}
