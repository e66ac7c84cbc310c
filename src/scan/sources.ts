/**
 * Where `wax scan` gets its files from. A source lists the paths to scan, answers "does
 * this file exist / what does it hold" for the detectors from the same place (git's index
 * for `--staged`, the working tree otherwise), and names the `.sops.yaml` and `.waxignore`
 * in force. Paths are the ones findings print: forward slashes, repository-relative in
 * the git modes (see `git.ts`), as given (and walked) on the command line here.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { FileNotFoundError, ReadError, UsageError } from '../errors.js';

/**
 * What loading one file gave: its bytes, or why there are none. `borrowed`: the bytes lie
 * in the caller's scratch buffer, which the next load overwrites; copy them to keep them.
 */
export type Loaded = { kind: 'content'; content: Buffer; borrowed?: boolean } | { kind: 'too-large'; size: number } | { kind: 'missing' };

/** A file wax reads itself (`.sops.yaml`, `.waxignore`): where it lives, and its bytes when they are not on disk. */
export interface SideFile {
  /** Absolute location; relative paths in the file are relative to its directory. */
  readonly path: string;
  /** How messages name it, e.g. `.sops.yaml (staged)`. */
  readonly name: string;
  /** The content when it comes from git's index; undefined means "read `path`". */
  readonly content?: Buffer;
}

export interface ScanSource {
  /** The paths to scan, in the form findings print, without duplicates. */
  list(): Promise<string[]>;
  /**
   * Loads one listed path; a file over `maxBytes` is reported with its size instead of
   * read (at once, where that costs no waiting). A file on disk that fits in `scratch` may
   * be read into it (`borrowed`), sparing an allocation per file.
   */
  load(path: string, maxBytes: number, scratch?: Buffer): Loaded | Promise<Loaded>;
  exists(path: string): boolean;
  /** Every path `exists` says yes to, where the source has the list (see ScanContext.knownPaths). */
  knownPaths?(): Iterable<string>;
  read(path: string): Promise<Buffer | undefined>;
  /** The absolute location of a path, for matching `path_regex` and `.waxignore` patterns. */
  locate(path: string): string;
  /** The `.sops.yaml` whose creation rules say which files must be encrypted, if any. */
  sopsConfig(): Promise<SideFile | undefined>;
  /** The `.waxignore` in force, if any. */
  waxignore(): Promise<SideFile | undefined>;
  /** Ends helper processes; the source is unusable afterwards. */
  close(): void;
}

const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

/** Forward slashes whatever the platform, so fingerprints and baselines travel. */
export function toSlashes(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

/**
 * Reads a file unless it is bigger than `maxBytes`; directories are not files here, nor
 * symbolic links unless `followLinks` (a link can point anywhere: outside the repository,
 * /dev/zero). Synchronous on purpose: detection runs on this thread anyway, and for the
 * small files a scan meets, a few system calls beat four thread-pool round trips.
 */
export function loadFile(path: string, maxBytes: number, followLinks = false, scratch?: Buffer): Loaded {
  try {
    return followLinks || NO_FOLLOW === undefined ? loadChecked(path, maxBytes, followLinks) : loadOpened(path, maxBytes, scratch);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'EACCES' || code === 'EPERM') throw new ReadError(`${path}: permission denied`, 'check the file permissions, or list the file in .waxignore');
    throw new ReadError(`${path}: cannot read (${code ?? 'error'})`);
  }
}

/**
 * Opening with O_NOFOLLOW refuses a link where `lstat` would have said "not a file", so
 * one `fstat` of the open file answers both questions (is it a file, how big) and saves
 * a system call per file. O_NONBLOCK keeps the open of a FIFO from waiting for a writer.
 */
const NO_FOLLOW = constants.O_NOFOLLOW === undefined || constants.O_NONBLOCK === undefined ? undefined : constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** What opening a path that is no regular file can fail with: a link (ELOOP), a socket (ENXIO), a directory elsewhere (EISDIR). */
const NOT_A_FILE = new Set(['ELOOP', 'ENXIO', 'EISDIR']);

function loadOpened(path: string, maxBytes: number, scratch?: Buffer): Loaded {
  let fd: number;
  try {
    fd = openSync(path, NO_FOLLOW!);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NOT_A_FILE.has(code)) return { kind: 'missing' };
    // An unreadable directory or FIFO is still no file, as lstat would have said before reading.
    if ((code === 'EACCES' || code === 'EPERM') && !lstatSync(path).isFile()) return { kind: 'missing' };
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { kind: 'missing' };
    if (stat.size > maxBytes) return { kind: 'too-large', size: stat.size };
    if (scratch !== undefined && stat.size <= scratch.length) return { kind: 'content', content: readOpen(fd, stat.size, scratch), borrowed: true };
    return { kind: 'content', content: readOpen(fd, stat.size) };
  } finally {
    closeSync(fd);
  }
}

/** Where O_NOFOLLOW is missing (Windows), or links are followed: stat first, then read. */
function loadChecked(path: string, maxBytes: number, followLinks: boolean): Loaded {
  const stat = followLinks ? statSync(path) : lstatSync(path);
  if (!stat.isFile()) return { kind: 'missing' };
  if (stat.size > maxBytes) return { kind: 'too-large', size: stat.size };
  return { kind: 'content', content: readFileSync(path) };
}

/** The `size` bytes `fstat` promised, or fewer when the file shrank meanwhile (as readFileSync reads). */
function readOpen(fd: number, size: number, into?: Buffer): Buffer {
  const content = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const read = readSync(fd, content, filled, size - filled, null);
    if (read === 0) break;
    filled += read;
  }
  return filled < size ? content.subarray(0, filled) : content;
}

/**
 * `join(root, path)` for the plain relative paths git prints and a directory walk makes,
 * without join's normalising pass over every character (it runs several times per file).
 */
export function joinClean(root: string, path: string): string {
  if (sep !== '/' || path === '' || UNCLEAN_PATH.test(path)) return join(root, path);
  return root.endsWith('/') ? root + path : `${root}/${path}`;
}

/** What join would change: `.`/`..` segments, doubled, leading or trailing slashes. */
const UNCLEAN_PATH = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\/|\/$/;

/** The nearest `.waxignore` from `dir` upwards, stopping at the repository root (the directory holding `.git`). */
export function findWaxignore(dir: string): SideFile | undefined {
  let current = resolve(dir);
  for (;;) {
    const candidate = join(current, '.waxignore');
    if (existsSync(candidate)) return { path: candidate, name: candidate };
    const parent = dirname(current);
    if (parent === current || existsSync(join(current, '.git'))) return undefined;
    current = parent;
  }
}

/** The `.sops.yaml` sops itself would use from `cwd`: SOPS_CONFIG, else the nearest one upwards. */
async function findSopsConfig(cwd: string): Promise<SideFile | undefined> {
  // config.ts carries the YAML store: loaded only when a scan needs it.
  const { findConfigFile } = await import('../config.js');
  const path = findConfigFile(cwd, process.env.SOPS_CONFIG || undefined);
  return path ? { path, name: path } : undefined;
}

/** Files and directories on disk; directories are walked, skipping `.git/` and `node_modules/`. */
export function pathsSource(paths: readonly string[], cwd: string = process.cwd()): ScanSource {
  const locate = (path: string) => resolve(cwd, path);
  const read = async (path: string) => {
    const loaded = loadFile(locate(path), Number.MAX_SAFE_INTEGER);
    return loaded.kind === 'content' ? loaded.content : undefined;
  };
  return {
    list: async () => expandPaths(paths.length > 0 ? paths : ['.'], cwd),
    // The walk lists no links, so a link here was named on the command line: follow it
    // (stat, then readFileSync: no scratch buffer on this path).
    load: (path, maxBytes) => loadFile(locate(path), maxBytes, true),
    exists: (path) => existsSync(locate(path)),
    read,
    locate,
    sopsConfig: () => findSopsConfig(cwd),
    waxignore: async () => findWaxignore(cwd),
    close: () => undefined,
  };
}

function expandPaths(paths: readonly string[], cwd: string): string[] {
  const seen = new Set<string>();
  for (const given of paths) {
    const path = toSlashes(normalize(given));
    let isDirectory: boolean;
    try {
      isDirectory = statSync(resolve(cwd, path)).isDirectory();
    } catch {
      throw new FileNotFoundError(given);
    }
    if (!isDirectory) seen.add(path);
    else for (const file of walk(path, cwd)) seen.add(file);
  }
  return [...seen];
}

function walk(dir: string, cwd: string): string[] {
  const out: string[] = [];
  const entries = readdirSync(resolve(cwd, dir), { withFileTypes: true });
  for (const entry of entries) {
    // `join('.', 'a')` is `a`: walking the default `.` prints plain relative paths.
    const path = toSlashes(join(dir, entry.name));
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) out.push(...walk(path, cwd));
    } else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * Standard input as one file named `name` (what detectors and findings see). Other paths
 * a detector asks about (a twin, say) are answered from the working tree.
 */
export function stdinSource(content: Buffer, name: string, cwd: string = process.cwd()): ScanSource {
  if (name === '' || name.includes('\0')) throw new UsageError('--stdin-filename must be a file name', 'e.g. --stdin-filename deploy/secret.yaml');
  const path = toSlashes(normalize(name));
  const tree = pathsSource([], cwd);
  const isSelf = (other: string) => toSlashes(normalize(other)) === path;
  return {
    ...tree,
    list: async () => [path],
    load: async (_path, maxBytes) => (content.length > maxBytes ? { kind: 'too-large', size: content.length } : { kind: 'content', content }),
    exists: (other) => isSelf(other) || tree.exists(other),
    read: async (other) => (isSelf(other) ? content : tree.read(other)),
    locate: (other) => (isAbsolute(other) ? other : resolve(cwd, other)),
  };
}
