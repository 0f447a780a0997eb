import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const storedReplay = async (developerId: number, key: string) => {
  const [row] = await h.deps.db.query<{ response_body: string }>('select response_body from idempotency_keys where developer_id = $1 and key = $2', [developerId, key]);
  return row!.response_body;
};

describe('Idempotency-Key replays of answers that carry secrets', () => {
  it('keep the application secret, a new API key and a webhook secret sealed at rest, and still replay them', async () => {
    const s = await h.seller();
    const cases: { key: string; url: (appId: number) => string; body: unknown; secretOf: (json: Record<string, unknown>) => string }[] = [
      { key: 'app-1', url: () => '/api/applications', body: { name: 'Sealed' }, secretOf: (j) => j.secret as string },
      { key: 'apikey-1', url: () => '/api/auth/api-keys', body: { name: 'ci' }, secretOf: (j) => j.key as string },
      { key: 'hook-1', url: (appId) => `/api/applications/${appId}/webhooks`, body: { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] }, secretOf: (j) => j.secret as string },
    ];
    const { app } = await s.setup();
    for (const c of cases) {
      const first = await s.call('POST', c.url(app.id), c.body, { 'idempotency-key': c.key });
      expect(first.statusCode, c.key).toBe(201);
      const secret = c.secretOf(first.json());
      expect(secret.length).toBeGreaterThan(16);

      const stored = await storedReplay(s.developerId, c.key);
      expect(stored, c.key).not.toContain(secret);
      expect(stored).toMatch(/^v1\./);
      expect(() => JSON.parse(stored)).toThrow();

      const replay = await s.call('POST', c.url(app.id), c.body, { 'idempotency-key': c.key });
      expect(replay.statusCode).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toBe(first.body);
    }
  });

  it('replays a row stored in clear before sealing existed, until it ages out', async () => {
    const s = await h.seller();
    const first = await s.call('POST', '/api/applications', { name: 'Legacy' }, { 'idempotency-key': 'legacy-1' });
    await h.deps.db.query('update idempotency_keys set response_body = $3 where developer_id = $1 and key = $2', [s.developerId, 'legacy-1', first.body]);
    const replay = await s.call('POST', '/api/applications', { name: 'Legacy' }, { 'idempotency-key': 'legacy-1' });
    expect(replay.body).toBe(first.body);
  });
});
