/**
 * The decrypted-twin detector: a plaintext copy beside an encrypted file is flagged both
 * ways round (`secret.dec.yaml` beside `secret.yaml`, `secret.yaml` beside
 * `secret.enc.yaml`), and nothing is read unless a twin's name exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Format } from '../../src/document/stores/types.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { DECRYPTED_TWIN_RULE, decryptedTwinDetector, twinNames } from '../../src/scan/twins.js';
import type { RawFinding, ScanContext } from '../../src/scan/types.js';
import { encryptBytes } from '../../src/sops-file.js';

const PASSWORD = 'hunter2-correct-horse';
const PLAIN_YAML = `user: admin\npassword: ${PASSWORD}\n`;

const keyGroups = (async () => {
  const { recipient } = await generateAgeIdentity();
  return resolveKeyGroups([[{ type: 'age', value: recipient }]], { env: {} });
})();

async function encrypt(text: string, format: Format): Promise<Buffer> {
  return encryptBytes(Buffer.from(text), { format, keyGroups: await keyGroups });
}

/** A source of files that counts what the detector asks for. */
function source(files: Record<string, Buffer | string>): { context: ScanContext; reads: string[]; lookups: string[] } {
  const map = new Map(Object.entries(files).map(([path, content]) => [path, Buffer.from(content)]));
  const reads: string[] = [];
  const lookups: string[] = [];
  const context: ScanContext = {
    options: { entropy: false },
    creationRuleFor: async () => undefined,
    exists: (path) => {
      lookups.push(path);
      return map.has(path);
    },
    read: async (path) => {
      reads.push(path);
      return map.get(path);
    },
  };
  return { context, reads, lookups };
}

async function detect(path: string, files: Record<string, Buffer | string>): Promise<RawFinding[]> {
  const content = Buffer.from(files[path]);
  return decryptedTwinDetector.detect({ path, content }, content.toString('utf8'), source(files).context);
}

test('secret.dec.yaml beside the encrypted secret.yaml is a decrypted twin', async () => {
  const findings = await detect('deploy/secret.dec.yaml', { 'deploy/secret.dec.yaml': PLAIN_YAML, 'deploy/secret.yaml': await encrypt(PLAIN_YAML, 'yaml') });
  assert.deepEqual(findings, [
    {
      ruleId: DECRYPTED_TWIN_RULE,
      line: 1,
      column: 1,
      value: 'admin',
      message: 'plaintext twin of encrypted deploy/secret.yaml',
      hint: 'delete it and add the pattern to .gitignore (e.g. *.dec.yaml)',
    },
  ]);
});

test('the other way round: a plaintext secret.yaml beside the encrypted secret.enc.yaml or secret.sops.yaml', async () => {
  for (const encryptedName of ['secret.enc.yaml', 'secret.sops.yaml']) {
    const findings = await detect('deploy/secret.yaml', { 'deploy/secret.yaml': PLAIN_YAML, [`deploy/${encryptedName}`]: await encrypt(PLAIN_YAML, 'yaml') });
    assert.deepEqual(
      findings.map((f) => [f.ruleId, f.message, f.hint]),
      [[DECRYPTED_TWIN_RULE, `plaintext twin of encrypted deploy/${encryptedName}`, 'delete it and add the pattern to .gitignore (e.g. deploy/secret.yaml)']],
    );
  }
});

test('every decrypted marker, as an infix and as a suffix, in other formats too', async () => {
  const json = `{"password": "${PASSWORD}"}`;
  const cases: [string, string, string, Format][] = [
    ['secret.yaml.dec', 'secret.yaml', PLAIN_YAML, 'yaml'],
    ['secret.decrypted.json', 'secret.json', json, 'json'],
    ['secret.plain.json', 'secret.json', json, 'json'],
    ['app.plaintext.env', 'app.env', `TOKEN=${PASSWORD}\n`, 'dotenv'],
    ['app.cleartext.ini', 'app.ini', `[db]\npassword = ${PASSWORD}\n`, 'ini'],
    ['token.dec.txt', 'token.txt', `${PASSWORD}\n`, 'binary'],
    ['secret.dec.yaml', 'secret.enc.yaml', PLAIN_YAML, 'yaml'],
  ];
  for (const [plainName, encryptedName, text, format] of cases) {
    const findings = await detect(plainName, { [plainName]: text, [encryptedName]: await encrypt(text, format) });
    assert.deepEqual(
      findings.map((f) => [f.ruleId, f.message]),
      [[DECRYPTED_TWIN_RULE, `plaintext twin of encrypted ${encryptedName}`]],
      plainName,
    );
    assert.ok(!findings[0].message.includes(PASSWORD) && !findings[0].hint.includes(PASSWORD));
  }
});

test('not a twin: both files encrypted, the twin in plaintext too, or an empty copy', async () => {
  const encrypted = await encrypt(PLAIN_YAML, 'yaml');
  assert.deepEqual(await detect('secret.dec.yaml', { 'secret.dec.yaml': encrypted, 'secret.yaml': encrypted }), []);
  assert.deepEqual(await detect('secret.yaml', { 'secret.yaml': encrypted, 'secret.enc.yaml': encrypted }), []);
  assert.deepEqual(await detect('secret.dec.yaml', { 'secret.dec.yaml': PLAIN_YAML, 'secret.yaml': PLAIN_YAML }), []);
  assert.deepEqual(await detect('secret.dec.yaml', { 'secret.dec.yaml': '', 'secret.yaml': encrypted }), []);
  assert.deepEqual(await detect('other/secret.dec.yaml', { 'other/secret.dec.yaml': PLAIN_YAML, 'secret.yaml': encrypted }), [], 'twins share a directory');
});

test('nothing is read unless a twin name exists, and only a few names are looked up', async () => {
  const files = { 'deploy/values.yaml': PLAIN_YAML, 'deploy/secret.dec.yaml': PLAIN_YAML };
  for (const path of Object.keys(files)) {
    const { context, reads, lookups } = source(files);
    const content = Buffer.from(files[path as keyof typeof files]);
    assert.deepEqual(await decryptedTwinDetector.detect({ path, content }, content.toString('utf8'), context), []);
    assert.deepEqual(reads, [], path);
    assert.ok(lookups.length > 0 && lookups.length <= 8, `${path}: ${lookups.length} lookups`);
    assert.ok(lookups.every((name) => name.startsWith('deploy/')));
  }
});

test('twin names: markers stripped or encrypted markers added, never both ways for one name', () => {
  const names = (base: string) => twinNames(base).map((t) => t.name);
  assert.deepEqual(names('secret.dec.yaml'), ['secret.yaml', 'secret.enc.yaml', 'secret.yaml.enc', 'secret.sops.yaml', 'secret.yaml.sops']);
  assert.deepEqual(names('secret.yaml.dec'), ['secret.yaml', 'secret.enc.yaml', 'secret.yaml.enc', 'secret.sops.yaml', 'secret.yaml.sops']);
  assert.deepEqual(names('secret.yaml'), ['secret.enc.yaml', 'secret.yaml.enc', 'secret.sops.yaml', 'secret.yaml.sops']);
  assert.deepEqual(names('secret'), ['secret.enc', 'secret.sops']);
  assert.deepEqual(names('secret.enc.yaml'), [], 'already named as the encrypted one');
  assert.deepEqual(names('secret.plaintext.yaml')[0], 'secret.yaml', '.plaintext is not read as .plain');
  assert.deepEqual(names('.dec'), ['.dec.enc', '.dec.sops'], 'a name that is only a marker has nothing to strip');
});

test('where the source lists its files, one lookup in mayFind finds the same twins as asking for each name', async () => {
  const encrypted = await encrypt(PLAIN_YAML, 'yaml');
  const names = [
    ...['secret.yaml', 'secret.enc.yaml', 'secret.yaml.enc', 'app.yaml', 'app.sops.yaml', 'plain.yaml', '.env', '.env.enc', 'noext', 'noext.sops'],
    ...['a.b.yaml', 'a.b.enc.yaml', 'x.tar.gz', 'x.enc.tar.gz', 'y.tar.gz', 'y.tar.enc.gz', 'values.dec.yaml', 'values.yaml', 'd.sops.yaml', 'd.sops.enc.yaml'],
  ];
  const isEncryptedName = (name: string) => /\.(enc|sops)(\.|$)/.test(name) || name === 'values.yaml';
  const files = Object.fromEntries(names.map((name) => [`k/${name}`, isEncryptedName(name) ? encrypted : PLAIN_YAML]));
  const asked = source(files);
  const listed = source(files);
  const withList: ScanContext = { ...listed.context, knownPaths: () => Object.keys(files) };
  const found: string[] = [];
  for (const path of Object.keys(files)) {
    const content = Buffer.from(files[path]!);
    const expected = await decryptedTwinDetector.detect({ path, content }, content.toString('utf8'), asked.context);
    // As the scan does: mayFind first, detect only on yes.
    const may = await decryptedTwinDetector.mayFind!({ path, content }, withList);
    const got = may ? await decryptedTwinDetector.detect({ path, content }, content.toString('utf8'), withList) : [];
    assert.deepEqual(got, expected, path);
    if (expected.length > 0) found.push(path);
  }
  // The YAML files beside an encrypted YAML twin (the other twins hold YAML under a name
  // that says dotenv or binary, which is no sops file of that kind).
  assert.deepEqual(found, ['k/secret.yaml', 'k/app.yaml', 'k/a.b.yaml', 'k/values.dec.yaml']);
  // A name with no twin among the listed files costs no lookup at all.
  for (const twinOfUntwinned of ['k/plain.enc.yaml', 'k/x.tar.enc.gz']) {
    assert.ok(asked.lookups.includes(twinOfUntwinned) && !listed.lookups.includes(twinOfUntwinned), twinOfUntwinned);
  }
});
