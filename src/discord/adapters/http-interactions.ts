import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { APIInteraction } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { errorBody } from '../../http/errors.js';
import type { DiscordBot } from '../bot.js';
import { daysFromToken, MAX_TOKEN_LENGTH } from '../chart-links.js';
import { statsChartPng } from '../stats-chart.js';
import { InteractionReplayGuard } from './interaction-replay-guard.js';

/** How old a signed request, and the interaction it carries, may be; older ones are refused as possible replays. */
const MAX_SIGNATURE_AGE_S = 300;

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function publicKeyFromHex(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

function verifyDiscordSignature(key: KeyObject, signatureHex: string, timestamp: string, rawBody: Buffer): boolean {
  if (!/^[0-9a-f]{128}$/i.test(signatureHex)) return false;
  return verify(null, Buffer.concat([Buffer.from(timestamp), rawBody]), key, Buffer.from(signatureHex, 'hex'));
}

/** What every interaction Discord sends has, PING included; the handlers cope with the rest. */
const interactionEnvelope = z.object({ id: z.string().max(20), type: z.number().int(), token: z.string().max(1000) });

export interface DiscordInteractionRouteOptions {
  bot: DiscordBot;
  publicKey: string;
  now?: () => number;
  /** Shares handled interaction ids between API replicas; without it each process remembers its own. */
  redis?: Redis | null;
  redisPrefix?: string;
  replayGuard?: InteractionReplayGuard;
}

/**
 * POST /discord/interactions — Discord's HTTP door. The signature covers the raw bytes, so the
 * body is kept raw in this scope and parsed only after it verifies. The first response is the
 * HTTP answer; follow-up work starts once that answer has been written.
 */
export async function discordInteractionRoutes(app: FastifyInstance, opts: DiscordInteractionRouteOptions) {
  const key = publicKeyFromHex(opts.publicKey);
  const now = opts.now ?? (() => Date.now());
  const replays = opts.replayGuard ?? new InteractionReplayGuard({ windowMs: MAX_SIGNATURE_AGE_S * 1000, redis: opts.redis ?? null, ...(opts.redisPrefix ? { redisPrefix: opts.redisPrefix } : {}) });
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 512 * 1024 }, (_req, body, done) => done(null, body));
    scope.post('/discord/interactions', { schema: { hide: true } }, async (request, reply) => {
      const signature = request.headers['x-signature-ed25519'];
      const timestamp = request.headers['x-signature-timestamp'];
      // The bytes as they arrived, parsed only once their signature verifies.
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (typeof signature !== 'string' || typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp) || !verifyDiscordSignature(key, signature, timestamp, raw)) {
        return reply.code(401).send(errorBody('UNAUTHORIZED', 'Invalid request signature'));
      }
      if (Math.abs(now() / 1000 - Number(timestamp)) > MAX_SIGNATURE_AGE_S) {
        return reply.code(401).send(errorBody('UNAUTHORIZED', 'Stale request timestamp'));
      }
      let interaction: APIInteraction;
      try {
        interaction = JSON.parse(raw.toString('utf8')) as APIInteraction;
      } catch {
        return reply.code(400).send(errorBody('VALIDATION_ERROR', 'The body is not valid JSON'));
      }
      const envelope = interactionEnvelope.safeParse(interaction);
      if (!envelope.success) {
        const details = envelope.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
        return reply.code(400).send(errorBody('VALIDATION_ERROR', 'The body is not an interaction', details));
      }
      const verdict = await replays.check(envelope.data.id, now());
      if (verdict === 'not-a-snowflake') {
        return reply.code(400).send(errorBody('VALIDATION_ERROR', 'The interaction id is not a Discord id', [{ path: 'id', message: 'not a snowflake' }]));
      }
      if (verdict === 'out-of-window') return reply.code(401).send(errorBody('UNAUTHORIZED', 'Stale interaction'));
      // Discord never sends one interaction twice, so a repeat comes from someone replaying a
      // captured request and only they see this answer; 409 tells a log reader what happened.
      if (verdict === 'replayed') return reply.code(409).send(errorBody('INTERACTION_REPLAYED', 'This interaction was already handled'));
      const result = await opts.bot.handle(interaction);
      if (result.after) reply.raw.once('finish', () => opts.bot.runAfter(result, envelope.data.token));
      return reply.code(200).send(result.response);
    });
  });

  // The /stats chart a link names (chart-links.ts): drawn from the figures the signed token
  // carries, once per distinct chart while it is held (statsChartPng), and cached by Discord's
  // media proxy and browsers for good (the same token always draws the same image).
  const box = opts.bot.context.deps.box;
  // The figures travel in the query: a path parameter is held to 200 characters (app.ts). The
  // query is checked here rather than by a schema: this door also mounts on a bare Fastify (tests,
  // the bench), where the API's zod validator is not installed.
  app.get('/discord/charts/stats.png', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const c = (request.query as { c?: unknown } | undefined)?.c;
    if (typeof c !== 'string' || c.length > MAX_TOKEN_LENGTH) {
      return reply.code(400).send(errorBody('VALIDATION_ERROR', 'The request is not valid', [{ path: 'querystring.c', message: `a chart token of at most ${MAX_TOKEN_LENGTH} characters` }]));
    }
    const days = daysFromToken(box, c);
    if (!days) return reply.code(404).send(errorBody('NOT_FOUND', 'Chart not found'));
    const png = await statsChartPng(days);
    return reply.header('content-type', 'image/png').header('cache-control', 'public, max-age=31536000, immutable').send(png);
  });
}
