import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const planRows = async (applicationId: number) => h.deps.db.query<{ whole: string }>('select row_to_json(p)::text as whole from plans p where application_id = $1 order by id', [applicationId]);

describe("another seller's plans", () => {
  it('are 404 for create (foreign application_id), list, update and delete, as if missing', async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const { app, plan } = await owner.setup();
    const [license] = await owner.generate(plan.id);
    const before = await planRows(app.id);

    const missingPlan = (await intruder.call('PUT', '/api/plans/2147483647', { name: 'x' })).json();
    const missingApp = (await intruder.call('GET', '/api/applications/2147483647/plans')).json();

    expect(expectError(await intruder.call('POST', '/api/plans/', { application_id: app.id, name: 'Backdoor', duration_days: 0 }), 404, 'NOT_FOUND')).toEqual(missingApp);
    expect(expectError(await intruder.call('GET', `/api/applications/${app.id}/plans`), 404, 'NOT_FOUND')).toEqual(missingApp);
    expect(expectError(await intruder.call('PUT', `/api/plans/${plan.id}`, { duration_days: 0, name: 'Free' }), 404, 'NOT_FOUND')).toEqual(missingPlan);
    expect(expectError(await intruder.call('DELETE', `/api/plans/${plan.id}`), 404, 'NOT_FOUND')).toEqual(missingPlan);
    // Even force, and even though the plan is in use: existence is not revealed by a 409.
    expect(expectError(await intruder.call('DELETE', `/api/plans/${plan.id}?force=true`), 404, 'NOT_FOUND')).toEqual(missingPlan);

    expect(await planRows(app.id)).toEqual(before);
    expect((await owner.call('GET', `/api/licenses/${license!.id}`)).statusCode).toBe(200);
  });

  it('cannot be used to generate keys', async () => {
    const owner = await h.seller('owner');
    const intruder = await h.seller('intruder');
    const { app, plan } = await owner.setup();
    const res = await intruder.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 5, format: 'random' });
    expect(expectError(res, 404, 'NOT_FOUND').message).toBe('Plan not found');
    expect(res.headers['x-total-count']).toBeUndefined();
    const list = await owner.call('GET', `/api/applications/${app.id}/licenses`);
    expect(list.json()).toEqual([]);
  });
});
