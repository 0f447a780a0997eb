import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycordClient } from '../src/client/index.js';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { button, MANAGE_GUILD, sendInteraction, slash, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

const clock = fixedClock(new Date('2026-01-01T00:00:00Z'));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock, countRoundTrips: true, env: { APP_CACHE_TTL_MS: '0', USAGE_FLUSH_MS: '60000' } });
});
afterAll(() => h?.close());

const heartbeat = (body: Record<string, unknown>) => client(h, '/api/licenses/heartbeat', body);
const release = (body: Record<string, unknown>) => client(h, '/api/licenses/release', body);
const validate = (body: Record<string, unknown>) => client(h, '/api/licenses/validate', body);

/** An application with floating seats (and the default HWID lock with one slot), and one key. */
async function seatedKey(settings: Record<string, unknown> = { max_concurrent: 3, heartbeat_interval_s: 60 }, plan: Record<string, unknown> = {}) {
  const s = await h.seller();
  const { app, plan: p } = await s.setup({ settings: { rate_limit_per_minute: 0, ...settings }, plan });
  const [lic] = await s.generate(p.id);
  const as = (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid });
  return { s, app, plan: p, lic: lic!, as };
}

describe('floating seats', () => {
  it('20 machines heartbeat at once for 3 seats: exactly 3 are VALID, 17 are told SEATS_FULL', async () => {
    const { as, lic } = await seatedKey();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => heartbeat(as(`PC-${i}`))));
    const bodies = answers.map((a) => a.json());
    expect(bodies.filter((b) => b.code === 'VALID')).toHaveLength(3);
    expect(bodies.filter((b) => b.code === 'SEATS_FULL')).toHaveLength(17);
    expect(bodies.every((b) => b.seats_max === 3 && b.next_heartbeat_s === 60)).toBe(true);
    expect(bodies.filter((b) => b.code === 'SEATS_FULL').every((b) => b.success === false && b.seats_used === 3)).toBe(true);
    const [seats] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from license_seats where license_id = $1', [lic.id]);
    expect(seats!.n).toBe(3);
    // The winners keep their seats on their next heartbeat; the others still wait.
    const winners = bodies.flatMap((b, i) => (b.code === 'VALID' ? [`PC-${i}`] : []));
    for (const hwid of winners) expect((await heartbeat(as(hwid))).json()).toMatchObject({ success: true, code: 'VALID', seats_used: 3 });
    const loser = bodies.findIndex((b) => b.code === 'SEATS_FULL');
    expect((await heartbeat(as(`PC-${loser}`))).json()).toMatchObject({ code: 'SEATS_FULL' });
  });

  it('a machine whose heartbeats stop for two intervals loses its seat to another; not a second sooner', async () => {
    const { as } = await seatedKey();
    for (const hwid of ['A', 'B', 'C']) expect((await heartbeat(as(hwid))).json().code).toBe('VALID');
    const start = clock.now().getTime();
    try {
      clock.advance(60_000);
      for (const hwid of ['A', 'B']) expect((await heartbeat(as(hwid))).json().code).toBe('VALID');
      clock.advance(59_000); // C's last heartbeat was 119 s ago
      expect((await heartbeat(as('D'))).json()).toMatchObject({ code: 'SEATS_FULL', seats_used: 3 });
      clock.advance(1_000); // 120 s = 2 × 60 s: C's seat has lapsed
      expect((await heartbeat(as('D'))).json()).toMatchObject({ success: true, code: 'VALID', seats_used: 3 });
      expect((await heartbeat(as('C'))).json()).toMatchObject({ code: 'SEATS_FULL' });
    } finally {
      clock.set(new Date(start));
    }
  });

  it('a release frees the seat at once', async () => {
    const { as } = await seatedKey({ max_concurrent: 1, heartbeat_interval_s: 300 });
    expect((await heartbeat(as('A'))).json()).toMatchObject({ code: 'VALID', seats_used: 1, seats_max: 1 });
    expect((await heartbeat(as('B'))).json().code).toBe('SEATS_FULL');
    expect((await release(as('A'))).json()).toMatchObject({ success: true, code: 'RELEASED' });
    expect((await release(as('A'))).json()).toMatchObject({ success: true, code: 'NOT_HELD' });
    expect((await heartbeat(as('B'))).json()).toMatchObject({ code: 'VALID', seats_used: 1 });
    const unknown = await release({ ...as('A'), license_key: 'NOPE-NOPE' });
    expect(unknown.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
  });

  it('with seats the HWID slots are not enforced by heartbeat (max_hwids 1, three machines run) and no HWID is bound', async () => {
    const { s, lic, as } = await seatedKey({ max_concurrent: 3, hwid_lock: true, max_hwids: 1 });
    for (const hwid of ['A', 'B', 'C']) expect((await heartbeat(as(hwid))).json()).toMatchObject({ success: true, code: 'VALID' });
    const seller = (await s.call('GET', `/api/licenses/${lic.id}`)).json();
    expect(seller).toMatchObject({ status: 'active', hwids: [] });
    // A heartbeat still requires everything else validate requires.
    expect((await heartbeat({ ...as('A'), license_key: 'NOPE-NOPE' })).json()).toMatchObject({ code: 'NOT_FOUND', seats_max: null });
    await s.call('POST', `/api/licenses/${lic.id}/ban`, { reason: 'chargeback' });
    expect((await heartbeat(as('A'))).json()).toMatchObject({ success: false, code: 'BANNED', seats_max: 3, seats_used: null });
  });

  it('without max_concurrent a heartbeat answers as validate does, HWID slots included, with seats_max null', async () => {
    const { as, app, lic } = await seatedKey({ max_concurrent: null });
    expect((await heartbeat(as('A'))).json()).toMatchObject({ success: true, code: 'VALID', seats_used: null, seats_max: null, next_heartbeat_s: 300 });
    expect((await heartbeat(as('B'))).json()).toMatchObject({ success: false, code: 'HWID_MISMATCH', seats_max: null });
    expect((await validate(as('A'))).json().code).toBe('VALID');
    const [seats] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from license_seats where license_id = $1', [lic.id]);
    expect(seats!.n).toBe(0);
    expect(app.settings).toMatchObject({ max_concurrent: null, heartbeat_interval_s: 300 });
  });

  it("a plan's max_concurrent and heartbeat interval replace the application's", async () => {
    const { as, plan } = await seatedKey({ max_concurrent: null }, { max_concurrent: 2, heartbeat_interval_s: 30 });
    expect(plan).toMatchObject({ max_concurrent: 2, heartbeat_interval_s: 30 });
    expect((await heartbeat(as('A'))).json()).toMatchObject({ code: 'VALID', seats_max: 2, next_heartbeat_s: 30 });
    expect((await heartbeat(as('B'))).json()).toMatchObject({ code: 'VALID', seats_used: 2 });
    expect((await heartbeat(as('C'))).json()).toMatchObject({ code: 'SEATS_FULL' });
  });

  it('refuses settings out of bounds and over-long input', async () => {
    const s = await h.seller();
    for (const settings of [{ max_concurrent: 0 }, { max_concurrent: 1001 }, { heartbeat_interval_s: 9 }, { heartbeat_interval_s: 86_401 }]) {
      expect((await s.call('POST', '/api/applications', { name: 'X', settings })).statusCode).toBe(400);
    }
    const { app, plan } = await s.setup();
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 0 })).statusCode).toBe(400);
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 5, heartbeat_interval_s: 10 })).json()).toMatchObject({ max_concurrent: 5, heartbeat_interval_s: 10 });
    expect((await heartbeat({ app_id: app.app_id, license_key: 'K', hwid: 'x'.repeat(257) })).statusCode).toBe(400);
    expect((await heartbeat({ app_id: app.app_id, license_key: 'K' })).statusCode).toBe(400);
    expect((await release({ app_id: app.app_id, license_key: 'K', hwid: '' })).statusCode).toBe(400);
  });

  it('a heartbeat of a held seat costs no more statements than a validation of the same key: its renewal waits for the usage flush', async () => {
    const { as, lic } = await seatedKey({ max_concurrent: 3, hwid_lock: false }); // interval 300 s: a seat lives 600 s
    const renewedAt = async () => {
      const [row] = await h.deps.db.query<{ at: Date }>('select last_heartbeat_at as at from license_seats where license_id = $1 and hwid = $2', [lic.id, 'A']);
      return row ? new Date(row.at).toISOString() : null;
    };
    const start = clock.now().getTime();
    try {
      for (let i = 0; i < 2; i++) {
        await heartbeat(as('A')); // warm: the first use of a statement on a connection pays a Describe
        await validate(as('A'));
      }
      await h.deps.usage.flush();
      clock.advance(100_000);
      const validation = await h.roundTrips!.measure(async () => expect((await validate(as('A'))).json().code).toBe('VALID'));
      const cost = await h.roundTrips!.measure(async () => expect((await heartbeat(as('A'))).json()).toMatchObject({ code: 'VALID', seats_used: 1 }));
      expect(cost.statements, JSON.stringify({ cost, validation })).toBe(validation.statements);
      expect(cost.roundTrips, JSON.stringify({ cost, validation })).toBeLessThanOrEqual(validation.roundTrips);
      expect(await renewedAt()).toBe(new Date(start).toISOString());
      await h.deps.usage.flush();
      expect(await renewedAt()).toBe(new Date(start + 100_000).toISOString());

      // Closer to its lapse than the recorder's horizon (2 flushes + 5 s = 125 s here), a seat is renewed before the answer.
      clock.advance(600_000 - h.deps.usage.seatRenewalHorizonMs + 1);
      const near = await h.roundTrips!.measure(async () => expect((await heartbeat(as('A'))).json()).toMatchObject({ code: 'VALID', seats_used: 1 }));
      expect(near.statements, JSON.stringify({ near, validation })).toBe(validation.statements + 1);
      expect(await renewedAt()).toBe(clock.now().toISOString());
    } finally {
      clock.set(new Date(start));
    }
  });

  it('a seat released while its renewal waits stays released after the flush', async () => {
    const { as, lic } = await seatedKey({ max_concurrent: 1, hwid_lock: false });
    const start = clock.now().getTime();
    try {
      expect((await heartbeat(as('A'))).json().code).toBe('VALID');
      clock.advance(10_000);
      expect((await heartbeat(as('A'))).json().code).toBe('VALID'); // renewal deferred
      expect((await release(as('A'))).json().code).toBe('RELEASED');
      await h.deps.usage.flush();
      const [seats] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from license_seats where license_id = $1', [lic.id]);
      expect(seats!.n).toBe(0);
      expect((await heartbeat(as('B'))).json()).toMatchObject({ code: 'VALID', seats_used: 1 });
    } finally {
      clock.set(new Date(start));
    }
  });

  it('heartbeats arriving together share their seat statement: 60 at once over 20 machines cost a handful of statements, not 60', async () => {
    const { as } = await seatedKey({ max_concurrent: 20, hwid_lock: false });
    const machines = Array.from({ length: 20 }, (_, i) => `PC-${i}`);
    await Promise.all(machines.map((m) => heartbeat(as(m)))); // every machine takes its seat, and warms the statements
    const cost = await h.roundTrips!.measure(async () => {
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => heartbeat(as(machines[i % 20]!))));
      expect(answers.map((a) => a.json().code)).toEqual(Array(60).fill('VALID'));
      expect(answers.every((a) => a.json().seats_used === 20)).toBe(true);
    });
    expect(cost.statements, JSON.stringify(cost)).toBeLessThanOrEqual(12);
  });

  it('the SDK holds and gives back a seat (signed, nonce-bound answers)', async () => {
    const { app, as } = await seatedKey({ max_concurrent: 1, heartbeat_interval_s: 60 });
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const sdk = new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: (app as { public_key: string }).public_key });
    const licenseKey = as('A').license_key as string;
    expect(await sdk.heartbeat({ licenseKey, hwid: 'A' })).toMatchObject({ success: true, code: 'VALID', seats_used: 1, seats_max: 1, next_heartbeat_s: 60 });
    expect(await sdk.heartbeat({ licenseKey, hwid: 'B' })).toMatchObject({ success: false, code: 'SEATS_FULL' });
    expect(await sdk.release({ licenseKey, hwid: 'A' })).toEqual(expect.objectContaining({ success: true, code: 'RELEASED' }));
    expect(await sdk.heartbeat({ licenseKey, hwid: 'B' })).toMatchObject({ success: true, code: 'VALID' });
  });
});

describe('floating seats on the embedded database (PGlite)', () => {
  it('grants exactly max_concurrent there too, and frees a seat on release', async () => {
    const embedded = await startHarness({ database: 'pglite' });
    try {
      const s = await embedded.seller();
      const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, max_concurrent: 2 } });
      const [lic] = await s.generate(plan.id);
      const as = (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid });
      const answers = await Promise.all(['A', 'B', 'C', 'D', 'E'].map((hwid) => client(embedded, '/api/licenses/heartbeat', as(hwid))));
      expect(answers.filter((a) => a.json().code === 'VALID')).toHaveLength(2);
      const holder = ['A', 'B', 'C', 'D', 'E'][answers.findIndex((a) => a.json().code === 'VALID')]!;
      expect((await client(embedded, '/api/licenses/release', as(holder))).json().code).toBe('RELEASED');
      expect((await client(embedded, '/api/licenses/heartbeat', as('F'))).json()).toMatchObject({ code: 'VALID', seats_used: 2 });
    } finally {
      await embedded.close();
    }
  });
});

describe('floating seats on Discord', () => {
  const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
  const buyer: Member = { id: '100000000000000077', name: 'Buyer' };
  let linked: LinkedDiscord;
  beforeAll(async () => {
    linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin, setup: { settings: { max_concurrent: 3, rate_limit_per_minute: 0 } } });
  });
  afterAll(() => linked?.close());

  it('/license info shows the seats in use, and the customer sees them in My licenses', async () => {
    const { h: lh, keys, seller, app, plan } = linked;
    const [lic] = await seller.generate(plan.id);
    await lh.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [buyer.id, lic!.id]);
    for (const hwid of ['A', 'B']) expect((await client(lh, '/api/licenses/heartbeat', { app_id: app.app_id, license_key: lic!.license_key, hwid })).json().code).toBe('VALID');

    const info = await sendInteraction(lh.app, keys, slash(admin, 'license', [{ name: 'key', value: lic!.license_key }], 'info'));
    expect(info.data.flags).toBe(64);
    expect(info.data.embeds[0].fields).toContainEqual({ name: 'Seats', value: '2 of 3 in use', inline: true });

    const mine = await sendInteraction(lh.app, keys, button(buyer, 'lic:licenses'));
    expect(mine.data.embeds[0].description).toContain('Seats: 2 of 3 in use');

    await client(lh, '/api/licenses/release', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'A' });
    const after = await sendInteraction(lh.app, keys, button(buyer, 'lic:licenses'));
    expect(after.data.embeds[0].description).toContain('Seats: 1 of 3 in use');
  });

  it('a license without floating seats shows no seat line', async () => {
    const { h: lh, keys, seller } = linked;
    const other = await seller.call('POST', '/api/plans/', { application_id: linked.app.id, name: 'Solo', duration_days: 0 });
    const [solo] = await seller.generate(other.json().id);
    await lh.deps.db.query("update applications set settings = settings - 'max_concurrent' where id = $1", [linked.app.id]);
    try {
      const info = await sendInteraction(lh.app, keys, slash(admin, 'license', [{ name: 'key', value: solo!.license_key }], 'info'));
      expect(JSON.stringify(info.data.embeds[0].fields)).not.toContain('Seats');
    } finally {
      await lh.deps.db.query(`update applications set settings = settings || '{"max_concurrent": 3}'::jsonb where id = $1`, [linked.app.id]);
    }
  });
});
