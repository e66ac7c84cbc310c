/**
 * File-system helpers that keep the promise "nothing lost, nothing leaked on disk":
 * outputs are written to a private temporary file in the same directory and renamed
 * into place, so a crash leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileNotFoundError, ReadError, WriteError } from './errors.js';

/** Reads a whole input file, mapping errors to wax's typed errors. */
export function readInputFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileNotFoundError(path);
    if (code === 'EISDIR') throw new ReadError(`${path} is a directory`, 'pass -r to process every file in a directory');
    if (code === 'EACCES' || code === 'EPERM') throw new ReadError(`${path}: permission denied`, 'check the file permissions');
    throw new ReadError(`${path}: cannot read (${code ?? 'error'})`);
  }
}

/**
 * Atomically replaces `path` with `data`. The temporary file is created 0600 (exclusive,
 * so it never follows a planted link), fsynced, given the original file's mode, and
 * renamed over the target. On any error the temporary file is removed and the original
 * is untouched.
 */
export function writeFileAtomic(path: string, data: Uint8Array, options: { mode?: number } = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.wax-${randomBytes(6).toString('hex')}.tmp`);
  const mode = options.mode ?? existingMode(path) ?? 0o644;
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o600);
    let offset = 0;
    while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (mode !== 0o600) chmodQuiet(temp, mode);
    renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuiet(temp);
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new WriteError(`cannot write ${path} (${code}); the original file is unchanged`, code === 'EACCES' ? 'check the directory permissions' : undefined);
  }
}

function existingMode(path: string): number | undefined {
  try {
    const stat = lstatSync(path);
    return stat.isFile() ? stat.mode & 0o777 : undefined;
  } catch {
    return undefined;
  }
}

function chmodQuiet(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch {
    /* the default 0600 is the safe side */
  }
}

export function removeQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
