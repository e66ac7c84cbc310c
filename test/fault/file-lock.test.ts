/**
 * The read-modify-write helpers of src/files.ts, in process: updateFile serialises
 * concurrent updates through the lock file, refuses a change made behind its back,
 * waits for a live owner and gives up with exit 213, breaks a stale lock (dead owner,
 * reused pid, abandoned empty lock) together with the temporary files its owner left,
 * never steals another host's lock, and releases its locks on SIGINT and SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConcurrentModificationError, ExitCode } from '../../src/errors.js';
import { isWaxScratchName, lockPathFor, replaceIfUnchanged, updateFile, withFileLock } from '../../src/files.js';

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wax-lock-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const pid = spawnSync('/bin/true').pid;
  assert.ok(pid, 'no pid for /bin/true');
  return pid;
}

function procStart(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function writeLock(file: string, owner: Record<string, unknown>): string {
  const lock = lockPathFor(file);
  writeFileSync(lock, `${JSON.stringify({ host: hostname(), token: 'someone-else', ...owner })}\n`);
  return lock;
}

const appendLine = (line: string) => async (current: Buffer) => {
  await delay(30); // long enough for the other update to try the lock meanwhile
  return Buffer.concat([current, Buffer.from(`${line}\n`)]);
};

function isConcurrentModification(error: unknown): boolean {
  return error instanceof ConcurrentModificationError && error.exitCode === ExitCode.ConcurrentModification && ExitCode.ConcurrentModification === 213;
}

test(
  'concurrent updates of one file apply one after the other; no lock or temporary file remains',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'start\n');
    const lines = Array.from({ length: 8 }, (_, i) => `line ${i}`);
    await Promise.all(lines.map((line) => updateFile(file, appendLine(line))));
    const text = readFileSync(file, 'utf8');
    for (const line of lines) assert.ok(text.includes(`${line}\n`), `${line} was lost`);
    assert.equal(text.split('\n').length, lines.length + 2);
    assert.deepEqual(readdirSync(dir), ['f.txt']);
  }),
);

test(
  'a change written behind the lock during the update is kept, and the update fails with exit 213',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    await assert.rejects(
      updateFile(file, async (current) => {
        writeFileSync(file, 'written by an editor\n');
        return Buffer.concat([current, Buffer.from('mine\n')]);
      }),
      (error) => isConcurrentModification(error) && /changed by another program/.test((error as Error).message),
    );
    assert.equal(readFileSync(file, 'utf8'), 'written by an editor\n');
    assert.deepEqual(readdirSync(dir), ['f.txt']);
  }),
);

test(
  'updateFile: no new content means no write, and the file keeps its inode',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'same\n');
    const before = spawnSync('stat', ['-c', '%i', file], { encoding: 'utf8' }).stdout;
    assert.equal(await updateFile(file, async () => undefined), false);
    assert.equal(spawnSync('stat', ['-c', '%i', file], { encoding: 'utf8' }).stdout, before);
    assert.deepEqual(readdirSync(dir), ['f.txt']);
  }),
);

test(
  'replaceIfUnchanged writes only over the expected content, or where the file is still absent',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'v1\n');
    await replaceIfUnchanged(file, Buffer.from('v1\n'), Buffer.from('v2\n'));
    assert.equal(readFileSync(file, 'utf8'), 'v2\n');
    await assert.rejects(replaceIfUnchanged(file, Buffer.from('v1\n'), Buffer.from('v3\n')), (e) => isConcurrentModification(e) && /was changed/.test((e as Error).message));
    assert.equal(readFileSync(file, 'utf8'), 'v2\n');
    await assert.rejects(replaceIfUnchanged(file, undefined, Buffer.from('new\n')), (e) => isConcurrentModification(e) && /was created/.test((e as Error).message));
    const gone = join(dir, 'gone.txt');
    await assert.rejects(replaceIfUnchanged(gone, Buffer.from('x'), Buffer.from('y')), (e) => isConcurrentModification(e) && /was removed/.test((e as Error).message));
    assert.ok(!existsSync(gone));
    await replaceIfUnchanged(gone, undefined, Buffer.from('created\n'));
    assert.equal(readFileSync(gone, 'utf8'), 'created\n');
    assert.deepEqual(readdirSync(dir).sort(), ['f.txt', 'gone.txt']);
  }),
);

test(
  'a lock held by a live process is waited for, then refused with exit 213 naming the pid; the lock stays',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    // This very process, with its real start time: alive by every test wax makes.
    const lock = writeLock(file, { pid: process.pid, start: procStart(process.pid) });
    const started = Date.now();
    await assert.rejects(updateFile(file, appendLine('mine'), { lockWaitMs: 300 }), (error) => {
      assert.ok(isConcurrentModification(error));
      assert.match((error as Error).message, new RegExp(`being changed by another wax process \\(pid ${process.pid}\\)`));
      assert.match((error as ConcurrentModificationError).hint!, /remove .*\.f\.txt\.wax-lock/);
      return true;
    });
    assert.ok(Date.now() - started >= 300, 'it did not wait');
    assert.equal(readFileSync(file, 'utf8'), 'original\n');
    assert.ok(existsSync(lock), 'a live lock was removed');
  }),
);

test(
  'a lock released while waiting is taken over',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    const lock = writeLock(file, { pid: process.pid, start: procStart(process.pid) });
    setTimeout(() => rmSync(lock), 150);
    await updateFile(file, appendLine('mine'), { lockWaitMs: 5000 });
    assert.equal(readFileSync(file, 'utf8'), 'original\nmine\n');
    assert.deepEqual(readdirSync(dir), ['f.txt']);
  }),
);

test(
  "a dead owner's lock is broken at once, with the temporary files it left; other files stay",
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    const dead = deadPid();
    writeLock(file, { pid: dead });
    const leftover = join(dir, `.f.txt.wax-${dead}-0123456789ab.tmp`);
    const othersTemp = join(dir, `.f.txt.wax-${process.pid}-0123456789ab.tmp`);
    const otherFilesTemp = join(dir, `.g.txt.wax-${dead}-0123456789ab.tmp`);
    for (const path of [leftover, othersTemp, otherFilesTemp]) writeFileSync(path, 'ENC[...]');
    const started = Date.now();
    await updateFile(file, appendLine('mine'), { lockWaitMs: 5000 });
    assert.ok(Date.now() - started < 2000, 'a stale lock was waited for');
    assert.equal(readFileSync(file, 'utf8'), 'original\nmine\n');
    assert.deepEqual(readdirSync(dir).sort(), ['.f.txt.wax-' + process.pid + '-0123456789ab.tmp', `.g.txt.wax-${dead}-0123456789ab.tmp`, 'f.txt'].sort());
  }),
);

test(
  'a lock whose pid now belongs to another process (another start time) is stale',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    writeLock(file, { pid: process.pid, start: '1' });
    await updateFile(file, appendLine('mine'), { lockWaitMs: 300 });
    assert.equal(readFileSync(file, 'utf8'), 'original\nmine\n');
  }),
);

test(
  "another host's lock is never broken, even with a pid that is dead here",
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    const lock = writeLock(file, { pid: deadPid(), host: `not-${hostname()}` });
    await assert.rejects(updateFile(file, appendLine('mine'), { lockWaitMs: 200 }), (e) => isConcurrentModification(e) && / on not-/.test((e as Error).message));
    assert.ok(existsSync(lock));
    assert.equal(readFileSync(file, 'utf8'), 'original\n');
  }),
);

test(
  'an empty lock is one being written: waited for while fresh, broken once abandoned',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'original\n');
    const lock = lockPathFor(file);
    writeFileSync(lock, '');
    await assert.rejects(updateFile(file, appendLine('mine'), { lockWaitMs: 200 }), isConcurrentModification);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    await updateFile(file, appendLine('mine'), { lockWaitMs: 200 });
    assert.equal(readFileSync(file, 'utf8'), 'original\nmine\n');
    assert.ok(!existsSync(lock));
  }),
);

test(
  'withFileLock removes its lock when the work throws',
  withDir(async (dir) => {
    const file = join(dir, 'f.txt');
    await assert.rejects(
      withFileLock(file, async () => {
        assert.ok(existsSync(lockPathFor(file)));
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(readdirSync(dir), []);
  }),
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(
    `${signal} while a lock is held: the lock is removed, the file is unchanged, the process ends by ${signal}`,
    withDir(async (dir) => {
      const file = join(dir, 'f.txt');
      writeFileSync(file, 'original\n');
      const filesModule = new URL('../../src/files.js', import.meta.url).href;
      const script = `
        const { updateFile } = await import(${JSON.stringify(filesModule)});
        await updateFile(${JSON.stringify(file)}, async () => { process.stdout.write('locked\\n'); await new Promise(() => setInterval(() => {}, 1000)); });
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, s) => resolve(s)));
      await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.includes('locked') && resolve()));
      assert.ok(existsSync(lockPathFor(file)));
      child.kill(signal);
      assert.equal(await exited, signal);
      assert.deepEqual(readdirSync(dir), ['f.txt']);
      assert.equal(readFileSync(file, 'utf8'), 'original\n');
    }),
  );
}

test('scratch names: wax temporary and lock files, and nothing else', () => {
  for (const name of ['.s.yaml.wax-lock', '.s.yaml.wax-1234-0123456789ab.tmp', '..env.wax-lock']) assert.ok(isWaxScratchName(name), name);
  for (const name of ['s.yaml', '.s.yaml', 'wax-lock', '.s.yaml.wax-lock.bak', '.s.yaml.wax-x-0123456789ab.tmp', 's.yaml.wax-lock']) assert.ok(!isWaxScratchName(name), name);
});
