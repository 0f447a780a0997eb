import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A real webhook receiver on 127.0.0.1. `respond` decides each answer (status code), so a test
 * can make it fail a few times, hang, or redirect.
 */
export async function startReceiver(respond: (r: Received, n: number) => number | { status: number; headers?: Record<string, string>; delayMs?: number } = () => 200) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      const answer = respond(r, received.length);
      const { status, headers, delayMs } = typeof answer === 'number' ? { status: answer, headers: undefined, delayMs: 0 } : answer;
      setTimeout(() => {
        res.writeHead(status, headers);
        res.end(status >= 400 ? 'receiver says no' : 'ok');
      }, delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A receiver on 127.0.0.1 that holds every request unanswered until `release()`, then answers
 * 200 with `body` — to keep POSTs in flight (a hanging receiver, deliveries racing a delete).
 */
export async function startHeldReceiver(body = 'ok') {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const held: ServerResponse[] = [];
  let released = false;
  const answer = (res: ServerResponse) => res.writeHead(200).end(body);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (released) answer(res);
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    held: () => held.length,
    postsOf: (deliveryId: number) => received.filter((r) => r.headers['x-keycord-delivery'] === String(deliveryId)).length,
    /** Answers what it holds (all in this turn) and every later POST at once. */
    release: () => {
      released = true;
      for (const res of held.splice(0)) answer(res);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type HeldReceiver = Awaited<ReturnType<typeof startHeldReceiver>>;
