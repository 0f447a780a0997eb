import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { normalizeIp } from '../core/blacklists/ip-range.js';
import { errorBody } from './errors.js';

/**
 * Behind TRUST_PROXY the client IP comes from X-Forwarded-For, which is text the client may have
 * written (up to the header limit). It keys rate limits and lands in logs and the database, so a
 * request whose resolved address is not an IP address is refused before anything reads it.
 */
export function installClientAddressCheck(app: FastifyInstance) {
  app.addHook('onRequest', (request, reply, done) => {
    if (isIP(request.ip)) return done();
    reply.code(400).send(errorBody('VALIDATION_ERROR', 'X-Forwarded-For does not name a valid client address'));
  });
}

/** The prefix of an IPv6 subscriber's block: every address in it is theirs to pick. */
const V6_LIMIT_PREFIX = 64;

/**
 * What a rate limit counts a client address as: an IPv4 address as itself (an IPv4-mapped IPv6
 * one as the IPv4 it maps), an IPv6 address as its /64. Counted per IPv6 address, one client
 * with the /64 any subscriber gets could open 2^64 windows, each with a fresh allowance.
 */
export function limitKeyOf(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const address = normalizeIp(ip);
  if (!address || address.range.family === 4) return address?.value ?? ip;
  return normalizeIp(`${address.value}/${V6_LIMIT_PREFIX}`)?.value ?? ip;
}
