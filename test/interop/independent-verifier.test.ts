/**
 * Validates the independent verifier (test/support/independent-sops.ts) against real
 * files written by upstream sops 3.3.1 … 3.13.2 (../shared/fixtures/manifest.json),
 * before other tests trust it to judge wax's output. Data keys are unwrapped by the real
 * `age` CLI (and `gpg` for the OpenPGP fixtures), not by wax.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ageCliAvailable,
  gpgCliAvailable,
  independentAgeEntries,
  goFormatFloat,
  GoTime,
  independentDecrypt,
  independentPgpEntries,
  toJsonish,
  unwrapAgeWithCli,
  unwrapPgpWithCli,
  type Format,
} from '../support/independent-sops.js';
import { fixturesDir } from '../support/paths.js';

interface Case {
  path: string;
  key_path: string;
  format: string;
  key_type: string;
  expect: string;
  note: string;
  expected_plaintext?: unknown[];
  expected_error?: string;
}

const FIXTURES = fixturesDir();
const MANIFEST = path.join(FIXTURES, 'manifest.json');
const FORMATS = new Set<string>(['yaml', 'json', 'dotenv']);
const AGE_MISSING = 'age CLI not installed: apt-get install age';
const GPG_MISSING = 'gpg CLI not installed: apt-get install gnupg';
const PQ_UNSUPPORTED =
  'age1pq (ML-KEM-768+X25519) recipient: the Debian age 1.1.1 CLI cannot unwrap hybrid stanzas (needs age >= 1.3)';

const hasAge = ageCliAvailable();
const hasGpg = gpgCliAvailable();
const cases: Case[] = existsSync(MANIFEST) ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { cases: Case[] }).cases : [];

/** Public keys of an age identity file, via `age-keygen -y` (empty if unavailable). */
function recipientsOf(identityFile: string): string[] {
  const r = spawnSync('age-keygen', ['-y', identityFile]);
  if (r.status !== 0) return [];
  return r.stdout.toString().split('\n').map((l) => l.trim()).filter(Boolean);
}

/**
 * The data key, from the first age entry the key file can open. Entries whose recipient
 * is one of the key file's public keys are tried first, then the rest.
 */
function ageDataKey(text: string, format: Format, keyFile: string): Buffer {
  const entries = independentAgeEntries(text, format);
  assert.ok(entries.length > 0, 'file has no age entries');
  const mine = new Set(recipientsOf(keyFile));
  const ordered = [...entries.filter((e) => mine.has(e.recipient)), ...entries.filter((e) => !mine.has(e.recipient))];
  const errors: string[] = [];
  for (const entry of ordered) {
    try {
      const key = unwrapAgeWithCli(entry.enc, keyFile);
      if (mine.size > 0) assert.ok(mine.has(entry.recipient), `entry for ${entry.recipient} opened with a key file that does not list it`);
      return key;
    } catch (err) {
      errors.push(`${entry.recipient}: ${(err as Error).message}`);
    }
  }
  assert.fail(`no age entry could be unwrapped:\n${errors.join('\n')}`);
}

function pgpDataKey(text: string, format: Format, keyFile: string): Buffer {
  const entries = independentPgpEntries(text, format);
  assert.ok(entries.length > 0, 'file has no pgp entries');
  const errors: string[] = [];
  for (const entry of entries) {
    try {
      return unwrapPgpWithCli(entry.enc, keyFile);
    } catch (err) {
      errors.push(`${entry.fp}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  assert.fail(`no pgp entry could be unwrapped:\n${errors.join('\n')}`);
}

/** A metadata parse error is left for the test itself to report, not thrown at load. */
function onlyPqRecipients(text: string, format: Format): boolean {
  try {
    const entries = independentAgeEntries(text, format);
    return entries.length > 0 && entries.every((e) => e.recipient.startsWith('age1pq1'));
  } catch {
    return false;
  }
}

test('fixtures manifest is present', { skip: existsSync(MANIFEST) ? false : `no manifest at ${MANIFEST}` }, () => {
  assert.ok(cases.length >= 50);
});

for (const c of cases) {
  if (!FORMATS.has(c.format) || (c.key_type !== 'age' && c.key_type !== 'pgp')) continue;
  const format = c.format as Format;
  const file = path.join(FIXTURES, c.path);
  const keyFile = path.join(FIXTURES, c.key_path);
  const text = readFileSync(file, 'utf8');
  const negative = c.expect === 'fail';
  assert.ok(negative || c.expect.startsWith('success'), `unknown expect ${c.expect} for ${c.path}`);

  let skip: string | false = false;
  if (c.key_type === 'age') {
    if (!hasAge) skip = AGE_MISSING;
    else if (onlyPqRecipients(text, format)) skip = PQ_UNSUPPORTED;
  } else if (!hasGpg) skip = GPG_MISSING;

  const title = `${negative ? 'rejects' : 'decrypts and verifies'} ${c.path} (${format}, ${c.key_type})`;
  test(title, { skip }, () => {
    const dataKey = c.key_type === 'age' ? ageDataKey(text, format, keyFile) : pgpDataKey(text, format, keyFile);
    // The key itself must open: a negative case has to fail on the file's integrity,
    // not because the key was missing.
    assert.equal(dataKey.length, 32, 'data key is not 32 bytes');

    if (!negative) {
      const result = independentDecrypt(text, format, dataKey);
      assert.equal(result.macOk, true, `MAC mismatch: file ${result.fileMac.slice(0, 16)}…, computed ${result.computedMac.slice(0, 16)}…`);
      assert.deepEqual(toJsonish(result.docs), c.expected_plaintext);
      for (const comment of result.comments) {
        assert.ok(!comment.text.trim().startsWith('ENC['), `encrypted comment did not authenticate under any enclosing path`);
      }
      return;
    }

    let result: ReturnType<typeof independentDecrypt> | undefined;
    let error: unknown;
    try {
      result = independentDecrypt(text, format, dataKey);
    } catch (err) {
      error = err;
    }
    assert.ok(error !== undefined || result?.macOk === false, `must-fail fixture passed (${c.expected_error ?? c.note})`);
    if (result) {
      // Only the MAC failed: the values themselves decrypt (sops --ignore-mac would print them).
      if (c.expected_plaintext) assert.deepEqual(toJsonish(result.docs), c.expected_plaintext);
    } else {
      assert.match((error as Error).message, /authentication failed/);
    }
  });
}

// The verifier must not be vacuous: edits it should notice, and edits it must tolerate.
const FLUX_AGE = 'fluxcd-kustomize-controller/internal/controller/testdata/sops/algorithms/age.yaml';
const FLUX_KEY = 'fluxcd-kustomize-controller/internal/controller/testdata/sops/keys/age.txt';
const MAC_ONLY = 'isindir-sops-secrets-operator/config/age-test-key/04-test-secrets-mac-only.yaml';
const MAC_ONLY_KEY = 'isindir-sops-secrets-operator/config/age-test-key/key-file.txt';

function fixture(rel: string): string {
  return readFileSync(path.join(FIXTURES, rel), 'utf8');
}

const tamperSkip = !hasAge ? AGE_MISSING : !existsSync(path.join(FIXTURES, FLUX_AGE)) ? 'fixtures not found' : false;

test('tamper: changing a clear value breaks the MAC (mac_only_encrypted off)', { skip: tamperSkip }, () => {
  const text = fixture(FLUX_AGE);
  const key = ageDataKey(text, 'yaml', path.join(FIXTURES, FLUX_KEY));
  assert.equal(independentDecrypt(text, 'yaml', key).macOk, true);
  const edited = text.replace('  name: age\n', '  name: agf\n');
  assert.notEqual(edited, text);
  assert.equal(independentDecrypt(edited, 'yaml', key).macOk, false);
});

test('tamper: changing a clear value keeps the MAC with mac_only_encrypted', { skip: tamperSkip }, () => {
  const text = fixture(MAC_ONLY);
  const key = ageDataKey(text, 'yaml', path.join(FIXTURES, MAC_ONLY_KEY));
  const edited = text.replace('name: test-sopssecret-04', 'name: renamed-by-the-api-server');
  assert.notEqual(edited, text);
  assert.equal(independentDecrypt(edited, 'yaml', key).macOk, true);
});

test('tamper: a ciphertext moved to another key fails authentication (AAD = key path)', { skip: tamperSkip }, () => {
  const text = fixture(FLUX_AGE);
  const key = ageDataKey(text, 'yaml', path.join(FIXTURES, FLUX_KEY));
  const moved = text.replace('stringData:\n  key: ENC[', 'stringData:\n  other: ENC[');
  assert.notEqual(moved, text);
  assert.throws(() => independentDecrypt(moved, 'yaml', key), /stringData\.other: AES-GCM authentication failed/);
});

test('tamper: a wrong data key fails authentication', { skip: tamperSkip }, () => {
  assert.throws(() => independentDecrypt(fixture(FLUX_AGE), 'yaml', Buffer.alloc(32, 7)), /authentication failed/);
});

test('tamper: a changed lastmodified makes the stored MAC undecryptable', { skip: tamperSkip }, () => {
  const text = fixture(FLUX_AGE);
  const key = ageDataKey(text, 'yaml', path.join(FIXTURES, FLUX_KEY));
  const edited = text.replace(/lastmodified: "(\d{4})/, (_, y: string) => `lastmodified: "${Number(y) + 1}`);
  assert.notEqual(edited, text);
  assert.throws(() => independentDecrypt(edited, 'yaml', key), /sops\.mac: AES-GCM authentication failed/);
});

// Go semantics the fixtures do not exercise, checked against values stated in
// sops-format.md (§3.4, §5.1). The file is assembled here with node:crypto only.

test('goFormatFloat is strconv.FormatFloat(v, \'f\', -1, 64)', () => {
  const cases: [number, string][] = [
    [3.14, '3.14'],
    [1234568000, '1234568000'],
    [30, '30'],
    [1.0, '1'],
    [1e21, '1000000000000000000000'],
    [1.5e300, '15' + '0'.repeat(299)],
    [1e-7, '0.0000001'],
    [-2.5e-5, '-0.000025'],
    [0.1 + 0.2, '0.30000000000000004'],
    [-0, '-0'],
    [0, '0'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
  ];
  for (const [v, expected] of cases) assert.equal(goFormatFloat(v), expected, String(v));
});

function encValue(key: Buffer, plaintext: string, aad: string, type: string): string {
  const iv = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const b64 = (b: Buffer) => b.toString('base64');
  return `ENC[AES256_GCM,data:${b64(data)},iv:${b64(iv)},tag:${b64(cipher.getAuthTag())},type:${type}]`;
}

function sopsYaml(key: Buffer, body: string, macInput: string, extraMeta = ''): string {
  const lastmodified = '2026-01-02T03:04:05Z';
  const mac = createHash('sha512').update(macInput, 'utf8').digest('hex').toUpperCase();
  return `${body}sops:\n    age: []\n    lastmodified: "${lastmodified}"\n    mac: ${encValue(key, mac, lastmodified, 'str')}\n${extraMeta}    version: 3.13.2\n`;
}

test('clear YAML scalars enter the MAC by their Go serialisation', () => {
  const key = randomBytes(32);
  // encrypted_regex that matches nothing: every value stays in clear and is hashed.
  const body = [
    'a: true', // bool → True
    'b: 0x10', // int → 16
    'c: 1.0', // float → 1
    'd: 2024-01-01', // time → RFC 3339 nano
    'e: "0x10"', // quoted → string as written
    'f: ~', // null → skipped
    'g: 1_000', // go-yaml strips underscores → int 1000
    'h: yes', // YAML 1.1 bool is a string in go-yaml v3
    'i: ""', // empty string → zero bytes
    'j: [x, {k: 2006-01-02T15:04:05.120+07:06}]',
    '',
  ].join('\n');
  const macInput = 'True' + '16' + '1' + '2024-01-01T00:00:00Z' + '0x10' + '1000' + 'yes' + '' + 'x' + '2006-01-02T15:04:05.12+07:06';
  const file = sopsYaml(key, body, macInput, '    encrypted_regex: ^nothing$\n');
  const r = independentDecrypt(file, 'yaml', key);
  assert.equal(r.macOk, true, `computed MAC over a different byte string`);
  const doc = r.docs[0] as Record<string, unknown>;
  assert.equal(doc['b'], 16n);
  assert.equal(doc['c'], 1);
  assert.ok(doc['d'] instanceof GoTime);
});

test('decrypted values are re-serialised before hashing (sops parses, then ToBytes)', () => {
  const key = randomBytes(32);
  const body = [
    `a: ${encValue(key, 'true', 'a:', 'bool')}`,
    `b: ${encValue(key, '007', 'b:', 'int')}`,
    `c: ${encValue(key, '2.50', 'c:', 'float')}`,
    `d: ${encValue(key, '2024-01-02T03:04:05.000Z', 'd:', 'time')}`,
    `e: ${encValue(key, 'plain', 'e:', 'str')}`,
    `f:\n    - ${encValue(key, 'x', 'f:', 'str')}`,
    '',
  ].join('\n');
  const macInput = 'True' + '7' + '2.5' + '2024-01-02T03:04:05Z' + 'plain' + 'x';
  const r = independentDecrypt(sopsYaml(key, body, macInput), 'yaml', key);
  assert.equal(r.macOk, true);
  assert.deepEqual(toJsonish(r.docs), [{ a: true, b: 7, c: 2.5, d: '2024-01-02T03:04:05Z', e: 'plain', f: ['x'] }]);
});

test('mac_only_encrypted seeds the hash with sha256("sops") and skips clear values', () => {
  const key = randomBytes(32);
  const body = `clear: 42\nsecret: ${encValue(key, 's3cret', 'secret:', 'str')}\n`;
  const seed = createHash('sha256').update('sops').digest();
  assert.equal(seed.toString('hex'), '8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69');
  const lastmodified = '2026-01-02T03:04:05Z';
  const mac = createHash('sha512').update(seed).update('s3cret').digest('hex').toUpperCase();
  const file = `${body}sops:\n    encrypted_regex: ^secret$\n    lastmodified: "${lastmodified}"\n    mac: ${encValue(key, mac, lastmodified, 'str')}\n    mac_only_encrypted: true\n`;
  assert.equal(independentDecrypt(file, 'yaml', key).macOk, true);
  assert.equal(independentDecrypt(file.replace('clear: 42', 'clear: 43'), 'yaml', key).macOk, true);
});

test('a value that should be encrypted but is in clear is refused', () => {
  const key = randomBytes(32);
  const file = sopsYaml(key, 'password: hunter2\n', 'hunter2');
  assert.throws(() => independentDecrypt(file, 'yaml', key), /does not match sops' data format/);
});

test('JSON keeps key order, including integer-like keys (JSON.parse would not)', () => {
  const key = randomBytes(32);
  const body = `{\n\t"b": ${JSON.stringify(encValue(key, 'B', 'b:', 'str'))},\n\t"1": ${JSON.stringify(encValue(key, 'one', '1:', 'str'))},\n\t"n": 7,\n\t"x": 1.5e3`;
  const lastmodified = '2026-01-02T03:04:05Z';
  const mac = createHash('sha512').update('B' + 'one' + '7' + '1500').digest('hex').toUpperCase();
  const file = `${body},\n\t"sops": {"lastmodified": "${lastmodified}", "mac": ${JSON.stringify(encValue(key, mac, lastmodified, 'str'))}, "unencrypted_regex": "^(n|x)$"}\n}\n`;
  const r = independentDecrypt(file, 'json', key);
  assert.equal(r.macOk, true);
  assert.deepEqual(toJsonish(r.docs), [{ b: 'B', 1: 'one', n: 7, x: 1500 }]);
});
