import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const COUNT = 50_000;
const dataDir = mkdtempSync(join(tmpdir(), 'keycord-local-killed-'));
const running: KeycordProcess[] = [];
afterAll(() => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm start` on a machine with nothing but Node: embedded PGlite in DATA_DIR, no Redis. */
async function start() {
  const keycord = await startKeycordProcess({
    DATA_DIR: dataDir,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    JOB_PROVIDER: undefined,
    QUEUE_PREFIX: undefined,
    KEYCORD_SECRET: 'b'.repeat(64),
    ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
    OUTBOX_POLL_MS: '25',
    // Long enough that the kill below lands between the first attempt and the second.
    WEBHOOK_RETRY_BASE_MS: '3000',
    GENERATE_BATCH_SIZE: '1000',
  });
  running.push(keycord);
  return keycord;
}

async function kill9(keycord: KeycordProcess) {
  keycord.child.kill('SIGKILL');
  await keycord.exited;
}

describe('the local provider killed with kill -9 on the embedded database', () => {
  it('finishes a 50,000-key job with exactly 50,000 keys and a webhook retry schedule under the same delivery id after a restart', { timeout: 240_000 }, async () => {
    const rx = await startReceiver((_r, n) => (n <= 2 ? 500 : 204));
    try {
      let keycord = await start();
      expect(keycord.output()).toMatch(/job provider: local/);
      const reg = await keycord.call('POST', '/api/auth/register', { email: 'killed@example.test', username: 'killed', password: 'correct horse battery' });
      expect(reg.status).toBe(201);
      const token = String(reg.body.token);
      const app = (await keycord.call('POST', '/api/applications', { name: 'Killed' }, token)).body;
      const plan = (await keycord.call('POST', '/api/plans/', { application_id: app.id, name: 'Monthly', duration_days: 30 }, token)).body;
      const hook = (await keycord.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] }, token)).body;
      const lic = (await keycord.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, format: 'random' }, token)).body.licenses[0];
      expect((await keycord.call('POST', `/api/licenses/${lic.id}/ban`, {}, token)).status).toBe(200);
      const job = (await keycord.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: COUNT }, token)).body.job;

      const deliveries = async () => (await keycord.call('GET', `/api/webhooks/${hook.id}/deliveries`, undefined, token)).body as unknown as { id: number; status: string; attempts: number }[];
      const jobNow = async () => (await keycord.call('GET', `/api/jobs/${job.id}`, undefined, token)).body;
      await waitFor(async () => ((await deliveries())[0]?.attempts ?? 0) >= 1 || undefined, 30_000, 'a first, failed delivery attempt');
      await waitFor(async () => ((await jobNow()).generated > 0 ? true : undefined), 60_000, 'the job to start');
      await kill9(keycord);
      expect(rx.received).toHaveLength(1);

      keycord = await start();
      const done = await waitFor(
        async () => {
          const j = await jobNow();
          return j.status === 'completed' || j.status === 'failed' ? j : undefined;
        },
        180_000,
        'the job to finish after the restart',
      );
      expect(done).toMatchObject({ status: 'completed', count: COUNT, generated: COUNT });
      const keys = (await fetch(`${keycord.base}/api/jobs/${job.id}/licenses?format=txt`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text())).trim().split('\n');
      expect(keys).toHaveLength(COUNT);
      expect(new Set(keys).size).toBe(COUNT);

      const [delivery] = await waitFor(
        async () => {
          const list = await deliveries();
          return list[0]?.status === 'delivered' ? list : undefined;
        },
        60_000,
        'the delivery to succeed after the restart',
      );
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(rx.received.map((r) => r.headers['x-keycord-delivery'])).toEqual([delivery!.id, delivery!.id, delivery!.id].map(String));
    } finally {
      await rx.close();
    }
  });
});
