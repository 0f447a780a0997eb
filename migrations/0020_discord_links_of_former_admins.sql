-- A Discord server stays linked only while the developer who linked it is the application's owner
-- or an admin (src/core/discord/unlink-guild.ts): removing a collaborator, their leaving, or a role
-- change below admin now unlinks their servers in the same transaction. Links left behind by such
-- changes made before that rule are ended here, audited as the rule audits them (by the system).
WITH orphaned AS (
  DELETE FROM discord_guilds g
  WHERE NOT EXISTS (
    SELECT 1 FROM application_members m
    WHERE m.application_id = g.application_id AND m.developer_id = g.developer_id AND m.role IN ('owner', 'admin')
  )
  RETURNING g.application_id, g.guild_id, g.developer_id
)
INSERT INTO audit_logs (application_id, actor_kind, actor_name, action, target, details)
SELECT application_id, 'system', 'migration 0020', 'discord.unlinked', 'guild:' || guild_id,
  jsonb_build_object('developer_id', developer_id, 'reason', 'not_admin_before_0020')
FROM orphaned;
