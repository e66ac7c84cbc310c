/**
 * Many files at once: -r walks directories, one failing file does not stop the others,
 * the exit code says that something failed, and the summary counts every file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/errors.js';
import { spawnSync } from 'node:child_process';
import { ageKeypair, makeTempDir, removeTempDir, runWax, testEnvironment, waxBundle } from '../support/cli.js';

test('encrypt -r, rotate -r and decrypt -r across a tree with a broken file', async () => {
  const dir = makeTempDir('wax-bulk-');
  try {
    mkdirSync(join(dir, 'keys'));
    const { keyFile, recipient } = ageKeypair(join(dir, 'keys'));
    const tree = join(dir, 'clusters');
    const files: string[] = [];
    for (let i = 0; i < 12; i++) {
      const sub = join(tree, `app${i % 3}`);
      mkdirSync(sub, { recursive: true });
      const file = join(sub, `secret${i}.yaml`);
      writeFileSync(file, `password: pw-${i}\n`);
      files.push(file);
    }
    writeFileSync(join(tree, 'env.env'), 'TOKEN=t\n');
    writeFileSync(join(tree, 'README.md'), '# not a secret\n');
    writeFileSync(join(tree, 'broken.yaml'), 'a: [unclosed\n');
    mkdirSync(join(tree, '.git'));
    writeFileSync(join(tree, '.git', 'config.yaml'), 'never: touched\n');
    writeFileSync(join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${recipient}\n`);

    const env = { SOPS_AGE_KEY_FILE: keyFile, XDG_CONFIG_HOME: '/nonexistent' };
    const encrypted = runWax(['encrypt', '-i', '-r', '-j', '4', 'clusters'], { cwd: dir, env });
    assert.equal(encrypted.code, ExitCode.SomeFilesFailed, encrypted.stderr);
    assert.match(encrypted.stderr, /broken\.yaml: invalid YAML/);
    assert.match(encrypted.stderr, /wax: 15 files: 13 encrypted, 1 skipped, 1 failed/);
    for (const file of files) assert.match(readFileSync(file, 'utf8'), /password: ENC\[/);
    assert.match(readFileSync(join(tree, 'env.env'), 'utf8'), /^TOKEN=ENC\[/);
    assert.equal(readFileSync(join(tree, 'README.md'), 'utf8'), '# not a secret\n');
    assert.equal(readFileSync(join(tree, 'broken.yaml'), 'utf8'), 'a: [unclosed\n');
    assert.equal(readFileSync(join(tree, '.git', 'config.yaml'), 'utf8'), 'never: touched\n');

    // A second run skips what is already encrypted.
    const again = runWax(['encrypt', '-i', '-r', 'clusters'], { cwd: dir, env });
    assert.match(again.stderr, /0 encrypted, 14 skipped, 1 failed/);

    const before = readFileSync(files[0], 'utf8');
    const rotated = runWax(['rotate', '-i', '-r', 'clusters'], { cwd: dir, env });
    assert.equal(rotated.code, ExitCode.SomeFilesFailed, 'the broken file is still broken');
    assert.match(rotated.stderr, /13 rotated/);
    assert.notEqual(readFileSync(files[0], 'utf8'), before);

    const decrypted = runWax(['decrypt', '-i', '-r', 'clusters'], { cwd: dir, env });
    assert.match(decrypted.stderr, /13 decrypted/);
    files.forEach((file, i) => assert.equal(readFileSync(file, 'utf8'), `password: pw-${i}\n`));
    assert.equal(readFileSync(join(tree, 'env.env'), 'utf8'), 'TOKEN=t\n');
    // No temporary files anywhere.
    for (const sub of ['app0', 'app1', 'app2']) assert.ok(readdirSync(join(tree, sub)).every((name) => !name.includes('.wax-')));
  } finally {
    removeTempDir(dir);
  }
});

test('several files without -i is a usage error', async () => {
  const dir = makeTempDir('wax-bulk-');
  try {
    writeFileSync(join(dir, 'a.yaml'), 'a: 1\n');
    writeFileSync(join(dir, 'b.yaml'), 'b: 1\n');
    const result = runWax(['decrypt', join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    assert.equal(result.code, ExitCode.Usage);
    assert.match(result.stderr, /needs --in-place/);
  } finally {
    removeTempDir(dir);
  }
});

test('set and unset across several files and a directory', async () => {
  const dir = makeTempDir('wax-bulk-');
  try {
    mkdirSync(join(dir, 'keys'));
    const { keyFile, recipient } = ageKeypair(join(dir, 'keys'));
    const env = { SOPS_AGE_KEY_FILE: keyFile, XDG_CONFIG_HOME: '/nonexistent' };
    mkdirSync(join(dir, 'apps'));
    const files = ['a', 'b', 'c'].map((name) => {
      const file = join(dir, 'apps', `${name}.yaml`);
      writeFileSync(file, `name: ${name}\npassword: old-${name}\n`);
      assert.equal(runWax(['encrypt', '-i', '--age', recipient, file]).code, 0);
      return file;
    });
    writeFileSync(join(dir, 'apps', 'notes.txt'), 'plain notes\n');
    const set = runWax(['set', '-r', join(dir, 'apps'), '["team"]', '"payments"'], { env });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stderr, /4 files: 3 updated, 1 skipped, 0 failed/);
    for (const file of files) assert.match(runWax(['decrypt', file], { env }).stdout, /^team: payments$/m);
    const unset = runWax(['unset', files[0], files[1], '["password"]'], { env });
    assert.equal(unset.code, 0, unset.stderr);
    assert.doesNotMatch(runWax(['decrypt', files[0]], { env }).stdout, /password/);
    assert.match(runWax(['decrypt', files[2]], { env }).stdout, /password: old-c/);
  } finally {
    removeTempDir(dir);
  }
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test('a bulk run on a terminal shows a progress bar on stderr', { skip: hasScript ? false : 'util-linux `script` is not installed' }, async () => {
  const dir = makeTempDir('wax-bulk-');
  try {
    mkdirSync(join(dir, 'keys'));
    const { keyFile, recipient } = ageKeypair(join(dir, 'keys'));
    mkdirSync(join(dir, 'secrets'));
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'secrets', `s${i}.yaml`), `k: v${i}\n`);
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(waxBundle())} encrypt -i -r --age ${recipient} secrets`;
    // `script` gives wax a pseudo-terminal, as a person running it would have.
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...testEnvironment({ SOPS_AGE_KEY_FILE: keyFile }), CI: '' } });
    assert.equal(run.status, 0, run.stdout);
    assert.match(run.stdout, /\[#+\.*\] \d\/5 files/);
    assert.match(run.stdout, /5 files: 5 encrypted, 0 skipped, 0 failed/);
  } finally {
    removeTempDir(dir);
  }
});
