import { sql } from 'drizzle-orm';
import { rowsOf, type Executor } from '../../db/client.js';
import type { LicenseStatus } from '../../db/schema.js';
import { conflict } from '../errors.js';
import { makeKeys, type KeySpec } from './key-format.js';

export interface NewLicenseFields {
  applicationId: number;
  planId: number;
  durationDays: number;
  notes?: string | null;
  discordUserId?: string | null;
  jobId?: number | null;
}

export interface InsertedLicense {
  id: number;
  licenseKey: string;
  status: LicenseStatus;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * One multi-row insert of fresh keys: the keys travel as a single text parameter and are
 * unnested by Postgres, so a batch of thousands costs one statement, not one per row. A key that
 * collides with an existing one is skipped by the unique index (`on conflict do nothing`).
 */
const insertKeysSql = (keys: string[], f: NewLicenseFields) => sql`
    insert into licenses (application_id, plan_id, license_key, duration_days, notes, discord_user_id, job_id)
    select ${f.applicationId}, ${f.planId}, k, ${f.durationDays}, ${f.notes ?? null}, ${f.discordUserId ?? null}, ${f.jobId ?? null}
    from unnest(string_to_array(${keys.join(',')}::text, ',')) as k
    on conflict do nothing`;

/** The batch insert, answering the rows it made (the synchronous generate shows them). */
async function insertKeyBatch(tx: Executor, keys: string[], f: NewLicenseFields): Promise<InsertedLicense[]> {
  const result = await tx.execute(sql`${insertKeysSql(keys, f)}
    returning id, license_key, status, created_at, updated_at`);
  return rowsOf<{ id: number; license_key: string; status: LicenseStatus; created_at: Date | string; updated_at: Date | string }>(result).map((r) => ({
    id: Number(r.id),
    licenseKey: r.license_key,
    status: r.status,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  }));
}

/**
 * The same insert for callers that only need how many keys went in (a bulk job): thousands of
 * returned rows nobody reads cost Postgres and Node more than a tenth of the batch's time.
 */
export async function insertKeyBatchCount(tx: Executor, keys: string[], f: NewLicenseFields): Promise<number> {
  const result = await tx.execute(sql`with inserted as (${insertKeysSql(keys, f)} returning 1) select count(*)::int as n from inserted`);
  return Number(rowsOf<{ n: number }>(result)[0]?.n ?? 0);
}

/** Exactly `count` new licenses: keys lost to collisions are made again. */
export async function insertUniqueKeys(tx: Executor, spec: KeySpec, count: number, fields: NewLicenseFields) {
  const inserted: InsertedLicense[] = [];
  for (let attempt = 0; inserted.length < count; attempt++) {
    if (attempt >= 8) throw conflict('Could not make enough unique keys; use a longer mask', 'KEY_SPACE_EXHAUSTED');
    const keys = [...new Set(makeKeys(spec, count - inserted.length))];
    inserted.push(...(await insertKeyBatch(tx, keys, fields)));
  }
  return inserted;
}

/** Adds to today's `generated` counter of the application. */
export async function countGenerated(tx: Executor, applicationId: number, day: string, n: number) {
  await tx.execute(sql`insert into daily_counters (application_id, day, generated) values (${applicationId}, ${day}, ${n})
    on conflict (application_id, day) do update set generated = daily_counters.generated + excluded.generated`);
}
