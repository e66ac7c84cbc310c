/**
 * File-system helpers that keep the promise "nothing lost, nothing leaked on disk":
 * outputs are written to a private temporary file in the same directory and renamed
 * into place, so a crash leaves either the old file or the new one, never half of one;
 * a read-modify-write of a file holds that file's lock, so two wax processes never
 * lose each other's update, and a file changed by anything else meanwhile is refused.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConcurrentModificationError, FileNotFoundError, ReadError, WriteError } from './errors.js';

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
 * so it never follows a planted link), fsynced and renamed over the target; only then is
 * it given the original file's mode, through its still-open descriptor (the inode wax
 * wrote, whatever has happened to the path since). So a process killed at any point
 * leaves either a 0600 temporary file or the target at 0600: never a temporary copy
 * (of a `decrypt -i` plaintext, say) readable by others while the original is unchanged.
 * On any error the temporary file is removed and the original is untouched. Its name
 * carries the writer's pid, so that a temporary file left by a killed process (SIGKILL
 * cannot be caught) is recognised and removed later.
 */
export function writeFileAtomic(path: string, data: Uint8Array, options: { mode?: number } = {}): void {
  const temp = tempPathFor(path);
  const mode = options.mode ?? existingMode(path) ?? 0o644;
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o600);
    let offset = 0;
    while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
    fsyncSync(fd);
    renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuiet(temp);
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new WriteError(`cannot write ${path} (${code}); the original file is unchanged`, code === 'EACCES' ? 'check the directory permissions' : undefined);
  }
  if (mode !== 0o600) fchmodQuiet(fd, mode);
  closeSync(fd);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.wax-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** The lock file that guards `path`: hidden, next to it, so it is on the same file system. */
export function lockPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.wax-lock`);
}

const SCRATCH_NAME = /^\..+\.wax-(lock|\d+-[0-9a-f]{12}\.tmp)$/;

/** True for wax's own temporary and lock files, which directory walks must leave alone. */
export function isWaxScratchName(name: string): boolean {
  return SCRATCH_NAME.test(name);
}

function existingMode(path: string): number | undefined {
  try {
    const stat = lstatSync(path);
    return stat.isFile() ? stat.mode & 0o777 : undefined;
  } catch {
    return undefined;
  }
}

function fchmodQuiet(fd: number, mode: number): void {
  try {
    fchmodSync(fd, mode);
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

// ------------------------------------------------------------------ read-modify-write

export interface UpdateOptions {
  /** Mode of the written file; the existing file's mode by default. */
  mode?: number;
  /** How long to wait for another wax process that holds the file's lock (default 10 s). */
  lockWaitMs?: number;
}

/**
 * Reads `path` under its lock, lets `change` compute the new content (undefined: leave
 * the file alone) and replaces the file atomically. Other wax processes wait for the
 * lock, so concurrent updates apply one after the other; a program that does not take
 * the lock (an editor, git, sops) and writes the file meanwhile makes the update fail
 * with ConcurrentModificationError instead of being overwritten. Returns whether the
 * file was written.
 * @throws ConcurrentModificationError, WriteError, and whatever `change` or reading throws
 */
export async function updateFile(path: string, change: (current: Buffer) => Promise<Uint8Array | undefined>, options: UpdateOptions = {}): Promise<boolean> {
  return withFileLock(path, async () => {
    const current = readInputFile(path);
    const next = await change(current);
    if (next === undefined) return false;
    replaceLocked(path, current, next, options.mode);
    return true;
  }, options.lockWaitMs);
}

/**
 * Writes `data` over `path` only if the file still holds `expected` (undefined: the file
 * must still be absent), for changes prepared without the lock held, such as an editor
 * session that lasts minutes.
 * @throws ConcurrentModificationError, WriteError
 */
export async function replaceIfUnchanged(path: string, expected: Buffer | undefined, data: Uint8Array, options: UpdateOptions = {}): Promise<void> {
  await withFileLock(path, async () => replaceLocked(path, expected, data, options.mode), options.lockWaitMs);
}

function replaceLocked(path: string, expected: Buffer | undefined, data: Uint8Array, mode: number | undefined): void {
  const now = currentContent(path);
  const unchanged = expected === undefined ? now === undefined : now !== undefined && now.equals(expected);
  if (!unchanged) {
    throw new ConcurrentModificationError(
      `${path} was ${expected === undefined ? 'created' : now === undefined ? 'removed' : 'changed'} by another program while wax was working on it; nothing was written`,
      'run the command again on the current file',
    );
  }
  writeFileAtomic(path, data, { mode });
}

function currentContent(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return readInputFile(path); // rethrown as wax's typed error
  }
}

// ------------------------------------------------------------------ the lock

const DEFAULT_LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 25;
/** An empty lock is one being written right now, unless it is older than this. */
const EMPTY_LOCK_GRACE_MS = 5_000;

interface LockOwner {
  pid: number;
  host: string;
  /** The process start time from /proc, so a reused pid is not taken for the owner. */
  start?: string;
  token: string;
}

/** Lock paths this process holds, with their tokens, released on SIGINT/SIGTERM/SIGHUP too. */
const heldLocks = new Map<string, string>();
const RELEASING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `fn` holding the exclusive lock of `path`: `.NAME.wax-lock` created with O_EXCL
 * next to the file, holding the owner's pid, host and process start time, removed in
 * `finally`. A lock whose owner is dead (same host, no such process or another process
 * under that pid) is stale and broken, together with any temporary file its owner left.
 * A live owner is waited for up to `waitMs`, then ConcurrentModificationError.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, waitMs = DEFAULT_LOCK_WAIT_MS): Promise<T> {
  const lockPath = lockPathFor(path);
  const token = await acquireLock(path, lockPath, waitMs);
  try {
    return await fn();
  } finally {
    releaseLock(lockPath, token);
  }
}

async function acquireLock(path: string, lockPath: string, waitMs: number): Promise<string> {
  const owner: LockOwner = { pid: process.pid, host: hostname(), start: processStart(process.pid), token: randomBytes(12).toString('hex') };
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (tryCreateLock(lockPath, owner)) {
      holdLock(lockPath, owner.token);
      return owner.token;
    }
    const holder = readLock(lockPath);
    if (holder === 'gone') continue;
    if (isStale(lockPath, holder)) {
      breakStaleLock(path, lockPath, holder);
      continue;
    }
    if (Date.now() >= deadline) throw lockedError(path, lockPath, holder);
    await delay(LOCK_POLL_MS + Math.floor(Math.random() * LOCK_POLL_MS));
  }
}

/** True when this process created the lock; false when a lock exists already. */
function tryCreateLock(lockPath: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(lockPath, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'EEXIST') return false;
    throw new WriteError(`cannot create the lock file ${lockPath} (${code}); nothing was written`, code === 'EACCES' ? 'check the directory permissions' : undefined);
  }
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

type LockState = LockOwner | 'empty' | 'gone';

function readLock(lockPath: string): LockState {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch {
    return 'gone';
  }
  try {
    const parsed = JSON.parse(text) as LockOwner;
    if (Number.isInteger(parsed.pid) && typeof parsed.host === 'string' && typeof parsed.token === 'string') return parsed;
  } catch {
    /* empty or foreign content */
  }
  return 'empty';
}

function isStale(lockPath: string, holder: LockOwner | 'empty'): boolean {
  if (holder === 'empty') {
    // Created, not yet written: its owner is between two system calls, or died there.
    try {
      return Date.now() - statSync(lockPath).mtimeMs > EMPTY_LOCK_GRACE_MS;
    } catch {
      return false;
    }
  }
  // Another host's processes cannot be checked from here: never steal its lock.
  if (holder.host !== hostname()) return false;
  if (!processExists(holder.pid)) return true;
  const start = processStart(holder.pid);
  return holder.start !== undefined && start !== undefined && start !== holder.start;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), where /proc exists. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Moves the stale lock aside before deleting it, so that two processes breaking the same
 * stale lock at once never delete a fresh lock that one of them has just created; a
 * fresh lock moved by mistake is linked back (link never replaces an existing file).
 */
function breakStaleLock(path: string, lockPath: string, holder: LockOwner | 'empty'): void {
  const aside = tempPathFor(lockPath);
  try {
    renameSync(lockPath, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = readLock(aside);
  const same = holder === 'empty' ? moved === 'empty' : moved !== 'empty' && moved !== 'gone' && moved.token === holder.token;
  if (!same) {
    try {
      linkSync(aside, lockPath);
    } catch {
      /* a newer lock exists; the moved one is obsolete either way */
    }
  } else if (holder !== 'empty') {
    removeLeftovers(path, holder.pid);
  }
  removeQuiet(aside);
}

/** Temporary files that a dead lock owner left next to `path` (it died mid-write). */
function removeLeftovers(path: string, pid: number): void {
  const prefix = `.${basename(path)}.wax-${pid}-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix) && isWaxScratchName(name)) removeQuiet(join(dirname(path), name));
}

function lockedError(path: string, lockPath: string, holder: LockOwner | 'empty'): ConcurrentModificationError {
  const who = holder === 'empty' ? 'another wax process' : `another wax process (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`})`;
  return new ConcurrentModificationError(`${path} is being changed by ${who}; nothing was written`, `try again when it has finished; if no wax process is running, remove ${lockPath}`);
}

function holdLock(lockPath: string, token: string): void {
  if (heldLocks.size === 0) for (const signal of RELEASING_SIGNALS) process.on(signal, releaseOnSignal);
  heldLocks.set(lockPath, token);
}

function releaseLock(lockPath: string, token: string): void {
  heldLocks.delete(lockPath);
  if (heldLocks.size === 0) for (const signal of RELEASING_SIGNALS) process.off(signal, releaseOnSignal);
  // Only our own lock: after a stale-lock break by another process it may be someone else's.
  const holder = readLock(lockPath);
  if (holder !== 'gone' && holder !== 'empty' && holder.token === token) removeQuiet(lockPath);
}

/**
 * A signal while locks are held: release them, then let the signal do what it would
 * have done without this listener (end the process), unless someone else listens for
 * it, such as the private scope of `wax edit`, which decides for itself.
 */
function releaseOnSignal(signal: NodeJS.Signals): void {
  // Another listener decides; if it ends wax by raising the signal again, this runs alone.
  if (process.listenerCount(signal) > 1) return;
  for (const [lockPath, token] of [...heldLocks]) releaseLock(lockPath, token);
  process.kill(process.pid, signal);
}
