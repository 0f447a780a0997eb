import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RestSinkCounts {
  /** Requests per "METHOD first-two-path-segments" (e.g. `PATCH webhooks`). */
  requests: Map<string, number>;
  /** Bytes of the bodies received, per the same key. */
  bytes: Map<string, number>;
}

/**
 * A stand-in for Discord's REST API during a benchmark: it takes what the bot sends after its
 * first answer (a /stats chart edit, a follow-up), counts it and answers 200, so the bench measures
 * Keycord's work without reaching the internet and without the server logging failed calls.
 */
export async function startRestSink(): Promise<{ url: string; counts: RestSinkCounts; reset(): void; close(): Promise<void> }> {
  const counts: RestSinkCounts = { requests: new Map(), bytes: new Map() };
  const server: Server = createServer((req, res) => {
    const segments = (req.url ?? '').split('?')[0]!.split('/').filter(Boolean);
    // /api/v10/webhooks/:app/:token/messages/@original → "PATCH webhooks"
    const route = `${req.method} ${segments.find((s) => !/^(api|v\d+)$/.test(s)) ?? ''}`;
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
    });
    req.on('end', () => {
      counts.requests.set(route, (counts.requests.get(route) ?? 0) + 1);
      counts.bytes.set(route, (counts.bytes.get(route) ?? 0) + size);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"1","channel_id":"1"}');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api`,
    counts,
    reset() {
      counts.requests.clear();
      counts.bytes.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
