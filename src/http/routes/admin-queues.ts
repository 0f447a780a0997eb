import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { authenticateToken } from '../../core/developers/authenticate-token.js';
import { endSession } from '../../core/developers/end-session.js';
import { resolveOperators } from '../../core/developers/resolve-operators.js';
import { loginDeveloper } from '../../core/developers/login-developer.js';
import type { Deps } from '../../core/deps.js';
import { AppError, forbidden, unauthorized } from '../../core/errors.js';
import { errorBody } from '../errors.js';
import type { Queues } from '../../jobs/queues.js';
import { bearerToken } from '../authenticate.js';
import { LOGIN_PAGE_CSP, loginPage } from './admin-login-page.js';

const ADMIN_QUEUES_PATH = '/admin/queues';
const ADMIN_LOGIN_PATH = `${ADMIN_QUEUES_PATH}/login`;
const ADMIN_LOGOUT_PATH = `${ADMIN_QUEUES_PATH}/logout`;
const COOKIE = 'keycord_admin';
/** A login form is two short fields; anything bigger is not one. */
const FORM_BODY_LIMIT = 4096;

function cookieToken(request: FastifyRequest): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name !== COOKIE) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      // A cookie we did not write (bad percent-encoding) is no credential, not a server fault.
      return null;
    }
  }
  return null;
}

/**
 * The credential of a dashboard request: the Authorization header or the cookie. Never a token in
 * the URL (`?Authorization=`, accepted on the API as PoPaAP does): dashboard URLs end up in browser
 * history, proxy logs and Referer headers.
 */
function dashboardToken(request: FastifyRequest): { token: string; fromHeader: boolean } | null {
  const fromHeader = request.headers.authorization ? bearerToken(request) : null;
  if (fromHeader) return { token: fromHeader, fromHeader: true };
  const fromCookie = cookieToken(request);
  return fromCookie ? { token: fromCookie, fromHeader: false } : null;
}

/** HttpOnly, this path only, same-site requests only, and `Secure` whenever the request came over HTTPS. */
function sessionCookie(request: FastifyRequest, value: string, maxAgeS: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${COOKIE}=${encodeURIComponent(value)}; Path=${ADMIN_QUEUES_PATH}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`;
}

/**
 * Bull Board routes an operator is refused, with why. Keycord makes every job itself: from a
 * database row (a generation, an outbox event, a delivery), whose worker reads the row, or from its
 * one schedule (the maintenance pass, every EXPIRY_SWEEP_EVERY). A job added by hand, or one whose
 * data is edited, has no row behind it (it repeats work under another id, or carries data its row
 * does not, and the reconciler never accounts for it); the schedule is configuration, so it is not
 * changed or removed from here (a pass every millisecond, or none until the next start). Retry,
 * promote, clean, pause, and running the maintenance pass now (it is idempotent) stay: they act on
 * Keycord's own jobs.
 */
const REFUSED_ROUTES = new Map([
  [`${ADMIN_QUEUES_PATH}/api/queues/:queueName/add`, 'Jobs are made by Keycord from its database rows: adding one by hand is not offered'],
  [`${ADMIN_QUEUES_PATH}/api/queues/:queueName/:jobId/update-data`, "Jobs are made by Keycord from its database rows: editing a job's data is not offered"],
  [`${ADMIN_QUEUES_PATH}/api/queues/:queueName/job-schedulers/:schedulerId`, 'The maintenance schedule is set by EXPIRY_SWEEP_EVERY: change it there and restart'],
  [`${ADMIN_QUEUES_PATH}/api/queues/:queueName/job-schedulers/:schedulerId/remove`, 'The maintenance schedule is set by EXPIRY_SWEEP_EVERY: it is not removed from here'],
]);

/**
 * A sign-in, sign-out or change to the queues sent from another page (another site, or another
 * origin of the same site) is refused: the form and Bull Board's UI only ever send from their
 * own. Browsers say where a request comes from in Sec-Fetch-Site (not changed by proxies on the
 * way); older ones send only Origin, compared with the host asked for — and with PUBLIC_URL, the
 * origin operators open, for a proxy that passes another Host on. A request with neither (a
 * script, curl) is no browser's form post from elsewhere.
 */
function crossSite(request: FastifyRequest, publicOrigin: string | undefined): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    const from = new URL(origin);
    if (publicOrigin !== undefined && from.origin === publicOrigin) return false;
    // Both through URL, so a default port (`:443`, `:80`) counts the same written or not.
    return from.host !== new URL(`${request.protocol}://${request.host}`).host;
  } catch {
    // `Origin: null` (a sandboxed frame, a redirect across sites) or nonsense.
    return true;
  }
}

const wantsPage = (request: FastifyRequest) => request.method === 'GET' && /\btext\/html\b/.test(request.headers.accept ?? '');

function sendLoginPage(reply: FastifyReply, status: number, message?: string) {
  return reply.code(status).header('content-security-policy', LOGIN_PAGE_CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(loginPage(ADMIN_LOGIN_PATH, message));
}

/**
 * Bull Board, for operators only: accounts named in KEYCORD_OPERATORS sign in on a form (or send
 * their developer token in the Authorization header); the session then lives in an HttpOnly cookie
 * scoped to this path.
 */
export async function adminQueueRoutes(app: FastifyInstance, opts: { deps: Deps; queues: Queues; operators: string[]; publicUrl?: string | undefined }) {
  const publicOrigin = opts.publicUrl === undefined ? undefined : new URL(opts.publicUrl).origin;
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: Object.values(opts.queues).map((q) => new BullMQAdapter(q)), serverAdapter });
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  // Bull Board's own error handler reads only `statusCode`, so our 4xx refusals (the storable-text
  // guard's 400 for a NUL in the query, say) came out as 500 in its shape. Rethrown, every error of
  // its routes goes on to the application's handler and is answered like anywhere else.
  serverAdapter.setErrorHandler((err) => {
    throw err;
  });
  const operatorIds = await resolveOperators(opts.deps, opts.operators);
  const isOperator = (developerId: number) => operatorIds.has(developerId);
  const sessionMaxAgeS = opts.deps.limits.sessionTtlHours * 3600;

  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    scope.get(ADMIN_LOGIN_PATH, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => sendLoginPage(reply, 200));

    // Limited per IP like every other place a password is tried.
    scope.post(ADMIN_LOGIN_PATH, { config: { access: 'public', limit: 'login' }, schema: { hide: true } }, async (request, reply) => {
      if (crossSite(request, publicOrigin)) return sendLoginPage(reply, 403, 'Sign in from this page: a sign-in sent from another site is refused.');
      const form = (request.body ?? {}) as Record<string, unknown>;
      const login = typeof form.login === 'string' ? form.login.trim() : '';
      const password = typeof form.password === 'string' ? form.password : '';
      if (!login || !password || login.length > 254 || password.length > 256) return sendLoginPage(reply, 400, 'Enter your email or username and your password.');
      let session;
      try {
        session = await loginDeveloper(opts.deps, { login, password, ip: request.ip });
      } catch (err) {
        if (err instanceof AppError && err.status === 401) return sendLoginPage(reply, 401, 'Invalid login or password.');
        throw err;
      }
      if (!isOperator(session.developer.id)) {
        // The session was made before the account could be told apart; nobody got it, so it goes.
        await endSession(opts.deps, await authenticateToken(opts.deps, session.token, request.ip));
        return sendLoginPage(reply, 403, 'This account is not an operator of this Keycord.');
      }
      return reply
        .code(303)
        .header('set-cookie', sessionCookie(request, session.token, sessionMaxAgeS))
        .header('location', ADMIN_QUEUES_PATH)
        .send();
    });

    // Signing out ends the session in the cookie, not just the cookie: a copy of it stops working too.
    scope.post(ADMIN_LOGOUT_PATH, { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
      if (crossSite(request, publicOrigin)) return reply.code(403).send(errorBody('FORBIDDEN', 'A sign-out sent from another site is refused'));
      const token = cookieToken(request);
      if (token) {
        const actor = await authenticateToken(opts.deps, token, request.ip).catch((err: unknown) => {
          if (err instanceof AppError) return null;
          throw err;
        });
        if (actor) await endSession(opts.deps, actor);
      }
      return reply
        .code(303)
        .header('set-cookie', sessionCookie(request, '', 0))
        .header('location', ADMIN_LOGIN_PATH)
        .send();
    });

    // Bull Board installs its own error handler for its routes, so refusals are answered here
    // directly in our error shape rather than thrown.
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const route = request.routeOptions.url;
      if (route === ADMIN_LOGIN_PATH || route === ADMIN_LOGOUT_PATH) return;
      const credential = dashboardToken(request);
      const refuse = (err: AppError) => reply.code(err.status).send(errorBody(err.code, err.message));
      if (!credential) return wantsPage(request) ? reply.code(303).header('location', ADMIN_LOGIN_PATH).send() : refuse(unauthorized());
      let actor;
      try {
        actor = await authenticateToken(opts.deps, credential.token, request.ip);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        // An expired or revoked session in the cookie: back to the form, the stale cookie cleared.
        if (!credential.fromHeader && wantsPage(request))
          return reply
            .code(303)
            .header('set-cookie', sessionCookie(request, '', 0))
            .header('location', ADMIN_LOGIN_PATH)
            .send();
        return refuse(err);
      }
      if (!isOperator(actor.developerId)) return refuse(forbidden('Only operators may open the queue dashboard'));
      // SameSite=Strict still sends the cookie from a sibling subdomain's page, and a plain form post
      // (which needs no preflight, and which the form parser above reads) could add or clean jobs.
      if (request.method !== 'GET' && request.method !== 'HEAD' && crossSite(request, publicOrigin)) return refuse(forbidden('A change to the queues sent from another page is refused'));
      const refusal = route === undefined || request.method === 'GET' || request.method === 'HEAD' ? undefined : REFUSED_ROUTES.get(route);
      if (refusal) return refuse(forbidden(refusal));
      if (credential.fromHeader) reply.header('set-cookie', sessionCookie(request, credential.token, 3600));
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_QUEUES_PATH });
  });
}
