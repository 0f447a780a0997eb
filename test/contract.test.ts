import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The OpenAPI document as a client generator meets it: every operation declares what it answers —
 * its success bodies and each error status, in the error shape of API.md. (What the routes then
 * really answer is checked on every response of the suite: test/support/harness.ts.)
 */
let h: Harness;
type Schema = { type?: string | string[]; properties?: Record<string, unknown>; required?: string[]; anyOf?: Schema[]; oneOf?: Schema[] };
type Operation = { operationId?: string; security?: unknown[]; responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> };
let operations: { name: string; op: Operation }[] = [];

beforeAll(async () => {
  h = await startHarness();
  const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
  operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })));
});
afterAll(() => h?.close());

const isErrorShape = (s: Schema | undefined): boolean =>
  !!s && (['success', 'code', 'message'].every((k) => s.properties?.[k] !== undefined && s.required?.includes(k)) || !!(s.anyOf ?? s.oneOf)?.every(isErrorShape));

describe('the OpenAPI document', () => {
  it('has operations', () => {
    expect(operations.length).toBeGreaterThan(50);
  });

  it('declares a success response with its body for every operation', () => {
    const missing = operations.filter(({ op }) => !Object.entries(op.responses ?? {}).some(([status, r]) => /^2/.test(status) && (status === '204' || r.content)));
    expect(missing.map((m) => m.name)).toEqual([]);
  });

  it('declares every error status in the error shape of API.md', () => {
    const wrong = operations.flatMap(({ name, op }) =>
      Object.entries(op.responses ?? {})
        .filter(([status]) => /^[45]/.test(status))
        .filter(([, r]) => !isErrorShape(r.content?.['application/json']?.schema))
        .map(([status]) => `${name} ${status}`),
    );
    expect(wrong).toEqual([]);
  });

  it('declares the errors every route can meet: bad input, a write’s conflict, and for seller routes the token and its limit', () => {
    const missing = operations.flatMap(({ name, op }) => {
      const statuses = Object.keys(op.responses ?? {});
      // A write can lose a race to a concurrent one (a row it refers to deleted, a deadlock): 409.
      const writes = /^(POST|PUT|PATCH|DELETE) /.test(name);
      const needs = [...(op.security?.length === 0 ? [] : ['401', '403', '429']), ...(writes ? ['409'] : []), '503'];
      return needs.filter((s) => !statuses.includes(s)).map((s) => `${name} ${s}`);
    });
    expect(missing).toEqual([]);
  });
});
