import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { AppError, badRequest } from '../../core/errors.js';
import { deleteFile } from '../../core/files/delete-file.js';
import { contentDisposition, MAX_FILES_PER_APP } from '../../core/files/file-rules.js';
import { payloadTooLarge } from '../../core/files/file-store.js';
import { listFiles } from '../../core/files/list-files.js';
import { openClientDownload } from '../../core/files/open-client-download.js';
import { uploadFile, type IncomingFile } from '../../core/files/upload-file.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { answerSubjects, bindClientAnswer, clientCredentials, clientProofSubject, loadClientApp, nonce } from '../client-app.js';
import { DOWNLOAD_HEADERS, downloadRequestSignedText, downloadSignedText } from '../../client/answer-binding.js';
import { pageQuery, sendPage } from '../pagination.js';
import { idParams } from '../schemas.js';
import { errorResponse, messageResponse } from '../responses.js';
import { clientErrorResponse } from '../views/client-answer.js';
import { clientErrors } from '../views/client-reply.js';
import type { toFileView } from '../../core/files/file-view.js';

const tags = ['Files'];

const fileView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  name: z.string(),
  size: z.number().int().describe('Bytes'),
  sha256: z.string().describe('Hex SHA-256 of the content'),
  content_type: z.string(),
  created_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toFileView>>;

/** Room for the multipart framing around the file (boundaries, part headers, the `name` field). */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** Parser refusals that carry their own 4xx (limits) keep it; anything else the parser threw is a malformed body. */
function multipartError(err: unknown, message: string): unknown {
  if (err instanceof AppError || (err as { statusCode?: number }).statusCode) return err;
  return badRequest(message);
}

/**
 * The one file part of an upload, as a stream: nothing of it is buffered. An optional text
 * field `name`, sent before the file, overrides the part's filename. `finish` reads what
 * follows the file and settles only when the body ends with its closing boundary, so a body
 * cut off after the file's bytes is refused like one cut off in the middle of them.
 */
async function receiveFilePart(request: FastifyRequest, maxBytes: number): Promise<IncomingFile> {
  // A declared length that cannot fit is refused before a byte is read.
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD_BYTES) throw payloadTooLarge(maxBytes);
  if (!request.isMultipart()) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Upload the file as multipart/form-data with one file part', 415);
  }
  // One byte past the limit, so the core sees the overflow and answers 413 itself.
  const parts = request.parts({ limits: { fileSize: maxBytes + 1, files: 1, fields: 4, fieldSize: 1024, parts: 5 } });
  let part;
  try {
    do part = (await parts.next()).value;
    while (part && part.type !== 'file');
  } catch (err) {
    throw multipartError(err, 'The body is not valid multipart data');
  }
  if (!part) throw badRequest('The multipart body has no file part');
  const nameField = part.fields.name;
  const name = nameField && !Array.isArray(nameField) && nameField.type === 'field' && typeof nameField.value === 'string' ? nameField.value : part.filename;
  const finish = async () => {
    try {
      for await (const rest of parts) if (rest.type === 'file') rest.file.resume();
    } catch (err) {
      throw multipartError(err, 'The upload ended early or is not valid multipart data');
    }
  };
  return { name, contentType: part.mimetype, content: part.file, finish };
}

const sellerFileRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));
  // An upload refused before its body was read (401/403/404, a Content-Length over the limit, a
  // disk error) leaves the rest of the body on the wire, and Node would then wait for it forever
  // on a keep-alive connection. Closing the connection after the answer frees both sides.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && !request.raw.complete) reply.header('Connection', 'close');
    return payload;
  });

  // Registered here, not app-wide: only the upload route parses multipart bodies. A part over
  // the size limit is cut short rather than thrown, so the core measures it and answers 413.
  await app.register(multipart, { throwFileSizeLimit: false });

  // Not `idempotent`: the idempotency hook keys on the parsed body, which a streamed upload has not got.
  app.post(
    '/api/applications/:id/files',
    {
      schema: {
        tags,
        summary: 'Upload a file (multipart/form-data; streamed to disk; ≤ MAX_FILE_BYTES)',
        description:
          'A multipart/form-data body with one file part (any field name). An optional text field `name`, sent before the file, ' +
          "overrides the part's filename. Over the limit: 413 PAYLOAD_TOO_LARGE and nothing is kept. " +
          `An application holds at most ${MAX_FILES_PER_APP} files and 20 × MAX_FILE_BYTES in all: past that, 409 LIMIT_REACHED.`,
        params: idParams,
        response: {
          201: fileView,
          400: errorResponse.describe('The body is not valid multipart data, ends early, or has no file part'),
          409: errorResponse.describe('The application holds as many files, or as many bytes of files, as it may (LIMIT_REACHED): nothing is kept'),
          413: errorResponse.describe('The file is over the limit (PAYLOAD_TOO_LARGE): nothing is kept'),
          415: errorResponse.describe('The body is not multipart/form-data (UNSUPPORTED_MEDIA_TYPE)'),
        },
      },
    },
    async (request, reply) => {
      const file = await uploadFile(deps, sellerActor(request), request.params.id, () => receiveFilePart(request, deps.files.maxBytes));
      return reply.code(201).send(file);
    },
  );

  app.get(
    '/api/applications/:id/files',
    { schema: { tags, summary: "An application's files", params: idParams, querystring: z.object(pageQuery), response: { 200: z.array(fileView) } } },
    async (request, reply) => {
      const { page, per_page } = request.query;
      const result = await listFiles(deps, sellerActor(request), request.params.id, { page, perPage: per_page });
      return sendPage(request, reply, { page, per_page }, result);
    },
  );

  app.delete('/api/files/:id', { schema: { tags, summary: 'Remove a file (its bytes go once no other file has them)', params: idParams, response: { 200: messageResponse } } }, async (request) =>
    deleteFile(deps, sellerActor(request), request.params.id),
  );
};

const clientFileRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/api/files/:id/download',
    {
      // A HEAD would run the license check (and could activate a key) for nothing.
      exposeHeadRoute: false,
      config: { access: 'client', answerSubject: answerSubjects.pathFileId },
      schema: {
        tags: ['Client'],
        summary: 'Download a file: needs license_key + hwid that validate, or a user token (streamed; signed over file id, nonce and sha256)',
        params: idParams,
        querystring: z.object({
          app_id: z.uuid(),
          license_key: z.string().trim().min(1).max(256).optional(),
          hwid: z.string().max(256).optional(),
          nonce: nonce.optional(),
        }),
        response: {
          200: {
            description:
              'The file, streamed (its own Content-Type). X-Content-SHA256 is its hex SHA-256; X-Signature-Ed25519 signs ' +
              'X-Signature-Timestamp + "\\nGET /api/files/:id/download\\n<file id>\\n<nonce or empty>\\n<sha256>" with the application key. ' +
              'X-Answer-Request is the JSON `request` this answers (route, file_id and the proof: license_key_sha256 + hwid_sha256, or user_token_sha256), ' +
              'X-Content-Size the size in bytes; X-Signature-Ed25519-Request signs the same text followed by "\\n<size>\\n<X-Answer-Request>".',
            content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }).describe('The file bytes') } },
          },
          ...clientErrors,
          403: clientErrorResponse.describe('The license key + HWID do not validate, or the user token is not valid (FORBIDDEN; the reason in the message)'),
          404: clientErrorResponse.describe('No application has this app_id, or it has no such file (NOT_FOUND)'),
        },
      },
    },
    async (request, reply) => {
      // The answer names the proof too: a download made with another license is not this request's.
      bindClientAnswer(request, request.query.nonce, clientProofSubject(request, request.query));
      const clientApp = await loadClientApp(deps, request.query.app_id);
      let download;
      try {
        download = await openClientDownload(deps, clientApp, request.params.id, clientCredentials(request, request.query));
      } catch (err) {
        // Refusals are ordinary JSON answers: let the client-signing hook sign them like any other.
        request.clientApp = clientApp;
        throw err;
      }
      /*
       * Signing a streamed body: the client-signing hook signs `timestamp + raw body`, which would
       * mean holding the whole file in memory. So `request.clientApp` stays unset for this answer
       * (the hook leaves it alone) and the signature is made here instead, with the same
       * application key and headers, over the timestamp and `downloadSignedText`: the route, the
       * file id, the nonce and the sha256 hex of the content. The client checks the signature
       * against its own file id and nonce and X-Content-SHA256, then hashes what it received and
       * compares: together they prove the bytes came from Keycord, for this request.
       */
      const timestamp = String(Math.floor(Date.now() / 1000));
      // The second signature also covers the size and the request (with its proof): see downloadRequestSignedText.
      const answered = JSON.stringify(request.answerBinding!.request);
      const { nonce: sentNonce } = request.query;
      const requestSignature = app.signClientMessage(clientApp.signingKey, timestamp, downloadRequestSignedText(request.params.id, sentNonce, download.sha256, download.size, answered));
      return (
        reply
          .header('Content-Type', download.contentType)
          .header('Content-Length', String(download.size))
          .header('Content-Disposition', contentDisposition(download.name))
          .header('X-Content-Type-Options', 'nosniff')
          .header('Content-Security-Policy', "default-src 'none'; sandbox")
          .header('Cache-Control', 'private, no-store')
          .header('X-Content-SHA256', download.sha256)
          .header('X-Signature-Timestamp', timestamp)
          .header('X-Signature-Ed25519', app.signClientMessage(clientApp.signingKey, timestamp, downloadSignedText(request.params.id, sentNonce, download.sha256)).toString('hex'))
          .header(DOWNLOAD_HEADERS.size, String(download.size))
          .header(DOWNLOAD_HEADERS.request, answered)
          .header(DOWNLOAD_HEADERS.signature, requestSignature.toString('hex'))
          // A stream goes out as is, never through the serializer; the schema documents it as bytes.
          .send(download.stream as unknown as string)
      );
    },
  );
};

export const fileRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, opts) => {
  await app.register(sellerFileRoutes, opts);
  await app.register(clientFileRoutes, opts);
};
