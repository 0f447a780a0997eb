import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import { requireGuildLink, sellerActorFor } from '../src/core/discord/guild-link.js';
import { getLicense } from '../src/core/licenses/get-license.js';
import { listPlans } from '../src/core/plans/list-plans.js';
import { getStatistics } from '../src/core/statistics/get-statistics.js';
import { client, startHarness, type Harness, type LicenseView, type PlanView, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import {
  sendInteraction,
  ephemeralText as ephemeral,
  autocomplete,
  button,
  GUILD,
  linkServer,
  MANAGE_GUILD,
  modal,
  select,
  slash,
  discordKeyPair,
  type KeyPair,
  type Member,
} from './support/discord-interactions.js';

/**
 * One developer owns two applications, A and B; the server is linked to A with that developer's
 * API key. From the server, B must not exist: whatever id or key of B is typed, the answer is the
 * one for an id or key that does not exist, and nothing in B changes.
 */

let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let seller: Seller;
let appA: { id: number; app_id: string };
let planA: PlanView;
let appB: { id: number; app_id: string };
let planB: PlanView;
let keyB: LicenseView;
let boundB: LicenseView;
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
const alice: Member = { id: '100000000000000061', name: 'Alice' };
const NO_SUCH_PLAN = 999_999;
const NO_SUCH_KEY = 'F'.repeat(32);

beforeAll(async () => {
  stub = await startDiscordStub();
  keys = discordKeyPair();
  h = await startHarness({ discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  seller = await h.seller();
  ({ app: appA, plan: planA } = await seller.setup());
  appB = (await seller.call('POST', '/api/applications', { name: 'Other App' })).json();
  planB = (await seller.call('POST', '/api/plans/', { application_id: appB.id, name: 'Hidden Yearly', duration_days: 365 })).json();
  [keyB, boundB] = (await seller.generate(planB.id, 2)) as [LicenseView, LicenseView];
  expect((await client(h, '/api/licenses/validate', { app_id: appB.app_id, license_key: boundB.license_key, hwid: 'B-PC' })).json().code).toBe('VALID');
  // Alice owns a key of B (sold elsewhere); she must not reach it from A's server either.
  await h.deps.db.query('update licenses set discord_user_id = $1 where id = $2', [alice.id, boundB.id]);
  await linkServer(h.app, keys, seller, admin, appA.app_id);
});
afterAll(async () => {
  await h?.close();
  await stub?.close();
});

const send = (payload: unknown) => sendInteraction(h.app, keys, payload);
const ephemeralText = (payload: unknown) => ephemeral(h.app, keys, payload);

/** Everything of application B a Discord command could change, in a comparable form. */
async function stateOfB() {
  const q = (sql: string) => h.deps.db.query<Record<string, unknown>>(sql, [appB.id]);
  return {
    licenses: await q(
      'select id, license_key, status, hwids, notes, ban_reason, expires_at, duration_days, discord_user_id, last_hwid_reset_at, updated_at from licenses where application_id = $1 order by id',
    ),
    plans: await q('select * from plans where application_id = $1 order by id'),
    jobs: await q('select id from jobs where application_id = $1'),
    audit: await q('select id, action from audit_logs where application_id = $1 order by id'),
    outbox: await q('select id, type from outbox where application_id = $1 order by id'),
  };
}

const generateWith = (planId: number, count: number, extra: { name: string; value: string | number }[] = []) =>
  slash(admin, 'generate', [{ name: 'plan', value: String(planId) }, { name: 'count', value: count }, ...extra]);

describe("/generate with a plan of the developer's other application", () => {
  it('is refused exactly like a plan that does not exist, creating no key', async () => {
    const before = await stateOfB();
    const refusal = await ephemeralText(generateWith(planB.id, 1));
    expect(refusal).toBe('❌ Plan not found');
    expect(await ephemeralText(generateWith(NO_SUCH_PLAN, 1))).toBe(refusal);
    expect(await stateOfB()).toEqual(before);
  });

  it('is refused for a bulk job too, before anything is queued', async () => {
    const before = await stateOfB();
    expect(await ephemeralText(generateWith(planB.id, h.deps.limits.maxSyncGenerate + 1))).toBe('❌ Plan not found');
    expect(await stateOfB()).toEqual(before);
  });

  it.each([
    ['more keys than fit in a message', [] as { name: string; value: string }[], 30],
    ['keys for a member', [{ name: 'user', value: alice.id }], 1],
  ])('is refused when asking for %s: the deferred reply says so, and nobody is sent a key', async (_what, extra, count) => {
    const before = await stateOfB();
    stub.clear();
    const payload = generateWith(planB.id, count, extra);
    expect(await send(payload)).toEqual({ type: 5, data: { flags: 64 } });
    await h.bot!.idle();
    const edits = stub.find('PATCH', new RegExp(`/webhooks/800000000000000001/${payload.token}/messages/@original$`));
    expect(edits.map((e) => e.json.content)).toEqual(['❌ Plan not found']);
    expect(stub.find('POST', /\/users\/@me\/channels$|\/channels\/dm/)).toHaveLength(0);
    expect(await stateOfB()).toEqual(before);
  });

  it("still generates with the linked application's own plans", async () => {
    expect(await ephemeralText(generateWith(planA.id, 1))).toContain('Generated 1 key');
  });
});

describe("/license with a key of the developer's other application", () => {
  const subcommands = [
    ['info', []],
    ['delete', []],
    ['notes', [{ name: 'notes', value: 'moved' }]],
    ['ban', [{ name: 'reason', value: 'nope' }]],
    ['extend', [{ name: 'days', value: 30 }]],
    ['reset-hwid', []],
  ] as const;

  it.each(subcommands)('/license %s is refused exactly like a key that does not exist, changing nothing', async (sub, extra) => {
    const before = await stateOfB();
    for (const key of [keyB.license_key, boundB.license_key, boundB.license_key.toLowerCase()]) {
      const refusal = await ephemeralText(slash(admin, 'license', [{ name: 'key', value: key }, ...extra], sub));
      expect(refusal).toBe('❌ License not found');
      expect(await ephemeralText(slash(admin, 'license', [{ name: 'key', value: NO_SUCH_KEY }, ...extra], sub))).toBe(refusal);
    }
    expect(await stateOfB()).toEqual(before);
  });
});

describe('views of the linked application', () => {
  it("/plans lists only the linked application's plans", async () => {
    const text = JSON.stringify(await send(slash(admin, 'plans')));
    expect(text).toContain('Monthly');
    expect(text).not.toContain('Hidden Yearly');
  });

  it("/stats counts only the linked application's licenses", async () => {
    const [row] = await h.deps.db.query<{ n: string }>('select count(*) as n from licenses where application_id = $1', [appA.id]);
    const licenses = (await send(slash(admin, 'stats'))).data.embeds[0].fields[0].value as string;
    expect(licenses.split(' ')[0]).toBe(String(row!.n));
  });

  it("autocomplete offers only the linked application's plans, even typing the other's name", async () => {
    expect((await send(autocomplete(admin, 'generate', 'plan', 'hidden'))).data.choices).toEqual([]);
    expect((await send(autocomplete(admin, 'generate', 'plan', ''))).data.choices).toEqual([{ name: 'Monthly (30 days)', value: String(planA.id) }]);
  });
});

describe("customers and the developer's other application", () => {
  it('cannot redeem a key of it: the key does not exist here', async () => {
    const before = await stateOfB();
    expect(await ephemeralText(modal(alice, 'lic:redeem-modal', { license_key: keyB.license_key }))).toBe('❌ That key does not exist for this application. Check for typos.');
    expect(await stateOfB()).toEqual(before);
  });

  it('neither see nor reset their own license of it from this server', async () => {
    const before = await stateOfB();
    expect(await ephemeralText(slash(alice, 'licenses'))).toContain('no licenses here yet');
    expect(await ephemeralText(button(alice, 'lic:reset'))).toContain('no licenses here');
    expect(await ephemeralText(select(alice, 'lic:reset-select', [String(boundB.id)]))).toBe('❌ That license is not one of yours.');
    expect(await stateOfB()).toEqual(before);
  });
});

describe('a Discord seller in the core', () => {
  // The adapters resolve ids within the linked application; the core refuses the rest by itself,
  // so a command added later cannot forget to.
  const actor = async () => sellerActorFor(await requireGuildLink(h.deps.db.orm, GUILD), admin);
  const notFound = async (work: Promise<unknown>) => {
    const err = await work.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  };

  it('cannot reach the other application by its ids', async () => {
    const seller = await actor();
    await notFound(listPlans(h.deps, seller, appB.id, { page: 1, perPage: 50 }));
    await notFound(getStatistics(h.deps, seller, appB.id));
    await notFound(getLicense(h.deps, seller, boundB.id));
    expect((await listPlans(h.deps, seller, appA.id, { page: 1, perPage: 50 })).items.map((p) => p.id)).toEqual([planA.id]);
  });
});
