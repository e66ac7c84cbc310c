/**
 * Master keys of different kinds in one file, through the real SDKs against the
 * wire-level fakes (test/fakes): AWS KMS (JSON 1.1 + SigV4) and Azure Key Vault (HTTPS +
 * bearer challenge), beside age. Driven through the CLI, as a user would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startFakeKms, type FakeKms } from '../fakes/aws-kms.js';
import { startFakeKeyVault, type FakeKey, type FakeKeyVault } from '../fakes/azure-keyvault.js';
import { runWaxAsync } from '../support/cli-async.js';
import { ageKeypair, makeTempDir, removeTempDir, type AgeKeypair } from '../support/cli.js';

interface World {
  dir: string;
  kms: FakeKms;
  vault: FakeKeyVault;
  kmsArn: string;
  vaultKey: FakeKey;
  age: AgeKeypair;
}

async function withWorld(body: (w: World) => Promise<void>): Promise<void> {
  const dir = makeTempDir('wax-cross-');
  const kms = await startFakeKms();
  const vault = await startFakeKeyVault();
  try {
    mkdirSync(join(dir, 'age'));
    const world = { dir, kms, vault, kmsArn: kms.createKey(), vaultKey: vault.createKey('sops-key'), age: ageKeypair(join(dir, 'age')) };
    await body(world);
  } finally {
    await kms.close();
    await vault.close();
    removeTempDir(dir);
  }
}

/** Credentials for the chosen providers only; the others get none. */
function envFor(w: World, providers: ('age' | 'kms' | 'azure')[], extra: Record<string, string | undefined> = {}) {
  const env: Record<string, string | undefined> = { XDG_CONFIG_HOME: '/nonexistent', HOME: w.dir, ...w.kms.env };
  // Without KMS credentials the SDK finds none (the fake's env already blocks the real chain).
  if (!providers.includes('kms')) Object.assign(env, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
  if (providers.includes('azure')) Object.assign(env, w.vault.env);
  if (providers.includes('age')) env.SOPS_AGE_KEY_FILE = w.age.keyFile;
  return { ...env, ...extra };
}

const calls = (kms: FakeKms, operation: string) => kms.calls.filter((c) => c.service === 'kms' && c.operation === operation && c.outcome === 'ok');

test('one file for KMS, Key Vault and age: sops 3.13 metadata, one KMS call each way, each provider decrypts alone', () =>
  withWorld(async (w) => {
    const file = join(w.dir, 'secret.yaml');
    writeFileSync(file, 'password: hunter2\n');
    const encrypt = await runWaxAsync(['encrypt', '-i', '--kms', w.kmsArn, '--encryption-context', 'app:payments,env:prod', '--azure-kv', w.vaultKey.url, '--age', w.age.recipient, file], {
      env: envFor(w, ['kms', 'azure']),
    });
    assert.equal(encrypt.code, 0, encrypt.stderr);
    assert.equal(calls(w.kms, 'Encrypt').length, 1, 'one KMS Encrypt call');
    assert.deepEqual(calls(w.kms, 'Encrypt')[0].encryptionContext, { app: 'payments', env: 'prod' });

    const text = readFileSync(file, 'utf8');
    const sops = (parseYaml(text) as { sops: Record<string, Record<string, unknown>[]> }).sops;
    assert.deepEqual(Object.keys(sops.kms[0]), ['arn', 'aws_profile', 'context', 'created_at', 'enc'], 'kms fields in sops 3.13 order');
    assert.equal(sops.kms[0].arn, w.kmsArn);
    assert.equal(sops.kms[0].aws_profile, '');
    assert.deepEqual(sops.kms[0].context, { app: 'payments', env: 'prod' });
    assert.match(String(sops.kms[0].created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(String(sops.kms[0].enc), /^[A-Za-z0-9+/]+={0,2}$/, 'standard base64');
    assert.deepEqual(Object.keys(sops.azure_kv[0]), ['created_at', 'enc', 'name', 'vault_url', 'version']);
    assert.equal(sops.azure_kv[0].vault_url, w.vault.vaultUrl);
    assert.equal(sops.azure_kv[0].name, w.vaultKey.name);
    assert.equal(sops.azure_kv[0].version, w.vaultKey.version);
    assert.match(String(sops.azure_kv[0].enc), /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    assert.match(text, /^ {4}lastmodified: "/m);
    assert.deepEqual([...text.matchAll(/^ {4}([a-z_]+):/gm)].map((m) => m[1]), ['age', 'azure_kv', 'kms', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);

    const viaAge = await runWaxAsync(['decrypt', file], { env: envFor(w, ['age']) });
    assert.equal(viaAge.stdout, 'password: hunter2\n', viaAge.stderr);
    assert.equal(calls(w.kms, 'Decrypt').length, 0, 'age first: KMS is not called');

    const viaKms = await runWaxAsync(['decrypt', file], { env: envFor(w, ['kms'], { SOPS_DECRYPTION_ORDER: 'kms' }) });
    assert.equal(viaKms.stdout, 'password: hunter2\n', viaKms.stderr);
    assert.equal(calls(w.kms, 'Decrypt').length, 1, 'one KMS Decrypt call');
    assert.deepEqual(calls(w.kms, 'Decrypt')[0].encryptionContext, { app: 'payments', env: 'prod' });

    const before = w.vault.calls.filter((c) => c.op === 'decrypt').length;
    const viaVault = await runWaxAsync(['decrypt', file], { env: envFor(w, ['azure'], { SOPS_DECRYPTION_ORDER: 'azure_kv' }) });
    assert.equal(viaVault.stdout, 'password: hunter2\n', viaVault.stderr);
    assert.equal(w.vault.calls.filter((c) => c.op === 'decrypt').length - before, 1, 'one Key Vault decrypt call');
  }));

test('key groups 2 of 3 across age, KMS and Key Vault: any two decrypt; one alone fails with 128 naming the groups', () =>
  withWorld(async (w) => {
    writeFileSync(
      join(w.dir, '.sops.yaml'),
      [
        'creation_rules:',
        '  - shamir_threshold: 2',
        '    key_groups:',
        `      - age: [${w.age.recipient}]`,
        '      - kms:',
        `          - arn: ${w.kmsArn}`,
        '            context: {app: payments}',
        '      - azure_keyvault:',
        `          - {vaultUrl: ${w.vault.vaultUrl}, key: ${w.vaultKey.name}, version: ${w.vaultKey.version}}`,
        '',
      ].join('\n'),
    );
    const file = join(w.dir, 'critical.yaml');
    writeFileSync(file, 'root_token: t0p-secret\n');
    const encrypt = await runWaxAsync(['encrypt', '-i', file], { cwd: w.dir, env: envFor(w, ['kms', 'azure']) });
    assert.equal(encrypt.code, 0, encrypt.stderr);
    const sops = (parseYaml(readFileSync(file, 'utf8')) as { sops: Record<string, unknown> }).sops;
    assert.equal(sops.shamir_threshold, 2);
    assert.equal((sops.key_groups as unknown[]).length, 3);

    for (const pair of [['age', 'kms'], ['kms', 'azure'], ['age', 'azure']] as const) {
      const result = await runWaxAsync(['decrypt', file], { env: envFor(w, [...pair]) });
      assert.equal(result.code, 0, `${pair.join('+')}: ${result.stderr}`);
      assert.equal(result.stdout, 'root_token: t0p-secret\n');
    }

    w.kms.faults.accessDenied.add(w.kmsArn);
    w.vault.faults.set(w.vaultKey.name, { forbidden: true });
    const one = await runWaxAsync(['decrypt', file], { env: envFor(w, ['age', 'kms', 'azure']) });
    assert.equal(one.code, 128, one.stderr);
    assert.match(one.stderr, /1 of the 2 key groups needed/);
    assert.match(one.stderr, new RegExp(`group 1: kms.*${escape(w.kmsArn)}`));
    assert.match(one.stderr, /group 2: azure_kv.*(forbidden|Forbidden|denied|Crypto User)/);
    assert.ok(!one.stderr.includes('t0p-secret'));
  }));

test('access denied on KMS: exit 128 with the ARN and the reason; an age key in the same group is used instead', () =>
  withWorld(async (w) => {
    const file = join(w.dir, 's.yaml');
    writeFileSync(file, 'token: abc\n');
    assert.equal((await runWaxAsync(['encrypt', '-i', '--kms', w.kmsArn, '--age', w.age.recipient, file], { env: envFor(w, ['kms']) })).code, 0);
    const encrypted = readFileSync(file, 'utf8');
    w.kms.faults.accessDenied.add(w.kmsArn);
    const denied = await runWaxAsync(['decrypt', file], { env: envFor(w, ['kms']) });
    assert.equal(denied.code, 128);
    assert.match(denied.stderr, new RegExp(escape(w.kmsArn)));
    assert.match(denied.stderr, /denied|AccessDenied/i);
    assert.equal(readFileSync(file, 'utf8'), encrypted);
    const fallback = await runWaxAsync(['decrypt', file], { env: envFor(w, ['kms', 'age'], { SOPS_DECRYPTION_ORDER: 'kms,age' }) });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout, 'token: abc\n');
  }));

test('Key Vault unreachable: exit 128 naming the vault; an age key in the same group is used instead', () =>
  withWorld(async (w) => {
    const file = join(w.dir, 's.yaml');
    writeFileSync(file, 'token: abc\n');
    assert.equal((await runWaxAsync(['encrypt', '-i', '--azure-kv', w.vaultKey.url, '--age', w.age.recipient, file], { env: envFor(w, ['azure']) })).code, 0);
    w.vault.faults.set(w.vaultKey.name, { drop: true });
    const down = await runWaxAsync(['decrypt', file], { env: envFor(w, ['azure'], { SOPS_DECRYPTION_ORDER: 'azure_kv' }) });
    assert.equal(down.code, 128);
    assert.match(down.stderr, /cannot reach|unreachable/i);
    const fallback = await runWaxAsync(['decrypt', file], { env: envFor(w, ['azure', 'age'], { SOPS_DECRYPTION_ORDER: 'azure_kv,age' }) });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout, 'token: abc\n');
  }));

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
