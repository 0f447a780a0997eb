import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe('creating a plan with bad input', () => {
  it('rejects each invalid field, naming it, and creates nothing', async () => {
    const s = await h.seller();
    const app = (await s.call('POST', '/api/applications', { name: 'App' })).json();
    const base = { application_id: app.id, name: 'Plan', duration_days: 30 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, name: '' }, 'body.name'],
      [{ ...base, name: 'n'.repeat(101) }, 'body.name'],
      [{ ...base, duration_days: -1 }, 'body.duration_days'],
      [{ ...base, duration_days: 1.5 }, 'body.duration_days'],
      [{ ...base, duration_days: '30' }, 'body.duration_days'],
      [{ ...base, duration_days: 36_501 }, 'body.duration_days'],
      [{ ...base, max_hwids: 0 }, 'body.max_hwids'],
      [{ ...base, hwid_reset_cooldown_hours: -1 }, 'body.hwid_reset_cooldown_hours'],
      [{ ...base, discord_role_id: 'role-name' }, 'body.discord_role_id'],
      [{ ...base, application_id: 'abc' }, 'body.application_id'],
      [{ name: 'Plan', duration_days: 30 }, 'body.application_id'],
    ];
    for (const [body, path] of cases) {
      const err = expectError(await s.call('POST', '/api/plans/', body), 400, 'VALIDATION_ERROR');
      expect(
        err.details?.map((d) => d.path),
        JSON.stringify(body),
      ).toEqual([path]);
    }
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()).toEqual([]);
  });

  it('answers 404 for an application that does not exist', async () => {
    const s = await h.seller();
    const err = expectError(await s.call('POST', '/api/plans/', { application_id: 987654, name: 'Plan', duration_days: 30 }), 404, 'NOT_FOUND');
    expect(err.message).toBe('Application not found');
  });
});

describe('updating and deleting plans with bad input', () => {
  it('rejects invalid fields on update and leaves the plan unchanged', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    expectError(await s.call('PUT', `/api/plans/${plan.id}`, { duration_days: -5 }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('PUT', `/api/plans/${plan.id}`, { name: '' }), 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()).toEqual([expect.objectContaining({ name: plan.name, duration_days: 30 })]);
  });

  it('answers 404 for a plan that does not exist', async () => {
    const s = await h.seller();
    expect(expectError(await s.call('PUT', '/api/plans/987654', { name: 'x' }), 404, 'NOT_FOUND').message).toBe('Plan not found');
    expectError(await s.call('DELETE', '/api/plans/987654'), 404, 'NOT_FOUND');
    expectError(await s.call('GET', '/api/applications/987654/plans'), 404, 'NOT_FOUND');
  });

  it('rejects a force value other than true/false', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    expectError(await s.call('DELETE', `/api/plans/${plan.id}?force=yes`), 400, 'VALIDATION_ERROR');
  });
});

describe('deleting a plan that licenses use', () => {
  it('answers 409 PLAN_IN_USE and deletes neither the plan nor its licenses', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const keys = await s.generate(plan.id, 2);
    for (const url of [`/api/plans/${plan.id}`, `/api/plans/${plan.id}?force=false`]) {
      const err = expectError(await s.call('DELETE', url), 409, 'PLAN_IN_USE');
      expect(err.message).toContain('2 licenses');
    }
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()).toHaveLength(1);
    for (const k of keys) expect((await s.call('GET', `/api/licenses/${k.id}`)).statusCode).toBe(200);
  });
});
