import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getJob } from '../../core/jobs/get-job.js';
import { jobLicenses } from '../../core/jobs/job-licenses.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { idParams } from '../schemas.js';

const tags = ['Jobs'];

type Row = { id: number; licenseKey: string; status: string; createdAt: Date };

/** Each format as a stream of text chunks, a page of keys at a time. */
const FORMATS = {
  json: { type: 'application/json; charset=utf-8', head: '[', tail: ']\n', row: (r: Row, first: boolean) => `${first ? '' : ','}${JSON.stringify({ id: r.id, license_key: r.licenseKey, status: r.status, created_at: r.createdAt.toISOString() })}` },
  csv: { type: 'text/csv; charset=utf-8', head: 'id,license_key,status,created_at\n', tail: '', row: (r: Row) => `${r.id},${r.licenseKey},${r.status},${r.createdAt.toISOString()}\n` },
  txt: { type: 'text/plain; charset=utf-8', head: '', tail: '', row: (r: Row) => `${r.licenseKey}\n` },
} as const;

export const jobRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get('/api/jobs/:id', { schema: { tags, summary: 'Status and progress of a job', params: idParams } }, async (request) =>
    getJob(deps, sellerActor(request), request.params.id),
  );

  app.get(
    '/api/jobs/:id/licenses',
    {
      schema: {
        tags,
        summary: 'The keys a completed generation job made (streamed)',
        params: idParams,
        querystring: z.object({ format: z.enum(['json', 'csv', 'txt']).default('json') }),
      },
    },
    async (request, reply) => {
      const { job, pages } = await jobLicenses(deps, sellerActor(request), request.params.id);
      const format = FORMATS[request.query.format];
      async function* body() {
        yield format.head;
        let first = true;
        for await (const page of pages()) {
          let chunk = '';
          for (const row of page) {
            chunk += format.row(row, first);
            first = false;
          }
          yield chunk;
        }
        yield format.tail;
      }
      return reply
        .header('content-type', format.type)
        .header('content-disposition', `attachment; filename="keycord-job-${job.id}.${request.query.format}"`)
        .send(Readable.from(body()));
    },
  );
};
