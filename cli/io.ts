/** Reading inputs and placing outputs for the file commands. */
import { readFileSync } from 'node:fs';
import { readInputFile, writeFileAtomic } from '../src/files.js';
import { ReadError, UsageError } from '../src/errors.js';

export function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch {
    throw new ReadError('cannot read standard input');
  }
}

export function readInput(file: string | undefined): Buffer {
  return file === undefined || file === '-' ? readStdin() : readInputFile(file);
}

export interface OutputFlags {
  inPlace?: boolean;
  output?: string;
}

/** Where a single-file command's result goes: the file itself, --output, or stdout. */
export function placeOutput(file: string | undefined, data: Uint8Array, flags: OutputFlags, mode?: number): void {
  if (flags.inPlace) {
    if (file === undefined || file === '-') throw new UsageError('--in-place needs a file, not standard input');
    writeFileAtomic(file, data, { mode });
  } else if (flags.output) {
    writeFileAtomic(flags.output, data, { mode });
  } else {
    process.stdout.write(data);
  }
}

export function checkOutputFlags(files: string[], flags: OutputFlags, command: string): void {
  if (flags.inPlace && flags.output) throw new UsageError('--in-place and --output cannot be used together');
  if (files.length > 1 && !flags.inPlace) {
    throw new UsageError(`${command} of several files needs --in-place`, `run \`wax ${command} -i FILE...\`, or one file at a time`);
  }
}
