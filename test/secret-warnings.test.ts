import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createTestDatabase } from './support/databases.js';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';

const KEPT_SECRET = '4f1c0e9b7a2d48e6b3c5a1f09d8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d\n';
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A DATA_DIR whose development secret file has the permission bits `mode`. */
function dataDirWithSecret(mode: number): { dataDir: string; file: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'keycord-secret-mode-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const file = join(dataDir, 'keycord-secret');
  writeFileSync(file, KEPT_SECRET);
  // Set after writing: the mode given to writeFileSync passes through the umask.
  chmodSync(file, mode);
  return { dataDir, file };
}

/**
 * A real `keycord start` with `env` (on a fresh Postgres database), stopped once it answers: the
 * messages of its warnings that contain `text`. It must start and stop cleanly all the same.
 */
async function startupWarnings(env: NodeJS.ProcessEnv, text: string): Promise<string[]> {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  let keycord: KeycordProcess | undefined;
  cleanups.push(() => {
    if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  });
  keycord = await startKeycordProcess({ DATABASE_URL: database.url, REDIS_URL: undefined, LOG_LEVEL: 'info', ...env });
  expect((await keycord.call('GET', '/api/health')).status).toBe(200);
  keycord.child.kill('SIGTERM');
  expect((await keycord.exited).code, keycord.output()).toBe(0);
  return keycord
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((entry) => entry.level === 40 && entry.msg.includes(text))
    .map((entry) => entry.msg);
}

describe.skipIf(process.platform === 'win32')('a development secret file other users can read', () => {
  it('is reported by the configuration with its mode, and still used: a warning, not a refusal', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const { dataDir } = dataDirWithSecret(mode);
      const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
      expect(config.secret).toBe(KEPT_SECRET.trim());
      expect(config.secretFileLooseMode, mode.toString(8)).toBe(mode);
    }
  });

  it('is not reported when only its owner can read it, when it was just generated, or when KEYCORD_SECRET is used instead', () => {
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDirWithSecret(0o600).dataDir }).secretFileLooseMode).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDirWithSecret(0o400).dataDir }).secretFileLooseMode).toBeUndefined();
    const fresh = mkdtempSync(join(tmpdir(), 'keycord-secret-mode-'));
    cleanups.push(() => rmSync(fresh, { recursive: true, force: true }));
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: fresh })).toMatchObject({ secretSource: 'generated', secretFileLooseMode: undefined });
    const loose = dataDirWithSecret(0o644).dataDir;
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: loose, KEYCORD_SECRET: 'e'.repeat(64) }).secretFileLooseMode).toBeUndefined();
  });

  it('makes keycord start warn once, naming the file and `chmod 600`, and start all the same', { timeout: 90_000 }, async () => {
    const { dataDir, file } = dataDirWithSecret(0o644);
    const warnings = await startupWarnings({ DATA_DIR: dataDir, KEYCORD_SECRET: undefined, NODE_ENV: 'development' }, `chmod 600 ${file}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('0644');
  });
});

describe('a KEYCORD_SECRET made of few different characters', () => {
  const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://127.0.0.1:5432/keycord' };

  it('is flagged by the configuration (long enough, but a pattern), and still used', () => {
    for (const weak of ['a'.repeat(32), 'password'.repeat(4), '0123456'.repeat(6)]) {
      const config = loadConfig({ ...base, KEYCORD_SECRET: weak });
      expect(config.secretLooksWeak, weak).toBe(true);
      expect(config.secret).toBe(weak);
    }
    // openssl rand -hex 32, openssl rand -base64 32, and the secret generated in DATA_DIR: not flagged.
    for (const random of [KEPT_SECRET.trim(), 'q8J2vX0bLr5mT9wY3kF7nC1pH6sZ4dGe+aUiO/QyRtE=']) {
      expect(loadConfig({ ...base, KEYCORD_SECRET: random }).secretLooksWeak, random).toBe(false);
    }
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDirWithSecret(0o600).dataDir }).secretLooksWeak).toBe(false);
  });

  it('makes keycord start warn once, with how to make a random one, and start all the same', { timeout: 90_000 }, async () => {
    const warnings = await startupWarnings({ KEYCORD_SECRET: 'ab'.repeat(20), NODE_ENV: 'test' }, 'openssl rand -hex 32');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain('abab');
  });
});
