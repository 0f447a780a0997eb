import { createRequire } from 'node:module';
import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';
import type * as PinoPretty from 'pino-pretty';
import { sqlStateOf } from './db/sql-state.js';
import { causeChain } from './cause-chain.js';
import { readConnectionUrl } from './connection-url.js';

export type { Logger };

/** JSON lines for log collectors; `pretty`, one readable line per entry, for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

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
const SECRET_QUERY_NAMES = new Set(['authorization', 'access_token', 'api_key', 'key', 'license_key', 'old_license_key', 'new_license_key', 'password', 'secret', 'token']);

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

/**
 * host:port/path of a connection URL (DATABASE_URL, REDIS_URL), without the user and password it
 * may carry: what start-up says about where it connects.
 */
export function serverOf(url: string): string {
  try {
    const { url: u, hosts } = readConnectionUrl(url);
    return `${hosts.join(',')}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
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

/**
 * The texts that quote a failed query's bound values, found along `err`'s cause chain: drizzle's
 * DrizzleQueryError puts every parameter into its message (`Failed query: …\nparams: a,b`), and
 * the parameters of a write are license keys, password hashes, sealed secrets. Each is replaced
 * as the exact text drizzle wrote, so a value crafted to look like the end of the list cannot
 * leave the rest of it in the log.
 */
function boundValueTexts(err: unknown): string[] {
  return causeChain(err).flatMap((e) => {
    const params = (e as { params?: unknown }).params;
    return Array.isArray(params) && params.length > 0 ? [`\nparams: ${params}`] : [];
  });
}

const withoutBoundValues = (text: string, texts: string[]) => texts.reduce((t, bound) => t.split(bound).join('\nparams: [redacted]'), text);

/**
 * Discord REST paths that carry an interaction's token (a credential for 15 minutes: it edits and
 * sends the bot's answers): `/webhooks/<application>/<token>/…`, `/interactions/<id>/<token>/…`.
 */
function redactDiscordTokens(text: string): string {
  return text.replace(/\/(webhooks|interactions)\/(\d+)\/[^/\s?"']+/g, `/$1/$2/${REDACTED}`);
}

/** Text as it may be logged: credentials in quoted URLs and Discord interaction tokens replaced. */
export const redactText = (text: string) => redactDiscordTokens(redactQueries(text));

/** An error's message as it may be logged: no bound query values, no credentials in quoted URLs. */
function loggableErrorMessage(err: Error): string {
  return redactText(withoutBoundValues(err.message, boundValueTexts(err)));
}

function serializeError(err: Error) {
  const out = stdSerializers.err(err);
  const bound = boundValueTexts(err);
  if (typeof out.message === 'string') out.message = redactText(withoutBoundValues(out.message, bound));
  if (typeof out.stack === 'string') out.stack = redactText(withoutBoundValues(out.stack, bound));
  // What was sent or bound is not the error: drizzle's bound values, and @discordjs/rest's request
  // body (a /generate answer's keys, a keys.txt) and Discord's raw answer to it.
  delete out.params;
  delete out.requestBody;
  delete out.rawError;
  if (typeof out.url === 'string') out.url = redactText(out.url);
  // @discordjs/rest's RateLimitError names its bucket: `<application id>/<interaction token>` for
  // an interaction webhook (a token that answers for the interaction for 15 minutes), and a hash.
  delete out.majorParameter;
  delete out.hash;
  // What the redacted message no longer shows: which database error it was.
  const sqlState = sqlStateOf(err);
  if (sqlState) out.sqlState = sqlState;
  return out;
}

/**
 * Messages are text, out of reach of the serializers and redact paths: Fastify writes request
 * URLs into some ("Reply was already sent … in "/url?…""), and pino makes an error's message the
 * line's message when none is given.
 */
function redactMessages(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
  const out = args.map((a) => (typeof a === 'string' ? redactText(a) : a));
  const first = out[0] as { err?: unknown } | null | undefined;
  const err = first instanceof Error ? first : first?.err instanceof Error ? first.err : undefined;
  if (err && typeof out[1] !== 'string') out.splice(1, 0, loggableErrorMessage(err));
  return method.apply(this, out);
}

/**
 * pino-pretty (~10 MB resident) is loaded only by a process that logs for a person at a terminal:
 * a server logging JSON to its collector never needs it (bench:memory, idle RSS).
 */
const pinoPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

/** A terminal gets readable lines; a pipe, a file or a container log collector gets JSON. */
export function defaultLogFormat(level: string, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY && level !== 'silent' ? 'pretty' : 'json';
}

/**
 * Formats each JSON line as it is written, in the same thread and synchronously, so the lines
 * logged just before `process.exit` are not lost (pino-pretty's transport runs in a worker).
 * Redaction has already happened: pino hands over the line it would have written as JSON.
 */
function prettyDestination(out: DestinationStream, colorize: boolean): DestinationStream {
  const { prettyFactory } = pinoPretty();
  const prettify = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (line: string) => void out.write(prettify(line)) };
}

/**
 * The one logger. Without a destination it writes to stdout, pretty when stdout is a terminal
 * and JSON otherwise; with one (tests) it writes JSON unless told `pretty`.
 */
export function createLogger(level = 'info', destination?: DestinationStream, format?: LogFormat): Logger {
  const chosen = format ?? (destination ? 'json' : defaultLogFormat(level));
  const out = chosen === 'pretty' ? prettyDestination(destination ?? process.stdout, destination === undefined && pinoPretty().isColorSupported) : destination;
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: REDACTED },
      serializers: { req: serializeRequest, err: serializeError },
      hooks: { logMethod: redactMessages },
    },
    out,
  );
}
