/**
 * The git sources of `wax scan`: `--staged` (the content of git's index: what the next
 * commit will hold, whatever the working tree says), `--all` (every tracked file) and
 * `--since REV` (what changed since a commit), with paths relative to the repository root.
 * The index is read with three git processes in all, whatever the number of files: one
 * `diff --cached`, one `ls-files --stage`, and one `cat-file --batch` that streams every blob.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ExitCode, UsageError, WaxError } from '../errors.js';
import { joinClean, loadFile, toSlashes, type Loaded, type ScanSource, type SideFile } from './sources.js';

/** git failed, or the directory is not a repository. */
export class GitError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotReadInputFile, hint);
  }
}

/** Repository-wide settings for every git process: no optional index lock (a commit in progress holds it). */
function gitEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_OPTIONAL_LOCKS: '0' };
}

/** Runs git to completion; its stdout as bytes (paths are `-z` separated, never decoded lossily). */
export function runGit(args: readonly string[], cwd: string): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', args, { cwd, env: gitEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => reject(spawnError(error)));
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out));
      else reject(new GitError(`git ${args[0]} failed: ${firstLine(Buffer.concat(err).toString('utf8')) || `exit status ${code}`}`));
    });
  });
}

function spawnError(error: NodeJS.ErrnoException): GitError {
  if (error.code === 'ENOENT') return new GitError('git is not installed or not on PATH', 'install git, or scan paths without --staged, --all or --since');
  return new GitError(`cannot run git (${error.code ?? 'error'})`);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.replace(/^(fatal|error): /, '') ?? '';
}

function splitZ(output: Buffer): string[] {
  return output.toString('utf8').split('\0').filter((path) => path !== '');
}

/** The top of the working tree that contains `cwd`. */
export async function repositoryRoot(cwd: string, mode: string): Promise<string> {
  try {
    return (await runGit(['rev-parse', '--show-toplevel'], cwd)).toString('utf8').trim();
  } catch (error) {
    if (!(error instanceof GitError)) throw error;
    throw new GitError(`${mode} needs a git repository, and ${cwd} is not inside one`, 'run it inside a git working tree, or scan paths without --staged, --all or --since');
  }
}

/** The commit a revision names, checked first so that a bad one is reported as such (and cannot pass as a flag). */
async function resolveCommit(cwd: string, rev: string): Promise<string> {
  try {
    return (await runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], cwd)).toString('utf8').trim();
  } catch (error) {
    if (!(error instanceof GitError)) throw error;
    throw new GitError(`--since ${rev}: not a commit in this repository`, 'give a commit, branch or tag that exists here (in CI, fetch enough history, e.g. fetch-depth: 0)');
  }
}

/**
 * Positional paths restrict a git mode's files (pre-commit passes the staged file names):
 * each is a file or a directory, relative to `cwd`, turned repository-relative.
 */
function pathFilter(paths: readonly string[], root: string, cwd: string): (path: string) => boolean {
  if (paths.length === 0) return () => true;
  const wanted = paths.map((given) => {
    const rel = toSlashes(relative(root, resolve(cwd, given)));
    if (rel.startsWith('../') || rel === '..' || isAbsolute(rel)) throw new UsageError(`${given} is outside the repository ${root}`, 'give paths inside the repository');
    return rel;
  });
  if (wanted.includes('')) return () => true;
  const exact = new Set(wanted);
  const dirs = wanted.map((dir) => `${dir.replace(/\/+$/, '')}/`);
  return (path) => exact.has(path) || dirs.some((dir) => path.startsWith(dir));
}

interface IndexEntry {
  mode: string;
  object: string;
}

/** `git ls-files --stage`: every path in the index with its blob, merged entries only. */
async function readIndex(cwd: string): Promise<Map<string, IndexEntry>> {
  const entries = new Map<string, IndexEntry>();
  for (const record of splitZ(await runGit(['ls-files', '--stage', '--full-name', '-z'], cwd))) {
    // <mode> SP <object> SP <stage> TAB <path>
    const tab = record.indexOf('\t');
    const [mode, object, stage] = record.slice(0, tab).split(' ');
    if (stage === '0') entries.set(record.slice(tab + 1), { mode, object });
  }
  return entries;
}

/** Regular files only: a symbolic link's blob is its target's name, a gitlink is a submodule commit. */
function isRegularFile(entry: IndexEntry | undefined): entry is IndexEntry {
  return entry !== undefined && (entry.mode === '100644' || entry.mode === '100755');
}

/**
 * One `git cat-file --batch` for every blob: requests are written as they come and the
 * answers arrive in the same order, so each waits in a queue for its own.
 */
export class BlobReader {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (blob: Buffer | undefined) => void; reject: (error: Error) => void }[] = [];
  private header: Buffer[] = [];
  private body: Buffer | undefined;
  private filled = 0;
  /** The newline after each blob's content. */
  private skipNewline = false;
  private failure: Error | undefined;

  constructor(root: string) {
    this.child = spawn('git', ['cat-file', '--batch'], { cwd: root, env: gitEnvironment(), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.stderr.resume();
    this.child.on('error', (error) => this.fail(spawnError(error)));
    this.child.on('close', (code) => this.fail(new GitError(`git cat-file ended early (exit status ${code})`)));
    // A write after git exited is reported through 'close'; without a listener it would crash the process.
    this.child.stdin.on('error', () => undefined);
  }

  read(object: string): Promise<Buffer | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolvePromise, reject) => {
      this.waiting.push({ resolve: resolvePromise, reject });
      this.child.stdin.write(`${object}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  private receive(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skipNewline) {
        this.skipNewline = false;
        offset++;
      } else if (this.body) {
        const take = Math.min(this.body.length - this.filled, chunk.length - offset);
        chunk.copy(this.body, this.filled, offset, offset + take);
        this.filled += take;
        offset += take;
        if (this.filled === this.body.length) this.finishBlob();
      } else {
        const end = chunk.indexOf(0x0a, offset);
        if (end < 0) {
          this.header.push(chunk.subarray(offset));
          return;
        }
        this.header.push(chunk.subarray(offset, end));
        offset = end + 1;
        this.startBlob(Buffer.concat(this.header).toString('utf8'));
        this.header = [];
      }
    }
  }

  /** `<object> <type> <size>`, or `<object> missing`. */
  private startBlob(header: string): void {
    const [, type, size] = header.split(' ');
    if (type === 'missing' || size === undefined) {
      this.waiting.shift()?.resolve(undefined);
      return;
    }
    this.body = Buffer.allocUnsafe(Number(size));
    this.filled = 0;
    if (this.body.length === 0) this.finishBlob();
  }

  private finishBlob(): void {
    const blob = this.body!;
    this.body = undefined;
    this.skipNewline = true;
    this.waiting.shift()?.resolve(blob);
  }
}

/**
 * Runs git commands side by side: a hook pays for process start-ups, so the repository
 * root is asked for at the same time as the file lists, not before them. Paths come out
 * repository-relative whatever the directory (`--full-name`, `--no-relative`).
 */
async function alongsideRoot<T>(cwd: string, mode: string, work: Promise<T>): Promise<{ root: string; value: T }> {
  // Outside a repository every command fails; the root's error is the one that explains it.
  work.catch(() => undefined);
  const root = await repositoryRoot(cwd, mode);
  return { root, value: await work };
}

interface StagedIndex {
  root: string;
  /** Added, copied, modified or renamed in the index. */
  changed: string[];
  entries: Map<string, IndexEntry>;
}

async function readStagedIndex(cwd: string): Promise<StagedIndex> {
  const lists = Promise.all([runGit(['diff', '--cached', '--no-relative', '--name-only', '-z', '--diff-filter=ACMR'], cwd), readIndex(cwd)]);
  const {
    root,
    value: [changed, entries],
  } = await alongsideRoot(cwd, '--staged', lists);
  return { root, changed: splitZ(changed), entries };
}

/** `--staged`: the files added, copied, modified or renamed in the index, with the index's content. */
export async function stagedSource(paths: readonly string[], cwd: string = process.cwd()): Promise<ScanSource> {
  // cat-file starts with the other git processes, not after them.
  const blobs = new BlobReader(cwd);
  let staged: StagedIndex;
  let wanted: (path: string) => boolean;
  try {
    staged = await readStagedIndex(cwd);
    wanted = pathFilter(paths, staged.root, cwd);
  } catch (error) {
    blobs.close();
    throw error;
  }
  const { root, changed, entries: index } = staged;
  const readStaged = async (path: string): Promise<Buffer | undefined> => {
    const entry = index.get(path);
    return isRegularFile(entry) ? blobs.read(entry.object) : undefined;
  };
  const stagedSideFile = async (name: string): Promise<SideFile | undefined> => {
    const content = await readStaged(name);
    return content === undefined ? undefined : { path: join(root, name), name: `${name} (staged)`, content };
  };
  return {
    list: async () => changed.filter((path) => wanted(path) && isRegularFile(index.get(path))),
    load: async (path, maxBytes): Promise<Loaded> => {
      const content = await readStaged(path);
      if (content === undefined) return { kind: 'missing' };
      return content.length > maxBytes ? { kind: 'too-large', size: content.length } : { kind: 'content', content };
    },
    exists: (path) => index.has(path),
    knownPaths: () => index.keys(),
    read: readStaged,
    locate: (path) => joinClean(root, path),
    sopsConfig: () => stagedSideFile('.sops.yaml'),
    waxignore: () => stagedSideFile('.waxignore'),
    close: () => blobs.close(),
  };
}

/**
 * Tracked files read from the working tree: `--all` and `--since`. `tracked`, when given,
 * answers `exists` as `--staged` does, from git's list rather than from the disk: a file
 * the repository does not hold is no twin of one it does, and a set lookup spares the
 * four `existsSync` calls per file that the twin detector asks for.
 */
function workingTreeSource(root: string, files: string[], tracked?: ReadonlySet<string>): ScanSource {
  const locate = (path: string) => joinClean(root, path);
  const sideFile = async (name: string): Promise<SideFile | undefined> => (existsSync(locate(name)) ? { path: locate(name), name } : undefined);
  return {
    list: async () => files,
    load: (path, maxBytes, scratch) => loadFile(locate(path), maxBytes, false, scratch),
    exists: tracked ? (path) => tracked.has(path) : (path) => existsSync(locate(path)),
    ...(tracked ? { knownPaths: () => tracked } : {}),
    read: async (path) => {
      const loaded = loadFile(locate(path), Number.MAX_SAFE_INTEGER);
      return loaded.kind === 'content' ? loaded.content : undefined;
    },
    locate,
    sopsConfig: () => sideFile('.sops.yaml'),
    waxignore: () => sideFile('.waxignore'),
    close: () => undefined,
  };
}

/** `--all`: every file git tracks, as it is in the working tree. */
export async function trackedSource(paths: readonly string[], cwd: string = process.cwd()): Promise<ScanSource> {
  const { root, value: listed } = await alongsideRoot(cwd, '--all', runGit(['ls-files', '--full-name', '-z'], cwd));
  const wanted = pathFilter(paths, root, cwd);
  // An unmerged file is listed once per stage.
  const tracked = new Set(splitZ(listed));
  return workingTreeSource(root, [...tracked].filter(wanted), tracked);
}

/** `--since REV`: files changed between REV and the working tree, as they are now. */
export async function sinceSource(rev: string, paths: readonly string[], cwd: string = process.cwd()): Promise<ScanSource> {
  const { root, value: commit } = await alongsideRoot(cwd, '--since', resolveCommit(cwd, rev));
  const wanted = pathFilter(paths, root, cwd);
  const changed = await runGit(['diff', '--no-relative', '--name-only', '-z', '--diff-filter=ACMR', commit, '--'], cwd);
  return workingTreeSource(root, splitZ(changed).filter(wanted));
}
