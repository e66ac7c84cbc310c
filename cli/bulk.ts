/**
 * Many files at once: expands directories (with -r), runs one operation per file with a
 * concurrency bound, shows a progress bar on a terminal, and ends with a summary. One
 * failing file never stops the others; the exit code says that something failed. A walk
 * skips wax's own lock and temporary files (another wax process may be working there).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, ReadError, WaxError } from '../src/errors.js';
import { isWaxScratchName } from '../src/files.js';
import { printError } from './output.js';

/** What a per-file operation reports: the verb for the summary ("encrypted", "skipped"). */
export type FileOutcome = { status: 'done' | 'skipped'; note?: string };

const SKIPPED_DIRS = new Set(['.git', 'node_modules', '.hg', '.svn']);

/** Expands the arguments into files; a directory needs `recursive`. */
export function expandPaths(paths: string[], recursive: boolean): string[] {
  const out: string[] = [];
  for (const path of paths) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      out.push(path); // reported as "no such file" by the operation itself
      continue;
    }
    if (!isDir) out.push(path);
    else if (!recursive) throw new ReadError(`${path} is a directory`, 'pass -r to process every file in a directory');
    else out.push(...walk(path));
  }
  return out;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) out.push(...walk(path));
    } else if (entry.isFile() && !isWaxScratchName(entry.name)) out.push(path);
  }
  return out;
}

export interface BulkOptions {
  verb: string;
  jobs: number;
  /** Show per-file lines even on success. */
  verbose?: boolean;
}

/** Runs `operation` over `files`; returns the exit code (0, or SomeFilesFailed). */
export async function runBulk(files: string[], operation: (file: string) => Promise<FileOutcome>, options: BulkOptions): Promise<number> {
  const progress = new Progress(files.length);
  const counts = { done: 0, skipped: 0, failed: 0 };
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      try {
        const outcome = await operation(file);
        counts[outcome.status]++;
        if (outcome.note) progress.log(`wax: ${file}: ${outcome.note}\n`);
      } catch (error) {
        counts.failed++;
        progress.clear();
        const code = printError(prefixed(error, file));
        void code;
      }
      progress.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, files.length)) }, worker));
  progress.clear();
  process.stderr.write(`wax: ${files.length} file${files.length === 1 ? '' : 's'}: ${counts.done} ${options.verb}, ${counts.skipped} skipped, ${counts.failed} failed\n`);
  return counts.failed > 0 ? ExitCode.SomeFilesFailed : 0;
}

function prefixed(error: unknown, file: string): unknown {
  if (error instanceof WaxError && !error.message.includes(file)) {
    const copy = new WaxError(`${file}: ${error.message}`, error.exitCode, error.hint);
    return copy;
  }
  return error;
}

/** A one-line progress bar on stderr, only when stderr is a terminal. */
class Progress {
  private done = 0;
  private readonly enabled: boolean;
  constructor(private readonly total: number) {
    this.enabled = Boolean(process.stderr.isTTY) && total > 1 && process.env.CI !== 'true';
  }
  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} files`);
  }
  log(line: string): void {
    this.clear();
    process.stderr.write(line);
  }
  clear(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K');
  }
}
