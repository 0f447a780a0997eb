import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The OpenAPI document as a third-party tool reads it: Redocly's `recommended` rules (redocly.yaml
 * says which rules are changed and why) find no error in what /openapi.json serves. Warnings are
 * printed, not failed on.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const redocly = join(root, 'node_modules/@redocly/cli/bin/cli.js');

type Problem = { ruleId: string; severity: 'error' | 'warn'; message: string; location: { pointer: string }[] };
type Report = { totals: { errors: number; warnings: number }; problems: Problem[] };

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await startHarness();
  dir = await mkdtemp(join(tmpdir(), 'keycord-openapi-lint-'));
});
afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byRule = (problems: Problem[]) =>
  Object.entries(problems.reduce<Record<string, number>>((counts, p) => ({ ...counts, [p.ruleId]: (counts[p.ruleId] ?? 0) + 1 }), {}))
    .map(([rule, n]) => `${rule}: ${n}`)
    .join(', ');

describe('the OpenAPI document under Redocly lint', () => {
  it('has no errors', { timeout: 60_000 }, async () => {
    const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const file = join(dir, 'openapi.json');
    // Indented, so that a problem's line in Redocly's report points somewhere readable.
    await writeFile(file, JSON.stringify(res.json(), null, 2));

    // `redocly lint` exits 1 when it finds an error: the JSON report on stdout says what it found.
    const run = await promisify(execFile)(process.execPath, [redocly, 'lint', file, '--config', join(root, 'redocly.yaml'), '--format=json'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => {
      if (!err.stdout) throw new Error(`redocly lint did not run (exit ${err.code}): ${err.stderr}`);
      return { stdout: err.stdout, stderr: err.stderr ?? '' };
    });
    const report = JSON.parse(run.stdout) as Report;
    const errors = report.problems.filter((p) => p.severity === 'error');
    const warnings = report.problems.filter((p) => p.severity === 'warn');

    console.log(`redocly lint: ${errors.length} errors, ${warnings.length} warnings${warnings.length ? ` (${byRule(warnings)})` : ''}`);
    expect(errors.map((p) => `${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`)).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });
});
