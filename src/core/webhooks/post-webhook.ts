import { errors, type Dispatcher } from 'undici';
import { deadlineSignal } from './deadline-signals.js';
import { receiverPool } from './receiver-pools.js';
import { isPrivateAddress } from './webhook-url.js';

export interface PostResult {
  statusCode: number | null;
  durationMs: number;
  /** The first 2 KB of the response, for the delivery log. */
  body: string | null;
  error: string | null;
}

const MAX_BODY = 2048;

/**
 * One POST over the receiver's keep-alive pool: a hard timeout for the whole exchange (at most a
 * tenth longer: deadline-signals.ts), no redirects followed (a 3xx is just a failed attempt), and —
 * unless private targets are allowed — no connection to a private address (literal hosts here,
 * resolved ones at connect time).
 *
 * A receiver may close an idle keep-alive connection just as a POST goes out on it. That request
 * reached nothing (the socket had served earlier responses and this one got no answer), so it is
 * sent once more on a fresh connection; any other failure is the attempt's result.
 */
export async function postWebhook(url: string, body: string, headers: Record<string, string>, opts: { timeoutMs: number; allowPrivate: boolean }): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return { statusCode: null, body: null, error: 'invalid URL', durationMs: elapsed() };
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return { statusCode: null, body: null, error: 'invalid URL', durationMs: elapsed() };
  if (!opts.allowPrivate && isPrivateLiteral(target.hostname)) {
    return { statusCode: null, body: null, error: 'refused: private address', durationMs: elapsed() };
  }
  const pool = receiverPool(target.origin, { allowPrivate: opts.allowPrivate, connectTimeoutMs: opts.timeoutMs, timeoutMs: opts.timeoutMs });
  const request: Dispatcher.RequestOptions = {
    method: 'POST',
    path: `${target.pathname}${target.search}`,
    headers: { 'content-type': 'application/json', 'user-agent': 'Keycord-Webhooks/1', ...headers },
    body,
    // Shared with the POSTs started about now: one timer for them all (deadline-signals.ts).
    signal: deadlineSignal(opts.timeoutMs),
  };
  try {
    const res = await pool.request(request).catch((err: unknown) => {
      if (closedWhileIdle(err)) return pool.request(request);
      throw err;
    });
    try {
      return { statusCode: res.statusCode, body: await firstBytes(res.body), error: null, durationMs: elapsed() };
    } catch (err) {
      return { statusCode: res.statusCode, body: null, error: describe(err, opts.timeoutMs), durationMs: elapsed() };
    }
  } catch (err) {
    return { statusCode: null, body: null, error: describe(err, opts.timeoutMs), durationMs: elapsed() };
  }
}

/**
 * Past the first 2 KB, a body is read (and dropped) this far at most, so that the connection can be
 * reused; a longer one is cut off with its connection. A receiver's answer is its own: one that
 * never ends would otherwise be read at full speed until the timeout, holding the attempt's slot.
 */
const MAX_DRAINED = 64 * 1024;

/** The response body's first 2 KB; the rest is read and dropped (up to MAX_DRAINED) so the connection can be reused. */
async function firstBytes(stream: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (size < MAX_BODY) chunks.push(chunk);
    size += chunk.length;
    // Leaving the loop destroys the body, and undici closes its connection.
    if (size > MAX_DRAINED) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}

/**
 * A socket closed by the other side before any byte of this response, on a connection that had
 * already carried responses (bytes read before this request): the receiver's keep-alive timeout
 * beat our request to it. A fresh connection that fails the same way is a real failure.
 */
function closedWhileIdle(err: unknown): boolean {
  if (!(err instanceof errors.SocketError)) return false;
  return (err.socket?.bytesRead ?? 0) > 0;
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timed out after ${timeoutMs} ms`;
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError || err instanceof errors.ConnectTimeoutError) return `timed out after ${timeoutMs} ms`;
  const cause = (err as { cause?: unknown })?.cause;
  if (err instanceof Error) return cause instanceof Error && err.message === 'fetch failed' ? cause.message : err.message;
  return String(err);
}

function isPrivateLiteral(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return /^[\d.]+$/.test(host) || host.includes(':') ? isPrivateAddress(host) : false;
}
