import { connect, type Socket } from 'node:net';

/** A client connection speaking HTTP by hand, so a test can stop anywhere mid-request. */
export interface RawConnection {
  socket: Socket;
  send(text: string | Buffer): void;
  /** Everything the server sent, once it has closed the connection. */
  closed: Promise<string>;
  /** Everything the server has sent so far. */
  received(): string;
}

export function openRaw(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    const closed = new Promise<string>((r) => socket.once('close', () => r(Buffer.concat(chunks).toString('utf8'))));
    // A reset from the server is one way of being disconnected; it ends in 'close' too.
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, send: (t) => void socket.write(t), closed, received: () => Buffer.concat(chunks).toString('utf8') }));
    socket.once('error', reject);
  });
}

/** The status code and parsed JSON body of the one HTTP response in `raw`. */
export function parseResponse(raw: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return { status, headers: head, body: body ? JSON.parse(body) : undefined };
}

/** Resolves with `promise`, or fails naming `what` if it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
