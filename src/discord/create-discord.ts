import type { DiscordConfig } from '../config.js';
import type { Deps } from '../core/deps.js';
import { DiscordBot } from './bot.js';
import { DiscordApi } from './discord-api.js';

/** Discord allows a message edit every so often; progress of a long /generate respects that. */
const PROGRESS_EVERY_MS = 2000;

/** The bot's handlers and REST client, or null when Discord is not configured. */
export function createDiscordBot(deps: Deps, config: DiscordConfig, opts: { progressEveryMs?: number; publicUrl?: string | undefined } = {}) {
  if (config.mode === 'off' || !config.applicationId) return null;
  const api = new DiscordApi(config.applicationId, { apiUrl: config.apiUrl, token: config.token });
  return new DiscordBot({ deps, api, progressEveryMs: opts.progressEveryMs ?? PROGRESS_EVERY_MS, publicUrl: opts.publicUrl });
}
