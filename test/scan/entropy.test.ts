/**
 * The high-entropy detector: off unless asked; flags quoted and assigned random-looking
 * tokens of the base64 and hex alphabets; stays quiet on words, UUIDs, named digests,
 * lockfiles, sops ciphertext and sops metadata (the real fixtures included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE64_THRESHOLD, HEX_THRESHOLD, entropyDetector, hexEntropy, shannonEntropy } from '../../src/scan/entropy.js';
import { maskSecret, type RawFinding, type ScanContext } from '../../src/scan/types.js';
import { mulberry32 } from '../../bench/generate.js';
import { fixturePath, fixturesAvailable, loadManifest } from '../support/fixtures.js';

const random = mulberry32(0xe17);
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX = '0123456789abcdef';

function randomText(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

/** A random token clear of its alphabet's threshold, so that a must-flag case never fails by chance. */
function randomToken(alphabet: string, length: number): string {
  const threshold = alphabet === HEX ? HEX_THRESHOLD : BASE64_THRESHOLD;
  // A string of n characters cannot exceed log2(n) bits per character.
  assert.ok(Math.log2(length) > threshold + 0.3, `a ${length}-character token cannot clear ${threshold}`);
  for (let attempt = 0; attempt < 100; attempt++) {
    const token = randomText(alphabet, length);
    if (shannonEntropy(token) > threshold + 0.2) return token;
  }
  throw new Error(`no ${length}-character token above ${threshold} in 100 draws`);
}

function context(entropy: boolean): ScanContext {
  return { options: { entropy }, creationRuleFor: async () => undefined, exists: () => false, read: async () => undefined };
}

async function detect(path: string, text: string, entropy = true): Promise<RawFinding[]> {
  return entropyDetector.detect({ path, content: Buffer.from(text) }, text, context(entropy));
}

test('shannon entropy in bits per character; digits-only hex pays a penalty', () => {
  assert.equal(shannonEntropy('aaaaaaaa'), 0);
  assert.equal(shannonEntropy('abababab'), 1);
  assert.equal(shannonEntropy('0123456789abcdef'), 4);
  const digits = '31415926535897932384';
  assert.ok(hexEntropy(digits) < shannonEntropy(digits));
  assert.equal(hexEntropy('deadbeef'), shannonEntropy('deadbeef'));
});

test('off unless the scan asks for it', async () => {
  const text = `const key = "${randomToken(BASE64, 40)}";\n`;
  assert.deepEqual(await detect('a.ts', text, false), []);
  assert.equal((await detect('a.ts', text, true)).length, 1);
});

test('must flag: quoted and assigned random tokens, at their line and column', async () => {
  const cases: { text: (token: string) => string; token: string; alphabet: 'base64' | 'hex' }[] = [
    { text: (t) => `const key = "${t}";`, token: randomToken(BASE64, 40), alphabet: 'base64' },
    { text: (t) => `signing_key: '${t}'`, token: randomToken(BASE64, 44), alphabet: 'base64' },
    { text: (t) => `headers.set('x', \`${t}\`)`, token: randomToken(BASE64, 64), alphabet: 'base64' },
    { text: (t) => `API_SECRET=${t}`, token: randomToken(HEX, 32), alphabet: 'hex' },
    { text: (t) => `  webhook_secret: ${t}`, token: randomToken(HEX, 20), alphabet: 'hex' },
    { text: (t) => `export TOKEN := ${t} # rotated monthly`, token: randomToken(BASE64, 48), alphabet: 'base64' },
  ];
  for (const c of cases) {
    const line = c.text(c.token);
    const findings = await detect('config/app.txt', `# settings\n\n${line}\n`);
    assert.equal(findings.length, 1, line);
    const [finding] = findings as [RawFinding];
    assert.deepEqual(
      { ruleId: finding.ruleId, line: finding.line, column: finding.column, value: finding.value },
      { ruleId: 'high-entropy', line: 3, column: line.indexOf(c.token) + 1, value: c.token },
    );
    assert.match(finding.message, new RegExp(`^high-entropy ${c.alphabet} string \\(\\d\\.\\d bits per character\\)$`));
    assert.ok(!finding.message.includes(c.token) && !finding.hint.includes(c.token));
    assert.notEqual(maskSecret(finding.value), finding.value);
  }
});

test('must not flag: words, paths, short tokens, numbers, uuids and named digests', async () => {
  const lines = [
    'const name = "ThisIsAnOrdinaryIdentifierName";',
    'import x from "src/components/navigation/HeaderBar";',
    'padding: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"',
    `short = "${randomText(BASE64, 19)}"`,
    'order_id = 31415926535897932384626',
    'id: "123e4567-e89b-12d3-a456-426614174000"',
    `sha256: ${randomToken(HEX, 64)}`,
    `  "integrity": "sha512-${randomToken(BASE64, 86)}=="`,
    `image: registry.internal/app@sha256:${randomToken(HEX, 64)}`,
    `  rev: ${randomToken(HEX, 40)}`,
    `checksum = "${randomToken(HEX, 32)}"`,
    `text without quotes or assignment ${randomToken(BASE64, 40)} stays unflagged`,
  ];
  for (const line of lines) assert.deepEqual(await detect('notes.txt', `${line}\n`), [], line);
});

test('must not flag: the public key names of a .sops.yaml', async () => {
  const text = [
    'creation_rules:',
    '  - path_regex: .*\\.enc\\.yaml$',
    '    age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
    '    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4',
  ].join('\n');
  assert.deepEqual(await detect('.sops.yaml', text), []);
});

test('must not flag: lockfiles, whatever they hold', async () => {
  const text = `"resolved": "${randomToken(BASE64, 60)}",\nkey = ${randomToken(HEX, 40)}\n`;
  for (const path of ['package-lock.json', 'web/yarn.lock', 'go.sum', 'tools/pnpm-lock.yaml', 'Cargo.lock']) {
    assert.deepEqual(await detect(path, text), [], path);
  }
  assert.equal((await detect('web/package.json', text)).length, 2, 'the same text elsewhere is flagged');
});

test('must not flag: sops ciphertext and metadata, while a plaintext token beside them is flagged', async () => {
  const enc = (data: string) => `ENC[AES256_GCM,data:${data},iv:${randomText(BASE64, 43)}=,tag:${randomText(BASE64, 22)}==,type:str]`;
  const leftover = randomToken(BASE64, 40);
  const text = [
    `password: ${enc(randomToken(BASE64, 40))}`,
    `leftover_unencrypted: "${leftover}"`,
    'sops:',
    '    age:',
    '        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
    '          enc: |',
    '            -----BEGIN AGE ENCRYPTED FILE-----',
    `            ${randomToken(BASE64, 64)}`,
    '            -----END AGE ENCRYPTED FILE-----',
    '    lastmodified: "2024-05-01T10:00:00Z"',
    `    mac: ${enc(randomToken(BASE64, 88))}`,
    '    version: 3.9.0',
  ].join('\n');
  const findings = await detect('secret.enc.yaml', text);
  assert.deepEqual(
    findings.map((f) => [f.line, f.value]),
    [[2, leftover]],
  );
});

test('the sops-encrypted fixtures raise no entropy finding, though their ciphertext alone would', { skip: !fixturesAvailable() && 'no ../shared/fixtures' }, async () => {
  const cases = loadManifest();
  assert.ok(cases.length >= 51);
  let flaggedWithoutSopsShape = 0;
  for (const c of cases) {
    const text = readFileSync(fixturePath(c.path), 'utf8');
    assert.deepEqual(await detect(c.path, text), [], c.path);
    // The same text with the ENC marker and the metadata keys renamed is plain random text.
    const disguised = text.replaceAll('ENC[AES256_GCM,', 'XNC[AES256_GCM,').replace(/sops/g, 'xops');
    if ((await detect(c.path, disguised)).length > 0) flaggedWithoutSopsShape++;
  }
  assert.ok(flaggedWithoutSopsShape >= cases.length / 2, `only ${flaggedWithoutSopsShape} fixtures would be flagged without the sops skip`);
});
