/**
 * The Azure Key Vault provider against the wire-level fake vault (test/fakes), through
 * the real CLI bundle and the real SDK over TLS. The fake's certificate reaches wax only
 * through NODE_EXTRA_CA_CERTS, which Node reads at start-up, so every case runs wax (or
 * a small library script) as a child process; TLS verification is never turned off.
 *
 * The round trips also run against a real vault when WAX_TEST_AZURE_KV_KEY_URL names a
 * key (credentials from the ambient DefaultAzureCredential: `az login`, AZURE_* ...).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ExitCode, KeyFormatError } from '../../src/errors.js';
import { azureKeyVaultProvider as provider, parseKeyUrl } from '../../src/providers/azure-keyvault.js';
import { ageKeypair, assertNoneOf, makeTempDir, removeTempDir, testEnvironment, type RunResult } from '../support/cli.js';
import { runWaxAsync } from '../support/cli-async.js';
import { repoRoot } from '../support/paths.js';
import { startFakeKeyVault, type FakeCall, type FakeKeyVault } from '../fakes/azure-keyvault.js';

const PLAINTEXT = 'database:\n    password: hunter2\n    user: admin\napi_token: s3cr3t-t0k3n\n';
const SECRETS = ['hunter2', 's3cr3t-t0k3n'];
const REAL_KEY_URL = process.env.WAX_TEST_AZURE_KV_KEY_URL;
const ctx = { env: {} };

type Env = Record<string, string | undefined>;

/** Runs wax in `dir` with the vault's environment; never the developer's age keys. */
function wax(dir: string, args: string[], env: Env = {}): Promise<RunResult> {
  return runWaxAsync(args, { cwd: dir, env: { XDG_CONFIG_HOME: '/nonexistent', ...env } });
}

function withDir(body: (dir: string) => Promise<void>) {
  return async () => {
    const dir = makeTempDir('wax-azkv-');
    try {
      await body(dir);
    } finally {
      removeTempDir(dir);
    }
  };
}

function writeSecret(dir: string, name = 'secret.yaml'): string {
  writeFileSync(join(dir, name), PLAINTEXT);
  return name;
}

type Sops = { azure_kv?: Record<string, unknown>[]; key_groups?: { azure_kv?: Record<string, unknown>[]; age?: unknown[] }[] };

function sopsOf(dir: string, name: string): Sops {
  return (parseYaml(readFileSync(join(dir, name), 'utf8')) as { sops: Sops }).sops;
}

async function ok(result: Promise<RunResult>): Promise<RunResult> {
  const r = await result;
  assert.equal(r.code, 0, r.stderr);
  return r;
}

/** Exit code first, so that a must-fail case can never pass by failing differently. */
async function fails(result: Promise<RunResult>, code: number, ...expected: (string | RegExp)[]): Promise<RunResult> {
  const r = await result;
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  for (const text of expected) {
    if (typeof text === 'string') assert.ok(r.stderr.includes(text), `stderr lacks ${JSON.stringify(text)}: ${r.stderr}`);
    else assert.match(r.stderr, text);
  }
  assertNoneOf(r.stdout + r.stderr, SECRETS);
  return r;
}

/** The calls a step made, without the status of the answers that are compared elsewhere. */
function callsSince(fake: FakeKeyVault, mark: number): Omit<FakeCall, 'status'>[] {
  return fake.calls.slice(mark).map(({ status: _status, ...rest }) => rest);
}

/* ------------------------------------------------ round trips (fake, and a real vault) */

interface Target {
  keyUrl: string;
  env: Env;
  /** Call-log checks where the vault is the fake. */
  fake?: FakeKeyVault;
}

function roundTrips(label: string, skip: string | false, target: () => Target) {
  describe(`round trips (${label})`, { skip }, () => {
    test('wax encrypt --azure-kv URL, then decrypt', withDir(async (dir) => {
      const { keyUrl, env, fake } = target();
      const mark = fake?.calls.length ?? 0;
      const encrypted = await ok(wax(dir, ['encrypt', '--azure-kv', keyUrl, writeSecret(dir)], env));
      assertNoneOf(encrypted.stdout, SECRETS);
      writeFileSync(join(dir, 'sealed.yaml'), encrypted.stdout);
      const decrypted = await ok(wax(dir, ['decrypt', 'sealed.yaml'], env));
      assert.equal(decrypted.stdout, PLAINTEXT);
      if (fake) {
        const { name, version } = parseKeyUrl(keyUrl);
        assert.deepEqual(callsSince(fake, mark), [
          { op: 'encrypt', name, version, alg: 'RSA-OAEP-256' },
          { op: 'decrypt', name, version, alg: 'RSA-OAEP-256' },
        ]);
      }
    }));

    test('.sops.yaml azure_keyvault (flat string) and SOPS_AZURE_KEYVAULT_URLS', withDir(async (dir) => {
      const { keyUrl, env } = target();
      writeFileSync(join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: \\.yaml$\n    azure_keyvault: ${keyUrl}\n`);
      await ok(wax(dir, ['encrypt', '-i', writeSecret(dir)], env));
      assert.equal(sopsOf(dir, 'secret.yaml').azure_kv?.length, 1);
      assert.equal((await ok(wax(dir, ['decrypt', 'secret.yaml'], env))).stdout, PLAINTEXT);

      writeFileSync(join(dir, 'other.json'), '{"token": "s3cr3t-t0k3n"}\n');
      await ok(wax(dir, ['encrypt', '-i', 'other.json'], { ...env, SOPS_AZURE_KEYVAULT_URLS: keyUrl }));
      assert.deepEqual(JSON.parse((await ok(wax(dir, ['decrypt', 'other.json'], env))).stdout), { token: 's3cr3t-t0k3n' });
    }));

    test('.sops.yaml key_groups with {vaultUrl, key, version} objects, next to an age group', withDir(async (dir) => {
      const { keyUrl, env } = target();
      const ref = parseKeyUrl(keyUrl);
      const age = ageKeypair(dir);
      writeFileSync(
        join(dir, '.sops.yaml'),
        ['creation_rules:', '  - key_groups:', `      - age: [${age.recipient}]`, '      - azure_keyvault:', `          - {vaultUrl: "${ref.vaultUrl}/", key: ${ref.name}, version: "${ref.version}"}`, ''].join('\n'),
      );
      await ok(wax(dir, ['encrypt', '-i', writeSecret(dir)], env));
      const sops = sopsOf(dir, 'secret.yaml');
      assert.equal(sops.key_groups?.length, 2);
      const [entry] = sops.key_groups?.[1].azure_kv ?? [];
      assert.equal(entry.vault_url, ref.vaultUrl, 'the trailing slash of vaultUrl is not stored');
      assert.equal(entry.name, ref.name);
      assert.match(String(entry.version), /^[0-9a-f]{32}$/);
      if (ref.version) assert.equal(entry.version, ref.version);
      // Both groups are needed (no threshold): the 33-byte share goes through the vault.
      assert.equal((await ok(wax(dir, ['decrypt', 'secret.yaml'], { ...env, SOPS_AGE_KEY_FILE: age.keyFile }))).stdout, PLAINTEXT);
    }));
  });
}

/* ------------------------------------------------ the fake vault */

let fake: FakeKeyVault;
let fakeEnv: Env;

before(async () => {
  fake = await startFakeKeyVault();
  fakeEnv = fake.env;
});
after(() => fake.close());

roundTrips('fake vault', false, () => ({ keyUrl: fake.createKey('round-trip').url, env: fakeEnv, fake }));

roundTrips(
  'real vault',
  REAL_KEY_URL ? false : 'set WAX_TEST_AZURE_KV_KEY_URL=https://<vault>.vault.azure.net/keys/<name>[/<version>] (with az login or AZURE_* credentials) to run these against Azure',
  () => ({ keyUrl: REAL_KEY_URL!, env: { WAX_AZURE_ACCESS_TOKEN: undefined } }),
);

describe('fake vault: protocol and metadata', () => {
  test('the first request meets the 401 bearer challenge, then carries the token', withDir(async (dir) => {
    const key = fake.createKey('challenge');
    const before = fake.challenges.length;
    await ok(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], fakeEnv));
    assert.deepEqual(fake.challenges.slice(before), [{ method: 'POST', path: `/keys/challenge/${key.version}/encrypt` }]);
    assert.equal(fake.calls.at(-1)?.status, 200);
  }));

  test('metadata: the azure_kv entry has exactly the fields sops 3.13 writes', withDir(async (dir) => {
    const key = fake.createKey('metadata');
    const start = Math.floor(Date.now() / 1000);
    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, writeSecret(dir)], fakeEnv));
    const end = Math.ceil(Date.now() / 1000);
    const sops = sopsOf(dir, 'secret.yaml');
    assert.equal(sops.key_groups, undefined);
    assert.equal(sops.azure_kv?.length, 1);
    const entry = sops.azure_kv![0];
    assert.deepEqual(Object.keys(entry), ['created_at', 'enc', 'name', 'vault_url', 'version']);
    assert.equal(entry.name, 'metadata');
    assert.equal(entry.vault_url, fake.vaultUrl);
    assert.match(String(entry.vault_url), /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(entry.version, key.version);
    // base64url without padding of a 2048-bit RSA-OAEP ciphertext: 256 bytes, 342 characters.
    assert.match(String(entry.enc), /^[A-Za-z0-9_-]{342}$/);
    assert.equal(Buffer.from(String(entry.enc), 'base64url').length, 256);
    assert.match(String(entry.created_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const created = Date.parse(String(entry.created_at)) / 1000;
    assert.ok(created >= start && created <= end, `created_at ${entry.created_at} is not the time of the run`);
    assert.equal((await ok(wax(dir, ['decrypt', 'secret.yaml'], fakeEnv))).stdout, PLAINTEXT);
  }));

  test('bulk: exactly one encrypt call per file and one decrypt call per file', withDir(async (dir) => {
    const key = fake.createKey('bulk');
    const files = ['a.yaml', 'b.yaml', 'c.yaml'].map((name) => writeSecret(dir, name));
    const mark = fake.calls.length;
    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, ...files], fakeEnv));
    assert.deepEqual(callsSince(fake, mark).map((c) => c.op), ['encrypt', 'encrypt', 'encrypt']);
    const mid = fake.calls.length;
    await ok(wax(dir, ['decrypt', '-i', ...files], fakeEnv));
    assert.deepEqual(callsSince(fake, mid).map((c) => c.op), ['decrypt', 'decrypt', 'decrypt']);
    for (const name of files) assert.equal(readFileSync(join(dir, name), 'utf8'), PLAINTEXT);
  }));

  test('version omitted: the current version is looked up and pinned; after rotation the old file decrypts with it', withDir(async (dir) => {
    const key = fake.createKey('rotating');
    const versionless = `${fake.vaultUrl}/keys/rotating`;
    let mark = fake.calls.length;
    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', versionless, writeSecret(dir, 'old.yaml')], fakeEnv));
    assert.deepEqual(callsSince(fake, mark), [
      { op: 'get', name: 'rotating', version: '' },
      { op: 'encrypt', name: 'rotating', version: key.version, alg: 'RSA-OAEP-256' },
    ]);
    assert.equal(sopsOf(dir, 'old.yaml').azure_kv?.[0].version, key.version);

    const next = fake.rotateKey('rotating');
    assert.notEqual(next, key.version);
    mark = fake.calls.length;
    assert.equal((await ok(wax(dir, ['decrypt', 'old.yaml'], fakeEnv))).stdout, PLAINTEXT);
    assert.deepEqual(callsSince(fake, mark), [{ op: 'decrypt', name: 'rotating', version: key.version, alg: 'RSA-OAEP-256' }]);

    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', versionless, writeSecret(dir, 'new.yaml')], fakeEnv));
    assert.equal(sopsOf(dir, 'new.yaml').azure_kv?.[0].version, next);
    mark = fake.calls.length;
    assert.equal((await ok(wax(dir, ['decrypt', 'new.yaml'], fakeEnv))).stdout, PLAINTEXT);
    assert.deepEqual(callsSince(fake, mark), [{ op: 'decrypt', name: 'rotating', version: next, alg: 'RSA-OAEP-256' }]);
  }));
});

describe('fake vault: failures people meet', () => {
  test('a wrong token: exit 128 with a clear message, the token never shown', withDir(async (dir) => {
    const key = fake.createKey('wrong-token');
    const wrong = { ...fakeEnv, WAX_AZURE_ACCESS_TOKEN: 'not-the-vault-token-0123456789' };
    const rejected = fake.rejectedTokens;
    const r = await fails(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], wrong), ExitCode.CouldNotRetrieveKey, key.url, '401 Unauthorized', 'rejected the access token');
    assert.ok(!r.stderr.includes('not-the-vault-token'), 'the token appears in the message');
    assert.ok(!r.stderr.includes(fake.token));
    assert.ok(fake.rejectedTokens > rejected);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');

    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, 'secret.yaml'], fakeEnv));
    await fails(wax(dir, ['decrypt', 'secret.yaml'], wrong), ExitCode.CouldNotRetrieveKey, `group 0: azure_kv: `, key.url, '401 Unauthorized');
  }));

  test('forbidden: exit 128 naming the key URL and the role to check; the file is untouched', withDir(async (dir) => {
    const key = fake.createKey('forbidden');
    const name = writeSecret(dir);
    fake.faults.set('forbidden', { forbidden: true });
    try {
      const r = await fails(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, name], fakeEnv), ExitCode.CouldNotRetrieveKey, key.url, '403 Forbidden', 'Key Vault Crypto User role or encrypt/decrypt access policies');
      assert.equal(r.stderr.trim().split('\n').length, 1, 'the CR LF lines of the service message must not leak through');
      assert.equal(readFileSync(join(dir, name), 'utf8'), PLAINTEXT);

      fake.faults.delete('forbidden');
      await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, name], fakeEnv));
      const sealed = readFileSync(join(dir, name), 'utf8');
      fake.faults.set('forbidden', { forbidden: true });
      await fails(wax(dir, ['decrypt', '-i', name], fakeEnv), ExitCode.CouldNotRetrieveKey, `group 0: azure_kv: `, key.url, 'Key Vault Crypto User');
      assert.equal(readFileSync(join(dir, name), 'utf8'), sealed);
    } finally {
      fake.faults.delete('forbidden');
    }
  }));

  test('an age recipient in the same group decrypts when the vault is unreachable', withDir(async (dir) => {
    const own = await startFakeKeyVault();
    try {
      const key = own.createKey('closing');
      const age = ageKeypair(dir);
      await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, '--age', age.recipient, writeSecret(dir)], own.env));
      const sops = sopsOf(dir, 'secret.yaml') as Sops & { age?: unknown[] };
      assert.equal(sops.azure_kv?.length, 1);
      assert.equal(sops.age?.length, 1);
      await own.close();
      // Key Vault first, so the fallback is really exercised.
      const order = { ...own.env, SOPS_DECRYPTION_ORDER: 'azure_kv,age' };
      const r = await ok(wax(dir, ['decrypt', 'secret.yaml'], { ...order, SOPS_AGE_KEY_FILE: age.keyFile }));
      assert.equal(r.stdout, PLAINTEXT);
      const host = new URL(own.vaultUrl).host;
      await fails(wax(dir, ['decrypt', 'secret.yaml'], order), ExitCode.CouldNotRetrieveKey, `cannot reach ${host}`, 'ECONNREFUSED', 'no matching identity available');
    } finally {
      await own.close();
    }
  }));

  test('connections cut before an answer: exit 128, cannot reach the vault', withDir(async (dir) => {
    const key = fake.createKey('dropping');
    fake.faults.set('dropping', { drop: true });
    try {
      await fails(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], fakeEnv), ExitCode.CouldNotRetrieveKey, `cannot reach ${new URL(fake.vaultUrl).host}`, 'ECONNRESET');
    } finally {
      fake.faults.delete('dropping');
    }
  }));

  test('a disabled key: decrypt fails with exit 128; a versionless encrypt refuses the disabled version', withDir(async (dir) => {
    const key = fake.createKey('disabled');
    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, writeSecret(dir)], fakeEnv));
    fake.faults.set('disabled', { disabled: true });
    try {
      await fails(wax(dir, ['decrypt', 'secret.yaml'], fakeEnv), ExitCode.CouldNotRetrieveKey, `${key.url} is disabled`);
      const mark = fake.calls.length;
      await fails(wax(dir, ['encrypt', '--azure-kv', `${fake.vaultUrl}/keys/disabled`, writeSecret(dir, 'new.yaml')], fakeEnv), ExitCode.CouldNotRetrieveKey, `${key.url} is disabled`);
      assert.deepEqual(callsSince(fake, mark).map((c) => c.op), ['get'], 'nothing is encrypted to a disabled version');
    } finally {
      fake.faults.delete('disabled');
    }
  }));

  test('throttled once, then answered: the SDK honours Retry-After and the encrypt succeeds', withDir(async (dir) => {
    const key = fake.createKey('throttled');
    fake.faults.set('throttled', { throttle: 1, retryAfterSeconds: 1 });
    const mark = fake.calls.length;
    const started = Date.now();
    await ok(wax(dir, ['encrypt', '-i', '--azure-kv', key.url, writeSecret(dir)], fakeEnv));
    assert.ok(Date.now() - started >= 1000, 'the retry waited for Retry-After');
    assert.deepEqual(fake.calls.slice(mark).map((c) => [c.op, c.status]), [['encrypt', 429], ['encrypt', 200]]);
    assert.equal((await ok(wax(dir, ['decrypt', 'secret.yaml'], fakeEnv))).stdout, PLAINTEXT);
  }));

  test('throttled past the retries: exit 128 after four attempts', withDir(async (dir) => {
    const key = fake.createKey('throttled-hard');
    fake.faults.set('throttled-hard', { throttle: 100, retryAfterSeconds: 0 });
    try {
      const mark = fake.calls.length;
      await fails(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], fakeEnv), ExitCode.CouldNotRetrieveKey, key.url, '429 Throttled', 'retries ran out');
      assert.deepEqual(fake.calls.slice(mark).map((c) => c.status), [429, 429, 429, 429]);
    } finally {
      fake.faults.delete('throttled-hard');
    }
  }));

  test('a key that does not exist: exit 128, not found', withDir(async (dir) => {
    const url = `${fake.vaultUrl}/keys/missing/0123456789abcdef0123456789abcdef`;
    await fails(wax(dir, ['encrypt', '--azure-kv', url, writeSecret(dir)], fakeEnv), ExitCode.CouldNotRetrieveKey, `${url} was not found (404 KeyNotFound)`);
    await fails(wax(dir, ['encrypt', '--azure-kv', `${fake.vaultUrl}/keys/missing`, 'secret.yaml'], fakeEnv), ExitCode.CouldNotRetrieveKey, '404 KeyNotFound');
  }));

  test('a key that does not permit encrypt, and a key that is not RSA: exit 128', withDir(async (dir) => {
    const decryptOnly = fake.createKey('decrypt-only', { keyOps: ['decrypt', 'unwrapKey'] });
    const message = 'does not permit encrypt; use an RSA key whose permitted operations include encrypt and decrypt';
    // With a version, the service refuses; without one, the SDK checks the fetched key_ops first.
    await fails(wax(dir, ['encrypt', '--azure-kv', decryptOnly.url, writeSecret(dir)], fakeEnv), ExitCode.CouldNotRetrieveKey, message);
    await fails(wax(dir, ['encrypt', '--azure-kv', `${fake.vaultUrl}/keys/decrypt-only`, 'secret.yaml'], fakeEnv), ExitCode.CouldNotRetrieveKey, message);
    const ec = fake.createKey('elliptic', { kty: 'EC' });
    await fails(wax(dir, ['encrypt', '--azure-kv', ec.url, 'secret.yaml'], fakeEnv), ExitCode.CouldNotRetrieveKey, '400 BadParameter', 'it must be an RSA key');
  }));

  test('malformed key URLs and key_groups entries: exit 1 before any vault call', withDir(async (dir) => {
    const name = writeSecret(dir);
    const mark = fake.calls.length + fake.challenges.length;
    for (const url of [
      'http://myvault.vault.azure.net/keys/k/v',
      'https://myvault.vault.azure.net/secrets/k',
      'https://myvault.vault.azure.net/keys/k/v/extra',
      'https://myvault.vault.azure.net/keys/',
      'myvault.vault.azure.net/keys/k',
    ]) {
      await fails(wax(dir, ['encrypt', '--azure-kv', url, name], fakeEnv), ExitCode.Generic, 'invalid Azure Key Vault key URL');
    }
    writeFileSync(join(dir, '.sops.yaml'), 'creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - {vaultUrl: "https://v.vault.azure.net/keys", key: k}\n');
    await fails(wax(dir, ['encrypt', name], fakeEnv), ExitCode.Generic, 'invalid azure_keyvault entry in key_groups');
    assert.equal(fake.calls.length + fake.challenges.length, mark);
    assert.equal(readFileSync(join(dir, name), 'utf8'), PLAINTEXT);
  }));

  test('TLS: the self-signed vault is trusted only through NODE_EXTRA_CA_CERTS', withDir(async (dir) => {
    const key = fake.createKey('tls');
    await fails(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], { ...fakeEnv, NODE_EXTRA_CA_CERTS: undefined }), ExitCode.CouldNotRetrieveKey, 'is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)', 'NODE_EXTRA_CA_CERTS');
  }));

  test('challenge: a vault outside Azure domains needs WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION', withDir(async (dir) => {
    const key = fake.createKey('challenge-domain');
    await fails(
      wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], { ...fakeEnv, WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION: undefined }),
      ExitCode.CouldNotRetrieveKey,
      'is not an Azure Key Vault host',
      'WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION=true',
    );
  }));

  test('no credentials anywhere: exit 128 naming WAX_AZURE_ACCESS_TOKEN', withDir(async (dir) => {
    const key = fake.createKey('no-credentials');
    // Nothing the credential chain could find: no AZURE_* variables, no az, no home.
    const bare: Env = { ...fakeEnv, WAX_AZURE_ACCESS_TOKEN: undefined, HOME: dir, PATH: dirname(process.execPath) };
    for (const name of Object.keys(testEnvironment())) if (/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(name)) bare[name] = undefined;
    await fails(wax(dir, ['encrypt', '--azure-kv', key.url, writeSecret(dir)], bare), ExitCode.CouldNotRetrieveKey, 'no Azure credentials found', 'WAX_AZURE_ACCESS_TOKEN');
  }));
});

/* ------------------------------------------------ the library, without the CLI */

describe('library', () => {
  test('parseRecipient, recipientFromConfig, describe and recipientFromEntry agree on the key URL', () => {
    const url = 'https://myvault.vault.azure.net/keys/sops-key/0123456789abcdef0123456789abcdef';
    assert.equal(provider.parseRecipient(url, ctx).id, url);
    assert.equal(provider.parseRecipient('https://myvault.vault.azure.net/keys/sops-key', ctx).id, 'https://myvault.vault.azure.net/keys/sops-key');
    assert.equal(provider.parseRecipient('https://myvault.vault.azure.net/keys/sops-key/', ctx).id, 'https://myvault.vault.azure.net/keys/sops-key');
    assert.equal(provider.recipientFromConfig!({ vaultUrl: 'https://myvault.vault.azure.net/', key: 'sops-key', version: '0123456789abcdef0123456789abcdef' }, ctx).id, url);
    assert.equal(provider.recipientFromConfig!({ vaultUrl: 'https://myvault.vault.azure.net', key: 'sops-key', version: null }, ctx).id, 'https://myvault.vault.azure.net/keys/sops-key');
    const entry = { type: 'azure_kv' as const, fields: { created_at: '2026-01-01T00:00:00Z', enc: 'AAAA', name: 'sops-key', vault_url: 'https://myvault.vault.azure.net', version: '0123456789abcdef0123456789abcdef' } };
    assert.equal(provider.describe(entry), url);
    assert.equal(provider.recipientFromEntry(entry, ctx).id, url);
    assert.deepEqual(parseKeyUrl('https://v.vault.azure.net:8443/keys/k/v'), { vaultUrl: 'https://v.vault.azure.net:8443', name: 'k', version: 'v' });
  });

  test('malformed URLs and config objects throw KeyFormatError', () => {
    for (const text of ['', 'https://v.vault.azure.net', 'https://v.vault.azure.net/keys', 'https://v.vault.azure.net/keys/k/v/w', 'http://v/keys/k']) {
      assert.throws(() => provider.parseRecipient(text, ctx), KeyFormatError, text);
    }
    for (const value of [{}, { vaultUrl: 'https://v.vault.azure.net' }, { vaultUrl: 'v.vault.azure.net', key: 'k' }, { vaultUrl: 'https://v.vault.azure.net/x', key: 'k' }, { vaultUrl: 'https://v.vault.azure.net', key: 'a/b' }]) {
      assert.throws(() => provider.recipientFromConfig!(value, ctx), KeyFormatError, JSON.stringify(value));
    }
  });

  test('importing the provider loads no Azure SDK; the first wrap does', withDir(async (dir) => {
    // A resolve hook that refuses @azure/*: importing and parsing must still work.
    const hook = `export async function resolve(specifier, context, next) { if (specifier.startsWith('@azure/')) throw new Error('blocked ' + specifier); return next(specifier, context); }`;
    const script = [
      `import { register } from 'node:module';`,
      `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`,
      `const { azureKeyVaultProvider } = await import(${JSON.stringify(providerUrl())});`,
      `const recipient = azureKeyVaultProvider.parseRecipient('https://v.vault.azure.net/keys/k/v', { env: {} });`,
      `let wrapError = '';`,
      `try { await recipient.wrap(new Uint8Array(32)); } catch (error) { wrapError = error.name + ': ' + error.message; }`,
      `console.log(JSON.stringify({ id: recipient.id, wrapError }));`,
    ].join('\n');
    const out = JSON.parse(await runScript(dir, script, {})) as { id: string; wrapError: string };
    assert.equal(out.id, 'https://v.vault.azure.net/keys/k/v');
    assert.match(out.wrapError, /^MasterKeyError: .*blocked @azure\/keyvault-keys/);
  }));

  test('wrap then unwrap returns the data key; a damaged entry throws MasterKeyError, never null', withDir(async (dir) => {
    const key = fake.createKey('library');
    const script = [
      `import { randomBytes } from 'node:crypto';`,
      `const { azureKeyVaultProvider: p } = await import(${JSON.stringify(providerUrl())});`,
      `const ctx = { env: process.env };`,
      `const dataKey = randomBytes(32);`,
      `const entry = await p.recipientFromConfig({ vaultUrl: ${JSON.stringify(fake.vaultUrl)}, key: 'library', version: '' }, ctx).wrap(dataKey);`,
      `const back = await p.unwrap(entry, ctx);`,
      `const outcome = async (fields) => { try { const r = await p.unwrap({ ...entry, fields: { ...entry.fields, ...fields } }, ctx); return r === null ? 'null' : 'bytes'; } catch (e) { return e.name + ': ' + e.message; } };`,
      `const flipped = entry.fields.enc.startsWith('A') ? 'B' + entry.fields.enc.slice(1) : 'A' + entry.fields.enc.slice(1);`,
      `console.log(JSON.stringify({`,
      `  same: Buffer.compare(Buffer.from(back), dataKey) === 0,`,
      `  fields: Object.keys(entry.fields).sort(), version: entry.fields.version,`,
      `  badBase64: await outcome({ enc: 'not base64url!' }), tampered: await outcome({ enc: flipped }), noVersion: await outcome({ version: '' }),`,
      `}));`,
    ].join('\n');
    const out = JSON.parse(await runScript(dir, script, fakeEnv)) as Record<string, unknown>;
    assert.equal(out.same, true);
    assert.deepEqual(out.fields, ['created_at', 'enc', 'name', 'vault_url', 'version']);
    assert.equal(out.version, key.version);
    assert.match(String(out.badBase64), /^MasterKeyError: .* is not base64url/);
    assert.match(String(out.tampered), /^MasterKeyError: Azure Key Vault refused decrypt with .* \(400 BadParameter/);
    assert.match(String(out.noVersion), /^MasterKeyError: azure_kv entry .* lacks a valid vault_url, name or version/);
  }));
});

function providerUrl(): string {
  return pathToFileURL(join(repoRoot(), 'build', 'src', 'providers', 'azure-keyvault.js')).href;
}

/** Runs an ES module script in a fresh node (so NODE_EXTRA_CA_CERTS applies) and returns stdout. */
function runScript(dir: string, source: string, env: Env): Promise<string> {
  const file = join(dir, 'script.mjs');
  writeFileSync(file, source);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [file], { cwd: dir, env: testEnvironment(env), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`script failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}
