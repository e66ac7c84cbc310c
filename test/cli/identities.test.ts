/** Every identity source sops reads (§9.1) works, and a broken source is reported clearly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/errors.js';
import { ageKeypair, makeTempDir, removeTempDir, runWax } from '../support/cli.js';

function setup() {
  const dir = makeTempDir('wax-ids-');
  mkdirSync(join(dir, 'k'));
  const pair = ageKeypair(join(dir, 'k'));
  const identity = readFileSync(pair.keyFile, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY'))!;
  const file = join(dir, 's.yaml');
  writeFileSync(file, 'token: abc\n');
  assert.equal(runWax(['encrypt', '-i', '--age', pair.recipient, file]).code, 0);
  return { dir, file, identity, ...pair };
}

const NONE = { XDG_CONFIG_HOME: '/nonexistent', HOME: '/nonexistent' };

test('SOPS_AGE_KEY (several keys, whitespace-separated)', () => {
  const s = setup();
  try {
    mkdirSync(join(s.dir, 'o'));
    const otherFile = ageKeypair(join(s.dir, 'o')).keyFile;
    const other = readFileSync(otherFile, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY'))!;
    const r = runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY: `${other}\n  ${s.identity}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'token: abc\n');
  } finally {
    removeTempDir(s.dir);
  }
});

test('SOPS_AGE_KEY_FILE with comments and blank lines', () => {
  const s = setup();
  try {
    const keyFile = join(s.dir, 'commented.txt');
    writeFileSync(keyFile, `# my keys\n\n${s.identity}\n`);
    assert.equal(runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY_FILE: keyFile } }).stdout, 'token: abc\n');
  } finally {
    removeTempDir(s.dir);
  }
});

test('SOPS_AGE_KEY_CMD gets SOPS_AGE_RECIPIENT and prints the identity', () => {
  const s = setup();
  try {
    const script = join(s.dir, 'cmd.sh');
    writeFileSync(script, `#!/bin/sh\n[ "$SOPS_AGE_RECIPIENT" = "${s.recipient}" ] || exit 3\ncat '${s.keyFile}'\n`, { mode: 0o700 });
    const r = runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY_CMD: script } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'token: abc\n');
    const failing = runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY_CMD: 'exit 7' } });
    assert.equal(failing.code, ExitCode.CouldNotRetrieveKey);
    assert.match(failing.stderr, /SOPS_AGE_KEY_CMD failed/);
  } finally {
    removeTempDir(s.dir);
  }
});

test('the user config dir: $XDG_CONFIG_HOME/sops/age/keys.txt', () => {
  const s = setup();
  try {
    const config = join(s.dir, 'xdg');
    mkdirSync(join(config, 'sops', 'age'), { recursive: true });
    writeFileSync(join(config, 'sops', 'age', 'keys.txt'), `${s.identity}\n`);
    assert.equal(runWax(['decrypt', s.file], { env: { XDG_CONFIG_HOME: config } }).stdout, 'token: abc\n');
  } finally {
    removeTempDir(s.dir);
  }
});

test('a key file with a line that is not an identity: exit 128, the line number, never the line', () => {
  const s = setup();
  try {
    const keyFile = join(s.dir, 'bad.txt');
    writeFileSync(keyFile, `${s.identity}\nnot-a-key-but-maybe-a-secret\n`);
    const r = runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY_FILE: keyFile } });
    assert.equal(r.code, ExitCode.CouldNotRetrieveKey);
    assert.match(r.stderr, /line 2 is not an age identity/);
    assert.ok(!r.stderr.includes('not-a-key-but-maybe-a-secret'));
  } finally {
    removeTempDir(s.dir);
  }
});

test('an identity with a bad checksum: exit 128 naming the source and its position', () => {
  const s = setup();
  try {
    const broken = s.identity.slice(0, -2) + (s.identity.endsWith('QQ') ? 'PP' : 'QQ');
    const r = runWax(['decrypt', s.file], { env: { ...NONE, SOPS_AGE_KEY: broken } });
    assert.equal(r.code, ExitCode.CouldNotRetrieveKey);
    assert.match(r.stderr, /identity 1 of SOPS_AGE_KEY is not a valid age identity/);
    assert.ok(!r.stderr.includes(broken));
  } finally {
    removeTempDir(s.dir);
  }
});
