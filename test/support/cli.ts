/**
 * Helpers for tests that drive the real CLI bundle (`dist/wax.cjs`, built by
 * `node scripts/bundle.mjs`) as a user would: a throwaway directory, a throwaway age
 * key, and a run that returns the exit code and both output streams.
 */
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** `dist/wax.cjs`, or WAX_TEST_BUNDLE (a frozen copy of dist/, while others rebuild it). */
export function waxBundle(): string {
  return process.env.WAX_TEST_BUNDLE ?? join(repoRoot(), 'dist', 'wax.cjs');
}

/** A fresh directory under the system temp dir; remove it with `removeTempDir`. */
export function makeTempDir(prefix = 'wax-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface RunOptions {
  /** Added to the inherited environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string | Buffer;
  /** Milliseconds before the run is killed, so a hang fails the test instead of stalling it. */
  timeout?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The signal that ended wax, if one did. */
  signal: NodeJS.Signals | null;
}

/**
 * The developer's own sops and editor settings must not leak into a test, so SOPS_*,
 * EDITOR and VISUAL are dropped from the inherited environment.
 */
export function testEnvironment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('SOPS_') && key !== 'EDITOR' && key !== 'VISUAL') env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function runWax(args: string[], options: RunOptions = {}): RunResult {
  const result = spawnSync(process.execPath, [waxBundle(), ...args], {
    cwd: options.cwd,
    env: testEnvironment(options.env),
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeout ?? 60_000,
    killSignal: 'SIGKILL',
  });
  if (result.error && !result.signal) throw result.error;
  return { code: result.status ?? 128, stdout: result.stdout, stderr: result.stderr, signal: result.signal };
}

export interface AgeKeypair {
  keyFile: string;
  recipient: string;
}

/** A new X25519 identity in `dir/key.txt`, from age-keygen when installed, else `wax keygen`. */
export function ageKeypair(dir: string): AgeKeypair {
  const keyFile = join(dir, 'key.txt');
  const made = existsSync('/usr/bin/age-keygen')
    ? spawnSync('/usr/bin/age-keygen', ['-o', keyFile], { encoding: 'utf8' })
    : spawnSync(process.execPath, [waxBundle(), 'keygen', '-o', keyFile], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`key generation failed: ${made.stderr}`);
  const recipient = /^# public key: (age1[0-9a-z]+)$/m.exec(readFileSync(keyFile, 'utf8'))?.[1];
  if (!recipient) throw new Error(`no public key line in ${keyFile}`);
  return { keyFile, recipient };
}

export interface Workspace {
  /** The per-test directory: the files under test live here. */
  dir: string;
  /** TMPDIR for wax, so a test can assert that nothing was left behind. */
  tmp: string;
  key: AgeKeypair;
  /** SOPS_AGE_KEY_FILE and TMPDIR for runWax. */
  env: Record<string, string>;
  /** runWax in `dir` with `env`, plus any extra variables. */
  wax(args: string[], options?: RunOptions): RunResult;
  cleanup(): void;
}

/** A directory with its own age key and TMPDIR; call cleanup() when the test ends. */
export function makeWorkspace(): Workspace {
  const dir = makeTempDir();
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const key = ageKeypair(dir);
  const env = { SOPS_AGE_KEY_FILE: key.keyFile, TMPDIR: tmp };
  return {
    dir,
    tmp,
    key,
    env,
    wax: (args, options = {}) => runWax(args, { ...options, cwd: options.cwd ?? dir, env: { ...env, ...options.env } }),
    cleanup: () => removeTempDir(dir),
  };
}

/** A test body run in a fresh workspace that is removed afterwards. */
export function withWorkspace(fn: (ws: Workspace) => void | Promise<void>) {
  return async () => {
    const ws = makeWorkspace();
    try {
      await fn(ws);
    } finally {
      ws.cleanup();
    }
  };
}

/** Writes `plaintext` as `name` in the workspace and encrypts it in place for the workspace key. */
export function encrypted(ws: Workspace, name: string, plaintext: string): string {
  const path = join(ws.dir, name);
  writeFileSync(path, plaintext);
  const result = ws.wax(['encrypt', '--age', ws.key.recipient, '-i', name]);
  assert.equal(result.code, 0, result.stderr);
  return path;
}

/** `wax decrypt name` in the workspace, which must succeed. */
export function decrypt(ws: Workspace, name: string): string {
  const result = ws.wax(['decrypt', name]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** Fails if any of `secrets` appears in `text`. */
export function assertNoneOf(text: string, secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `output contains the secret ${secret}`);
}
