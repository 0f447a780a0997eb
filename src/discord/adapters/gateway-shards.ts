import { SimpleShardingStrategy, WebSocketShardEvents, WebSocketShardStatus, type WebSocketShard, type WebSocketShardDestroyOptions } from '@discordjs/ws';

/** What this file reads of @discordjs/ws's privates (the version is pinned in package.json). */
type ShardInternals = { connection: { readyState: number; onerror: ((e: unknown) => void) | null; close(): void } | null };
type StrategyInternals = { shards: Map<number, WebSocketShard> };

const WS_CONNECTING = 0;
const WS_OPEN = 1;

/**
 * @discordjs/ws's one-process sharding, with a destroy that ends a connection still being made.
 *
 * In @discordjs/ws 1.2.3 a shard destroyed while it waits for Hello or READY has that wait fail,
 * and the failure destroys it again asking to reconnect: a stop during an outage left a new
 * websocket open half a second later, and the first destroy never returned. Emitting the shard's
 * own 'closed' first ends those waits the quiet way (their "the connection went away" path). A
 * websocket still in its handshake is not closed by the destroy at all: it is closed here.
 */
export class StoppableShardingStrategy extends SimpleShardingStrategy {
  /** Set by `stop`: a shard @discordjs/ws reconnects anyway must not open a websocket (see gateway.ts). */
  stopped = false;

  /**
   * Closes the shards for good: a connection the manager is still setting up (its gateway address
   * being fetched) opens no websocket afterwards. (`destroy` alone is also how the manager resets
   * its shards before connecting them.)
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.destroy();
  }

  override async spawn(shardIds: number[]): Promise<void> {
    if (!this.stopped) await super.spawn(shardIds);
  }

  override async connect(): Promise<void> {
    if (!this.stopped) await super.connect();
  }

  override async destroy(options?: Omit<WebSocketShardDestroyOptions, 'recover'>): Promise<void> {
    const shards = [...(this as unknown as StrategyInternals).shards.values()];
    for (const shard of shards) {
      if (shard.status === WebSocketShardStatus.Connecting) shard.emit(WebSocketShardEvents.Closed, { code: 1000 });
    }
    // The waits settle on the next turns, before the destroy below aborts their timers.
    await new Promise((resolve) => setImmediate(resolve));
    await super.destroy(options);
    for (const shard of shards) {
      const { connection } = shard as unknown as ShardInternals;
      if (connection && (connection.readyState === WS_CONNECTING || connection.readyState === WS_OPEN)) {
        // Closing a websocket before its handshake ends reports an error: nobody listens any more.
        connection.onerror = () => {};
        connection.close();
      }
    }
  }
}
