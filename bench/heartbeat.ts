/**
 * `npm run bench:heartbeat`: POST /api/licenses/heartbeat (floating seats) against the bare
 * one-SELECT route. Every key's machine already holds its seat (turnSeatsOn): what is measured is
 * the heartbeat of a running fleet. Knobs: see bench/support/client-route-bench.ts.
 */
import { runClientRouteBench } from './support/client-route-bench.js';
import { turnSeatsOn } from './support/validate-setup.js';

const SEATS = 3;

await runClientRouteBench({
  name: 'heartbeat',
  path: '/api/licenses/heartbeat',
  title: 'Keycord heartbeat (floating seats) benchmark',
  setting: `max_concurrent ${SEATS}`,
  answer: 'VALID, Ed25519-signed',
  setup: (databaseUrl, seeded) => turnSeatsOn(databaseUrl, seeded.applicationId, SEATS),
  check: (res, json) => {
    if (res.status !== 200 || json.code !== 'VALID' || json.seats_max !== SEATS || !res.headers.get('x-signature-ed25519')) {
      throw new Error(`heartbeat answered ${res.status} ${JSON.stringify(json)}`);
    }
  },
  accepts: '"code":"VALID"',
  sameAnswerEachTime: true,
  ownTable: { name: 'license_seats', label: 'seats', written: 'with the usage flush' },
  targetRatio: 0.8,
});
