import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { heartbeatLicense, releaseSeat, type HeartbeatOutcome } from '../../core/licenses/floating-seats.js';
import { answerSubjects, bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';
import { clientAnswer } from '../views/client-answer.js';
import { clientErrors, plainOrEncrypted, unknownApplication } from '../views/client-reply.js';
import { VALIDATION_CODES } from './client-licenses.js';

const tags = ['Client'];

const seatBody = {
  app_id: z.uuid(),
  license_key: z.string().trim().min(1).max(256),
  hwid: z.string().trim().min(1).max(256),
};

const heartbeatFields = {
  success: z.boolean().describe('true exactly when code is VALID (this HWID holds a seat, or seats are off and the key validates)'),
  code: z.enum({ ...VALIDATION_CODES, SEATS_FULL: 'SEATS_FULL' }).describe('VALID, SEATS_FULL, or any validate code'),
  message: z.string(),
  seats_used: z.number().int().nullable().describe('Live seats of the license after this heartbeat; null when seats are off or the key did not validate'),
  seats_max: z.number().int().nullable().describe('max_concurrent of the plan or application; null = floating seats off (the answer is validate’s)'),
  next_heartbeat_s: z.number().int().describe('Send the next heartbeat within this many seconds; the seat lapses after twice as long'),
};
z.object(heartbeatFields) satisfies z.ZodType<HeartbeatOutcome>;

const releaseFields = {
  success: z.boolean(),
  code: z.enum(['RELEASED', 'NOT_HELD', 'NOT_FOUND']).describe('NOT_HELD: the key exists but this HWID held no seat'),
};

export const clientSeatRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/licenses/heartbeat',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key', 'hwid') },
      schema: {
        tags,
        summary: 'Hold a floating seat (signed response)',
        description:
          'The validate decision, then a seat: a HWID holds one while its heartbeats arrive within 2 × next_heartbeat_s. With max_concurrent set the HWID slot rule (max_hwids) is not applied: the seats decide. Every decided outcome is a 200 with its code.',
        body: z.object({ ...seatBody, nonce: nonce.optional() }),
        response: { 200: plainOrEncrypted(clientAnswer(heartbeatFields)), ...clientErrors, 404: unknownApplication },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      return heartbeatLicense(deps, clientApp, { license_key: request.body.license_key, hwid: request.body.hwid, ip: request.ip });
    },
  );

  app.post(
    '/api/licenses/release',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key', 'hwid') },
      schema: {
        tags,
        summary: 'Give a floating seat back at once (signed response)',
        body: z.object({ ...seatBody, nonce: nonce.optional() }),
        response: { 200: plainOrEncrypted(clientAnswer(releaseFields)), ...clientErrors, 404: unknownApplication },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      return releaseSeat(deps, clientApp, request.body);
    },
  );
};
