import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lease, OfflineLease, renewalTime, verifyLease, type LeasePayload, type LeaseResult, type LeaseSource, type LeaseStore } from '../src/client/index.js';
import { startHarness, type AppView, type Harness, type Seller } from './support/harness.js';

/** The SDK's offline side: `verifyLease` and the `lease()` helper (OfflineLease). */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** A stand-in for the lease route, signing with a key of its own, as Keycord signs leases. */
function fakeKeycord(hours = 1) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const state = { now: T0, down: false, refuse: null as LeaseResult['code'] | null, calls: 0 };
  const source: LeaseSource = {
    requestLease: async ({ licenseKey, hwid }) => {
      state.calls++;
      if (state.down) throw new TypeError('fetch failed');
      if (state.refuse) return { success: false, code: state.refuse, message: 'refused' };
      const token = signLease(privateKey, {
        v: 1,
        app_id: 'app',
        license_key: licenseKey,
        hwid,
        plan: { id: 1, name: 'Monthly' },
        license_expires_at: null,
        issued_at: new Date(state.now).toISOString(),
        lease_expires_at: new Date(state.now + hours * HOUR).toISOString(),
      });
      return { success: true, code: 'VALID', message: 'License is valid', lease: token };
    },
  };
  return { publicKeyHex: spki.subarray(spki.length - 32).toString('hex'), state, source };
}

function signLease(key: KeyObject, payload: LeasePayload): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${sign(null, Buffer.from(body, 'ascii'), key).toString('base64url')}`;
}

describe('OfflineLease (unit, a stand-in lease route)', () => {
  it('asks for a lease, then renews only once half of it has run, and runs offline on the one it holds', async () => {
    const k = fakeKeycord(1);
    const held = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now });

    expect(await held.check()).toMatchObject({ status: 'valid', online: true });
    expect(k.state.calls).toBe(1);
    const first = held.token!;

    k.state.now = T0 + 29 * MINUTE; // under half-life: no call at all
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
    expect(k.state.calls).toBe(1);

    k.state.now = T0 + 31 * MINUTE; // past half-life: renewed
    const renewed = await held.check();
    expect(renewed).toMatchObject({ status: 'valid', online: true });
    expect(k.state.calls).toBe(2);
    expect(held.token).not.toBe(first);
    expect(renewed.status === 'valid' && renewed.payload.lease_expires_at).toBe(new Date(T0 + 91 * MINUTE).toISOString());

    // Keycord unreachable: the renewed lease holds, offline, until its end.
    k.state.down = true;
    k.state.now = T0 + 80 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
    expect(k.state.calls).toBe(3); // it tried (past half-life), and fell back
    k.state.now = T0 + 91 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'expired', online: false });
  });

  it('never lets its clock go back while it runs, and starts with no lease when nothing is stored', async () => {
    const k = fakeKeycord(1);
    k.state.down = true;
    const held = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now });
    expect(await held.check()).toEqual({ status: 'none', online: false });

    k.state.down = false;
    await held.check();
    k.state.down = true;
    k.state.now = T0 + 61 * MINUTE;
    expect((await held.check()).status).toBe('expired');
    k.state.now = T0 + 10 * MINUTE; // set back after expiry: still expired
    expect((await held.check()).status).toBe('expired');
  });

  it('a decided refusal (a banned key) drops the held lease at once, and tells the store', async () => {
    const k = fakeKeycord(2);
    const saved: (string | null)[] = [];
    const store: LeaseStore = { load: () => null, save: (t) => void saved.push(t) };
    const held = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now, store });
    await held.check();
    k.state.refuse = 'BANNED';
    k.state.now = T0 + 61 * MINUTE;
    expect(await held.check()).toEqual({ status: 'refused', code: 'BANNED', message: 'refused', online: true });
    expect(held.token).toBeNull();
    expect(saved.map((t) => t === null)).toEqual([false, true]);
    // And offline afterwards, nothing is left to run on.
    k.state.down = true;
    expect((await held.check()).status).toBe('none');
  });

  it('a restart offline runs on the stored lease; a stored lease of another machine does not', async () => {
    const k = fakeKeycord(4);
    const first = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now });
    await first.check();
    k.state.down = true;
    k.state.now = T0 + 3 * HOUR;
    const stored = first.token!;
    const again = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now, store: { load: () => stored, save: () => {} } });
    expect(await again.check()).toMatchObject({ status: 'valid', online: false });
    const copied = new OfflineLease(k.source, { licenseKey: 'KEY', hwid: 'PC-2', publicKey: k.publicKeyHex, now: () => k.state.now, store: { load: () => stored, save: () => {} } });
    expect(await copied.check()).toMatchObject({ status: 'wrong_hwid', online: false });
    // Nor does one stored for another license of the application (the app now runs another key).
    const otherKey = new OfflineLease(k.source, { licenseKey: 'OTHER-KEY', hwid: 'PC-1', publicKey: k.publicKeyHex, now: () => k.state.now, store: { load: () => stored, save: () => {} } });
    expect(await otherKey.check()).toMatchObject({ status: 'wrong_license', online: false });
  });

  it('renewalTime is half-way through the lease', () => {
    const p = { issued_at: new Date(T0).toISOString(), lease_expires_at: new Date(T0 + 10 * HOUR).toISOString() } as LeasePayload;
    expect(renewalTime(p)).toBe(T0 + 5 * HOUR);
    expect(verifyLease('a.b', fakeKeycord().publicKeyHex, { hwid: 'x' }).status).toBe('malformed');
  });
});

describe('lease() against the real server, with a fetch that can fail', () => {
  let h: Harness;
  let s: Seller;
  let base: string;
  let app: AppView;
  let planId: number;
  beforeAll(async () => {
    h = await startHarness();
    base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    s = await h.seller();
    const made = await s.setup({ settings: { max_offline_hours: 1 } });
    app = made.app;
    planId = made.plan.id;
  });
  afterAll(() => h?.close());

  function network() {
    const n = { offline: false, calls: 0, offset: 0 };
    const fetchImpl: typeof fetch = (input, init) => {
      n.calls++;
      return n.offline ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
    };
    return { n, fetchImpl, now: () => Date.now() + n.offset };
  }

  it('online first, then offline on the lease it holds until the lease ends', async () => {
    const [license] = await s.generate(planId);
    const { n, fetchImpl, now } = network();
    const held = lease({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, licenseKey: license!.license_key, hwid: 'LAPTOP', fetch: fetchImpl, now });
    expect(await held.check()).toMatchObject({ status: 'valid', online: true });
    expect(n.calls).toBe(1);

    n.offline = true;
    n.offset = 40 * MINUTE; // past half of the 1-hour lease: it tries to renew, cannot, and runs offline
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
    expect(n.calls).toBe(2);
    n.offset = 61 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'expired', online: false });
  });

  it('renews at half-life when the server answers, and stops at once when the key is banned', async () => {
    const [license] = await s.generate(planId);
    const { n, fetchImpl, now } = network();
    // The client's clock is moved ahead in this test: the answers' signature time must still pass.
    const held = lease({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, licenseKey: license!.license_key, hwid: 'LAPTOP', fetch: fetchImpl, now, maxSkewSeconds: 7200 });
    await held.check();
    const first = held.token;
    n.offset = 20 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
    expect(n.calls).toBe(1);
    n.offset = 31 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'valid', online: true });
    expect(n.calls).toBe(2);
    expect(held.token).not.toBe(first);

    expect((await s.call('POST', `/api/licenses/${license!.id}/ban`, {})).statusCode).toBe(200);
    n.offset = 61 * MINUTE;
    expect(await held.check()).toMatchObject({ status: 'refused', code: 'BANNED', online: true });
    expect(held.token).toBeNull();
  });

  it('LEASES_DISABLED comes back as a refusal', async () => {
    const made = await s.setup({ settings: { max_offline_hours: 0 } });
    const [license] = await s.generate(made.plan.id);
    const held = lease({ baseUrl: base, appId: made.app.app_id, publicKey: made.app.public_key, licenseKey: license!.license_key, hwid: 'LAPTOP' });
    expect(await held.check()).toMatchObject({ status: 'refused', code: 'LEASES_DISABLED', online: true });
  });
});

describe('examples/offline.ts', () => {
  let h: Harness;
  let base: string;
  let app: AppView;
  let planId: number;
  let licenseKey: string;
  beforeAll(async () => {
    h = await startHarness();
    base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const s = await h.seller();
    const made = await s.setup();
    app = made.app;
    planId = made.plan.id;
    const [license] = await s.generate(planId);
    licenseKey = license!.license_key;
  });
  afterAll(() => h?.close());

  it('licenses online, then offline from the lease it saved when the server is gone', async () => {
    const { execFile } = await import('node:child_process');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'keycord-lease-'));
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'examples/offline.ts'],
          { env: { ...process.env, APP_ID: app.app_id, PUBLIC_KEY: app.public_key, LICENSE_KEY: licenseKey, LEASE_FILE: join(dir, 'lease'), ...env } },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    try {
      const online = await run({ KEYCORD_URL: base });
      expect(online.out).toContain('Licensed (Monthly) online');
      expect(online.code).toBe(0);
      // Nothing listens on port 9 of 127.0.0.1: the server is unreachable. A fresh process starts
      // from the saved lease; past half-life is not reached, so it does not even try the network.
      const offline = await run({ KEYCORD_URL: 'http://127.0.0.1:9' });
      expect(offline.out).toContain('Licensed (Monthly) offline');
      expect(offline.code).toBe(0);
      const none = await run({ KEYCORD_URL: 'http://127.0.0.1:9', LEASE_FILE: join(dir, 'missing') });
      expect(none.out).toContain('no offline lease is held');
      expect(none.code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
