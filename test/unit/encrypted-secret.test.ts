/**
 * The EncryptedSecret format: what it becomes, that its MAC survives the API server's
 * rewriting, that its scope binds it, and that every tampering fails with its exact class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { openEncryptedSecret, sealSecret, type ScopeKind } from '../../src/encrypted-secret.js';
import { ExitCode, IntegrityError, InvalidDocumentError, MacMismatchError, ScopeMismatchError, ValueAuthenticationError, type WaxError } from '../../src/errors.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type ProviderContext } from '../../src/providers/index.js';
import { ageCliAvailable, independentAgeEntries, independentDecrypt, unwrapAgeWithCli } from '../support/independent-sops.js';
import { makeTempDir, removeTempDir } from '../support/cli.js';

const SECRETS = ['hunter2-secret', 'aGVsbG8td29ybGQ=', 'hello-world', 'nine-value', 'ten-value'];

const SECRET = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 'db',
    namespace: 'payments',
    labels: { app: 'db', tier: 'backend' },
    annotations: { owner: 'team-payments', 'kubectl.kubernetes.io/last-applied-configuration': '{"stringData":{"password":"hunter2-secret"}}' },
  },
  type: 'kubernetes.io/basic-auth',
  immutable: true,
  data: { greeting: 'aGVsbG8td29ybGQ=', '9': Buffer.from('nine-value').toString('base64'), '10': Buffer.from('ten-value').toString('base64') },
  stringData: { password: 'hunter2-secret', username: 'admin' },
};

const EXPECTED = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'payments', labels: { app: 'db', tier: 'backend' }, annotations: { owner: 'team-payments' } },
  type: 'kubernetes.io/basic-auth',
  immutable: true,
  data: {
    greeting: 'aGVsbG8td29ybGQ=',
    '9': Buffer.from('nine-value').toString('base64'),
    '10': Buffer.from('ten-value').toString('base64'),
    password: Buffer.from('hunter2-secret').toString('base64'),
    username: Buffer.from('admin').toString('base64'),
  },
};

type Plain = Record<string, any>;

const keys = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } };
  return { identity, ctx, keyGroups: await resolveKeyGroups([[{ type: 'age', value: recipient }]], ctx) };
})();

async function seal(scope: ScopeKind = 'strict', secret: unknown = SECRET): Promise<string> {
  const { keyGroups } = await keys;
  return (await sealSecret(structuredClone(secret), { keyGroups, scope })).toString();
}

/** What kubectl sends: the YAML as plain data. */
function applied(yamlText: string): Plain {
  return parseYaml(yamlText) as Plain;
}

/** JSON as Go's encoder writes a map: keys sorted by their UTF-8 bytes, recursively. */
function sortedText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedText).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const entries = Object.entries(value).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${sortedText(v)}`).join(',')}}`;
}

/** The object as the API server returns it: server fields and status added, JSON with sorted keys. */
function fromApiServer(object: Plain): Plain {
  const withServerFields = {
    ...object,
    metadata: {
      ...object.metadata,
      uid: '0b5f1a4e-4f1e-4c2b-9a57-7a0b1d2c3e4f',
      resourceVersion: '48213',
      generation: 3,
      creationTimestamp: '2026-05-22T20:16:23Z',
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'wax.dev/v1alpha1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:data': { '.': {}, 'f:greeting': {} }, 'f:scope': {} } } }],
      labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' },
    },
    status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Decrypted' }] },
  };
  // JSON.parse puts integer-like keys ("9", "10") first, as any JS client would.
  return JSON.parse(sortedText(withServerFields)) as Plain;
}

async function open(object: Plain) {
  return openEncryptedSecret(object, (await keys).ctx);
}

async function expectError(object: Plain, errorClass: new (...args: never[]) => WaxError, exitCode: number): Promise<WaxError> {
  let caught: unknown;
  await assert.rejects(open(object), (error: unknown) => {
    caught = error;
    return true;
  });
  const error = caught as WaxError;
  assert.equal(error.constructor, errorClass, `expected ${errorClass.name}, got ${error?.constructor?.name}: ${error?.message}`);
  assert.equal(error.exitCode, exitCode);
  for (const secret of SECRETS) assert.ok(!`${error.message} ${error.hint}`.includes(secret), `message leaks ${secret}`);
  return error;
}

function withPlacement(object: Plain, namespace: string, name: string): Plain {
  return { ...object, metadata: { ...object.metadata, namespace, name } };
}

test('seal then open gives exactly the Secret: data as given, stringData folded into data, template fields', async () => {
  const opened = await open(applied(await seal()));
  assert.deepEqual(opened.secret, EXPECTED);
  assert.deepEqual(opened.scope, { kind: 'strict', namespace: 'payments', name: 'db' });
  assert.equal(opened.usedKeys.length, 1);
});

test('a key named __proto__ (a valid Secret key) survives seal and open, in data, stringData and labels', async () => {
  const manifest = JSON.parse(
    '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"payments","labels":{"__proto__":"x"}},"data":{"__proto__":"cHJvdG8="},"stringData":{"plain":"v"}}',
  ) as Plain;
  const opened = await open(applied(await seal('strict', manifest)));
  assert.deepEqual(Object.keys(opened.secret.data!).sort(), ['__proto__', 'plain']);
  assert.equal(JSON.parse(JSON.stringify(opened.secret.data))['__proto__'], 'cHJvdG8=');
  assert.equal(Object.getPrototypeOf(opened.secret.data), Object.prototype, 'the key is data, never a prototype');
  assert.deepEqual(JSON.parse(JSON.stringify(opened.secret.metadata.labels)), JSON.parse('{"__proto__":"x"}'));
});

test('the sealed file: only data, stringData and scope encrypted; maps in Go order; no last-applied plaintext', async () => {
  const text = await seal();
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `sealed file leaks ${secret}`);
  assert.ok(!text.includes('last-applied-configuration'));
  const object = applied(text);
  assert.match(object.spec.scope, /^ENC\[AES256_GCM,/);
  assert.equal(object.spec.template.type, 'kubernetes.io/basic-auth');
  assert.equal(object.sops.mac_only_encrypted, true);
  assert.equal(object.sops.encrypted_regex, '^(data|stringData|scope)$');
  // "10" < "9" < "greeting" in byte order: the order written is the order the server serialises.
  const spec = text.slice(text.indexOf('\nspec:\n'), text.indexOf('\nsops:\n'));
  const dataKeys = [...spec.matchAll(/^ {8}("?)([\w.-]+)\1: ENC/gm)].map((m) => m[2]);
  assert.deepEqual(dataKeys, ['10', '9', 'greeting', 'password', 'username']);
  const specKeys = [...spec.matchAll(/^ {4}(\w+):/gm)].map((m) => m[1]);
  assert.deepEqual(specKeys, ['data', 'scope', 'stringData', 'template']);
});

test('the object as the API server returns it (sorted JSON, server fields, status) still verifies', async () => {
  const opened = await open(fromApiServer(applied(await seal())));
  assert.deepEqual(opened.secret, EXPECTED);
});

test('changing clear fields (labels, annotations, type) still verifies, and the Secret follows them', async () => {
  const object = fromApiServer(applied(await seal()));
  object.spec.template.metadata.labels.tier = 'frontend';
  object.spec.template.metadata.annotations.note = 'added in the cluster';
  object.metadata.labels = { team: 'payments' };
  const opened = await open(object);
  assert.deepEqual(opened.secret.metadata.labels, { app: 'db', tier: 'frontend' });
  assert.deepEqual(opened.secret.metadata.annotations, { owner: 'team-payments', note: 'added in the cluster' });
  assert.deepEqual(opened.secret.data, EXPECTED.data);
});

test('strict scope: another namespace or another name is a ScopeMismatchError naming both places', async () => {
  const object = fromApiServer(applied(await seal('strict')));
  const other = await expectError(withPlacement(object, 'staging', 'db'), ScopeMismatchError, ExitCode.ErrorDecryptingTree);
  assert.ok(other instanceof IntegrityError);
  assert.match(other.message, /sealed for namespace payments, name db, found in namespace staging, name db/);
  const renamed = await expectError(withPlacement(object, 'payments', 'db-copy'), ScopeMismatchError, ExitCode.ErrorDecryptingTree);
  assert.match(renamed.message, /found in namespace payments, name db-copy/);
});

test('namespace scope: another name in the same namespace passes, another namespace does not', async () => {
  const object = fromApiServer(applied(await seal('namespace')));
  const opened = await open(withPlacement(object, 'payments', 'db-copy'));
  assert.deepEqual(opened.scope, { kind: 'namespace', namespace: 'payments' });
  assert.equal(opened.secret.metadata.name, 'db-copy');
  await expectError(withPlacement(object, 'staging', 'db'), ScopeMismatchError, ExitCode.ErrorDecryptingTree);
});

test('cluster scope: any namespace and name pass, and the Secret lands where the object is', async () => {
  const object = fromApiServer(applied(await seal('cluster')));
  const opened = await open(withPlacement(object, 'elsewhere', 'other'));
  assert.deepEqual(opened.scope, { kind: 'cluster' });
  assert.deepEqual([opened.secret.metadata.namespace, opened.secret.metadata.name], ['elsewhere', 'other']);
  assert.deepEqual(opened.secret.data, EXPECTED.data);
});

/** Flips one byte of the ciphertext inside an ENC[...] value, keeping the format valid. */
function flipCiphertext(enc: string): string {
  return enc.replace(/data:([^,]+),/, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `data:${bytes.toString('base64')},`;
  });
}

test('a flipped ciphertext byte is a ValueAuthenticationError', async () => {
  const object = fromApiServer(applied(await seal()));
  object.spec.stringData.password = flipCiphertext(object.spec.stringData.password);
  await expectError(object, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
});

test('a value moved to another key is a ValueAuthenticationError (the key path is authenticated)', async () => {
  const object = fromApiServer(applied(await seal()));
  [object.spec.data['9'], object.spec.data['10']] = [object.spec.data['10'], object.spec.data['9']];
  await expectError(object, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
});

test('a value moved from stringData into data is a ValueAuthenticationError', async () => {
  const object = fromApiServer(applied(await seal()));
  object.spec.data.password = object.spec.stringData.password;
  delete object.spec.stringData.password;
  await expectError(object, ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
});

test('a removed value is a MacMismatchError', async () => {
  const object = fromApiServer(applied(await seal()));
  delete object.spec.data.greeting;
  await expectError(object, MacMismatchError, ExitCode.MacMismatch);
});

test('the scope removed, or replaced by a clear scope, is an IntegrityError', async () => {
  const object = fromApiServer(applied(await seal()));
  const removed = structuredClone(object);
  delete removed.spec.scope;
  const error = await expectError(removed, IntegrityError, ExitCode.ErrorDecryptingTree);
  assert.match(error.message, /spec\.scope is missing/);
  const clear = structuredClone(object);
  clear.spec.scope = 'cluster';
  assert.match((await expectError(withPlacement(clear, 'staging', 'db'), IntegrityError, ExitCode.ErrorDecryptingTree)).message, /not encrypted/);
});

test('the scope of another EncryptedSecret (another data key) pasted in is a ValueAuthenticationError', async () => {
  const object = fromApiServer(applied(await seal('strict')));
  const cluster = fromApiServer(applied(await seal('cluster')));
  object.spec.scope = cluster.spec.scope;
  await expectError(withPlacement(object, 'staging', 'db'), ValueAuthenticationError, ExitCode.ErrorDecryptingTree);
});

test('a selection rule edited in the sops block (outside the MAC) is an IntegrityError before any key is used', async () => {
  const object = fromApiServer(applied(await seal()));
  object.sops.encrypted_regex = '^(data|stringData)$';
  object.spec.scope = 'cluster';
  await expectError(object, IntegrityError, ExitCode.ErrorDecryptingTree);
  const noMacOnly = fromApiServer(applied(await seal()));
  noMacOnly.sops.mac_only_encrypted = false;
  await expectError(noMacOnly, IntegrityError, ExitCode.ErrorDecryptingTree);
});

test('sealSecret refuses what is not a v1 Secret, and a strict or namespace scope without a namespace', async () => {
  const { keyGroups } = await keys;
  const refuse = async (manifest: unknown, scope: ScopeKind, pattern: RegExp) => {
    await assert.rejects(sealSecret(manifest, { keyGroups, scope }), (error: unknown) => {
      assert.equal((error as Error).constructor, InvalidDocumentError, (error as Error).message);
      assert.equal((error as WaxError).exitCode, ExitCode.InvalidInputDocument);
      assert.ok((error as WaxError).hint, 'a hint is given');
      assert.match((error as Error).message, pattern);
      for (const secret of SECRETS) assert.ok(!(error as Error).message.includes(secret));
      return true;
    });
  };
  await refuse({ ...SECRET, kind: 'ConfigMap' }, 'strict', /kind "ConfigMap"/);
  await refuse({ ...SECRET, apiVersion: 'v2' }, 'cluster', /apiVersion "v2"/);
  await refuse({ ...SECRET, metadata: { name: 'db' } }, 'strict', /needs metadata\.namespace/);
  await refuse({ ...SECRET, metadata: { name: 'db' } }, 'namespace', /needs metadata\.namespace/);
  await refuse({ ...SECRET, metadata: { namespace: 'payments' } }, 'cluster', /no metadata\.name/);
  await refuse({ ...SECRET, data: { bad: 'hunter2-secret!' } }, 'strict', /data\.bad is not valid base64/);
  await refuse({ ...SECRET, stringData: { port: 5432 } }, 'strict', /stringData\.port must be a string/);
  await refuse({ ...SECRET, metadata: { ...SECRET.metadata, labels: { data: 'x' } } }, 'strict', /reserves/);
});

test('cluster scope needs no namespace', async () => {
  const object = applied(await seal('cluster', { ...SECRET, metadata: { name: 'db' } }));
  const opened = await open(withPlacement(object, 'anywhere', 'db'));
  assert.deepEqual(opened.secret.data, EXPECTED.data);
});

test('sops compatibility: the independent verifier and the age CLI decrypt the sealed file and verify its MAC', { skip: ageCliAvailable() ? false : 'age CLI not installed' }, async () => {
  const text = await seal();
  const dir = makeTempDir('wax-es-');
  try {
    const identityFile = join(dir, 'key.txt');
    writeFileSync(identityFile, `${(await keys).identity}\n`, { mode: 0o600 });
    const [entry] = independentAgeEntries(text, 'yaml');
    const dataKey = unwrapAgeWithCli(entry.enc, identityFile);
    const result = independentDecrypt(text, 'yaml', dataKey);
    assert.equal(result.macOk, true, 'MAC verifies independently');
    const doc = result.docs[0] as Plain;
    assert.equal(doc.spec.scope, 'strict:payments/db');
    assert.equal(doc.spec.stringData.password, 'hunter2-secret');
    assert.equal(doc.spec.data.greeting, 'aGVsbG8td29ybGQ=');
  } finally {
    removeTempDir(dir);
  }
});
