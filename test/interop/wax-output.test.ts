/**
 * Files that wax writes are read by independent peers: the `age` CLI unwraps the data
 * key, an independent implementation of the spec (test/support/independent-sops.ts, no
 * production code) verifies every value and the MAC, and the third-party `sops-age`
 * library decrypts them. wax itself returns the original document, comments and order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptSops } from 'sops-age';
import { decryptBytes, encryptBytes, openBytes } from '../../src/sops-file.js';
import { ageProvider } from '../../src/providers/age.js';
import { toPlain } from '../../src/document/tree.js';
import type { Format } from '../../src/document/stores/types.js';
import { type Format as IndependentFormat, ageCliAvailable, independentAgeEntries, independentDecrypt, toJsonish, unwrapAgeWithCli } from '../support/independent-sops.js';

const noAge = ageCliAvailable() ? false : 'age CLI not installed: apt-get install age';

function keypair() {
  const dir = mkdtempSync(join(tmpdir(), 'wax-interop-'));
  const keyFile = join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  const identity = execFileSync('grep', ['^AGE-SECRET-KEY', keyFile], { encoding: 'utf8' }).trim();
  const recipient = execFileSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).trim();
  return { dir, keyFile, identity, recipient, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const YAML_INPUT = `# Database credentials
apiVersion: v1
kind: Secret
metadata:
  name: db # the name
  namespace: payments
stringData:
  # rotated quarterly
  password: correct-horse
  port: 5432
  ratio: 0.25
  enabled: true
  when: 2024-01-02T03:04:05Z
  empty: ""
  none: null
  hosts:
    - a.example
    - b.example
  token_unencrypted: visible
`;

const JSON_INPUT = `{
\t"db": {
\t\t"user": "app",
\t\t"password": "s3cret",
\t\t"port": 5432,
\t\t"ratio": 1.5,
\t\t"tags": [\n\t\t\t"x",\n\t\t\t"y"\n\t\t],
\t\t"on": false
\t}
}
`;

const DOTENV_INPUT = 'DATABASE_URL=postgres://app:pw@db/app\nAPI_TOKEN=tok_123\n# a comment\nEMPTY=\n';

const CASES: { name: string; format: Format & IndependentFormat; input: string }[] = [
  { name: 'yaml', format: 'yaml', input: YAML_INPUT },
  { name: 'json', format: 'json', input: JSON_INPUT },
  { name: 'dotenv', format: 'dotenv', input: DOTENV_INPUT },
];

async function encryptFor(format: Format & IndependentFormat, input: string, recipient: string, macOnlyEncrypted = false): Promise<string> {
  const out = await encryptBytes(Buffer.from(input), { format, keyGroups: [[ageProvider.parseRecipient(recipient, { env: {} })]], macOnlyEncrypted });
  return out.toString('utf8');
}

for (const c of CASES) {
  test(`${c.name}: the age CLI unwraps enc to a 32-byte key and an independent implementation verifies values and MAC`, { skip: noAge }, async () => {
    const keys = keypair();
    try {
      const encrypted = await encryptFor(c.format, c.input, keys.recipient);
      const [entry] = independentAgeEntries(encrypted, c.format);
      const dataKey = unwrapAgeWithCli(entry.enc, keys.keyFile);
      assert.equal(dataKey.length, 32);
      const result = independentDecrypt(encrypted, c.format, dataKey);
      assert.equal(result.macOk, true, 'MAC verifies independently');
      const ours = await openBytes(Buffer.from(encrypted), { format: c.format, ctx: { env: { SOPS_AGE_KEY: keys.identity } } });
      assert.deepEqual(toJsonish(result.docs), ours.documents.map(toPlain));
    } finally {
      keys.cleanup();
    }
  });

  test(`${c.name}: wax decrypt returns the original document byte for byte`, { skip: noAge }, async () => {
    const keys = keypair();
    try {
      const encrypted = await encryptFor(c.format, c.input, keys.recipient);
      const env = { SOPS_AGE_KEY: keys.identity };
      const plain = await decryptBytes(Buffer.from(encrypted), { format: c.format, ctx: { env } });
      // JSON and dotenv come back byte for byte; YAML is re-indented to sops' 4 spaces.
      const expected = c.format === 'yaml' ? YAML_INPUT.replace(/^( +)/gm, (m) => ' '.repeat(m.length * 2)) : c.input;
      assert.equal(plain.toString(), expected);
    } finally {
      keys.cleanup();
    }
  });
}

test('sops-age, a third-party decryptor, reads what wax writes', { skip: noAge }, async () => {
  const keys = keypair();
  try {
    for (const [fileType, format, input] of [
      ['yaml', 'yaml', YAML_INPUT],
      ['json', 'json', JSON_INPUT],
    ] as const) {
      // sops-age 4.0.2 does not know `type:time` (sops 3.10+), so its input has no timestamp.
      const encrypted = await encryptFor(format, input.replace(/^ {2}when: .*\n/m, ''), keys.recipient);
      const theirs = await decryptSops(encrypted, { fileType, secretKey: keys.identity });
      const ours = await openBytes(Buffer.from(encrypted), { format, ctx: { env: { SOPS_AGE_KEY: keys.identity } } });
      const expected = toPlain(ours.documents[0]) as Record<string, unknown>;
      // sops-age reads YAML timestamps as strings and drops nothing else.
      assert.deepEqual(JSON.parse(JSON.stringify(theirs)), JSON.parse(JSON.stringify(expected)));
    }
  } finally {
    keys.cleanup();
  }
});

test('mac_only_encrypted files verify independently', { skip: noAge }, async () => {
  const keys = keypair();
  try {
    const encrypted = await encryptFor('yaml', YAML_INPUT, keys.recipient, true);
    assert.match(encrypted, /mac_only_encrypted: true/);
    const [entry] = independentAgeEntries(encrypted, 'yaml');
    const result = independentDecrypt(encrypted, 'yaml', unwrapAgeWithCli(entry.enc, keys.keyFile));
    assert.equal(result.macOk, true);
  } finally {
    keys.cleanup();
  }
});

test('the written metadata has the sops 3.13 layout: sorted keys, one age file per recipient', { skip: noAge }, async () => {
  const keys = keypair();
  const other = keypair();
  try {
    const out = await encryptBytes(Buffer.from('a: b\n'), {
      format: 'yaml',
      keyGroups: [[ageProvider.parseRecipient(keys.recipient, { env: {} }), ageProvider.parseRecipient(other.recipient, { env: {} })]],
    });
    const text = out.toString();
    const sops = text.slice(text.indexOf('sops:'));
    assert.match(sops, /^sops:\n {4}age:\n {8}- enc: \|\n {12}-----BEGIN AGE ENCRYPTED FILE-----\n/, "the layout sops 3.13 writes");
    assert.equal((sops.match(/BEGIN AGE ENCRYPTED FILE/g) ?? []).length, 2);
    const keysInOrder = [...sops.matchAll(/^ {4}([a-z_]+):/gm)].map((m) => m[1]);
    assert.deepEqual(keysInOrder, ['age', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);
    assert.match(sops, /lastmodified: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/);
    writeFileSync(join(keys.dir, 'unused'), '');
  } finally {
    keys.cleanup();
    other.cleanup();
  }
});
