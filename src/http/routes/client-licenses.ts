import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkExpiration } from '../../core/licenses/check-expiration.js';
import { validateLicense, type ValidationCode, type ValidationOutcome } from '../../core/licenses/validate-license.js';
import type { Deps } from '../../core/deps.js';
import { answerSubjects, bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';
import { blacklistedAnswer, blacklistedFields } from '../views/blacklisted.js';
import { clientAnswer } from '../views/client-answer.js';
import { clientErrors, plainOrEncrypted, unknownApplication } from '../views/client-reply.js';
import { licenseStatus, planRef } from '../views/license.js';

const tags = ['Client'];

const clientBase = {
  app_id: z.uuid(),
  license_key: z.string().trim().min(1).max(256),
  nonce: nonce.optional(),
};

/** Every code validate decides (a Record, so a code added to the core without it here fails to compile). */
export const VALIDATION_CODES: { [C in ValidationCode]: C } = {
  VALID: 'VALID',
  NOT_FOUND: 'NOT_FOUND',
  EXPIRED: 'EXPIRED',
  BANNED: 'BANNED',
  HWID_REQUIRED: 'HWID_REQUIRED',
  HWID_MISMATCH: 'HWID_MISMATCH',
  APP_PAUSED: 'APP_PAUSED',
  BLACKLISTED: 'BLACKLISTED',
};

const validationFields = {
  success: z.boolean().describe('true exactly when code is VALID'),
  code: z.enum(VALIDATION_CODES),
  message: z.string(),
  license: z
    .object({
      license_key: z.string(),
      status: licenseStatus,
      plan: planRef,
      activated_at: z.string().nullable().describe('ISO 8601'),
      expires_at: z.string().nullable().describe('ISO 8601; null for lifetime or not yet activated'),
    })
    .optional()
    .describe('The key, when it exists'),
};
z.object(validationFields) satisfies z.ZodType<Omit<ValidationOutcome, 'licenseId'>>;

const expirationFields = {
  success: z.literal(true),
  status: licenseStatus,
  activated_at: z.string().nullable().describe('ISO 8601'),
  expires_at: z.string().nullable().describe('ISO 8601; null for lifetime or not yet activated'),
  expired: z.boolean(),
  remaining_seconds: z.number().int().nullable().describe('null for lifetime or not yet activated'),
};
const unknownKeyFields = { success: z.literal(false), code: z.literal('NOT_FOUND'), message: z.string() };
z.union([z.object(expirationFields), z.object(unknownKeyFields), z.object(blacklistedFields)]) satisfies z.ZodType<Awaited<ReturnType<typeof checkExpiration>>>;

export const clientLicenseRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/licenses/validate',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key', 'hwid') },
      schema: {
        tags,
        summary: 'Validate a key with the HWID (signed response)',
        description: 'Every decided outcome is a 200 with its code (API.md); only an unknown app_id and bad input are errors.',
        body: z.object({ ...clientBase, hwid: z.string().max(256).optional() }),
        response: { 200: plainOrEncrypted(clientAnswer(validationFields)), ...clientErrors, 404: unknownApplication },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      const { licenseId: _internal, ...outcome } = await validateLicense(deps, clientApp, {
        license_key: request.body.license_key,
        hwid: request.body.hwid,
        ip: request.ip,
      });
      return outcome;
    },
  );

  app.post(
    '/api/licenses/check-expiration',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key') },
      schema: {
        tags,
        summary: 'How long a key has left (signed response)',
        description: 'An unknown key is a 200 with success: false and code NOT_FOUND; a blacklisted client address, code BLACKLISTED.',
        body: z.object(clientBase),
        response: { 200: plainOrEncrypted(z.union([clientAnswer(expirationFields), clientAnswer(unknownKeyFields), blacklistedAnswer])), ...clientErrors, 404: unknownApplication },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      return checkExpiration(deps, clientApp, { license_key: request.body.license_key, ip: request.ip });
    },
  );
};
