import { ED25519_BACKEND } from '../../src/http/ed25519.js';

/**
 * The bare routes a client-route bench (validate, heartbeat, lease) measures Keycord against, both
 * served by bench/validate-server.ts beside Keycord: `bare`, one indexed SELECT with the row as
 * JSON (the baseline), and `signed`, the same route signing its answer as API.md requires of
 * every client answer (the same-work comparison, as the webhook and Discord baselines sign and
 * verify what Keycord must). BENCH_SIGNED_BASELINE=0 leaves `signed` out (a third fewer rounds).
 */
export type Baseline = 'bare' | 'signed';

export const BASELINES: readonly Baseline[] = process.env.BENCH_SIGNED_BASELINE === '0' ? ['bare'] : ['bare', 'signed'];

export const baselinePath = (baseline: Baseline) => (baseline === 'bare' ? '/bench/bare' : '/bench/bare-signed');

/** The "requests" lines a bench prints about its baselines. */
export const baselineLines = (): string[] => [
  'bare: POST /bench/bare (one indexed SELECT via postgres.js, row as JSON)',
  ...(BASELINES.includes('signed') ? [`signed: POST /bench/bare-signed (the same + the Ed25519 signature API.md requires, signed inline by ${ED25519_BACKEND})`] : []),
];

/** Throws unless a baseline answered `licenseKey`'s row (and, signed, with a signature header). */
export function checkBaseline(baseline: Baseline, licenseKey: string) {
  return (res: Response, json: Record<string, unknown>) => {
    const signed = baseline === 'bare' || /^[0-9a-f]{128}$/.test(res.headers.get('x-signature-ed25519') ?? '');
    if (res.status !== 200 || json.license_key !== licenseKey || !signed) throw new Error(`${baseline} route answered ${res.status} ${JSON.stringify(json)}`);
  };
}

/** Round `round` (from 1) starts one side later than the round before: no side always runs first, or always right after another. */
export const roundOrder = <T>(sides: readonly T[], round: number): T[] => sides.map((_, i) => sides[(i + round - 1) % sides.length]!);

/** The verdict line's companion: Keycord's route against the bare route that also signs (not a target). */
export const signedComparison = (mode: string, name: string, ratio: string, p99: string, signedP99: string) =>
  `${mode}: ratio ${name}/signed ${ratio}x req/s (the bare route with the contract's signature; measured, not a target); p99 ${p99} vs ${signedP99}`;
