import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { readEnvFile } from '../src/env-file.js';

// Names no other code reads, so setting them in this process touches nothing else.
const NAMES = ['KC_ENVTEST_A', 'KC_ENVTEST_B', 'KC_ENVTEST_C', 'KC_ENVTEST_SECRET'];
const dirs: string[] = [];
afterEach(() => {
  for (const name of NAMES) delete process.env[name];
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function envFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'keycord-dotenv-'));
  dirs.push(dir);
  writeFileSync(join(dir, '.env'), text);
  return dir;
}

function refusal(text: string): ConfigError {
  const dir = envFile(text);
  let thrown: unknown;
  try {
    readEnvFile(dir);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${JSON.stringify(text)} to be refused`).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

describe('a malformed .env file', () => {
  it('stops start-up naming the line that is not NAME=value, instead of silently dropping the variable after it', () => {
    const err = refusal('KC_ENVTEST_A=1\nKC_ENVTEST_SECRET hunter2hunter2\nKC_ENVTEST_B=/srv/keycord\n');
    expect(err.message).toContain('.env');
    expect(err.message).toContain('line 2');
    // The line may hold a secret: it is pointed at, never quoted.
    expect(err.message).not.toContain('hunter2');
    // Nothing of the file was applied.
    expect(process.env.KC_ENVTEST_A).toBeUndefined();
    expect(process.env.KC_ENVTEST_B).toBeUndefined();
  });

  it('stops start-up on a quote that never closes, naming the variable and its line', () => {
    const err = refusal('KC_ENVTEST_A=1\nKC_ENVTEST_B="/srv/keycord\nKC_ENVTEST_C=3\n');
    expect(err.message).toMatch(/line 2.*KC_ENVTEST_B|KC_ENVTEST_B.*line 2/);
  });

  it('stops start-up on text after a closing quote, which would be dropped', () => {
    expect(refusal("KC_ENVTEST_A='it's'\n").message).toContain('line 1');
    expect(refusal('KC_ENVTEST_A=1\n=5\nKC_ENVTEST_B=2\n').message).toContain('line 2');
  });

  it('reads what Node documents: comments (indented too), export, spaces round =, quoted and multi-line values', () => {
    const dir = envFile(
      [
        '# a comment',
        '  # an indented comment',
        'KC_ENVTEST_A=plain # trailing comment',
        'export KC_ENVTEST_B = "two words"',
        "KC_ENVTEST_C='first",
        '# not a comment inside the value',
        "last'",
        '',
      ].join('\r\n'),
    );
    expect(readEnvFile(dir)).toBe(join(dir, '.env'));
    expect(process.env.KC_ENVTEST_A).toBe('plain');
    expect(process.env.KC_ENVTEST_B).toBe('two words');
    expect(process.env.KC_ENVTEST_C).toBe('first\n# not a comment inside the value\nlast');
  });

  it('sets the variable an export line names, whatever spaces or tab follow `export` (Node would set " NAME")', () => {
    readEnvFile(envFile('export  KC_ENVTEST_A=/srv/a\nexport\tKC_ENVTEST_B=/srv/b\n'));
    expect(process.env.KC_ENVTEST_A).toBe('/srv/a');
    expect(process.env.KC_ENVTEST_B).toBe('/srv/b');
    expect(process.env[' KC_ENVTEST_A']).toBeUndefined();
  });

  it("stops start-up on a # inside an unquoted value of Keycord's settings, which Node would cut the value at, and takes it quoted", () => {
    // Refused before anything is applied: nothing of these lines reaches process.env.
    const err = refusal('KEYCORD_SECRET=hunter2#hunter2\n');
    expect(err.message).toContain('line 1');
    expect(err.message).toContain('quotes');
    expect(err.message).not.toContain('hunter2');
    expect(refusal('KC_ENVTEST_A=1\nDISCORD_GUILD_ID=#123\n').message).toContain('line 2');
    readEnvFile(envFile('KC_ENVTEST_SECRET="hunter2#hunter2" # a comment after the quote\nKC_ENVTEST_A=plain # a comment\n'));
    expect(process.env.KC_ENVTEST_SECRET).toBe('hunter2#hunter2');
    expect(process.env.KC_ENVTEST_A).toBe('plain');
  });

  it('reads a comment after `=` and the # values of other tools sharing the file as Node does', () => {
    readEnvFile(envFile('KC_ENVTEST_A= # not used yet\nKC_ENVTEST_B=#ff8800\nKC_ENVTEST_C=  "spaced"\n'));
    expect(process.env.KC_ENVTEST_A).toBe('');
    expect(process.env.KC_ENVTEST_B).toBe('');
    expect(process.env.KC_ENVTEST_C).toBe('spaced');
  });

  it('leaves a variable already set in the environment alone', () => {
    process.env.KC_ENVTEST_A = 'from the environment';
    readEnvFile(envFile('KC_ENVTEST_A=from the file\nKC_ENVTEST_B=b\n'));
    expect(process.env.KC_ENVTEST_A).toBe('from the environment');
    expect(process.env.KC_ENVTEST_B).toBe('b');
  });
});
