import { DiscordAPIError, REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents, type SessionInfo } from '@discordjs/ws';
import { GatewayCloseCodes, GatewayDispatchEvents, type APIInteraction } from 'discord-api-types/v10';
import type { Logger } from '../../log.js';
import { settleWithin } from '../../settle-within.js';
import type { DiscordBot } from '../bot.js';
import { StoppableShardingStrategy } from './gateway-shards.js';

/**
 * Close codes after which Discord takes no connection of this bot as it is set up, each with what
 * it tells the operator: the adapter logs it at error level and stops trying (the API, the jobs
 * and the bot's REST calls go on). Other closes are @discordjs/ws's to resume or reconnect.
 */
const CLOSED_FOR_GOOD = new Map<number, string>([
  [GatewayCloseCodes.AuthenticationFailed, 'Discord refused DISCORD_TOKEN (was it reset in the developer portal?): set the current one and restart'],
  [GatewayCloseCodes.InvalidShard, 'Discord refused the shard'],
  [GatewayCloseCodes.ShardingRequired, 'Discord requires sharding for this bot'],
  [GatewayCloseCodes.InvalidAPIVersion, 'Discord refused the gateway API version'],
  [GatewayCloseCodes.InvalidIntents, 'Discord refused the gateway intents'],
  [GatewayCloseCodes.DisallowedIntents, 'Discord refused the gateway intents as not enabled for this application'],
]);

export interface GatewayTimings {
  /** First wait after a failed connection; doubled each time up to `retryMaxMs`. */
  retryFirstMs: number;
  retryMaxMs: number;
  /** One try of a connection (Discord's gateway address, the websocket, Hello, READY). */
  connectMs: number;
  /** How long a stop waits for interactions between their handler and their first answer. */
  stopGraceMs: number;
}

/** At most one 'Discord gateway error' line this often (they come twice a second in an outage). */
const GATEWAY_ERROR_LOG_EVERY_MS = 60_000;

const DEFAULT_TIMINGS: GatewayTimings = { retryFirstMs: 1_000, retryMaxMs: 60_000, connectMs: 60_000, stopGraceMs: 5_000 };

/** Why the gateway stopped for good: a close code Discord will not take back, or a refused token. */
export class GatewayClosedError extends Error {
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayClosedError';
  }
}

/**
 * The gateway door: @discordjs/ws keeps the websocket, and each INTERACTION_CREATE payload goes to
 * the same handlers as the HTTP door. The first response goes back through the interaction
 * callback endpoint, follow-ups through the interaction webhook.
 *
 * Not a discord.js Client: it handled INTERACTION_CREATE itself after us (a malformed one threw an
 * unhandled rejection, which stops the process) and cached every user and member who ever
 * interacted, for the life of the process. Nothing here reads a cache, and no intent is asked for:
 * Discord sends interactions to every bot whatever its intents.
 */
export class GatewayAdapter {
  /** The current try's shards (see StoppableShardingStrategy). */
  private shards: StoppableShardingStrategy | undefined;
  private readonly stopping = new AbortController();
  /** Interactions between their dispatch and their first answer (follow-ups are the bot's). */
  private readonly inFlight = new Set<Promise<void>>();
  /** This adapter's sessions (@discordjs/ws's default store is one per process). */
  private readonly sessions = new Map<number, SessionInfo>();
  private readonly timings: GatewayTimings;
  private fatal: ((err: GatewayClosedError) => void) | undefined;
  /** Set once Discord closed the gateway for good: the bot takes no interaction until a restart. */
  closedForGood: GatewayClosedError | undefined;
  /**
   * Each shard's session: up from READY or RESUMED to its next close. /api/health's `discord` is
   * ok only while every shard Discord asked for is up (one flag for all once said ok with half of
   * them down).
   */
  private readonly shardsUp = new Map<number, boolean>();
  /** Gateway errors since the last one logged (logGatewayError). */
  private readonly gatewayErrors = { count: 0, loggedAt: Number.NEGATIVE_INFINITY };
  private shardCount = 1;

  constructor(
    private readonly bot: DiscordBot,
    private readonly log: Logger,
    timings: Partial<GatewayTimings> = {},
  ) {
    this.timings = { ...DEFAULT_TIMINGS, ...timings };
  }

  /** One gateway dispatch (`t`, `d`); only INTERACTION_CREATE is acted on. */
  onRaw(packet: { t?: string | null; d?: unknown }): Promise<void> {
    const task = this.answer(packet);
    this.inFlight.add(task);
    const forget = () => void this.inFlight.delete(task);
    task.then(forget, forget);
    return task;
  }

  private async answer(packet: { t?: string | null; d?: unknown }): Promise<void> {
    if (packet.t !== 'INTERACTION_CREATE' || !packet.d || typeof packet.d !== 'object') return;
    const interaction = packet.d as APIInteraction;
    if (typeof interaction.id !== 'string' || typeof interaction.token !== 'string') {
      this.log.warn('ignored a malformed INTERACTION_CREATE');
      return;
    }
    const result = await this.bot.handle(interaction);
    try {
      await this.bot.context.api.respond(interaction.id, interaction.token, result.response);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, interaction: interaction.id }, 'could not answer an interaction');
      return;
    }
    this.bot.runAfter(result, interaction.token);
  }

  /**
   * For /api/health: 'ok' while a gateway session is up, 'down' while it connects, reconnects, or
   * stays closed for good (a reset token: the bot answers nothing until a restart). The API and the
   * jobs serve on either way, so health says `degraded`, not down.
   */
  health(): 'ok' | 'down' {
    if (this.closedForGood || this.shardsUp.size < this.shardCount) return 'down';
    return [...this.shardsUp.values()].every(Boolean) ? 'ok' : 'down';
  }

  /**
   * Connects, trying again with back-off while Discord cannot be reached. Resolves once Discord
   * took the token (its gateway address fetched) — the websocket goes on connecting in the
   * background — or when stopped; rejects with a GatewayClosedError when Discord refused the token.
   * A refusal after that is logged at error level and kept in `closedForGood`.
   */
  start(token: string, apiUrl: string): Promise<void> {
    // Any 429 fails the try, which is tried again with back-off (a 429 without a usable wait made
    // @discordjs/rest try again at once, for ever).
    const rest = new REST({ api: apiUrl, version: '10', retries: 1, timeout: 10_000, rejectOnRateLimit: () => true }).setToken(token);
    return new Promise<void>((tokenTaken, tokenRefused) => {
      this.run(token, rest, tokenTaken).then(
        () => tokenTaken(),
        (err: unknown) => {
          if (err instanceof GatewayClosedError) tokenRefused(err);
          else this.log.error({ err }, 'Discord gateway stopped trying');
        },
      );
    });
  }

  private async run(token: string, rest: REST, tokenTaken: () => void): Promise<void> {
    const { signal } = this.stopping;
    for (let attempt = 1; !signal.aborted; attempt++) {
      const { manager, firstSession } = this.newManager(token, rest);
      try {
        await this.untilStopped(
          (async () => {
            this.shardCount = (await manager.fetchGatewayInformation()).shards;
            tokenTaken();
            // The try ends at the first shard's session: @discordjs/ws identifies the others at most
            // one per 5 s and connects them on its own. Waiting for all of them, a try of a bot of
            // about 12 shards ran out of time every time, identifying shard 0 again on each.
            const connecting = manager.connect();
            let settled = false;
            connecting.catch((err: unknown) => {
              if (settled) this.log.warn({ err: (err as Error).message }, 'Discord gateway could not connect a shard');
            });
            try {
              await Promise.race([connecting, firstSession]);
            } finally {
              settled = true;
            }
          })(),
        );
        if (!signal.aborted) this.log.info({ attempt }, 'Discord gateway connected');
        return;
      } catch (err) {
        await this.closeShards();
        if (signal.aborted) return;
        const closed = err instanceof GatewayClosedError ? err : refusedToken(err) ? new GatewayClosedError(401, CLOSED_FOR_GOOD.get(GatewayCloseCodes.AuthenticationFailed)!) : undefined;
        if (closed) {
          this.reportClosed(closed);
          throw closed;
        }
        const wait = Math.min(this.timings.retryMaxMs, this.timings.retryFirstMs * 2 ** (attempt - 1));
        this.log.warn({ err: (err as Error).message, attempt, retryInMs: wait }, 'Discord gateway could not connect; trying again');
        await sleep(wait, signal);
      }
    }
  }

  /** `connecting`, or a rejection on a close for good or past the try's time; resolves on a stop. */
  private untilStopped(connecting: Promise<void>): Promise<void> {
    const { signal } = this.stopping;
    return new Promise<void>((resolve, reject) => {
      // @discordjs/ws waits for READY for good (a gateway that never says Hello): the timer and a
      // stop end the try, whatever `connecting` does.
      const timer = setTimeout(() => finish(() => reject(new Error(`no READY within ${this.timings.connectMs} ms`))), this.timings.connectMs);
      const onStop = () => finish(resolve);
      let finished = false;
      // Once only: a `connecting` that settles late must not touch the next try's `fatal`.
      const finish = (settle: () => void) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onStop);
        this.fatal = undefined;
        settle();
      };
      signal.addEventListener('abort', onStop, { once: true });
      this.fatal = (err) => finish(() => reject(err));
      connecting.then(
        () => finish(resolve),
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }

  /**
   * Once connected, @discordjs/ws reconnects a lost session itself, every half second while Discord
   * refuses the websocket (an outage): a warn line each was some 7,200 an hour. The first is
   * logged, then at most one a minute with how many there were.
   */
  private logGatewayError(error: Error): void {
    this.gatewayErrors.count++;
    const now = Date.now();
    if (now - this.gatewayErrors.loggedAt < GATEWAY_ERROR_LOG_EVERY_MS) return;
    this.log.warn({ err: error.message, errors: this.gatewayErrors.count }, 'Discord gateway error');
    this.gatewayErrors.loggedAt = now;
    this.gatewayErrors.count = 0;
  }

  /** A try's manager, and when its first shard's session is up (READY). */
  private newManager(token: string, rest: REST): { manager: WebSocketManager; firstSession: Promise<void> } {
    let shards: StoppableShardingStrategy | undefined;
    let sessionUp!: () => void;
    const firstSession = new Promise<void>((resolve) => (sessionUp = resolve));
    const manager = new WebSocketManager({
      token,
      rest,
      intents: 0,
      buildStrategy: (m) => {
        shards = new StoppableShardingStrategy(m);
        this.shards = shards;
        return shards;
      },
      handshakeTimeout: 15_000,
      helloTimeout: 20_000,
      readyTimeout: 15_000,
      // A shard reconnects half a second after a close whatever happened meanwhile: one of a try
      // that was stopped (a stop, a try given up) waits here for good, before opening a websocket.
      retrieveSessionInfo: (shardId) => (shards?.stopped ? never() : (this.sessions.get(shardId) ?? null)),
      updateSessionInfo: (shardId, info) => void (info ? this.sessions.set(shardId, info) : this.sessions.delete(shardId)),
    });
    manager.on(WebSocketShardEvents.Dispatch, ({ data }) => {
      if (data.t !== GatewayDispatchEvents.InteractionCreate) return;
      this.onRaw(data).catch((err: unknown) => this.log.error({ err }, 'gateway interaction failed'));
    });
    this.shardsUp.clear();
    manager.on(WebSocketShardEvents.Ready, ({ data, shardId }) => {
      this.shardsUp.set(shardId, true);
      sessionUp();
      this.log.info({ user: data.user.username }, 'Discord gateway ready');
    });
    manager.on(WebSocketShardEvents.Resumed, ({ shardId }) => {
      this.shardsUp.set(shardId, true);
    });
    manager.on(WebSocketShardEvents.Closed, ({ code, shardId }) => {
      this.shardsUp.set(shardId, false);
      const reason = CLOSED_FOR_GOOD.get(code);
      if (!reason || this.stopping.signal.aborted) return;
      const closed = new GatewayClosedError(code, reason);
      if (this.fatal) this.fatal(closed);
      else this.reportClosed(closed);
    });
    // Without a listener an 'error' event would throw inside @discordjs/ws.
    manager.on(WebSocketShardEvents.Error, ({ error }) => this.logGatewayError(error));
    return { manager, firstSession };
  }

  /** Closes the current try's websocket; a close Discord does not complete does not hold a stop. */
  private async closeShards() {
    const shards = this.shards;
    if (!shards) return;
    await settleWithin(
      shards.stop().catch(() => {}),
      2_000,
      undefined,
    );
  }

  private reportClosed(closed: GatewayClosedError) {
    this.closedForGood = closed;
    this.log.error({ closeCode: closed.code }, `Discord gateway closed for good (${closed.code}): ${closed.message}. Discord interactions are not answered until a restart`);
  }

  /**
   * Closes the websocket (ending a connection still being made), then waits for the interactions
   * already taken to be answered, within the grace: their follow-ups are the bot's, waited for by
   * the next step of a stop, before the database closes.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.closeShards();
    const left = await settleWithin(
      Promise.allSettled([...this.inFlight]).then(() => 0),
      this.timings.stopGraceMs,
      this.inFlight.size,
    );
    if (left) this.log.warn({ interactions: left }, 'stopping without answering the Discord interactions still being handled');
  }
}

/**
 * A wait that never ends, a new one each time: what @discordjs/ws awaits on it (the try's shard,
 * strategy and manager) is then garbage once nothing else holds it. One shared promise kept every
 * given-up try reachable for good. Never rejected: @discordjs/ws awaits it under `void`.
 */
const never = () => new Promise<never>(() => {});

/** Discord's REST refusing the bot token (401): trying again cannot help. */
const refusedToken = (err: unknown) => err instanceof DiscordAPIError && err.status === 401;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
