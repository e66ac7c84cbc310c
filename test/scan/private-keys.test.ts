/**
 * Private keys the preset's rule misses (DER under 128 bytes, armoured OpenPGP secret
 * keys) are found by their structure, reported once as `credential/privatekey`, and
 * placeholders, truncated bodies, encrypted and public keys stay quiet. Keys are made at
 * run time (node's crypto) or taken from the real test keys in ../shared/fixtures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { credentialDetector } from '../../src/scan/credentials.js';
import { privateKeyBlocks } from '../../src/scan/private-keys.js';
import type { RawFinding, ScanContext } from '../../src/scan/types.js';
import { fixturePath, fixturesAvailable } from '../support/fixtures.js';

const CONTEXT: ScanContext = { options: { entropy: false }, creationRuleFor: async () => undefined, exists: () => false, read: async () => undefined };

async function detect(path: string, text: string): Promise<RawFinding[]> {
  return credentialDetector.detect({ path, content: Buffer.from(text) }, text, CONTEXT);
}

const ecP256Sec1 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
const keys: Record<string, () => string> = {
  'EC P-256 (SEC1)': ecP256Sec1,
  'EC P-256 (PKCS#8)': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'Ed25519 (PKCS#8)': () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'X25519 (PKCS#8)': () => generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'EC P-384 (SEC1)': () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string,
  'RSA 2048 (PKCS#1)': () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
  'RSA 2048 (PKCS#8)': () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
};

for (const [name, make] of Object.entries(keys)) {
  test(`${name}: one finding, credential/privatekey, at the BEGIN line, value masked`, async () => {
    const key = make().trim();
    const findings = await detect('config/tls.key', `# the service key\n${key}\n`);
    assert.equal(findings.length, 1, JSON.stringify(findings.map((f) => f.line)));
    assert.equal(findings[0]!.ruleId, 'credential/privatekey');
    assert.equal(findings[0]!.line, 2);
    assert.equal(findings[0]!.value, key);
    assert.equal(findings[0]!.message, 'plaintext private key');
  });
}

test('a key inside a JSON string (\\n escapes) and in a YAML block scalar is found', async () => {
  const key = ecP256Sec1().trim();
  const json = `{\n  "name": "acme",\n  "key": ${JSON.stringify(key)}\n}\n`;
  assert.deepEqual((await detect('account.json', json)).map((f) => [f.ruleId, f.line]), [['credential/privatekey', 3]]);
  const yaml = `tls:\n  key: |\n${key.split('\n').map((line) => `    ${line}`).join('\n')}\n`;
  assert.deepEqual((await detect('values.yaml', yaml)).map((f) => [f.ruleId, f.line]), [['credential/privatekey', 3]]);
});

test('placeholders, truncated bodies, encrypted keys, public keys and certificates are not keys', async () => {
  const real = ecP256Sec1().trim().split('\n');
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const quiet = [
    '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB...\n-----END EC PRIVATE KEY-----',
    '-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----',
    '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----',
    [...real.slice(0, -2), real[real.length - 1]].join('\n'), // one body line dropped
    real.join('\n').replace('-----END EC PRIVATE KEY-----', '-----END PRIVATE KEY-----'), // labels differ
    pair.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }) as string,
    pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUY2VydGlmaWNhdGUtbm90LWEta2V5MAoGCCqGSM49BAMC\n-----END CERTIFICATE-----',
  ];
  for (const text of quiet) {
    assert.deepEqual(privateKeyBlocks(text), [], text);
    assert.deepEqual(await detect('x.pem', `${text}\n`), [], text);
  }
});

test('privateKeyBlocks: DER must be one SEQUENCE that fills the body exactly', () => {
  const wrap = (der: Buffer) => `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----`;
  const content = Buffer.alloc(60, 7);
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x30, 60]), content]))).length, 1, 'short form');
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x30, 0x81, 60]), content]))).length, 1, 'long form, one octet');
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x30, 61]), content]))).length, 0, 'length past the end');
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x30, 59]), content]))).length, 0, 'bytes after the SEQUENCE');
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x31, 60]), content]))).length, 0, 'a SET is no key');
  assert.equal(privateKeyBlocks(wrap(Buffer.concat([Buffer.from([0x30, 20]), Buffer.alloc(20)]))).length, 0, 'too small for a key');
});

test('armoured OpenPGP secret keys from real sops test setups are found; their public keys are not', { skip: !fixturesAvailable() && 'no ../shared/fixtures' }, async () => {
  const text = readFileSync(fixturePath('getsops-sops/pgp/sops_functional_tests_key.asc'), 'utf8');
  const findings = await detect('keys/sops.asc', text);
  assert.deepEqual(findings.map((f) => [f.ruleId, f.line]), [['credential/privatekey', 1], ['credential/privatekey', 59]]);
  for (const file of ['fluxcd-kustomize-controller/internal/decryptor/testdata/pgp.asc', 'jkroepke-helm-secrets/tests/assets/gpg/private.gpg']) {
    const found = await detect('key.asc', readFileSync(fixturePath(file), 'utf8'));
    assert.deepEqual(found.map((f) => f.ruleId), ['credential/privatekey'], file);
  }
  const publicOnly = text.slice(text.indexOf('-----BEGIN PGP PUBLIC KEY BLOCK-----'));
  assert.deepEqual(await detect('public.asc', publicOnly), []);
  // Armour headers before the body, as older gpg versions write them.
  const block = text.slice(0, text.indexOf('-----END PGP PRIVATE KEY BLOCK-----') + 35);
  const withHeaders = block.replace('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n', '-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: test\n\n');
  assert.notEqual(withHeaders, block);
  assert.equal(privateKeyBlocks(withHeaders).length, 1);
  // A public key under a private label is no secret key.
  const publicBody = publicOnly.replace(/PGP PUBLIC KEY BLOCK/g, 'PGP PRIVATE KEY BLOCK');
  assert.equal(privateKeyBlocks(publicBody.slice(0, publicBody.indexOf('-----END') + 35)).length, 0);
});

test('many BEGIN lines without an END, or one long line of hits (hostile input), are scanned in one pass, not once per hit', () => {
  // Run in a child with a time limit: a quadratic scan (each BEGIN searching the rest of
  // the text for its END) would block for hours, and a blocked event loop cannot time out
  // a test. The limit catches a hang; it measures no speed.
  const module = new URL('../../src/scan/private-keys.js', import.meta.url).href;
  const key = JSON.stringify(ecP256Sec1().trim());
  const script = `
    const { privateKeyBlocks } = await import(${JSON.stringify(module)});
    const unterminated = '-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEI\\n'.repeat(100000);
    const endFarAway = '-----BEGIN EC PRIVATE KEY-----\\n'.repeat(100000) + 'x'.repeat(1000000) + '\\n' + ${key} + '\\n';
    process.stdout.write(JSON.stringify([privateKeyBlocks(unterminated).length, privateKeyBlocks(endFarAway).length]));
    // The prefilter in front of secretlint meets the same text, and one long line of hits.
    const { planScan } = await import(${JSON.stringify(new URL('../../src/scan/prefilter.js', import.meta.url).href)});
    const oneLine = ' AKIA0000000000000000 -----BEGIN PRIVATE KEY----- '.repeat(100000);
    for (const text of [unterminated, endFarAway, oneLine]) planScan(text, 'x.txt');
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.signal, null, 'the scan did not finish within 60 s');
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [0, 1], 'nothing in the unterminated text; the real key after the BEGIN lines is found');
});
