import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * A blacklist change applies at once in the process that made it, even when a load of the
 * application was in flight: that load read the row before the change committed, so `invalidate`
 * drops it too, and it is not remembered when it lands (it would have kept the old
 * blacklist_version for a whole TTL).
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '60000' } });
});
afterAll(() => h?.close());

describe('a blacklist change racing an application load in flight', () => {
  it('a HWID blacklisted through this process is refused by this process right after', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
    const [lic] = await s.generate(plan.id);
    const body = { app_id: app.app_id, license_key: lic!.license_key, hwid: 'EVIL-PC' };
    expect((await client(h, '/api/licenses/validate', body)).json().code).toBe('VALID');

    // The cached entry is gone (as at the end of its TTL): the next client request loads the application.
    h.deps.apps.invalidate(app.app_id);
    const db = h.deps.db as { query: (text: string, params?: unknown[]) => Promise<unknown[]> };
    const realQuery = db.query;
    let loadRead!: () => void;
    const readDone = new Promise<void>((r) => (loadRead = r));
    let letGo!: () => void;
    const gate = new Promise<void>((r) => (letGo = r));
    db.query = async (text, params) => {
      const rows = await realQuery(text, params);
      if (text.startsWith('select id, app_id, settings, secret_enc')) {
        loadRead();
        await gate; // the load's answer is on its way back while the seller's change commits
      }
      return rows;
    };
    let inFlight: ReturnType<typeof client> | undefined;
    try {
      inFlight = client(h, '/api/licenses/validate', body);
      await readDone;
      const added = await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'EVIL-PC', reason: 'chargeback' });
      expect(added.statusCode).toBe(201);
    } finally {
      letGo();
      db.query = realQuery;
    }
    await inFlight; // sent before the change: either answer is fair
    expect((await client(h, '/api/licenses/validate', body)).json().code).toBe('BLACKLISTED');
    expect(h.deps.apps.sizes.loading).toBe(0);
  });
});
