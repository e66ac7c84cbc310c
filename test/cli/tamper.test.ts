/**
 * The tamper matrix: each way of changing an encrypted file fails with its exact error
 * class (through the library) and exit code (through the CLI), and no plaintext is
 * printed on the way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openBytes } from '../../src/sops-file.js';
import { DataKeyUnavailableError, ExitCode, MacMismatchError, ValueAuthenticationError, type WaxError } from '../../src/errors.js';
import { ageKeypair, makeTempDir, removeTempDir, runWax, type AgeKeypair } from '../support/cli.js';

const SECRETS = ['hunter2-secret', 'admin-user', 'first-item', 'second-item'];
const PLAIN = `apiVersion: v1
kind: Secret
stringData:
    password: hunter2-secret
    username: admin-user
    hosts:
        - first-item
        - second-item
    note_unencrypted: clear-text
`;

interface Setup {
  dir: string;
  file: string;
  alice: AgeKeypair;
  bob: AgeKeypair;
  encrypted: string;
}

function setup(extraFlags: string[] = []): Setup {
  const dir = makeTempDir('wax-tamper-');
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  const alice = ageKeypair(join(dir, 'a'));
  const bob = ageKeypair(join(dir, 'b'));
  const file = join(dir, 'secret.yaml');
  writeFileSync(file, PLAIN);
  const result = runWax(['encrypt', '-i', '--age', `${alice.recipient},${bob.recipient}`, ...extraFlags, file], { env: isolated() });
  assert.equal(result.code, 0, result.stderr);
  return { dir, file, alice, bob, encrypted: readFileSync(file, 'utf8') };
}

function isolated(extra: Record<string, string> = {}): Record<string, string> {
  return { XDG_CONFIG_HOME: '/nonexistent', ...extra };
}

/** Replaces the line holding `key:` with a function of it. */
function editLine(text: string, key: string, change: (line: string) => string): string {
  const lines = text.split('\n');
  const index = lines.findIndex((line) => line.trimStart().startsWith(`${key}:`));
  assert.ok(index >= 0, `no line for ${key}`);
  lines[index] = change(lines[index]);
  return lines.join('\n');
}

function valueOf(text: string, key: string): string {
  const line = text.split('\n').find((l) => l.trimStart().startsWith(`${key}:`))!;
  return line.slice(line.indexOf(':') + 1).trim();
}

/** Runs both the library and the CLI on the tampered text and checks the outcome. */
async function expectFailure(s: Setup, tampered: string, errorClass: new (...args: never[]) => WaxError, exitCode: number, keyFile = s.alice.keyFile) {
  writeFileSync(s.file, tampered);
  await assert.rejects(
    openBytes(Buffer.from(tampered), { format: 'yaml', ctx: { env: { SOPS_AGE_KEY_FILE: keyFile, XDG_CONFIG_HOME: '/nonexistent' } } }),
    (error: unknown) => {
      assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
      assert.equal((error as WaxError).exitCode, exitCode);
      return true;
    },
  );
  const result = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: keyFile }) });
  assert.equal(result.code, exitCode, result.stderr);
  assert.equal(result.stdout, '', 'nothing is printed on stdout');
  assert.match(result.stderr, /^wax: error: /);
  for (const secret of SECRETS) assert.ok(!result.stderr.includes(secret), `stderr leaks ${secret}`);
  assert.equal(readFileSync(s.file, 'utf8'), tampered, 'decrypt never modifies the file');
}

test('a flipped byte in a value: ValueAuthenticationError, exit 25', async () => {
  const s = setup();
  try {
    const tampered = editLine(s.encrypted, 'password', (line) => line.replace(/data:(.)/, (_, c: string) => `data:${c === 'A' ? 'B' : 'A'}`));
    await expectFailure(s, tampered, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
  } finally {
    removeTempDir(s.dir);
  }
});

test('a value moved to another key: ValueAuthenticationError, exit 25 (the key path is the AAD)', async () => {
  const s = setup();
  try {
    const password = valueOf(s.encrypted, 'password');
    const tampered = editLine(s.encrypted, 'username', (line) => line.replace(/ENC\[.*\]/, password));
    await expectFailure(s, tampered, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
  } finally {
    removeTempDir(s.dir);
  }
});

test('two values swapped between keys: ValueAuthenticationError, exit 25', async () => {
  const s = setup();
  try {
    const password = valueOf(s.encrypted, 'password');
    const username = valueOf(s.encrypted, 'username');
    let tampered = editLine(s.encrypted, 'password', (line) => line.replace(password, username));
    tampered = editLine(tampered, 'username', (line) => line.replace(username, password));
    await expectFailure(s, tampered, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
  } finally {
    removeTempDir(s.dir);
  }
});

test('two list elements swapped (same AAD): MacMismatchError, exit 51', async () => {
  const s = setup();
  try {
    const lines = s.encrypted.split('\n');
    const first = lines.findIndex((l) => l.trimStart().startsWith('- ENC['));
    [lines[first], lines[first + 1]] = [lines[first + 1], lines[first]];
    await expectFailure(s, lines.join('\n'), MacMismatchError, ExitCode.MacMismatch);
  } finally {
    removeTempDir(s.dir);
  }
});

test('a value deleted: MacMismatchError, exit 51', async () => {
  const s = setup();
  try {
    const tampered = s.encrypted
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('username:'))
      .join('\n');
    await expectFailure(s, tampered, MacMismatchError, ExitCode.MacMismatch);
  } finally {
    removeTempDir(s.dir);
  }
});

test('a cleartext value changed: MacMismatchError, exit 51', async () => {
  const s = setup();
  try {
    const tampered = editLine(s.encrypted, 'note_unencrypted', (line) => line.replace('clear-text', 'changed-text'));
    await expectFailure(s, tampered, MacMismatchError, ExitCode.MacMismatch);
  } finally {
    removeTempDir(s.dir);
  }
});

test('a cleartext value changed under mac_only_encrypted: allowed', async () => {
  const s = setup(['--mac-only-encrypted']);
  try {
    const tampered = editLine(s.encrypted, 'note_unencrypted', (line) => line.replace('clear-text', 'changed-text'));
    writeFileSync(s.file, tampered);
    const result = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: s.alice.keyFile }) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /note_unencrypted: changed-text/);
    assert.match(result.stdout, /password: hunter2-secret/);
  } finally {
    removeTempDir(s.dir);
  }
});

test('lastmodified changed: MacMismatchError, exit 51', async () => {
  const s = setup();
  try {
    const tampered = s.encrypted.replace(/lastmodified: "(\d{4})/, (_, year: string) => `lastmodified: "${Number(year) - 1}`);
    assert.notEqual(tampered, s.encrypted);
    await expectFailure(s, tampered, MacMismatchError, ExitCode.MacMismatch);
  } finally {
    removeTempDir(s.dir);
  }
});

test('mac removed: MacMismatchError, exit 51; --ignore-mac still decrypts', async () => {
  const s = setup();
  try {
    const tampered = s.encrypted
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('mac:'))
      .join('\n');
    await expectFailure(s, tampered, MacMismatchError, ExitCode.MacMismatch);
    const ignored = runWax(['decrypt', '--ignore-mac', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: s.alice.keyFile }) });
    assert.equal(ignored.code, 0, ignored.stderr);
    assert.match(ignored.stdout, /password: hunter2-secret/);
  } finally {
    removeTempDir(s.dir);
  }
});

test('the wrong key: DataKeyUnavailableError, exit 128, every attempt listed', async () => {
  const s = setup();
  try {
    mkdirSync(join(s.dir, 'c'));
    const stranger = ageKeypair(join(s.dir, 'c'));
    await expectFailure(s, s.encrypted, DataKeyUnavailableError, ExitCode.CouldNotRetrieveKey, stranger.keyFile);
    const result = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: stranger.keyFile }) });
    assert.match(result.stderr, new RegExp(`group 0: age ${s.alice.recipient}: no matching identity`));
    assert.match(result.stderr, new RegExp(`group 0: age ${s.bob.recipient}: no matching identity`));
    assert.match(result.stderr, /^wax: hint: /m);
  } finally {
    removeTempDir(s.dir);
  }
});

test("one recipient's enc corrupted: the other recipient still decrypts; the corrupted one alone fails with the reason", async () => {
  const s = setup();
  try {
    // Corrupt the body of Alice's age file (the first entry) but keep its armor valid.
    const lines = s.encrypted.split('\n');
    const bodyLine = lines.findIndex((l) => l.includes('BEGIN AGE ENCRYPTED FILE')) + 3;
    lines[bodyLine] = lines[bodyLine].replace(/[A-Za-z0-9]{8}(?=[A-Za-z0-9+/]*$)/, 'AAAAAAAA');
    const tampered = lines.join('\n');
    assert.notEqual(tampered, s.encrypted);
    writeFileSync(s.file, tampered);
    const withBoth = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY: `${readKey(s.alice)} ${readKey(s.bob)}` }) });
    assert.equal(withBoth.code, 0, withBoth.stderr);
    assert.match(withBoth.stdout, /password: hunter2-secret/);
    const bobOnly = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: s.bob.keyFile }) });
    assert.equal(bobOnly.code, 0, bobOnly.stderr);
    await expectFailure(s, tampered, DataKeyUnavailableError, ExitCode.CouldNotRetrieveKey, s.alice.keyFile);
    const aliceOnly = runWax(['decrypt', s.file], { env: isolated({ SOPS_AGE_KEY_FILE: s.alice.keyFile }) });
    assert.match(aliceOnly.stderr, new RegExp(`group 0: age ${s.alice.recipient}: .*(corrupted|failed)`));
  } finally {
    removeTempDir(s.dir);
  }
});

function readKey(pair: AgeKeypair): string {
  return readFileSync(pair.keyFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
}
