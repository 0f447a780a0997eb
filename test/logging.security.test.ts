import { DiscordAPIError } from '@discordjs/rest';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { createLogger, redactQueries } from '../src/log.js';
import { startHarness, type Harness } from './support/harness.js';

/*
 * With LOG_LEVEL=debug, Fastify logs every request with its URL, and the API accepts the seller
 * token as `?Authorization=Bearer …` and license keys in the query of the client GET routes.
 * These tests log at trace, the most talkative level, into memory, and look for the secrets.
 */
let h: Harness;
let app: FastifyInstance;
const lines: string[] = [];
beforeAll(async () => {
  h = await startHarness();
  const log = createLogger('trace', { write: (line: string) => void lines.push(line) });
  app = await buildApp({ ...h.deps, log }, { logRequests: true });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await h?.close();
});

const logged = () => lines.join('');

describe('request logs', () => {
  it('never contain a bearer token sent in the query or the header, at any level', async () => {
    const s = await h.seller();
    lines.length = 0;
    const viaQuery = await app.inject({ method: 'GET', url: `/api/applications?Authorization=Bearer%20${s.token}&per_page=5` });
    expect(viaQuery.statusCode).toBe(200);
    // The same parameter spelt with an escaped letter and a different case.
    await app.inject({ method: 'GET', url: `/api/auth/me?%41uthorization=Bearer+${s.token}` });
    await app.inject({ method: 'GET', url: `/api/no-such-route?authorization=Bearer%20${s.token}` });
    await app.inject({ method: 'GET', url: '/api/applications', headers: { authorization: `Bearer ${s.token}`, cookie: `session=${s.token}` } });

    const text = logged();
    expect(text).toContain('incoming request');
    expect(text).toContain('/api/applications?Authorization=[redacted]&per_page=5');
    expect(text).toContain('/api/no-such-route?authorization=[redacted]');
    expect(text).not.toContain(s.token);
  });

  it('never contain license keys (or passwords) of client requests; the HWID stays for support', async () => {
    const s = await h.seller();
    const { app: application, plan } = await s.setup();
    const [license] = await s.generate(plan.id);
    lines.length = 0;
    const key = license!.license_key;
    await app.inject({ method: 'GET', url: `/api/variables/motd?app_id=${application.app_id}&license_key=${key}&hwid=PC-1` });
    await app.inject({ method: 'GET', url: `/api/files/1/download?app_id=${application.app_id}&license_key=${key.toLowerCase()}&hwid=PC-1` });
    await app.inject({ method: 'GET', url: `/api/variables/motd?app_id=${application.app_id}&key=${key}&password=hunter2hunter2` });

    const text = logged();
    expect(text).toContain('/api/variables/motd?app_id=');
    expect(text).toContain('license_key=[redacted]&hwid=PC-1');
    expect(text.toUpperCase()).not.toContain(key);
    expect(text).not.toContain('hunter2');
  });
});

describe('logged errors', () => {
  it('have credentials in quoted URLs redacted, as Fastify quotes request URLs in its messages', () => {
    lines.length = 0;
    const log = createLogger('trace', { write: (line: string) => void lines.push(line) });
    log.warn({ err: new Error('Reply was already sent, did you forget to "return reply" in the "/api/x?license_key=ABCD1234&Authorization=Bearer%20kc_live_x" (GET) route?') });
    const text = logged();
    expect(text).toContain('Reply was already sent');
    expect(text).not.toContain('ABCD1234');
    expect(text).not.toContain('kc_live_x');
  });

  it('never quote the bound values of a failed query (license keys, hashes), at any depth of causes', () => {
    lines.length = 0;
    const log = createLogger('trace', { write: (line: string) => void lines.push(line) });
    const cause = Object.assign(new Error('duplicate key value violates unique constraint "licenses_application_key_key"'), { code: '23505' });
    // A value crafted to look like the end of the list must not leave the rest of it behind.
    const failed = new DrizzleQueryError('insert into licenses (license_key, hwid) values ($1, $2)', ['KEY-AAAA1111', 'x\n    at y', '$argon2id$v=19$secret-hash'], cause);
    log.error({ err: failed }, 'unhandled error');
    log.error(failed);
    log.warn({ err: new Error('outer', { cause: failed }) }, 'wrapped');
    const text = logged();
    expect(text).toContain('insert into licenses');
    expect(text).toContain('params: [redacted]');
    expect(text).toContain('"sqlState":"23505"');
    for (const secret of ['KEY-AAAA1111', 'secret-hash', 'x\\n    at y']) expect(text).not.toContain(secret);
  });

  it("never carry a Discord request's body or the interaction token of its URL", () => {
    lines.length = 0;
    const log = createLogger('trace', { write: (line: string) => void lines.push(line) });
    const url = 'http://127.0.0.1:9/api/v10/webhooks/800000000000000001/aW50ZXJhY3Rpb246dG9rZW4/messages/@original';
    const err = new DiscordAPIError({ code: 50035, message: 'Invalid Form Body' }, 50035, 400, 'PATCH', url, { body: { content: 'GENERATEDKEY0001' }, files: [] });
    log.error({ err }, `editing ${url} failed`);
    const text = logged();
    expect(text).toContain('Invalid Form Body');
    expect(text).toContain('/webhooks/800000000000000001/[redacted]/messages/@original');
    expect(text).not.toContain('GENERATEDKEY0001');
    expect(text).not.toContain('aW50ZXJhY3Rpb246dG9rZW4');
  });

  it('leave text without credentials alone', () => {
    expect(redactQueries('/api/licenses?status=active&plan_id=3')).toBe('/api/licenses?status=active&plan_id=3');
    expect(redactQueries('no query here')).toBe('no query here');
  });
});
