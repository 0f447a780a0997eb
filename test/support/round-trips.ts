import { connect, createServer, type Server, type Socket } from 'node:net';

/** What one operation cost the database connection(s) it used. */
export interface RoundTripCount {
  /** Times a client spoke again after the server had answered: the waits an operation pays. */
  roundTrips: number;
  /** Frontend messages that make the server answer (Sync, simple Query, Flush). */
  exchanges: number;
  /** Statements executed (Execute or simple Query). */
  statements: number;
}

/**
 * A TCP stand-in between Keycord and Postgres that reads the wire protocol and counts, per
 * connection, how often the client waited on the server. Counting is deterministic where time is
 * not: a change that adds a round trip to an operation moves this number on any machine.
 *
 * Only traffic after a connection's start-up (its first ReadyForQuery) counts, so opening a pool
 * connection is not charged to the operation that happened to need it.
 */
export class RoundTripCounter {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  private totals: RoundTripCount = { roundTrips: 0, exchanges: 0, statements: 0 };
  port = 0;

  async start(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<void> {
    this.server = createServer((client) => this.relay(client, upstreamPort, upstreamHost));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** The same database URL, reached through this counter. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  reset(): void {
    this.totals = { roundTrips: 0, exchanges: 0, statements: 0 };
  }

  read(): RoundTripCount {
    return { ...this.totals };
  }

  /** What `operation` cost, counted from zero. */
  async measure(operation: () => Promise<unknown>): Promise<RoundTripCount> {
    this.reset();
    await operation();
    return this.read();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, upstreamPort: number, upstreamHost: string): void {
    const server = connect(upstreamPort, upstreamHost);
    for (const s of [client, server]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    let ready = false;
    let serverSpokeLast = true;
    // The client's first message (StartupMessage or SSLRequest) has no type byte.
    const fromClient = new MessageReader(true, (type) => {
      if (!ready) return;
      if (type === 'S' || type === 'Q' || type === 'H') this.totals.exchanges++;
      if (type === 'E' || type === 'Q') this.totals.statements++;
    });
    const fromServer = new MessageReader(false, (type) => {
      if (type === 'Z') ready = true;
    });
    client.on('data', (chunk: Buffer) => {
      fromClient.push(chunk);
      if (ready && serverSpokeLast) this.totals.roundTrips++;
      serverSpokeLast = false;
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      fromServer.push(chunk);
      serverSpokeLast = true;
      client.write(chunk);
    });
  }
}

/** Splits a protocol byte stream into messages and reports each one's type byte. */
class MessageReader {
  private buffered: Buffer = Buffer.alloc(0);
  constructor(
    private untypedFirst: boolean,
    private readonly onMessage: (type: string) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    for (;;) {
      if (this.untypedFirst) {
        if (this.buffered.length < 4) return;
        const length = this.buffered.readInt32BE(0);
        if (this.buffered.length < length) return;
        const code = this.buffered.readInt32BE(4);
        this.buffered = this.buffered.subarray(length);
        // An SSLRequest (80877103) is answered with one byte, then the real StartupMessage follows.
        if (code !== 80877103) this.untypedFirst = false;
        continue;
      }
      if (this.buffered.length < 5) return;
      const length = this.buffered.readInt32BE(1);
      if (this.buffered.length < 1 + length) return;
      const type = String.fromCharCode(this.buffered[0]!);
      this.buffered = this.buffered.subarray(1 + length);
      this.onMessage(type);
    }
  }
}
