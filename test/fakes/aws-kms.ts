/**
 * A wire-level fake of AWS KMS and of STS AssumeRole for tests (design.md §6: never mock
 * the SDK, fake the service). One node:http server on 127.0.0.1 speaks
 *
 * - KMS's JSON 1.1 protocol: `POST /`, `X-Amz-Target: TrentService.<Operation>`,
 *   `Content-Type: application/x-amz-json-1.1`, base64 blobs, errors as
 *   `{"__type": ..., "message": ...}` with the status codes AWS uses;
 * - STS's query protocol: a form-encoded `Action=AssumeRole` answered in XML.
 *
 * Every request must carry a valid SigV4 signature (verified by hand below from the
 * AWS specification) by a known access key, scoped to the fake's region and the right
 * service. Keys are real AES-256-GCM keys: a ciphertext blob names its key and is bound
 * to the encryption context, so Decrypt with another context fails as it does in AWS.
 * Faults (access denied, disabled, pending deletion, not found, throttling) are switched
 * on per key, and every call is recorded for tests to count and inspect.
 *
 * The fake answers from this process's event loop: drive the CLI with `runWaxAsync`
 * (test/support/cli-async.ts), not `runWax`, whose spawnSync would block the fake and
 * hang until the run times out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

// ---------------------------------------------------------------------------- SigV4

/** A request as it arrived: raw path with query, headers as sent (names in any case), body. */
export interface SignedRequest {
  method: string;
  /** Path and query exactly as on the request line, e.g. `/` or `/a%20b?x=1`. */
  url: string;
  headers: [string, string][];
  body: Buffer;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export type SigV4Result =
  | { ok: true; auth: ParsedAuthorization }
  | { ok: false; type: 'IncompleteSignatureException' | 'InvalidSignatureException' | 'UnrecognizedClientException'; message: string; auth?: ParsedAuthorization };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 15 * 60 * 1000;

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 unreserved characters stay, everything else is %XX with upper-case hex (SigV4's UriEncode). */
function uriEncode(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Non-S3 services encode each path segment once more than the request line (the spec's "double encoding"). */
function canonicalUri(path: string): string {
  if (path === '' || path === '/') return '/';
  return path.split('/').map((segment) => uriEncode(segment)).join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query.split('&').filter(Boolean).map((part) => {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    return [uriEncode(safeDecode(name.replace(/\+/g, '%20'))), uriEncode(safeDecode(value.replace(/\+/g, '%20')))] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Values of repeated headers are joined with commas; runs of spaces collapse to one. */
function headerValues(headers: [string, string][]): Map<string, string> {
  const out = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const list = out.get(key) ?? [];
    list.push(value.trim().replace(/\s+/g, ' '));
    out.set(key, list);
  }
  return new Map([...out].map(([k, v]) => [k, v.join(',')]));
}

/** The canonical request of the SigV4 specification, for the headers the client says it signed. */
export function canonicalRequest(request: SignedRequest, signedHeaders: string[]): string {
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const query = q < 0 ? '' : request.url.slice(q + 1);
  const values = headerValues(request.headers);
  const headerBlock = signedHeaders.map((name) => `${name}:${values.get(name) ?? ''}\n`).join('');
  return [request.method.toUpperCase(), canonicalUri(path), canonicalQuery(query), headerBlock, signedHeaders.join(';'), sha256Hex(request.body)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** The signature a client holding `secret` must have sent. */
export function expectedSignature(request: SignedRequest, auth: ParsedAuthorization, amzDate: string, secret: string): string {
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest(request, auth.signedHeaders))].join('\n');
  return createHmac('sha256', signingKey(secret, auth.date, auth.region, auth.service)).update(stringToSign, 'utf8').digest('hex');
}

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const m = header ? AUTH_PATTERN.exec(header.trim()) : null;
  if (!m) return undefined;
  const [, accessKeyId, date, region, service, signed, signature] = m;
  return { accessKeyId, date, region, service, signedHeaders: signed.split(';'), signature };
}

function amzDateMs(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : undefined;
}

export interface VerifyOptions {
  /** The secret for an access key id, or undefined when the key is unknown. */
  secretFor(accessKeyId: string): string | undefined;
  region: string;
  service: string;
  now?: number;
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** Verifies a SigV4 `Authorization` header as AWS does, in AWS's order of checks. */
export function verifySigV4(request: SignedRequest, options: VerifyOptions): SigV4Result {
  const values = headerValues(request.headers);
  const auth = parseAuthorization(values.get('authorization'));
  if (!auth) return { ok: false, type: 'IncompleteSignatureException', message: 'Authorization header requires Credential, SignedHeaders and Signature parameters (AWS4-HMAC-SHA256).' };
  const secret = options.secretFor(auth.accessKeyId);
  if (secret === undefined) return { ok: false, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', auth };
  if (!auth.signedHeaders.includes('host')) return { ok: false, type: 'IncompleteSignatureException', message: "'Host' must be a 'SignedHeader' in the AWS Authorization.", auth };
  const amzDate = values.get('x-amz-date') ?? '';
  const signedAt = amzDateMs(amzDate);
  if (signedAt === undefined || !auth.signedHeaders.includes('x-amz-date')) return { ok: false, type: 'IncompleteSignatureException', message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", auth };
  if (amzDate.slice(0, 8) !== auth.date) return { ok: false, type: 'InvalidSignatureException', message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`, auth };
  if (auth.service !== options.service) return { ok: false, type: 'InvalidSignatureException', message: `Credential should be scoped to correct service: '${options.service}'. `, auth };
  if (auth.region !== options.region) return { ok: false, type: 'InvalidSignatureException', message: `Credential should be scoped to a valid region, not '${auth.region}'. `, auth };
  const now = options.now ?? Date.now();
  if (Math.abs(now - signedAt) > MAX_SKEW_MS) return { ok: false, type: 'InvalidSignatureException', message: `Signature expired: ${amzDate} is now earlier than the allowed 15 minute window.`, auth };
  const expected = Buffer.from(expectedSignature(request, auth, amzDate, secret), 'hex');
  const given = Buffer.from(auth.signature, 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, type: 'InvalidSignatureException', message: SIGNATURE_MISMATCH, auth };
  return { ok: true, auth };
}

// ---------------------------------------------------------------------------- state

export interface KmsCall {
  service: 'kms' | 'sts';
  operation: string;
  /** The KeyId as the client sent it (ARN, alias or id). */
  keyId?: string;
  /** The key's ARN, when the KeyId named a key. */
  keyArn?: string;
  encryptionContext?: Record<string, string>;
  accessKeyId?: string;
  /** Who signed: the test user or `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`. */
  principal?: string;
  roleArn?: string;
  roleSessionName?: string;
  /** `ok`, or the error type returned. */
  outcome: string;
}

export interface KmsFaults {
  /** Key ARNs for which every operation answers AccessDeniedException. */
  accessDenied: Set<string>;
  /** Key ARNs answering DisabledException. */
  disabled: Set<string>;
  /** Key ARNs answering KMSInvalidStateException (pending deletion). */
  pendingDeletion: Set<string>;
  /** Key ARNs answering NotFoundException, as if the key were deleted. */
  notFound: Set<string>;
  /** Answer the next N KMS calls with ThrottlingException (HTTP 400). */
  throttleNext: number;
  /** Role ARNs that the test user may not assume (AccessDenied from STS). */
  assumeRoleDenied: Set<string>;
  reset(): void;
}

export interface CreateKeyOptions {
  /** Only this role's sessions may use the key; everyone else gets AccessDeniedException. */
  onlyRole?: string;
  /** An alias to create for the key (`alias/NAME` or `NAME`). */
  alias?: string;
}

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface FakeKms {
  /** `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL_STS. */
  endpoint: string;
  region: string;
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Variables that point the SDK at the fake and keep every real credential source out
   * of the way; a value of undefined means "remove it" (runWax understands this).
   */
  env: Record<string, string | undefined>;
  /** A new symmetric key; returns its ARN. */
  createKey(options?: CreateKeyOptions): string;
  /** The alias ARN for a new alias of `keyArn`. */
  createAlias(name: string, keyArn: string): string;
  /** An IAM role the test user may assume; returns its ARN. */
  createRole(name?: string): string;
  /** Session credentials as STS would issue them, optionally already expired. */
  issueSession(options?: { expired?: boolean; principal?: string }): TemporaryCredentials;
  calls: KmsCall[];
  faults: KmsFaults;
  close(): Promise<void>;
}

export interface FakeKmsOptions {
  region?: string;
  accountId?: string;
}

interface FakeKey {
  keyId: string;
  arn: string;
  material: Buffer;
  onlyRole?: string;
}

interface Credential {
  secret: string;
  principal: string;
  sessionToken?: string;
  expires?: number;
  role?: string;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string | undefined,
    readonly status = 400,
  ) {
    super(message);
  }
}

const BLOB_VERSION = 0x01;
const KEY_ID_LENGTH = 36;

/** Encryption context as KMS binds it: independent of the order the client sent it in. */
function contextAad(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function sealBlob(key: FakeKey, plaintext: Buffer, context: Record<string, string> | undefined): Buffer {
  const iv = randomBytes(12);
  const header = Buffer.concat([Buffer.from([BLOB_VERSION]), Buffer.from(key.keyId, 'ascii')]);
  const cipher = createCipheriv('aes-256-gcm', key.material, iv);
  // The header is authenticated too, so a blob cannot be re-labelled with another key id.
  cipher.setAAD(Buffer.concat([header, contextAad(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

function blobKeyId(blob: Buffer): string {
  if (blob.length < 1 + KEY_ID_LENGTH + 12 + 16 || blob[0] !== BLOB_VERSION) throw new KmsError('InvalidCiphertextException', undefined);
  return blob.subarray(1, 1 + KEY_ID_LENGTH).toString('ascii');
}

function openBlob(key: FakeKey, blob: Buffer, context: Record<string, string> | undefined): Buffer {
  const header = blob.subarray(0, 1 + KEY_ID_LENGTH);
  const iv = blob.subarray(1 + KEY_ID_LENGTH, 1 + KEY_ID_LENGTH + 12);
  const tag = blob.subarray(1 + KEY_ID_LENGTH + 12, 1 + KEY_ID_LENGTH + 28);
  const decipher = createDecipheriv('aes-256-gcm', key.material, iv);
  decipher.setAAD(Buffer.concat([header, contextAad(context)]));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(1 + KEY_ID_LENGTH + 28)), decipher.final()]);
  } catch {
    // Real KMS answers a wrong context with this error and no message.
    throw new KmsError('InvalidCiphertextException', undefined);
  }
}

function randomId(prefix: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
}

// ---------------------------------------------------------------------------- server

class FakeKmsServer {
  readonly keys = new Map<string, FakeKey>();
  readonly aliases = new Map<string, string>();
  readonly roles = new Set<string>();
  readonly credentials = new Map<string, Credential>();
  readonly calls: KmsCall[] = [];
  readonly faults: KmsFaults = {
    accessDenied: new Set(),
    disabled: new Set(),
    pendingDeletion: new Set(),
    notFound: new Set(),
    throttleNext: 0,
    assumeRoleDenied: new Set(),
    reset() {
      this.accessDenied.clear();
      this.disabled.clear();
      this.pendingDeletion.clear();
      this.notFound.clear();
      this.assumeRoleDenied.clear();
      this.throttleNext = 0;
    },
  };

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  createKey(options: CreateKeyOptions = {}): string {
    const keyId = randomUUID();
    const key: FakeKey = { keyId, arn: `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`, material: randomBytes(32), onlyRole: options.onlyRole };
    this.keys.set(keyId, key);
    if (options.alias) this.createAlias(options.alias, key.arn);
    return key.arn;
  }

  createAlias(name: string, keyArn: string): string {
    const alias = name.startsWith('alias/') ? name : `alias/${name}`;
    const key = this.resolveKey(keyArn);
    if (!key) throw new Error(`no key ${keyArn}`);
    this.aliases.set(alias, key.keyId);
    return `arn:aws:kms:${this.region}:${this.accountId}:${alias}`;
  }

  createRole(name = `wax-test-${randomBytes(4).toString('hex')}`): string {
    const arn = `arn:aws:iam::${this.accountId}:role/${name}`;
    this.roles.add(arn);
    return arn;
  }

  issueSession(principal: string, expiresInMs: number, role?: string): TemporaryCredentials {
    const creds = { accessKeyId: randomId('ASIA', 16), secretAccessKey: randomBytes(30).toString('base64'), sessionToken: randomBytes(96).toString('base64') };
    this.credentials.set(creds.accessKeyId, { secret: creds.secretAccessKey, principal, sessionToken: creds.sessionToken, expires: Date.now() + expiresInMs, role });
    return creds;
  }

  /** KeyId as KMS accepts it: key id, key ARN, alias name or alias ARN. */
  resolveKey(keyId: string): FakeKey | undefined {
    const prefix = `arn:aws:kms:${this.region}:${this.accountId}:`;
    const local = keyId.startsWith(prefix) ? keyId.slice(prefix.length) : keyId;
    if (local.startsWith('alias/')) {
      const id = this.aliases.get(local);
      return id === undefined ? undefined : this.keys.get(id);
    }
    return this.keys.get(local.startsWith('key/') ? local.slice(4) : local);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const request: SignedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: pairs(req.rawHeaders), body };
    const target = header(req, 'x-amz-target');
    if (target !== undefined) return this.handleKms(request, target, req, res);
    if ((header(req, 'content-type') ?? '').startsWith('application/x-www-form-urlencoded')) return this.handleSts(request, req, res);
    sendJson(res, 404, { __type: 'UnknownOperationException' });
  }

  /** SigV4 plus session-token checks; returns the caller or throws the error AWS would send. */
  authenticate(request: SignedRequest, req: IncomingMessage, service: 'kms' | 'sts'): { accessKeyId: string; credential: Credential } {
    const result = verifySigV4(request, { secretFor: (id) => this.credentials.get(id)?.secret, region: this.region, service });
    if (!result.ok) throw new KmsError(result.type, result.message, result.type === 'UnrecognizedClientException' ? 400 : service === 'sts' ? 403 : 400);
    const credential = this.credentials.get(result.auth.accessKeyId)!;
    if (credential.sessionToken !== undefined) {
      const token = header(req, 'x-amz-security-token');
      if (token !== credential.sessionToken || !result.auth.signedHeaders.includes('x-amz-security-token')) {
        throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
      }
      if (credential.expires !== undefined && credential.expires < Date.now()) throw new KmsError('ExpiredTokenException', 'The security token included in the request is expired');
    }
    return { accessKeyId: result.auth.accessKeyId, credential };
  }

  async handleKms(request: SignedRequest, target: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
    const call: KmsCall = { service: 'kms', operation, outcome: 'ok' };
    this.calls.push(call);
    try {
      if (this.faults.throttleNext > 0) {
        this.faults.throttleNext--;
        throw new KmsError('ThrottlingException', 'Rate exceeded');
      }
      const { accessKeyId, credential } = this.authenticate(request, req, 'kms');
      call.accessKeyId = accessKeyId;
      call.principal = credential.principal;
      if (!(header(req, 'content-type') ?? '').startsWith('application/x-amz-json-1.1')) throw new KmsError('SerializationException', 'Unexpected content type');
      const input = parseJson(request.body);
      call.keyId = typeof input.KeyId === 'string' ? input.KeyId : undefined;
      call.encryptionContext = input.EncryptionContext as Record<string, string> | undefined;
      const output = this.runKms(operation, input, credential, call);
      sendJson(res, 200, output);
    } catch (error) {
      const e = error instanceof KmsError ? error : new KmsError('KMSInternalException', 'internal error in the fake', 500);
      call.outcome = e.type;
      sendJson(res, e.status, e.message === undefined || e.message === '' ? { __type: e.type } : { __type: e.type, message: e.message });
    }
  }

  /** The key named by KeyId, after the per-key faults and the key policy. */
  usableKey(keyId: unknown, operation: string, credential: Credential, call: KmsCall): FakeKey {
    if (typeof keyId !== 'string' || keyId === '') throw new KmsError('ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    const key = this.resolveKey(keyId);
    if (!key || this.faults.notFound.has(key.arn)) throw new KmsError('NotFoundException', `Key '${keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`}' does not exist`);
    call.keyArn = key.arn;
    if (this.faults.accessDenied.has(key.arn) || (key.onlyRole !== undefined && credential.role !== key.onlyRole)) {
      throw new KmsError('AccessDeniedException', `User: ${credential.principal} is not authorized to perform: kms:${operation} on resource: ${key.arn} because no identity-based policy allows the kms:${operation} action`);
    }
    if (this.faults.disabled.has(key.arn)) throw new KmsError('DisabledException', `${key.arn} is disabled.`);
    if (this.faults.pendingDeletion.has(key.arn)) throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    return key;
  }

  runKms(operation: string, input: Record<string, unknown>, credential: Credential, call: KmsCall): Record<string, unknown> {
    const context = checkContext(input.EncryptionContext);
    switch (operation) {
      case 'Encrypt': {
        const key = this.usableKey(input.KeyId, operation, credential, call);
        const plaintext = blob(input.Plaintext, 'plaintext', 4096);
        return { CiphertextBlob: sealBlob(key, plaintext, context).toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'GenerateDataKey': {
        const key = this.usableKey(input.KeyId, operation, credential, call);
        const size = input.KeySpec === 'AES_128' ? 16 : input.KeySpec === 'AES_256' ? 32 : Number(input.NumberOfBytes);
        if (!Number.isInteger(size) || size < 1 || size > 1024) throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
        const plaintext = randomBytes(size);
        return { CiphertextBlob: sealBlob(key, plaintext, context).toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn };
      }
      case 'Decrypt': {
        const ciphertext = blob(input.CiphertextBlob, 'ciphertextBlob', 6144);
        const blobKey = this.keys.get(blobKeyId(ciphertext));
        const key = input.KeyId !== undefined ? this.usableKey(input.KeyId, operation, credential, call) : blobKey && this.usableKey(blobKey.arn, operation, credential, call);
        if (!key) throw new KmsError('InvalidCiphertextException', undefined);
        if (!blobKey || blobKey.keyId !== key.keyId) throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
        return { Plaintext: openBlob(key, ciphertext, context).toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'DescribeKey': {
        const key = this.usableKey(input.KeyId, operation, credential, call);
        return {
          KeyMetadata: {
            AWSAccountId: this.accountId,
            Arn: key.arn,
            KeyId: key.keyId,
            Enabled: true,
            KeyState: 'Enabled',
            KeyUsage: 'ENCRYPT_DECRYPT',
            KeySpec: 'SYMMETRIC_DEFAULT',
            CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
            EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
            KeyManager: 'CUSTOMER',
            Origin: 'AWS_KMS',
            MultiRegion: false,
            CreationDate: 1767225600,
          },
        };
      }
      default:
        throw new KmsError('UnknownOperationException', undefined);
    }
  }

  async handleSts(request: SignedRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(request.body.toString('utf8'));
    const call: KmsCall = { service: 'sts', operation: form.get('Action') ?? '', outcome: 'ok' };
    this.calls.push(call);
    try {
      const { accessKeyId, credential } = this.authenticate(request, req, 'sts');
      call.accessKeyId = accessKeyId;
      call.principal = credential.principal;
      if (call.operation !== 'AssumeRole') throw new KmsError('InvalidAction', `Could not find operation ${call.operation} for version ${form.get('Version')}`);
      sendXml(res, 200, this.assumeRole(form, credential, call));
    } catch (error) {
      const e = error instanceof KmsError ? error : new KmsError('InternalFailure', 'internal error in the fake', 500);
      call.outcome = e.type;
      sendXml(res, e.status, stsError(e));
    }
  }

  assumeRole(form: URLSearchParams, credential: Credential, call: KmsCall): string {
    const roleArn = form.get('RoleArn') ?? '';
    const sessionName = form.get('RoleSessionName') ?? '';
    call.roleArn = roleArn;
    call.roleSessionName = sessionName;
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw new KmsError('ValidationError', `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    }
    if (!this.roles.has(roleArn) || this.faults.assumeRoleDenied.has(roleArn)) {
      throw new KmsError('AccessDenied', `User: ${credential.principal} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    }
    const roleName = roleArn.slice(roleArn.indexOf(':role/') + 6).split('/').pop()!;
    const principal = `arn:aws:sts::${this.accountId}:assumed-role/${roleName}/${sessionName}`;
    const seconds = Number(form.get('DurationSeconds') ?? 3600);
    const creds = this.issueSession(principal, seconds * 1000, roleArn);
    const expiration = new Date(Date.now() + seconds * 1000).toISOString();
    return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomId('', 17)}:${xmlEscape(sessionName)}</AssumedRoleId>
      <Arn>${xmlEscape(principal)}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(creds.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(creds.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`;
  }
}

// ---------------------------------------------------------------------------- wire helpers

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1 << 20) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.length === 0 ? '{}' : body.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error AWS sends for unreadable input
  }
  throw new KmsError('SerializationException', 'Start of structure or map found where not expected.');
}

function checkContext(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new KmsError('SerializationException', 'EncryptionContext must be a map of strings.');
  }
  return value as Record<string, string>;
}

function blob(value: unknown, field: string, max: number): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (bytes.length < 1 || bytes.length > max) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  }
  return bytes;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
  res.end(text);
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function stsError(e: KmsError): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>${e.status >= 500 ? 'Receiver' : 'Sender'}</Type>
    <Code>${xmlEscape(e.type)}</Code>
    <Message>${xmlEscape(e.message ?? '')}</Message>
  </Error>
  <RequestId>${randomUUID()}</RequestId>
</ErrorResponse>
`;
}

// ---------------------------------------------------------------------------- entry point

/** Starts the fake on 127.0.0.1 with an ephemeral port. Call close() when done. */
export async function startFakeKms(options: FakeKmsOptions = {}): Promise<FakeKms> {
  const state = new FakeKmsServer(options.region ?? 'us-east-1', options.accountId ?? '111122223333');
  const accessKeyId = randomId('AKIA', 16);
  const secretAccessKey = randomBytes(30).toString('base64');
  state.credentials.set(accessKeyId, { secret: secretAccessKey, principal: `arn:aws:iam::${state.accountId}:user/wax-test` });
  const server: Server = createServer((req, res) => {
    state.handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { __type: 'KMSInternalException' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    region: state.region,
    accountId: state.accountId,
    accessKeyId,
    secretAccessKey,
    env: fakeEnvironment(endpoint, state.region, accessKeyId, secretAccessKey),
    createKey: (o) => state.createKey(o),
    createAlias: (name, keyArn) => state.createAlias(name, keyArn),
    createRole: (name) => state.createRole(name),
    issueSession: (o = {}) => state.issueSession(o.principal ?? `arn:aws:sts::${state.accountId}:assumed-role/wax-test/session`, o.expired ? -60_000 : 3_600_000),
    calls: state.calls,
    faults: state.faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Static keys for the fake, and every other source of the SDK's credential chain
 * disabled: no profile, no shared files, no web identity, no container or instance
 * metadata, no ambient endpoint.
 */
function fakeEnvironment(endpoint: string, region: string, accessKeyId: string, secretAccessKey: string): Record<string, string | undefined> {
  return {
    AWS_ENDPOINT_URL_KMS: endpoint,
    AWS_ENDPOINT_URL_STS: endpoint,
    AWS_ENDPOINT_URL: undefined,
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_CREDENTIAL_EXPIRATION: undefined,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_PROFILE: undefined,
    AWS_DEFAULT_PROFILE: undefined,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
    AWS_ROLE_ARN: undefined,
    AWS_ROLE_SESSION_NAME: undefined,
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
    AWS_CONTAINER_AUTHORIZATION_TOKEN: undefined,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: undefined,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: undefined,
    AWS_RETRY_MODE: undefined,
  };
}
