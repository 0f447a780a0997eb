import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL } from './support/databases.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * A TCP stand-in between Keycord and Postgres that can take the database away the two ways an
 * outage looks from the client: connections reset (a stopped server) or accepted and then silent
 * (a hung host; postgres.js waits for its connect timeout).
 */
class CuttableProxy {
  mode: 'forward' | 'reset' | 'silent' = 'forward';
  /** Connections opened towards the database since the last reset of this counter. */
  connectionsSeen = 0;
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  async start(upstreamPort: number) {
    this.server = createServer((downstream) => {
      this.connectionsSeen++;
      this.sockets.add(downstream);
      downstream.on('close', () => this.sockets.delete(downstream));
      downstream.on('error', () => {});
      if (this.mode === 'reset') return downstream.resetAndDestroy();
      if (this.mode === 'silent') return;
      const upstream = connect(upstreamPort, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => downstream.destroy());
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  cut(mode: 'reset' | 'silent') {
    this.mode = mode;
    for (const s of this.sockets) s.destroy();
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const proxy = new CuttableProxy();
let h: Harness;
/** The harness that made the database; its close drops it, so it closes last. */
let direct: Harness | undefined;
let appId: string;
let key: string;

beforeAll(async () => {
  await proxy.start(Number(new URL(ADMIN_URL).port || 5432));
  // The harness makes its database first; then the same database is reached through the proxy.
  direct = await startHarness();
  const viaProxy = new URL(direct.databaseUrl);
  viaProxy.port = String(proxy.port);
  const name = viaProxy.pathname;
  await direct.deps.usage.stop();
  h = await startHarness({ env: { DATABASE_URL: viaProxy.toString() } });
  expect(h.config.databaseUrl).toContain(name);
  const s = await h.seller();
  const { app, plan } = await s.setup();
  appId = app.app_id;
  key = (await s.generate(plan.id))[0]!.license_key;
}, 60_000);
afterAll(async () => {
  proxy.mode = 'forward';
  await h?.close();
  await proxy.close();
  // An afterAll registered inside beforeAll never ran: the database outlived every CI run.
  await direct?.close();
});

const validate = () => client(h, '/api/licenses/validate', { app_id: appId, license_key: key, hwid: 'hw-1' });

describe('a database outage', () => {
  for (const mode of ['reset', 'silent'] as const) {
    it(`(${mode === 'reset' ? 'connections refused' : 'connections hang'}) answers 503 fast once known, and recovers on its own`, { timeout: 45_000 }, async () => {
      expect((await validate()).statusCode).toBe(200);
      proxy.cut(mode);
      proxy.connectionsSeen = 0;

      // The first request finds out the hard way (a refused connection, or the 5 s connect timeout).
      const first = await validate();
      expect(first.statusCode).toBe(503);
      expect(first.json()).toMatchObject({ success: false, code: 'UNAVAILABLE' });
      // A probe confirms the failure before the doors close (a client cannot fake an outage).
      await waitFor(() => h.deps.dbAvailability.isDown, 10_000, 'the outage to be confirmed');
      const attemptsAfterFirst = proxy.connectionsSeen;

      // Every later request is answered at once, without another connection attempt of its own.
      const later = await Promise.all(Array.from({ length: 20 }, validate));
      for (const r of later) {
        expect(r.statusCode).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(r.json()).toMatchObject({ success: false, code: 'UNAVAILABLE' });
      }
      const seller = await h.app.inject({ method: 'GET', url: '/api/applications' });
      expect(seller.statusCode).toBe(503);
      // Only the background probe (about one a second) talks to the database meanwhile.
      expect(proxy.connectionsSeen - attemptsAfterFirst).toBeLessThanOrEqual(4);
      const health = await h.app.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ checks: { database: 'down' } });

      proxy.mode = 'forward';
      await waitFor(async () => ((await validate()).statusCode === 200 ? true : undefined), 20_000, 'validation after the database is back');
      expect(h.deps.dbAvailability.isDown).toBe(false);
      expect((await h.app.inject({ method: 'GET', url: '/api/health' })).json()).toMatchObject({ checks: { database: 'ok' } });
    });
  }

  it('is not declared by an error alone: a probe that gets through keeps the doors open', async () => {
    const lookalike = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await h.deps.dbAvailability.reportError(lookalike);
    expect(h.deps.dbAvailability.isDown).toBe(false);
    expect((await validate()).statusCode).toBe(200);
  });
});
