/**
 * Killing wax while plaintext is on disk for a child: `wax edit` (the editor has the
 * decrypted file) and `wax exec-file` (the command has the FIFO or the file). SIGTERM,
 * SIGHUP and a terminal's Ctrl-C (SIGINT to the process group) are handled: the private
 * directory is removed before wax ends. SIGKILL cannot be handled by wax itself; the
 * reaper started with each private directory removes it once wax is gone. Only when the
 * reaper is killed as well does the directory stay: then it is 0700 under TMPDIR with
 * the plaintext file 0600 inside, readable by the user alone (and root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { assertNoneOf, encrypted, testEnvironment, waxBundle, withWorkspace, type Workspace } from '../support/cli.js';

const PLAIN = 'user: admin\npassword: kill-test-secret-41d9\nnested:\n    token: kill-test-token-7c2a\n';
const SECRETS = ['kill-test-secret-41d9', 'kill-test-token-7c2a'];
/** WAX_FAULT_RUNS, the longer mode of the fault tests, repeats the Ctrl-C race as often. */
const CTRL_C_RUNS = Math.max(1, Number(process.env.WAX_FAULT_RUNS ?? 5));

interface Started {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Starts wax in its own process group, and waits until the child has signalled readiness. */
async function startWax(ws: Workspace, args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [waxBundle(), ...args], { cwd: ws.dir, env: testEnvironment({ ...ws.env, ...env }), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = join(ws.dir, 'ready');
  for (let i = 0; i < 400 && !existsSync(ready); i++) await delay(25);
  assert.ok(existsSync(ready), 'the child never started');
  return { child, exited, stderr: () => stderr };
}

function editorScript(ws: Workspace): string {
  const path = join(ws.dir, 'editor.sh');
  // Tells where the plaintext is, then edits slowly enough to be interrupted.
  writeFileSync(path, `#!/bin/sh\necho "$1" > '${join(ws.dir, 'where')}'\ntouch '${join(ws.dir, 'ready')}'\nexec sleep 30\n`);
  chmodSync(path, 0o755);
  return path;
}

const execFileCommand = (ws: Workspace) => `echo {} > '${join(ws.dir, 'where')}'; touch '${join(ws.dir, 'ready')}'; exec sleep 30`;

async function eventuallyEmpty(dir: string, ms = 3000): Promise<void> {
  for (let waited = 0; readdirSync(dir).length > 0 && waited < ms; waited += 25) await delay(25);
  assert.deepEqual(readdirSync(dir), [], 'the private directory is still in TMPDIR');
}

function plaintextPath(ws: Workspace): string {
  return readFileSync(join(ws.dir, 'where'), 'utf8').trim();
}

/** The reaper of a private directory: `sh -c 'read -r _; exec rm -rf -- "$1"' sh DIR`. */
function reaperOf(dir: string): number | undefined {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  const line = ps.split('\n').find((l) => l.includes('rm -rf --') && l.includes(dir));
  return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
}

/** The editor or command wax started, so that a test never leaves a `sleep 30` behind. */
function killGroup(started: Started): void {
  try {
    process.kill(-started.child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

const cases: { what: string; args: (ws: Workspace) => string[]; env: (ws: Workspace) => Record<string, string> }[] = [
  { what: 'edit', args: () => ['edit', 's.yaml'], env: (ws) => ({ EDITOR: editorScript(ws) }) },
  { what: 'exec-file (FIFO)', args: (ws) => ['exec-file', 's.yaml', execFileCommand(ws)], env: () => ({}) },
  { what: 'exec-file --no-fifo', args: (ws) => ['exec-file', '--no-fifo', 's.yaml', execFileCommand(ws)], env: () => ({}) },
];

for (const c of cases) {
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    test(
      `${c.what}: ${signal} to wax removes the private directory; wax ends by ${signal}; the file is unchanged`,
      withWorkspace(async (ws) => {
        const path = encrypted(ws, 's.yaml', PLAIN);
        const before = readFileSync(path);
        const run = await startWax(ws, c.args(ws), c.env(ws));
        try {
          assert.ok(plaintextPath(ws).startsWith(`${ws.tmp}/`));
          run.child.kill(signal);
          assert.equal((await run.exited).signal, signal);
          assert.deepEqual(readdirSync(ws.tmp), []);
          assert.deepEqual(readFileSync(path), before);
          assertNoneOf(run.stderr(), SECRETS);
          assert.match(run.stderr(), new RegExp(`wax: stopped by ${signal}; temporary files removed`));
        } finally {
          killGroup(run);
        }
      }),
    );
  }

  test(
    `${c.what}: Ctrl-C (SIGINT to the process group) removes the private directory (${CTRL_C_RUNS} runs)`,
    withWorkspace(async (ws) => {
      const path = encrypted(ws, 's.yaml', PLAIN);
      const before = readFileSync(path);
      // Repeated: wax and its child receive the same SIGINT, and which of the two wax
      // notices first is a race (it once failed 1 run in 8 on a loaded machine).
      for (let runNumber = 0; runNumber < CTRL_C_RUNS; runNumber++) {
        rmSync(join(ws.dir, 'ready'), { force: true });
        const run = await startWax(ws, c.args(ws), c.env(ws));
        try {
          process.kill(-run.child.pid!, 'SIGINT');
          const ended = await run.exited;
          // edit abandons with exit 85; exec-file passes on the command's death by SIGINT (128 + 2).
          assert.deepEqual(ended, { code: c.what === 'edit' ? 85 : 130, signal: null }, `run ${runNumber + 1}: ${run.stderr()}`);
          assert.deepEqual(readdirSync(ws.tmp), []);
          assert.deepEqual(readFileSync(path), before);
          assertNoneOf(run.stderr(), SECRETS);
        } finally {
          killGroup(run);
        }
      }
    }),
  );

  test(
    `${c.what}: SIGKILL cannot be caught, and the reaper removes the private directory`,
    withWorkspace(async (ws) => {
      const path = encrypted(ws, 's.yaml', PLAIN);
      const before = readFileSync(path);
      const run = await startWax(ws, c.args(ws), c.env(ws));
      try {
        assert.ok(reaperOf(ws.tmp), 'no reaper is waiting for wax');
        run.child.kill('SIGKILL');
        assert.equal((await run.exited).signal, 'SIGKILL');
        await eventuallyEmpty(ws.tmp);
        assert.deepEqual(readFileSync(path), before);
      } finally {
        killGroup(run);
      }
    }),
  );

  test(
    `${c.what}: SIGKILL to wax and its reaper leaves only a 0700 directory under TMPDIR with a 0600 file`,
    withWorkspace(async (ws) => {
      encrypted(ws, 's.yaml', PLAIN);
      const run = await startWax(ws, c.args(ws), c.env(ws));
      try {
        const reaper = reaperOf(ws.tmp);
        assert.ok(reaper, 'no reaper is waiting for wax');
        process.kill(reaper, 'SIGKILL');
        run.child.kill('SIGKILL');
        await run.exited;
        await delay(300);
        const left = plaintextPath(ws);
        const dirs = readdirSync(ws.tmp);
        assert.equal(dirs.length, 1, 'the private directory is gone, so this residue test shows nothing');
        assert.ok(left.startsWith(join(ws.tmp, dirs[0])));
        assert.equal(statSync(join(ws.tmp, dirs[0])).mode & 0o777, 0o700);
        assert.equal(statSync(left).mode & 0o777, 0o600);
        // A FIFO holds no data at rest: what stays is an empty node, not the plaintext.
        assert.equal(statSync(left).isFIFO(), c.what === 'exec-file (FIFO)');
      } finally {
        killGroup(run);
      }
    }),
  );
}

test(
  'the reaper never keeps wax alive and ends with it: no reaper is left after a normal run',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    const started = Date.now();
    const result = spawnSync(process.execPath, [waxBundle(), 'exec-file', 's.yaml', 'cat {} > /dev/null'], { cwd: ws.dir, env: testEnvironment(ws.env), encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.ok(Date.now() - started < 15_000);
    for (let i = 0; i < 40 && reaperOf(ws.tmp); i++) spawnSync('sleep', ['0.05']);
    assert.equal(reaperOf(ws.tmp), undefined, 'a reaper outlived wax');
    assert.deepEqual(readdirSync(ws.tmp), []);
  }),
);
