#!/usr/bin/env node
/**
 * Builds the client SDK (src/client, settings in tsconfig.client.json) twice: ESM (.js + .d.ts)
 * for `import` and CommonJS (.cjs + .d.cts) for `require`. Into dist/client by default (the
 * root package's `keycord/client`, on `prepare`: `npm ci`, `npm pack`, installs from git), or
 * into the folder given as the argument (packages/client/dist for `@keycord/client`).
 *
 * Plain JavaScript on purpose: it must run before anything is compiled, with only `typescript`.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ts = await import('typescript').then(
  (module) => module.default,
  (err) => {
    // `npm ci --omit=dev` on a server runs `prepare` without TypeScript. The server imports the
    // SDK's sources itself, so only an install may go on without the build; a pack may not.
    const installing = ['ci', 'install'].includes(process.env.npm_command ?? '');
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !installing) throw err;
    console.warn('client SDK not built: typescript is not installed (the server does not need the build)');
    process.exit(0);
  },
);

const configPath = fileURLToPath(new URL('../tsconfig.client.json', import.meta.url));
const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail });
if (!parsed) throw new Error(`cannot read ${configPath}`);
if (parsed.errors.length) fail(parsed.errors);
const outDir = process.argv[2] ? resolve(process.argv[2]) : parsed.options.outDir;
parsed.options.outDir = outDir;

const formats = [
  { options: parsed.options, rename: (file) => file },
  {
    // verbatimModuleSyntax forbids `import` in a CommonJS output; the sources stay ESM-only TypeScript.
    options: { ...parsed.options, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, verbatimModuleSyntax: false },
    rename: (file) => file.replace(/\.d\.ts$/, '.d.cts').replace(/\.js$/, '.cjs'),
    // Node's CommonJS loader needs the exact file name: `require("./body-crypto.js")` must become `.cjs`.
    rewrite: (text) => text.replace(/((?:require\(|import\(|from )\s*["'])(\.{1,2}\/[^"']+)\.js(["'])/g, '$1$2.cjs$3'),
  },
];

const written = new Set();
for (const { options, rename, rewrite } of formats) {
  const program = ts.createProgram({ rootNames: parsed.fileNames, options });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length) fail(diagnostics);
  const result = program.emit(undefined, (file, text) => {
    const target = rename(file);
    writeAtomically(target, rewrite ? rewrite(text) : text);
    written.add(target);
  });
  if (result.diagnostics.length) fail(result.diagnostics);
}
removeStale(outDir);

/**
 * Each file is written beside its target and renamed over it, and the folder is never emptied:
 * a test or a running example importing dist/client while it is rebuilt never sees half a file.
 */
function writeAtomically(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

/** Output of a source file that no longer exists would otherwise ship in the package. */
function removeStale(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith('.')) continue; // another build's file in flight
    if (entry.isDirectory()) removeStale(path);
    else if (!written.has(path)) rmSync(path);
  }
}

function fail(diagnostics) {
  const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnostics(list, host));
  process.stderr.write(`client build failed (${relative(process.cwd(), configPath)})\n`);
  process.exit(1);
}
