import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './config.js';

/**
 * Reads `.env` from the working directory into process.env when there is one, before the
 * configuration is parsed. Node's own loader (`process.loadEnvFile`, Node 20.12+) sets only the
 * variables that are not set yet — one set to an empty string counts as set — so the real
 * environment always wins over the file. Returns the path read, or undefined when there is none.
 */
export function readEnvFile(cwd = process.cwd()): string | undefined {
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) return undefined;
  if (typeof process.loadEnvFile !== 'function') {
    throw new ConfigError(`${file} exists, but Node ${process.version} cannot read .env files: use Node 20.12 or later, or set the variables in the environment`);
  }
  try {
    process.loadEnvFile(file);
  } catch (err) {
    throw new ConfigError(`Could not read ${file}: ${(err as Error).message}`);
  }
  return file;
}
