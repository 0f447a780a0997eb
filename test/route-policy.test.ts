import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationIdFor } from '../src/http/operation-ids.js';
import { routePolicy } from '../src/http/route-policy.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * Each route declares its access and rate-limit class in its own `config`; the client guard, the
 * rate limits and the OpenAPI document read that declaration (no list of URLs elsewhere). These
 * tests hold the declarations to what the routes really do.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '3' } });
});
afterAll(() => h?.close());

type Operation = { security?: unknown[] };
const document = async () => (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };

describe('route policy', () => {
  it('defaults to seller access and the access class of limit', () => {
    expect(routePolicy({})).toEqual({ access: 'seller', limit: 'seller' });
    expect(routePolicy({ config: { access: 'client' } })).toEqual({ access: 'client', limit: 'client' });
    expect(routePolicy({ config: { access: 'public' } })).toEqual({ access: 'public', limit: 'none' });
    expect(routePolicy({ config: { access: 'client', limit: 'login' } })).toEqual({ access: 'client', limit: 'login' });
  });

  it('marks exactly the routes that take no developer token with security: [] — checked against the routes themselves', async () => {
    const { paths } = await document();
    const open: string[] = [];
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const url = path.replace(/\{id\}/g, '1').replace(/\{name\}/g, 'x');
        const res = await h.app.inject({ method: method.toUpperCase() as 'GET', url, payload: method === 'get' || method === 'delete' ? undefined : {} });
        const askedForDeveloper = res.statusCode === 401 && res.json().message === 'Missing or invalid credentials';
        const declaredOpen = Array.isArray(operation.security) && operation.security.length === 0;
        expect(askedForDeveloper, `${method.toUpperCase()} ${path}: declared ${declaredOpen ? 'open' : 'seller'}, answered ${res.statusCode}`).toBe(!declaredOpen);
        if (declaredOpen) open.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(open.sort()).toEqual(
      [
        'GET /api/health',
        'POST /api/auth/register',
        'POST /api/auth/login',
        'POST /api/licenses/validate',
        'POST /api/licenses/check-expiration',
        'POST /api/licenses/heartbeat',
        'POST /api/licenses/release',
        'POST /api/licenses/lease',
        'POST /api/user-auth/create',
        'POST /api/user-auth/login',
        'POST /api/user-auth/validate-license',
        'POST /api/user-auth/update-license',
        'GET /api/user-auth/me',
        'GET /api/variables/{id}', // GET /api/variables/:name, sharing PUT/DELETE's template (src/http/openapi-document.ts)
        'GET /api/files/{id}/download',
        'POST /api/integrations/{id}/{provider}', // the store's call, verified by the store's signature
      ].sort(),
    );
  });

  it('limits a route declared `limit: login` per IP', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: 'nobody', password: 'wrong password' }, remoteAddress: '10.9.8.7' });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe('operation ids', () => {
  it('name every documented operation once, from its method and path', async () => {
    expect(operationIdFor('POST', '/api/licenses/:id/reset-hwid')).toBe('postLicensesByIdResetHwid');
    expect(operationIdFor('GET', '/api/applications/:id/licenses')).toBe('getApplicationsByIdLicenses');
    const { paths } = await document();
    const ids = Object.values(paths).flatMap((methods) => Object.values(methods).map((o) => (o as { operationId?: string }).operationId));
    expect(ids.length).toBeGreaterThan(50);
    for (const id of ids) expect(id).toMatch(/^[a-z]+[A-Za-z0-9]*$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
