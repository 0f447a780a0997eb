import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TokenLookupGate } from '../core/developers/authenticate-token.js';
import { limitKeyOf } from './client-address.js';
import { tooManyRequests } from './too-many-requests.js';
import { FixedWindows } from './fixed-windows.js';

const WINDOW_MS = 60_000;
/** At ~200 bytes a window, at most ~2 MB whatever clients send. */
const MAX_WINDOWS = 10_000;

declare module 'fastify' {
  interface FastifyInstance {
    tokenLookups: TokenLookupLimit | null;
  }
}

/**
 * Bearer tokens the database did not know, per client IP and minute. A seller route's rate limit
 * counts per token, after authentication, so a request with an unknown token was never counted:
 * each cost a database lookup (unknown tokens are not cached), without end. Past the limit an
 * address gets 429 for tokens it would have to look up; tokens already known in this process
 * (cached) still work from it, so a shared address is not locked out by a neighbour.
 */
class TokenLookupLimit {
  private readonly misses = new FixedWindows(MAX_WINDOWS);

  constructor(private readonly perMinute: number) {}

  /** The gate of one request: refuses its lookup (429) once its address has used this minute's up. */
  gateFor(request: FastifyRequest, reply: FastifyReply): TokenLookupGate {
    const ip = limitKeyOf(request.ip);
    return {
      admit: () => {
        const { count, resetMs } = this.misses.peek(ip);
        if (count >= this.perMinute) throw tooManyRequests(reply, this.perMinute, resetMs, 'Too many requests with unknown tokens');
      },
      missed: () => void this.misses.hit(ip, WINDOW_MS),
    };
  }
}

export function installTokenLookupLimit(app: FastifyInstance, perMinute: number) {
  app.decorate('tokenLookups', new TokenLookupLimit(perMinute));
}
