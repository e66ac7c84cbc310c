/**
 * Interrupting bulk writes at random points: `wax encrypt -i`, `wax rotate -i -r` and
 * `wax updatekeys -r -y` over many files, killed with SIGKILL after a random delay (from
 * before wax has started to after it has finished). Afterwards every file is either its
 * whole old content or a whole new encrypted file that decrypts, MAC verified, to the
 * same plaintext: never half-written, never plaintext where it was encrypted.
 *
 * SIGKILL cannot be caught, so a lock or temporary file may be left beside a file that
 * was being written at that instant; the test requires each leftover to belong to the
 * killed process, to be 0600, to hold no plaintext value, and to be cleaned up by the
 * next wax command on that file. SIGTERM and SIGINT, which wax handles, must leave none.
 *
 * WAX_FAULT_RUNS sets the runs per command (default 10; the longer mode is 100).
 * WAX_FAULT_SEED replays a sequence of delays (the seed is printed as a diagnostic).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { openBytes } from '../../src/sops-file.js';
import { storeFor } from '../../src/document/stores/index.js';
import { toPlain } from '../../src/document/tree.js';
import type { Format } from '../../src/document/stores/types.js';
import { isWaxScratchName } from '../../src/files.js';
import { ageKeypair, makeWorkspace, testEnvironment, waxBundle, type Workspace } from '../support/cli.js';
import { mulberry32 as seededRandom } from '../../bench/generate.js';

const RUNS = Math.max(1, Number(process.env.WAX_FAULT_RUNS ?? 10));
const SEED = Number(process.env.WAX_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const FILE_COUNT = 30;

interface Fixture {
  name: string;
  format: Format;
  plaintext: Buffer;
  /** Distinctive values that must never appear in an encrypted file or a leftover. */
  secrets: string[];
}

function fixtures(): Fixture[] {
  return Array.from({ length: FILE_COUNT }, (_, i) => {
    const secret = `interrupt-secret-${i}-${(i * 7919).toString(36)}`;
    const token = `token-${i}-b64+/=${i}`;
    const secrets = [secret, token];
    if (i % 6 === 4) return { name: `f${i}.json`, format: 'json', plaintext: Buffer.from(`{\n  "password": "${secret}",\n  "nested": {"token": "${token}", "n": ${i}}\n}\n`), secrets };
    if (i % 6 === 5) return { name: `f${i}.env`, format: 'dotenv', plaintext: Buffer.from(`PASSWORD=${secret}\nTOKEN=${token}\n`), secrets };
    const filler = Array.from({ length: 20 }, (_, j) => `  item${j}: value-${i}-${j}`).join('\n');
    return { name: `f${i}.yaml`, format: 'yaml', plaintext: Buffer.from(`# file ${i}\npassword: ${secret}\nnested:\n  token: ${token}\n${filler}\n`), secrets };
  });
}

interface Scenario {
  command: string;
  /** wax arguments, run in the workspace; the files live in `files/`. */
  args: (ws: Workspace, files: Fixture[]) => string[];
  /** The bytes of each file before every run. */
  prepare: (ws: Workspace, files: Fixture[]) => Map<string, Buffer>;
}

class Harness {
  readonly ws = makeWorkspace();
  readonly files = fixtures();
  readonly dir = join(this.ws.dir, 'files');
  private before = new Map<string, Buffer>();
  private readonly ctx = { env: { SOPS_AGE_KEY_FILE: this.ws.key.keyFile, XDG_CONFIG_HOME: '/nonexistent' } };

  constructor(readonly scenario: Scenario) {
    mkdirSync(this.dir);
  }

  reset(): void {
    if (this.before.size === 0) this.before = this.scenario.prepare(this.ws, this.files);
    for (const file of this.files) writeFileSync(join(this.dir, file.name), this.before.get(file.name)!);
  }

  /** Starts the command; resolves with its pid and how it ended once `killAfterMs` has passed and the signal was sent. */
  async run(signal: NodeJS.Signals | undefined, killAfterMs: number): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    const child = spawn(process.execPath, [waxBundle(), ...this.scenario.args(this.ws, this.files)], {
      cwd: this.ws.dir,
      env: testEnvironment(this.ws.env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, s) => resolve({ code, signal: s })));
    const timer = signal ? setTimeout(() => child.kill(signal), killAfterMs) : undefined;
    const result = await exited;
    clearTimeout(timer);
    if (!signal || result.signal === null) assert.equal(result.code, 0, `${this.scenario.command} failed: ${stderr}`);
    return { pid: child.pid!, ...result, ms: Date.now() - started };
  }

  /** Every file whole: its old bytes, or an encrypted file that decrypts to its plaintext. */
  async checkFiles(): Promise<{ old: number; changed: number }> {
    let old = 0;
    for (const file of this.files) {
      const bytes = readFileSync(join(this.dir, file.name));
      if (bytes.equals(this.before.get(file.name)!)) {
        old++;
        continue;
      }
      await this.assertEncryptedCopyOf(file, bytes);
    }
    return { old, changed: this.files.length - old };
  }

  async assertEncryptedCopyOf(file: Fixture, bytes: Buffer): Promise<void> {
    for (const secret of file.secrets) assert.ok(!bytes.includes(secret), `${file.name} holds plaintext after the interruption`);
    let opened;
    try {
      opened = await openBytes(bytes, { format: file.format, path: file.name, ctx: this.ctx });
    } catch (error) {
      assert.fail(`${file.name} is neither its old content nor a whole encrypted file: ${(error as Error).name}: ${(error as Error).message}`);
    }
    const expected = toPlain(storeFor(file.format).loadPlain(file.plaintext)[0]);
    assert.ok(isDeepStrictEqual(toPlain(opened.documents[0]), expected), `${file.name} decrypts to something else`);
  }

  /** Leftovers of the killed process: only its lock and temporary files, 0600, no plaintext. */
  leftovers(pid: number): { locks: number; temps: number } {
    const names = new Set(this.files.map((f) => f.name));
    let locks = 0;
    let temps = 0;
    for (const name of readdirSync(this.dir)) {
      if (names.has(name)) continue;
      assert.ok(isWaxScratchName(name), `unexpected file left: ${name}`);
      const path = join(this.dir, name);
      const content = readFileSync(path);
      if (name.endsWith('.wax-lock')) {
        locks++;
        if (content.length > 0) assert.equal(JSON.parse(content.toString()).pid, pid, `${name} is not the killed process's lock`);
        continue;
      }
      temps++;
      assert.ok(name.includes(`.wax-${pid}-`), `${name} is not the killed process's temporary file`);
      assert.equal(statSync(path).mode & 0o777, 0o600, `${name} is not 0600`);
      for (const file of this.files) for (const secret of file.secrets) assert.ok(!content.includes(secret), `${name} holds plaintext`);
    }
    return { locks, temps };
  }

  assertNoScratch(): void {
    assert.deepEqual(readdirSync(this.dir).filter(isWaxScratchName), []);
    assert.deepEqual(readdirSync(this.ws.tmp), []);
  }

  /** After a complete run: every file is the new encrypted version. */
  async assertAllNew(): Promise<void> {
    const { changed } = await this.checkFiles();
    assert.equal(changed, this.files.length, 'a complete run left files unchanged');
  }

  cleanup(): void {
    this.ws.cleanup();
  }
}

const encryptOnce = (ws: Workspace, files: Fixture[], recipient: string): Map<string, Buffer> => {
  const dir = join(ws.dir, 'files');
  for (const file of files) writeFileSync(join(dir, file.name), file.plaintext);
  const result = ws.wax(['encrypt', '-i', '--age', recipient, ...files.map((f) => join('files', f.name))]);
  assert.equal(result.code, 0, result.stderr);
  return new Map(files.map((f) => [f.name, readFileSync(join(dir, f.name))]));
};

const SCENARIOS: Scenario[] = [
  {
    command: 'encrypt -i',
    args: (ws, files) => ['encrypt', '-i', '--age', ws.key.recipient, ...files.map((f) => join('files', f.name))],
    prepare: (_ws, files) => new Map(files.map((f) => [f.name, f.plaintext])),
  },
  {
    command: 'rotate -i -r',
    args: () => ['rotate', '-i', '-r', 'files'],
    prepare: (ws, files) => encryptOnce(ws, files, ws.key.recipient),
  },
  {
    command: 'updatekeys -r -y',
    args: () => ['updatekeys', '-r', '-y', 'files'],
    // Encrypted for the workspace key alone; the creation rule adds a second recipient.
    prepare: (ws, files) => {
      mkdirSync(join(ws.dir, 'second'));
      const second = ageKeypair(join(ws.dir, 'second'));
      writeFileSync(join(ws.dir, '.sops.yaml'), `creation_rules:\n  - age: ${ws.key.recipient},${second.recipient}\n`);
      return encryptOnce(ws, files, ws.key.recipient);
    },
  },
];

/**
 * Complete runs first: they must work, and their durations set the range of the delays.
 * The machine's load changes during a long run, so the follow-up runs keep adding theirs.
 */
async function calibrate(h: Harness): Promise<number[]> {
  const durations: number[] = [];
  for (let i = 0; i < 3; i++) {
    h.reset();
    durations.push((await h.run(undefined, 0)).ms);
    await h.assertAllNew();
    h.assertNoScratch();
  }
  return durations;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function killedRuns(t: TestContext, scenario: Scenario): Promise<void> {
  const h = new Harness(scenario);
  t.after(() => h.cleanup());
  const random = seededRandom(SEED + scenario.command.length);
  const durations = await calibrate(h);
  const stats = { beforeAnyWrite: 0, midRun: 0, afterAllWritten: 0, locks: 0, temps: 0, followUps: 0 };
  for (let run = 0; run < RUNS; run++) {
    h.reset();
    const delay = Math.floor(random() * median(durations) * 1.2);
    const killed = await h.run('SIGKILL', delay);
    const { old, changed } = await h.checkFiles();
    if (changed === 0) stats.beforeAnyWrite++;
    else if (old === 0) stats.afterAllWritten++;
    else stats.midRun++;
    const left = h.leftovers(killed.pid);
    stats.locks += left.locks;
    stats.temps += left.temps;
    if (left.locks + left.temps > 0) {
      // The next command on these files finishes the job and removes what the killed one left.
      stats.followUps++;
      durations.push((await h.run(undefined, 0)).ms);
      await h.assertAllNew();
      h.assertNoScratch();
    }
  }
  t.diagnostic(
    `${scenario.command}: ${RUNS} SIGKILL runs over ${FILE_COUNT} files (seed ${SEED}, median full run ${median(durations)} ms): ` +
      `${stats.beforeAnyWrite} before any write, ${stats.midRun} mid-run, ${stats.afterAllWritten} after the last write; ` +
      `left behind: ${stats.locks} locks, ${stats.temps} temporary files (0600, no plaintext), each removed by the next run`,
  );
}

async function handledSignalRuns(t: TestContext, scenario: Scenario): Promise<void> {
  const h = new Harness(scenario);
  t.after(() => h.cleanup());
  const random = seededRandom(SEED + 1 + scenario.command.length);
  const full = median(await calibrate(h));
  const runs = Math.max(4, Math.ceil(RUNS / 5));
  let midRun = 0;
  for (let run = 0; run < runs; run++) {
    h.reset();
    // From wax's start on: a signal before node has installed anything simply ends it.
    const delay = Math.floor(full * 0.3 + random() * full * 0.8);
    const signal = run % 2 === 0 ? 'SIGTERM' : 'SIGINT';
    const ended = await h.run(signal, delay);
    const { old, changed } = await h.checkFiles();
    if (old > 0 && changed > 0) midRun++;
    assert.ok(ended.signal === signal || ended.code === 0, `${scenario.command} ended with ${ended.signal ?? ended.code} after ${signal}`);
    h.assertNoScratch();
  }
  t.diagnostic(`${scenario.command}: ${runs} SIGTERM/SIGINT runs, ${midRun} mid-run, no lock or temporary file left by any`);
}

for (const scenario of SCENARIOS) {
  test(`${scenario.command} killed with SIGKILL at random points: every file whole, old or new; leftovers private and cleaned up`, async (t) => {
    await killedRuns(t, scenario);
  });
  test(`${scenario.command} stopped by SIGTERM or SIGINT at random points: every file whole, and nothing left behind`, async (t) => {
    await handledSignalRuns(t, scenario);
  });
}
