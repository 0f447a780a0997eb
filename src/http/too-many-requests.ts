import type { FastifyReply } from 'fastify';
import { AppError } from '../core/errors.js';

/**
 * The 429 of the limits counted by Keycord's own windows (client routes, unknown tokens), with the
 * headers @fastify/rate-limit sends for the seller and login limits: Retry-After and RateLimit-*.
 */
export function tooManyRequests(reply: FastifyReply, limit: number, resetMs: number, message = 'Too many requests'): AppError {
  const seconds = Math.max(1, Math.ceil(resetMs / 1000));
  reply.header('retry-after', String(seconds)).header('ratelimit-limit', String(limit)).header('ratelimit-remaining', '0').header('ratelimit-reset', String(seconds));
  return new AppError('RATE_LIMITED', `${message}; retry in ${seconds} seconds`, 429);
}
