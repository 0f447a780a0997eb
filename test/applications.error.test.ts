import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ limits: { maxApplications: 3 } });
});
afterAll(() => h?.close());

describe('creating an application with bad input', () => {
  it('rejects an unknown settings key, naming it', async () => {
    const s = await h.seller();
    const body = expectError(await s.call('POST', '/api/applications', { name: 'x', settings: { hwid_lok: false } }), 400, 'VALIDATION_ERROR');
    expect(body.details).toEqual([{ path: 'body.settings', message: expect.stringContaining('hwid_lok') }]);
    expect((await s.call('GET', '/api/applications')).json()).toEqual([]);
  });

  it('rejects settings out of range or of the wrong type', async () => {
    const s = await h.seller();
    const cases: [Record<string, unknown>, string][] = [
      [{ max_hwids: 0 }, 'body.settings.max_hwids'],
      [{ max_hwids: 101 }, 'body.settings.max_hwids'],
      [{ max_hwids: 1.5 }, 'body.settings.max_hwids'],
      [{ hwid_reset_cooldown_hours: -1 }, 'body.settings.hwid_reset_cooldown_hours'],
      [{ rate_limit_per_minute: -5 }, 'body.settings.rate_limit_per_minute'],
      [{ paused: 'yes' }, 'body.settings.paused'],
    ];
    for (const [settings, path] of cases) {
      const body = expectError(await s.call('POST', '/api/applications', { name: 'x', settings }), 400, 'VALIDATION_ERROR');
      expect(
        body.details?.map((d) => d.path),
        JSON.stringify(settings),
      ).toEqual([path]);
    }
    expect((await s.call('GET', '/api/applications')).json()).toEqual([]);
  });

  it('requires a name of 1–100 characters and a description of at most 1000', async () => {
    const s = await h.seller();
    for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 'ok', description: 'd'.repeat(1001) }]) {
      expectError(await s.call('POST', '/api/applications', body), 400, 'VALIDATION_ERROR');
    }
  });

  it('stops at the owner limit with 409 LIMIT_REACHED and creates nothing more', async () => {
    const s = await h.seller();
    for (let i = 0; i < 3; i++) expect((await s.call('POST', '/api/applications', { name: `App ${i}` })).statusCode).toBe(201);
    const body = expectError(await s.call('POST', '/api/applications', { name: 'One too many' }), 409, 'LIMIT_REACHED');
    expect(body.message).toContain('3');
    expect((await s.call('GET', '/api/applications')).json()).toHaveLength(3);
    expect((await s.call('GET', '/api/applications/limits')).json()).toMatchObject({ max_applications: 3, applications_used: 3 });
  });
});

describe('the application limit under concurrency', () => {
  it('lets exactly the limit through when many creations arrive at once', async () => {
    const s = await h.seller();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.call('POST', '/api/applications', { name: `Burst ${i}` })));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(3);
    for (const r of results.filter((x) => x.statusCode !== 201)) expectError(r, 409, 'LIMIT_REACHED');
    expect((await s.call('GET', '/api/applications')).json()).toHaveLength(3);
  });
});

describe('updating an application with bad input', () => {
  it('rejects an unknown settings key and leaves the settings unchanged', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'x', settings: { max_hwids: 2 } })).json();
    expectError(await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_hwids: 5, nope: true } }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_hwids: 0 } }), 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', `/api/applications/${app.id}`)).json().settings.max_hwids).toBe(2);
  });
});

describe('addressing applications that do not exist', () => {
  it('answers 404 for every route on an unknown id', async () => {
    const s = await h.seller();
    for (const [method, url, body] of [
      ['GET', '/api/applications/987654', undefined],
      ['PUT', '/api/applications/987654', { name: 'x' }],
      ['DELETE', '/api/applications/987654', undefined],
      ['POST', '/api/applications/987654/rotate-secret', undefined],
    ] as const) {
      const res = await s.call(method, url, body);
      expect(expectError(res, 404, 'NOT_FOUND').message).toBe('Application not found');
    }
  });

  it('answers 400 for an id that is not a positive integer', async () => {
    const s = await h.seller();
    for (const id of ['abc', '0', '-1', '1.5', '99999999999']) {
      expectError(await s.call('GET', `/api/applications/${id}`), 400, 'VALIDATION_ERROR');
    }
  });
});
