/**
 * `npm run discord:deploy`: registers the slash commands — to DISCORD_GUILD_ID when set (instant,
 * for testing), else globally (may take up to an hour to show everywhere).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commands } from '../../commands/index.js';
import { ConfigError, loadConfig } from '../config.js';
import { readEnvFile } from '../env-file.js';
import { DiscordApi } from './discord-api.js';

export async function deployCommands(api: DiscordApi, guildId?: string) {
  return api.putCommands(
    commands.map((c) => c.data.toJSON()),
    guildId,
  );
}

/**
 * Whether this file is the program being run. Comparing `import.meta.url` with `file://` + argv[1]
 * fails wherever the path needs escaping (a space is %20 in the URL) or goes through a symlink, and
 * the script then exited 0 having done nothing.
 */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  try {
    // The same settings `npm start` reads: `.env` in the working directory, the environment winning.
    readEnvFile();
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
