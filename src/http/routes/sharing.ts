import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { listSharingFlags } from '../../core/sharing/list-sharing-flags.js';
import type { toSharingFlagView } from '../../core/sharing/sharing-flag-view.js';
import { SHARING_FLAG_STATUSES, SHARING_WINDOW_KINDS } from '../../core/sharing/sharing-window.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';
import { idParams } from '../schemas.js';

const tags = ['Key sharing'];

/** A license key-sharing detection flagged, with its figures and what was done about it. */
const sharingFlagView = z.object({
  id: z.number().int(),
  license_id: z.number().int(),
  license_key: z.string(),
  window: z.object({
    kind: z.enum(SHARING_WINDOW_KINDS).describe('ips_24h: distinct client IPs in a UTC day; hwid_mismatches_1h: HWID_MISMATCH validations in a clock hour'),
    start: z.string().describe('ISO 8601'),
    end: z.string().describe('ISO 8601'),
  }),
  ips: z.number().int().describe('Distinct client IPs of the license in the UTC day of the flag'),
  hwid_mismatches: z.number().int().describe('HWID_MISMATCH validations of the license in the clock hour of the flag'),
  action: z.enum(['alert', 'ban']).describe('The `sharing.action` in force when the license was flagged'),
  status: z.enum(SHARING_FLAG_STATUSES).describe('open (nothing done yet), banned (automatically or by a seller), hwid_reset, ignored'),
  resolved_by: z.string().nullable().describe('Who acted: a Discord member, or "sharing detection" for an automatic ban'),
  resolved_at: z.string().nullable().describe('ISO 8601'),
  flagged_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toSharingFlagView>>;

export const sharingRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/sharing',
    {
      schema: {
        tags,
        summary: 'Licenses flagged for key sharing in the last 30 days, newest first',
        params: idParams,
        querystring: pageOnlyQuery,
        response: { 200: z.array(sharingFlagView) },
      },
    },
    async (request, reply) => sendPage(request, reply, request.query, await listSharingFlags(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );
};
