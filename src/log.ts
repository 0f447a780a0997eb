import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths that may carry secrets; pino replaces their values before anything is written. */
const REDACT = [
  'password',
  'secret',
  'token',
  'key',
  'license_key',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.key',
  '*.license_key',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.Authorization',
  'headers.authorization',
  'headers.cookie',
  'body.password',
  'body.secret',
];

/**
 * Query parameters whose values are credentials: the seller token (`?Authorization=Bearer …`,
 * as API.md allows) and license keys on the client GET routes. A HWID is not among them: alone
 * it unlocks nothing, and support needs it to explain a HWID_MISMATCH.
 */
const SECRET_QUERY_NAMES = new Set([
  'authorization',
  'access_token',
  'api_key',
  'key',
  'license_key',
  'old_license_key',
  'new_license_key',
  'password',
  'secret',
  'token',
]);

const REDACTED = '[redacted]';

function queryName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).trim().toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/** `a=1&Authorization=Bearer%20x` → `a=1&Authorization=[redacted]`; names are compared decoded. */
function redactQueryString(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return SECRET_QUERY_NAMES.has(queryName(name)) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
}

/**
 * Every query string in `text` (a URL, or an error message quoting one) with the values of
 * credential parameters replaced. Fastify's own messages quote request URLs, so this is applied
 * to error messages as well as to logged requests.
 */
export function redactQueries(text: string): string {
  return text.indexOf('?') === -1 ? text : text.replace(/\?([^\s"'`<>#]*)/g, (_m, query: string) => `?${redactQueryString(query)}`);
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  hostname?: string;
  ip?: string;
  socket?: { remoteAddress?: string; remotePort?: number };
}

/**
 * What a request log line says about the request: no headers (they carry the bearer token and
 * cookies), and the URL with credential values redacted — at every level, trace included.
 */
function serializeRequest(req: LoggedRequest) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactQueries(req.url) : req.url,
    host: req.host ?? req.hostname,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

function serializeError(err: Error) {
  const out = stdSerializers.err(err);
  if (typeof out.message === 'string') out.message = redactQueries(out.message);
  if (typeof out.stack === 'string') out.stack = redactQueries(out.stack);
  return out;
}

/**
 * Messages are text, out of reach of the serializers and redact paths: Fastify writes request
 * URLs into some ("Reply was already sent … in "/url?…""), and pino makes an error's message the
 * line's message when none is given.
 */
function redactMessages(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
  const out = args.map((a) => (typeof a === 'string' ? redactQueries(a) : a));
  const first = out[0] as { err?: unknown } | null | undefined;
  const err = first instanceof Error ? first : first?.err instanceof Error ? first.err : undefined;
  if (err && typeof out[1] !== 'string') out.splice(1, 0, redactQueries(err.message));
  return method.apply(this, out);
}

export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: REDACTED },
      serializers: { req: serializeRequest, err: serializeError },
      hooks: { logMethod: redactMessages },
    },
    destination,
  );
}
