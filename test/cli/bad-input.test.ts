/**
 * Bad input: one clear line (plus a hint), a documented exit code, the input untouched
 * and nothing left behind in its directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/errors.js';
import { ageKeypair, makeTempDir, removeTempDir, runWax, waxBundle, type RunResult } from '../support/cli.js';

function withDir(body: (dir: string, recipient: string, keyFile: string) => void | Promise<void>) {
  return async () => {
    const dir = makeTempDir('wax-bad-');
    try {
      mkdirSync(join(dir, 'keys'));
      const { recipient, keyFile } = ageKeypair(join(dir, 'keys'));
      await body(dir, recipient, keyFile);
    } finally {
      removeTempDir(dir);
    }
  };
}

/** Encrypts `content` as `name` and checks the failure contract. */
function expectRejected(dir: string, recipient: string, name: string, content: string, exitCode: number, pattern: RegExp): RunResult {
  const file = join(dir, name);
  writeFileSync(file, content);
  const before = readdirSync(dir).sort();
  const result = runWax(['encrypt', '-i', '--age', recipient, file], { env: { XDG_CONFIG_HOME: '/nonexistent' } });
  assert.equal(result.code, exitCode, result.stderr);
  assertOneLine(result);
  assert.match(result.stderr, pattern);
  assert.equal(readFileSync(file, 'utf8'), content, 'the input is untouched');
  assert.deepEqual(readdirSync(dir).sort(), before, 'no temporary file is left behind');
  return result;
}

function assertOneLine(result: RunResult): void {
  const lines = result.stderr.trimEnd().split('\n');
  assert.match(lines[0], /^wax: error: \S/);
  assert.ok(lines.length <= 2, `expected one error line and at most one hint, got:\n${result.stderr}`);
  if (lines[1]) assert.match(lines[1], /^wax: hint: \S/);
}

test('malformed YAML: exit 26, the line number, not the content', withDir((dir, recipient) => {
  const r = expectRejected(dir, recipient, 'bad.yaml', 'a: b\nc: [unclosed, secret-value-xyz\n', ExitCode.InvalidInputDocument, /invalid YAML .*line \d+/);
  assert.ok(!r.stderr.includes('secret-value-xyz'));
}));

test('malformed JSON: exit 26', withDir((dir, recipient) => {
  const r = expectRejected(dir, recipient, 'bad.json', '{"password": "secret-value-xyz",}', ExitCode.InvalidInputDocument, /JSON/i);
  assert.ok(!r.stderr.includes('secret-value-xyz'));
}));

test('a YAML document that is a list: exit 26', withDir((dir, recipient) => {
  expectRejected(dir, recipient, 'list.yaml', '- a\n- b\n', ExitCode.InvalidInputDocument, /sequences are not supported/);
}));

test('a JSON document that is a list: exit 26', withDir((dir, recipient) => {
  expectRejected(dir, recipient, 'list.json', '["a", "b"]\n', ExitCode.InvalidInputDocument, /object/i);
}));

test('non-string keys: exit 26', withDir((dir, recipient) => {
  expectRejected(dir, recipient, 'keys.yaml', '1: one\n2: two\n', ExitCode.InvalidInputDocument, /non-string key/);
}));

test('a file already encrypted: exit 203', withDir((dir, recipient) => {
  const file = join(dir, 'twice.yaml');
  writeFileSync(file, 'a: b\n');
  assert.equal(runWax(['encrypt', '-i', '--age', recipient, file]).code, 0);
  const encrypted = readFileSync(file, 'utf8');
  expectRejected(dir, recipient, 'twice.yaml', encrypted, ExitCode.FileAlreadyEncrypted, /already encrypted/);
}));

test('a binary file already encrypted: exit 203, not encrypted twice', withDir((dir, recipient) => {
  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'plain notes\n');
  assert.equal(runWax(['encrypt', '-i', '--age', recipient, file]).code, 0);
  const encrypted = readFileSync(file, 'utf8');
  expectRejected(dir, recipient, 'notes.txt', encrypted, ExitCode.FileAlreadyEncrypted, /already encrypted/);
}));

test('a missing key file: exit 128 naming the variable and the path', withDir((dir, recipient) => {
  const file = join(dir, 'secret.yaml');
  writeFileSync(file, 'a: b\n');
  assert.equal(runWax(['encrypt', '-i', '--age', recipient, file]).code, 0);
  const encrypted = readFileSync(file, 'utf8');
  const result = runWax(['decrypt', file], { env: { SOPS_AGE_KEY_FILE: join(dir, 'missing.txt'), XDG_CONFIG_HOME: '/nonexistent' } });
  assert.equal(result.code, ExitCode.CouldNotRetrieveKey);
  assert.match(result.stderr, /SOPS_AGE_KEY_FILE points to .*missing\.txt, which does not exist/);
  assert.equal(readFileSync(file, 'utf8'), encrypted);
}));

test('an unreadable file: exit 2', withDir((dir, recipient) => {
  const file = join(dir, 'locked.yaml');
  writeFileSync(file, 'a: b\n');
  chmodSync(file, 0o000);
  chmodSync(dir, 0o755);
  let result: RunResult;
  if (process.getuid?.() === 0) {
    // Root reads anything; drop to an unprivileged user to see the permission error.
    const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, waxBundle(), 'encrypt', '--age', recipient, file], { encoding: 'utf8' });
    result = { code: run.status ?? 1, stdout: run.stdout, stderr: run.stderr, signal: run.signal };
  } else {
    result = runWax(['encrypt', '--age', recipient, file]);
  }
  assert.equal(result.code, ExitCode.CouldNotReadInputFile, result.stderr);
  assertOneLine(result);
  assert.match(result.stderr, /permission denied/);
  chmodSync(file, 0o600);
  assert.equal(readFileSync(file, 'utf8'), 'a: b\n');
}));

test('a directory without -r: exit 2 with a hint to use -r', withDir((dir, recipient) => {
  const sub = join(dir, 'secrets');
  mkdirSync(sub);
  writeFileSync(join(sub, 'a.yaml'), 'a: b\n');
  const result = runWax(['encrypt', '-i', '--age', recipient, sub]);
  assert.equal(result.code, ExitCode.CouldNotReadInputFile);
  assertOneLine(result);
  assert.match(result.stderr, /is a directory/);
  assert.match(result.stderr, /-r/);
  assert.equal(readFileSync(join(sub, 'a.yaml'), 'utf8'), 'a: b\n');
}));

test('a missing file: exit 100', withDir((dir, recipient) => {
  const result = runWax(['encrypt', '--age', recipient, join(dir, 'nope.yaml')]);
  assert.equal(result.code, ExitCode.NoFileSpecified);
  assertOneLine(result);
}));

test('two selection rules at once: exit 8', withDir((dir, recipient) => {
  const file = join(dir, 'two.yaml');
  writeFileSync(file, 'a: b\n');
  const result = runWax(['encrypt', '-i', '--age', recipient, '--encrypted-regex', 'a', '--unencrypted-suffix', '_x', file]);
  assert.equal(result.code, ExitCode.ConflictingParameters);
  assertOneLine(result);
  assert.match(result.stderr, /more than one/);
  assert.equal(readFileSync(file, 'utf8'), 'a: b\n');
}));

test('an RE2-invalid regex (look-ahead): exit 5 naming the rule', withDir((dir, recipient) => {
  const file = join(dir, 'r.yaml');
  writeFileSync(file, 'a: b\n');
  const result = runWax(['encrypt', '--age', recipient, '--encrypted-regex', '(?=a)b', file]);
  assert.equal(result.code, ExitCode.ErrorReadingConfig);
  assertOneLine(result);
  assert.match(result.stderr, /encrypted_regex .* is not a valid RE2 expression/);
}));

test('an invalid age recipient: exit 1 without echoing it whole', withDir((dir) => {
  const file = join(dir, 'r.yaml');
  writeFileSync(file, 'a: b\n');
  const result = runWax(['encrypt', '--age', 'age1notavalidrecipientatallxxxxxxxxxxxxxxx', file]);
  assert.equal(result.code, ExitCode.Generic);
  assertOneLine(result);
  assert.match(result.stderr, /invalid age recipient/);
}));

test('no key at all: exit 111', withDir((dir) => {
  const file = join(dir, 'r.yaml');
  writeFileSync(file, 'a: b\n');
  const result = runWax(['encrypt', file], { cwd: dir });
  assert.equal(result.code, ExitCode.NoEncryptionKeyFound);
  assertOneLine(result);
}));
