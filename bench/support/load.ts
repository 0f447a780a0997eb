import autocannon from 'autocannon';

export interface Target {
  name: string;
  url: string;
  body: string;
  /** Every response must be exactly this (checked by autocannon, counted as mismatches). */
  expectBody: string;
  /**
   * Instead of the one `body`: a body picked at random for every request (many distinct keys),
   * and the check each answer must pass in place of `expectBody`.
   */
  random?: { bodies: string[]; accepts(body: string): boolean };
  /**
   * Instead of the one POST to `url`: the next request of a sequence each time (writes that
   * change state, e.g. ban then unban), sent with `headers`; each answer must pass `accepts`.
   */
  sequence?: { headers: Record<string, string>; next(): SequencedRequest; accepts(body: string): boolean };
}

export interface SequencedRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** JSON, `{}` for a route without a body (a JSON content type with no body is refused). */
  body: string;
  /** This request's own headers in place of the target's (a signature over this very body). */
  headers?: Record<string, string>;
}

/** autocannon options that send `target.sequence`'s requests in order and check each answer. */
function sequencedRequests(target: Target) {
  const { headers, next, accepts } = target.sequence!;
  return {
    headers: { 'content-type': 'application/json', ...headers },
    requests: [{ setupRequest: (req: object) => ({ ...req, ...next() }) }],
    verifyBody: (body: string | Buffer | undefined) => accepts(String(body ?? '')),
  };
}

/** autocannon options that send `target.random`'s bodies in random order and check each answer. */
function randomBodies(target: Target) {
  const { bodies, accepts } = target.random!;
  const pick = () => bodies[Math.floor(Math.random() * bodies.length)]!;
  return {
    requests: [{ method: 'POST' as const, setupRequest: (req: object) => ({ ...req, body: pick() }) }],
    verifyBody: (body: string | Buffer | undefined) => accepts(String(body ?? '')),
  };
}

export interface LoadResult {
  name: string;
  seconds: number;
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  /** Every response time (ms), so runs can be combined with exact percentiles. */
  latencies: number[];
  /** Throughput and latency per `windowS`-second slice of the run, in order. */
  windows: { fromS: number; toS: number; reqPerSec: number; p50: number; p99: number }[];
}

/**
 * Drives `target` with autocannon and measures from the client side. Latencies are kept exactly
 * (autocannon's own histogram rounds to whole milliseconds, too coarse for a p50 of 2–4 ms) and
 * bucketed by completion time, so a run that slows down as it goes shows it window by window.
 */
export function runLoad(target: Target, opts: { connections: number; durationS: number; windowS?: number }): Promise<LoadResult> {
  const windowS = opts.windowS ?? 10;
  const buckets: number[][] = [];
  let startedAt = 0;
  let mismatches = 0;

  return new Promise((resolve, reject) => {
    // autocannon starts its duration timer when called, so the clock starts here too.
    startedAt = performance.now();
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: target.body,
        ...(target.random ? randomBodies(target) : target.sequence ? sequencedRequests(target) : { expectBody: target.expectBody }),
        connections: opts.connections,
        duration: opts.durationS,
      },
      (err, result) => {
        if (err) return reject(err);
        const seconds = (performance.now() - startedAt) / 1000;
        const all = buckets.flat();
        const windows = buckets.map((latencies, i) => {
          const fromS = i * windowS;
          const toS = Math.min((i + 1) * windowS, seconds);
          return { fromS, toS, reqPerSec: latencies.length / (toS - fromS), ...percentiles(latencies) };
        });
        resolve({
          name: target.name,
          seconds,
          requests: all.length,
          reqPerSec: all.length / seconds,
          ...percentiles(all),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches,
          latencies: all,
          // The last slice is often a fraction of a second of connections closing; drop it if tiny.
          windows: windows.filter((w) => w.toS - w.fromS >= windowS / 2),
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      const i = Math.floor((performance.now() - startedAt) / 1000 / windowS);
      (buckets[i] ??= []).push(responseTime);
    });
    // Not in @types/autocannon: emitted when a body differs from `expectBody`.
    (instance as unknown as NodeJS.EventEmitter).on('mismatch', () => mismatches++);
  });
}

/** Several runs of one target as one: requests and seconds add up, percentiles over all responses. */
export function combineRuns(name: string, runs: LoadResult[]): LoadResult {
  const latencies = runs.flatMap((r) => r.latencies);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  const sum = (key: 'non2xx' | 'errors' | 'timeouts' | 'mismatches') => runs.reduce((s, r) => s + r[key], 0);
  return {
    name,
    seconds,
    requests: latencies.length,
    reqPerSec: latencies.length / seconds,
    ...percentiles(latencies),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    mismatches: sum('mismatches'),
    latencies,
    windows: runs.flatMap((r) => r.windows),
  };
}

function percentiles(values: number[]): { p50: number; p99: number } {
  if (values.length === 0) return { p50: NaN, p99: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}
