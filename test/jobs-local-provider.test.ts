import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

// What the local provider does with jobs is tested with both providers (jobs-bulk-generation,
// webhooks, jobs-expiry-sweep, discord-notices, jobs-operations); this is what only it has.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local' });
});
afterAll(() => h?.close());

describe('the local job provider (no Redis)', () => {
  it('is the one chosen, and the API reports no Redis to depend on', async () => {
    expect(h.config.jobs.provider).toBe('local');
    expect(h.jobProvider?.kind).toBe('local');
    expect(h.jobs).toBeUndefined();
    const health = (await h.call(null, { method: 'GET', url: '/api/health' })).json();
    expect(health.status).toBe('ok');
    expect(JSON.stringify(health)).not.toContain('redis');
  });
});
