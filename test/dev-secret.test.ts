import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { ROOT } from './support/keycord-process.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'keycord-dev-secret-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * `count` processes that load the configuration of one fresh DATA_DIR at the same instant (each
 * waits on a start file, spinning, so none is still loading modules when the others go), and what
 * secret each of them ended up with.
 */
async function loadTogether(dataDir: string, count: number): Promise<string[]> {
  const work = tempDir();
  const go = join(work, 'go');
  const script = join(work, 'load.mjs');
  writeFileSync(
    script,
    `import { existsSync } from 'node:fs';
const { loadConfig } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/config.ts')).href)});
process.stdout.write('ready\\n');
while (!existsSync(${JSON.stringify(go)})) {}
const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: ${JSON.stringify(dataDir)} });
process.stdout.write('secret=' + config.secret + '\\n');
`,
  );
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const outputs = children.map((child) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { read: () => out, exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
  });
  try {
    const deadline = Date.now() + 60_000;
    while (!outputs.every((o) => o.read().includes('ready'))) {
      if (Date.now() > deadline) throw new Error(`the loaders did not start: ${outputs.map((o) => o.read()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    writeFileSync(go, '');
    const codes = await Promise.all(outputs.map((o) => o.exited));
    expect(codes, outputs.map((o) => o.read()).join('\n')).toEqual(codes.map(() => 0));
    return outputs.map((o) => /secret=(\S*)/.exec(o.read())?.[1] ?? '');
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('the development secret kept in DATA_DIR', () => {
  it('is the same for every process that starts on a fresh DATA_DIR at the same time, and is the one the file keeps', { timeout: 120_000 }, async () => {
    // Each round is a fresh directory: the race is on creating the file.
    for (let round = 0; round < 4; round++) {
      const dataDir = join(tempDir(), 'data');
      const secrets = await loadTogether(dataDir, 6);
      const kept = readFileSync(join(dataDir, 'keycord-secret'), 'utf8').trim();
      expect(kept).toMatch(/^[0-9a-f]{64}$/);
      expect(secrets).toEqual(secrets.map(() => kept));
      expect(statSync(join(dataDir, 'keycord-secret')).mode & 0o777).toBe(0o600);
      // No temporary file is left beside it.
      expect(readdirSync(dataDir)).toEqual(['keycord-secret']);
    }
  });

  it('stops start-up, naming the file, when the file is empty or cut short instead of encrypting with what is left', () => {
    for (const content of ['', '\n', 'abc123\n']) {
      const dataDir = tempDir();
      writeFileSync(join(dataDir, 'keycord-secret'), content, { mode: 0o600 });
      let thrown: unknown;
      try {
        loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(content)).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toContain(join(dataDir, 'keycord-secret'));
      expect((thrown as Error).message).toContain('KEYCORD_SECRET');
      // Nothing was put in its place: the data it encrypted may still be recovered with the real one.
      expect(readFileSync(join(dataDir, 'keycord-secret'), 'utf8')).toBe(content);
    }
  });

  it('gives a file still being written a moment to fill: on a file system without hard links the winner creates it, then writes it', () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'keycord-secret');
    const secret = 'e'.repeat(64);
    writeFileSync(file, '', { mode: 0o600 });
    // Another process (loadConfig blocks this one) writes the secret into the file 100 ms after it starts.
    const writer = spawn(process.execPath, ['-e', `setTimeout(() => require('node:fs').writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(`${secret}\n`)}), 100)`], { stdio: 'ignore' });
    try {
      const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
      expect(config.secret).toBe(secret);
      expect(config.secretSource).toBe('data-dir');
    } finally {
      writer.kill();
    }
  });
});
