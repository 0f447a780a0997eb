import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { lockDataDir } from '../src/db/data-dir-lock.js';
import { ROOT } from './support/keycord-process.js';

const SECRET = 'f3a9c1d27be84e05a6d9c3b1e7f20a4d';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A path where no directory can be made: under a regular file (what a mistyped DATA_DIR often is). */
function unusableDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keycord-unusable-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'a-file'), 'not a directory\n');
  return join(dir, 'a-file', 'data');
}

describe('a DATA_DIR Keycord cannot write', () => {
  it('stops the configuration with a message naming DATA_DIR when the development secret cannot be kept there', () => {
    const dataDir = unusableDataDir();
    let thrown: unknown;
    try {
      loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain('DATA_DIR');
    expect((thrown as Error).message).toContain(dataDir);
  });

  it('is refused by the embedded database with a message naming DATA_DIR, not a bare file-system error', async () => {
    const dataDir = unusableDataDir();
    await expect(lockDataDir(dataDir)).rejects.toThrow(/DATA_DIR .*a-file\/data.*(cannot|not)/);
  });

  it('makes keycord start exit 1 saying what to change, without a stack trace', { timeout: 60_000 }, () => {
    const dataDir = unusableDataDir();
    for (const secret of [undefined, SECRET]) {
      const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0' };
      for (const k of ['DATABASE_URL', 'REDIS_URL', 'KEYCORD_SECRET', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete env[k];
      if (secret) env.KEYCORD_SECRET = secret;
      const r = spawnSync(process.execPath, ['bin/keycord.js', 'start'], { cwd: ROOT, env, encoding: 'utf8', timeout: 45_000 });
      const out = r.stdout + r.stderr;
      expect(r.status, out).toBe(1);
      expect(out).toContain('DATA_DIR');
      expect(out).toContain(`${dataDir} cannot be used`);
      expect(out).not.toMatch(/\n\s+at |\\n\s+at /);
    }
  });
});
