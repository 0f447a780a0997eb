/**
 * `npm run bench:lease`: POST /api/licenses/lease (an offline lease) against the bare one-SELECT
 * route. Leases are on by default (max_offline_hours 72), so the seeded fleet needs no setup: each
 * bound key gets VALID and a lease for its own HWID. A lease holds the time it was issued, so no
 * two answers are the same bytes: each must hold a lease instead. Knobs: see
 * bench/support/client-route-bench.ts.
 */
import { runClientRouteBench } from './support/client-route-bench.js';

await runClientRouteBench({
  name: 'lease',
  path: '/api/licenses/lease',
  title: 'Keycord offline lease benchmark',
  setting: 'max_offline_hours 72 (the default)',
  answer: 'VALID with a lease, the answer and the lease each Ed25519-signed',
  check: (res, json) => {
    if (res.status !== 200 || json.code !== 'VALID' || typeof json.lease !== 'string' || json.lease === '' || !res.headers.get('x-signature-ed25519')) {
      throw new Error(`lease answered ${res.status} ${JSON.stringify(json)}`);
    }
  },
  // A lease's first part is base64url JSON, so it starts "eyJ" ('{"'): present and not empty.
  accepts: '"lease":"eyJ',
  sameAnswerEachTime: false,
  ownTable: { name: 'license_leases', label: 'lease', written: 'before the answer' },
  targetRatio: null,
});
