import { DiscordAPIError, REST, RequestMethod, type RawFile, type RequestData, type RouteLike } from '@discordjs/rest';
import { Routes, type APIInteractionResponse, type APIMessage, type RESTPatchAPIWebhookWithTokenMessageJSONBody, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';

export interface MessageFile {
  name: string;
  data: Buffer | string;
}

/** Discord's "Cannot send messages to this user" (closed DMs, blocked bot). */
const CANNOT_DM = 50007;

/**
 * Every call Keycord makes to Discord's REST API, through @discordjs/rest at DISCORD_API_URL (a
 * local stand-in in tests). Interaction follow-ups use the interaction token; DMs, channel posts
 * and role grants the bot token.
 */
export class DiscordApi {
  readonly rest: REST;

  constructor(
    readonly applicationId: string,
    opts: { apiUrl: string; token?: string | undefined },
  ) {
    this.rest = new REST({ api: opts.apiUrl, version: '10', retries: 2, timeout: 10_000 });
    if (opts.token) this.rest.setToken(opts.token);
  }

  /** The first response, when it cannot be the HTTP answer (gateway mode). */
  async respond(interactionId: string, token: string, response: APIInteractionResponse) {
    await this.noContent(RequestMethod.Post, Routes.interactionCallback(interactionId, token), { body: response, auth: false });
  }

  async editOriginal(token: string, body: RESTPatchAPIWebhookWithTokenMessageJSONBody, files?: MessageFile[]) {
    return (await this.rest.patch(Routes.webhookMessage(this.applicationId, token), {
      body: withAttachments(body, files),
      ...(files ? { files: toRaw(files) } : {}),
      auth: false,
    })) as APIMessage;
  }

  async followUp(token: string, body: RESTPostAPIChannelMessageJSONBody & { flags?: number }, files?: MessageFile[]) {
    return (await this.rest.post(Routes.webhook(this.applicationId, token), {
      body: withAttachments(body, files),
      ...(files ? { files: toRaw(files) } : {}),
      auth: false,
    })) as APIMessage;
  }

  async postMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody, files?: MessageFile[]) {
    return (await this.rest.post(Routes.channelMessages(channelId), { body: withAttachments(body, files), ...(files ? { files: toRaw(files) } : {}) })) as APIMessage;
  }

  /** A direct message; `false` when the user does not accept DMs from the bot (not an error). */
  async sendDm(userId: string, body: RESTPostAPIChannelMessageJSONBody, files?: MessageFile[]): Promise<boolean> {
    try {
      const channel = (await this.rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
      await this.postMessage(channel.id, body, files);
      return true;
    } catch (err) {
      if (err instanceof DiscordAPIError && err.code === CANNOT_DM) return false;
      throw err;
    }
  }

  async addRole(guildId: string, userId: string, roleId: string, reason: string) {
    await this.noContent(RequestMethod.Put, Routes.guildMemberRole(guildId, userId, roleId), { reason });
  }

  /**
   * Endpoints that answer 204 No Content: the body is drained, never parsed. A 204 has no content
   * whatever its Content-Type says, and some proxies in front of Discord label it JSON, which
   * would make a successful call look failed.
   */
  private async noContent(method: RequestMethod, fullRoute: RouteLike, options: RequestData) {
    const res = await this.rest.queueRequest({ ...options, method, fullRoute });
    await res.arrayBuffer();
  }

  async putCommands(commands: unknown[], guildId?: string) {
    const route = guildId ? Routes.applicationGuildCommands(this.applicationId, guildId) : Routes.applicationCommands(this.applicationId);
    return (await this.rest.put(route, { body: commands })) as unknown[];
  }
}

const toRaw = (files: MessageFile[]): RawFile[] => files.map((f) => ({ name: f.name, data: typeof f.data === 'string' ? Buffer.from(f.data) : f.data }));

function withAttachments<T extends object>(body: T, files?: MessageFile[]): T {
  if (!files?.length) return body;
  return { ...body, attachments: files.map((f, id) => ({ id, filename: f.name })) };
}
