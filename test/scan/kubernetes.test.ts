/**
 * The Kubernetes detector: plaintext Secret values are found in every document, in JSON
 * and in Lists, at the value's own line; what wax seals or encrypts passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sealSecret } from '../../src/encrypted-secret.js';
import { encryptBytes } from '../../src/sops-file.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { ENCRYPTED_SECRET_RULE_ID, K8S_SECRET_RULE, kubernetesSecretDetector } from '../../src/scan/kubernetes.js';
import type { RawFinding, ScanContext } from '../../src/scan/types.js';

const PASSWORD = 'hunter2-correct-horse';
const TOKEN_B64 = Buffer.from('tok-3f9a7c1e55').toString('base64');

const NO_CONTEXT: ScanContext = {
  options: { entropy: false },
  creationRuleFor: async () => undefined,
  exists: () => false,
  read: async () => undefined,
};

async function detect(path: string, text: string): Promise<RawFinding[]> {
  return kubernetesSecretDetector.detect({ path, content: Buffer.from(text) }, text, NO_CONTEXT);
}

const recipients = (async () => {
  const { recipient } = await generateAgeIdentity();
  return resolveKeyGroups([[{ type: 'age', value: recipient }]], { env: {} });
})();

/** Line and column (1-based) of the first occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `test text lacks ${needle}`);
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/** No message or hint may carry a value, whatever the rule. */
function assertNoValueShown(findings: RawFinding[], ...values: string[]): void {
  for (const finding of findings) {
    for (const value of values) {
      assert.ok(!finding.message.includes(value) && !finding.hint.includes(value), `${finding.ruleId} shows a value`);
    }
  }
}

const MULTI_DOCUMENT = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: production
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
type: Opaque
data:
  token: ${TOKEN_B64}
  empty: ""
stringData:
  password: ${PASSWORD}
`;

test('a Secret in the third document of a multi-document file: one finding per key, at the value', async () => {
  const findings = await detect('deploy/all.yaml', MULTI_DOCUMENT);
  assert.deepEqual(
    findings.map((f) => ({ ruleId: f.ruleId, line: f.line, column: f.column, value: f.value, message: f.message })),
    [
      { ruleId: K8S_SECRET_RULE, ...positionOf(MULTI_DOCUMENT, TOKEN_B64), value: TOKEN_B64, message: 'plaintext value in data.token of Secret default/db' },
      { ruleId: K8S_SECRET_RULE, ...positionOf(MULTI_DOCUMENT, PASSWORD), value: PASSWORD, message: 'plaintext value in stringData.password of Secret default/db' },
    ],
  );
  assert.equal(findings[0].line, 22, 'the line of the value in document 3, not of the document');
  assertNoValueShown(findings, PASSWORD, TOKEN_B64);
});

test('a ConfigMap or a Deployment alone is never flagged, even with data', async () => {
  const [configMap, deployment] = MULTI_DOCUMENT.split('---\n');
  assert.deepEqual(await detect('cm.yaml', configMap), []);
  assert.deepEqual(await detect('deploy.yaml', deployment), []);
});

test('a JSON Secret is flagged at the line of its value', async () => {
  const text = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api', namespace: 'prod' }, stringData: { apiKey: PASSWORD, blank: '' } }, null, '\t') + '\n';
  const findings = await detect('secret.json', text);
  assert.deepEqual(
    findings.map((f) => [f.ruleId, f.line, f.column, f.value, f.message]),
    [[K8S_SECRET_RULE, ...Object.values(positionOf(text, `"${PASSWORD}"`)), PASSWORD, 'plaintext value in stringData.apiKey of Secret prod/api']],
  );
});

test('each Secret of a kind: List is flagged, in JSON and in YAML', async () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'one', namespace: 'ns' }, data: { token: TOKEN_B64 } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'two' }, stringData: { password: PASSWORD } },
    ],
  };
  const json = JSON.stringify(list, null, 2);
  const fromJson = await detect('list.json', json);
  assert.deepEqual(
    fromJson.map((f) => [f.line, f.value, f.message]),
    [
      [positionOf(json, TOKEN_B64).line, TOKEN_B64, 'plaintext value in data.token of Secret ns/one'],
      [positionOf(json, PASSWORD).line, PASSWORD, 'plaintext value in stringData.password of Secret two'],
    ],
  );
  const yaml = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: one
    stringData:
      password: ${PASSWORD}
`;
  const fromYaml = await detect('list.yaml', yaml);
  assert.deepEqual(
    fromYaml.map((f) => [f.ruleId, f.line, f.column, f.message]),
    [[K8S_SECRET_RULE, 9, 17, 'plaintext value in stringData.password of Secret one']],
  );
});

test('the field is kind, lower case: Kind: Secret is not a Secret (and a non-core Secret kind is not either)', async () => {
  assert.deepEqual(await detect('a.yaml', `apiVersion: v1\nKind: Secret\nstringData:\n  password: ${PASSWORD}\n`), []);
  assert.deepEqual(await detect('b.yaml', `apiVersion: example.com/v1\nkind: Secret\nstringData:\n  password: ${PASSWORD}\n`), []);
  const flagged = await detect('c.yaml', `kind: Secret\nstringData:\n  password: ${PASSWORD}\n`);
  assert.deepEqual(
    flagged.map((f) => [f.line, f.message]),
    [[3, 'plaintext value in stringData.password of Secret (unnamed)']],
    'a Secret without apiVersion is still applied as one by kustomize patches',
  );
});

test('non-string values and block scalars are flagged at the value', async () => {
  const text = `apiVersion: v1
kind: Secret
metadata:
  name: certs
stringData:
  pin: 123456
  key.pem: |
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7
    -----END PRIVATE KEY-----
`;
  const findings = await detect('certs.yaml', text);
  assert.deepEqual(
    findings.map((f) => [f.line, f.column, f.message]),
    [
      [6, 8, 'plaintext value in stringData.pin of Secret certs'],
      [7, 12, 'plaintext value in stringData.key.pem of Secret certs'],
    ],
  );
  assert.equal(findings[0].value, '123456');
  assert.ok(findings[1].value.startsWith('-----BEGIN PRIVATE KEY-----\n'));
});

test("kubectl's last-applied-configuration annotation is flagged even when data itself is encrypted", async () => {
  const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, stringData: { password: PASSWORD } });
  const text = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '${applied}'
stringData:
  password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
`;
  const findings = await detect('exported.yaml', text);
  assert.equal(findings.length, 1);
  assert.equal(findings[0].ruleId, K8S_SECRET_RULE);
  assert.equal(findings[0].line, 7);
  assert.equal(findings[0].value, PASSWORD);
  assert.equal(findings[0].message, 'plaintext value in stringData.password of Secret default/db, inside the kubectl.kubernetes.io/last-applied-configuration annotation');
  assert.match(findings[0].hint, /^remove the kubectl\.kubernetes\.io\/last-applied-configuration annotation, then run: wax seal -i exported\.yaml/);
  assertNoValueShown(findings, PASSWORD);
});

test('a Secret encrypted with wax encrypt passes', async () => {
  const keyGroups = await recipients;
  const rule = { kind: 'encrypted_regex', value: '^(data|stringData)$' } as const;
  const encrypted = (await encryptBytes(Buffer.from(MULTI_DOCUMENT), { format: 'yaml', keyGroups, rule })).toString();
  assert.ok(encrypted.includes('kind: Secret'), 'the kind stays readable, so the detector does look at the Secret');
  assert.deepEqual(await detect('deploy/all.yaml', encrypted), []);
  // With the default rule even `kind` is encrypted: nothing left that names a Secret.
  const everything = (await encryptBytes(Buffer.from(MULTI_DOCUMENT), { format: 'yaml', keyGroups })).toString();
  assert.deepEqual(await detect('deploy/all.yaml', everything), []);
});

const SECRET_MANIFEST = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments' }, type: 'Opaque', data: { token: TOKEN_B64 }, stringData: { password: PASSWORD } };

test('a wax-sealed EncryptedSecret passes, as YAML and as JSON', async () => {
  const keyGroups = await recipients;
  const yaml = (await sealSecret(structuredClone(SECRET_MANIFEST), { keyGroups, scope: 'strict' })).toString();
  const json = (await sealSecret(structuredClone(SECRET_MANIFEST), { keyGroups, scope: 'strict', format: 'json' })).toString();
  assert.ok(yaml.includes('kind: EncryptedSecret'));
  assert.deepEqual(await detect('sealed/db.yaml', yaml), []);
  assert.deepEqual(await detect('sealed/db.json', json), []);
});

test('an EncryptedSecret with a hand-edited plaintext value is flagged as encryptedsecret-plaintext', async () => {
  const keyGroups = await recipients;
  const sealed = (await sealSecret(structuredClone(SECRET_MANIFEST), { keyGroups, scope: 'strict' })).toString();
  const edited = sealed.replace(/( {8}password: )ENC\[[^\]]+\]/, `$1${PASSWORD}`);
  assert.notEqual(edited, sealed, 'the sealed file has spec.stringData.password where the test expects it');
  const findings = await detect('sealed/db.yaml', edited);
  assert.deepEqual(
    findings.map((f) => [f.ruleId, f.line, f.column, f.value, f.message]),
    [[ENCRYPTED_SECRET_RULE_ID, ...Object.values(positionOf(edited, PASSWORD)), PASSWORD, 'plaintext value in spec.stringData.password of EncryptedSecret payments/db']],
  );
  assert.match(findings[0].hint, /wax seal/);
  assertNoValueShown(findings, PASSWORD);
});

test('files that cannot hold a Secret, or do not parse, give no finding and never throw', async () => {
  const secretText = `apiVersion: v1\nkind: Secret\nstringData:\n  password: ${PASSWORD}\n`;
  assert.deepEqual(await detect('notes.txt', secretText), [], 'not YAML or JSON by name');
  assert.deepEqual(await detect('broken.yaml', `kind: Secret\nstringData: {password: ${PASSWORD}\n  - [\n`), []);
  assert.deepEqual(await detect('broken.json', `{"kind": "Secret", "stringData": {"password": "${PASSWORD}"`), []);
  assert.deepEqual(await detect('list.yaml', '- kind: Secret\n'), []);
  assert.deepEqual(await detect('empty.yaml', ''), []);
  assert.deepEqual(await detect('secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata: {}\nstringData:\n'), [], 'no values at all');
});

test('a value that only refers to one kept elsewhere is not plaintext (Flux substitution, kustomize vars, Helm)', async () => {
  const text = `apiVersion: v1
kind: Secret
metadata:
  name: refs
stringData:
  flux: \${DB_PASSWORD}
  kustomize: $(DB_PASSWORD)
  helm: "{{ .Values.db.password }}"
  mixed: postgres://app:${PASSWORD}@db/\${DB}
`;
  const findings = await detect('refs.yaml', text);
  assert.deepEqual(findings.map((f) => f.message), ['plaintext value in stringData.mixed of Secret refs']);
});

test('the hint says how: wax seal for a file that is one Secret, wax encrypt (or splitting) otherwise', async () => {
  const single = await detect('db.yaml', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${PASSWORD}\n`);
  assert.equal(single[0].hint, 'run: wax seal -i db.yaml (or wax encrypt -i db.yaml)');
  const several = await detect('all.yaml', MULTI_DOCUMENT);
  assert.equal(several[0].hint, 'run: wax encrypt -i all.yaml (or move the Secret to a file of its own and run wax seal -i on it)');
});

test('every way YAML and JSON can write kind: Secret gets past the fast path', async () => {
  const body = `\nmetadata:\n  name: x\nstringData:\n  password: ${PASSWORD}\n`;
  for (const kind of ['kind: Secret', 'kind: "Secret"', "kind: 'Secret'", 'kind: !!str Secret', 'kind:\n  Secret', '"kind": "Secret"', 'kind  :  Secret']) {
    assert.equal((await detect('s.yaml', `apiVersion: v1\n${kind}${body}`)).length, 1, kind);
  }
  assert.equal((await detect('s.json', `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"${PASSWORD}"}}`)).length, 1);
  assert.deepEqual(await detect('s.yaml', `apiVersion: v1\nkind: SecretProviderClass${body}`), []);
});

test("the API's own SecretList, whose items name no kind, is flagged too", async () => {
  const list = { apiVersion: 'v1', kind: 'SecretList', items: [{ metadata: { name: 'db', namespace: 'ns' }, data: { token: TOKEN_B64 } }] };
  const text = JSON.stringify(list, null, 2);
  const findings = await detect('secrets.json', text);
  assert.deepEqual(findings.map((f) => [f.line, f.value, f.message]), [[positionOf(text, TOKEN_B64).line, TOKEN_B64, 'plaintext value in data.token of Secret ns/db']]);
});
