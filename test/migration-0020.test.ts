import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../src/db/migrate.js';
import { startHarness, type Harness } from './support/harness.js';

/*
 * Migration 0020 ends the Discord links that the new rule (a server stays linked only while its
 * linking developer is an admin or the owner) would have ended, had it been there when their
 * developer lost that role. Run here on a database where such links exist, beside ones that stay.
 */
let h: Harness;
let sql: postgres.Sql;
beforeAll(async () => {
  h = await startHarness();
  sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

async function link(guildId: string, applicationId: number, developerId: number) {
  const [token] = await sql`insert into developer_tokens (developer_id, token_hash, kind, name, hint) values (${developerId}, ${`hash-${guildId}`}, 'api_key', 'discord', 'kc_live_…') returning id`;
  await sql`insert into discord_guilds (guild_id, application_id, developer_id, api_key_id, linked_by) values (${guildId}, ${applicationId}, ${developerId}, ${token!.id}, 'test')`;
}

describe('migration 0020', () => {
  it("ends the links of developers no longer admin or owner, audited, and keeps the others'", async () => {
    const owner = await h.seller();
    const { app } = await owner.setup();
    const [admin, viewer, gone] = [await h.seller(), await h.seller(), await h.seller()];
    for (const [s, role] of [
      [admin, 'admin'],
      [viewer, 'viewer'],
      [gone, 'manager'],
    ] as const) {
      expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: s.username, role })).statusCode).toBe(201);
    }
    await link('900000000000000101', app.id, owner.developerId);
    await link('900000000000000102', app.id, admin.developerId);
    await link('900000000000000103', app.id, viewer.developerId);
    await link('900000000000000104', app.id, gone.developerId);
    // Removed before the rule existed: the membership row went, the link stayed.
    await sql`delete from application_members where application_id = ${app.id} and developer_id = ${gone.developerId}`;

    await sql.unsafe(await readFile(join(MIGRATIONS_DIR, '0020_discord_links_of_former_admins.sql'), 'utf8'));

    const left = await sql`select guild_id from discord_guilds where application_id = ${app.id} order by guild_id`;
    expect(left.map((g) => g.guild_id)).toEqual(['900000000000000101', '900000000000000102']);
    const audited = await sql`select target, actor_kind, details from audit_logs where application_id = ${app.id} and action = 'discord.unlinked' order by target`;
    expect(audited).toEqual([
      { target: 'guild:900000000000000103', actor_kind: 'system', details: { developer_id: viewer.developerId, reason: 'not_admin_before_0020' } },
      { target: 'guild:900000000000000104', actor_kind: 'system', details: { developer_id: gone.developerId, reason: 'not_admin_before_0020' } },
    ]);
  });
});
