import postgres, { type TransactionSql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkGuild } from '../src/core/discord/link-guild.js';
import { settleWithin } from '../src/settle-within.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { inOtherSession } from './support/other-session.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * An admin removed (or lowered) while a write of theirs is under way: the write's role check ran
 * before the removal, and it committed after the removal had answered 200 — an admin being removed
 * could add a collaborator of their own that outlived them (an audit). An admin's write now holds
 * its author's membership until it commits, so the two are ordered.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** An owner's application with `names` added as admins, and the admins. */
async function appWithAdmins<N extends string[]>(...names: N) {
  const owner = await h.seller('owner');
  const { app } = await owner.setup();
  const admins: Seller[] = [];
  for (const name of names) {
    const admin = await h.seller(name);
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: admin.username, role: 'admin' })).statusCode).toBe(201);
    admins.push(admin);
  }
  return { owner, app, admins: admins as { [K in keyof N]: Seller } };
}

/**
 * Another session takes `hold`; `first` starts and waits on it, then `second` starts and waits too
 * (on the hold, or on `first`); the hold is let go, and both outcomes come back in that order.
 */
async function racedBehindHold<A, B>(hold: (tx: TransactionSql) => Promise<unknown>, first: () => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  let a!: Promise<A>;
  let b!: Promise<B>;
  await inOtherSession(h, async (tx) => {
    await hold(tx);
    a = first();
    await untilLockWaiters(h.deps.db, 1, 'the first to wait');
    b = second();
    await untilLockWaiters(h.deps.db, 2, 'the second to wait');
  });
  return [await a, await b];
}

describe("an admin's write racing their removal", () => {
  it('is ordered before the removal: the removal answers once the write has committed, and the log says so', async () => {
    const {
      owner,
      app,
      admins: [admin],
    } = await appWithAdmins('admin');
    const alt = await h.seller('alt');

    // The admin's add is held between its role check and its insert: another session holds the
    // added developer's row (the insert's foreign-key check waits on it).
    const sql = postgres(h.databaseUrl, { max: 2, onnotice: () => {} });
    const held = await sql.reserve();
    try {
      await held`begin`;
      await held`select id from developers where id = ${alt.developerId} for update`;
      const adding = admin.call('POST', `/api/applications/${app.id}/collaborators`, { login: alt.username, role: 'admin' });
      await untilLockWaiters(h.deps.db, 1, "the admin's add to wait on the held row");

      const removing = owner.call('DELETE', `/api/applications/${app.id}/collaborators/${admin.developerId}`);
      // The removal waits for the admin's write under way.
      expect(await settleWithin(removing, 1000, 'still waiting')).toBe('still waiting');
      await held`rollback`;
      expect((await adding).statusCode).toBe(201);
      expect((await removing).statusCode).toBe(200);
    } finally {
      held.release();
      await sql.end();
    }
    expect((await admin.call('GET', `/api/applications/${app.id}`)).statusCode).toBe(404);
    // The owner sees what the admin did before being removed, in that order.
    const log = (await owner.call('GET', `/api/applications/${app.id}/logs?per_page=5`)).json() as { action: string; target: string }[];
    expect(log.slice(0, 2).map((e) => `${e.action} ${e.target}`)).toEqual([`collaborator.removed developer:${admin.developerId}`, `collaborator.added developer:${alt.developerId}`]);
  });

  it('two admins removing each other at once take turns: one is removed, the other then finds itself gone (no deadlock, no 409)', async () => {
    const {
      app,
      admins: [a, b],
    } = await appWithAdmins('a', 'b');
    // A's removal is held at A's own membership row; B's comes meanwhile.
    const [aRemovesB, bRemovesA] = await racedBehindHold(
      (tx) => tx`select 1 from application_members where application_id = ${app.id} and developer_id = ${a.developerId} for update`,
      () => a.call('DELETE', `/api/applications/${app.id}/collaborators/${b.developerId}`),
      () => b.call('DELETE', `/api/applications/${app.id}/collaborators/${a.developerId}`),
    );
    expect([aRemovesB.statusCode, bRemovesA.statusCode]).toEqual([200, 404]);
  });

  it("the owner's delete of the application waits for an admin's write under way, and both go through", async () => {
    const {
      owner,
      app,
      admins: [admin],
    } = await appWithAdmins('admin');
    const hook = await owner.call('POST', `/api/applications/${app.id}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] });
    expect(hook.statusCode).toBe(201);
    // The admin's test event is held at its outbox insert; the owner deletes the application meanwhile.
    const [testing, deleting] = await racedBehindHold(
      (tx) => tx`lock table outbox in access exclusive mode`,
      () => admin.call('POST', `/api/webhooks/${hook.json().id}/test`),
      () => owner.call('DELETE', `/api/applications/${app.id}`),
    );
    expect([testing.statusCode, deleting.statusCode]).toEqual([202, 200]);
  });

  it("a Discord /setup by an admin beside the owner's delete of the application waits for it, then finds the application gone", async () => {
    const {
      owner,
      app,
      admins: [admin],
    } = await appWithAdmins('admin');
    const apiKey = (await admin.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
    const member = { id: '100000000000000991', name: 'Admin' };
    // The delete is held once it has the application row (at the owner's membership, which its cascade removes).
    const [deleting, linking] = await racedBehindHold(
      (tx) => tx`select 1 from application_members where application_id = ${app.id} and developer_id = ${owner.developerId} for update`,
      () => owner.call('DELETE', `/api/applications/${app.id}`),
      () =>
        linkGuild(h.deps, { guildId: '900000000000000991', appId: app.app_id, apiKey, sellerRoleId: null, logChannelId: null, member }).then(
          () => 'linked',
          (err: Error & { code?: string }) => err.code ?? err.message,
        ),
    );
    expect([deleting.statusCode, linking]).toEqual([200, 'NOT_FOUND']);
  });

  it("is refused once the removal has committed, and a lowered admin's is forbidden", async () => {
    const {
      owner,
      app,
      admins: [admin],
    } = await appWithAdmins('admin');
    const other = await h.seller('other');
    expect((await owner.call('PUT', `/api/applications/${app.id}/collaborators/${admin.developerId}`, { role: 'manager' })).statusCode).toBe(200);
    expect((await admin.call('POST', `/api/applications/${app.id}/collaborators`, { login: other.username, role: 'viewer' })).statusCode).toBe(403);
    expect((await owner.call('DELETE', `/api/applications/${app.id}/collaborators/${admin.developerId}`)).statusCode).toBe(200);
    expect((await admin.call('POST', `/api/applications/${app.id}/collaborators`, { login: other.username, role: 'viewer' })).statusCode).toBe(404);
  });
});
