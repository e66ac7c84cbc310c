/**
 * `wax exec-env` and `wax exec-file`: run a command with the decrypted values, in its
 * environment or in a private FIFO (or file), without the plaintext ever landing in the
 * repository. Also home of `PrivateScope`, which `wax edit` shares: the one place that
 * owns plaintext on disk and the child process that reads it.
 *
 * Signals while a child runs (the model of git's editor launch and of sops' exec):
 * - SIGINT is left to the child: a terminal Ctrl-C already reached it (same process
 *   group), and editors use Ctrl-C themselves, so wax must not die under them. A SIGINT
 *   seen just after the child ended is that same Ctrl-C (see SAME_INTERRUPT_MS).
 * - SIGTERM and SIGHUP are forwarded to the child; then the private directory is removed
 *   and wax dies of the same signal, as a shell would report it.
 * With no child running, any of the three removes the directory and ends wax.
 * SIGKILL cannot be caught, so each directory has a reaper: a small detached shell that
 * waits for the end of a pipe from wax and then removes the directory. However wax
 * ends, SIGKILL and a crash included, its end of the pipe closes and the reaper runs.
 * Only if the reaper is killed too does a directory stay, private (0700) to the user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { storeFor } from '../../src/document/stores/index.js';
import { Comment, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { scalarToString } from '../../src/crypto/scalars.js';
import { UsageError, WaxError, WriteError } from '../../src/errors.js';
import { configForEmit, emitOptions, openEncrypted, type OpenFlags, outputFormat } from '../common.js';
import { warn } from '../output.js';

const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * A terminal's Ctrl-C reaches wax and its child together, but wax may see the child's
 * exit first (the two signals race through different threads to the event loop). A
 * SIGINT this soon after the child ended is that same Ctrl-C, already answered by the
 * child's exit status, and must not turn wax's exit into a death by signal.
 */
const SAME_INTERRUPT_MS = 500;

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Private temporary directories and the foreground child, cleaned up on every way out. */
export class PrivateScope {
  private readonly dirs: string[] = [];
  private readonly reapers: ChildProcess[] = [];
  private child: ChildProcess | undefined;
  private childEndedAt = Number.NEGATIVE_INFINITY;
  private readonly onSignal = (signal: NodeJS.Signals) => this.signalled(signal);
  private readonly onExit = () => this.removeDirs();

  constructor() {
    for (const signal of HANDLED_SIGNALS) process.on(signal, this.onSignal);
    process.on('exit', this.onExit);
  }

  /** A fresh directory under the system temp dir that only the user can enter. */
  makeDir(): string {
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), 'wax-'));
    } catch (error) {
      throw new WriteError(`cannot create a private temporary directory in ${tmpdir()} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'check $TMPDIR');
    }
    this.dirs.push(dir);
    // mkdtemp asks for 0700 already; chmod makes it independent of the umask and platform.
    chmodSync(dir, 0o700);
    // Started before any plaintext is written, so no moment exists without one.
    this.reapers.push(startReaper(dir));
    return dir;
  }

  /** Runs `script` with /bin/sh -c (args become $1…), stdio inherited; resolves when it exits. */
  run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', script, 'sh', ...args], { stdio: 'inherit', env });
      this.child = child;
      child.once('error', (error) => {
        this.child = undefined;
        reject(new WaxError(`cannot start /bin/sh (${(error as NodeJS.ErrnoException).code ?? 'error'})`));
      });
      child.once('exit', (code, signal) => {
        this.child = undefined;
        this.childEndedAt = performance.now();
        resolve({ code, signal });
      });
    });
  }

  /** Removes the directories and stops listening; safe to call more than once. */
  close(): void {
    this.removeDirs();
    for (const signal of HANDLED_SIGNALS) process.off(signal, this.onSignal);
    process.off('exit', this.onExit);
  }

  private removeDirs(): void {
    while (this.dirs.length > 0) rmSync(this.dirs.pop()!, { recursive: true, force: true });
    // Nothing left to reap: closing the pipe lets each reaper finish now.
    while (this.reapers.length > 0) this.reapers.pop()!.stdin?.destroy();
  }

  private signalled(signal: NodeJS.Signals): void {
    const running = this.child !== undefined;
    if (signal === 'SIGINT' && (running || performance.now() - this.childEndedAt < SAME_INTERRUPT_MS)) return;
    if (running) this.child!.kill(signal);
    const hadFiles = this.dirs.length > 0;
    this.close();
    process.stderr.write(`\nwax: stopped by ${signal}${hadFiles ? '; temporary files removed' : ''}\n`);
    // With our listeners gone the default action applies: wax ends as killed by `signal`.
    process.kill(process.pid, signal);
  }
}

/**
 * `read` returns at the end of its input, which comes when wax closes the pipe or dies
 * in any way; `rm -rf` then removes what is left. Detached (its own session), so that a
 * signal to wax's process group does not take it along; unreferenced, so that it never
 * keeps wax running.
 */
function startReaper(dir: string): ChildProcess {
  const reaper = spawn('/bin/sh', ['-c', 'read -r _; exec rm -rf -- "$1"', 'sh', dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  reaper.on('error', () => {
    /* no shell: the directory is still removed on every way out but SIGKILL */
  });
  reaper.stdin?.on('error', () => {
    /* the reaper is gone already */
  });
  reaper.unref();
  return reaper;
}

/** The exit status a shell would report: the code, or 128 + the signal number. */
export function exitStatus(result: ChildResult): number {
  if (result.code !== null) return result.code;
  const number = result.signal ? osConstants.signals[result.signal] : undefined;
  return 128 + (number ?? 1);
}

export interface ExecEnvOptions extends OpenFlags {
  pristine?: boolean;
}

/**
 * `--pristine` gives the command only the secrets, as sops does (it starts from an
 * empty list): no PATH, HOME or anything else. /bin/sh is started by absolute path and
 * falls back to its built-in default PATH, so plain command names still resolve.
 */
export async function execEnvCommand(file: string, command: string, options: ExecEnvOptions): Promise<number> {
  const opened = await openEncrypted(file, options);
  const env = { ...(options.pristine ? {} : process.env), ...secretEnvironment(opened.documents[0]) };
  const scope = new PrivateScope();
  try {
    return exitStatus(await scope.run(command, [], env));
  } finally {
    scope.close();
  }
}

/**
 * The top-level scalars of a document as environment variables. Values are the real
 * text (a multi-line certificate keeps its newlines; sops passes `\n` escapes through
 * its dotenv emitter); booleans are `true`/`false`. Mappings, lists and nulls have no
 * environment form and are skipped with a warning that names only the key.
 */
export function secretEnvironment(document: TreeBranch | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of document?.items ?? []) {
    if (typeof item.key !== 'string') continue;
    const text = environmentText(item.value);
    if (text === undefined) warn(`${item.key}: not a string, number or boolean; left out of the environment`);
    else if (!isEnvironmentName(item.key) || text.includes('\0')) warn(`${item.key}: cannot be an environment variable; left out`);
    else env[item.key] = text;
  }
  return env;
}

function environmentText(value: TreeValue): string | undefined {
  if (value === null || value instanceof TreeBranch || Array.isArray(value) || value instanceof Comment) return undefined;
  if (typeof value === 'boolean') return String(value);
  return scalarToString(value);
}

function isEnvironmentName(key: string): boolean {
  return key !== '' && !key.includes('=') && !key.includes('\0');
}

export interface ExecFileOptions extends OpenFlags {
  /** commander's `--no-fifo` sets this to false. */
  fifo?: boolean;
  filename?: string;
}

export async function execFileCommand(file: string, command: string, options: ExecFileOptions): Promise<number> {
  const name = checkFilename(options.filename ?? 'tmp-file');
  const opened = await openEncrypted(file, options);
  const format = outputFormat(file, options);
  const plaintext = storeFor(format).emitPlain(opened.documents, emitOptions(format, options.indent, configForEmit(options)));
  const scope = new PrivateScope();
  try {
    const path = join(scope.makeDir(), name);
    // sops substitutes the bare path for every `{}`; so do we, so commands port unchanged.
    const script = command.split('{}').join(path);
    if (options.fifo === false) {
      writeFileSync(path, plaintext, { mode: 0o600, flag: 'wx' });
      return exitStatus(await scope.run(script, [], process.env));
    }
    makeFifo(path);
    return await runWithFifo(scope, script, path, plaintext);
  } finally {
    scope.close();
    plaintext.fill(0);
  }
}

function checkFilename(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new UsageError('--filename takes a plain file name, without a directory', 'for example --filename kubeconfig.yaml');
  }
  return name;
}

function makeFifo(path: string): void {
  const result = spawnSync('mkfifo', ['-m', '600', path], { stdio: ['ignore', 'ignore', 'ignore'] });
  if (result.status !== 0) {
    throw new WriteError(`cannot create a FIFO with mkfifo${result.error ? ' (mkfifo not found)' : ''}`, 'pass --no-fifo to use a private temporary file instead');
  }
}

/**
 * Feeds the FIFO while the command runs. Opening a FIFO for writing blocks until a
 * reader opens it, so the open runs in the background; once the command has exited,
 * a reader opened by wax itself releases a writer that is still waiting.
 */
async function runWithFifo(scope: PrivateScope, script: string, path: string, plaintext: Buffer): Promise<number> {
  let childGone = false;
  const feeding = feedFifo(path, plaintext, () => childGone);
  try {
    return exitStatus(await scope.run(script, [], process.env));
  } finally {
    childGone = true;
    const failure = await releaseWriter(feeding, path);
    if (failure) warn(`could not write the plaintext into the FIFO (${failure})`);
  }
}

/** Resolves to an error code when writing failed for a reason other than a closed reader. */
async function feedFifo(path: string, data: Buffer, childGone: () => boolean): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY);
    if (!childGone()) await handle.writeFile(data);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    // EPIPE: the command closed the FIFO before reading everything; its exit status says how that went.
    return code === 'EPIPE' ? undefined : code;
  } finally {
    await handle?.close();
  }
}

/** Opens (and closes) a non-blocking reader until the pending writer has finished. */
async function releaseWriter(feeding: Promise<string | undefined>, path: string): Promise<string | undefined> {
  let settled = false;
  const result = feeding.finally(() => {
    settled = true;
  });
  while (!settled) {
    try {
      closeSync(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
    } catch {
      // The FIFO is gone, so nothing can release the writer; process exit ends its thread.
      return undefined;
    }
    await Promise.race([result, delay(20)]);
  }
  return result;
}
