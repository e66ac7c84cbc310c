/**
 * The coverage detector: a file a creation rule covers must be sops-encrypted, and every
 * value its selection rule picks must be in ENC[…] form. Also: no encrypted fixture from
 * other projects raises a finding from any structural detector.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type CreationRule, type SopsConfig } from '../../src/config.js';
import { compileRe2, type SelectionRule } from '../../src/document/rules.js';
import type { Format } from '../../src/document/stores/types.js';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { kubernetesSecretDetector } from '../../src/scan/kubernetes.js';
import { SOPS_PLAINTEXT_VALUE_RULE, SOPS_UNENCRYPTED_RULE, sopsCoverageDetector } from '../../src/scan/sops-coverage.js';
import { DECRYPTED_TWIN_RULE, decryptedTwinDetector } from '../../src/scan/twins.js';
import type { RawFinding, ScanContext } from '../../src/scan/types.js';
import { encryptBytes } from '../../src/sops-file.js';
import { makeTempDir, removeTempDir } from '../support/cli.js';
import { fixturePath, fixturesAvailable, loadManifest } from '../support/fixtures.js';

const PASSWORD = 'hunter2-correct-horse';

const identity = (async () => {
  const { recipient } = await generateAgeIdentity();
  return { recipient, keyGroups: await resolveKeyGroups([[{ type: 'age', value: recipient }]], { env: {} }) };
})();

/** A real .sops.yaml, read by the real loader. */
const rulesOnce = config();

async function config(): Promise<SopsConfig> {
  const { recipient } = await identity;
  const dir = makeTempDir('wax-scan-config-');
  try {
    writeFileSync(
      join(dir, '.sops.yaml'),
      `creation_rules:
  - path_regex: ^k8s/.*\\.yaml$
    encrypted_regex: ^(data|stringData)$
    age: ${recipient}
  - path_regex: ^secrets/
    age: ${recipient}
  - path_regex: ^policy/
    encrypted_regex: ^(data|stringData|password)$
    age: ${recipient}
  - path_regex: ^comments/
    encrypted_comment_regex: sops:enc
    age: ${recipient}
  - age: ${recipient}
`,
    );
    return loadConfig(join(dir, '.sops.yaml'));
  } finally {
    removeTempDir(dir);
  }
}

/** The first rule that matches, as sops picks it; one without path_regex covers nothing here. */
async function creationRuleFor(rules: CreationRule[], path: string): Promise<CreationRule | undefined> {
  for (const rule of rules) {
    if (rule.pathRegex === undefined) return undefined;
    if ((await compileRe2(rule.pathRegex, 'path_regex'))(path)) return rule;
  }
  return undefined;
}

function fakeContext(rules: CreationRule[], files = new Map<string, Buffer>()): ScanContext {
  return {
    options: { entropy: false },
    creationRuleFor: (path) => creationRuleFor(rules, path),
    exists: (path) => files.has(path),
    read: async (path) => files.get(path),
  };
}

async function scan(path: string, text: string): Promise<RawFinding[]> {
  const rules = (await rulesOnce).creationRules;
  return sopsCoverageDetector.detect({ path, content: Buffer.from(text) }, text, fakeContext(rules));
}

async function encrypt(text: string, format: Format, rule?: SelectionRule): Promise<string> {
  const { keyGroups } = await identity;
  return (await encryptBytes(Buffer.from(text), { format, keyGroups, rule })).toString();
}

function positionOf(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `test text lacks ${needle}`);
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/** Replaces the ENC[…] value that follows `prefix` with `plain`. */
function handEdit(encrypted: string, prefix: string, plain: string): string {
  const at = encrypted.indexOf(prefix);
  assert.ok(at >= 0, `encrypted text lacks ${prefix}`);
  const start = at + prefix.length;
  assert.ok(encrypted.startsWith('ENC[', start), `no ENC[…] value after ${prefix}`);
  return encrypted.slice(0, start) + plain + encrypted.slice(encrypted.indexOf(']', start) + 1);
}

const brief = (findings: RawFinding[]) => findings.map((f) => ({ ruleId: f.ruleId, line: f.line, column: f.column, value: f.value }));

const PLAINTEXTS: Record<Format, { path: string; text: string; first: string }> = {
  yaml: { path: 'secrets/db.yaml', text: `host_unencrypted: db.local\nuser: admin\npassword: ${PASSWORD}\n`, first: 'admin' },
  json: { path: 'secrets/db.json', text: `{\n\t"host_unencrypted": "db.local",\n\t"password": "${PASSWORD}"\n}\n`, first: PASSWORD },
  dotenv: { path: 'secrets/app.env', text: `# database\nDB_PASSWORD=${PASSWORD}\n`, first: PASSWORD },
  ini: { path: 'secrets/app.ini', text: `[database]\npassword = ${PASSWORD}\n`, first: PASSWORD },
  binary: { path: 'secrets/token.txt', text: `${PASSWORD}\n`, first: PASSWORD },
};

test('a covered file left plaintext is sops-unencrypted, in every format, fingerprinted by its first selected value', async () => {
  for (const [format, { path, text, first }] of Object.entries(PLAINTEXTS)) {
    const findings = await scan(path, text);
    assert.deepEqual(brief(findings), [{ ruleId: SOPS_UNENCRYPTED_RULE, line: 1, column: 1, value: first }], format);
    assert.equal(findings[0].message, '.sops.yaml creation_rules[1] (path_regex: ^secrets/) covers this file, but it is not sops-encrypted');
    assert.equal(findings[0].hint, `run: wax encrypt -i ${path}`);
    assert.ok(!findings[0].message.includes(PASSWORD) && !findings[0].hint.includes(PASSWORD));
  }
});

test('the same files encrypted with wax pass', async () => {
  for (const [format, { path, text }] of Object.entries(PLAINTEXTS)) {
    assert.deepEqual(await scan(path, await encrypt(text, format as Format)), [], format);
  }
});

test('files no rule covers, or only a rule without path_regex, are not this detector\'s business', async () => {
  assert.deepEqual(await scan('docs/db.yaml', PLAINTEXTS.yaml.text), []);
  assert.deepEqual(await scan('README.md', 'password: x\n'), []);
});

test('a covered file that does not parse is unencrypted, fingerprinted by its path', async () => {
  const findings = await scan('secrets/broken.yaml', `password: [${PASSWORD}\n`);
  assert.deepEqual(brief(findings), [{ ruleId: SOPS_UNENCRYPTED_RULE, line: 1, column: 1, value: 'secrets/broken.yaml' }]);
  assert.match(findings[0].message, /not sops-encrypted \(it does not parse as yaml\)$/);
});

test('empty files and the .sops.yaml itself are never flagged, even when a rule covers them', async () => {
  assert.deepEqual(await scan('secrets/.gitkeep', ''), []);
  assert.deepEqual(await scan('secrets/blank.yaml', '\n\n'), []);
  const everything = { index: 0, pathRegex: '.*', keyGroups: [], shamirThreshold: 0, macOnlyEncrypted: false };
  const text = 'creation_rules:\n  - path_regex: .*\n';
  assert.deepEqual(await sopsCoverageDetector.detect({ path: '.sops.yaml', content: Buffer.from(text) }, text, fakeContext([everything])), []);
});

test('a value hand-edited into an encrypted file is flagged at its line, in every structured format', async () => {
  const cases: [Format, string, string][] = [
    ['yaml', 'password: ', 'password'],
    ['json', '"password": "', 'password'],
    ['dotenv', 'DB_PASSWORD=', 'DB_PASSWORD'],
    ['ini', 'password = ', 'database.password'],
  ];
  for (const [format, prefix, where] of cases) {
    const { path, text } = PLAINTEXTS[format];
    const edited = handEdit(await encrypt(text, format), prefix, PASSWORD);
    const findings = await scan(path, edited);
    // The position is the value token's, an opening quote included.
    const token = format === 'json' ? `"${PASSWORD}"` : PASSWORD;
    assert.deepEqual(brief(findings), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(edited, token), value: PASSWORD }], format);
    assert.equal(findings[0].message, `plaintext value at ${where} in a sops-encrypted file`);
    assert.equal(findings[0].hint, `run: wax edit ${path} (or wax set) to put the value back encrypted`);
  }
});

test('a binary envelope whose data was replaced by plaintext is flagged', async () => {
  const { path, text } = PLAINTEXTS.binary;
  const edited = handEdit(await encrypt(text, 'binary'), '"data": "', PASSWORD);
  assert.deepEqual(brief(await scan(path, edited)), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(edited, `"${PASSWORD}"`), value: PASSWORD }]);
});

test('a file encrypted with an explicit input type under a name that means binary is encrypted, and checked as that type', async () => {
  const text = `DB_PASSWORD=${PASSWORD}\n`;
  const encrypted = await encrypt(text, 'dotenv');
  assert.deepEqual(await scan('secrets/app.conf', encrypted), []);
  const edited = handEdit(encrypted, 'DB_PASSWORD=', PASSWORD);
  assert.deepEqual(brief(await scan('secrets/app.conf', edited)), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, line: 1, column: 13, value: PASSWORD }]);
  assert.deepEqual(brief(await scan('secrets/app.conf', text)).map((f) => f.ruleId), [SOPS_UNENCRYPTED_RULE], 'the plaintext is still flagged');
});

test('values added by hand: selected ones are flagged, _unencrypted ones and empty ones are not', async () => {
  const encrypted = await encrypt(PLAINTEXTS.yaml.text, 'yaml');
  const edited = encrypted.replace('sops:\n', `api_key: ${PASSWORD}\nnote_unencrypted: hello\nblank: ""\nnothing: null\nport: 5432\nsops:\n`);
  const findings = await scan('secrets/db.yaml', edited);
  assert.deepEqual(
    findings.map((f) => [f.line, f.value, f.message]),
    [
      [positionOf(edited, PASSWORD).line, PASSWORD, 'plaintext value at api_key in a sops-encrypted file'],
      [positionOf(edited, '5432').line, '5432', 'plaintext value at port in a sops-encrypted file'],
    ],
  );
});

test('a multi-document file: the finding names the document and the value\'s own line', async () => {
  const encrypted = await encrypt(`a: one\n---\nb:\n  - first\n  - second\n`, 'yaml');
  const items = [...encrypted.matchAll(/- (ENC\[[^\]]+\])/g)];
  assert.equal(items.length, 2);
  const start = items[1].index! + 2;
  const edited = encrypted.slice(0, start) + PASSWORD + encrypted.slice(start + items[1][1].length);
  const findings = await scan('secrets/multi.yaml', edited);
  assert.deepEqual(brief(findings), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(edited, PASSWORD), value: PASSWORD }]);
  assert.equal(findings[0].message, 'plaintext value at b[1] (document 2) in a sops-encrypted file');
});

const K8S_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: ${PASSWORD}
  user: admin
`;

test('encrypted_regex ^(data|stringData)$: the clear metadata is fine, a clear stringData value is not', async () => {
  const rule = { kind: 'encrypted_regex', value: '^(data|stringData)$' } as const;
  const encrypted = await encrypt(K8S_SECRET, 'yaml', rule);
  assert.ok(encrypted.includes('\n    name: db\n'), 'metadata stays clear');
  assert.deepEqual(await scan('k8s/db.yaml', encrypted), []);
  const labelled = encrypted.replace('    namespace: default\n', '    namespace: default\n    labels:\n        team: payments\n');
  assert.notEqual(labelled, encrypted);
  assert.deepEqual(await scan('k8s/db.yaml', labelled), [], 'a label added by hand is not selected');
  const edited = handEdit(encrypted, '  password: ', PASSWORD);
  const findings = await scan('k8s/db.yaml', edited);
  assert.deepEqual(brief(findings), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(edited, PASSWORD), value: PASSWORD }]);
  assert.equal(findings[0].message, 'plaintext value at stringData.password in a sops-encrypted file');
});

test('the creation rule\'s own selection is policy: a value it selects, left clear by other flags, is flagged', async () => {
  const text = `password: ${PASSWORD}\ndata:\n  token: abc123\n`;
  const encrypted = await encrypt(text, 'yaml', { kind: 'encrypted_regex', value: '^(data|stringData)$' });
  assert.deepEqual(await scan('k8s/app.yaml', encrypted), [], 'the same file under a rule that agrees with its own');
  const findings = await scan('policy/app.yaml', encrypted);
  assert.deepEqual(brief(findings), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(encrypted, PASSWORD), value: PASSWORD }]);
  assert.equal(
    findings[0].message,
    'plaintext value at password, which .sops.yaml creation_rules[2] (path_regex: ^policy/) selects (encrypted_regex: ^(data|stringData|password)$); the file was encrypted with encrypted_regex: ^(data|stringData)$',
  );
  assert.equal(findings[0].hint, 'encrypt it again under the creation rule: run wax decrypt -i policy/app.yaml, then wax encrypt -i policy/app.yaml');
});

test('a wax-sealed EncryptedSecret passes under any creation rule', async () => {
  const { keyGroups } = await identity;
  const manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, stringData: { password: PASSWORD } };
  const sealed = (await sealSecret(manifest, { keyGroups, scope: 'strict' })).toString();
  for (const path of ['secrets/db.yaml', 'k8s/db.yaml', 'policy/db.yaml']) assert.deepEqual(await scan(path, sealed), [], path);
});

test('comment rules: only values after the marker comment are selected, as encryption selected them', async () => {
  const text = `host: db.local\n# sops:enc\npassword: ${PASSWORD}\n`;
  const encrypted = await encrypt(text, 'yaml', { kind: 'encrypted_comment_regex', value: 'sops:enc' });
  assert.ok(encrypted.includes('host: db.local\n') && encrypted.includes('# sops:enc\n'));
  assert.deepEqual(await scan('comments/app.yaml', encrypted), []);
  const edited = handEdit(encrypted, 'password: ', 'changed-by-hand-value');
  assert.deepEqual(brief(await scan('comments/app.yaml', edited)), [{ ruleId: SOPS_PLAINTEXT_VALUE_RULE, ...positionOf(edited, 'changed-by-hand-value'), value: 'changed-by-hand-value' }]);
});

// ---- the shared fixtures -------------------------------------------------------------

/** Read in place, never copied: the fixtures belong to other projects. */
function fixtureContext(): ScanContext {
  const everything: CreationRule = { index: 0, pathRegex: '.*', keyGroups: [], shamirThreshold: 0, macOnlyEncrypted: false };
  return {
    options: { entropy: false },
    creationRuleFor: async () => everything,
    exists: (path) => existsSync(fixturePath(path)),
    read: async (path) => (existsSync(fixturePath(path)) ? readFileSync(fixturePath(path)) : undefined),
  };
}

async function scanFixture(path: string): Promise<RawFinding[]> {
  const content = readFileSync(fixturePath(path));
  const target = { path, content };
  const text = content.toString('utf8');
  const context = fixtureContext();
  const found: RawFinding[] = [];
  for (const detector of [kubernetesSecretDetector, sopsCoverageDetector, decryptedTwinDetector]) found.push(...(await detector.detect(target, text, context)));
  return found;
}

test('no encrypted fixture from ../shared/fixtures raises a finding, with every file covered by a rule', { skip: !fixturesAvailable() }, async () => {
  const cases = loadManifest();
  assert.ok(cases.length >= 50);
  for (const c of cases) assert.deepEqual(brief(await scanFixture(c.path)), [], c.path);
});

test('the fixture check can fail: plaintext files beside the fixtures are flagged', { skip: !fixturesAvailable() }, async () => {
  const raw = await scanFixture('isindir-sops-secrets-operator/config/age-test-key/00-raw-test-secrets.yaml');
  assert.deepEqual(raw.map((f) => f.ruleId), [SOPS_UNENCRYPTED_RULE]);
  const twin = await scanFixture('jkroepke-helm-secrets/tests/assets/values/sops/secrets.dec.yaml');
  assert.deepEqual(
    twin.map((f) => [f.ruleId, f.message]),
    [
      [SOPS_UNENCRYPTED_RULE, '.sops.yaml creation_rules[0] (path_regex: .*) covers this file, but it is not sops-encrypted'],
      [DECRYPTED_TWIN_RULE, 'plaintext twin of encrypted jkroepke-helm-secrets/tests/assets/values/sops/secrets.yaml'],
    ],
  );
});

test('the fixture check can fail: a value hand-edited into any fixture is found at its line', { skip: !fixturesAvailable() }, async () => {
  const marker = 'plaintext-by-hand-1234';
  let edited = 0;
  for (const c of loadManifest()) {
    const text = readFileSync(fixturePath(c.path), 'utf8');
    const first = /ENC\[AES256_GCM,[^\]]*\]/.exec(text)!;
    const lineStart = text.lastIndexOf('\n', first.index) + 1;
    // An encrypted comment put back in clear is only a comment; values are what count.
    if (text.slice(lineStart, first.index).trimStart().startsWith('#')) continue;
    const changed = text.slice(0, first.index) + marker + text.slice(first.index + first[0].length);
    const findings = await sopsCoverageDetector.detect({ path: c.path, content: Buffer.from(changed) }, changed, fixtureContext());
    assert.deepEqual(
      findings.map((f) => [f.ruleId, f.line, f.value]),
      [[SOPS_PLAINTEXT_VALUE_RULE, positionOf(changed, marker).line, marker]],
      c.path,
    );
    edited++;
  }
  assert.ok(edited >= 45, `only ${edited} fixtures were edited`);
});
