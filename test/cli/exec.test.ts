import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ageKeypair, assertNoneOf, encrypted, testEnvironment, waxBundle, withWorkspace, type Workspace } from '../support/cli.js';

const PLAIN_YAML = `user: admin
password: hunter2
port: 5432
debug: true
nested:
    token: s3cr3t-token
`;
const SECRETS = ['hunter2', 's3cr3t-token'];

const assertNoSecrets = (text: string) => assertNoneOf(text, SECRETS);

function assertTmpEmpty(ws: Workspace) {
  assert.deepEqual(readdirSync(ws.tmp), [], 'wax left files in TMPDIR');
}

test(
  'exec-env puts the top-level scalars into the environment and returns the exit status',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    let result = ws.wax(['exec-env', 's.yaml', 'test "$password" = hunter2 && test "$user" = admin && test "$port" = 5432 && test "$debug" = true']);
    assert.equal(result.code, 0, result.stderr);
    result = ws.wax(['exec-env', 's.yaml', 'test "$password" = wrong']);
    assert.equal(result.code, 1);
    result = ws.wax(['exec-env', 's.yaml', 'exit 7']);
    assert.equal(result.code, 7);
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-env skips nested values with a warning that names only the key',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const result = ws.wax(['exec-env', 's.yaml', 'test -z "$nested" && test "$password" = hunter2']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /nested: not a string, number or boolean/);
    assertNoSecrets(result.stderr);
  }),
);

test(
  'exec-env keeps the environment, or with --pristine passes only the secrets',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const env = { WAX_TEST_MARK: 'present' };
    let result = ws.wax(['exec-env', 's.yaml', 'test "$WAX_TEST_MARK" = present && test "$password" = hunter2'], { env });
    assert.equal(result.code, 0, result.stderr);
    // /bin/sh falls back to its default PATH, so `env` and `grep` are still found.
    result = ws.wax(['exec-env', '--pristine', 's.yaml', 'test -z "$WAX_TEST_MARK" && test -z "$SOPS_AGE_KEY_FILE" && test "$password" = hunter2 && env | grep -c . '], { env });
    assert.equal(result.code, 0, result.stderr);
  }),
);

test(
  'exec-env works with dotenv files, the usual input',
  withWorkspace((ws) => {
    encrypted(ws, 'app.env', 'DATABASE_URL=postgres://admin:hunter2@db/app\nMODE=prod\n');
    const result = ws.wax(['exec-env', 'app.env', 'test "$DATABASE_URL" = "postgres://admin:hunter2@db/app" && test "$MODE" = prod']);
    assert.equal(result.code, 0, result.stderr);
  }),
);

test(
  'exec-env without a usable key fails with exit 128 and never runs the command',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    mkdirSync(join(ws.dir, 'other'));
    const other = ageKeypair(join(ws.dir, 'other'));
    const result = ws.wax(['exec-env', 's.yaml', 'touch ran'], { env: { SOPS_AGE_KEY_FILE: other.keyFile } });
    assert.equal(result.code, 128);
    assertNoSecrets(result.stderr);
    assert.ok(!existsSync(join(ws.dir, 'ran')), 'the command ran');
  }),
);

test(
  'exec-env refuses a file whose MAC does not verify (exit 51), unless --ignore-mac',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^port: .*\n/m, ''));
    const result = ws.wax(['exec-env', 's.yaml', 'touch ran']);
    assert.equal(result.code, 51);
    assertNoSecrets(result.stderr);
    assert.ok(!existsSync(join(ws.dir, 'ran')));
    assert.equal(ws.wax(['exec-env', '--ignore-mac', 's.yaml', 'test "$password" = hunter2']).code, 0);
  }),
);

test(
  'exec-file: `cat {}` reads the plaintext from a FIFO, and the directory is gone afterwards',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const plaintext = ws.wax(['decrypt', 's.yaml']).stdout;
    const result = ws.wax(['exec-file', 's.yaml', 'test -p {} && cat {}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, plaintext);
    assert.equal(plaintext, PLAIN_YAML);
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-file does not hang when the command never opens the FIFO, and returns its status',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    let result = ws.wax(['exec-file', 's.yaml', 'true'], { timeout: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    result = ws.wax(['exec-file', 's.yaml', 'exit 3'], { timeout: 20_000 });
    assert.equal(result.code, 3);
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-file copes with a command that reads only part of a large plaintext',
  withWorkspace((ws) => {
    // Larger than a pipe buffer (64 KiB), so the writer blocks until the reader goes away.
    encrypted(ws, 'big.yaml', `password: hunter2\nfiller: ${'x'.repeat(300_000)}\n`);
    let result = ws.wax(['exec-file', 'big.yaml', 'head -c 10 {}'], { timeout: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'password: ');
    result = ws.wax(['exec-file', 'big.yaml', 'wc -c < {}'], { timeout: 20_000 });
    assert.equal(result.stdout.trim(), String('password: hunter2\nfiller: '.length + 300_000 + 1));
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-file --no-fifo writes a 0600 file in a 0700 directory, removed afterwards',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const result = ws.wax(['exec-file', '--no-fifo', 's.yaml', 'test -f {} && stat -c %a {} && stat -c %a "$(dirname {})" && cat {} && cat {}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `600\n700\n${PLAIN_YAML}${PLAIN_YAML}`);
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-file --filename names the file; a name with a directory is a usage error',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    let result = ws.wax(['exec-file', '--filename', 'kubeconfig.yaml', 's.yaml', 'basename {}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'kubeconfig.yaml\n');
    result = ws.wax(['exec-file', '--filename', '../escape', 's.yaml', 'cat {}']);
    assert.equal(result.code, 64);
    assert.equal(result.stdout, '');
    assertNoSecrets(result.stderr);
    assertTmpEmpty(ws);
  }),
);

test(
  'exec-file --output-type json writes the plaintext as JSON',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const result = ws.wax(['exec-file', '--output-type', 'json', 's.yaml', 'cat {}']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { user: 'admin', password: 'hunter2', port: 5432, debug: true, nested: { token: 's3cr3t-token' } });
  }),
);

test(
  'exec-file without a usable key fails with exit 128 before creating anything',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    mkdirSync(join(ws.dir, 'other'));
    const other = ageKeypair(join(ws.dir, 'other'));
    const result = ws.wax(['exec-file', 's.yaml', 'touch ran'], { env: { SOPS_AGE_KEY_FILE: other.keyFile } });
    assert.equal(result.code, 128);
    assertNoSecrets(result.stderr);
    assert.ok(!existsSync(join(ws.dir, 'ran')));
    assertTmpEmpty(ws);
  }),
);

test(
  'SIGTERM during exec-file reaches the command and the private directory is removed',
  withWorkspace(async (ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    const child = spawn(process.execPath, [waxBundle(), 'exec-file', 's.yaml', 'exec sleep 30'], { cwd: ws.dir, env: testEnvironment(ws.env), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    for (let i = 0; i < 200 && readdirSync(ws.tmp).length === 0; i++) await delay(25);
    assert.equal(readdirSync(ws.tmp).length, 1, 'the private directory never appeared');
    await delay(100);
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assertTmpEmpty(ws);
  }),
);
