/**
 * AWS KMS master keys, through the library and the CLI, against the wire-level fake
 * (test/fakes/aws-kms.ts: real JSON 1.1 protocol, SigV4 verified, STS AssumeRole) and,
 * when WAX_TEST_AWS_KMS_ARN is set, against real AWS KMS with the ambient credentials.
 * Every must-fail case asserts its error class or exit code, and that no key material
 * leaks into the message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DataKeyUnavailableError, ExitCode, KeyFormatError, MasterKeyError } from '../../src/errors.js';
import { resolveKeyGroups, type KeySpec, type ProviderContext } from '../../src/providers/index.js';
import { awsKmsProvider, roleSessionName } from '../../src/providers/aws-kms.js';
import { encryptBytes, openBytes } from '../../src/sops-file.js';
import { storeFor } from '../../src/document/stores/index.js';
import type { MasterKeyEntry } from '../../src/document/metadata.js';
import { canonicalRequest, startFakeKms, verifySigV4, type FakeKms, type SignedRequest } from '../fakes/aws-kms.js';
import { ageKeypair, makeTempDir, removeTempDir, waxBundle, type RunResult } from '../support/cli.js';
import { runWaxAsync } from '../support/cli-async.js';
import { repoRoot } from '../support/paths.js';

const PLAINTEXT = 'password: hunter2\napi_token: tok-123\nnested:\n    - one\n    - two\n';
const SECRETS = ['hunter2', 'tok-123'];
const RFC3339_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const STD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// ---------------------------------------------------------------------------- helpers

function withFake(body: (fake: FakeKms) => Promise<void>) {
  return async () => {
    const fake = await startFakeKms();
    try {
      await body(fake);
    } finally {
      await fake.close();
    }
  };
}

/**
 * A fresh environment object per call: the test process's variables without any AWS_*
 * or SOPS_* ones, plus the fake's. Fresh, because the envelope caches data keys per
 * environment object and a test that counts KMS calls must not hit that cache.
 */
function fakeEnv(fake: FakeKms, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('SOPS_')) env[k] = v;
  // No age keys of the developer's own: the age provider also reads ~/.config/sops/age.
  for (const [k, v] of Object.entries({ XDG_CONFIG_HOME: '/nonexistent', ...fake.env, ...extra })) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

const ctxFor = (fake: FakeKms, extra?: Record<string, string | undefined>): ProviderContext => ({ env: fakeEnv(fake, extra) });

async function encryptLib(specs: KeySpec[][], ctx: ProviderContext, plaintext = PLAINTEXT): Promise<Buffer> {
  return encryptBytes(Buffer.from(plaintext), { format: 'yaml', keyGroups: await resolveKeyGroups(specs, ctx) });
}

async function decryptLib(file: Buffer, ctx: ProviderContext, order?: string[]): Promise<string> {
  const opened = await openBytes(file, { format: 'yaml', ctx, decryptionOrder: order });
  return storeFor('yaml').emitPlain(opened.documents).toString('utf8');
}

type Sops = { kms?: Record<string, unknown>[]; age?: Record<string, unknown>[] };
const sopsOf = (text: string | Buffer) => (parseYaml(text.toString()) as { sops: Sops }).sops;

/** The entry exactly as sops 3.13 writes it: these fields, in this (sorted) order. */
function assertKmsEntry(entry: Record<string, unknown>, expected: { arn: string; context?: Record<string, string>; role?: string; awsProfile?: string }): void {
  const fields = ['arn', 'aws_profile', ...(expected.context ? ['context'] : []), 'created_at', 'enc', ...(expected.role ? ['role'] : [])];
  assert.deepEqual(Object.keys(entry), fields);
  assert.equal(entry.arn, expected.arn);
  assert.equal(entry.aws_profile, expected.awsProfile ?? '');
  if (expected.context) assert.deepEqual(entry.context, expected.context);
  assert.match(String(entry.created_at), RFC3339_UTC_SECONDS);
  assert.match(String(entry.enc), STD_BASE64);
  if (expected.role) assert.equal(entry.role, expected.role);
}

const kmsCalls = (fake: FakeKms, operation?: string) => fake.calls.filter((c) => c.service === 'kms' && (operation === undefined || c.operation === operation));

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function assertNoSecrets(text: string, extra: string[] = []): void {
  for (const secret of [...SECRETS, ...extra]) assert.ok(!text.includes(secret), `output contains ${secret.slice(0, 12)}…`);
}

async function rejectsWith(promise: Promise<unknown>, errorClass: typeof MasterKeyError | typeof KeyFormatError, pattern: RegExp, secrets: string[] = []): Promise<Error> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof errorClass, `expected ${errorClass.name}, got ${(caught as Error)?.constructor?.name}: ${(caught as Error)?.message}`);
  assert.match(caught.message, pattern);
  assert.ok(!caught.message.includes('\n'), 'one line');
  assertNoSecrets(`${caught.message}\n${caught.hint ?? ''}`, secrets);
  return caught;
}

// ---------------------------------------------------------------------------- SigV4 verifier

/** AWS's published SigV4 test suite (aws-sig-v4-test-suite), all signed by these credentials at this time. */
const SUITE = { accessKeyId: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1', service: 'service', now: Date.UTC(2015, 7, 30, 12, 36, 0) };
const HOST: [string, string] = ['Host', 'example.amazonaws.com'];
const DATE: [string, string] = ['X-Amz-Date', '20150830T123600Z'];
const TOKEN =
  'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==';
const FORM: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];

interface Vector {
  name: string;
  method: string;
  url: string;
  headers: [string, string][];
  body?: string;
  signedHeaders: string;
  signature: string;
}

const VECTORS: Vector[] = [
  { name: 'get-vanilla', method: 'GET', url: '/', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-vanilla-query-order-key-case', method: 'GET', url: '/?Param2=value2&Param1=value1', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500' },
  { name: 'get-vanilla-empty-query-key', method: 'GET', url: '/?Param1=value1', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb' },
  {
    name: 'get-vanilla-query-unreserved',
    method: 'GET',
    url: '/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    headers: [HOST, DATE],
    signedHeaders: 'host;x-amz-date',
    signature: '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  },
  { name: 'get-vanilla-utf8-query', method: 'GET', url: '/?ሴ=bar', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04' },
  { name: 'get-unreserved', method: 'GET', url: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f' },
  { name: 'get-utf8', method: 'GET', url: '/ሴ', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85' },
  {
    name: 'get-header-value-trim',
    method: 'GET',
    url: '/',
    headers: [HOST, ['My-Header1', ' value1'], ['My-Header2', ' "a   b   c"'], DATE],
    signedHeaders: 'host;my-header1;my-header2;x-amz-date',
    signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
  },
  {
    name: 'get-header-key-duplicate',
    method: 'GET',
    url: '/',
    headers: [HOST, ['My-Header1', 'value2'], ['My-Header1', 'value2'], ['My-Header1', 'value1'], DATE],
    signedHeaders: 'host;my-header1;x-amz-date',
    signature: 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea',
  },
  { name: 'post-vanilla', method: 'POST', url: '/', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
  { name: 'post-vanilla-query', method: 'POST', url: '/?Param1=value1', headers: [HOST, DATE], signedHeaders: 'host;x-amz-date', signature: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11' },
  {
    name: 'post-vanilla-query-nonunreserved',
    method: 'POST',
    url: `/?${encodeURIComponent('@#$%^')}=&${encodeURIComponent('+')}=${encodeURIComponent('/,?><`";:\\|][{}')}`,
    headers: [HOST, DATE],
    signedHeaders: 'host;x-amz-date',
    signature: '66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e',
  },
  { name: 'post-header-key-sort', method: 'POST', url: '/', headers: [HOST, ['My-Header1', 'value1'], DATE], signedHeaders: 'host;my-header1;x-amz-date', signature: 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c' },
  { name: 'post-header-value-case', method: 'POST', url: '/', headers: [HOST, ['My-Header1', 'VALUE1'], DATE], signedHeaders: 'host;my-header1;x-amz-date', signature: 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d' },
  { name: 'post-x-www-form-urlencoded', method: 'POST', url: '/', headers: [FORM, HOST, DATE], body: 'Param1=value1', signedHeaders: 'content-type;host;x-amz-date', signature: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a' },
  {
    name: 'post-x-www-form-urlencoded-parameters',
    method: 'POST',
    url: '/',
    headers: [['Content-Type', 'application/x-www-form-urlencoded; charset=utf8'], HOST, DATE],
    body: 'Param1=value1',
    signedHeaders: 'content-type;host;x-amz-date',
    signature: '1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe',
  },
  { name: 'post-sts-header-before', method: 'POST', url: '/', headers: [HOST, DATE, ['X-Amz-Security-Token', TOKEN]], signedHeaders: 'host;x-amz-date;x-amz-security-token', signature: '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead' },
];

function signedRequest(v: Vector, overrides: { signature?: string; accessKeyId?: string; scope?: string } = {}): SignedRequest {
  const scope = overrides.scope ?? '20150830/us-east-1/service';
  const authorization = `AWS4-HMAC-SHA256 Credential=${overrides.accessKeyId ?? SUITE.accessKeyId}/${scope}/aws4_request, SignedHeaders=${v.signedHeaders}, Signature=${overrides.signature ?? v.signature}`;
  return { method: v.method, url: v.url, headers: [...v.headers, ['Authorization', authorization]], body: Buffer.from(v.body ?? '') };
}

const suiteOptions = (now = SUITE.now) => ({ secretFor: (id: string) => (id === SUITE.accessKeyId ? SUITE.secret : undefined), region: SUITE.region, service: SUITE.service, now });

test('SigV4: the fake accepts every published test-suite signature', () => {
  for (const vector of VECTORS) {
    const result = verifySigV4(signedRequest(vector), suiteOptions());
    assert.ok(result.ok, `${vector.name}: ${result.ok ? '' : `${result.type} ${result.message}`}`);
  }
});

test('SigV4: canonical requests match the suite byte for byte', () => {
  const trim = VECTORS.find((v) => v.name === 'get-header-value-trim')!;
  assert.equal(
    canonicalRequest(signedRequest(trim), trim.signedHeaders.split(';')),
    'GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  const order = VECTORS.find((v) => v.name === 'get-vanilla-query-order-key-case')!;
  assert.equal(canonicalRequest(signedRequest(order), ['host', 'x-amz-date']), 'GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const utf8 = VECTORS.find((v) => v.name === 'get-utf8')!;
  assert.match(canonicalRequest(signedRequest(utf8), ['host', 'x-amz-date']), /^GET\n\/%E1%88%B4\n\n/);
});

test('SigV4: tampering, unknown keys, wrong scope and stale dates are refused with the AWS error types', () => {
  const form = VECTORS.find((v) => v.name === 'post-x-www-form-urlencoded')!;
  const cases: { name: string; request: SignedRequest; now?: number; type: string; message: RegExp }[] = [
    { name: 'one signature digit changed', request: signedRequest(form, { signature: `${form.signature.slice(0, -1)}${form.signature.endsWith('a') ? 'b' : 'a'}` }), type: 'InvalidSignatureException', message: /signature we calculated does not match/ },
    { name: 'body changed after signing', request: { ...signedRequest(form), body: Buffer.from('Param1=value2') }, type: 'InvalidSignatureException', message: /does not match/ },
    { name: 'signed header changed', request: { ...signedRequest(form), headers: signedRequest(form).headers.map(([k, v]) => (k === 'Content-Type' ? [k, 'text/plain'] : [k, v]) as [string, string]) }, type: 'InvalidSignatureException', message: /does not match/ },
    { name: 'path changed', request: { ...signedRequest(form), url: '/other' }, type: 'InvalidSignatureException', message: /does not match/ },
    { name: 'unknown access key', request: signedRequest(form, { accessKeyId: 'AKIDUNKNOWN' }), type: 'UnrecognizedClientException', message: /security token included in the request is invalid/ },
    { name: 'scoped to another region', request: signedRequest(form, { scope: '20150830/eu-west-1/service' }), type: 'InvalidSignatureException', message: /scoped to a valid region, not 'eu-west-1'/ },
    { name: 'scoped to another service', request: signedRequest(form, { scope: '20150830/us-east-1/kms' }), type: 'InvalidSignatureException', message: /scoped to correct service/ },
    { name: 'signed 20 minutes ago', request: signedRequest(form), now: SUITE.now + 20 * 60_000, type: 'InvalidSignatureException', message: /Signature expired/ },
    { name: 'no Authorization header', request: { ...signedRequest(form), headers: form.headers }, type: 'IncompleteSignatureException', message: /Authorization header requires/ },
  ];
  for (const c of cases) {
    const result = verifySigV4(c.request, suiteOptions(c.now));
    assert.equal(result.ok, false, `${c.name} must be refused`);
    if (!result.ok) {
      assert.equal(result.type, c.type, c.name);
      assert.match(result.message, c.message, c.name);
    }
  }
});

test('SigV4: the real SDK with a wrong secret or an unknown key is refused by the fake', withFake(async (fake) => {
  const arn = fake.createKey();
  const dataKey = randomBytes(32);
  await rejectsWith(awsKmsProvider.parseRecipient(arn, ctxFor(fake, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' })).wrap(dataKey), MasterKeyError, /KMS rejected the request signature for KMS key arn:aws:kms:/);
  await rejectsWith(awsKmsProvider.parseRecipient(arn, ctxFor(fake, { AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00' })).wrap(dataKey), MasterKeyError, /credentials used for KMS key .* were not recognized/);
  assert.deepEqual(kmsCalls(fake).map((c) => c.outcome), ['InvalidSignatureException', 'UnrecognizedClientException']);
}));

// ---------------------------------------------------------------------------- recipients

test('recipients: ARNs are validated with sops\' pattern, the region comes from the ARN, a +ROLE is split off', () => {
  const ctx: ProviderContext = { env: {} };
  for (const good of [
    'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:us-east-1:111122223333:alias/sops',
    'arn:aws-cn:kms:cn-north-1:111122223333:key/1234',
    'arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234',
  ]) {
    assert.equal(awsKmsProvider.parseRecipient(good, ctx).id, good);
  }
  const withRole = awsKmsProvider.parseRecipient(' arn:aws:kms:eu-west-1:111122223333:key/k1 + arn:aws:iam::111122223333:role/sops ', ctx);
  assert.equal(withRole.id, 'arn:aws:kms:eu-west-1:111122223333:key/k1', 'sops drops spaces and splits at +arn:');
  for (const bad of ['', 'alias/sops', 'arn:aws:kms:eu-west-1:notanaccount:key/k', 'arn:aws:kms:eu-west-1:111122223333:key/', 'arn:aws:s3:::bucket', 'arn:aws:kms::111122223333:key/k', 'kms:eu-west-1:1:key/k']) {
    assert.throws(() => awsKmsProvider.parseRecipient(bad, ctx), (e: unknown) => e instanceof KeyFormatError && e.exitCode === ExitCode.Generic && e.message.includes(JSON.stringify(bad)), bad);
  }
  assert.throws(() => awsKmsProvider.parseRecipient('arn:aws:kms:eu-west-1:111122223333:key/k+arn:aws:iam::111122223333:user/me', ctx), KeyFormatError);
  assert.throws(() => awsKmsProvider.recipientFromConfig!({ arn: 'arn:aws:kms:eu-west-1:111122223333:key/k', context: { version: 1 } }, ctx), /context value for "version"/);
  assert.throws(() => awsKmsProvider.recipientFromConfig!({ role: 'arn:aws:iam::1:role/r' }, ctx), KeyFormatError);
});

test('role session name: sops@hostname, sanitized as sops 3.8+ does, at most 64 characters', () => {
  // sops' own test: its pattern [^a-zA-Z0-9=,.@-_]+ deletes '-' ("@-_" is a range).
  assert.equal(roleSessionName('some-hostname'), 'sops@somehostname');
  assert.equal(roleSessionName('build_01.ci.example.com'), 'sops@build_01.ci.example.com');
  assert.equal(roleSessionName('a'.repeat(100)).length, 64);
  assert.match(roleSessionName('weird host/name[1]^'), /^sops@[\w+=,.@-]+$/);
  assert.match(roleSessionName(), /^sops@[\w+=,.@-]*$/);
});

test('loading: importing the provider and parsing keys loads no AWS SDK module', async () => {
  const { spawnSync } = await import('node:child_process');
  const provider = new URL('../../src/providers/aws-kms.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(provider)});
    const sdk = () => Object.keys(require.cache).filter((p) => p.includes('@aws-sdk')).length;
    const { awsKmsProvider } = await import(${JSON.stringify(provider)});
    awsKmsProvider.parseRecipient('arn:aws:kms:us-east-1:111122223333:key/k', { env: {} });
    const before = sdk();
    await import('@aws-sdk/client-kms');
    console.log(JSON.stringify({ before, after: sdk() }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: repoRoot() });
  assert.equal(run.status, 0, run.stderr);
  const { before, after } = JSON.parse(run.stdout) as { before: number; after: number };
  assert.equal(before, 0, 'no @aws-sdk module before a KMS call');
  assert.ok(after > 0, 'the check can see SDK modules once loaded');
  // The CLI bundle keeps the SDK external and reaches it only on demand (importExternal).
  const dist = join(waxBundle(), '..');
  const bundles = readdirSync(dist).filter((f) => /\.(mjs|cjs)$/.test(f) && f !== 'yaml-lib.cjs').map((f) => readFileSync(join(dist, f), 'utf8'));
  assert.ok(bundles.every((c) => !/(from|import)\s*["']@aws-sdk\/|require\(["']@aws-sdk\//.test(c)), 'no static import or require of @aws-sdk in the bundle');
  assert.ok(bundles.some((c) => c.includes('"@aws-sdk/client-kms"')), 'the bundle names the KMS client, to import it on demand');
});

// ---------------------------------------------------------------------------- library, against the fake

test('library: round trip with an encryption context; one Encrypt and one Decrypt call, the context reaches KMS', withFake(async (fake) => {
  const arn = fake.createKey();
  const context = { app: 'payments', env: 'prod' };
  const file = await encryptLib([[{ type: 'kms', value: { arn, context } }]], ctxFor(fake));
  assert.deepEqual(kmsCalls(fake).map((c) => [c.operation, c.keyId, c.encryptionContext, c.outcome]), [['Encrypt', arn, context, 'ok']], 'one Encrypt for a file with several values');
  const [entry] = sopsOf(file).kms!;
  assertKmsEntry(entry, { arn, context });
  assertNoSecrets(file.toString());
  assert.equal(await decryptLib(file, ctxFor(fake)), PLAINTEXT);
  assert.deepEqual(kmsCalls(fake, 'Decrypt').map((c) => [c.keyId, c.encryptionContext, c.outcome]), [[arn, context, 'ok']]);
}));

test('library: metadata without context, role or profile is exactly arn, aws_profile "", created_at, enc', withFake(async (fake) => {
  const arn = fake.createKey();
  const file = await encryptLib([[{ type: 'kms', value: arn }]], ctxFor(fake));
  const text = file.toString();
  assertKmsEntry(sopsOf(text).kms![0], { arn });
  assert.match(text, /^ {10}aws_profile: ""$/m, 'aws_profile is written even when empty');
  assert.equal(kmsCalls(fake)[0].encryptionContext, undefined, 'no context is sent when there is none');
}));

test('library: alias ARNs work for Encrypt and Decrypt', withFake(async (fake) => {
  const aliasArn = fake.createAlias('wax-test', fake.createKey());
  const file = await encryptLib([[{ type: 'kms', value: aliasArn }]], ctxFor(fake));
  assert.equal(sopsOf(file).kms![0].arn, aliasArn);
  assert.equal(await decryptLib(file, ctxFor(fake)), PLAINTEXT);
}));

test('library: Shamir shares (33 bytes) wrap and unwrap through KMS in two groups', withFake(async (fake) => {
  const [a, b] = [fake.createKey(), fake.createKey()];
  const keyGroups = await resolveKeyGroups([[{ type: 'kms', value: a }], [{ type: 'kms', value: b }]], ctxFor(fake));
  const file = await encryptBytes(Buffer.from(PLAINTEXT), { format: 'yaml', keyGroups, shamirThreshold: 2 });
  assert.equal(await decryptLib(file, ctxFor(fake)), PLAINTEXT);
  assert.equal(kmsCalls(fake, 'Encrypt').length, 2);
  assert.equal(kmsCalls(fake, 'Decrypt').length, 2);
}));

test('library: throttled twice then answered succeeds (the SDK retries with backoff)', withFake(async (fake) => {
  const arn = fake.createKey();
  fake.faults.throttleNext = 2;
  const file = await encryptLib([[{ type: 'kms', value: arn }]], ctxFor(fake));
  assert.deepEqual(kmsCalls(fake).map((c) => c.outcome), ['ThrottlingException', 'ThrottlingException', 'ok']);
  fake.faults.throttleNext = 2;
  assert.equal(await decryptLib(file, ctxFor(fake)), PLAINTEXT);
}));

test('library: the encryption context is bound: a changed context in the file cannot decrypt', withFake(async (fake) => {
  const arn = fake.createKey();
  const file = await encryptLib([[{ type: 'kms', value: { arn, context: { namespace: 'prod' } } }]], ctxFor(fake));
  const moved = Buffer.from(file.toString().replace('namespace: prod', 'namespace: dev'));
  await assert.rejects(decryptLib(moved, ctxFor(fake)), (e: unknown) => {
    assert.ok(e instanceof DataKeyUnavailableError);
    assert.equal(e.exitCode, ExitCode.CouldNotRetrieveKey);
    assert.match(e.message, /KMS key arn:aws:kms:\S+ could not decrypt the wrapped data key: wrong key or encryption context/);
    return true;
  });
  assert.deepEqual(kmsCalls(fake, 'Decrypt').map((c) => [c.encryptionContext, c.outcome]), [[{ namespace: 'dev' }, 'InvalidCiphertextException']]);
}));

/** A wrapped entry for `arn`, made through the provider itself. */
async function wrappedEntry(fake: FakeKms, arn: string, dataKey: Buffer, context?: Record<string, string>): Promise<MasterKeyEntry> {
  const recipient = context ? awsKmsProvider.recipientFromConfig!({ arn, context }, ctxFor(fake)) : awsKmsProvider.parseRecipient(arn, ctxFor(fake));
  return recipient.wrap(dataKey);
}

test('library: every KMS failure is one clear MasterKeyError (exit 128) naming the ARN, never the key or ciphertext', withFake(async (fake) => {
  const dataKey = randomBytes(32);
  const arn = fake.createKey();
  const entry = await wrappedEntry(fake, arn, dataKey, { app: 'x' });
  const secrets = [dataKey.toString('base64'), dataKey.toString('hex'), String(entry.fields.enc)];
  const wrap = (a: string, extra?: Record<string, string | undefined>) => awsKmsProvider.parseRecipient(a, ctxFor(fake, extra)).wrap(dataKey);
  const unwrap = (e: MasterKeyEntry, extra?: Record<string, string | undefined>) => awsKmsProvider.unwrap(e, ctxFor(fake, extra));

  const faulty = (set: Set<string>) => async (run: () => Promise<unknown>, pattern: RegExp) => {
    set.add(arn);
    try {
      const error = await rejectsWith(run(), MasterKeyError, pattern, secrets);
      assert.equal((error as MasterKeyError).exitCode, ExitCode.CouldNotRetrieveKey);
      assert.ok(error.message.includes(arn), 'names the ARN');
      assert.ok((error as MasterKeyError).hint, 'says what to check');
    } finally {
      set.delete(arn);
    }
  };
  await faulty(fake.faults.accessDenied)(() => wrap(arn), /^access denied to KMS key \S+ for kms:Encrypt \(AWS: User: .* is not authorized/);
  await faulty(fake.faults.accessDenied)(() => unwrap(entry), /^access denied to KMS key \S+ for kms:Decrypt/);
  await faulty(fake.faults.disabled)(() => unwrap(entry), /^KMS key \S+ is disabled$/);
  await faulty(fake.faults.pendingDeletion)(() => wrap(arn), /cannot be used in its current state \(AWS: .*pending deletion/);
  await faulty(fake.faults.notFound)(() => unwrap(entry), /^KMS key \S+ was not found$/);

  // Wrong region: the ARN's region is not the endpoint's, so the signature scope is refused.
  const elsewhere = arn.replace(':us-east-1:', ':eu-west-1:');
  await rejectsWith(wrap(elsewhere), MasterKeyError, /^wrong region for KMS key arn:aws:kms:eu-west-1:\S+: http:\/\/127\.0\.0\.1:\d+ does not serve the region named in the ARN/, secrets);

  fake.faults.throttleNext = 3;
  await rejectsWith(unwrap(entry), MasterKeyError, /^KMS kept throttling requests for KMS key \S+ after 3 attempts$/, secrets);

  const expired = fake.issueSession({ expired: true });
  await rejectsWith(unwrap(entry, { AWS_ACCESS_KEY_ID: expired.accessKeyId, AWS_SECRET_ACCESS_KEY: expired.secretAccessKey, AWS_SESSION_TOKEN: expired.sessionToken }), MasterKeyError, /^the AWS credentials used for KMS key \S+ have expired$/, secrets);

  const down = `http://127.0.0.1:${await closedPort()}`;
  await rejectsWith(unwrap(entry, { AWS_ENDPOINT_URL_KMS: down }), MasterKeyError, new RegExp(`^cannot reach KMS at ${down.replace(/\./g, '\\.')} \\(ECONNREFUSED\\) for KMS key `), secrets);
  await rejectsWith(wrap(arn, { AWS_ENDPOINT_URL_KMS: undefined, AWS_ENDPOINT_URL: down }), MasterKeyError, /^cannot reach KMS at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/, secrets);

  // The context and the key are bound into the blob: another context or another key fails.
  await rejectsWith(unwrap({ type: 'kms', fields: { ...entry.fields, context: { app: 'y' } } }), MasterKeyError, /could not decrypt the wrapped data key: wrong key or encryption context$/, secrets);
  await rejectsWith(unwrap({ type: 'kms', fields: { ...entry.fields, arn: fake.createKey() } }), MasterKeyError, /wrong key or encryption context$/, secrets);
}));

test('library: a damaged enc or a malformed ARN in the file fails without calling KMS', withFake(async (fake) => {
  const arn = fake.createKey();
  const entry = await wrappedEntry(fake, arn, randomBytes(32));
  const before = fake.calls.length;
  await rejectsWith(awsKmsProvider.unwrap({ type: 'kms', fields: { ...entry.fields, enc: 'not base64!' } }, ctxFor(fake)), MasterKeyError, /wrapped data key for \S+ is missing or not valid base64/);
  await rejectsWith(awsKmsProvider.unwrap({ type: 'kms', fields: { ...entry.fields, arn: 'arn:aws:kms:nowhere' } }, ctxFor(fake)), KeyFormatError, /^invalid AWS KMS key ARN "arn:aws:kms:nowhere"$/);
  assert.equal(fake.calls.length, before);
}));

test('library: KMS entries are always attempted (never "not mine"), and another key of the group still decrypts', withFake(async (fake) => {
  const dir = makeTempDir('wax-kms-');
  try {
    const age = ageKeypair(dir);
    const arn = fake.createKey();
    const file = await encryptLib([[{ type: 'kms', value: arn }, { type: 'age', value: age.recipient }]], ctxFor(fake));
    fake.faults.accessDenied.add(arn);
    const ctx = ctxFor(fake, { SOPS_AGE_KEY_FILE: age.keyFile });
    assert.equal(await decryptLib(file, ctx, ['kms', 'age']), PLAINTEXT);
    assert.deepEqual(kmsCalls(fake, 'Decrypt').map((c) => c.outcome), ['AccessDeniedException']);
    // Without age, the attempt list names the KMS failure.
    await assert.rejects(decryptLib(file, ctxFor(fake, { SOPS_AGE_KEY_FILE: join(dir, 'missing.txt') }), ['kms', 'age']), (e: unknown) => e instanceof DataKeyUnavailableError && /access denied to KMS key/.test(e.message));
  } finally {
    removeTempDir(dir);
  }
}));

test('library: ARN+ROLE assumes the role through STS with a sops@ session name, and only the role can use the key', withFake(async (fake) => {
  const role = fake.createRole('wax-decrypter');
  const arn = fake.createKey({ onlyRole: role });
  const file = await encryptLib([[{ type: 'kms', value: `${arn}+${role}` }]], ctxFor(fake));
  assertKmsEntry(sopsOf(file).kms![0], { arn, role });
  const [assume, encrypt] = fake.calls;
  assert.deepEqual([assume.service, assume.operation, assume.roleArn, assume.outcome], ['sts', 'AssumeRole', role, 'ok']);
  assert.equal(assume.roleSessionName, roleSessionName(hostname()));
  assert.match(assume.roleSessionName!, /^sops@[\w+=,.@-]{0,59}$/);
  assert.equal(encrypt.principal, `arn:aws:sts::${fake.accountId}:assumed-role/wax-decrypter/${assume.roleSessionName}`);
  assert.equal(await decryptLib(file, ctxFor(fake)), PLAINTEXT);
  // The same key without the role is refused: the role was really used.
  await rejectsWith(awsKmsProvider.parseRecipient(arn, ctxFor(fake)).wrap(randomBytes(32)), MasterKeyError, /^access denied to KMS key/);
  fake.faults.assumeRoleDenied.add(role);
  await rejectsWith(awsKmsProvider.parseRecipient(`${arn}+${role}`, ctxFor(fake)).wrap(randomBytes(32)), MasterKeyError, /^cannot assume role arn:aws:iam::\d+:role\/wax-decrypter \(for KMS key \S+\): access denied/);
}));

// ---------------------------------------------------------------------------- CLI, against the fake

interface CliWorkspace {
  dir: string;
  fake: FakeKms;
  write(name: string, text: string): string;
  read(name: string): string;
  wax(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>;
}

function withCli(body: (ws: CliWorkspace) => Promise<void>) {
  return withFake(async (fake) => {
    const dir = makeTempDir('wax-kms-cli-');
    try {
      await body({
        dir,
        fake,
        write: (name, text) => {
          writeFileSync(join(dir, name), text);
          return join(dir, name);
        },
        read: (name) => readFileSync(join(dir, name), 'utf8'),
        wax: (args, env = {}) => runWaxAsync(args, { cwd: dir, env: { XDG_CONFIG_HOME: join(dir, 'no-config'), ...fake.env, ...env } }),
      });
    } finally {
      removeTempDir(dir);
    }
  });
}

test('CLI: encrypt --kms --encryption-context, then decrypt: fields as sops writes them, one call each, context sent', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '--kms', arn, '--encryption-context', 'app:payments,env:prod', '-i', 's.yaml']);
  assert.equal(enc.code, 0, enc.stderr);
  const [entry] = sopsOf(ws.read('s.yaml')).kms!;
  assertKmsEntry(entry, { arn, context: { app: 'payments', env: 'prod' } });
  assertNoSecrets(ws.read('s.yaml'));
  assert.deepEqual(kmsCalls(ws.fake).map((c) => [c.operation, c.encryptionContext]), [['Encrypt', { app: 'payments', env: 'prod' }]]);
  const dec = await ws.wax(['decrypt', 's.yaml']);
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, PLAINTEXT);
  assert.deepEqual(kmsCalls(ws.fake, 'Decrypt').map((c) => [c.keyId, c.encryptionContext, c.outcome]), [[arn, { app: 'payments', env: 'prod' }, 'ok']]);
}));

test('CLI: SOPS_KMS_ARN names the key when no flag does', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '-i', 's.yaml'], { SOPS_KMS_ARN: arn });
  assert.equal(enc.code, 0, enc.stderr);
  assertKmsEntry(sopsOf(ws.read('s.yaml')).kms![0], { arn });
}));

test('CLI: .sops.yaml key_groups with a kms object (context, aws_profile "") and an age key', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  const age = ageKeypair(ws.dir);
  ws.write('.sops.yaml', `creation_rules:\n  - key_groups:\n      - kms:\n          - arn: ${arn}\n            context:\n              app: payments\n              version: "2"\n            aws_profile: ""\n        age:\n          - ${age.recipient}\n`);
  ws.write('s.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '-i', 's.yaml']);
  assert.equal(enc.code, 0, enc.stderr);
  const sops = sopsOf(ws.read('s.yaml'));
  assertKmsEntry(sops.kms![0], { arn, context: { app: 'payments', version: '2' } });
  assert.equal(sops.age!.length, 1, 'one group: flat lists, both keys');
  assert.deepEqual(kmsCalls(ws.fake)[0].encryptionContext, { app: 'payments', version: '2' });
  // Decrypt through KMS alone.
  const dec = await ws.wax(['decrypt', 's.yaml'], { SOPS_DECRYPTION_ORDER: 'kms' });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, PLAINTEXT);
}));

test('CLI: --aws-profile reads credentials from the shared credentials file and is stored in the entry', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  const credentials = ws.write('credentials', `[wax-profile]\naws_access_key_id = ${ws.fake.accessKeyId}\naws_secret_access_key = ${ws.fake.secretAccessKey}\n`);
  const profileEnv = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SHARED_CREDENTIALS_FILE: credentials };
  ws.write('s.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '--kms', arn, '--aws-profile', 'wax-profile', '-i', 's.yaml'], profileEnv);
  assert.equal(enc.code, 0, enc.stderr);
  assertKmsEntry(sopsOf(ws.read('s.yaml')).kms![0], { arn, awsProfile: 'wax-profile' });
  const dec = await ws.wax(['decrypt', 's.yaml'], profileEnv);
  assert.equal(dec.code, 0, dec.stderr);
  // The stored profile is used on decrypt; without it in the credentials file, a clear error.
  const missing = await ws.wax(['decrypt', 's.yaml'], { ...profileEnv, AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  assert.equal(missing.code, ExitCode.CouldNotRetrieveKey);
  assert.match(missing.stderr, /no AWS credentials found for profile "wax-profile"/);
}));

test('CLI: no AWS credentials at all → 128 with what to set', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  const result = await ws.wax(['encrypt', '--kms', arn, 's.yaml'], { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
  assert.equal(result.code, ExitCode.CouldNotRetrieveKey);
  assert.match(result.stderr, /wax: error: no AWS credentials found for KMS key arn:aws:kms:\S+; set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.equal(kmsCalls(ws.fake).length, 0);
}));

test('CLI: throttled twice then answered, decrypt succeeds', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  assert.equal((await ws.wax(['encrypt', '--kms', arn, '-i', 's.yaml'])).code, 0);
  ws.fake.faults.throttleNext = 2;
  const dec = await ws.wax(['decrypt', 's.yaml']);
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, PLAINTEXT);
  assert.deepEqual(kmsCalls(ws.fake, 'Decrypt').map((c) => c.outcome), ['ThrottlingException', 'ThrottlingException', 'ok']);
}));

test('CLI: access denied → exit 128 naming the ARN and the reason, the file untouched', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  ws.fake.faults.accessDenied.add(arn);
  const enc = await ws.wax(['encrypt', '--kms', arn, '-i', 's.yaml']);
  assert.equal(enc.code, ExitCode.CouldNotRetrieveKey);
  assert.match(enc.stderr, new RegExp(`wax: error: access denied to KMS key ${arn} for kms:Encrypt`));
  assert.match(enc.stderr, /wax: hint: check the key policy and the caller's IAM permissions for kms:Encrypt/);
  assert.equal(ws.read('s.yaml'), PLAINTEXT, 'plaintext file untouched');

  ws.fake.faults.reset();
  assert.equal((await ws.wax(['encrypt', '--kms', arn, '-i', 's.yaml'])).code, 0);
  const sealed = ws.read('s.yaml');
  ws.fake.faults.accessDenied.add(arn);
  const dec = await ws.wax(['decrypt', '-i', 's.yaml']);
  assert.equal(dec.code, ExitCode.CouldNotRetrieveKey);
  assert.match(dec.stderr, new RegExp(`access denied to KMS key ${arn} for kms:Decrypt`));
  assert.equal(ws.read('s.yaml'), sealed, 'encrypted file untouched');
  assertNoSecrets(dec.stderr + dec.stdout, [String(sopsOf(sealed).kms![0].enc)]);
}));

test('CLI: age and KMS in one group, KMS denied: decrypt succeeds through age', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  const age = ageKeypair(ws.dir);
  ws.write('s.yaml', PLAINTEXT);
  assert.equal((await ws.wax(['encrypt', '--kms', arn, '--age', age.recipient, '-i', 's.yaml'])).code, 0);
  ws.fake.faults.accessDenied.add(arn);
  // KMS first, so that its failure is really met and passed over.
  const dec = await ws.wax(['decrypt', 's.yaml'], { SOPS_AGE_KEY_FILE: age.keyFile, SOPS_DECRYPTION_ORDER: 'kms,age' });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, PLAINTEXT);
  assert.deepEqual(kmsCalls(ws.fake, 'Decrypt').map((c) => c.outcome), ['AccessDeniedException']);
  // The default order (age first) does not call KMS at all.
  const quiet = await ws.wax(['decrypt', 's.yaml'], { SOPS_AGE_KEY_FILE: age.keyFile });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(kmsCalls(ws.fake, 'Decrypt').length, 1);
}));

test('CLI: ARN+ROLE assumes the role through the fake STS with the sops@ session name', withCli(async (ws) => {
  const role = ws.fake.createRole('wax-ci');
  const arn = ws.fake.createKey({ onlyRole: role });
  ws.write('s.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '--kms', `${arn}+${role}`, '-i', 's.yaml']);
  assert.equal(enc.code, 0, enc.stderr);
  assertKmsEntry(sopsOf(ws.read('s.yaml')).kms![0], { arn, role });
  const dec = await ws.wax(['decrypt', 's.yaml']);
  assert.equal(dec.code, 0, dec.stderr);
  const assumed = ws.fake.calls.filter((c) => c.operation === 'AssumeRole');
  assert.equal(assumed.length, 2, 'one AssumeRole per run');
  for (const call of assumed) assert.equal(call.roleSessionName, roleSessionName(hostname()));
  assert.ok(kmsCalls(ws.fake).every((c) => c.principal?.startsWith(`arn:aws:sts::${ws.fake.accountId}:assumed-role/wax-ci/sops@`)));
}));

test('CLI: rotate --add-kms and --rm-kms', withCli(async (ws) => {
  const [first, second] = [ws.fake.createKey(), ws.fake.createKey()];
  ws.write('s.yaml', PLAINTEXT);
  assert.equal((await ws.wax(['encrypt', '--kms', first, '-i', 's.yaml'])).code, 0);
  // created_at is not under the MAC; an old one shows whether rotate keeps it.
  const createdAt = '2020-01-02T03:04:05Z';
  ws.write('s.yaml', ws.read('s.yaml').replace(/created_at: "[^"]+"/, `created_at: "${createdAt}"`));
  const added = await ws.wax(['rotate', '-i', '--add-kms', second, 's.yaml']);
  assert.equal(added.code, 0, added.stderr);
  const afterAdd = sopsOf(ws.read('s.yaml')).kms!;
  assert.deepEqual(afterAdd.map((e) => e.arn), [first, second]);
  assert.equal(afterAdd[0].created_at, createdAt, 'a kept key keeps its created_at, as in sops');
  afterAdd.forEach((e) => assertKmsEntry(e, { arn: String(e.arn) }));
  const removed = await ws.wax(['rotate', '-i', '--rm-kms', first, 's.yaml']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(sopsOf(ws.read('s.yaml')).kms!.map((e) => e.arn), [second]);
  ws.fake.faults.accessDenied.add(first);
  const dec = await ws.wax(['decrypt', 's.yaml']);
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, PLAINTEXT);
}));

test('CLI: a malformed ARN is a KeyFormatError (exit 1), on the command line and in .sops.yaml', withCli(async (ws) => {
  ws.write('s.yaml', PLAINTEXT);
  const flag = await ws.wax(['encrypt', '--kms', 'arn:aws:kms:us-east-1:notanaccount:key/k', 's.yaml']);
  assert.equal(flag.code, ExitCode.Generic);
  assert.match(flag.stderr, /wax: error: invalid AWS KMS key ARN "arn:aws:kms:us-east-1:notanaccount:key\/k"/);
  ws.write('.sops.yaml', 'creation_rules:\n  - key_groups:\n      - kms:\n          - arn: arn:aws:kms:eu-west-1:111122223333:secret/x\n');
  const config = await ws.wax(['encrypt', 's.yaml']);
  assert.equal(config.code, ExitCode.Generic);
  assert.match(config.stderr, /invalid AWS KMS key ARN/);
  assert.equal(ws.fake.calls.length, 0);
}));

test('CLI: network down (endpoint on a closed port) → 128 "cannot reach KMS"', withCli(async (ws) => {
  const arn = ws.fake.createKey();
  ws.write('s.yaml', PLAINTEXT);
  assert.equal((await ws.wax(['encrypt', '--kms', arn, '-i', 's.yaml'])).code, 0);
  const down = `http://127.0.0.1:${await closedPort()}`;
  const dec = await ws.wax(['decrypt', 's.yaml'], { AWS_ENDPOINT_URL_KMS: down });
  assert.equal(dec.code, ExitCode.CouldNotRetrieveKey);
  assert.match(dec.stderr, new RegExp(`cannot reach KMS at ${down.replace(/\./g, '\\.')} \\(ECONNREFUSED\\)`));
  ws.write('t.yaml', PLAINTEXT);
  const enc = await ws.wax(['encrypt', '--kms', arn, '-i', 't.yaml'], { AWS_ENDPOINT_URL_KMS: down });
  assert.equal(enc.code, ExitCode.CouldNotRetrieveKey);
  assert.equal(ws.read('t.yaml'), PLAINTEXT);
}));

// ---------------------------------------------------------------------------- real AWS KMS

const REAL_ARN = process.env.WAX_TEST_AWS_KMS_ARN;
const REAL = REAL_ARN ? {} : { skip: 'WAX_TEST_AWS_KMS_ARN is not set: set it to a KMS key ARN (with AWS credentials in the environment) to run these against real AWS KMS' };

test('real AWS KMS: library round trip with an encryption context', REAL, async () => {
  // The ambient environment: its credentials, profile and region settings, as a user has them.
  const ctx: ProviderContext = { env: { ...process.env } };
  const context = { wax_test: randomUUID() };
  const file = await encryptLib([[{ type: 'kms', value: { arn: REAL_ARN, context } }]], ctx);
  assertKmsEntry(sopsOf(file).kms![0], { arn: REAL_ARN!, context, awsProfile: '' });
  assert.equal(await decryptLib(file, { env: { ...process.env } }), PLAINTEXT);
  const moved = Buffer.from(file.toString().replace(context.wax_test, 'another'));
  await assert.rejects(decryptLib(moved, { env: { ...process.env } }), (e: unknown) => e instanceof DataKeyUnavailableError && /wrong key or encryption context/.test(e.message));
});

test('real AWS KMS: CLI encrypt and decrypt', REAL, async () => {
  const dir = makeTempDir('wax-kms-real-');
  try {
    writeFileSync(join(dir, 's.yaml'), PLAINTEXT);
    const enc = await runWaxAsync(['encrypt', '--kms', REAL_ARN!, '--encryption-context', 'wax:test', '-i', 's.yaml'], { cwd: dir });
    assert.equal(enc.code, 0, enc.stderr);
    assertKmsEntry(sopsOf(readFileSync(join(dir, 's.yaml'))).kms![0], { arn: REAL_ARN!, context: { wax: 'test' } });
    const dec = await runWaxAsync(['decrypt', 's.yaml'], { cwd: dir });
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(dec.stdout, PLAINTEXT);
  } finally {
    removeTempDir(dir);
  }
});
