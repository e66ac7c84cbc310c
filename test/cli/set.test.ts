import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ageKeypair, assertNoneOf, decrypt, encrypted, withWorkspace } from '../support/cli.js';

const PLAIN_YAML = `# database settings
user: admin
password: hunter2
port: 5432
nested:
    token: s3cr3t-token
    list:
        - first-item
        - second-item
`;
const SECRETS = ['hunter2', 's3cr3t-token', 'first-item', 'second-item', 'correcthorse'];

/** A line diff (LCS), as `git diff` would show it: lines only in `a`, lines only in `b`. */
function lineDiff(a: string, b: string): { removed: string[]; added: string[] } {
  const x = a.split('\n');
  const y = b.split('\n');
  const lcs = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const removed: string[] = [];
  const added: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) (i++, j++);
    else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) added.push(y[j++]);
    else removed.push(x[i++]);
  }
  return { removed, added };
}

/** lastmodified has one-second resolution; waiting for the next second makes its change visible. */
async function nextSecond(): Promise<void> {
  await delay(1000 - (Date.now() % 1000) + 5);
}

const assertNoSecrets = (text: string) => assertNoneOf(text, SECRETS);

test(
  'set changes one value: the diff is that line plus sops.lastmodified and sops.mac',
  withWorkspace(async (ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path, 'utf8');
    await nextSecond();
    const result = ws.wax(['set', 's.yaml', '["password"]', '"correcthorse"']);
    assert.equal(result.code, 0, result.stderr);
    assertNoSecrets(result.stderr + result.stdout);
    const diff = lineDiff(before, readFileSync(path, 'utf8'));
    assert.deepEqual(diff.removed.map((l) => l.trim().split(':')[0]), ['password', 'lastmodified', 'mac']);
    assert.deepEqual(diff.added.map((l) => l.trim().split(':')[0]), ['password', 'lastmodified', 'mac']);
    assert.match(decrypt(ws, 's.yaml'), /^password: correcthorse$/m);
    assert.match(decrypt(ws, 's.yaml'), /^    token: s3cr3t-token$/m);
  }),
);

test(
  'set in a JSON file keeps every other ENC[...] string',
  withWorkspace(async (ws) => {
    const path = encrypted(ws, 's.json', '{"user": "admin", "password": "hunter2", "port": 5432}\n');
    const before = readFileSync(path, 'utf8');
    await nextSecond();
    assert.equal(ws.wax(['set', 's.json', '["port"]', '6543']).code, 0);
    const diff = lineDiff(before, readFileSync(path, 'utf8'));
    assert.deepEqual(diff.added.map((l) => l.trim().split(':')[0]), ['"port"', '"lastmodified"', '"mac"']);
    assert.equal(diff.removed.length, 3);
    assert.deepEqual(JSON.parse(decrypt(ws, 's.json')), { user: 'admin', password: 'hunter2', port: 6543 });
  }),
);

test(
  'set takes JSON: ints stay ints (also beyond 2^53), floats stay floats, objects and lists become trees',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    for (const [key, value] of [
      ['int', '42'],
      ['big', '9223372036854775807'],
      ['float', '1.5'],
      ['flag', 'true'],
      ['object', '{"a": 1, "b": ["x", null]}'],
    ]) {
      const result = ws.wax(['set', 's.yaml', `["${key}"]`, value]);
      assert.equal(result.code, 0, result.stderr);
    }
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^int: ENC\[AES256_GCM,data:[^\]]*type:int\]$/m);
    assert.match(text, /^big: ENC\[AES256_GCM,data:[^\]]*type:int\]$/m);
    assert.match(text, /^float: ENC\[AES256_GCM,data:[^\]]*type:float\]$/m);
    assert.match(text, /^flag: ENC\[AES256_GCM,data:[^\]]*type:bool\]$/m);
    const plain = decrypt(ws, 's.yaml');
    assert.match(plain, /^int: 42$/m);
    assert.match(plain, /^big: 9223372036854775807$/m);
    assert.match(plain, /^float: 1\.5$/m);
    assert.match(plain, /^object:\n {4}a: 1\n {4}b:\n {8}- x\n {8}- null$/m);
  }),
);

test(
  'set creates missing mappings on the way, and appends to a list at its length',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    assert.equal(ws.wax(['set', 's.yaml', '["new"]["deeper"]["key"]', '"v1"']).code, 0);
    assert.equal(ws.wax(['set', 's.yaml', '["nested"]["list"][2]', '"third-item"']).code, 0);
    const plain = decrypt(ws, 's.yaml');
    assert.match(plain, /^new:\n {4}deeper:\n {8}key: v1$/m);
    assert.match(plain, /^ {8}- second-item\n {8}- third-item$/m);
  }),
);

test(
  'invalid JSON is refused with exit 7, without echoing the value, and the file is untouched',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    const result = ws.wax(['set', 's.yaml', '["password"]', 'correcthorse']);
    assert.equal(result.code, 7);
    assert.match(result.stderr, /not valid JSON/);
    assertNoSecrets(result.stderr + result.stdout);
    assert.equal(ws.wax(['set', 's.yaml', '["password"]', '{"k": "correcthorse", "k": 2}']).code, 7, 'duplicate keys');
    assert.equal(ws.wax(['set', 's.yaml', '["password"]', '"correcthorse", "x": 1']).code, 7, 'trailing content');
    assert.deepEqual(readFileSync(path), before);
  }),
);

test(
  '--idempotent does not rewrite a file that already holds the value; without it the file is always rewritten',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const inode = statSync(path).ino;
    const before = readFileSync(path);
    assert.equal(ws.wax(['set', '--idempotent', 's.yaml', '["port"]', '5432']).code, 0);
    assert.equal(statSync(path).ino, inode, 'the file was replaced');
    assert.deepEqual(readFileSync(path), before);
    // sops semantics: a plain set always writes (new lastmodified and MAC).
    assert.equal(ws.wax(['set', 's.yaml', '["port"]', '5432']).code, 0);
    assert.notEqual(statSync(path).ino, inode, 'the file was not rewritten');
    // --idempotent with a different value writes.
    assert.equal(ws.wax(['set', '--idempotent', 's.yaml', '["port"]', '5433']).code, 0);
    assert.match(decrypt(ws, 's.yaml'), /^port: 5433$/m);
  }),
);

test(
  '--value-stdin and --value-file read the JSON value from elsewhere',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    let result = ws.wax(['set', '--value-stdin', 's.yaml', '["password"]'], { input: '"correcthorse"\n' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(decrypt(ws, 's.yaml'), /^password: correcthorse$/m);
    writeFileSync(join(ws.dir, 'value.json'), '{"k": "from-file"}');
    result = ws.wax(['set', '--value-file', 's.yaml', '["nested"]["token"]', 'value.json']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(decrypt(ws, 's.yaml'), /^ {4}token:\n {8}k: from-file$/m);
  }),
);

test(
  'conflicting or missing value arguments fail with usage exit codes',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    assert.equal(ws.wax(['set', '--value-stdin', 's.yaml', '["password"]', '"x"'], { input: '"y"' }).code, 64);
    assert.equal(ws.wax(['set', '--value-stdin', '--value-file', 's.yaml', '["password"]'], { input: '"y"' }).code, 8);
    assert.equal(ws.wax(['set', 's.yaml', '["password"]']).code, 64);
    assert.equal(ws.wax(['set', '--value-file', 's.yaml', '["password"]', 'missing.json']).code, 100);
    assert.deepEqual(readFileSync(path), before);
  }),
);

test(
  'set refuses the reserved top-level key "sops" and malformed paths with exit 91',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    assert.equal(ws.wax(['set', 's.yaml', '["sops"]["mac"]', '"x"']).code, 91);
    assert.equal(ws.wax(['set', 's.yaml', 'password', '"x"']).code, 91);
    assert.equal(ws.wax(['set', 's.yaml', '["user"]["below"]', '"x"']).code, 91);
    assert.deepEqual(readFileSync(path), before);
  }),
);

test(
  'unset removes a key: the diff is that line plus sops.lastmodified and sops.mac',
  withWorkspace(async (ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path, 'utf8');
    await nextSecond();
    const result = ws.wax(['unset', 's.yaml', '["password"]']);
    assert.equal(result.code, 0, result.stderr);
    const diff = lineDiff(before, readFileSync(path, 'utf8'));
    assert.deepEqual(diff.removed.map((l) => l.trim().split(':')[0]), ['password', 'lastmodified', 'mac']);
    assert.deepEqual(diff.added.map((l) => l.trim().split(':')[0]), ['lastmodified', 'mac']);
    assert.doesNotMatch(decrypt(ws, 's.yaml'), /password/);
  }),
);

test(
  'unset removes a list element',
  withWorkspace((ws) => {
    encrypted(ws, 's.yaml', PLAIN_YAML);
    assert.equal(ws.wax(['unset', 's.yaml', '["nested"]["list"][0]']).code, 0);
    const plain = decrypt(ws, 's.yaml');
    assert.doesNotMatch(plain, /first-item/);
    assert.match(plain, /^ {8}- second-item$/m);
  }),
);

test(
  'unset of a missing key fails with exit 91, or succeeds without writing under --idempotent',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const inode = statSync(path).ino;
    const before = readFileSync(path);
    const result = ws.wax(['unset', 's.yaml', '["absent"]']);
    assert.equal(result.code, 91);
    assert.match(result.stderr, /\["absent"\] not found/);
    assertNoSecrets(result.stderr);
    assert.equal(ws.wax(['unset', '--idempotent', 's.yaml', '["absent"]']).code, 0);
    assert.equal(ws.wax(['unset', '--idempotent', 's.yaml', '["nested"]["list"][9]']).code, 0);
    assert.equal(statSync(path).ino, inode);
    assert.deepEqual(readFileSync(path), before);
  }),
);

test(
  'a file whose MAC does not verify is refused with exit 51 unless --ignore-mac',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    // Dropping an encrypted value leaves every remaining value authentic, so only the MAC notices.
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^port: .*\n/m, ''));
    const tampered = readFileSync(path);
    const result = ws.wax(['set', 's.yaml', '["password"]', '"correcthorse"']);
    assert.equal(result.code, 51);
    assertNoSecrets(result.stderr);
    assert.deepEqual(readFileSync(path), tampered);
    assert.equal(ws.wax(['set', '--ignore-mac', 's.yaml', '["password"]', '"correcthorse"']).code, 0);
    assert.equal(ws.wax(['decrypt', 's.yaml']).code, 0, 'the rewritten file carries a valid MAC');
  }),
);

test(
  'set without a usable key fails with exit 128 and no secret in the message',
  withWorkspace((ws) => {
    const path = encrypted(ws, 's.yaml', PLAIN_YAML);
    const before = readFileSync(path);
    mkdirSync(join(ws.dir, 'other'));
    const other = ageKeypair(join(ws.dir, 'other'));
    const result = ws.wax(['set', 's.yaml', '["password"]', '"correcthorse"'], { env: { SOPS_AGE_KEY_FILE: other.keyFile } });
    assert.equal(result.code, 128);
    assertNoSecrets(result.stderr);
    assert.ok(!result.stderr.includes('AGE-SECRET-KEY'), 'key material in stderr');
    assert.deepEqual(readFileSync(path), before);
  }),
);

test(
  'set on a file that is not encrypted fails with exit 204',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, 'plain.yaml'), PLAIN_YAML);
    const result = ws.wax(['set', 'plain.yaml', '["password"]', '"correcthorse"']);
    assert.equal(result.code, 204);
    assertNoSecrets(result.stderr);
    assert.equal(readFileSync(join(ws.dir, 'plain.yaml'), 'utf8'), PLAIN_YAML);
  }),
);
