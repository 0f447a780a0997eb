/**
 * `npm run discord:deploy`: registers the slash commands — to DISCORD_GUILD_ID when set (instant,
 * for testing), else globally (may take up to an hour to show everywhere).
 */
import { commands } from '../../commands/index.js';
import { ConfigError, loadConfig } from '../config.js';
import { DiscordApi } from './discord-api.js';

export async function deployCommands(api: DiscordApi, guildId?: string) {
  return api.putCommands(
    commands.map((c) => c.data.toJSON()),
    guildId,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const config = loadConfig();
    const { token, applicationId, apiUrl, guildId } = config.discord;
    if (!token || !applicationId) throw new ConfigError('Invalid configuration:\n  DISCORD_TOKEN and DISCORD_APPLICATION_ID: both are needed to deploy commands');
    const api = new DiscordApi(applicationId, { apiUrl, token });
    const result = await deployCommands(api, guildId);
    console.log(`Registered ${result.length} commands ${guildId ? `in guild ${guildId}` : 'globally'}: ${commands.map((c) => '/' + c.data.name).join(' ')}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
