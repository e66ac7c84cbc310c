/**
 * The credential detector: every kind of secret the secretlint preset knows is found at
 * its value's line and column under `credential/<rule>`; the fast path in front of
 * secretlint finds exactly what plain secretlint finds on the whole file; sops ciphertext
 * and metadata are never reported, in the real sops files of ../shared/fixtures included.
 *
 * The fake tokens are generated from a fixed seed at run time, so that no token-shaped
 * literal sits in this source file for other scanners to trip over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { rules as presetRules } from '@secretlint/secretlint-rule-preset-recommend';
import { CREDENTIAL_HINT, MESSAGE_DESCRIPTIONS, credentialDetector, describeMessage, findCredentials, secretlint, shortRuleName, type CredentialHit } from '../../src/scan/credentials.js';
import { PRESET_ANCHORS, planScan } from '../../src/scan/prefilter.js';
import { TextIndex } from '../../src/scan/text-index.js';
import { isInside, sopsRegions } from '../../src/scan/sops-regions.js';
import { maskSecret, type RawFinding, type ScanContext } from '../../src/scan/types.js';
import { mulberry32 } from '../../bench/generate.js';
import { fixturePath, fixturesAvailable, loadManifest } from '../support/fixtures.js';

// ---------------------------------------------------------------------------------------
// Fake tokens

const random = mulberry32(0x5eed);
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const URL_SAFE = ALNUM + '_-';
const BASE64 = ALNUM + '+/';
const LOWER_HEX = '0123456789abcdef';

function pick(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

/** Random text that ends in a letter or digit, so that `\b` and lookaheads after it hold. */
function body(alphabet: string, length: number): string {
  return pick(alphabet, length - 1) + pick(ALNUM, 1);
}

function pem(label: string, magic: string): string {
  const base64 = magic + pick(BASE64, 1200 - magic.length);
  const lines = base64.match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----`;
}

function onePasswordToken(): string {
  let json = JSON.stringify({
    email: `${pick(LOWER, 13)}@1passwordserviceaccounts.lcl`,
    muk: { alg: 'A256GCM', ext: true, k: pick(URL_SAFE, 43), key_ops: ['encrypt', 'decrypt'], kty: 'oct', kid: 'mp' },
    secretKey: `A3-${pick(UPPER + DIGITS, 6)}-${pick(UPPER + DIGITS, 6)}`,
    srpX: pick(LOWER_HEX, 64),
  });
  // A length of 3n+1 leaves the closing brace alone in the last base64 group: "fQ==".
  while (json.length % 3 !== 1) json = json.replace('{', '{ ');
  return `ops_${Buffer.from(json).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------
// One sample per message id of the preset (the p12 key file is binary and never scanned)

interface Sample {
  readonly name: string;
  readonly rule: string;
  readonly messageId: string;
  /** The whole line, or several lines, that carry the secret. */
  readonly text: string;
  /** What the finding's value must be. */
  readonly value: string;
  readonly path: string;
}

const rule = (name: string) => `@secretlint/secretlint-rule-${name}`;

function sample(name: string, ruleName: string, messageId: string, value: string, around: { before?: string; after?: string; path?: string } = {}): Sample {
  const { before = 'value: "', after = before.endsWith('"') ? '"' : '', path = 'deploy/settings.txt' } = around;
  return { name, rule: rule(ruleName), messageId, text: `${before}${value}${after}`, value, path };
}

function gcpKeyFile(): Sample {
  const key = pem('PRIVATE KEY', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC').replace(/\n/g, '\\n') + '\\n';
  const text = [
    '{',
    '  "type": "service_account",',
    '  "project_id": "billing-prod-4711",',
    `  "private_key_id": "${pick(LOWER_HEX, 40)}",`,
    `  "private_key": "${key}",`,
    '  "client_email": "billing@billing-prod-4711.iam.gserviceaccount.com"',
    '}',
  ].join('\n');
  return { name: 'gcp service account key file', rule: rule('gcp'), messageId: 'PrivateKeyJSON', text, value: key, path: 'keys/billing-sa.json' };
}

function buildSamples(): Sample[] {
  const mongo = `mongodb+srv://svc_orders:${body(ALNUM, 20)}@orders.ab12c.mongodb.net/orders?retryWrites=true&w=majority`;
  const oauthToken = pick(LOWER_HEX, 40);
  const slackWebhook = `https://hooks.slack.com/services/T${pick(UPPER + DIGITS, 8)}/B${pick(UPPER + DIGITS, 10)}/${pick(ALNUM, 24)}`;
  return [
    sample('aws access key id', 'aws', 'AWSAccessKeyID', `AKIA${pick(UPPER + DIGITS, 16)}`, { before: 'aws_access_key_id = ' }),
    sample('aws secret access key', 'aws', 'AWSSecretAccessKey', body(BASE64, 40), { before: 'aws_secret_access_key = "' }),
    sample('aws account id', 'aws', 'AWSAccountID', pick('123456789', 12), { before: 'aws_account_id: ' }),
    gcpKeyFile(),
    sample('rsa private key', 'privatekey', 'PrivateKey', pem('RSA PRIVATE KEY', 'MIIEowIBAAKCAQEA'), { before: '' }),
    sample('openssh private key', 'privatekey', 'PrivateKey', pem('OPENSSH PRIVATE KEY', 'b3BlbnNzaC1rZXktdjEAAAAA'), { before: '' }),
    sample('npm access token', 'npm', 'NPM_ACCESS_TOKEN', `npm_${pick(ALNUM, 36)}`, { before: 'NPM_TOKEN=' }),
    sample('npmrc auth token', 'npm', 'Npmrc_authToken', `${pick(LOWER_HEX, 8)}-${pick(LOWER_HEX, 4)}-${pick(LOWER_HEX, 4)}-${pick(LOWER_HEX, 12)}`, {
      before: '//registry.npmjs.org/:_authToken=',
      path: '.npmrc',
    }),
    sample('token in a git url of package.json', 'npm', 'PackageJSON_xOauthToken', oauthToken, {
      before: '  "repository": "git+https://',
      after: ':x-oauth-basic@github.com/acme/api.git",',
      path: 'package.json',
    }),
    sample('basic auth url', 'basicauth', 'BasicAuth', `https://deploy:${body(ALNUM, 16)}@git.corp.example.net`, { before: 'remote = ', after: '/acme/app.git' }),
    sample('slack bot token', 'slack', 'SLACK_TOKEN', `xoxb-${pick(DIGITS, 12)}-${pick(DIGITS, 13)}-${pick(ALNUM, 24)}`),
    sample('slack webhook', 'slack', 'IncomingWebhook', slackWebhook, { before: 'webhook: ' }),
    sample('sendgrid key', 'sendgrid', 'SENDGRID_KEY', `SG.${pick(ALNUM, 22)}.${pick(ALNUM, 43)}`),
    sample('shopify token', 'shopify', 'SHOPIFY_KEY', `shpat_${pick(ALNUM, 32)}`),
    sample('stripe live secret key', 'stripe', 'STRIPE_SECRET_KEY_LIVE', `sk_live_${pick(ALNUM, 24)}`),
    sample('stripe test secret key', 'stripe', 'STRIPE_SECRET_KEY_TEST', `sk_test_${pick(ALNUM, 34)}`),
    sample('stripe live restricted key', 'stripe', 'STRIPE_RESTRICTED_KEY_LIVE', `rk_live_${pick(ALNUM, 30)}`),
    sample('stripe test restricted key', 'stripe', 'STRIPE_RESTRICTED_KEY_TEST', `rk_test_${pick(ALNUM, 28)}`),
    sample('github classic token', 'github', 'GITHUB_TOKEN', `ghp_${pick(ALNUM, 36)}`),
    sample('github fine-grained token', 'github', 'GITHUB_TOKEN', `github_pat_${pick(ALNUM, 22)}_${pick(ALNUM, 59)}`),
    sample('github app installation token', 'github', 'GITHUB_TOKEN', `ghs_${pick(DIGITS, 7)}_eyJ${body(URL_SAFE, 33)}.${body(URL_SAFE, 120)}.${body(URL_SAFE, 43)}`),
    sample('gitlab token', 'gitlab', 'GITLAB_PERSONAL_ACCESS_TOKEN', `glpat-${body(URL_SAFE, 20)}`),
    sample('grafana cloud token', 'grafana', 'GRAFANA_CLOUD_API_TOKEN', `glc_eyJ${pick(ALNUM, 80)}`),
    sample('grafana service account token', 'grafana', 'GRAFANA_SERVICE_ACCOUNT_TOKEN', `glsa_${pick(ALNUM, 32)}_${pick(LOWER_HEX, 8)}`),
    sample('openai project key', 'openai', 'OPENAI_TOKEN', `sk-proj-${pick(URL_SAFE, 74)}T3BlbkFJ${body(URL_SAFE, 74)}`),
    sample('openai legacy key', 'openai', 'OPENAI_TOKEN', `sk-${pick(ALNUM, 20)}T3BlbkFJ${pick(ALNUM, 20)}`),
    sample('anthropic key', 'anthropic', 'ANTHROPIC_API_KEY', `sk-ant-api03-${pick(URL_SAFE, 93)}AA`),
    sample('groq key', 'groq', 'GROQ_API_KEY', `gsk_${pick(ALNUM, 52)}`),
    sample('hugging face token', 'huggingface', 'HUGGINGFACE_USER_ACCESS_TOKEN', `hf_${pick(UPPER + LOWER, 34)}`),
    sample('linear key', 'linear', 'LINEAR_API_TOKEN', `lin_api_${pick(ALNUM, 40)}`),
    sample('notion token', 'notion', 'NOTION_INTEGRATION_TOKEN', `ntn_${pick(DIGITS, 11)}${pick(ALNUM, 35)}`),
    sample('1password service account token', '1password', 'OPS_TOKEN', onePasswordToken()),
    sample('mongodb connection string', 'database-connection-string', 'MongoDBConnection', mongo, { before: 'MONGO_URL=' }),
    sample('mysql connection string', 'database-connection-string', 'MySQLConnection', `mysql://reporter:${body(ALNUM, 18)}@mysql.internal:3306/sales`, {
      before: 'DATABASE_URL=',
    }),
    sample('postgres connection string', 'database-connection-string', 'PostgreSQLConnection', `postgresql://api:${body(ALNUM, 18)}@pg.internal:5432/app?sslmode=require`, {
      before: 'PG_URL=',
    }),
    sample('vault service token', 'hashicorp-vault', 'HASHICORP_VAULT_SERVICE_TOKEN', `hvs.${body(URL_SAFE, 95)}`),
    sample('vault batch token', 'hashicorp-vault', 'HASHICORP_VAULT_BATCH_TOKEN', `hvb.${body(URL_SAFE, 150)}`),
    sample('vault recovery token', 'hashicorp-vault', 'HASHICORP_VAULT_RECOVERY_TOKEN', `hvr.${body(URL_SAFE, 100)}`),
    sample('vercel personal token', 'vercel', 'VERCEL_PERSONAL_ACCESS_TOKEN', `vcp_${pick(ALNUM, 24)}`),
    sample('vercel integration token', 'vercel', 'VERCEL_INTEGRATION_TOKEN', `vci_${pick(ALNUM, 30)}`),
    sample('vercel app access token', 'vercel', 'VERCEL_APP_ACCESS_TOKEN', `vca_${pick(ALNUM, 40)}`),
    sample('vercel app refresh token', 'vercel', 'VERCEL_APP_REFRESH_TOKEN', `vcr_${pick(ALNUM, 40)}`),
    sample('vercel ai gateway key', 'vercel', 'VERCEL_AI_GATEWAY_API_KEY', `vck_${pick(ALNUM, 50)}`),
    sample('databricks token', 'databricks', 'DATABRICKS_PERSONAL_ACCESS_TOKEN', `dapi${pick(LOWER_HEX, 32)}`),
    sample('docker token', 'docker', 'DOCKER_PERSONAL_ACCESS_TOKEN', `dckr_pat_${body(URL_SAFE, 27)}`),
    sample('figma token', 'figma', 'FIGMA_PERSONAL_ACCESS_TOKEN', `figd_${body(URL_SAFE, 43)}`),
    sample('cloudflare global key', 'cloudflare', 'CLOUDFLARE_GLOBAL_API_KEY', `cfk_${pick(ALNUM, 40)}${pick(LOWER_HEX, 8)}`),
    sample('cloudflare user token', 'cloudflare', 'CLOUDFLARE_USER_API_TOKEN', `cfut_${pick(ALNUM, 40)}${pick(LOWER_HEX, 8)}`),
    sample('cloudflare account token', 'cloudflare', 'CLOUDFLARE_ACCOUNT_API_TOKEN', `cfat_${pick(ALNUM, 40)}${pick(LOWER_HEX, 8)}`),
    ...['api', 'auth', 'client', 'scim', 'webhook', 'cluster'].map((type) =>
      sample(`tailscale ${type} key`, 'tailscale', type === 'cluster' ? 'TAILSCALE_KEY' : `TAILSCALE_${type.toUpperCase()}_KEY`, `tskey-${type}-${pick(ALNUM, 12)}-${pick(ALNUM, 30)}`),
    ),
  ];
}

const SAMPLES = buildSamples();

/** The gcp rule parses the file, so its sample is a whole JSON document, not a line. */
function isWholeJsonFile(s: Sample): boolean {
  return s.text.startsWith('{');
}

// ---------------------------------------------------------------------------------------
// Helpers

// Code, YAML and prose without any anchor of the fast path.
const FILLER_LINES = [
  "import { readFile } from 'node:fs/promises';",
  'export function total(items) {',
  '  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);',
  '}',
  '',
  'replicas: 3',
  '  image: registry.internal/team/service:1.4.2',
  '# The retry budget is shared between the workers of one node.',
  '    - name: LOG_LEVEL',
  '      value: info',
  '   ',
  'The quick brown fox jumps over the lazy dog; the dog does not mind at all.',
];

function filler(lines: number, seed = 0): string {
  return Array.from({ length: lines }, (_, i) => FILLER_LINES[(i * 7 + seed) % FILLER_LINES.length]).join('\n');
}

const CONTEXT: ScanContext = {
  options: { entropy: false },
  creationRuleFor: async () => undefined,
  exists: () => false,
  read: async () => undefined,
};

async function detect(path: string, text: string): Promise<RawFinding[]> {
  const target = { path, content: Buffer.from(text) };
  const found = await credentialDetector.detect(target, text, CONTEXT);
  // The scan asks mayFind first and skips the file on "no": that must never hide a finding.
  if (found.length > 0) assert.equal(await credentialDetector.mayFind!(target, CONTEXT), true, `mayFind of ${path}`);
  return found;
}

/** The plain reference for line and column: count the newlines before `offset`. */
function positionAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lastNewline = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - (lastNewline + 1) + 1 };
}

test('TextIndex: line, column, line bounds and next marker agree with the plain reference at every offset', () => {
  for (const text of ['', 'a', '\n', 'ab\ncd\n', '\n\nx\n\n', 'no newline at the end', 'é\r\nß\n\u2028x']) {
    const index = new TextIndex(text);
    for (let offset = 0; offset <= text.length; offset++) {
      assert.deepEqual(index.position(offset), positionAt(text, offset), `${JSON.stringify(text)} at ${offset}`);
      const start = offset === 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
      const newline = text.indexOf('\n', offset);
      assert.equal(index.lineStart(offset), start);
      assert.equal(index.lineEnd(offset), newline < 0 ? text.length : newline + 1);
      assert.equal(index.next('\n', offset), newline);
    }
  }
});

const signature = (hits: readonly CredentialHit[]) => hits.map((h) => `${h.rule} ${h.messageId} ${h.start}-${h.end}`);

// ---------------------------------------------------------------------------------------
// The table knows the preset

test('the prefilter table has one entry per rule the preset registers, no more, no fewer', async () => {
  const registered = presetRules.map((r) => r.meta.id).sort();
  assert.ok(registered.length >= 28, `the preset registers ${registered.length} rules`);
  assert.deepEqual(Object.keys(PRESET_ANCHORS).sort(), registered);
  // The preset the detector loads at run time is the same one.
  assert.deepEqual([...(await secretlint()).ruleIds].sort(), registered);
});

test('every message id of the preset has words of its own, and the words never come from the value', () => {
  const messageIds = presetRules.filter((r) => r.meta.id !== rule('filter-comments')).flatMap((r) => Object.keys(r.messages));
  const missing = messageIds.filter((id) => !(id in MESSAGE_DESCRIPTIONS));
  assert.deepEqual(missing, []);
  assert.equal(describeMessage('FOO_BAR_API_TOKEN'), 'foo bar api token');
  assert.equal(describeMessage('SomeNewKind'), 'some new kind');
});

test('the samples cover every rule and every message id that text can trigger', () => {
  const reachable = presetRules.filter((r) => r.meta.id !== rule('filter-comments'));
  assert.deepEqual([...new Set(SAMPLES.map((s) => s.rule))].sort(), reachable.map((r) => r.meta.id).sort());
  const messageIds = reachable.flatMap((r) => Object.keys(r.messages)).filter((id) => id !== 'PrivateKeyP12');
  assert.deepEqual([...new Set(SAMPLES.map((s) => s.messageId))].sort(), messageIds.sort());
});

test('short rule names', () => {
  assert.equal(shortRuleName('@secretlint/secretlint-rule-aws'), 'aws');
  assert.equal(shortRuleName('@secretlint/secretlint-rule-database-connection-string'), 'database-connection-string');
  assert.equal(shortRuleName('@secretlint/secretlint-rule-1password'), '1password');
});

// ---------------------------------------------------------------------------------------
// Each kind is found where it is

for (const s of SAMPLES) {
  test(`finds a ${s.name} as credential/${shortRuleName(s.rule)} at its line and column`, async () => {
    const text = isWholeJsonFile(s) ? s.text : `${filler(5)}\n${s.text}\n${filler(4, 3)}\n`;
    const findings = await detect(s.path, text);
    const expected = positionAt(text, text.indexOf(s.value));
    const match = findings.find((f) => f.ruleId === `credential/${shortRuleName(s.rule)}` && f.value === s.value);
    assert.ok(match, `no finding with the sample's value among ${findings.map((f) => f.ruleId).join(', ') || 'none'}`);
    assert.deepEqual({ line: match.line, column: match.column }, expected);
    assert.equal(match.message, `plaintext ${MESSAGE_DESCRIPTIONS[s.messageId]}`);
    assert.equal(match.hint, CREDENTIAL_HINT);
    for (const finding of findings) {
      assert.notEqual(maskSecret(finding.value), finding.value);
      assert.ok(!finding.message.includes(finding.value) && !finding.hint.includes(finding.value));
    }
  });
}

test('the aws rule runs with the id scan on: an access key id alone is reported', async () => {
  const id = `ASIA${pick(UPPER + DIGITS, 16)}`;
  const findings = await detect('main.tf', `provider "aws" {\n  access_key = "${id}"\n}\n`);
  assert.deepEqual(
    findings.map((f) => [f.ruleId, f.line, f.column, f.value]),
    [['credential/aws', 2, 17, id]],
  );
});

test('placeholders the preset rejects stay quiet', async () => {
  const text = [
    '-----BEGIN RSA PRIVATE KEY-----',
    '...',
    '-----END RSA PRIVATE KEY-----',
    'DATABASE_URL=postgres://user:password@localhost:5432/app',
    'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
    '_authToken=${NPM_TOKEN}',
  ].join('\n');
  assert.deepEqual(await detect('.env', text), []);
});

test('a value never keeps the carriage return of a CRLF line', async () => {
  const token = `${pick(LOWER_HEX, 8)}-${pick(LOWER_HEX, 4)}-${pick(LOWER_HEX, 4)}-${pick(LOWER_HEX, 12)}`;
  const findings = await detect('.npmrc', `registry=https://registry.npmjs.org/\r\n//registry.npmjs.org/:_authToken=${token}\r\n`);
  assert.deepEqual(
    findings.map((f) => [f.ruleId, f.line, f.value]),
    [['credential/npm', 2, token]],
  );
});

test('a byte order mark does not shift lines or columns', async () => {
  const token = `ghp_${pick(ALNUM, 36)}`;
  const findings = await detect('a.txt', `\uFEFFtoken: ${token}\n`);
  assert.deepEqual(
    findings.map((f) => [f.line, f.column, f.value]),
    [[1, 8, token]],
  );
});

test('a text file named .p12 is linted by its content, never read from disk', async () => {
  const token = `ghp_${pick(ALNUM, 36)}`;
  const findings = await detect('certs/does-not-exist.p12', `${token}\n`);
  assert.deepEqual(
    findings.map((f) => f.ruleId),
    ['credential/github'],
  );
});

// ---------------------------------------------------------------------------------------
// The fast path finds what plain secretlint finds

async function assertSameAsPlainSecretlint(text: string, path: string): Promise<CredentialHit[]> {
  const plain = await findCredentials(text, path, { fastPath: false });
  const fast = await findCredentials(text, path, { fastPath: true });
  assert.deepEqual(signature(fast), signature(plain));
  // The anchors found in the bytes (WebAssembly) instead of by JavaScript probes.
  const fromBytes = await findCredentials(text, path, { fastPath: true, byteSearch: true });
  assert.deepEqual(signature(fromBytes), signature(plain), 'byte search');
  // Told from the bytes alone, before any decoding: never "nothing here" where there is something.
  if (plain.length > 0) assert.equal(await credentialDetector.mayFind!({ path, content: Buffer.from(text) }, CONTEXT), true, 'mayFind');
  return plain;
}

test('filler text has no anchors, so a clean file never reaches secretlint', () => {
  assert.equal(planScan(filler(2000), 'src/app.ts').mode, 'skip');
});

type Placement = 'start' | 'middle' | 'end';

/** The sample in 400 lines of filler; a JSON key file stays valid JSON, padded inside. */
function largeFile(s: Sample, at: Placement): string {
  const big = filler(400, 1);
  if (isWholeJsonFile(s)) {
    const key = JSON.parse(s.text) as Record<string, unknown>;
    const notes = big.split('\n');
    const padded = at === 'start' ? { ...key, notes } : at === 'end' ? { notes, ...key } : { notes, ...key, more_notes: notes };
    return JSON.stringify(padded, null, 2);
  }
  if (at === 'start') return `${s.text}\n${big}\n`;
  if (at === 'middle') return `${big}\n${s.text}\n${big}\n`;
  return `${big}\n${s.text}`;
}

test('fast path == plain secretlint: each sample at the start, in the middle and at the end of a large file', async () => {
  let windowed = 0;
  for (const s of SAMPLES) {
    const layouts = ['start', 'middle', 'end'].map((at) => largeFile(s, at as Placement));
    for (const layout of [...layouts, ...layouts.map((t) => t.replace(/\n/g, '\r\n'))]) {
      const plain = await assertSameAsPlainSecretlint(layout, s.path);
      assert.ok(
        plain.some((h) => h.rule === s.rule && h.messageId === s.messageId),
        `plain secretlint misses the ${s.name} sample`,
      );
      const plan = planScan(layout, s.path);
      if (plan.mode === 'windows') windowed++;
      // The gcp rule parses the file: it alone reads the whole text, the other rules stay in windows.
      if (isWholeJsonFile(s)) assert.deepEqual(plan.mode === 'windows' && plan.wholeFileRules, [s.rule], s.name);
    }
  }
  assert.equal(windowed, SAMPLES.length * 6);
});

test('fast path == plain secretlint: every sample in one file, and in groups of five', async () => {
  const lines = filler(3000, 2).split('\n');
  const files = [SAMPLES, ...Array.from({ length: Math.ceil(SAMPLES.length / 5) }, (_, i) => SAMPLES.slice(i * 5, i * 5 + 5))];
  for (const group of files) {
    const mixed = [...lines];
    group.forEach((s, i) => mixed.splice(Math.floor(((i + 1) * mixed.length) / (group.length + 1)), 0, s.text));
    for (const path of ['deploy/settings.txt', 'package.json', '.npmrc', 'keys/billing-sa.json']) {
      const plain = await assertSameAsPlainSecretlint(mixed.join('\n'), path);
      assert.ok(plain.length >= group.length - 3);
    }
  }
});

test('fast path == plain secretlint: a key, its separator and its value on separate lines', async () => {
  const secret = body(BASE64, 40);
  const shapes = [
    `"aws_secret_access_key"\n\n   :\n\n\n      "${secret}"`,
    `AWS_SECRET_ACCESS_KEY =\n${secret}`,
    `awsSecretAccessKey\t=>\r\n\t'${secret}'`,
    `aws_account_id\n  =\n  ${pick('123456789', 4)}-${pick('123456789', 4)}-${pick('123456789', 4)}`,
  ];
  for (const shape of shapes) {
    const plain = await assertSameAsPlainSecretlint(`${filler(300)}\n${shape}\n${filler(300, 5)}\n`, 'config.yaml');
    assert.equal(plain.length, 1, shape);
  }
});

test('fast path == plain secretlint: secretlint-disable comments make the file count whole', async () => {
  const s = SAMPLES.find((x) => x.messageId === 'GITHUB_TOKEN')!;
  const t = SAMPLES.find((x) => x.messageId === 'SLACK_TOKEN')!;
  const text = `${filler(300)}\n// secretlint-disable-next-line\n${s.text}\n${filler(300, 4)}\n${t.text}\n`;
  assert.equal(planScan(text, 'a.ts').mode, 'whole');
  const plain = await assertSameAsPlainSecretlint(text, 'a.ts');
  assert.deepEqual(
    plain.map((h) => h.messageId),
    ['SLACK_TOKEN'],
  );
});

test('fast path == plain secretlint: random files built from samples, near misses and filler (property)', async () => {
  const nearMisses = [
    '-----BEGIN PRIVATE KEY-----',
    '-----END PRIVATE KEY-----',
    'see https://example.org/docs and mail ops@example.org',
    'aws_secret_access_key =',
    'account: pending',
    'ghp_ is the prefix of a classic token',
    'AKIA',
  ];
  const line = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...FILLER_LINES) },
    { weight: 2, arbitrary: fc.constantFrom(...nearMisses) },
    { weight: 1, arbitrary: fc.constantFrom(...SAMPLES.filter((s) => s.path === 'deploy/settings.txt').map((s) => s.text)) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 600 }), fc.constantFrom('\n', '\r\n'), async (lines, eol) => {
      await assertSameAsPlainSecretlint(lines.join(eol), 'deploy/settings.txt');
    }),
    { numRuns: 150, seed: 20250605 },
  );
});

// ---------------------------------------------------------------------------------------
// sops: ciphertext and metadata

const AWS_LIKE = () => `AKIA${pick(UPPER + DIGITS, 16)}`;

function encValue(data: string): string {
  return `ENC[AES256_GCM,data:${data},iv:${pick(BASE64, 43)}=,tag:${pick(BASE64, 22)}==,type:str]`;
}

test('sops regions: ENC values, the yaml sops block of each document, nothing else', () => {
  const text = [
    `password: ${encValue('c2VjcmV0')}`,
    'sops:',
    '    lastmodified: "2024-01-01T00:00:00Z"',
    '    mac: x',
    '',
    'after: plain',
    '---',
    'sops:',
    '  version: 3.9.0',
    '# a comment at column 0 ends the block',
    'sops:',
    '  note: a user key named sops, not metadata',
  ].join('\n');
  const regions = sopsRegions(text);
  const inside = (needle: string) => isInside(regions, text.indexOf(needle));
  assert.ok(inside('ENC[') && inside('lastmodified') && inside('version: 3.9.0'));
  assert.ok(!inside('password:') && !inside('after: plain') && !inside('# a comment') && !inside('note: a user key'));
});

test('sops regions: the top-level "sops" object of json, sops_ lines of dotenv, the [sops] section of ini', () => {
  const json = '{\n "data": {"sops": {"mac": "user data"}},\n "sops": {\n  "mac": "m", "version": "3.9.0"\n }\n}';
  const jsonRegions = sopsRegions(json);
  assert.ok(!isInside(jsonRegions, json.indexOf('"user data"')));
  assert.ok(isInside(jsonRegions, json.indexOf('"version"')));

  const dotenv = 'API=plain\nsops_mac=ENC[AES256_GCM,data:x]\nsops_version=3.9.0\n';
  assert.ok(isInside(sopsRegions(dotenv), dotenv.indexOf('sops_version')));
  assert.ok(!isInside(sopsRegions(dotenv), dotenv.indexOf('API')));
  assert.deepEqual(sopsRegions('sops_hint=not a sops file\n'), []);

  const ini = '[app]\nkey = plain\n\n[sops]\nversion = 3.9.0\nmac = x\n[later]\nother = plain\n';
  const iniRegions = sopsRegions(ini);
  assert.ok(isInside(iniRegions, ini.indexOf('mac = x')));
  assert.ok(!isInside(iniRegions, ini.indexOf('key = plain')) && !isInside(iniRegions, ini.indexOf('other = plain')));
});

test('a token shape inside ciphertext or sops metadata is dropped; the same shape in plain text is not', async () => {
  const plaintextKey = AWS_LIKE();
  const text = [
    'apiVersion: v1',
    'kind: Secret',
    'stringData:',
    `    password: ${encValue(`${AWS_LIKE()}+x==`)}`,
    `    leftover: ${plaintextKey}`,
    'sops:',
    '    kms:',
    '        - arn: arn:aws:kms:eu-west-1:000000000000:key/aaaa',
    `          enc: AQICAHg${pick(BASE64, 20)}/${AWS_LIKE()}/${pick(BASE64, 30)}==`,
    '    lastmodified: "2024-05-01T10:00:00Z"',
    `    mac: ${encValue(pick(BASE64, 40))}`,
    '    version: 3.9.0',
  ].join('\n');
  const raw = await findCredentials(text, 'secret.yaml');
  assert.equal(raw.length, 3, 'secretlint itself must see all three token shapes');
  const findings = await detect('secret.yaml', text);
  assert.deepEqual(
    findings.map((f) => [f.ruleId, f.line, f.value]),
    [['credential/aws', 5, plaintextKey]],
  );
});

test('the same holds for sops json, dotenv and ini files', async () => {
  const json = `{\n "token": "${encValue(AWS_LIKE())}",\n "sops": {\n  "kms": [{"enc": "${AWS_LIKE()}"}],\n  "mac": "${encValue('bWFj')}",\n  "version": "3.9.0"\n }\n}\n`;
  const dotenv = `token=${encValue(AWS_LIKE())}\nsops_kms__list_0__map_enc=${AWS_LIKE()}\nsops_version=3.9.0\n`;
  const ini = `[app]\ntoken = ${encValue(AWS_LIKE())}\n[sops]\nkms__list_0__map_enc = ${AWS_LIKE()}\nversion = 3.9.0\n`;
  for (const [path, text] of [['a.json', json], ['a.env', dotenv], ['a.ini', ini]] as const) {
    assert.equal((await findCredentials(text, path)).length, 2, `${path}: secretlint itself sees both`);
    assert.deepEqual(await detect(path, text), [], path);
  }
});

test('the sops-encrypted fixtures of ../shared/fixtures raise no credential finding', { skip: !fixturesAvailable() && 'no ../shared/fixtures' }, async () => {
  const cases = loadManifest();
  assert.ok(cases.length >= 51);
  for (const c of cases) {
    const text = readFileSync(fixturePath(c.path), 'utf8');
    assert.deepEqual(await detect(c.path, text), [], c.path);
  }
  // Not in the manifest, but the one sops INI file there: its metadata holds PGP armour.
  const ini = 'Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.ini';
  assert.deepEqual(await detect(ini, readFileSync(fixturePath(ini), 'utf8')), []);
});
