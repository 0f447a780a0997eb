import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { recordLease } from '../src/core/licenses/lease-state.js';
import { client, startHarness, type LicenseView } from './support/harness.js';
import { button, MANAGE_GUILD, sendInteraction, slash, type Member } from './support/discord-interactions.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * Offline leases as the seller (/license info) and the customer (My licenses) see them: the
 * machines holding a lease that has not ended, and the latest end. Leases are issued through the
 * real client route; the views are driven through signed interactions.
 */

const HOUR = 3_600_000;
// Whole seconds, so an end shown as a Discord timestamp is exactly the lease's.
const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
beforeAll(async () => {
  linked = await startLinkedDiscord({
    start: (discord) => startHarness({ discord, clock, countRoundTrips: true, env: { APP_CACHE_TTL_MS: '0' } }),
    admin,
    // Several machines per key: leases here are about machines, not about the HWID lock.
    setup: { settings: { rate_limit_per_minute: 0, hwid_lock: false } },
  });
});
afterAll(() => linked?.close());

let buyers = 0;
/** A fresh customer owning a fresh key of the linked application, so each test reads only its own. */
async function ownedKey(): Promise<{ buyer: Member; lic: LicenseView }> {
  const buyer: Member = { id: `1000000000000002${String(++buyers).padStart(2, '0')}`, name: `Buyer ${buyers}` };
  const [lic] = await linked.seller.generate(linked.plan.id);
  await linked.h.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [buyer.id, lic!.id]);
  return { buyer, lic: lic! };
}

async function lease(appId: string, licenseKey: string, hwid: string, ttlHours: number): Promise<Date> {
  const body = (await client(linked.h, '/api/licenses/lease', { app_id: appId, license_key: licenseKey, hwid, ttl_hours: ttlHours })).json();
  expect(body.code).toBe('VALID');
  return new Date(body.lease_expires_at);
}

const discordTime = (d: Date) => `<t:${Math.floor(d.getTime() / 1000)}:f>`;

async function infoLeaseField(licenseKey: string): Promise<string | undefined> {
  const info = await sendInteraction(linked.h.app, linked.keys, slash(admin, 'license', [{ name: 'key', value: licenseKey }], 'info'));
  expect(info.data.embeds[0].title).toBe(`License ${licenseKey}`);
  return (info.data.embeds[0].fields as { name: string; value: string }[]).find((f) => f.name === 'Offline lease')?.value;
}

async function myLicenses(buyer: Member): Promise<string> {
  const mine = await sendInteraction(linked.h.app, linked.keys, button(buyer, 'lic:licenses'));
  expect(mine.data.embeds[0].title).toBe('Your licenses');
  return mine.data.embeds[0].description as string;
}

/** Runs `body` with the clock moved on, and puts it back. */
async function later(ms: number, body: () => Promise<void>) {
  const start = clock.now();
  clock.advance(ms);
  try {
    await body();
  } finally {
    clock.set(start);
  }
}

describe('offline leases on Discord', () => {
  it('a lease issued shows in /license info and in My licenses, until its end, for one machine', async () => {
    const { buyer, lic } = await ownedKey();
    expect(await infoLeaseField(lic.license_key)).toBeUndefined();
    expect(await myLicenses(buyer)).not.toContain('Offline lease');

    const end = await lease(linked.app.app_id, lic.license_key, 'PC-A', 10);
    expect(end.getTime() - clock.now().getTime()).toBe(10 * HOUR);
    expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(end)} (1 machine)`);
    expect(await myLicenses(buyer)).toContain(`Offline lease: until ${discordTime(end)} (1 machine)`);

    // A ban does not reach a machine offline: the lease still runs, and the seller sees until when.
    expect((await linked.seller.call('POST', `/api/licenses/${lic.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
    expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(end)} (1 machine)`);
  });

  it('two machines count 2, with the latest end; a machine renewing keeps one row and its later end', async () => {
    const { buyer, lic } = await ownedKey();
    const endA = await lease(linked.app.app_id, lic.license_key, 'PC-A', 20);
    const endB = await lease(linked.app.app_id, lic.license_key, 'PC-B', 5);
    expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(endA)} (2 machines)`);
    expect(await myLicenses(buyer)).toContain(`Offline lease: until ${discordTime(endA)} (2 machines)`);

    // PC-A asks again for less: its first token still verifies offline until endA, so that end stays.
    await later(HOUR, async () => {
      await lease(linked.app.app_id, lic.license_key, 'PC-A', 1);
      expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(endA)} (2 machines)`);
    });
    const rows = await linked.h.deps.db.query<{ hwid: string; expires_at: Date }>('select hwid, expires_at from license_leases where license_id = $1 order by hwid', [lic.id]);
    expect(rows.map((r) => [r.hwid, new Date(r.expires_at).getTime()])).toEqual([
      ['PC-A', endA.getTime()],
      ['PC-B', endB.getTime()],
    ]);
  });

  it('an ended lease is not shown, and is dropped at the next lease of that license', async () => {
    const { buyer, lic } = await ownedKey();
    await lease(linked.app.app_id, lic.license_key, 'PC-A', 1);
    const endB = await lease(linked.app.app_id, lic.license_key, 'PC-B', 5);

    // PC-A's lease ends at exactly 1 hour: from then on it is not counted.
    await later(HOUR, async () => {
      expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(endB)} (1 machine)`);
      expect(await myLicenses(buyer)).toContain(`Offline lease: until ${discordTime(endB)} (1 machine)`);
    });
    await later(5 * HOUR, async () => {
      expect(await infoLeaseField(lic.license_key)).toBeUndefined();
      expect(await myLicenses(buyer)).not.toContain('Offline lease');

      const endC = await lease(linked.app.app_id, lic.license_key, 'PC-C', 2);
      expect(await infoLeaseField(lic.license_key)).toBe(`until ${discordTime(endC)} (1 machine)`);
      const rows = await linked.h.deps.db.query<{ hwid: string }>('select hwid from license_leases where license_id = $1', [lic.id]);
      expect(rows.map((r) => r.hwid)).toEqual(['PC-C']);
    });
  });

  it('a lease of another license, or of a license in another application, is not shown', async () => {
    const { buyer, lic } = await ownedKey();
    const [sibling] = await linked.seller.generate(linked.plan.id);
    await lease(linked.app.app_id, sibling!.license_key, 'PC-A', 10);

    // The same customer owns a key of the seller's other application, not linked to this server.
    const other = await linked.seller.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
    const [foreign] = await linked.seller.generate(other.plan.id);
    await linked.h.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [buyer.id, foreign!.id]);
    await lease(other.app.app_id, foreign!.license_key, 'PC-A', 10);

    expect(await infoLeaseField(lic.license_key)).toBeUndefined();
    const mine = await myLicenses(buyer);
    expect(mine).toContain(lic.license_key.slice(-4));
    expect(mine).not.toContain('Offline lease');
    // The sibling key does show its own.
    expect(await infoLeaseField(sibling!.license_key)).toContain('(1 machine)');
  });
});

describe('recording a lease', () => {
  it('of a license deleted since validate read it records nothing and does not fail the lease', async () => {
    const { lic } = await ownedKey();
    expect((await linked.seller.call('DELETE', `/api/licenses/${lic.id}`)).statusCode).toBeLessThan(300);
    const now = clock.now();
    await expect(recordLease(linked.h.deps.db, { licenseId: lic.id, hwid: 'PC-A', issuedAt: now, expiresAt: new Date(now.getTime() + HOUR) })).resolves.toBeUndefined();
    const rows = await linked.h.deps.db.query('select 1 from license_leases where license_id = $1', [lic.id]);
    expect(rows).toHaveLength(0);
  });
});

describe('recording a lease while its license is being deleted', () => {
  it('waits for the deletion, then runs the statement again and records nothing', async () => {
    const { lic } = await ownedKey();
    const now = clock.now();
    const sql = postgres(linked.h.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      let recorded: Promise<void> | undefined;
      await sql.begin(async (tx) => {
        await tx`delete from licenses where id = ${lic.id}`;
        // The statement still sees the license (its snapshot), so its insert waits on the deletion's lock.
        recorded = recordLease(linked.h.deps.db, { licenseId: lic.id, hwid: 'PC-A', issuedAt: now, expiresAt: new Date(now.getTime() + HOUR) });
        await new Promise((resolve) => setTimeout(resolve, 300));
      });
      await expect(recorded).resolves.toBeUndefined();
      expect(await linked.h.deps.db.query('select 1 from license_leases where license_id = $1', [lic.id])).toHaveLength(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('recording the leases answered together', () => {
  it('writes them in one statement: a machine leasing twice keeps the later end, lapsed rows go, a deleted license is left out', async () => {
    const db = linked.h.deps.db;
    const { lic } = await ownedKey();
    const { lic: gone } = await ownedKey();
    const now = clock.now();
    const at = (hours: number) => new Date(now.getTime() + hours * HOUR);
    // A machine whose lease has ended, and one whose lease still runs.
    await recordLease(db, { licenseId: lic.id, hwid: 'PC-OLD', issuedAt: at(-10), expiresAt: at(-1) });
    await recordLease(db, { licenseId: lic.id, hwid: 'PC-LIVE', issuedAt: at(-1), expiresAt: at(5) });
    expect((await linked.seller.call('DELETE', `/api/licenses/${gone.id}`)).statusCode).toBeLessThan(300);

    // Added in the same turn of the event loop: one batch, one statement.
    const counted = await linked.h.roundTrips!.measure(() =>
      Promise.all([
        recordLease(db, { licenseId: lic.id, hwid: 'PC-A', issuedAt: now, expiresAt: at(3) }),
        recordLease(db, { licenseId: lic.id, hwid: 'PC-A', issuedAt: now, expiresAt: at(1) }),
        recordLease(db, { licenseId: lic.id, hwid: 'PC-B', issuedAt: now, expiresAt: at(2) }),
        recordLease(db, { licenseId: gone.id, hwid: 'PC-A', issuedAt: now, expiresAt: at(2) }),
      ]),
    );
    expect(counted.statements).toBe(1);

    const rows = await db.query<{ hwid: string; expires_at: Date | string }>('select hwid, expires_at from license_leases where license_id = $1 order by hwid', [lic.id]);
    expect(rows.map((r) => [r.hwid, new Date(r.expires_at).getTime()])).toEqual([
      ['PC-A', at(3).getTime()],
      ['PC-B', at(2).getTime()],
      ['PC-LIVE', at(5).getTime()],
    ]);
    expect(await db.query('select 1 from license_leases where license_id = $1', [gone.id])).toHaveLength(0);
  });
});

describe('recording a lease on the embedded database (PGlite)', () => {
  it('keeps one row per machine there too', async () => {
    const embedded = await startHarness({ database: 'pglite' });
    try {
      const s = await embedded.seller();
      const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
      const [lic] = await s.generate(plan.id);
      for (const hwid of ['A', 'B', 'A']) {
        const body = (await client(embedded, '/api/licenses/lease', { app_id: app.app_id, license_key: lic!.license_key, hwid, ttl_hours: 3 })).json();
        expect(body.code).toBe('VALID');
      }
      const rows = await embedded.deps.db.query<{ hwid: string }>('select hwid from license_leases where license_id = $1 order by hwid', [lic!.id]);
      expect(rows.map((r) => r.hwid)).toEqual(['A', 'B']);
    } finally {
      await embedded.close();
    }
  });
});
