import type { FastifyPluginAsync } from 'fastify';
import type { Sql, TransactionSql } from 'postgres';

/**
 * The baseline of `npm run bench:seller`: what any Fastify route that makes a seller's change
 * costs. One transaction of prepared statements (postgres.js tagged templates are named
 * statements): the UPDATE (or DELETE) of the license, its audit row and, where Keycord emits one,
 * its outbox event — the same tables and rows Keycord writes — and the row back as JSON. No
 * token, no permission check, no schema validation, no rules beyond the SQL.
 */

/** Which license a change is to: by id (HTTP) or by key (a Discord command names keys). */
export type LicenseTarget = { column: 'id'; value: number } | { column: 'license_key'; value: string };

type Change = (tx: TransactionSql, by: LicenseTarget, body: Record<string, unknown>) => Promise<Record<string, unknown> | undefined>;

const CHANGES: Record<string, { action: string; event?: string; change: Change }> = {
  ban: {
    action: 'license.banned',
    event: 'license.banned',
    change: async (tx, by, body) =>
      (await tx`update licenses set status = 'banned', ban_reason = ${(body.reason as string) ?? null}, updated_at = now() where ${tx(by.column)} = ${by.value} returning *`)[0],
  },
  unban: {
    action: 'license.unbanned',
    change: async (tx, by) =>
      (
        await tx`update licenses set ban_reason = null, updated_at = now(),
          status = case when expires_at <= now() then 'expired' when cardinality(hwids) > 0 then 'active' else 'inactive' end
        where ${tx(by.column)} = ${by.value} and status = 'banned' returning *`
      )[0],
  },
  extend: {
    action: 'license.extended',
    change: async (tx, by, body) =>
      (
        await tx`update licenses set duration_days = duration_days + ${body.days as number},
          expires_at = expires_at + make_interval(days => ${body.days as number}), updated_at = now()
        where ${tx(by.column)} = ${by.value} returning *`
      )[0],
  },
  'reset-hwid': {
    action: 'license.hwid_reset',
    event: 'license.hwid_reset',
    change: async (tx, by) =>
      (
        await tx`update licenses set hwids = '{}', last_hwid_reset_at = now(), updated_at = now(),
          status = case when status = 'active' then 'inactive' else status end
        where ${tx(by.column)} = ${by.value} returning *`
      )[0],
  },
  notes: {
    action: 'license.notes_updated',
    change: async (tx, by, body) => (await tx`update licenses set notes = ${(body.notes as string) ?? null}, updated_at = now() where ${tx(by.column)} = ${by.value} returning *`)[0],
  },
  delete: {
    action: 'license.deleted',
    event: 'license.deleted',
    change: async (tx, by) => (await tx`delete from licenses where ${tx(by.column)} = ${by.value} returning *`)[0],
  },
};

/**
 * One change in one transaction: the license, its audit row and its event, as Keycord writes them.
 * Undefined when there is no such license.
 */
export async function applyBareChange(sql: Sql, action: string, by: LicenseTarget, body: Record<string, unknown>, ip: string) {
  const spec = CHANGES[action];
  if (!spec) return undefined;
  return sql.begin(async (tx) => {
    const license = await spec.change(tx, by, body);
    if (!license) return undefined;
    const id = license.id as number;
    await tx`insert into audit_logs (application_id, actor_kind, actor_id, actor_name, action, target, details, ip)
      values (${license.application_id as number}, 'developer', '1', 'bench', ${spec.action}, ${`license:${id}`},
        ${sql.json({ license_key: license.license_key as string, ...body } as Record<string, string>)}, ${ip})`;
    if (spec.event) {
      await tx`insert into outbox (application_id, kind, type, payload)
        values (${license.application_id as number}, 'event', ${spec.event}, ${sql.json({ license: { id, license_key: license.license_key as string, status: license.status as string } })})`;
    }
    return license;
  });
}

export const bareSellerRoutes: FastifyPluginAsync<{ sql: Sql }> = async (app, { sql }) => {
  app.post<{ Params: { action: string; id: string }; Body: Record<string, unknown> | null }>('/bare/licenses/:id/:action', async (request, reply) => {
    if (!CHANGES[request.params.action]) return reply.code(404).send({ error: 'no such action' });
    const row = await applyBareChange(sql, request.params.action, { column: 'id', value: Number(request.params.id) }, request.body ?? {}, request.ip);
    if (!row) return reply.code(404).send({ error: 'not found' });
    return row;
  });
};
