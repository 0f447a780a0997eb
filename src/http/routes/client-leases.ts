import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { leaseLicense, type LeaseOutcome } from '../../core/licenses/lease-license.js';
import { answerSubjects, bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';
import { clientAnswer } from '../views/client-answer.js';
import { clientErrors, plainOrEncrypted, unknownApplication } from '../views/client-reply.js';
import { VALIDATION_CODES } from './client-licenses.js';

const tags = ['Client'];

const leaseFields = {
  success: z.boolean().describe('true exactly when code is VALID and a lease was issued'),
  code: z
    .enum({ ...VALIDATION_CODES, LEASES_DISABLED: 'LEASES_DISABLED', SEATS_FULL: 'SEATS_FULL' })
    .describe('VALID, LEASES_DISABLED (max_offline_hours is 0), SEATS_FULL (the license counts floating seats and this machine holds none while every one is in use), or any validate code'),
  message: z.string(),
  lease: z
    .string()
    .optional()
    .describe(
      'base64url(payload JSON) "." base64url(Ed25519 signature over the first part), with the application\'s signing key; payload {v, app_id, license_key, hwid, plan, license_expires_at, lease_expires_at, issued_at}',
    ),
  lease_expires_at: z.string().optional().describe("ISO 8601: now + ttl, capped by max_offline_hours and by the license's own end"),
};
z.object(leaseFields) satisfies z.ZodType<LeaseOutcome>;

export const clientLeaseRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/licenses/lease',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key', 'hwid') },
      schema: {
        tags,
        summary: 'An offline lease for this machine (signed response)',
        description:
          'The validate decision (HWID binding, blacklist refusal), then a lease the SDK verifies offline (verifyLease) until lease_expires_at. ttl_hours defaults to, and is capped by, max_offline_hours of the plan, else the application; a lease never outlives its license. Every decided outcome is a 200 with its code.',
        body: z.object({
          app_id: z.uuid(),
          license_key: z.string().trim().min(1).max(256),
          hwid: z.string().trim().min(1).max(256),
          nonce: nonce.optional(),
          ttl_hours: z.number().int().min(1).max(8760).optional().describe('Hours asked for; capped by max_offline_hours'),
        }),
        response: { 200: plainOrEncrypted(clientAnswer(leaseFields)), ...clientErrors, 404: unknownApplication },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      // Signed as the answers are (with a nonce made ahead when there is one), over the lease's own bytes.
      return leaseLicense(deps, clientApp, { license_key: request.body.license_key, hwid: request.body.hwid, ttl_hours: request.body.ttl_hours, ip: request.ip }, (message) =>
        app.signClientMessage(clientApp.signingKey, '', message),
      );
    },
  );
};
