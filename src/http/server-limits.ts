import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './errors.js';

/**
 * How long a client may take and how many may be connected at once. Without these, Fastify's
 * defaults (0) also switch off Node's own timeouts, and a client that opens connections and then
 * sends nothing holds them forever.
 */
export interface HttpServerLimits {
  /** From the first byte of a request to the end of its headers. */
  headersTimeoutMs: number;
  /** For the whole request to arrive (for its body, once its headers are in). */
  requestTimeoutMs: number;
  /** The same for streamed uploads (multipart bodies, up to MAX_FILE_BYTES). */
  uploadTimeoutMs: number;
  /** An idle keep-alive connection is closed after this; keep it above a proxy's idle timeout. */
  keepAliveTimeoutMs: number;
  /** Connections beyond this many are closed as soon as they are accepted. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  uploadTimeoutMs: 600_000,
  keepAliveTimeoutMs: 72_000,
  maxConnections: 10_000,
};

/**
 * Node's timeouts are server-wide, so Node enforces the longest (the upload timeout) and
 * `installBodyDeadline` the shorter one on every other request. Node checks them on an interval
 * (30 s by default, which would stretch a 10 s header timeout to 40 s): here a fraction of the
 * header timeout, at most a second.
 */
export function fastifyServerOptions(limits: HttpServerLimits) {
  const nodeRequestTimeout = Math.max(limits.requestTimeoutMs, limits.uploadTimeoutMs);
  return {
    requestTimeout: nodeRequestTimeout,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: nodeRequestTimeout,
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(limits.headersTimeoutMs / 4))),
    },
    clientErrorHandler: answerClientError,
  };
}

const CLIENT_ERRORS: Record<string, [status: number, code: string, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'The request headers are too large'],
};

/**
 * Node's answer to a request it cannot hand to Fastify (timed out, headers too large, not HTTP),
 * in the API.md error shape rather than Fastify's own; the connection is closed after it.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
  writeRawError(socket, status, code, message);
}

function writeRawError(socket: Socket, status: number, code: string, message: string) {
  if (socket.writable) {
    const body = JSON.stringify(errorBody(code, message));
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/**
 * A multipart body to a route that takes one: only the upload route streams such bodies, and
 * only where @fastify/multipart is registered does the request have `isMultipart`.
 */
const streamsUpload = (request: FastifyRequest) => typeof request.isMultipart === 'function' && /^multipart\/form-data/i.test(request.headers['content-type'] ?? '');

/** What Fastify's constructor cannot set: the connection cap, and the shorter request timeout. */
export function applyServerLimits(app: FastifyInstance, limits: HttpServerLimits) {
  app.server.maxConnections = limits.maxConnections;
  installBodyDeadline(app, limits);
}

/**
 * The request timeout for every request but streamed uploads. A body that came with its headers
 * (nearly every API call) is complete by the end of the turn that parsed them: the requests of a
 * turn still incomplete at `onRequest` are looked at once, together, after it, and only a body
 * still arriving then gets a timer, cleared once it is complete or the connection gone (a timer and
 * two listeners for every POST were ~3% of the server's CPU under load). A body still incomplete
 * at the deadline — whether being parsed or, after an early answer, being drained by Node — is
 * answered 408 (when nothing was answered yet) and the connection closed.
 */
function installBodyDeadline(app: FastifyInstance, limits: HttpServerLimits) {
  if (limits.requestTimeoutMs >= limits.uploadTimeoutMs) return;
  // At most one turn's requests: bounded by the connections, and let go of after the turn.
  let arriving: FastifyReply[] = [];
  const armStillArriving = () => {
    const replies = arriving;
    arriving = [];
    for (const reply of replies) {
      const request = reply.request;
      if (request.raw.complete || request.raw.destroyed) continue;
      const timer = setTimeout(() => expire(request, reply), limits.requestTimeoutMs);
      const clear = () => clearTimeout(timer);
      request.raw.once('end', clear).once('close', clear);
    }
  };
  app.addHook('onRequest', (request, reply, done) => {
    // `complete` is false only on a real connection with body bytes still to come (requests
    // made with app.inject have no such flag, and no socket to close).
    if (request.raw.complete !== false || streamsUpload(request)) return done();
    if (arriving.push(reply) === 1) setImmediate(armStillArriving);
    done();
  });
}

function expire(request: FastifyRequest, reply: FastifyReply) {
  if (request.raw.complete) return;
  const socket = request.raw.socket;
  if (reply.raw.headersSent) socket.destroy();
  else writeRawError(socket, 408, 'REQUEST_TIMEOUT', 'The request did not arrive in time');
}
