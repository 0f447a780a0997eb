import { afterAll, describe, expect, it } from 'vitest';
import { settleWithin } from '../src/settle-within.js';
import { startDiscordStub } from './support/discord-stub.js';
import { discordKeyPair, linkServer, MANAGE_GUILD, modal, postInteraction, select, type KeyPair, type Member } from './support/discord-interactions.js';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * A customer's Reset HWID locks the license row in a transaction and reads the plan's cooldown.
 * That read once went to the pool, not the transaction: it waited for a second connection while
 * holding one. The embedded database has one connection, so a single reset hung, and every route
 * behind it; on Postgres a pool's worth of resets at once (DATABASE_POOL_SIZE, 10 here) held every
 * connection waiting for another. Found by an audit; each case below hung before the fix.
 */
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const customer = (n: number): Member => ({ id: String(100000000000000100n + BigInt(n)), name: `Customer ${n}` });

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A linked server whose `customers` customers have each redeemed a key; one more key is left unredeemed. */
async function customersWithKeys(database: 'pglite' | 'postgres', customers: number) {
  const stub = await startDiscordStub();
  closers.push(() => stub.close());
  const keys: KeyPair = discordKeyPair();
  const h: Harness = await startHarness({ database, discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  closers.push(() => h.close());
  const seller = await h.seller();
  const { app, plan } = await seller.setup({ settings: { hwid_reset_cooldown_hours: 24 } });
  await linkServer(h.app, keys, seller, admin, app.app_id);
  const lics = await seller.generate(plan.id, customers + 1);
  for (let i = 0; i < customers; i++) {
    const r = await postInteraction(h.app, keys, modal(customer(i), 'lic:redeem-modal', { license_key: lics[i]!.license_key }));
    expect(r.json().data.content).toContain('Redeemed');
  }
  const reset = (n: number) => postInteraction(h.app, keys, select(customer(n), 'lic:reset-select', [String(lics[n]!.id)]));
  // Answered or not within 10 s: a hang fails the test with what it found, not a timeout.
  const validateOther = () => settleWithin(client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lics[customers]!.license_key, hwid: 'pc-1' }), 10_000, null);
  return { reset, validateOther };
}

// Each case starts its own Keycord (the embedded database takes seconds to create) and redeems its keys.
describe("a customer's Reset HWID", () => {
  it('answers on the embedded database (one connection), and the routes behind it go on answering', { timeout: 90_000 }, async () => {
    const { reset, validateOther } = await customersWithKeys('pglite', 1);
    const res = await settleWithin(reset(0), 10_000, null);
    expect(res?.json().data.content).toContain('HWID reset');
    expect((await validateOther())?.statusCode).toBe(200);
  });

  it('answers on Postgres when twice the pool of customers reset at once', { timeout: 90_000 }, async () => {
    const { reset, validateOther } = await customersWithKeys('postgres', 20);
    const all = await settleWithin(Promise.all(Array.from({ length: 20 }, (_, i) => reset(i))), 20_000, null);
    expect(all?.map((r) => r.json().data.content)).toEqual(Array(20).fill(expect.stringContaining('HWID reset')));
    expect((await validateOther())?.statusCode).toBe(200);
  });
});
