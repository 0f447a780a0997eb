import type { FastifyInstance } from 'fastify';
import type { Db } from '../../src/db/client.js';

export interface Seeded {
  /** The application's public UUID, as client apps send it. */
  appId: string;
  /** The application's integer id, what the licenses table is keyed by. */
  applicationId: number;
  licenseKey: string;
  hwid: string;
  licenseCount: number;
}

/**
 * Seeds through the real HTTP API (not SQL), so the data has exactly the shape production
 * writes: a developer, an application, a plan, `count` licenses, and one key activated with a
 * HWID — the benchmarked request is "an active key with its HWID".
 */
export async function seedThroughApi(app: FastifyInstance, count: number): Promise<Seeded> {
  const call = async (method: 'GET' | 'POST', url: string, body: object, token?: string) => {
    const res = await app.inject({ method, url, payload: body, headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
    return res.json();
  };

  const { token } = await call('POST', '/api/auth/register', { email: 'bench@example.test', username: 'bench', password: 'correct horse battery' });
  // One client IP sends everything here: the per-IP client limit (default 300/min) would answer
  // 429 to nearly all of it. 0 turns it off; the limiter's per-request check still runs.
  const application = await call('POST', '/api/applications', { name: 'Bench App', settings: { rate_limit_per_minute: 0 } }, token);
  const plan = await call('POST', '/api/plans/', { application_id: application.id, name: 'Monthly', duration_days: 30 }, token);

  const keys: string[] = [];
  const perRequest = 1000; // the synchronous generate limit
  for (let made = 0; made < count; made += perRequest) {
    const n = Math.min(perRequest, count - made);
    const { licenses } = await call('POST', '/api/licenses/generate', { plan_id: plan.id, count: n, format: 'random' }, token);
    keys.push(...licenses.map((l: { license_key: string }) => l.license_key));
  }

  // A key from the middle, so the index probe is not trivially the first or last entry.
  const licenseKey = keys[Math.floor(keys.length / 2)]!;
  const hwid = 'BENCH-PC-0001';
  const first = await call('POST', '/api/licenses/validate', { app_id: application.app_id, license_key: licenseKey, hwid });
  if (first.code !== 'VALID') throw new Error(`activation failed: ${JSON.stringify(first)}`);
  return { appId: application.app_id, applicationId: application.id, licenseKey, hwid, licenseCount: keys.length };
}

/** A key and the HWID it is bound to: one request body of the random-key benchmark. */
export interface BoundKey {
  licenseKey: string;
  hwid: string;
}

/**
 * Binds every still-inactive key of the application to a HWID of its own, as its first validation
 * would (status, HWID, activation time, expiry from the key's duration, last use) — written in one
 * statement, because 100,000 first validations through the API would make the seeding the bench.
 * No events are written: the bench application has no webhooks or Discord link to tell.
 * Then VACUUM ANALYZE, the state autovacuum leaves a table in between bulk changes.
 */
export async function activateEveryKey(db: Db, applicationId: number, now = new Date()): Promise<BoundKey[]> {
  await db.query(
    `update licenses set status = 'active', hwids = array['BENCH-PC-' || id], activated_at = $2::timestamptz,
       expires_at = case when duration_days > 0 then $2::timestamptz + make_interval(days => duration_days) end,
       last_used = $2::timestamptz, updated_at = $2::timestamptz
     where application_id = $1 and status = 'inactive'`,
    [applicationId, now.toISOString()],
  );
  await db.query('vacuum analyze licenses');
  const rows = await db.query<{ license_key: string; hwid: string }>(`select license_key, hwids[1] as hwid from licenses where application_id = $1 and status = 'active' order by id`, [applicationId]);
  return rows.map((r) => ({ licenseKey: r.license_key, hwid: r.hwid }));
}
