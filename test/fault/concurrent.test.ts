/**
 * Two wax processes (or wax and another program) changing the same file: no update is
 * lost silently. Short read-modify-write commands (set, unset, rotate -i, encrypt -i,
 * updatekeys -y) hold the file's lock and apply one after the other; `wax edit`, whose
 * session may last long, does not hold it and instead refuses to overwrite a file that
 * changed under it (exit 213), keeping the user's edit encrypted in a file beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { ageKeypair, assertNoneOf, decrypt, encrypted, testEnvironment, waxBundle, withWorkspace, type Workspace } from '../support/cli.js';
import { runWaxAsync } from '../support/cli-async.js';

const PLAIN = 'user: admin\npassword: hunter2-concurrent\n';
const EDITED_VALUE = 'edited-in-editor-5b1e';
const SECRETS = ['hunter2-concurrent', EDITED_VALUE];
const CONFLICT = 213;

function scratchFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => /\.wax-/.test(name));
}

function decryptedObject(ws: Workspace, name: string): Record<string, unknown> {
  return parseYaml(decrypt(ws, name)) as Record<string, unknown>;
}

function editorScript(ws: Workspace, body: string): string {
  const path = join(ws.dir, 'editor.sh');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * `wax edit name` with an editor that announces itself, waits for the gate file, then
 * changes the password; the test changes the file in between.
 */
async function editAroundChange(ws: Workspace, name: string, changeMeanwhile: () => Promise<void> | void) {
  const started = join(ws.dir, 'started');
  const gate = join(ws.dir, 'gate');
  const editor = editorScript(ws, `touch '${started}'; while [ ! -f '${gate}' ]; do sleep 0.02; done; printf 'user: admin\\npassword: ${EDITED_VALUE}\\n' > "$1"`);
  const child = spawn(process.execPath, [waxBundle(), 'edit', name], { cwd: ws.dir, env: testEnvironment({ ...ws.env, EDITOR: editor }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 400 && !existsSync(started); i++) await delay(25);
  assert.ok(existsSync(started), 'the editor never started');
  await changeMeanwhile();
  writeFileSync(gate, '');
  return { code: await exited, stdout, stderr };
}

test(
  'six `wax set` on one file at once: every value arrives, nothing is left beside the file',
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    const keys = Array.from({ length: 6 }, (_, i) => `key${i}`);
    const runs = await Promise.all(keys.map((key) => runWaxAsync(['set', 's.yaml', `["${key}"]`, `"value-of-${key}"`], { cwd: ws.dir, env: ws.env })));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const after = decryptedObject(ws, 's.yaml');
    for (const key of keys) assert.equal(after[key], `value-of-${key}`, `the update of ${key} was lost`);
    assert.equal(after.password, 'hunter2-concurrent');
    assert.deepEqual(scratchFiles(ws.dir), []);
  }),
);

test(
  '`wax set`, `wax unset`, `wax rotate -i` and `wax updatekeys -y` on one file at once all apply',
  withWorkspace(async (ws) => {
    writeFileSync(join(ws.dir, '.sops.yaml'), `creation_rules:\n  - age: ${ws.key.recipient}\n`);
    encrypted(ws, 's.yaml', 'user: admin\npassword: hunter2-concurrent\nold: remove-me\n');
    const env = ws.env;
    const runs = await Promise.all([
      runWaxAsync(['set', 's.yaml', '["added"]', '"yes"'], { cwd: ws.dir, env }),
      runWaxAsync(['unset', 's.yaml', '["old"]'], { cwd: ws.dir, env }),
      runWaxAsync(['rotate', '-i', 's.yaml'], { cwd: ws.dir, env }),
      runWaxAsync(['updatekeys', '-y', 's.yaml'], { cwd: ws.dir, env }),
      runWaxAsync(['set', 's.yaml', '["user"]', '"root"'], { cwd: ws.dir, env }),
    ]);
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(decryptedObject(ws, 's.yaml'), { user: 'root', password: 'hunter2-concurrent', added: 'yes' });
    assert.deepEqual(scratchFiles(ws.dir), []);
  }),
);

test(
  '`wax edit` while `wax set` changes the file: exit 213, the set is kept, the edit is saved encrypted beside it',
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    const result = await editAroundChange(ws, 's.yaml', async () => {
      const set = await runWaxAsync(['set', 's.yaml', '["user"]', '"changed-by-set"'], { cwd: ws.dir, env: ws.env });
      assert.equal(set.code, 0, set.stderr);
    });
    assert.equal(result.code, CONFLICT, result.stderr);
    assertNoneOf(result.stdout + result.stderr, SECRETS);
    assert.match(result.stderr, /s\.yaml was changed by another program while wax was working on it; nothing was written; your edit was saved, encrypted, as s\.conflict-[0-9a-f]{6}\.yaml/);
    assert.match(result.stderr, /wax: hint: compare with `wax decrypt s\.conflict-[0-9a-f]{6}\.yaml`/);
    assert.deepEqual(decryptedObject(ws, 's.yaml'), { user: 'changed-by-set', password: 'hunter2-concurrent' });
    const aside = readdirSync(ws.dir).find((name) => /^s\.conflict-[0-9a-f]{6}\.yaml$/.test(name))!;
    assert.ok(aside, 'the edit was not saved');
    assert.ok(!readFileSync(join(ws.dir, aside), 'utf8').includes(EDITED_VALUE), 'the saved edit is not encrypted');
    assert.deepEqual(decryptedObject(ws, aside), { user: 'admin', password: EDITED_VALUE });
    assert.deepEqual(readdirSync(ws.tmp), []);
    assert.deepEqual(scratchFiles(ws.dir), []);
  }),
);

test(
  '`wax edit` while another program (a checkout) replaces the file: exit 213, the other version stays',
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    encrypted(ws, 'other.yaml', 'user: from-checkout\npassword: hunter2-concurrent\n');
    const result = await editAroundChange(ws, 's.yaml', () => copyFileSync(join(ws.dir, 'other.yaml'), join(ws.dir, 's.yaml')));
    assert.equal(result.code, CONFLICT, result.stderr);
    assertNoneOf(result.stdout + result.stderr, SECRETS);
    assert.deepEqual(decryptedObject(ws, 's.yaml'), { user: 'from-checkout', password: 'hunter2-concurrent' });
    assert.equal(readdirSync(ws.dir).filter((name) => name.startsWith('s.conflict-')).length, 1);
  }),
);

test(
  '`wax edit` of a new file that someone else creates meanwhile: exit 213, theirs stays',
  withWorkspace(async (ws) => {
    const theirs = 'created: by someone else\n';
    const started = join(ws.dir, 'started');
    const gate = join(ws.dir, 'gate');
    const editor = editorScript(ws, `touch '${started}'; while [ ! -f '${gate}' ]; do sleep 0.02; done; printf 'password: ${EDITED_VALUE}\\n' > "$1"`);
    const run = runWaxAsync(['edit', '--age', ws.key.recipient, 'new.yaml'], { cwd: ws.dir, env: { ...ws.env, EDITOR: editor } });
    for (let i = 0; i < 400 && !existsSync(started); i++) await delay(25);
    writeFileSync(join(ws.dir, 'new.yaml'), theirs);
    writeFileSync(gate, '');
    const result = await run;
    assert.equal(result.code, CONFLICT, result.stderr);
    assert.match(result.stderr, /new\.yaml was created by another program/);
    assertNoneOf(result.stdout + result.stderr, SECRETS);
    assert.equal(readFileSync(join(ws.dir, 'new.yaml'), 'utf8'), theirs);
    const aside = readdirSync(ws.dir).find((name) => name.startsWith('new.conflict-'))!;
    assert.deepEqual(decryptedObject(ws, aside), { password: EDITED_VALUE });
  }),
);

test(
  'a lock left by a killed wax (dead pid) and its temporary file are cleaned up by the next command',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    const dead = spawnSync('/bin/true').pid!;
    writeFileSync(join(ws.dir, '.s.yaml.wax-lock'), `${JSON.stringify({ pid: dead, host: spawnSync('hostname', { encoding: 'utf8' }).stdout.trim(), token: 'x' })}\n`);
    writeFileSync(join(ws.dir, `.s.yaml.wax-${dead}-0123456789ab.tmp`), 'half a ciphertext');
    const result = ws.wax(['set', 's.yaml', '["user"]', '"after-crash"']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(decryptedObject(ws, 's.yaml').user, 'after-crash');
    assert.deepEqual(scratchFiles(ws.dir), []);
  }),
);

test(
  'a lock held by a live wax process: `wax set` waits, then exits 213 with a hint, and changes nothing',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN);
    const before = readFileSync(path);
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const lock = join(ws.dir, '.s.yaml.wax-lock');
    writeFileSync(lock, `${JSON.stringify({ pid: process.pid, host: spawnSync('hostname', { encoding: 'utf8' }).stdout.trim(), start, token: 'held' })}\n`);
    const began = Date.now();
    const result = ws.wax(['set', 's.yaml', '["user"]', '"blocked"']);
    assert.equal(result.code, CONFLICT, result.stderr);
    assert.ok(Date.now() - began >= 9_000, 'it did not wait for the lock');
    assert.match(result.stderr, new RegExp(`wax: error: s\\.yaml is being changed by another wax process \\(pid ${process.pid}\\); nothing was written`));
    assert.match(result.stderr, /wax: hint: try again when it has finished; if no wax process is running, remove \.s\.yaml\.wax-lock/);
    assert.deepEqual(readFileSync(path), before);
    assert.ok(existsSync(lock));
  }),
);

test(
  'a directory walk leaves wax lock and temporary files alone',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN);
    encrypted(ws, 'b.bin', 'binary secret hunter2-concurrent\n');
    // A temporary file of a writer still at work: an encrypted binary, which rotate would take.
    const temp = join(ws.dir, `.b.bin.wax-${process.pid}-0123456789ab.tmp`);
    copyFileSync(join(ws.dir, 'b.bin'), temp);
    const before = readFileSync(temp);
    const result = ws.wax(['rotate', '-i', '-r', '.']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /wax: 3 files: 2 rotated, 1 skipped, 0 failed/);
    assert.deepEqual(readFileSync(temp), before);
  }),
);

const hasScript = spawnSync('script', ['--version']).status === 0;

test(
  '`wax updatekeys` waiting for its question while the file changes: the answer is not applied to the new content',
  { skip: hasScript ? false : 'util-linux `script` is not installed' },
  withWorkspace(async (ws) => {
    mkdirSync(join(ws.dir, 'second'));
    const second = ageKeypair(join(ws.dir, 'second'));
    writeFileSync(join(ws.dir, '.sops.yaml'), `creation_rules:\n  - age: ${ws.key.recipient},${second.recipient}\n`);
    encrypted(ws, 's.yaml', PLAIN);
    // `script` gives wax a terminal, so it asks before changing the keys.
    const command = `${process.execPath} ${waxBundle()} updatekeys s.yaml; echo "exit=$?"`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ws.dir, env: testEnvironment(ws.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (!answered && output.includes('apply these changes?')) {
        answered = true;
        // Someone else's update lands while the person reads the question.
        const set = spawnSync(process.execPath, [waxBundle(), 'set', 's.yaml', '["user"]', '"meanwhile"'], { cwd: ws.dir, env: testEnvironment(ws.env), encoding: 'utf8' });
        assert.equal(set.status, 0, set.stderr);
        child.stdin.write('y\n');
      }
    });
    await exited;
    clearTimeout(timer);
    assert.ok(answered, 'updatekeys never asked');
    assert.match(output, /s\.yaml was changed by another program while wax was working on it; nothing was written/);
    assert.match(output, /exit=205/);
    assert.equal(decryptedObject(ws, 's.yaml').user, 'meanwhile');
    assert.doesNotMatch(readFileSync(join(ws.dir, 's.yaml'), 'utf8'), new RegExp(second.recipient), 'the keys were changed anyway');
    assert.deepEqual(scratchFiles(ws.dir), []);
  }),
);
