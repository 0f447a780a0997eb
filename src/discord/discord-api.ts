import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DefaultUserAgent, DiscordAPIError, REST, RequestMethod, type RawFile, type RequestData, type RouteLike } from '@discordjs/rest';
import { request } from 'undici';
import { withFittedContent } from './message-limits.js';
import { Routes, type APIInteractionResponse, type APIMessage, type RESTPatchAPIWebhookWithTokenMessageJSONBody, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';

export interface MessageFile {
  name: string;
  data: Buffer | string;
}

/** A file too large to hold in memory: read from `open()` (again on a retry), `size` bytes. */
export interface StreamedFile {
  name: string;
  contentType: string;
  size: number;
  open(): Readable;
}

/** Tries of a streamed upload: Discord's 429 (after its `retry_after`) and 5xx are tried again. */
const UPLOAD_TRIES = 3;
/**
 * The longest rate-limit wait a call sits out. A bot-token call told to wait longer fails at once
 * with a RateLimitError (its caller logs it): a notice that waited out a minute-long 429 held its
 * job, and a stop behind it ran out its grace. Command registration (an operator's `deploy`) waits.
 */
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * Discord exempts interaction endpoints (callbacks, and the follow-ups and edits made with an
 * interaction's token) from a bot's global limit of 50 requests a second; @discordjs/rest applies
 * its global limiter to every request of a client. So those calls go through a client of their
 * own whose global budget is out of reach: per-route buckets (one per interaction token) and 429s
 * still hold them back, as Discord asks. Measured: 1,875 /stats chart edits took 37 s through the
 * shared client (50/s), the figures in bench/results-discord.txt through this one.
 */
const INTERACTION_REQUESTS_PER_SECOND = 1_000_000;

/** Discord's "Cannot send messages to this user" (closed DMs, blocked bot). */
const CANNOT_DM = 50007;

/**
 * Every call Keycord makes to Discord's REST API, through @discordjs/rest at DISCORD_API_URL (a
 * local stand-in in tests). Interaction follow-ups use the interaction token; DMs, channel posts
 * and role grants the bot token.
 */
export class DiscordApi {
  /** Bot-token calls (DMs, channel posts, roles, commands): under the global limit. */
  readonly rest: REST;
  /** Interaction-token calls (callback, follow-ups, edits of the original): exempt from it. */
  private readonly interactions: REST;
  private readonly apiUrl: string;

  constructor(
    readonly applicationId: string,
    opts: { apiUrl: string; token?: string | undefined },
  ) {
    this.rest = new REST({
      api: opts.apiUrl,
      version: '10',
      retries: 2,
      timeout: 10_000,
      rejectOnRateLimit: (limit) => limit.retryAfter > MAX_RETRY_AFTER_MS && !limit.route.endsWith('/commands'),
    });
    this.interactions = new REST({
      api: opts.apiUrl,
      version: '10',
      retries: 2,
      timeout: 10_000,
      globalRequestsPerSecond: INTERACTION_REQUESTS_PER_SECOND,
      // One queue per interaction token: idle ones are dropped each minute, not each hour, so a busy
      // bot does not hold an hour of tokens' queues.
      handlerSweepInterval: 60_000,
    });
    this.apiUrl = `${opts.apiUrl.replace(/\/+$/, '')}/v10`;
    if (opts.token) this.rest.setToken(opts.token);
  }

  /** The first response, when it cannot be the HTTP answer (gateway mode). */
  async respond(interactionId: string, token: string, response: APIInteractionResponse) {
    await this.noContent(this.interactions, RequestMethod.Post, Routes.interactionCallback(interactionId, token), { body: response, auth: false });
  }

  async editOriginal(token: string, body: RESTPatchAPIWebhookWithTokenMessageJSONBody, files?: MessageFile[]) {
    return (await this.interactions.patch(Routes.webhookMessage(this.applicationId, token), {
      body: withAttachments(body, files),
      ...(files ? { files: toRaw(files) } : {}),
      auth: false,
    })) as APIMessage;
  }

  /**
   * `editOriginal` with one file streamed into the multipart body (@discordjs/rest takes whole
   * Buffers): the body is `payload_json`, then `files[0]` read from `file.open()`, with its
   * length known up front (a Content-Length, no chunked upload). Same route and auth as
   * `editOriginal`: the interaction token in the path, no bot token.
   */
  async editOriginalWithStream(token: string, body: RESTPatchAPIWebhookWithTokenMessageJSONBody, file: StreamedFile): Promise<void> {
    if (!/^[\w.-]{1,100}$/.test(file.name)) throw new Error(`unsafe attachment name ${JSON.stringify(file.name)}`);
    const boundary = `keycord-${randomBytes(16).toString('hex')}`;
    const payload = JSON.stringify({ ...withFittedContent(body), attachments: [{ id: 0, filename: file.name }] });
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="payload_json"\r\nContent-Type: application/json\r\n\r\n${payload}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="files[0]"; filename="${file.name}"\r\nContent-Type: ${file.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* multipart() {
      yield head;
      for await (const chunk of file.open()) yield chunk as Buffer;
      yield tail;
    }
    const url = `${this.apiUrl}${Routes.webhookMessage(this.applicationId, token)}`;
    for (let attempt = 1; ; attempt++) {
      const res = await request(url, {
        method: 'PATCH',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + file.size + tail.length), 'user-agent': DefaultUserAgent },
        body: Readable.from(multipart(), { objectMode: false }),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await res.body.text();
      if (res.statusCode < 300) return;
      const answer = parseJson(text);
      const retryable = res.statusCode === 429 || res.statusCode >= 500;
      if (!retryable || attempt >= UPLOAD_TRIES) {
        throw new Error(`Discord refused the upload of ${file.name}: ${res.statusCode}${answer?.code ? ` (code ${answer.code})` : ''} ${String(answer?.message ?? '').slice(0, 200)}`);
      }
      const wait = res.statusCode === 429 ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Number(answer?.retry_after ?? 1) * 1000)) : 500 * attempt;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async followUp(token: string, body: RESTPostAPIChannelMessageJSONBody & { flags?: number }, files?: MessageFile[]) {
    return (await this.interactions.post(Routes.webhook(this.applicationId, token), {
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
    await this.noContent(this.rest, RequestMethod.Put, Routes.guildMemberRole(guildId, userId, roleId), { reason });
  }

  /**
   * Endpoints that answer 204 No Content: the body is drained, never parsed. A 204 has no content
   * whatever its Content-Type says, and some proxies in front of Discord label it JSON, which
   * would make a successful call look failed.
   */
  private async noContent(client: REST, method: RequestMethod, fullRoute: RouteLike, options: RequestData) {
    const res = await client.queueRequest({ ...options, method, fullRoute });
    await res.arrayBuffer();
  }

  async putCommands(commands: unknown[], guildId?: string) {
    const route = guildId ? Routes.applicationGuildCommands(this.applicationId, guildId) : Routes.applicationCommands(this.applicationId);
    return (await this.rest.put(route, { body: commands })) as unknown[];
  }
}

function parseJson(text: string): { code?: unknown; message?: unknown; retry_after?: unknown } | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? v : null;
  } catch {
    return null;
  }
}

const toRaw = (files: MessageFile[]): RawFile[] => files.map((f) => ({ name: f.name, data: typeof f.data === 'string' ? Buffer.from(f.data) : f.data }));

/** Every message body the bot sends: its content within Discord's limit, its files declared. */
function withAttachments<T extends { content?: string | null | undefined }>(body: T, files?: MessageFile[]): T {
  const fitted = withFittedContent(body);
  if (!files?.length) return fitted;
  return { ...fitted, attachments: files.map((f, id) => ({ id, filename: f.name })) };
}
