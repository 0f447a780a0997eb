import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';

/**
 * Writes `content` to `file` unless the file exists, and never lets a reader see it half-written:
 * the content goes whole (fsynced) into a temporary file beside it, which is hard-linked into
 * place — `link` fails when the name exists, so of processes racing for one name exactly one
 * wins. Where the file system has no hard links, an exclusive create is the next best thing.
 * Answers whether this call placed the file. Used for the DATA_DIR lock and the generated
 * development secret.
 */
export function placeFileExclusively(file: string, content: string, mode: number): boolean {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeWhole(temporary, content, mode);
  try {
    linkSync(temporary, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
    try {
      writeWhole(file, content, mode);
      return true;
    } catch (createErr) {
      if ((createErr as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw createErr;
    }
  } finally {
    removeIfPresent(temporary);
  }
}

/** Creates `file` (failing with EEXIST when it exists) holding `content`, flushed to disk. */
function writeWhole(file: string, content: string, mode: number): void {
  const fd = openSync(file, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
