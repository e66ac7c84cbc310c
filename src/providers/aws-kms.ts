/**
 * AWS KMS master keys (sops-format.md §9.3), as sops 3.8+ uses them: `Encrypt` of the
 * data key (or Shamir share) under the key ARN with the entry's encryption context, and
 * `Decrypt` with the same KeyId and context. The region comes from the ARN; credentials
 * from the SDK's default chain (or `aws_profile`), optionally exchanged for a role's
 * through STS AssumeRole. The SDK is imported only when a KMS key is actually used.
 */
import { hostname } from 'node:os';
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import type { STSClientConfig } from '@aws-sdk/client-sts';
import { KeyFormatError, MasterKeyError } from '../errors.js';
import { importExternal } from '../external-import.js';
import { nowRfc3339, parseRfc3339, type MasterKeyEntry } from '../document/metadata.js';
import type { MasterKeyRecipient, Provider, ProviderContext } from './types.js';

/** sops' own pattern, so that exactly the ARNs sops accepts are accepted. */
const KEY_ARN = /^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)\/.+$/;
const ROLE_ARN = /^arn:aws[\w-]*:iam::[0-9]+:role\/.+$/;
const ARN_HINT = 'KMS keys look like arn:aws:kms:REGION:ACCOUNT:key/ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME, optionally followed by +arn:aws:iam::ACCOUNT:role/NAME';

/** Attempts per KMS or STS call (standard retry mode: throttling and network errors back off and retry). */
const DEFAULT_MAX_ATTEMPTS = 3;
/**
 * A KMS that never answers must not hang `wax` forever. The SDK's HTTP handler only logs
 * an exceeded requestTimeout unless throwOnRequestTimeout is set.
 */
const CONNECTION_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** One KMS master key as sops describes it. */
interface KmsKey {
  arn: string;
  /** IAM role to assume first; '' for none. */
  role: string;
  context: Record<string, string>;
  /** Shared-config profile; '' for the default chain. */
  profile: string;
  region: string;
}

type Operation = 'Encrypt' | 'Decrypt';
type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

// ---------------------------------------------------------------------------- keys

function checkArn(arn: string): string {
  const match = KEY_ARN.exec(arn);
  if (!match) throw new KeyFormatError(`invalid AWS KMS key ARN ${JSON.stringify(arn)}`, ARN_HINT);
  return match[1];
}

function checkRole(role: string, arn: string): void {
  if (role !== '' && !ROLE_ARN.test(role)) throw new KeyFormatError(`invalid IAM role ARN ${JSON.stringify(role)} for KMS key ${arn}`, 'roles look like arn:aws:iam::ACCOUNT:role/NAME');
}

function makeKmsKey(arn: string, role = '', context: Record<string, string> = {}, profile = ''): KmsKey {
  const region = checkArn(arn);
  checkRole(role, arn);
  return { arn, role, context, profile, region };
}

/** `ARN` or `ARN+ROLE_ARN`; sops drops spaces and splits at the role's `+arn:`. */
function parseKmsText(text: string): { arn: string; role: string } {
  const compact = text.replace(/\s+/g, '');
  const plus = compact.indexOf('+arn:');
  return plus > 0 ? { arn: compact.slice(0, plus), role: compact.slice(plus + 1) } : { arn: compact, role: '' };
}

function optionalString(value: unknown, field: string, arn: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new KeyFormatError(`the ${field} of KMS key ${arn} must be a string`);
  return value;
}

/**
 * A `.sops.yaml` context must be strings: sops silently drops a context holding other
 * values, and a file bound to no context is worse than an error.
 */
function configContext(value: unknown, arn: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new KeyFormatError(`the context of KMS key ${arn} must be a mapping of strings`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new KeyFormatError(`the context value for ${JSON.stringify(k)} of KMS key ${arn} is not a string`, 'quote it in .sops.yaml, e.g. version: "1"');
  }
  return { ...(value as Record<string, string>) };
}

/** Stored contexts are read leniently, as sops' weakly typed decoder does. */
function storedContext(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

function keyFromConfig(value: Record<string, unknown>): KmsKey {
  if (typeof value.arn !== 'string') throw new KeyFormatError('a KMS key in .sops.yaml needs an arn', ARN_HINT);
  const parsed = parseKmsText(value.arn);
  const role = optionalString(value.role, 'role', parsed.arn) || parsed.role;
  return makeKmsKey(parsed.arn, role.trim(), configContext(value.context, parsed.arn), optionalString(value.aws_profile, 'aws_profile', parsed.arn));
}

function keyFromEntry(entry: MasterKeyEntry): KmsKey {
  const field = (name: string) => (entry.fields[name] === undefined || entry.fields[name] === null ? '' : String(entry.fields[name]));
  return makeKmsKey(field('arn'), field('role'), storedContext(entry.fields.context), field('aws_profile'));
}

/** The entry exactly as sops 3.13 writes it (the serializer sorts the keys). */
function entryFields(key: KmsKey, enc: string, createdAt: string): Record<string, unknown> {
  const fields: Record<string, unknown> = { arn: key.arn, aws_profile: key.profile, created_at: createdAt, enc };
  if (Object.keys(key.context).length > 0) fields.context = { ...key.context };
  if (key.role !== '') fields.role = key.role;
  return fields;
}

function recipientFor(key: KmsKey, ctx: ProviderContext, createdAt?: string): MasterKeyRecipient {
  return {
    type: 'kms',
    id: key.arn,
    async wrap(dataKey: Uint8Array): Promise<MasterKeyEntry> {
      const blob = await withKms(key, ctx.env, 'Encrypt', async (sdk, client) => {
        const out = await client.send(new sdk.EncryptCommand({ KeyId: key.arn, Plaintext: dataKey, ...contextParam(key) }));
        return out.CiphertextBlob;
      });
      if (!blob || blob.length === 0) throw new MasterKeyError(`KMS returned no ciphertext for ${key.arn}`);
      return { type: 'kms', fields: entryFields(key, Buffer.from(blob).toString('base64'), createdAt ?? nowRfc3339()) };
    },
  };
}

/** KMS treats an empty context as none (sops sends `{}`); wax leaves the field out. */
function contextParam(key: KmsKey): { EncryptionContext?: Record<string, string> } {
  return Object.keys(key.context).length > 0 ? { EncryptionContext: key.context } : {};
}

function decodeEnc(value: unknown, arn: string): Buffer {
  const text = typeof value === 'string' ? value.replace(/\s+/g, '') : '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new MasterKeyError(`the wrapped data key for ${arn} is missing or not valid base64 (the file is damaged)`);
  }
  return Buffer.from(text, 'base64');
}

// ---------------------------------------------------------------------------- SDK calls

type KmsModule = typeof import('@aws-sdk/client-kms');

async function loadSdk<T>(load: () => Promise<T>, name: string): Promise<T> {
  try {
    return await load();
  } catch {
    throw new MasterKeyError(`the AWS SDK (${name}) could not be loaded`, 'reinstall wax with its dependencies (npm ci)');
  }
}

/** AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, unless configured endpoints are ignored. */
function endpointOverride(env: NodeJS.ProcessEnv, service: 'KMS' | 'STS'): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL || undefined;
}

function maxAttempts(env: NodeJS.ProcessEnv): number {
  const n = Number(env.AWS_MAX_ATTEMPTS);
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_MAX_ATTEMPTS;
}

/**
 * The profile in force: the key's own, else AWS_PROFILE. Without one, static keys in
 * ctx.env are used as the chain's first link would use them, so that library callers
 * who pass their own environment get its credentials, not the process's.
 */
function baseCredentials(key: KmsKey, env: NodeJS.ProcessEnv): { profile?: string; credentials?: Credentials } {
  const profile = key.profile || env.AWS_PROFILE || '';
  if (profile !== '') return { profile };
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } };
  }
  return {};
}

function commonConfig(key: KmsKey, env: NodeJS.ProcessEnv, service: 'KMS' | 'STS', base: { profile?: string; credentials?: Credentials }) {
  const endpoint = endpointOverride(env, service);
  return {
    region: key.region,
    ...(endpoint ? { endpoint } : {}),
    ...(base.profile ? { profile: base.profile } : {}),
    ...(base.credentials ? { credentials: base.credentials } : {}),
    maxAttempts: maxAttempts(env),
    retryMode: 'standard',
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
  };
}

/** The part of the SDK's middleware stack used here; its own types live in a transitive package. */
type MiddlewareStack = { add(middleware: unknown, options: { step: 'finalizeRequest'; name: string }): void };
type Next = (args: { request?: unknown }) => Promise<unknown>;

/** Where requests actually went, so a network error can say which endpoint was unreachable. */
function recordEndpoint(stack: unknown, seen: { url?: string }): void {
  const middleware = (next: Next) => async (args: { request?: unknown }) => {
    const request = args.request as { protocol?: string; hostname?: string; port?: number } | undefined;
    if (request?.hostname) seen.url = `${request.protocol ?? 'https:'}//${request.hostname}${request.port ? `:${request.port}` : ''}`;
    return next(args);
  };
  (stack as MiddlewareStack).add(middleware, { step: 'finalizeRequest', name: 'waxRecordEndpoint' });
}

function defaultEndpoint(key: KmsKey, env: NodeJS.ProcessEnv, service: 'KMS' | 'STS'): string {
  const suffix = key.arn.startsWith('arn:aws-cn:') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return endpointOverride(env, service) ?? `https://${service.toLowerCase()}.${key.region}.${suffix}`;
}

/** One KMS client for one call: sops makes one call per key per file, and so do we. */
async function withKms<T>(key: KmsKey, env: NodeJS.ProcessEnv, operation: Operation, run: (sdk: KmsModule, client: KMSClient) => Promise<T>): Promise<T> {
  const sdk = await loadSdk(() => importExternal<KmsModule>('@aws-sdk/client-kms'), '@aws-sdk/client-kms');
  let base = baseCredentials(key, env);
  if (key.role !== '') base = { credentials: await assumeRole(key, env, base) };
  const seen: { url?: string } = {};
  const client = new sdk.KMSClient(commonConfig(key, env, 'KMS', base) as KMSClientConfig);
  recordEndpoint(client.middlewareStack, seen);
  try {
    return await run(sdk, client);
  } catch (error) {
    throw kmsError(error, operation, key, seen.url ?? defaultEndpoint(key, env, 'KMS'), base.profile);
  } finally {
    client.destroy();
  }
}

/**
 * sops 3.8+ names the session `sops@<hostname>`, deleting every character its pattern
 * `[^a-zA-Z0-9=,.@-_]+` matches (`@-_` is a range there, so `-` and `+` go too), and
 * cuts it at 64 characters. Matching it keeps IAM conditions and CloudTrail queries
 * written for sops working; characters STS would still reject are dropped as well.
 */
export function roleSessionName(host: string = hostname()): string {
  const sanitized = host.replace(/[^a-zA-Z0-9=,.@-_]+/g, '').replace(/[^\w+=,.@-]/g, '');
  return `sops@${sanitized}`.slice(0, 64);
}

async function assumeRole(key: KmsKey, env: NodeJS.ProcessEnv, base: { profile?: string; credentials?: Credentials }): Promise<Credentials> {
  const sdk = await loadSdk(() => importExternal<typeof import('@aws-sdk/client-sts')>('@aws-sdk/client-sts'), '@aws-sdk/client-sts');
  const seen: { url?: string } = {};
  const client = new sdk.STSClient(commonConfig(key, env, 'STS', base) as STSClientConfig);
  recordEndpoint(client.middlewareStack, seen);
  try {
    const out = await client.send(new sdk.AssumeRoleCommand({ RoleArn: key.role, RoleSessionName: roleSessionName() }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new MasterKeyError(`STS returned no credentials for role ${key.role}`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}) };
  } catch (error) {
    if (error instanceof MasterKeyError) throw error;
    throw roleError(error, key, seen.url ?? defaultEndpoint(key, env, 'STS'), base.profile);
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------- errors

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);
const EXPIRED = new Set(['ExpiredTokenException', 'ExpiredToken', 'RequestExpired', 'TokenRefreshRequired']);
const UNRECOGNIZED = new Set(['UnrecognizedClientException', 'InvalidClientTokenId']);

interface Failure {
  name: string;
  code?: string;
  /** AWS's own explanation on one line; KMS and STS never echo key material in it. */
  detail: string;
  attempts?: number;
}

function failureOf(error: unknown): Failure {
  const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { attempts?: number } };
  // The SDK fills in "UnknownError" when AWS sent no message (InvalidCiphertextException does not).
  const raw = typeof e.message === 'string' && e.message !== 'UnknownError' ? e.message : '';
  return { name: e.name ?? 'Error', code: e.code, detail: raw.replace(/\s+/g, ' ').trim().slice(0, 300), attempts: e.$metadata?.attempts };
}

function awsSaid(f: Failure): string {
  return f.detail ? ` (AWS: ${f.detail})` : '';
}

const CREDENTIAL_SOURCES = 'wax reads AWS credentials as the AWS CLI does: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or aws_profile, web identity (IRSA), EKS Pod Identity, then the instance role';

/** Failures any AWS call can meet: network, credentials, throttling, signature. */
function commonFailure(f: Failure, what: string, service: 'KMS' | 'STS', endpoint: string, profile: string | undefined): MasterKeyError | undefined {
  const overrides = `AWS_ENDPOINT_URL_${service} / AWS_ENDPOINT_URL`;
  if ((f.code && NETWORK_CODES.has(f.code)) || NETWORK_NAMES.has(f.name)) {
    return new MasterKeyError(`cannot reach ${service} at ${endpoint} (${f.code ?? f.name}) for ${what}`, `check the network or proxy, the region in the ARN, and ${overrides}`);
  }
  if (f.name === 'CredentialsProviderError') {
    if (profile) return new MasterKeyError(`no AWS credentials found for profile "${profile}" (${what})`, 'check that ~/.aws/config or ~/.aws/credentials defines the profile, or log in again (aws sso login)');
    return new MasterKeyError(`no AWS credentials found for ${what}; set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, CREDENTIAL_SOURCES);
  }
  if (EXPIRED.has(f.name)) return new MasterKeyError(`the AWS credentials used for ${what} have expired`, 'refresh them (aws sso login, or a new session token) and retry');
  if (UNRECOGNIZED.has(f.name)) {
    return new MasterKeyError(`the AWS credentials used for ${what} were not recognized (unknown access key id or invalid session token)`, 'check AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN or the profile');
  }
  if (THROTTLING.has(f.name)) {
    return new MasterKeyError(`${service} kept throttling requests for ${what}${f.attempts ? ` after ${f.attempts} attempts` : ''}`, `retry later, raise AWS_MAX_ATTEMPTS, or ask AWS for a higher ${service} request quota`);
  }
  if (f.name === 'InvalidSignatureException' || f.name === 'SignatureDoesNotMatch') {
    if (/region/i.test(f.detail)) return new MasterKeyError(`wrong region for ${what}: ${endpoint} does not serve the region named in the ARN${awsSaid(f)}`, `check the ARN's region and ${overrides}`);
    return new MasterKeyError(`${service} rejected the request signature for ${what}`, "check the secret access key (AWS_SECRET_ACCESS_KEY or the profile's) and the system clock");
  }
  return undefined;
}

function kmsError(error: unknown, operation: Operation, key: KmsKey, endpoint: string, profile: string | undefined): MasterKeyError {
  const f = failureOf(error);
  const what = `KMS key ${key.arn}`;
  const common = commonFailure(f, what, 'KMS', endpoint, profile);
  if (common) return common;
  const as = key.role ? ` as role ${key.role}` : '';
  switch (f.name) {
    case 'AccessDeniedException':
      return new MasterKeyError(`access denied to ${what} for kms:${operation}${as}${awsSaid(f)}`, `check the key policy and the caller's IAM permissions for kms:${operation}`);
    case 'NotFoundException':
      if (/invalid arn/i.test(f.detail)) return new MasterKeyError(`wrong region for ${what}: ${endpoint} does not serve ${key.region}${awsSaid(f)}`, 'check the ARN and AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL');
      return new MasterKeyError(`${what} was not found`, `check the key id or alias, the account, and that the key exists in ${key.region}`);
    case 'InvalidArnException':
      return new MasterKeyError(`KMS refused the ARN ${key.arn}${awsSaid(f)}`, 'check the ARN and its region');
    case 'DisabledException':
      return new MasterKeyError(`${what} is disabled`, operation === 'Decrypt' ? 'enable the key in KMS, or decrypt with another key of the group' : 'enable the key in KMS, or encrypt with another key');
    case 'KMSInvalidStateException':
      return new MasterKeyError(`${what} cannot be used in its current state${awsSaid(f)}`, 'the key must be enabled, not pending deletion or import');
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
      return new MasterKeyError(`${what} could not decrypt the wrapped data key: wrong key or encryption context`, "the file's kms entry (arn, context) must be exactly what it was encrypted with; restore it from version control");
    case 'InvalidKeyUsageException':
      return new MasterKeyError(`${what} cannot ${operation.toLowerCase()}${awsSaid(f)}`, 'use a symmetric ENCRYPT_DECRYPT key');
    default:
      return new MasterKeyError(`KMS ${operation} with ${what} failed: ${f.name}${f.detail ? `: ${f.detail}` : ''}`);
  }
}

function roleError(error: unknown, key: KmsKey, endpoint: string, profile: string | undefined): MasterKeyError {
  const f = failureOf(error);
  const what = `role ${key.role} (for KMS key ${key.arn})`;
  const common = commonFailure(f, what, 'STS', endpoint, profile);
  if (common) return common;
  if (f.name === 'AccessDenied') return new MasterKeyError(`cannot assume ${what}: access denied${awsSaid(f)}`, "check the role's trust policy and the caller's sts:AssumeRole permission");
  return new MasterKeyError(`cannot assume ${what}: ${f.name}${f.detail ? `: ${f.detail}` : ''}`);
}

// ---------------------------------------------------------------------------- provider

export const awsKmsProvider: Provider = {
  type: 'kms',

  parseRecipient(text: string, ctx: ProviderContext): MasterKeyRecipient {
    const { arn, role } = parseKmsText(text);
    return recipientFor(makeKmsKey(arn, role), ctx);
  },

  recipientFromConfig(value: Record<string, unknown>, ctx: ProviderContext): MasterKeyRecipient {
    return recipientFor(keyFromConfig(value), ctx);
  },

  /** Re-wrapping keeps created_at, as sops does on rotate and updatekeys. */
  recipientFromEntry(entry: MasterKeyEntry, ctx: ProviderContext): MasterKeyRecipient {
    const createdAt = typeof entry.fields.created_at === 'string' && parseRfc3339(entry.fields.created_at) !== undefined ? entry.fields.created_at : undefined;
    return recipientFor(keyFromEntry(entry), ctx, createdAt);
  },

  describe(entry: MasterKeyEntry): string {
    return typeof entry.fields.arn === 'string' ? entry.fields.arn : '(no arn)';
  },

  /** Never null: any KMS entry may be decryptable with the ambient credentials, so it is always tried. */
  async unwrap(entry: MasterKeyEntry, ctx: ProviderContext): Promise<Uint8Array> {
    const key = keyFromEntry(entry);
    const blob = decodeEnc(entry.fields.enc, key.arn);
    const plaintext = await withKms(key, ctx.env, 'Decrypt', async (sdk, client) => {
      const out = await client.send(new sdk.DecryptCommand({ KeyId: key.arn, CiphertextBlob: blob, ...contextParam(key) }));
      return out.Plaintext;
    });
    if (!plaintext || plaintext.length === 0) throw new MasterKeyError(`KMS returned no plaintext for ${key.arn}`);
    return new Uint8Array(plaintext);
  },
};
