import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { CONFIG_VARIABLES, ConfigError } from './config.js';

const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/;
const QUOTES = ['"', "'", '`'];

/**
 * Reads `.env` from the working directory into process.env when there is one, before the
 * configuration is parsed. Only variables that are not set yet are taken — one set to an empty
 * string counts as set — so the real environment always wins over the file (as with Node's own
 * `process.loadEnvFile`). Returns the path read, or undefined when there is none.
 *
 * Node's parser never refuses a line: one without `=` becomes part of the next variable's name, an
 * indented comment swallows the line after it, a quote left open is kept in the value. Each loses
 * a setting without a word (`DATA_DIR` then falls back to ./data), so the file is checked line by
 * line first, and a line that is not `NAME=value` stops start-up with its number.
 */
export function readEnvFile(cwd = process.cwd()): string | undefined {
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Could not read ${file}: ${(err as Error).message}`);
  }
  const assignments = assignmentLines(text, file);
  for (const [name, value] of Object.entries(parseEnv(assignments))) {
    if (process.env[name] === undefined && value !== undefined) process.env[name] = value;
  }
  return file;
}

/**
 * The file's assignments without its comments and blank lines (Node's parser is given only what
 * it reads right). A malformed line is pointed at by number and never quoted: it may hold a secret.
 */
function assignmentLines(text: string, file: string): string {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const kept: string[] = [];
  const refuse = (n: number, what: string) => new ConfigError(`Invalid ${file}, line ${n}: ${what}. Each line is NAME=value, a # comment, or blank.`);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = ASSIGNMENT.exec(line);
    if (!match) throw refuse(i + 1, 'not NAME=value');
    const [, name, raw] = match as unknown as [string, string, string];
    const value = raw.trimStart();
    // Node's parser is handed `NAME=value` alone: it keeps what follows `export` as part of the
    // name when more than one space or a tab comes before it (` NAME` would be set, not NAME).
    const assignment = `${name}=${value}`;
    const quote = QUOTES.find((q) => value.startsWith(q));
    if (!quote) {
      // Unquoted, Node ends the value at the first `#`: one of Keycord's settings holding one (a
      // password, a secret) would be cut short. `NAME= # note` is a comment, and a file shared
      // with other tools may hold their `COLOR=#ff8800`: those are read as Node reads them.
      if (CONFIG_VARIABLES.has(name) && /(^|[^\s])#/.test(raw)) {
        throw refuse(i + 1, `${name} has a # inside its unquoted value, where the value would end: put the value in quotes`);
      }
      kept.push(assignment);
      continue;
    }
    const close = value.indexOf(quote, 1);
    if (close !== -1) {
      if (!isBlankOrComment(value.slice(close + 1))) throw refuse(i + 1, `${name} has text after its closing quote (${quote})`);
      kept.push(assignment);
      continue;
    }
    // A value over several lines, up to the line that closes its quote.
    const end = lines.findIndex((l, j) => j > i && l.includes(quote));
    if (end === -1) throw refuse(i + 1, `${name} opens a quote (${quote}) that never closes`);
    const last = lines[end]!;
    if (!isBlankOrComment(last.slice(last.indexOf(quote) + 1))) throw refuse(end + 1, `${name} has text after its closing quote (${quote})`);
    // The first line as written, up to its end: spaces before the line break are inside the quote.
    const opening = (ASSIGNMENT.exec(lines[i]!.trimStart())?.[2] ?? value).trimStart();
    kept.push(`${name}=${opening}`, ...lines.slice(i + 1, end + 1));
    i = end;
  }
  return kept.join('\n');
}

const isBlankOrComment = (rest: string) => rest.trim() === '' || rest.trim().startsWith('#');
