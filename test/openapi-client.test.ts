import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * A client generated from /openapi.json, as a client developer would make one: openapi-typescript
 * writes the `paths` types, a small script (test/support/openapi-client-script.ts) calls the API
 * through openapi-fetch. The script must type-check under `tsc --strict` against the generated
 * types (a route without a response schema gives `data: never`, and the script does not compile)
 * and run against a live server (the harness checks each answer against its route's schema too).
 */
const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the repository (gitignored), so that the script's `openapi-fetch` resolves from node_modules.
const generated = join(root, 'test/.generated');
const script = join(root, 'test/support/openapi-client-script.ts');
const run = promisify(execFile);

let h: Harness;
let base: string;
beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  await mkdir(generated, { recursive: true });
});
afterAll(() => h?.close());

const output = (err: unknown) => {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return [e.stdout, e.stderr].filter(Boolean).join('\n') || String(e.message);
};

describe('a client generated with openapi-typescript and openapi-fetch', () => {
  it('type-checks under --strict and runs register → application → plan → generate → validate → ban → list', { timeout: 60_000 }, async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const types = astToString(await openapiTS(doc, { silent: true }));
    await writeFile(join(generated, 'keycord-api.ts'), types);
    await writeFile(
      join(generated, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            strict: true,
            noEmit: true,
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib: ['ES2023'],
            types: ['node'],
            noUncheckedIndexedAccess: true,
            verbatimModuleSyntax: true,
            skipLibCheck: true,
          },
          files: ['keycord-api.ts', '../support/openapi-client-script.ts'],
        },
        null,
        2,
      ),
    );

    const typecheck = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(generated, 'tsconfig.json')], { cwd: root }).then(() => '', output);
    expect(typecheck, 'tsc --strict on the generated types and the script').toBe('');

    const result = await run(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), script, base], { cwd: root }).then(
      (r) => r.stdout,
      (err) => {
        throw new Error(`the script failed against ${base}:\n${output(err)}`);
      },
    );
    console.log(result.trim());
    expect(result).toMatch(/: ok$/m);
  });
});
