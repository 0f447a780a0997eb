import type { Db } from '../../db/client.js';
import type { licenses, plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { roleAllows, type Need, type Role } from '../applications/access.js';
import { forbidden, notFound } from '../errors.js';
import { licenseColumnsSql, licenseRowFrom } from './license-rows.js';

export type LicenseRow = typeof licenses.$inferSelect;
type LicensePlan = Pick<typeof plans.$inferSelect, 'id' | 'name' | 'durationDays'>;

export interface SellerLicense {
  license: LicenseRow;
  plan: LicensePlan;
  role: Role;
  /**
   * The row version this read saw (Postgres `xmin`): a write conditioned on it applies only if
   * nothing changed the license since, which stands in for holding a row lock across round trips.
   */
  version: string;
}

/**
 * The license, its plan and the seller's role in its application, in one statement (one round
 * trip): the application row itself is not read, a membership is all access needs.
 */
const SELECT = `select ${licenseColumnsSql('l')}, l.xmin::text as version, p.name as plan_name, p.duration_days as plan_duration_days, m.role
from licenses l
join plans p on p.id = l.plan_id
left join application_members m on m.application_id = l.application_id and m.developer_id = $2
where l.id = $1`;

/** The license's columns (license-rows.ts), then what access and the write need. */
type Row = Record<string, unknown> & {
  application_id: number;
  plan_id: number;
  version: string;
  plan_name: string;
  plan_duration_days: number;
  role: Role | null;
};

/**
 * A license with its plan, reachable only through an application the seller is part of. As for
 * an application (access.ts), a license elsewhere is "not found", exactly as if it did not exist;
 * a visible one the role may not change is a 403.
 */
export async function requireLicense(db: Db, actor: SellerActor, licenseId: number, need: Need): Promise<SellerLicense> {
  const [row] = await db.query<Row>(SELECT, [licenseId, actor.developerId]);
  // The developer who linked a Discord server may own other applications; from that server they do not exist.
  if (!row || row.role === null || (actor.kind === 'discord' && actor.applicationId !== row.application_id)) throw notFound('License');
  if (!roleAllows(row.role, need)) throw forbidden();
  return {
    license: licenseRowFrom(row),
    plan: { id: row.plan_id, name: row.plan_name, durationDays: row.plan_duration_days },
    role: row.role,
    version: row.version,
  };
}
