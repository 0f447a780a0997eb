import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getJob } from '../../core/jobs/get-job.js';
import { jobLicenses } from '../../core/jobs/job-licenses.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { errorResponse } from '../responses.js';
import { idParams } from '../schemas.js';
import { jobView } from '../views/job.js';

const tags = ['Jobs'];

type Row = { id: number; licenseKey: string; status: string; createdAt: Date };

/** Each format as a stream of text chunks, a page of keys at a time. */
const FORMATS = {
  json: {
    type: 'application/json; charset=utf-8',
    head: '[',
    tail: ']\n',
    row: (r: Row, first: boolean) => `${first ? '' : ','}${JSON.stringify({ id: r.id, license_key: r.licenseKey, status: r.status, created_at: r.createdAt.toISOString() })}`,
  },
  csv: { type: 'text/csv; charset=utf-8', head: 'id,license_key,status,created_at\n', tail: '', row: (r: Row) => `${r.id},${r.licenseKey},${r.status},${r.createdAt.toISOString()}\n` },
  txt: { type: 'text/plain; charset=utf-8', head: '', tail: '', row: (r: Row) => `${r.licenseKey}\n` },
} as const;

/** One key of the `json` format (FORMATS.json.row). */
const jobLicenseRow = z.object({
  id: z.number().int(),
  license_key: z.string(),
  status: z.string(),
  created_at: z.string().describe('ISO 8601'),
});

/** A stream, never serialized: what each `format` sends. */
const jobLicensesBody = {
  description: 'The keys, streamed in id order: `json` an array, `csv` with a header line, `txt` one key a line',
  content: {
    'application/json': { schema: z.array(jobLicenseRow) },
    'text/csv': { schema: z.string().describe('id,license_key,status,created_at') },
    'text/plain': { schema: z.string().describe('One key a line') },
  },
};

export const jobRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get('/api/jobs/:id', { schema: { tags, summary: 'Status and progress of a job', params: idParams, response: { 200: jobView } } }, async (request) =>
    getJob(deps, sellerActor(request), request.params.id),
  );

  app.get(
    '/api/jobs/:id/licenses',
    {
      schema: {
        tags,
        summary: 'The keys a finished generation job made (streamed): all of them, or what a failed job committed before it failed',
        params: idParams,
        querystring: z.object({ format: z.enum(['json', 'csv', 'txt']).default('json') }),
        response: { 200: jobLicensesBody, 409: errorResponse.describe('The job is still queued or running (JOB_NOT_COMPLETED)') },
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
      // A stream is sent as it is, never through the serializer: the schema above documents its content.
      const raw: FastifyReply = reply;
      return raw.header('content-type', format.type).header('content-disposition', `attachment; filename="keycord-job-${job.id}.${request.query.format}"`).send(Readable.from(body()));
    },
  );
};
