import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkExpiration } from '../../core/licenses/check-expiration.js';
import { validateLicense } from '../../core/licenses/validate-license.js';
import type { Deps } from '../../core/deps.js';
import { notFound } from '../../core/errors.js';
import type { FastifyRequest } from 'fastify';

const tags = ['Client'];

const clientBase = {
  app_id: z.uuid(),
  license_key: z.string().trim().min(1).max(256),
  nonce: z.string().min(8).max(64).optional(),
};

/** The client's application, or 404 for an unknown `app_id`. Set before rendering, so answers are signed. */
async function resolveClientApp(deps: Deps, request: FastifyRequest, appId: string) {
  const app = await deps.apps.get(appId);
  if (!app) throw notFound('Application');
  request.clientApp = app;
  return app;
}

const withNonce = <T extends object>(body: T, nonce: string | undefined) => (nonce === undefined ? body : { ...body, nonce });

export const clientLicenseRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/licenses/validate',
    {
      schema: {
        tags,
        summary: 'Validate a key with the HWID (signed response)',
        body: z.object({ ...clientBase, hwid: z.string().max(256).optional() }),
      },
    },
    async (request) => {
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      const { licenseId: _internal, ...outcome } = await validateLicense(deps, clientApp, {
        license_key: request.body.license_key,
        hwid: request.body.hwid,
        ip: request.ip,
      });
      return withNonce(outcome, request.body.nonce);
    },
  );

  app.post(
    '/api/licenses/check-expiration',
    { schema: { tags, summary: "How long a key has left (signed response)", body: z.object(clientBase) } },
    async (request) => {
      const clientApp = await resolveClientApp(deps, request, request.body.app_id);
      return withNonce(await checkExpiration(deps, clientApp, request.body), request.body.nonce);
    },
  );
};
