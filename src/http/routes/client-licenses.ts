import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkExpiration } from '../../core/licenses/check-expiration.js';
import { validateLicense } from '../../core/licenses/validate-license.js';
import type { Deps } from '../../core/deps.js';
import { bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';

const tags = ['Client'];

const clientBase = {
  app_id: z.uuid(),
  license_key: z.string().trim().min(1).max(256),
  nonce: nonce.optional(),
};


export const clientLicenseRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/licenses/validate',
    {
      config: { access: 'client' },
      schema: {
        tags,
        summary: 'Validate a key with the HWID (signed response)',
        body: z.object({ ...clientBase, hwid: z.string().max(256).optional() }),
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce, { license_key: request.body.license_key, hwid: request.body.hwid });
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
    { config: { access: 'client' }, schema: { tags, summary: "How long a key has left (signed response)", body: z.object(clientBase) } },
    async (request) => {
      bindClientAnswer(request, request.body.nonce, { license_key: request.body.license_key });
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      return checkExpiration(deps, clientApp, request.body);
    },
  );
};
