/**
 * A wire-level fake Azure Key Vault (design.md §6): HTTPS on 127.0.0.1 with a certificate
 * made by `openssl` for this run, speaking the REST protocol the real SDK speaks — the
 * 401 bearer challenge for a request without a token, `api-version`, JSON bodies,
 * base64url values, Key Vault's error bodies — with real RSA-OAEP-256 keys. The SDK is
 * never mocked: what passes here is what the SDK sent over TLS.
 *
 * Faults are per key name: `forbidden` (403 as RBAC denies), `disabled` (403 KeyDisabled
 * for decrypt, as the service does; encrypt and get still work there), `throttle` (the
 * next N authorised requests answer 429 with Retry-After), `drop` (connections are cut
 * before an answer, as an unreachable vault). `close()` makes the whole vault unreachable.
 */
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeKeyVaultOptions {
  /** The bearer token the vault accepts; a random one by default. */
  token?: string;
  /** The tenant named in the challenge's authorization URI. */
  tenant?: string;
}

export interface KeyFaults {
  forbidden?: boolean;
  disabled?: boolean;
  /** How many of the next authorised requests for the key answer 429. */
  throttle?: number;
  /** Retry-After of a 429, in seconds (default 1). */
  retryAfterSeconds?: number;
  drop?: boolean;
}

/** One authorised request (a challenge or a rejected token is logged elsewhere). */
export interface FakeCall {
  op: 'get' | 'encrypt' | 'decrypt' | string;
  name: string;
  /** As requested: '' when the request named no version. */
  version: string;
  /** The `alg` of an encrypt or decrypt body. */
  alg?: string;
  status: number;
}

export interface CreateKeyOptions {
  /** Permitted operations (default: all six RSA operations). */
  keyOps?: string[];
  /** 'EC' makes a key that cannot do RSA-OAEP-256, to test a wrong key type. */
  kty?: 'RSA' | 'EC';
}

export interface FakeKey {
  name: string;
  version: string;
  /** The versioned key URL, as `--azure-kv` takes it. */
  url: string;
}

export interface FakeKeyVault {
  vaultUrl: string;
  /** PEM of the self-signed certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  token: string;
  /** What a child wax needs to talk to this vault. */
  env: Record<string, string>;
  createKey(name: string, options?: CreateKeyOptions): FakeKey;
  /** A new current version of the key; older versions stay usable. Returns the version. */
  rotateKey(name: string): string;
  calls: FakeCall[];
  /** Requests without Authorization that were answered with the bearer challenge. */
  challenges: { method: string; path: string }[];
  /** Requests whose bearer token was not the vault's. */
  rejectedTokens: number;
  faults: Map<string, KeyFaults>;
  close(): Promise<void>;
}

interface KeyVersion {
  version: string;
  kty: 'RSA' | 'EC';
  keyOps: string[];
  publicKey: KeyObject;
  privateKey: KeyObject;
  created: number;
}

interface StoredKey {
  versions: Map<string, KeyVersion>;
  current: string;
  options: CreateKeyOptions;
}

const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$|^\d+\.\d+(-preview(\.\d+)?)?$/;
const ALL_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];

/** A self-signed certificate for 127.0.0.1 and localhost, made fresh in `dir`. */
function makeCertificate(dir: string): { key: string; cert: string; caFile: string } {
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=wax-fake-keyvault',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(caFile, 'utf8'), caFile };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-ms-keyvault-service-version': '1.9.0.0', ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, inner?: string, headers?: Record<string, string>): void {
  sendJson(res, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class Vault {
  readonly keys = new Map<string, StoredKey>();
  readonly calls: FakeCall[] = [];
  readonly challenges: { method: string; path: string }[] = [];
  readonly faults = new Map<string, KeyFaults>();
  rejectedTokens = 0;
  vaultUrl = '';

  constructor(
    readonly token: string,
    readonly tenant: string,
  ) {}

  newVersion(options: CreateKeyOptions): KeyVersion {
    const kty = options.kty ?? 'RSA';
    const pair = kty === 'EC' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { version: randomBytes(16).toString('hex'), kty, keyOps: options.keyOps ?? ALL_OPS, ...pair, created: Math.floor(Date.now() / 1000) };
  }

  kid(name: string, version: string): string {
    return `${this.vaultUrl}/keys/${name}/${version}`;
  }

  bundle(name: string, v: KeyVersion, enabled: boolean): unknown {
    const jwk = v.publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const material = v.kty === 'RSA' ? { n: jwk.n, e: jwk.e } : { crv: 'P-256', x: jwk.x, y: jwk.y };
    return {
      key: { kid: this.kid(name, v.version), kty: v.kty, key_ops: v.keyOps, ...material },
      attributes: { enabled, created: v.created, updated: v.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90, exportable: false },
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.vaultUrl);
    const route = /^\/keys\/([^/]+)(?:\/([^/]*))?(?:\/([A-Za-z]+))?\/?$/.exec(url.pathname);
    const name = route ? decodeURIComponent(route[1]) : '';
    const faults = this.faults.get(name) ?? {};
    // An unreachable vault: the connection ends without an answer, challenge included.
    if (faults.drop) return void req.socket.destroy();
    if (!this.authorised(req, res, url)) return;
    if (!API_VERSION.test(url.searchParams.get('api-version') ?? '')) {
      return sendError(res, 400, 'BadParameter', "The request is missing the 'api-version' query parameter or its value is invalid.");
    }
    if (!route) return sendError(res, 404, 'NotFound', 'The requested resource was not found.');
    const version = route[2] ?? '';
    const action = route[3] ?? (req.method === 'GET' ? 'get' : '');
    const body = req.method === 'POST' ? await readBody(req) : '';
    const call: FakeCall = { op: action || `${req.method} ${url.pathname}`, name, version, status: 0 };
    this.calls.push(call);
    const answer = (status: number, send: () => void) => {
      call.status = status;
      send();
    };
    this.serve(res, { name, version, action, body, faults, call, answer });
  }

  /** Key Vault's challenge: a request without a token learns where to get one. */
  authorised(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const challenge = { 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${this.tenant}", resource="https://vault.azure.net"` };
    const header = req.headers.authorization;
    if (!header) {
      this.challenges.push({ method: req.method ?? '', path: url.pathname });
      // The SDK sends its first request without a body; drain anything that came anyway.
      req.resume();
      sendError(res, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, challenge);
      return false;
    }
    if (header !== `Bearer ${this.token}`) {
      this.rejectedTokens++;
      req.resume();
      sendError(res, 401, 'Unauthorized', 'AKV10032: Invalid issuer. Expected one of https://sts.windows.net/..., found https://sts.windows.net/....', undefined, challenge);
      return false;
    }
    return true;
  }

  serve(res: ServerResponse, r: { name: string; version: string; action: string; body: string; faults: KeyFaults; call: FakeCall; answer: (status: number, send: () => void) => void }): void {
    const { faults, answer } = r;
    if (faults.throttle && faults.throttle > 0) {
      faults.throttle--;
      return answer(429, () => sendError(res, 429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached', undefined, { 'retry-after': String(faults.retryAfterSeconds ?? 1) }));
    }
    if (faults.forbidden) {
      return answer(403, () => sendError(res, 403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=00000000-0000-0000-0000-000000000000\r\nAction: 'Microsoft.KeyVault/vaults/keys/${r.action}/action'\r\n`, 'ForbiddenByRbac'));
    }
    const stored = this.keys.get(r.name);
    const v = stored?.versions.get(r.version || stored.current);
    if (!stored || !v) {
      return answer(404, () => sendError(res, 404, 'KeyNotFound', `A key with (name/id) ${r.name}${r.version ? `/${r.version}` : ''} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`));
    }
    if (r.action === 'get') return answer(200, () => sendJson(res, 200, this.bundle(r.name, v, !faults.disabled)));
    if (r.action === 'encrypt' || r.action === 'decrypt') return this.crypt(res, r, v);
    answer(400, () => sendError(res, 400, 'BadParameter', `Operation ${r.action} is not supported by this fake vault.`));
  }

  crypt(res: ServerResponse, r: { name: string; action: string; body: string; faults: KeyFaults; call: FakeCall; answer: (status: number, send: () => void) => void }, v: KeyVersion): void {
    const { answer } = r;
    // As the service: decrypt refuses a disabled key; encrypt does not (python SDK #45342).
    if (r.faults.disabled && r.action === 'decrypt') {
      return answer(403, () => sendError(res, 403, 'Forbidden', 'Operation decrypt is not allowed on a disabled key.', 'KeyDisabled'));
    }
    if (!v.keyOps.includes(r.action)) {
      return answer(403, () => sendError(res, 403, 'Forbidden', `Operation ${r.action} is not permitted on this key.`, 'KeyOperationForbidden'));
    }
    let params: { alg?: string; value?: string };
    try {
      params = JSON.parse(r.body) as { alg?: string; value?: string };
    } catch {
      return answer(400, () => sendError(res, 400, 'BadParameter', 'The request body is not valid JSON.'));
    }
    r.call.alg = params.alg;
    if (params.alg !== 'RSA-OAEP-256' || typeof params.value !== 'string') {
      return answer(400, () => sendError(res, 400, 'BadParameter', `Invalid algorithm or value (alg ${params.alg ?? 'missing'}).`));
    }
    if (v.kty !== 'RSA') {
      return answer(400, () => sendError(res, 400, 'BadParameter', `Algorithm ${params.alg} is not supported for key type ${v.kty}.`));
    }
    const options = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
    let out: Buffer;
    try {
      const input = Buffer.from(params.value, 'base64url');
      out = r.action === 'encrypt' ? publicEncrypt({ key: v.publicKey, ...options }, input) : privateDecrypt({ key: v.privateKey, ...options }, input);
    } catch {
      return answer(400, () => sendError(res, 400, 'BadParameter', 'The ciphertext is not valid for this key.'));
    }
    answer(200, () => sendJson(res, 200, { kid: this.kid(r.name, v.version), value: out.toString('base64url') }));
  }
}

/**
 * Certificate directories outlive `close()`: a test that closes the vault to make it
 * unreachable still hands NODE_EXTRA_CA_CERTS to wax, and Node warns about a missing file.
 */
const certificateDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of certificateDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts a fake vault; `close()` it when done. */
export async function startFakeKeyVault(options: FakeKeyVaultOptions = {}): Promise<FakeKeyVault> {
  const dir = mkdtempSync(join(tmpdir(), 'wax-fake-kv-'));
  certificateDirs.add(dir);
  const tls = makeCertificate(dir);
  const vault = new Vault(options.token ?? `fake-token-${randomBytes(12).toString('hex')}`, options.tenant ?? '72f988bf-86f1-41af-91ab-2d7cd011db47');
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    vault.handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'InternalError', 'The fake vault failed.');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  vault.vaultUrl = `https://127.0.0.1:${port}`;
  let closed = false;
  return {
    vaultUrl: vault.vaultUrl,
    caFile: tls.caFile,
    token: vault.token,
    env: { WAX_AZURE_ACCESS_TOKEN: vault.token, WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION: 'true', NODE_EXTRA_CA_CERTS: tls.caFile },
    createKey(name, keyOptions = {}) {
      const first = vault.newVersion(keyOptions);
      vault.keys.set(name, { versions: new Map([[first.version, first]]), current: first.version, options: keyOptions });
      return { name, version: first.version, url: vault.kid(name, first.version) };
    },
    rotateKey(name) {
      const stored = vault.keys.get(name);
      if (!stored) throw new Error(`no key ${name} in the fake vault`);
      const next = vault.newVersion(stored.options);
      stored.versions.set(next.version, next);
      stored.current = next.version;
      return next.version;
    },
    calls: vault.calls,
    challenges: vault.challenges,
    get rejectedTokens() {
      return vault.rejectedTokens;
    },
    faults: vault.faults,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
