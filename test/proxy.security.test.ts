import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** The address the audit log records for a login made through `headers`. */
async function loggedAddress(trustProxy: boolean | number | string[], headers: Record<string, string>, remoteAddress = '10.0.0.5') {
  const app = await buildApp(h.deps, { trustProxy, rateLimits: { sellerPerMinute: 100_000, authPerMinute: 100_000, prefix: 'kc-proxy-test' } });
  try {
    const username = `proxied${Math.floor(Math.random() * 1e9)}`;
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress, headers, payload: { email: `${username}@example.test`, username, password: 'a long enough password' } });
    if (res.statusCode !== 201) return { status: res.statusCode, body: res.json(), ip: null };
    const token = res.json().token as string;
    const created = await app.inject({ method: 'POST', url: '/api/applications', remoteAddress, headers: { ...headers, authorization: `Bearer ${token}` }, payload: { name: 'Proxied' } });
    const [row] = await h.deps.db.query<{ ip: string | null }>(`select ip from audit_logs where application_id = $1 order by id desc limit 1`, [created.json().id]);
    return { status: res.statusCode, body: res.json(), ip: row?.ip ?? null };
  } finally {
    await app.close();
  }
}

describe('running behind a proxy (TRUST_PROXY)', () => {
  it('believes only as many X-Forwarded-For hops as configured', async () => {
    const chain = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' };
    // Off: the connection's own address, whatever the header says.
    expect((await loggedAddress(false, chain)).ip).toBe('10.0.0.5');
    // One hop (one load balancer that appends the address it saw): the client cannot choose its IP.
    expect((await loggedAddress(1, chain)).ip).toBe('203.0.113.9');
    // A list of proxy addresses: the first address not in it.
    expect((await loggedAddress(['10.0.0.0/8'], chain)).ip).toBe('203.0.113.9');
    // Everything: the leftmost entry, which the client wrote.
    expect((await loggedAddress(true, chain)).ip).toBe('6.6.6.6');
  });

  it('refuses a forwarded address that is not an IP address before anything records it', async () => {
    const junk = await loggedAddress(true, { 'x-forwarded-for': `${'x'.repeat(8000)}, 203.0.113.9` });
    expect(junk.status).toBe(400);
    expect(junk.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
    expect(JSON.stringify(junk.body)).not.toContain('xxxx');
  });
});
