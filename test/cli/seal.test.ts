/**
 * `wax seal` and `wax decrypt --as-secret` as a user runs them: keys from flags or
 * .sops.yaml, a sealed file that plain `wax decrypt` still reads, exact exit codes on
 * every refusal, and no plaintext on stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ExitCode } from '../../src/errors.js';
import { assertNoneOf, withWorkspace, type Workspace } from '../support/cli.js';

const SECRETS = ['hunter2-secret', 'c3VwZXItc2VjcmV0', 'super-secret'];

const MANIFEST = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
  labels:
    app: db
type: Opaque
data:
  token: c3VwZXItc2VjcmV0
stringData:
  password: hunter2-secret
`;

const AS_SECRET = `apiVersion: v1
kind: Secret
metadata:
    labels:
        app: db
    name: db
    namespace: payments
type: Opaque
data:
    password: ${Buffer.from('hunter2-secret').toString('base64')}
    token: c3VwZXItc2VjcmV0
`;

function sealInPlace(ws: Workspace, extra: string[] = []): string {
  writeFileSync(join(ws.dir, 'db.yaml'), MANIFEST);
  const result = ws.wax(['seal', '--age', ws.key.recipient, '-i', ...extra, 'db.yaml']);
  assert.equal(result.code, 0, result.stderr);
  return readFileSync(join(ws.dir, 'db.yaml'), 'utf8');
}

test(
  'wax seal -i writes an EncryptedSecret that wax decrypt reads as a sops file and --as-secret as its Secret',
  withWorkspace((ws) => {
    const sealed = sealInPlace(ws);
    assertNoneOf(sealed, SECRETS);
    const object = parseYaml(sealed);
    assert.equal(object.kind, 'EncryptedSecret');
    assert.equal(object.sops.mac_only_encrypted, true);

    const plain = ws.wax(['decrypt', 'db.yaml']);
    assert.equal(plain.code, 0, plain.stderr);
    const decrypted = parseYaml(plain.stdout);
    assert.equal(decrypted.spec.scope, 'strict:payments/db');
    assert.equal(decrypted.spec.stringData.password, 'hunter2-secret');

    const asSecret = ws.wax(['decrypt', '--as-secret', 'db.yaml']);
    assert.equal(asSecret.code, 0, asSecret.stderr);
    assert.equal(asSecret.stdout, AS_SECRET);
  }),
);

test(
  'wax seal takes its keys from the .sops.yaml creation rule, and --scope namespace is honoured',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, '.sops.yaml'), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${ws.key.recipient}\n`);
    writeFileSync(join(ws.dir, 'db.yaml'), MANIFEST);
    const result = ws.wax(['seal', '--scope', 'namespace', '--output', 'sealed.yaml', 'db.yaml']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(join(ws.dir, 'db.yaml'), 'utf8'), MANIFEST, 'the manifest is untouched with --output');
    const plain = ws.wax(['decrypt', '--extract', '["spec"]["scope"]', 'sealed.yaml']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'namespace:payments');
  }),
);

test(
  'wax seal of a JSON manifest writes JSON',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, 'db.json'), JSON.stringify(parseYaml(MANIFEST)));
    const result = ws.wax(['seal', '--age', ws.key.recipient, 'db.json']);
    assert.equal(result.code, 0, result.stderr);
    const object = JSON.parse(result.stdout);
    assert.equal(object.kind, 'EncryptedSecret');
    writeFileSync(join(ws.dir, 'sealed.json'), result.stdout);
    const asSecret = ws.wax(['decrypt', '--as-secret', 'sealed.json']);
    assert.equal(asSecret.code, 0, asSecret.stderr);
    assert.equal(asSecret.stdout, AS_SECRET);
  }),
);

test(
  'wax seal refuses a manifest that is not a Secret (exit 26) without echoing it',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, 'cm.yaml'), MANIFEST.replace('kind: Secret', 'kind: ConfigMap'));
    const result = ws.wax(['seal', '--age', ws.key.recipient, '-i', 'cm.yaml']);
    assert.equal(result.code, ExitCode.InvalidInputDocument, result.stderr);
    assert.match(result.stderr, /^wax: error: .*kind "ConfigMap"/);
    assert.match(result.stderr, /wax: hint: /);
    assertNoneOf(result.stderr + result.stdout, SECRETS);
    assert.ok(readFileSync(join(ws.dir, 'cm.yaml'), 'utf8').includes('hunter2-secret'), 'the file is left as it was');
  }),
);

test(
  'wax seal without any key fails with exit 111',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, 'db.yaml'), MANIFEST);
    const result = ws.wax(['seal', 'db.yaml'], { env: { XDG_CONFIG_HOME: '/nonexistent' } });
    assert.equal(result.code, ExitCode.NoEncryptionKeyFound, result.stderr);
    assert.equal(result.stdout, '');
    assertNoneOf(result.stderr, SECRETS);
  }),
);

test(
  'wax seal rejects an unknown --scope as a usage error',
  withWorkspace((ws) => {
    writeFileSync(join(ws.dir, 'db.yaml'), MANIFEST);
    const result = ws.wax(['seal', '--age', ws.key.recipient, '--scope', 'global', 'db.yaml']);
    assert.equal(result.code, ExitCode.Usage, result.stderr);
  }),
);

test(
  'wax decrypt --as-secret: a copy moved to another namespace fails with exit 25, naming both places, no plaintext',
  withWorkspace((ws) => {
    const sealed = sealInPlace(ws);
    writeFileSync(join(ws.dir, 'moved.yaml'), sealed.replace('namespace: payments', 'namespace: staging'));
    const result = ws.wax(['decrypt', '--as-secret', 'moved.yaml']);
    assert.equal(result.code, ExitCode.ErrorDecryptingTree, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /scope mismatch: sealed for namespace payments, name db, found in namespace staging, name db/);
    assertNoneOf(result.stderr, SECRETS);
    // The same file is still an ordinary sops file: plain decrypt does not check the scope.
    assert.equal(ws.wax(['decrypt', 'moved.yaml']).code, 0);
  }),
);

test(
  'wax decrypt --as-secret: a flipped ciphertext byte fails with exit 25 and no plaintext',
  withWorkspace((ws) => {
    const sealed = sealInPlace(ws);
    const tampered = sealed.replace(/(password: ENC\[AES256_GCM,data:)(.)/, (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'));
    assert.notEqual(tampered, sealed);
    writeFileSync(join(ws.dir, 'db.yaml'), tampered);
    const result = ws.wax(['decrypt', '--as-secret', 'db.yaml']);
    assert.equal(result.code, ExitCode.ErrorDecryptingTree, result.stderr);
    assertNoneOf(result.stderr + result.stdout, SECRETS);
  }),
);

test(
  'wax decrypt --as-secret refuses --ignore-mac and several files (exit 64)',
  withWorkspace((ws) => {
    sealInPlace(ws);
    assert.equal(ws.wax(['decrypt', '--as-secret', '--ignore-mac', 'db.yaml']).code, ExitCode.Usage);
    assert.equal(ws.wax(['decrypt', '--as-secret', '-i', 'db.yaml', 'db.yaml']).code, ExitCode.Usage);
  }),
);
