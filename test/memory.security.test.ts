import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/*
 * The audit's crash, as a test: thousands of client requests with unique junk identifiers, some
 * as long as the body limit allows, must leave the heap where it was. The test workers do not
 * run with --expose-gc, so the flag is set at run time and `gc` taken from a fresh context.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** The heap in use after full collections (twice: the first may only free what it finalises). */
function settledHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Up to the 1 MB body limit in a body; a query string fits in Node's 16 KB of headers. */
const LONG_BODY_ID = 1_000_000;
const LONG_QUERY_ID = 8_000;

/** The n-th junk request: each route, each kind of id (short junk, long junk, random UUID), each from its own address. */
function junkRequest(n: number): InjectOptions {
  const kind = n % 3;
  const route = Math.floor(n / 3) % 4;
  const remoteAddress = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const long = (length: number) => `${n}:${'j'.repeat(length)}`;
  if (route < 2) {
    const appId = kind === 0 ? `junk-${n}` : kind === 1 ? long(n % 10 === 1 ? LONG_BODY_ID : 10_000) : randomUUID();
    const url = route === 0 ? '/api/licenses/validate' : '/api/licenses/check-expiration';
    return { method: 'POST', url, remoteAddress, payload: { app_id: appId, license_key: `KEY-${n}`, hwid: `hwid-${n}` } };
  }
  const appId = encodeURIComponent(kind === 0 ? `junk-${n}` : kind === 1 ? long(LONG_QUERY_ID) : randomUUID());
  const url = route === 2 ? `/api/variables/v${n}?app_id=${appId}&license_key=KEY-${n}&hwid=h${n}` : `/api/files/${n + 1}/download?app_id=${appId}&license_key=KEY-${n}&hwid=h${n}`;
  return { method: 'GET', url, remoteAddress };
}

/** Sends requests `from`…`from + count - 1`, 50 at a time; the statuses seen and the bytes of junk ids sent. */
async function send(from: number, count: number) {
  const statuses = new Set<number>();
  let junkBytes = 0;
  for (let i = from; i < from + count; i += 50) {
    const requests = Array.from({ length: Math.min(50, from + count - i) }, (_, j) => junkRequest(i + j));
    for (const r of requests) junkBytes += r.payload ? (r.payload as { app_id: string }).app_id.length : String(r.url).length;
    for (const res of await Promise.all(requests.map((r) => h.app.inject(r)))) statuses.add(res.statusCode);
  }
  return { statuses, junkBytes };
}

describe('memory under a flood of junk client requests', () => {
  it('stays within a small bound: thousands of unique junk app_ids, some of 1 MB, leave the heap where it was', async () => {
    // Warm up first, so what is measured is growth, not the first use of each route.
    await send(0, 600);
    const before = settledHeap();

    const { statuses, junkBytes } = await send(600, 4000);
    expect(junkBytes).toBeGreaterThan(60 * 1024 * 1024);
    await h.deps.usage.flush();
    const grown = settledHeap() - before;

    // Every request was refused as bad input or an unknown application, never a 5xx.
    expect([...statuses].every((s) => s === 400 || s === 404)).toBe(true);
    // The unknown UUIDs are remembered (that spares the database), within the cache's bound.
    const sizes = h.deps.apps.sizes;
    expect(sizes.loading).toBe(0);
    expect(sizes.unknown).toBeLessThanOrEqual(10_000);
    // The old counter kept every id as a key: all of the junk would still be here. Bounded state
    // (unknown ids, one window per address) may stay, a few MB.
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  });
});
