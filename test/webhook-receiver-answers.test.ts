import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from '../src/core/webhooks/post-webhook.js';

/**
 * What a receiver answers is its own: a body that never ends, or one that drips, must not hold a
 * delivery attempt (and its share of the webhook concurrency) for long, nor be read into memory.
 * The attempt keeps the first 2 KB, as API.md says, and stops reading soon after.
 */
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (req.url === '/endless') {
        // As fast as the connection takes it, for as long as it is read.
        const chunk = Buffer.alloc(64 * 1024, 'y');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/drip') {
        const t = setInterval(() => res.write('x'), 50);
        res.on('close', () => clearInterval(t));
      } else {
        res.end('ok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("a receiver's answer", () => {
  it('a 2xx answer with a body that never ends is recorded (its first 2 KB) at once, not read until the timeout', async () => {
    const started = Date.now();
    const result = await postWebhook(`${base}/endless`, '{}', {}, { timeoutMs: 8000, allowPrivate: true });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ statusCode: 200, error: null });
    expect(result.body).toBe('y'.repeat(2048));
    // The receiver's next POST goes through as usual.
    expect(await postWebhook(`${base}/ok`, '{}', {}, { timeoutMs: 8000, allowPrivate: true })).toMatchObject({ statusCode: 200, body: 'ok', error: null });
  });

  it('a body that drips is given up on at the timeout, not held past it', async () => {
    const started = Date.now();
    const result = await postWebhook(`${base}/drip`, '{}', {}, { timeoutMs: 1000, allowPrivate: true });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result.statusCode).toBe(200);
    expect(result.error).toMatch(/timed out/);
  });
});
