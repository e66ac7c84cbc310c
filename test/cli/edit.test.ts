import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ageKeypair, assertNoneOf, decrypt, encrypted, testEnvironment, waxBundle, withWorkspace, type Workspace } from '../support/cli.js';

const PLAIN_YAML = `# database settings
user: admin
password: hunter2
port: 5432
nested:
    token: s3cr3t-token
`;
const SECRETS = ['hunter2', 's3cr3t-token', 'correcthorse'];

/** An executable shell script in the workspace, for use as $EDITOR. */
function editorScript(ws: Workspace, name: string, body: string): string {
  const path = join(ws.dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const assertNoSecrets = (text: string) => assertNoneOf(text, SECRETS);

function assertTmpEmpty(ws: Workspace) {
  assert.deepEqual(readdirSync(ws.tmp), [], 'plaintext left behind in TMPDIR');
}

test(
  'edit re-encrypts the change with the same data key: other values keep their ciphertext, the mode is kept',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    chmodSync(path, 0o640);
    const before = readFileSync(path, 'utf8');
    const editor = editorScript(ws, 'ed.sh', `sed -i 's/hunter2/correcthorse/' "$1"`);
    const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: editor } });
    assert.equal(result.code, 0, result.stderr);
    assertNoSecrets(result.stderr + result.stdout);
    assertTmpEmpty(ws);
    const after = readFileSync(path, 'utf8');
    const changed = after.split('\n').filter((line) => !before.split('\n').includes(line));
    assert.deepEqual(
      changed.map((line) => line.trim().split(':')[0]).filter((k) => k !== 'lastmodified'),
      ['password', 'mac'],
    );
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.equal(decrypt(ws, 's.yaml'), PLAIN_YAML.replace('hunter2', 'correcthorse'));
  }),
);

test(
  'the editor gets a 0600 file named like the original, in a private 0700 directory',
  withWorkspace((ws) => {
    encrypted(ws, 'secret.yaml', PLAIN_YAML);
    const report = join(ws.dir, 'report.txt');
    const editor = editorScript(ws, 'ed.sh', `stat -c '%a %n' "$1" "$(dirname "$1")" > '${report}'; echo 'added: value' >> "$1"`);
    assert.equal(ws.wax(['edit', 'secret.yaml'], { env: { EDITOR: editor } }).code, 0);
    const [file, dir] = readFileSync(report, 'utf8').trim().split('\n');
    assert.match(file, /^600 .*\/secret\.yaml$/);
    assert.match(dir, /^700 /);
    assert.ok(dir.slice(4).startsWith(ws.tmp), 'the directory is not under TMPDIR');
    assertTmpEmpty(ws);
  }),
);

test(
  '$SOPS_EDITOR wins over $EDITOR, and an editor string may carry arguments',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const script = editorScript(ws, 'ed.sh', `sed -i "s/hunter2/$1/" "$2"`);
    const result = ws.wax(['edit', 's.yaml'], { env: { SOPS_EDITOR: `${script} correcthorse`, EDITOR: 'false' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(decrypt(ws, 's.yaml'), /^password: correcthorse$/m);
  }),
);

test(
  'an editor that changes nothing gives exit 200 and the file stays byte-identical',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: 'true' } });
    assert.equal(result.code, 200);
    assert.match(result.stderr, /has not been modified/);
    assertNoSecrets(result.stderr);
    assert.deepEqual(readFileSync(path), before);
    assertTmpEmpty(ws);
  }),
);

test(
  'invalid YAML from the editor (no terminal) fails with exit 26; the original stays and no plaintext is left',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const editor = editorScript(ws, 'ed.sh', `printf 'password: correcthorse\\nbroken: [\\n' > "$1"`);
    const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: editor }, input: '' });
    assert.equal(result.code, 26);
    assert.match(result.stderr, /invalid YAML/);
    assertNoSecrets(result.stderr + result.stdout);
    assert.deepEqual(readFileSync(path), before);
    assertTmpEmpty(ws);
  }),
);

test(
  'an edit that adds a top-level "sops" key is refused with exit 26',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const editor = editorScript(ws, 'ed.sh', `printf 'sops:\\n    mac: forged\\n' >> "$1"`);
    const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: editor } });
    assert.equal(result.code, 26);
    assert.match(result.stderr, /top-level "sops" key/);
    assertNoSecrets(result.stderr);
    assert.deepEqual(readFileSync(path), before);
    assertTmpEmpty(ws);
  }),
);

test(
  'an editor that fails or cannot be found abandons the edit with exit 201',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const failing = editorScript(ws, 'ed.sh', `sed -i 's/hunter2/correcthorse/' "$1"; exit 1`);
    for (const editor of [failing, 'wax-no-such-editor']) {
      const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: editor } });
      assert.equal(result.code, 201, result.stderr);
      assertNoSecrets(result.stderr);
      assert.deepEqual(readFileSync(path), before);
      assertTmpEmpty(ws);
    }
  }),
);

test(
  'with no $SOPS_EDITOR, no $EDITOR and no vim, nano or vi on PATH, edit fails with exit 201',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    mkdirSync(join(ws.dir, 'empty-bin'));
    const result = ws.wax(['edit', 's.yaml'], { env: { PATH: join(ws.dir, 'empty-bin') } });
    assert.equal(result.code, 201);
    assert.match(result.stderr, /no editor found/);
    assertNoSecrets(result.stderr);
    assert.deepEqual(readFileSync(path), before);
    assertTmpEmpty(ws);
  }),
);

test(
  'without a usable key, edit fails with exit 128 and never starts the editor',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    mkdirSync(join(ws.dir, 'other'));
    const other = ageKeypair(join(ws.dir, 'other'));
    const editor = editorScript(ws, 'ed.sh', `touch '${join(ws.dir, 'ran')}'`);
    const result = ws.wax(['edit', 's.yaml'], { env: { EDITOR: editor, SOPS_AGE_KEY_FILE: other.keyFile } });
    assert.equal(result.code, 128);
    assertNoSecrets(result.stderr);
    assert.ok(!existsSync(join(ws.dir, 'ran')));
    assertTmpEmpty(ws);
  }),
);

test(
  'a missing file starts from the example and is encrypted for the --age recipient',
  withWorkspace((ws) => {
    const editor = editorScript(ws, 'ed.sh', `sed -i 's/^example_key: example_value$/password: correcthorse/' "$1"`);
    const result = ws.wax(['edit', '--age', ws.key.recipient, 'new.yaml'], { env: { EDITOR: editor } });
    assert.equal(result.code, 0, result.stderr);
    const text = readFileSync(join(ws.dir, 'new.yaml'), 'utf8');
    assert.ok(!text.includes('correcthorse') && !text.includes('Welcome'), 'values are not encrypted');
    assert.match(text, new RegExp(`recipient: ${ws.key.recipient}`));
    const plain = decrypt(ws, 'new.yaml');
    assert.match(plain, /^hello: Welcome to wax! Edit this file as you please!$/m);
    assert.match(plain, /^password: correcthorse$/m);
    assertTmpEmpty(ws);
  }),
);

test(
  'a missing file takes its keys from .sops.yaml, in every format',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, '.sops.yaml'), `creation_rules:\n  - age: ${ws.key.recipient}\n`);
    const editor = editorScript(ws, 'ed.sh', `sed -i 's/Welcome to wax/Welcome to correcthorse/' "$1"`);
    for (const name of ['new.json', 'new.env', 'new.ini', 'new.txt']) {
      const result = ws.wax(['edit', name], { env: { EDITOR: editor } });
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.ok(!readFileSync(join(ws.dir, name), 'utf8').includes('correcthorse'), `${name} holds plaintext`);
      assert.match(decrypt(ws, name), /Welcome to correcthorse! Edit this file as you please!/);
    }
    assertTmpEmpty(ws);
  }),
);

test(
  'an unchanged example creates nothing and exits 200, as sops does',
  withWorkspace((ws) => {
    const result = ws.wax(['edit', '--age', ws.key.recipient, 'new.yaml'], { env: { EDITOR: 'true' } });
    assert.equal(result.code, 200);
    assert.match(result.stderr, /nothing was created/);
    assert.ok(!existsSync(join(ws.dir, 'new.yaml')));
    assertTmpEmpty(ws);
  }),
);

test(
  'a missing file with no key anywhere fails with exit 111 before the editor starts',
  withWorkspace((ws) => {
    const editor = editorScript(ws, 'ed.sh', `touch '${join(ws.dir, 'ran')}'`);
    const result = ws.wax(['edit', 'new.yaml'], { env: { EDITOR: editor } });
    assert.equal(result.code, 111);
    assert.ok(!existsSync(join(ws.dir, 'ran')));
    assert.ok(!existsSync(join(ws.dir, 'new.yaml')));
    assertTmpEmpty(ws);
  }),
);

/** Starts `wax edit` asynchronously and waits until the editor has its file. */
async function startEdit(ws: Workspace, editor: string, detached: boolean) {
  const child = spawn(process.execPath, [waxBundle(), 'edit', 's.yaml'], { cwd: ws.dir, env: testEnvironment({ ...ws.env, EDITOR: editor }), stdio: ['ignore', 'ignore', 'pipe'], detached });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const started = join(ws.dir, 'started');
  for (let i = 0; i < 400 && !existsSync(started); i++) await delay(25);
  assert.ok(existsSync(started), 'the editor never started');
  return { child, exited, stderr: () => stderr };
}

test(
  'SIGTERM while the editor runs stops the editor, removes the plaintext and leaves the file alone',
  withWorkspace(async (ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const editor = editorScript(ws, 'ed.sh', `touch '${join(ws.dir, 'started')}'; exec sleep 30`);
    const run = await startEdit(ws, editor, false);
    run.child.kill('SIGTERM');
    const { signal } = await run.exited;
    assert.equal(signal, 'SIGTERM');
    assertTmpEmpty(ws);
    assert.deepEqual(readFileSync(path), before);
    assertNoSecrets(run.stderr());
  }),
);

test(
  'Ctrl-C reaching wax and the editor (one process group) abandons the edit with exit 85',
  withWorkspace(async (ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const editor = editorScript(ws, 'ed.sh', `sed -i 's/hunter2/correcthorse/' "$1"; touch '${join(ws.dir, 'started')}'; exec sleep 30`);
    const run = await startEdit(ws, editor, true);
    process.kill(-run.child.pid!, 'SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 85);
    assertTmpEmpty(ws);
    assert.deepEqual(readFileSync(path), before);
    assertNoSecrets(run.stderr());
  }),
);

test(
  'SIGINT sent to wax alone is left to the editor: the edit still completes',
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const gate = join(ws.dir, 'gate');
    const editor = editorScript(ws, 'ed.sh', `touch '${join(ws.dir, 'started')}'; while [ ! -f '${gate}' ]; do sleep 0.05; done; sed -i 's/hunter2/correcthorse/' "$1"`);
    const run = await startEdit(ws, editor, false);
    run.child.kill('SIGINT');
    await delay(200);
    writeFileSync(gate, '');
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
    assert.match(decrypt(ws, 's.yaml'), /^password: correcthorse$/m);
    assertTmpEmpty(ws);
  }),
);

const hasScript = spawnSync('script', ['--version']).status === 0;

test(
  'on a terminal, a parse error offers another round in the editor',
  { skip: hasScript ? false : 'util-linux `script` is not installed' },
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const count = join(ws.dir, 'count');
    const editor = editorScript(
      ws,
      'ed.sh',
      `if [ -f '${count}' ]; then sed -i 's/^broken: \\[$/password: correcthorse/' "$1"; else touch '${count}'; printf 'broken: [\\n' > "$1"; fi`,
    );
    const env = testEnvironment({ ...ws.env, EDITOR: editor });
    const command = `${process.execPath} ${waxBundle()} edit s.yaml; echo "exit=$?"`;
    // `script` gives wax a pseudo-terminal, so stdin.isTTY is true as for a person at a shell.
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ws.dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('press Enter to edit again') && !output.includes('answered')) {
        output += 'answered';
        child.stdin.write('\n');
      }
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    assert.match(output, /invalid YAML/);
    assert.match(output, /exit=0/);
    assert.doesNotMatch(output, /correcthorse/);
    assert.equal(decrypt(ws, 's.yaml'), 'password: correcthorse\n');
    assertTmpEmpty(ws);
  }),
);
