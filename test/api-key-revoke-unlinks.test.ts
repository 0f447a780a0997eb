import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUILD, MANAGE_GUILD, type Member } from './support/discord-interactions.js';
import { startHarness } from './support/harness.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * A server is linked with a developer API key (/setup), and stays linked only while that key
 * exists. Revoking the key unlinks the server: a change to the application that its other members
 * must be able to read in its log, as when the linking developer loses the admin role.
 */
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
});
afterAll(() => linked?.close());

type LogEntry = { action: string; target: string | null; details: Record<string, unknown> };

describe('revoking the API key a server was linked with', () => {
  it("unlinks the server and says so in the application's audit log", async () => {
    const { h, seller, app } = linked;
    const [link] = await h.deps.db.query<{ api_key_id: number }>('select api_key_id from discord_guilds where guild_id = $1', [GUILD]);
    expect(link).toBeDefined();

    const revoked = await seller.call('DELETE', `/api/auth/api-keys/${link!.api_key_id}`);
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(await h.deps.db.query('select 1 from discord_guilds where guild_id = $1', [GUILD])).toEqual([]);

    const log = (await seller.call('GET', `/api/applications/${app.id}/logs?type=audit&per_page=500`)).json() as LogEntry[];
    expect(log.filter((e) => e.action === 'discord.unlinked')).toEqual([
      expect.objectContaining({ target: `guild:${GUILD}`, details: { developer_id: seller.developerId, reason: 'api_key.deleted' } }),
    ]);
  });

  it("leaves another developer's server alone: a key that is not yours unlinks nothing", async () => {
    const { h, app } = linked;
    const stranger = await h.seller('stranger');
    const apiKey = (await linked.seller.call('POST', '/api/auth/api-keys', { name: 'second' })).json() as { id: number };
    await h.deps.db.query(`insert into discord_guilds (guild_id, application_id, developer_id, api_key_id, linked_by) values ('900000000000000099', $1, $2, $3, 'test')`, [
      app.id,
      linked.seller.developerId,
      apiKey.id,
    ]);
    expect((await stranger.call('DELETE', `/api/auth/api-keys/${apiKey.id}`)).statusCode).toBe(404);
    expect(await h.deps.db.query("select 1 from discord_guilds where guild_id = '900000000000000099'")).toHaveLength(1);
  });
});
