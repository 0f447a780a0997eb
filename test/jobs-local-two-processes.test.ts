import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { createDb, type Db } from '../src/db/client.js';
import { startLocalJobProvider, type LocalJobProvider } from '../src/jobs/local/local-job-provider.js';
import { startHarness, type Harness } from './support/harness.js';
import { startHeldReceiver, startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * Without REDIS_URL the job provider is `local`, in every process started on the DATABASE_URL
 * (README: "To run several processes, use DATABASE_URL"). Two such processes share the outbox
 * (SKIP LOCKED claims) and every table; neither may repeat what the other does: a retry POSTed by
 * both, an event's listeners (the Discord notices) run by both.
 */
describe('two processes running the local provider on one Postgres', () => {
  let h: Harness;
  let otherDb: Db;
  const providers: LocalJobProvider[] = [];

  const lockHolder = () => lockHolderOf(h.deps.db);

  beforeAll(async () => {
    h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h', JOB_RECONCILE_EVERY: '100ms' } });
    otherDb = await createDb({ databaseUrl: h.databaseUrl, dataDir: h.config.dataDir, poolSize: 5 });
  });
  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await otherDb?.close();
    await h?.close();
  });

  it('each retry is POSTed once, each event reaches the listeners once, and the second process takes over when the first stops', async () => {
    // Fails the first two POSTs, slowly, then answers 200.
    const rx = await startReceiver((_r, n) => (n <= 2 ? { status: 503, delayMs: 300 } : { status: 200, delayMs: 300 }));
    const heard: number[] = [];
    try {
      const start = async (deps: Deps) => {
        const p = await startLocalJobProvider(deps, h.config.jobs);
        p.onEvent(async (e) => {
          if (e.type === 'license.banned') heard.push(e.id);
        });
        providers.push(p);
        return p;
      };
      const first = await start(h.deps);
      // The first process has settled in (and runs the jobs) before the second starts.
      await new Promise((r) => setTimeout(r, 500));
      await start({ ...h.deps, db: otherDb });

      const s = await h.seller();
      const { app, plan } = await s.setup();
      const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] });
      expect(hook.statusCode).toBe(201);
      const [lic, next] = await s.generate(plan.id, 2);
      const banned = async (licenseId: number) => {
        expect((await s.call('POST', `/api/licenses/${licenseId}/ban`, {})).statusCode).toBe(200);
        const [event] = await h.deps.db.query<{ id: string }>(`select id from outbox where type = 'license.banned' and payload->'license'->>'id' = $1::text`, [licenseId]);
        return waitFor(
          async () => {
            const [d] = await h.deps.db.query<{ id: string; status: string; attempts: number }>('select id, status, attempts from webhook_deliveries where webhook_id = $1 and event_id = $2', [
              hook.json().id,
              event!.id,
            ]);
            return d?.status === 'delivered' ? d : undefined;
          },
          20_000,
          'the delivery to succeed',
        );
      };

      const delivery = await banned(lic!.id);
      // Both processes had time to act on anything they would repeat.
      await new Promise((r) => setTimeout(r, 1500));
      expect.soft(rx.received).toHaveLength(3);
      expect.soft(heard).toHaveLength(1);
      expect(delivery.attempts).toBe(3);

      // The first process stops: the second one runs the jobs from then on.
      await first.close();
      await banned(next!.id);
      expect(rx.received).toHaveLength(4);
      expect(heard).toHaveLength(2);
    } finally {
      await rx.close();
    }
  });

  /**
   * The first process dispatches a license.banned event whose first attempt the receiver holds;
   * Postgres drops the connection holding its runner lock, and the second process takes over and
   * dispatches the event again (its listeners run there); `meanwhile` runs then, before the
   * receiver answers the first process's POST. Returns which process ran the listeners, in order.
   */
  const takeoverMidDispatch = async (firstReconcileMs: number, meanwhile: (second: LocalJobProvider) => Promise<void> = async () => {}) => {
    // A fresh pair: an earlier test's process may still run the jobs.
    await Promise.all(providers.splice(0).map((p) => p.close()));
    const rx = await startHeldReceiver();
    const heard: string[] = [];
    try {
      const start = async (name: string, deps: Deps, reconcileEveryMs: number) => {
        // The lock is tried again every reconcile interval (up to 5 s): the first process's longer
        // one leaves the lock to the second once Postgres drops the first one's connection.
        const p = await startLocalJobProvider(deps, { ...h.config.jobs, reconcileEveryMs });
        p.onEvent(async (e) => {
          if (e.type === 'license.banned') heard.push(name);
        });
        providers.push(p);
        return p;
      };
      await start('first', h.deps, firstReconcileMs);
      const holder = await waitFor(lockHolder, 5_000, 'the first process to take the runner lock');
      const second = await start('second', { ...h.deps, db: otherDb }, 100);

      const s = await h.seller();
      const { app, plan } = await s.setup();
      const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] });
      expect(hook.statusCode).toBe(201);
      const [lic] = await s.generate(plan.id, 1);
      expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, {})).statusCode).toBe(200);
      // The first process's dispatch has made the first attempt, which the receiver holds.
      await waitFor(() => rx.held() === 1, 10_000, 'the first attempt to be out');
      await h.deps.db.query('select pg_terminate_backend($1, 5000)', [holder]);
      await waitFor(() => heard.includes('second'), 10_000, 'the second process to dispatch the event');
      await meanwhile(second);
      // The first process's dispatch goes on once its POST is answered: past its listeners.
      rx.release();
      await waitFor(
        async () => (await h.deps.db.query<{ status: string }>('select status from webhook_deliveries where webhook_id = $1', [hook.json().id]))[0]?.status === 'delivered',
        10_000,
        'the first attempt to be recorded',
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(rx.received).toHaveLength(1);
      return heard;
    } finally {
      rx.release();
      await rx.close();
    }
  };

  it('a process that loses the runner lock while an event is out leaves its listeners to the process that took over', async () => {
    expect(await takeoverMidDispatch(10_000)).toEqual(['second']);
  });

  it('the expiry sweep runs in the process that runs the jobs only; one standing by sweeps once it takes over', async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    // The first process swept at start and next sweeps in an hour; the second would every 100 ms.
    const first = await startLocalJobProvider(h.deps, { ...h.config.jobs, expirySweepEveryMs: 3_600_000 });
    providers.push(first);
    await waitFor(lockHolder, 5_000, 'the first process to take the runner lock');
    await new Promise((r) => setTimeout(r, 300));
    providers.push(await startLocalJobProvider({ ...h.deps, db: otherDb }, { ...h.config.jobs, expirySweepEveryMs: 100 }));

    const s = await h.seller();
    const { plan } = await s.setup();
    const [lic] = await s.generate(plan.id, 1);
    await h.deps.db.query(`update licenses set status = 'active', activated_at = now() - interval '31 days', expires_at = now() - interval '1 minute' where id = $1`, [lic!.id]);
    const status = async () => (await h.deps.db.query<{ status: string }>('select status from licenses where id = $1', [lic!.id]))[0]!.status;
    await new Promise((r) => setTimeout(r, 1000));
    expect(await status()).toBe('active');

    await first.close();
    await waitFor(async () => (await status()) === 'expired', 10_000, 'the second process to sweep once it runs the jobs');
  });

  it('a process that has lost the runner lock and taken it back by the time its POST is answered leaves its listeners too', async () => {
    const heard = await takeoverMidDispatch(1_000, async (second) => {
      // The second process stops (a deploy, a restart): the first takes the lock back.
      await second.close();
      await waitFor(lockHolder, 5_000, 'the first process to take the lock back');
    });
    expect(heard).toEqual(['second']);
  });
});

/** The backend holding this database's advisory lock (the runner lock: the only one taken here), if one does. */
async function lockHolderOf(db: Db): Promise<number | undefined> {
  const [row] = await db.query<{ pid: number }>(`select l.pid from pg_locks l join pg_database d on d.oid = l.database where l.locktype = 'advisory' and l.granted and d.datname = current_database()`);
  return row?.pid;
}
