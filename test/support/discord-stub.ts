import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface RecordedCall {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON body, or for multipart the parsed `payload_json`. */
  json: any;
  /** Attachments of a multipart request, by file name. */
  files: Record<string, string>;
  /** The same attachments as received, byte for byte (binary files: PNG, gzip). */
  fileBytes: Record<string, Buffer>;
  /** Bytes of the request body. */
  size: number;
}

/**
 * A stand-in for Discord's REST API on 127.0.0.1: answers what the bot calls with plausible
 * payloads and records every call, so tests can assert on what the bot sent.
 */
export async function startDiscordStub(opts: { closedDms?: Set<string> } = {}) {
  const calls: RecordedCall[] = [];
  const closedDms = opts.closedDms ?? new Set<string>();
  let messageId = 1000;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = (req.url ?? '').replace(/^\/api\/v10/, '').split('?')[0]!;
      const { json, files, fileBytes } = parseBody(req.headers['content-type'] ?? '', raw);
      const call: RecordedCall = { method: req.method ?? 'GET', path, headers: req.headers, json, files, fileBytes, size: raw.length };
      calls.push(call);
      const send = (status: number, body?: unknown) => {
        // Like Discord: a 204 carries no body and no content type.
        res.writeHead(status, status === 204 ? {} : { 'content-type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.method === 'POST' && path === '/users/@me/channels') return send(200, { id: `dm${json?.recipient_id}`, type: 1 });
      const dm = /^\/channels\/dm(\d+)\/messages$/.exec(path);
      if (req.method === 'POST' && dm && closedDms.has(dm[1]!)) return send(403, { code: 50007, message: 'Cannot send messages to this user' });
      if (req.method === 'POST' && /\/callback$/.test(path)) return send(204);
      if (req.method === 'PUT' && /\/roles\//.test(path)) return send(204);
      if (req.method === 'PUT' && /\/commands$/.test(path))
        return send(
          200,
          (json as unknown[]).map((c, i) => ({ id: String(i + 1), ...(c as object) })),
        );
      return send(200, { id: String(++messageId), channel_id: '1', content: json?.content ?? '', attachments: [] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    calls,
    closedDms,
    clear: () => void calls.splice(0),
    find: (method: string, pattern: RegExp) => calls.filter((c) => c.method === method && pattern.test(c.path)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type DiscordStub = Awaited<ReturnType<typeof startDiscordStub>>;

function parseBody(contentType: string, raw: Buffer): { json: any; files: Record<string, string>; fileBytes: Record<string, Buffer> } {
  const files: Record<string, string> = {};
  const fileBytes: Record<string, Buffer> = {};
  if (raw.length === 0) return { json: undefined, files, fileBytes };
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) {
    try {
      return { json: JSON.parse(raw.toString('utf8')), files, fileBytes };
    } catch {
      return { json: raw.toString('utf8'), files, fileBytes };
    }
  }
  let json: any;
  // Parts are cut out of the Buffer (no whole-body string): bodies of several MB stay cheap.
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = raw.indexOf(delimiter);
  while (at >= 0) {
    const next = raw.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    const part = raw.subarray(at + delimiter.length, next);
    at = next;
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const head = part.subarray(0, split).toString('utf8');
    let bytes = part.subarray(split + 4);
    if (bytes.subarray(-2).toString('latin1') === '\r\n') bytes = bytes.subarray(0, -2);
    const name = /name="([^"]+)"/.exec(head)?.[1];
    const filename = /filename="([^"]+)"/.exec(head)?.[1];
    if (filename) {
      fileBytes[filename] = Buffer.from(bytes);
      files[filename] = bytes.toString('utf8');
    } else if (name === 'payload_json') json = JSON.parse(bytes.toString('utf8'));
  }
  return { json, files, fileBytes };
}

/** A Discord that refuses every call with one error, recording what was asked. */
export async function startRefusingDiscord(status: number, error: { code: number; message: string }) {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      paths.push(`${req.method} ${req.url?.split('?')[0]}`);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { apiUrl: `http://127.0.0.1:${port}/api`, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** What a scripted Discord answers one call with: a status, its headers, and a JSON body (or text). */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/**
 * A Discord whose answers a test scripts by method and path (query left out); any call the script
 * passes over (undefined) gets 200 with a message. Records every call as `METHOD /path`.
 */
export async function startScriptedDiscord(script: (method: string, path: string) => ScriptedAnswer | undefined) {
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const method = req.method ?? 'GET';
      calls.push(`${method} ${path}`);
      const answer = script(method, path) ?? { status: 200, body: { id: '1', channel_id: '1', content: '', attachments: [] } };
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/html' : 'application/json', ...answer.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { apiUrl: `http://127.0.0.1:${port}/api`, calls, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
