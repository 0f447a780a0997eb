import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress } from './webhook-url.js';

export interface PostResult {
  statusCode: number | null;
  durationMs: number;
  /** The first 2 KB of the response, for the delivery log. */
  body: string | null;
  error: string | null;
}

const MAX_BODY = 2048;

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

/**
 * One POST: a hard timeout for the whole exchange, no redirects followed (a 3xx is just a failed
 * attempt), and — unless private targets are allowed — no connection to a private address.
 */
export function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { timeoutMs: number; allowPrivate: boolean },
): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    // Declared before `done`: a refusal before the request exists settles without a timer.
    let timer: NodeJS.Timeout | undefined;
    const done = (r: Omit<PostResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, durationMs: elapsed() });
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return done({ statusCode: null, body: null, error: 'invalid URL' });
    }
    if (!opts.allowPrivate && isPrivateLiteral(target.hostname)) {
      return done({ statusCode: null, body: null, error: 'refused: private address' });
    }
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Keycord-Webhooks/1', 'content-length': Buffer.byteLength(body), ...headers },
        ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => done({ statusCode: res.statusCode ?? null, body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8'), error: null }));
        res.on('error', (e) => done({ statusCode: res.statusCode ?? null, body: null, error: e.message }));
      },
    );
    timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    req.on('error', (e) => done({ statusCode: null, body: null, error: e.message }));
    req.end(body);
  });
}

function isPrivateLiteral(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return /^[\d.]+$/.test(host) || host.includes(':') ? isPrivateAddress(host) : false;
}
