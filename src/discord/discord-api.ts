import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DefaultUserAgent, DiscordAPIError, REST, RequestMethod, type RateLimitData, type RawFile, type RequestData, type RouteLike } from '@discordjs/rest';
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
 * Discord wants an interaction's first answer within 3 s of it: a callback told to wait longer
 * fails at once (the gateway logs it) rather than holding the answer for the wait (a proxy's
 * `Retry-After: 3600` held it an hour).
 */
const ANSWER_WINDOW_MS = 3_000;
/** @discordjs/rest's bucket of the interaction callback (its RateLimitData `route`). */
const CALLBACK_ROUTE = '/interactions/:id/:token/callback';
/** @discordjs/rest's margin on every rate-limit wait: its default, set here so `unusableWait` knows it. */
const RATE_LIMIT_OFFSET_MS = 50;

/**
 * The whole time a call may take, rate-limit waits, retries and the answer's body included:
 * @discordjs/rest's `timeout` covers each try only until the headers, so a body that trickled in
 * held its caller for good. Above the longest wait a call sits out (MAX_RETRY_AFTER_MS) plus a try.
 */
const CALL_DEADLINE_MS = 30_000;
/** The first answer: its token is good for 3 s, so a callback still going after 10 s is lost anyway. */
const CALLBACK_DEADLINE_MS = 10_000;
/** A streamed upload (an export of many MB): all its tries, body sent and answer read. */
const UPLOAD_DEADLINE_MS = 120_000;

export interface DiscordApiDeadlines {
  callMs: number;
  callbackMs: number;
  uploadMs: number;
}

/**
 * A 429 without a usable wait: no Retry-After, not a number, or not more than nothing (the offset
 * alone). @discordjs/rest then tries again at once without counting a retry, for ever: a hot loop
 * against Discord or the proxy in front of it. Failing the call (a RateLimitError) is the way out.
 * A wait @discordjs/rest computes itself from a bucket is always above the offset.
 */
const unusableWait = (limit: RateLimitData) => !(Number.isFinite(limit.retryAfter) && limit.retryAfter > RATE_LIMIT_OFFSET_MS);

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
/** Discord's "Interaction has already been acknowledged". */
const ALREADY_ACKNOWLEDGED = 40060;

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
  private readonly deadlines: DiscordApiDeadlines;

  constructor(
    readonly applicationId: string,
    opts: { apiUrl: string; token?: string | undefined; deadlines?: Partial<DiscordApiDeadlines> | undefined },
  ) {
    this.deadlines = { callMs: CALL_DEADLINE_MS, callbackMs: CALLBACK_DEADLINE_MS, uploadMs: UPLOAD_DEADLINE_MS, ...opts.deadlines };
    this.rest = new REST({
      api: opts.apiUrl,
      version: '10',
      retries: 2,
      timeout: 10_000,
      offset: RATE_LIMIT_OFFSET_MS,
      rejectOnRateLimit: (limit) => unusableWait(limit) || (limit.retryAfter > MAX_RETRY_AFTER_MS && !limit.route.endsWith('/commands')),
    });
    this.interactions = new REST({
      api: opts.apiUrl,
      version: '10',
      retries: 2,
      timeout: 10_000,
      offset: RATE_LIMIT_OFFSET_MS,
      globalRequestsPerSecond: INTERACTION_REQUESTS_PER_SECOND,
      // One queue per interaction token: idle ones are dropped each minute, not each hour, so a busy
      // bot does not hold an hour of tokens' queues.
      handlerSweepInterval: 60_000,
      // The callback within Discord's answer window, follow-ups and edits as bot-token calls.
      rejectOnRateLimit: (limit) => unusableWait(limit) || limit.retryAfter > (limit.route === CALLBACK_ROUTE ? ANSWER_WINDOW_MS : MAX_RETRY_AFTER_MS),
    });
    this.apiUrl = `${opts.apiUrl.replace(/\/+$/, '')}/v10`;
    if (opts.token) this.rest.setToken(opts.token);
  }

  /** The first response, when it cannot be the HTTP answer (gateway mode). */
  async respond(interactionId: string, token: string, response: APIInteractionResponse) {
    try {
      await this.noContent(this.interactions, RequestMethod.Post, Routes.interactionCallback(interactionId, token), { body: response, auth: false }, this.deadlines.callbackMs);
    } catch (err) {
      // "Already acknowledged": a try of ours reached Discord but its answer did not come back (a
      // 5xx from a proxy on the way), and the client's retry was refused. The answer is out.
      if (err instanceof DiscordAPIError && err.code === ALREADY_ACKNOWLEDGED) return;
      throw err;
    }
  }

  async editOriginal(token: string, body: RESTPatchAPIWebhookWithTokenMessageJSONBody, files?: MessageFile[]) {
    return (await this.call(this.interactions, RequestMethod.Patch, Routes.webhookMessage(this.applicationId, token), {
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
    // bodyTimeout is between two chunks: an answer trickling a byte a minute never hit it.
    await withinDeadline(this.deadlines.uploadMs, `the upload of ${file.name}`, async (signal) => {
      for (let attempt = 1; ; attempt++) {
        const res = await request(url, {
          method: 'PATCH',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + file.size + tail.length), 'user-agent': DefaultUserAgent },
          body: Readable.from(multipart(), { objectMode: false }),
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
          signal,
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
    });
  }

  async followUp(token: string, body: RESTPostAPIChannelMessageJSONBody & { flags?: number }, files?: MessageFile[]) {
    return (await this.call(this.interactions, RequestMethod.Post, Routes.webhook(this.applicationId, token), {
      body: withAttachments(body, files),
      ...(files ? { files: toRaw(files) } : {}),
      auth: false,
    })) as APIMessage;
  }

  async postMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody, files?: MessageFile[]) {
    return (await this.call(this.rest, RequestMethod.Post, Routes.channelMessages(channelId), { body: withAttachments(body, files), ...(files ? { files: toRaw(files) } : {}) })) as APIMessage;
  }

  /** A direct message; `false` when the user does not accept DMs from the bot (not an error). */
  async sendDm(userId: string, body: RESTPostAPIChannelMessageJSONBody, files?: MessageFile[]): Promise<boolean> {
    try {
      const channel = (await this.call(this.rest, RequestMethod.Post, Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
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
  private async noContent(client: REST, method: RequestMethod, fullRoute: RouteLike, options: RequestData, deadlineMs = this.deadlines.callMs) {
    await withinDeadline(deadlineMs, `${method} ${routeName(fullRoute)}`, async (signal) => {
      const res = await client.queueRequest({ ...options, method, fullRoute, signal });
      await res.arrayBuffer();
    });
  }

  /** One REST call with a JSON answer, within the deadline (body included). */
  private call(client: REST, method: RequestMethod, fullRoute: RouteLike, options: RequestData): Promise<unknown> {
    return withinDeadline(this.deadlines.callMs, `${method} ${routeName(fullRoute)}`, (signal) => client.request({ ...options, method, fullRoute, signal }));
  }

  /** An operator's `deploy`: it waits out rate limits (see MAX_RETRY_AFTER_MS), so no deadline. */
  async putCommands(commands: unknown[], guildId?: string) {
    const route = guildId ? Routes.applicationGuildCommands(this.applicationId, guildId) : Routes.applicationCommands(this.applicationId);
    return (await this.rest.put(route, { body: commands })) as unknown[];
  }
}

/**
 * `call(signal)`, failed once `ms` have passed. The signal aborts the request in flight (its body
 * too); the race settles the caller even while the client sits out a rate-limit wait it cannot
 * break off.
 */
async function withinDeadline<T>(ms: number, what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`Discord did not finish ${what} within ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([call(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A route for a log line, without the interaction token it may carry. */
const routeName = (route: RouteLike) => route.replace(/\/(webhooks\/\d+|interactions\/\d+)\/[^/]+/, '/$1/:token');

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
