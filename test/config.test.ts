import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const SECRET = 'a'.repeat(64);
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'keycord-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The ConfigError thrown for `env`, or a failure if none is. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loading the configuration', () => {
  it('stops on a bad PORT, naming the variable', () => {
    for (const PORT of ['abc', '70000', '-1', '80.5']) {
      const err = configError({ PORT, KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() });
      expect(err.message).toContain('PORT');
      expect(err.name).toBe('ConfigError');
    }
  });

  it('stops on a DATABASE_URL that is not a postgres URL, naming the variable', () => {
    for (const DATABASE_URL of ['mysql://localhost/db', 'localhost:5432', 'http://x']) {
      const err = configError({ DATABASE_URL, KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() });
      expect(err.message).toContain('DATABASE_URL');
      expect(err.message).not.toContain('PORT');
    }
  });

  it('reads SIGNING_THREAD as a boolean, refusing anything else by name', () => {
    const base = { KEYCORD_SECRET: SECRET, DATA_DIR: tempDir() };
    expect(loadConfig({ ...base, SIGNING_THREAD: 'false' }).signingThread).toBe(false);
    // On by default wherever there is a second CPU to sign on.
    expect(loadConfig(base).signingThread).toBe(availableParallelism() > 1);
    expect(configError({ ...base, SIGNING_THREAD: 'sometimes' }).message).toContain('SIGNING_THREAD');
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'x', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', KEYCORD_SECRET: SECRET });
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL']) expect(err.message).toContain(name);
  });

  it('requires KEYCORD_SECRET in production and writes no secret file', () => {
    const dir = tempDir();
    const err = configError({ NODE_ENV: 'production', DATA_DIR: dir });
    expect(err.message).toContain('KEYCORD_SECRET');
    expect(existsSync(join(dir, 'keycord-secret'))).toBe(false);
    // An empty value (`KEYCORD_SECRET=` in a compose file) counts as unset.
    expect(configError({ NODE_ENV: 'production', KEYCORD_SECRET: '', DATA_DIR: dir }).message).toContain('KEYCORD_SECRET');
  });

  it('refuses a KEYCORD_SECRET shorter than 32 characters', () => {
    expect(configError({ NODE_ENV: 'production', KEYCORD_SECRET: 'short', DATA_DIR: tempDir() }).message).toContain('KEYCORD_SECRET');
  });

  it('takes KEYCORD_SECRET from the environment in production', () => {
    const config = loadConfig({ NODE_ENV: 'production', KEYCORD_SECRET: SECRET, DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', PORT: '8080', DATA_DIR: tempDir() });
    expect(config).toMatchObject({ env: 'production', secret: SECRET, secretSource: 'env', port: 8080, databaseUrl: 'postgres://u@127.0.0.1:5432/db' });
  });

  it('generates a development secret once in DATA_DIR, then reuses it', () => {
    const dir = tempDir();
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(first.secretSource).toBe('generated');
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    const file = join(dir, 'keycord-secret');
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secret);
    expect(statSync(file).mode & 0o077).toBe(0);
    const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(second).toMatchObject({ secretSource: 'data-dir', secret: first.secret });
  });

  it('uses documented defaults when nothing is set', () => {
    const config = loadConfig({ DATA_DIR: tempDir(), KEYCORD_SECRET: SECRET });
    expect(config).toMatchObject({ env: 'development', port: 3000, databaseUrl: undefined, logLevel: 'info' });
  });
});
