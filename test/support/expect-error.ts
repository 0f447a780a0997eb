import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

export interface ErrorBody {
  success: false;
  code: string;
  message: string;
  details?: { path: string; message: string }[];
}

/**
 * Every non-2xx answer has the API.md error shape: `{success: false, code, message, details?}`,
 * nothing more (no stack, no internals). Returns the body for further checks.
 */
export function expectError(res: LightMyRequestResponse, status: number, code: string): ErrorBody {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json() as ErrorBody;
  expect(body).toMatchObject({ success: false, code });
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  for (const key of Object.keys(body)) expect(['success', 'code', 'message', 'details']).toContain(key);
  if (body.details !== undefined) {
    expect(Array.isArray(body.details)).toBe(true);
    for (const d of body.details) expect(Object.keys(d).sort()).toEqual(['message', 'path']);
  }
  expect(res.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  return body;
}
