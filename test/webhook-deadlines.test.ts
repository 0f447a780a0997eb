/**
 * A webhook POST's hard time limit, kept with one shared signal per slice of start times
 * (deadline-signals.ts): every exchange ends by its limit (at most a tenth later), however the
 * receiver stalls, and sharing the signal warns about nothing however many POSTs are in flight.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { deadlineSignal } from '../src/core/webhooks/deadline-signals.js';
import { postWebhook } from '../src/core/webhooks/post-webhook.js';
import { closeReceiverPools } from '../src/core/webhooks/receiver-pools.js';

/** libuv computes a timer from the loop's cached clock, which may lag the real one by a little. */
const TIMER_SLACK_MS = 5;

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server };
}
const closeServer = (server: Server) => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
};

afterAll(async () => {
  await closeReceiverPools();
});

describe('deadlineSignal', () => {
  it('is one signal for the calls of one slice, another for another limit', () => {
    const a = deadlineSignal(60_000);
    expect(deadlineSignal(60_000)).toBe(a);
    expect(deadlineSignal(30_000)).not.toBe(a);
    expect(a.aborted).toBe(false);
  });

  it('aborts with a TimeoutError once the limit has passed, and not more than a tenth later', async () => {
    const limitMs = 300;
    const started = performance.now();
    const signal = deadlineSignal(limitMs);
    const abortedAfter = await new Promise<number>((resolve) => signal.addEventListener('abort', () => resolve(performance.now() - started)));
    expect(abortedAfter).toBeGreaterThanOrEqual(limitMs - TIMER_SLACK_MS);
    // A tenth of the limit at most, plus the event loop's own lateness on a busy machine.
    expect(abortedAfter).toBeLessThan(limitMs * 1.1 + 250);
    expect((signal.reason as Error).name).toBe('TimeoutError');
    // An aborted slice is never handed out again.
    expect(deadlineSignal(limitMs)).not.toBe(signal);
  });
});

describe('postWebhook time limit', () => {
  it('ends an exchange whose receiver drips its body forever, at the limit', async () => {
    const { url, server } = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      // A byte well within undici's idle body timeout, forever: only the hard limit can end it.
      const drip = setInterval(() => res.write('x'), 40);
      res.on('close', () => clearInterval(drip));
    });
    try {
      const limitMs = 500;
      const result = await postWebhook(url, '{}', {}, { timeoutMs: limitMs, allowPrivate: true });
      expect(result.error).toBe(`timed out after ${limitMs} ms`);
      expect(result.durationMs).toBeGreaterThanOrEqual(limitMs - TIMER_SLACK_MS);
      expect(result.durationMs).toBeLessThan(limitMs * 1.1 + 1000);
    } finally {
      await closeServer(server);
    }
  });

  it('ends an exchange whose receiver never answers, at the limit', async () => {
    const { url, server } = await listen((req) => {
      req.resume();
    });
    try {
      const result = await postWebhook(url, '{}', {}, { timeoutMs: 400, allowPrivate: true });
      expect(result.statusCode).toBeNull();
      expect(result.error).toBe('timed out after 400 ms');
    } finally {
      await closeServer(server);
    }
  });

  it('shares a signal among hundreds of POSTs in flight without a listener warning, each answered', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const { url, server } = await listen((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('ok'), 20));
    });
    try {
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => postWebhook(url, `{"n":${i}}`, {}, { timeoutMs: 10_000, allowPrivate: true })));
      expect(results.map((r) => r.statusCode)).toEqual(results.map(() => 200));
      expect(results.every((r) => r.body === 'ok' && r.error === null)).toBe(true);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await closeServer(server);
    }
  });
});
