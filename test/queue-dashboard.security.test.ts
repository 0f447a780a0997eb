import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';
import { restartWithOperators } from './support/operators.js';

/**
 * KEYCORD_OPERATORS names who may open Bull Board (job payloads, retry and delete of jobs), and
 * sign-up is open to anyone: a name is only as good as the account it stood for when Keycord started.
 */
let h: Harness;
const apps: FastifyInstance[] = [];
beforeAll(async () => {
  h = await startHarness({ jobs: 'producer', env: { KEYCORD_OPERATORS: 'squattedops' } });
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await h?.close();
});

const register = async (app: FastifyInstance, username: string) => {
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: `${username}@example.test`, username, password: 'operator password' } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { token: string; developer: { id: number } };
};

const form = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/admin/queues/login', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: new URLSearchParams(fields).toString() });

/** The same database and queues behind an API process started now, with `operators` named; its warnings land in `warnings`. */
async function restartWith(operators: string[], warnings: string[] = []) {
  const app = await restartWithOperators(h, operators, { log: createLogger('warn', { write: (line: string) => void warnings.push(line) }) });
  apps.push(app);
  return app;
}

/** An operator `username`, registered, named in a process started now, and signed in on its form: that process and the session cookie. */
async function signedInOperator(username: string) {
  await register(h.app, username);
  const app = await restartWith([username]);
  const signedIn = await form(app, { login: username, password: 'operator password' });
  return { app, cookie: String(signedIn.headers['set-cookie']).split(';')[0]! };
}

describe('operators named in KEYCORD_OPERATORS', () => {
  it('gives no dashboard to someone who signs up, after start, with a named operator username no account had', async () => {
    const squatter = await register(h.app, 'squattedops');
    const viaHeader = await h.call(squatter.token, { method: 'GET', url: '/admin/queues/api/queues' });
    expectError(viaHeader, 403, 'FORBIDDEN');
    expect(viaHeader.headers['set-cookie']).toBeUndefined();
    const viaForm = await form(h.app, { login: 'squattedops', password: 'operator password' });
    expect(viaForm.statusCode).toBe(403);
    expect(viaForm.headers['set-cookie']).toBeUndefined();
  });

  it('warns at start, by name, about operator usernames and ids no account has', async () => {
    const warnings: string[] = [];
    await restartWith(['nobodyhere', '#987654'], warnings);
    const text = warnings.join('');
    expect(text).toContain('KEYCORD_OPERATORS');
    expect(text).toContain('nobodyhere');
    expect(text).toContain('#987654');
  });

  it('lets in a username that had its account when the process started, as before', async () => {
    const early = await register(h.app, 'earlyops');
    const app = await restartWith(['earlyops']);
    const page = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${early.token}` } });
    expect(page.statusCode, page.body).toBe(200);
    const viaForm = await form(app, { login: 'EarlyOps', password: 'operator password' });
    expect(viaForm.statusCode).toBe(303);
  });

  it('pins an operator by account id (#id or id:id), whatever their username', async () => {
    const pinned = await register(h.app, 'pinnedops');
    const other = await register(h.app, 'notpinned');
    for (const entry of [`#${pinned.developer.id}`, `id:${pinned.developer.id}`]) {
      const { jobs } = loadConfig({ KEYCORD_SECRET: 'x'.repeat(32), KEYCORD_OPERATORS: ` ${entry} ` });
      const app = await restartWith(jobs.operators);
      expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${pinned.token}` } })).statusCode).toBe(200);
      expectError(await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${other.token}` } }), 403, 'FORBIDDEN');
    }
  });

  it('gives nothing to whoever later gets an id that was pinned before any account had it', async () => {
    const [{ next }] = (await h.deps.db.query<{ next: string }>(`select coalesce(max(id), 0) + 1 as next from developers`)) as [{ next: string }];
    const app = await restartWith([`#${next}`]);
    const late = await register(app, 'lateidops');
    expect(late.developer.id).toBe(Number(next));
    expectError(await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${late.token}` } }), 403, 'FORBIDDEN');
  });

  it('stops start-up on an entry that is neither a username nor an account id, naming the variable', () => {
    for (const bad of ['ops admin', 'id:', '#x', 'a', 'ops/../x']) {
      let err: unknown;
      try {
        loadConfig({ KEYCORD_SECRET: 'x'.repeat(32), KEYCORD_OPERATORS: `fine,${bad}` });
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('KEYCORD_OPERATORS');
    }
  });
});

describe('the dashboard sign-in form', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    await register(h.app, 'formops');
    app = await restartWith(['formops']);
  });
  const signIn = async () => {
    const res = await form(app, { login: 'formops', password: 'operator password' });
    expect(res.statusCode).toBe(303);
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    return { cookie, token: decodeURIComponent(cookie.slice('keycord_admin='.length)) };
  };

  it('signing out ends the session itself, not only the cookie: a copy of it opens nothing after', async () => {
    const { cookie, token } = await signIn();
    expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } })).statusCode).toBe(200);
    const out = await app.inject({ method: 'POST', url: '/admin/queues/logout', headers: { cookie } });
    expect(out.statusCode).toBe(303);
    expectError(await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } }), 401, 'UNAUTHORIZED');
    expectError(await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } }), 401, 'UNAUTHORIZED');
  });

  it('signing out with an API key in the cookie clears the cookie and leaves the key alone', async () => {
    const { token } = await signIn();
    const key = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: { authorization: `Bearer ${token}` }, payload: { name: 'ops' } })).json().key as string;
    const viaHeader = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${key}` } });
    expect(viaHeader.statusCode).toBe(200);
    const cookie = String(viaHeader.headers['set-cookie']).split(';')[0]!;
    expect((await app.inject({ method: 'POST', url: '/admin/queues/logout', headers: { cookie } })).statusCode).toBe(303);
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);
  });

  it('refuses a sign-in posted from another site, by Sec-Fetch-Site or by Origin, and sets no cookie', async () => {
    const crossSite: Record<string, string>[] = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }, { origin: 'null' }];
    for (const headers of crossSite) {
      const res = await form(app, { login: 'formops', password: 'operator password' }, headers);
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    // From its own page: Sec-Fetch-Site same-origin, or (older browsers) an Origin of this host.
    expect((await form(app, { login: 'formops', password: 'operator password' }, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80' })).statusCode).toBe(303);
    expect((await form(app, { login: 'formops', password: 'operator password' }, { origin: 'http://localhost:80' })).statusCode).toBe(303);
  });

  it('takes a sign-in from the PUBLIC_URL origin behind a proxy that passes another Host on, and nothing else', async () => {
    const behindProxy = await restartWithOperators(h, ['formops'], { publicUrl: 'https://keycord.example.com' });
    apps.push(behindProxy);
    const asForwarded = (origin: string) => form(behindProxy, { login: 'formops', password: 'operator password' }, { host: 'keycord-upstream:3000', origin });
    expect((await asForwarded('https://keycord.example.com')).statusCode).toBe(303);
    for (const origin of ['http://keycord.example.com', 'https://keycord.example.com.evil.example', 'https://evil.example']) {
      expect((await asForwarded(origin)).statusCode, origin).toBe(403);
    }
  });

  it('refuses a sign-out posted from another site', async () => {
    const { cookie } = await signIn();
    expectError(await app.inject({ method: 'POST', url: '/admin/queues/logout', headers: { cookie, 'sec-fetch-site': 'cross-site' } }), 403, 'FORBIDDEN');
    expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } })).statusCode).toBe(200);
  });
});

describe("Bull Board's own routes", () => {
  it('answer nobody but an operator: no credential is 401, a seller who is no operator 403, reads and writes alike', async () => {
    await register(h.app, 'routesops');
    const app = await restartWith(['routesops']);
    const seller = await register(h.app, 'routesseller');
    const routes: [string, string][] = [
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/queue/events'],
      ['GET', '/admin/queues/api/queues'],
      ['GET', '/admin/queues/api/redis/stats'],
      ['GET', '/admin/queues/api/queues/events/1'],
      ['GET', '/admin/queues/api/queues/events/1/logs'],
      ['POST', '/admin/queues/api/queues/events/add'],
      ['PUT', '/admin/queues/api/queues/events/retry/failed'],
      ['PUT', '/admin/queues/api/queues/events/clean/completed'],
      ['PUT', '/admin/queues/api/queues/events/obliterate'],
      ['PUT', '/admin/queues/api/queues/events/empty'],
      ['PUT', '/admin/queues/api/queues/pause'],
      ['PATCH', '/admin/queues/api/queues/events/1/update-data'],
      ['GET', '/admin/queues/static/favicon-32x32.png'],
    ];
    for (const [method, url] of routes) {
      const none = await app.inject({ method: method as 'GET', url, ...(method === 'GET' ? {} : { payload: {} }) });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      const notOperator = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${seller.token}` }, ...(method === 'GET' ? {} : { payload: {} }) });
      expect(notOperator.statusCode, `${method} ${url}`).toBe(403);
    }
  });
});

describe('jobs an operator could make by hand', () => {
  it('are refused: adding a job or editing its data is a 403 and leaves the queue as it was; retrying, cleaning and reading stay', async () => {
    const { app, cookie } = await signedInOperator('handops');
    const headers = { cookie, 'sec-fetch-site': 'same-origin' };
    const planted = { name: 'dispatch', data: { outbox_id: 999_999 } };
    const added = await app.inject({ method: 'POST', url: '/admin/queues/api/queues/events/add', headers, payload: planted });
    expectError(added, 403, 'FORBIDDEN');
    expect(await h.jobs!.queues.events.getJobs()).toEqual([]);
    // A job Keycord queued keeps the data it was given.
    const job = await h.jobs!.queues.events.add('dispatch', { outbox_id: 1 }, { jobId: 'hand-edit-probe', delay: 3_600_000 });
    try {
      const edited = await app.inject({ method: 'PATCH', url: `/admin/queues/api/queues/events/${job.id}/update-data`, headers, payload: { jobData: { outbox_id: 2 } } });
      expectError(edited, 403, 'FORBIDDEN');
      expect((await h.jobs!.queues.events.getJob(job.id!))?.data).toEqual({ outbox_id: 1 });
      const read = await app.inject({ method: 'GET', url: `/admin/queues/api/queues/events/${job.id}`, headers });
      expect(read.statusCode, read.body).toBe(200);
      const retried = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/events/retry/failed', headers });
      expect(retried.statusCode, retried.body).toBe(200);
    } finally {
      await job.remove();
    }
  });

  it("refuses changing or removing Keycord's maintenance schedule, and lets the pass be run now", async () => {
    const { app, cookie } = await signedInOperator('scheduleops');
    const headers = { cookie, 'sec-fetch-site': 'same-origin' };
    const maintenance = h.jobs!.queues.maintenance;
    // As job-system.ts sets it, under an id of this test's own.
    const id = 'expiry-sweep-dashboard-probe';
    await maintenance.upsertJobScheduler(id, { every: 3_600_000 }, { name: 'expiry-sweep', data: { installation: 'probe' } });
    try {
      const base = `/admin/queues/api/queues/maintenance/job-schedulers/${id}`;
      expectError(await app.inject({ method: 'PATCH', url: base, headers, payload: { every: 1 } }), 403, 'FORBIDDEN');
      expectError(await app.inject({ method: 'PUT', url: `${base}/remove`, headers }), 403, 'FORBIDDEN');
      expect(await maintenance.getJobScheduler(id)).toMatchObject({ every: 3_600_000 });
      const waiting = await maintenance.getWaitingCount();
      const run = await app.inject({ method: 'PUT', url: `${base}/run`, headers });
      expect(run.statusCode, run.body).toBeLessThan(300);
      expect(await maintenance.getWaitingCount()).toBe(waiting + 1);
    } finally {
      await maintenance.removeJobScheduler(id);
      await maintenance.drain(true);
    }
  });
});

describe('the dashboard against requests from other pages', () => {
  it('refuses a change to the queues sent from another page, even one of the same site carrying the cookie', async () => {
    const { app, cookie } = await signedInOperator('writeops');
    const fromElsewhere: Record<string, string>[] = [{ 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'https://other.localhost' }];
    for (const headers of fromElsewhere) {
      for (const [method, url] of [
        ['POST', '/admin/queues/api/queues/events/add'],
        ['PUT', '/admin/queues/api/queues/events/clean/completed'],
        ['PUT', '/admin/queues/api/queues/events/obliterate'],
      ] as const) {
        // What a plain HTML form on that page can send without a preflight.
        const res = await app.inject({ method, url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: 'name=planted' });
        expectError(res, 403, 'FORBIDDEN');
      }
      expect(await h.jobs!.queues.events.getJobs()).toEqual([]);
      // Reading stays possible: another page cannot read the answer anyway.
      expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie, ...headers } })).statusCode).toBe(200);
    }
    // Bull Board's own page, and a script with the token in the header, still change things.
    const own = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/events/clean/completed', headers: { cookie, 'sec-fetch-site': 'same-origin' } });
    expect(own.statusCode, own.body).toBe(200);
  });

  it('leaves no session behind for a sign-in it refuses because the account is no operator', async () => {
    const app = await restartWith(['writeops']);
    const seller = await register(h.app, 'plainseller');
    const sessions = async () => (await h.deps.db.query<{ n: string }>(`select count(*)::text as n from developer_tokens where developer_id = $1 and kind = 'session'`, [seller.developer.id]))[0]!.n;
    const before = await sessions();
    expect((await form(app, { login: 'plainseller', password: 'operator password' })).statusCode).toBe(403);
    expect(await sessions()).toBe(before);
  });
});
