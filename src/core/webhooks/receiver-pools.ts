import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Pool } from 'undici';
import { isPrivateAddress } from './webhook-url.js';

/** DNS lookup that refuses private answers: checked at connect time, so rebinding cannot bypass. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as unknown as LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || list.length === 0) return callback(new Error(`refused: ${hostname} resolves to a private address`), '', 0);
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

/** Receivers whose keep-alive connections are kept; the least recently used one goes past this. */
const MAX_RECEIVER_ORIGINS = 256;
/** Connections per receiver at most: as many as deliveries run at once is plenty. */
const CONNECTIONS_PER_ORIGIN = 64;
/** An idle connection is closed after this (or sooner when the receiver's Keep-Alive says so). */
const IDLE_TIMEOUT_MS = 4_000;

const pools = new Map<string, Pool>();

/**
 * The connection pool of one receiver origin (scheme, host, port), made on first use and kept
 * while used: deliveries to a receiver reuse its keep-alive connections instead of a TCP (and TLS)
 * handshake per POST. Every new connection goes through the same check as before pooling — the
 * private-address lookup at connect time, unless private targets are allowed — so a pooled
 * connection only ever reaches an address that was checked when it was opened. The pools are
 * keyed by that choice too, so a connection opened under one rule never serves the other.
 */
export function receiverPool(origin: string, opts: { allowPrivate: boolean; connectTimeoutMs: number; timeoutMs: number }): Pool {
  const key = `${opts.allowPrivate ? 'any' : 'public'} ${origin}`;
  const held = pools.get(key);
  if (held) {
    // Map order is insertion order: re-inserting makes it the most recently used.
    pools.delete(key);
    pools.set(key, held);
    return held;
  }
  const pool = new Pool(origin, {
    connections: CONNECTIONS_PER_ORIGIN,
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    keepAliveMaxTimeout: IDLE_TIMEOUT_MS,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { timeout: opts.connectTimeoutMs, ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }) },
  });
  pools.set(key, pool);
  if (pools.size > MAX_RECEIVER_ORIGINS) {
    const [oldestKey, oldest] = pools.entries().next().value as [string, Pool];
    pools.delete(oldestKey);
    // Requests in flight on it finish; its idle connections close.
    void oldest.close().catch(() => {});
  }
  return pool;
}

/** Closes every pool (shutdown, tests). In-flight requests finish first. */
export async function closeReceiverPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((p) => p.close()));
}
