import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type AppView, type Harness } from './support/harness.js';

/**
 * The client SDK as a customer gets it, in both of its packages: `@keycord/client` (the SDK alone,
 * packed from packages/client and `npm install`ed offline: it has no dependencies) and `keycord`
 * itself (the server package, whose `keycord/client` is what an install from git gives). Both are
 * built by `npm pack`; then plain `node` (ESM and CommonJS) and `tsc` run in a fresh app.
 *
 * The server tarball is unpacked into node_modules/keycord rather than `npm install`ed, because npm
 * would also fetch the server's dependencies from the registry; an app whose node_modules holds
 * nothing else is the proof that `keycord/client` loads none of them.
 */

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

type Packed = { filename: string; files: { path: string }[] };

/** Each package, the specifier a customer imports, and where its built SDK lands in the app. */
const PACKAGES = [
  { name: '@keycord/client', specifier: '@keycord/client', folder: './packages/client', dist: 'node_modules/@keycord/client/dist' },
  { name: 'keycord', specifier: 'keycord/client', folder: '.', dist: 'node_modules/keycord/dist/client' },
] as const;

let h: Harness;
let base: string;
let app: AppView;
let otherApp: AppView;
let licenseKey: string;
let work: string;
let customerApp: string;
const packed = new Map<string, Packed>();

beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  const seller = await h.seller();
  const setup = await seller.setup();
  app = setup.app;
  ({ app: otherApp } = await seller.setup());
  const [license] = await seller.generate(setup.plan.id);
  licenseKey = license!.license_key;

  work = await mkdtemp(join(tmpdir(), 'keycord-package-'));
  await Promise.all(
    PACKAGES.map(async ({ name, folder }) => {
      const { stdout } = await run('npm', ['pack', folder, '--json', '--pack-destination', work], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
      packed.set(name, (JSON.parse(stdout) as [Packed])[0]);
    }),
  );
  customerApp = join(work, 'customer-app');
  await mkdir(customerApp);
  await writeFile(join(customerApp, 'package.json'), JSON.stringify({ name: 'customer-app', private: true }));
  await run('npm', ['install', join(work, packed.get('@keycord/client')!.filename), '--offline', '--no-audit', '--no-fund'], { cwd: customerApp });
  const server = join(customerApp, 'node_modules', 'keycord');
  await mkdir(server);
  await run('tar', ['-xzf', join(work, packed.get('keycord')!.filename), '-C', server, '--strip-components=1']);
}, 120_000);

afterAll(async () => {
  await h?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** What the customer's script does with the SDK, the same in both module systems. */
const CUSTOMER_CODE = `
  const env = process.env;
  const sdk = (publicKey) => new KeycordClient({ baseUrl: env.KEYCORD_URL, appId: env.APP_ID, publicKey });
  const valid = await sdk(env.PUBLIC_KEY).validate({ licenseKey: env.LICENSE_KEY, hwid: 'customer-machine' });
  // The same answer checked against another application's key must be refused as forged.
  const forged = await sdk(env.OTHER_PUBLIC_KEY)
    .validate({ licenseKey: env.LICENSE_KEY, hwid: 'customer-machine' })
    .then(() => 'accepted', (err) => (err instanceof KeycordVerificationError ? err.name : String(err)));
  const loaded = typeof require === 'function' ? Object.keys(require.cache) : undefined;
  console.log(JSON.stringify({ valid, forged, loaded }));
`;

const customerScript = (specifier: string, format: 'mjs' | 'cjs') =>
  format === 'mjs'
    ? `import { KeycordClient, KeycordVerificationError } from '${specifier}';\n${CUSTOMER_CODE}`
    : `const { KeycordClient, KeycordVerificationError } = require('${specifier}');\n(async () => {${CUSTOMER_CODE}})();`;

async function runCustomerScript(specifier: string, format: 'mjs' | 'cjs') {
  const file = `validate-${specifier.replace(/\W/g, '-')}.${format}`;
  await writeFile(join(customerApp, file), customerScript(specifier, format));
  // Only what a customer's machine would have: no NODE_OPTIONS/NODE_PATH from the test runner.
  const env = { PATH: process.env.PATH ?? '', KEYCORD_URL: base, APP_ID: app.app_id, PUBLIC_KEY: app.public_key, OTHER_PUBLIC_KEY: otherApp.public_key, LICENSE_KEY: licenseKey };
  const { stdout } = await run(process.execPath, [file], { cwd: customerApp, env });
  return { file, ...(JSON.parse(stdout) as { valid: { success: boolean; code: string }; forged: string; loaded?: string[] }) };
}

describe.each(PACKAGES)('the packed SDK as $specifier in a customer app', ({ name, specifier, dist }) => {
  it('validates a key and verifies the signed answer from an ES module', async () => {
    const out = await runCustomerScript(specifier, 'mjs');
    expect(out.valid).toMatchObject({ success: true, code: 'VALID', license: { license_key: licenseKey } });
    expect(out.forged).toBe('KeycordVerificationError');
  }, 30_000);

  it('validates a key and verifies the signed answer from CommonJS, loading only its own files', async () => {
    const out = await runCustomerScript(specifier, 'cjs');
    expect(out.valid).toMatchObject({ success: true, code: 'VALID', license: { license_key: licenseKey } });
    expect(out.forged).toBe('KeycordVerificationError');
    const sdkFiles = out.loaded!.filter((file) => !file.endsWith(out.file));
    expect(sdkFiles).toContain(join(customerApp, dist, 'index.cjs'));
    expect(sdkFiles.filter((file) => !file.startsWith(join(customerApp, dist) + '/'))).toEqual([]);
  }, 30_000);

  it('imports nothing but Node built-ins and its own files', async () => {
    const prefix = name === 'keycord' ? 'dist/client/' : 'dist/';
    const built = packed
      .get(name)!
      .files.map((f) => f.path)
      .filter((path) => path.startsWith(prefix) && /\.(js|cjs|d\.ts|d\.cts)$/.test(path));
    expect(built).toEqual(expect.arrayContaining(['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'].map((file) => prefix + file)));
    for (const path of built) {
      const text = await readFile(join(customerApp, dist, path.slice(prefix.length)), 'utf8');
      const specifiers = [...text.matchAll(/(?:from\s+|require\(|import\()\s*["']([^"']+)["']/g)].map((m) => m[1]!);
      expect(
        specifiers.filter((s) => !s.startsWith('node:') && !s.startsWith('./')),
        path,
      ).toEqual([]);
    }
  });
});

describe('the packages', () => {
  it('give TypeScript their types under node16 (import and require) and bundler resolution', async () => {
    // Each consumer as .mts (resolved through "import") and .cts (through "require").
    const consumer = (specifier: string) => `import { KeycordClient, KeycordVerificationError, type ValidationResult } from '${specifier}';
const client = new KeycordClient({ baseUrl: 'http://127.0.0.1:1', appId: 'app', publicKey: 'ab'.repeat(32) });
export const result: Promise<ValidationResult> = client.validate({ licenseKey: 'KEY', hwid: 'HW' });
// @ts-expect-error a number is no license key: fails to compile only if the SDK's types were found
client.validate({ licenseKey: 1 });
export const refused = (err: unknown) => err instanceof KeycordVerificationError;
`;
    const esm: string[] = [];
    const cjs: string[] = [];
    for (const { specifier } of PACKAGES) {
      const file = `consumer-${specifier.replace(/\W/g, '-')}`;
      await writeFile(join(customerApp, `${file}.mts`), consumer(specifier));
      await writeFile(join(customerApp, `${file}.cts`), consumer(specifier));
      esm.push(`${file}.mts`);
      cjs.push(`${file}.cts`);
    }
    const resolved = (dist: string, file: string) => `was successfully resolved to '${join(customerApp, dist, file)}'`;
    const compilerOptions = { strict: true, noEmit: true, target: 'es2022', lib: ['es2023'], types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')] };
    const configs = [
      { name: 'tsconfig.node16.json', module: 'node16', moduleResolution: 'node16', files: [...esm, ...cjs], resolves: ['index.d.ts', 'index.d.cts'] },
      { name: 'tsconfig.bundler.json', module: 'esnext', moduleResolution: 'bundler', files: esm, resolves: ['index.d.ts'] },
    ];
    await Promise.all(
      configs.map(async ({ name, module, moduleResolution, files, resolves }) => {
        await writeFile(join(customerApp, name), JSON.stringify({ compilerOptions: { ...compilerOptions, module, moduleResolution }, files }));
        const result = await run(process.execPath, [TSC, '-p', name, '--traceResolution'], { cwd: customerApp, maxBuffer: 64 * 1024 * 1024 }).catch((err: { stdout: string }) => ({
          stdout: err.stdout,
          failed: true,
        }));
        expect('failed' in result ? result.stdout.split('\n').filter((line) => line.includes('error')) : [], name).toEqual([]);
        for (const { dist } of PACKAGES) for (const file of resolves) expect(result.stdout, name).toContain(resolved(dist, file));
      }),
    );
  }, 60_000);

  it('@keycord/client carries only the SDK, depends on nothing and has the version of keycord', async () => {
    const files = packed.get('@keycord/client')!.files.map((f) => f.path);
    expect(files.filter((path) => !path.startsWith('dist/') && path !== 'package.json' && path !== 'README.md')).toEqual([]);
    const manifest = JSON.parse(await readFile(join(customerApp, 'node_modules/@keycord/client/package.json'), 'utf8'));
    const server = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.version).toBe(server.version);
  });

  it('keycord carries the SDK and the server, and none of the repository tooling', () => {
    const files = packed.get('keycord')!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/keycord.js', 'src/main.ts', 'migrations/meta/_journal.json', 'dist/client/index.cjs', 'package.json', 'README.md']));
    expect(files.filter((path) => /^(test|bench|patches|scripts|packages|\.ci)\//.test(path) || path === 'Dockerfile')).toEqual([]);
  });
});
