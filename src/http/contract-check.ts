import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { z } from 'zod';
import { declaredResponse } from './responses.js';

/** One answer that the route's declared responses do not describe. */
export interface ContractViolation {
  route: string;
  status: number;
  problem: string;
}

/**
 * Checks every answer against the responses its route declares (a test-suite guard, off in
 * production, where Fastify's serializer already refuses a body its schema rejects): the status
 * must be declared, the body must parse, and parsing must not drop a field — a field the
 * document does not describe is one a generated client cannot see. String bodies (the client
 * API's signed answers, serialized before signing) are parsed back first. Violations are kept in
 * `violations` (bounded) for the test harness to fail on.
 */
export function installContractCheck(app: FastifyInstance, violations: ContractViolation[], max = 100) {
  const record = (v: ContractViolation) => {
    if (violations.length < max) violations.push(v);
  };
  const responsesOf = new Map<string, Record<string, z.ZodType>>();
  const key = (method: string, url: string) => `${method} ${url}`;
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as { response?: Record<string, z.ZodType>; hide?: boolean } | undefined;
    if (!schema?.response || schema.hide) return;
    for (const method of [route.method].flat()) responsesOf.set(key(method, route.url), schema.response);
  });

  const check = (request: FastifyRequest, reply: FastifyReply, body: unknown) => {
    const route = key(request.method, request.routeOptions.url ?? '');
    const responses = responsesOf.get(route);
    if (!responses) return;
    const status = reply.statusCode;
    const schema = declaredResponse(responses, status);
    if (!schema) return record({ route, status, problem: 'status not declared' });
    const parsed = schema.safeParse(body);
    if (!parsed.success) return record({ route, status, problem: `body does not match: ${JSON.stringify(parsed.error.issues.slice(0, 3)).slice(0, 500)}` });
    const dropped = droppedPaths(body, parsed.data, '$');
    if (dropped.length) record({ route, status, problem: `fields not declared: ${dropped.slice(0, 5).join(', ')}` });
  };

  app.addHook('preSerialization', async (request, reply, payload) => {
    (reply as { contractChecked?: boolean }).contractChecked = true;
    check(request, reply, payload);
    return payload;
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // Objects were checked before serialization; strings are bodies a route serialized itself.
    if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    if ((reply as { contractChecked?: boolean }).contractChecked) return payload;
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return payload;
    }
    check(request, reply, body);
    return payload;
  });
}

/** Paths present in `input` that parsing left out of `output` (zod objects strip unknown keys). */
function droppedPaths(input: unknown, output: unknown, path: string): string[] {
  if (input === null || typeof input !== 'object' || output === null || typeof output !== 'object') return [];
  if (Array.isArray(input)) {
    return Array.isArray(output) ? input.flatMap((item, i) => droppedPaths(item, output[i], `${path}[${i}]`)) : [];
  }
  const out = output as Record<string, unknown>;
  return Object.entries(input as Record<string, unknown>).flatMap(([k, v]) => (v === undefined ? [] : k in out ? droppedPaths(v, out[k], `${path}.${k}`) : [`${path}.${k}`]));
}
