import { z } from 'zod';
import type { RequestIdentity } from '../../client/answer-binding.js';
import { errorResponse } from '../responses.js';

/**
 * What the client-signing hook adds inside every signed client answer (client-signing.ts): the
 * `request` it answers, and the `nonce` when one came. A client route's schemas must declare them,
 * or the serializer would strip them from the signed body.
 */
const answerBinding = {
  request: z
    .object({ route: z.string().describe('METHOD /path of the route') })
    .catchall(z.union([z.string(), z.number()]))
    .describe('The request this answer answers: the route and what it was about (credentials as their SHA-256)') satisfies z.ZodType<RequestIdentity>,
  nonce: z.string().optional().describe("The request's nonce, echoed"),
};

/**
 * A decided client answer: `fields` plus the binding. `request` is always there, but the signing
 * hook adds it after the handler, whose return type is checked against this schema: hence optional.
 */
export const clientAnswer = <T extends z.ZodRawShape>(fields: T) =>
  z.object({ ...fields, request: answerBinding.request.optional().describe('The request this answers (always present): its route and subject'), nonce: answerBinding.nonce });

/** A client route's error: API.md's shape, bound to the request when it came with a nonce. */
export const clientErrorResponse = errorResponse
  .extend({
    request: answerBinding.request.optional().describe('Present when the request sent a nonce'),
    nonce: answerBinding.nonce,
  })
  .describe('An error (API.md), bound to its request when a nonce was sent');
