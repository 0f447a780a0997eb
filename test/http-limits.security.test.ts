import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { openRaw, parseResponse, within } from './support/raw-http.js';
import { waitFor } from './support/wait.js';

/*
 * Real listening servers and hand-written HTTP over node:net: the slow clients of the audit
 * (headers and then nothing, half a body) cannot be made with app.inject. The timeouts are set
 * low here; `within` only keeps a regression from hanging the run, it measures nothing.
 */
const LIVENESS_MS = 10_000;

let h: Harness;
let port: number;
beforeAll(async () => {
  h = await startHarness({
    env: { HTTP_HEADERS_TIMEOUT_MS: '200', HTTP_REQUEST_TIMEOUT_MS: '400', HTTP_UPLOAD_TIMEOUT_MS: '30000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' },
  });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await h?.close();
});

const expectTimedOut = (raw: string) => {
  const res = parseResponse(raw);
  expect(res.status, raw).toBe(408);
  expect(res.body).toEqual({ success: false, code: 'REQUEST_TIMEOUT', message: expect.any(String) });
};

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('slow clients', () => {
  it('a client that sends half its headers and then nothing is answered 408 and disconnected', async () => {
    const c = await openRaw(port);
    c.send('POST /api/licenses/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty');
    expectTimedOut(await within(c.closed, LIVENESS_MS, 'the server to close a connection with half its headers'));
  });

  it('a connection that never sends a byte is closed', async () => {
    const c = await openRaw(port);
    await within(c.closed, LIVENESS_MS, 'the server to close a silent connection');
  });

  it('a client that sends its headers and part of the body is answered 408 and disconnected', async () => {
    const c = await openRaw(port);
    const body = JSON.stringify({ app_id: '00000000-0000-4000-8000-000000000000', license_key: 'ABCDEF' });
    c.send(`POST /api/licenses/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    c.send(body.slice(0, 10));
    expectTimedOut(await within(c.closed, LIVENESS_MS, 'the server to close a connection with half a body'));
  });

  it('an early answer does not let the rest of a slow body hold the connection', async () => {
    const c = await openRaw(port);
    // Refused without a token before the body is read; Node then drains what is left of it. A
    // byte now and then keeps the connection from ever being idle long enough for keep-alive.
    c.send('POST /api/applications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":');
    const trickle = setInterval(() => c.send(' '), 100);
    try {
      const raw = await within(c.closed, LIVENESS_MS, 'the server to close a connection whose body never ends');
      expect(parseResponse(raw).status).toBe(401);
    } finally {
      clearInterval(trickle);
    }
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await openRaw(port);
    c.send('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const raw = await within(c.closed, LIVENESS_MS, 'the server to close an idle keep-alive connection');
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).toMatch(/keep-alive/i);
  });

  it('a streamed upload may take longer than the request timeout, within the upload timeout', async () => {
    const seller = await h.seller();
    const { app } = await seller.setup();
    const { headers, payload } = multipart([{ name: 'file', filename: 'slow.bin', data: Buffer.alloc(64 * 1024, 7) }]);
    const c = await openRaw(port);
    c.send(
      `POST /api/applications/${app.id}/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${seller.token}\r\n` +
        `Content-Type: ${headers['content-type']}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
    );
    // Three pieces, each pause longer than the 400 ms a JSON body gets.
    const third = Math.ceil(payload.length / 3);
    for (let i = 0; i < 3; i++) {
      c.send(payload.subarray(i * third, (i + 1) * third));
      if (i < 2) await pause(500);
    }
    const res = parseResponse(await within(c.closed, LIVENESS_MS, 'the upload to be answered'));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'slow.bin', size: 64 * 1024 });
  });
});

describe('the connection cap', () => {
  let capped: Harness;
  let cappedPort: number;
  beforeAll(async () => {
    capped = await startHarness({ env: { HTTP_MAX_CONNECTIONS: '2' } });
    await capped.app.listen({ host: '127.0.0.1', port: 0 });
    cappedPort = (capped.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await capped?.close();
  });

  const health = async () => {
    const c = await openRaw(cappedPort);
    c.send('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    return within(c.closed, LIVENESS_MS, 'an answer or a refusal');
  };

  it('refuses connections beyond HTTP_MAX_CONNECTIONS, and serves again once one leaves', async () => {
    const held = [await openRaw(cappedPort), await openRaw(cappedPort)];
    // Both held connections are accepted: a request on one is served.
    held[0]!.send('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => held[0]!.received().startsWith('HTTP/1.1 200'), LIVENESS_MS, 'an answer on a held connection');

    expect(await health()).toBe('');

    held[1]!.socket.destroy();
    await waitFor(async () => (await health()).startsWith('HTTP/1.1 200'), LIVENESS_MS, 'a new connection to be served');
    held[0]!.socket.destroy();
  });
});
