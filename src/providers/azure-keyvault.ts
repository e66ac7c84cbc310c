/**
 * Azure Key Vault master keys (sops-format.md §9.4). As sops' azkv does, the data key is
 * encrypted by the vault's `encrypt` operation (not wrapKey) with RSA-OAEP-256 and stored
 * base64url without padding, next to the vault URL, key name and the key version, which
 * is pinned: decryption always asks for the stored version.
 *
 * The Azure SDKs are imported inside the functions that need them, so loading this file
 * costs nothing until a Key Vault key is used (the CLI bundle keeps them external).
 */
import type { CryptographyClient, CryptographyClientOptions, KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { KeyFormatError, MasterKeyError } from '../errors.js';
import { importExternal } from '../external-import.js';
import type { MasterKeyEntry } from '../document/metadata.js';
import type { MasterKeyRecipient, Provider, ProviderContext } from './types.js';

type TokenCredential = ConstructorParameters<typeof KeyClient>[1];
type KeyVaultSdk = typeof import('@azure/keyvault-keys');
type Operation = 'get' | 'encrypt' | 'decrypt';

/** sops' key URL: vault (scheme and host), key name, optional version. */
const KEY_URL = /^(https:\/\/[^/]+)\/keys\/([^/]+)(\/[^/]*)?$/;
const ALGORITHM = 'RSA-OAEP-256';
/** An upper bound for one operation, retries included, so a black-holed vault cannot hang wax. */
const OPERATION_TIMEOUT_MS = 60_000;
/**
 * The SDK retries network errors, 408 and 5xx with exponential back-off (1 s base by
 * default, up to ~7 s before giving up on a refused connection); a CLI that may still
 * fall back to another key should give up sooner. 429 follows Retry-After regardless.
 */
const RETRY_OPTIONS = { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4_000 };

/** A Key Vault key: `version` is '' when the URL or config left it out. */
export interface AzureKeyRef {
  vaultUrl: string;
  name: string;
  version: string;
}

export function formatKeyUrl(ref: AzureKeyRef): string {
  return `${ref.vaultUrl}/keys/${ref.name}${ref.version ? `/${ref.version}` : ''}`;
}

/** Parses a key URL as sops does. Throws KeyFormatError. */
export function parseKeyUrl(text: string): AzureKeyRef {
  const match = KEY_URL.exec(text.trim());
  if (!match) {
    const shown = text.length > 120 ? `${text.slice(0, 117)}…` : text;
    throw new KeyFormatError(`invalid Azure Key Vault key URL ${JSON.stringify(shown)}`, 'use https://<vault>.vault.azure.net/keys/<name>/<version> (the version may be left out)');
  }
  return { vaultUrl: match[1], name: match[2], version: (match[3] ?? '').slice(1) };
}

/** A `.sops.yaml` key_groups entry `{vaultUrl, key, version}`. Throws KeyFormatError. */
export function keyRefFromConfig(value: Record<string, unknown>): AzureKeyRef {
  const text = (field: string) => (value[field] === undefined || value[field] === null ? '' : String(value[field]).trim());
  const vaultUrl = text('vaultUrl').replace(/\/+$/, '');
  const name = text('key');
  if (!/^https:\/\/[^/]+$/.test(vaultUrl) || name === '' || name.includes('/') || text('version').includes('/')) {
    throw new KeyFormatError('invalid azure_keyvault entry in key_groups', 'write it as {vaultUrl: https://<vault>.vault.azure.net, key: <name>, version: <version or empty>}');
  }
  return { vaultUrl, name, version: text('version') };
}

function keyRefFromEntry(entry: MasterKeyEntry): AzureKeyRef {
  const field = (name: string) => (typeof entry.fields[name] === 'string' ? (entry.fields[name] as string) : '');
  return { vaultUrl: field('vault_url').replace(/\/+$/, ''), name: field('name'), version: field('version') };
}

function recipientFor(ref: AzureKeyRef, ctx: ProviderContext): MasterKeyRecipient {
  return {
    type: 'azure_kv',
    id: formatKeyUrl(ref),
    // A key configured without its version is the same key as any stored version of it.
    matches: (id) => {
      const other = KEY_URL.exec(id);
      return other !== null && other[1] === ref.vaultUrl && other[2] === ref.name && (ref.version === '' || (other[3] ?? '').slice(1) === ref.version);
    },
    wrap: (dataKey) => wrapWithVault(ref, dataKey, ctx),
  };
}

async function wrapWithVault(ref: AzureKeyRef, dataKey: Uint8Array, ctx: ProviderContext): Promise<MasterKeyEntry> {
  const session = await openSession(ref, ctx, 'encrypt');
  // The file pins the version it was encrypted with, so a versionless key is resolved first.
  const key = ref.version ? synthesizedKey(ref) : await currentKey(ref, session);
  const version = key.properties.version ?? ref.version;
  const pinned = { ...ref, version };
  const result = await callVault(pinned, 'encrypt', (abortSignal) =>
    cryptographyClient(key, session).encrypt({ algorithm: ALGORITHM, plaintext: dataKey }, { abortSignal }),
  );
  return {
    type: 'azure_kv',
    fields: {
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      // sops writes base64.RawURLEncoding; Node's base64url has no padding either.
      enc: Buffer.from(result.result).toString('base64url'),
      name: ref.name,
      vault_url: ref.vaultUrl,
      version,
    },
  };
}

async function unwrapWithVault(entry: MasterKeyEntry, ctx: ProviderContext): Promise<Uint8Array> {
  const ref = keyRefFromEntry(entry);
  const enc = entry.fields.enc;
  if (!/^https:\/\/[^/]+$/.test(ref.vaultUrl) || !ref.name || !ref.version) {
    throw new MasterKeyError(`azure_kv entry ${describeRef(ref)} lacks a valid vault_url, name or version; restore the file from version control`);
  }
  if (typeof enc !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(enc)) {
    throw new MasterKeyError(`the wrapped data key for ${formatKeyUrl(ref)} is not base64url; restore the file from version control`);
  }
  const session = await openSession(ref, ctx, 'decrypt');
  const ciphertext = Buffer.from(enc, 'base64url');
  const result = await callVault(ref, 'decrypt', (abortSignal) =>
    cryptographyClient(synthesizedKey(ref), session).decrypt({ algorithm: ALGORITHM, ciphertext }, { abortSignal }),
  );
  return new Uint8Array(result.result);
}

function describeRef(ref: AzureKeyRef): string {
  return ref.vaultUrl || ref.name ? formatKeyUrl(ref) : '(no vault_url)';
}

export const azureKeyVaultProvider: Provider = {
  type: 'azure_kv',

  parseRecipient(text: string, ctx: ProviderContext): MasterKeyRecipient {
    return recipientFor(parseKeyUrl(text), ctx);
  },

  recipientFromConfig(value: Record<string, unknown>, ctx: ProviderContext): MasterKeyRecipient {
    return recipientFor(keyRefFromConfig(value), ctx);
  },

  recipientFromEntry(entry: MasterKeyEntry, ctx: ProviderContext): MasterKeyRecipient {
    const ref = keyRefFromEntry(entry);
    // Checked through the URL grammar, so a damaged entry fails like a bad --azure-kv.
    return recipientFor(parseKeyUrl(formatKeyUrl(ref)), ctx);
  },

  describe(entry: MasterKeyEntry): string {
    return describeRef(keyRefFromEntry(entry));
  },

  // Never null: an entry names exactly one vault key, so failing to use it is a failure.
  unwrap: unwrapWithVault,
};

/* ---------------------------------------------------------------- SDK plumbing */

interface Session {
  sdk: KeyVaultSdk;
  credential: TokenCredential;
  options: CryptographyClientOptions;
}

async function openSession(ref: AzureKeyRef, ctx: ProviderContext, operation: Operation): Promise<Session> {
  try {
    const sdk = await importExternal<KeyVaultSdk>('@azure/keyvault-keys');
    const credential = await credentialFor(ctx.env);
    const options: CryptographyClientOptions = {
      retryOptions: RETRY_OPTIONS,
      // Emulators (Lowkey Vault) live outside *.vault.azure.net, which the challenge check requires.
      disableChallengeResourceVerification: isTrue(ctx.env.WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION),
    };
    return { sdk, credential, options };
  } catch (error) {
    throw explain(error, ref, operation);
  }
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes'].includes(value.trim().toLowerCase());
}

/**
 * The credential chain is kept for the process: it holds the token cache, and building
 * it again per file would start `az` (or probe the managed identity endpoint) per file.
 */
let defaultCredential: Promise<TokenCredential> | undefined;

async function credentialFor(env: NodeJS.ProcessEnv): Promise<TokenCredential> {
  const token = env.WAX_AZURE_ACCESS_TOKEN?.trim();
  if (token) return staticTokenCredential(token);
  if (defaultCredential === undefined) {
    defaultCredential = importExternal<typeof import('@azure/identity')>('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
    // A failed import must not stick for the life of a long-running process.
    defaultCredential.catch(() => {
      defaultCredential = undefined;
    });
  }
  return defaultCredential;
}

/**
 * A bearer token obtained elsewhere (CI, an emulator). Its expiry is unknown here, so it
 * is reported an hour ahead; the vault answers 401 once it really expires.
 */
function staticTokenCredential(token: string): TokenCredential {
  return {
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000, tokenType: 'Bearer' }),
  };
}

/**
 * The SDK's CryptographyClient, given a key URL, first GETs the key to try local
 * encryption; it cannot do RSA-OAEP-256 locally anyway, so that call would only cost a
 * round trip and need the `get` permission. A KeyVaultKey value skips it.
 */
function synthesizedKey(ref: AzureKeyRef): KeyVaultKey {
  const id = formatKeyUrl(ref);
  return { name: ref.name, id, properties: { id, name: ref.name, vaultUrl: ref.vaultUrl, version: ref.version } };
}

function cryptographyClient(key: KeyVaultKey, session: Session): CryptographyClient {
  return new session.sdk.CryptographyClient(key, session.credential, { ...session.options });
}

/** The key's current version (sops' GetKey with an empty version). */
async function currentKey(ref: AzureKeyRef, session: Session): Promise<KeyVaultKey> {
  const key = await callVault(ref, 'get', (abortSignal) => new session.sdk.KeyClient(ref.vaultUrl, session.credential, { ...session.options }).getKey(ref.name, { abortSignal }));
  if (!key.properties.version) throw new MasterKeyError(`Key Vault returned no version for ${formatKeyUrl(ref)}; give the version in the key URL`);
  // A disabled version still encrypts, but nothing could decrypt the result.
  if (key.properties.enabled === false) throw disabledError({ ...ref, version: key.properties.version });
  return key;
}

async function callVault<T>(ref: AzureKeyRef, operation: Operation, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await call(AbortSignal.timeout(OPERATION_TIMEOUT_MS));
  } catch (error) {
    throw explain(error, ref, operation);
  }
}

/* ---------------------------------------------------------------- errors */

interface AzureErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  errors?: AzureErrorLike[];
  errorResponse?: { error?: string };
  details?: { error?: { code?: string; message?: string; innerError?: { code?: string } } };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const TLS_CODES = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

/** One line for anything a server wrote (Key Vault messages contain CR LF). */
function oneLine(text: string | undefined, max = 160): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function disabledError(ref: AzureKeyRef): MasterKeyError {
  return new MasterKeyError(`Azure Key Vault key ${formatKeyUrl(ref)} is disabled; enable that key version in the vault (a file keeps the version it was encrypted with until \`wax updatekeys\` or \`wax rotate\`)`);
}

/**
 * Turns an SDK, credential or network failure into one line that names the key and what
 * to check. Built from status codes and error codes only: never a token or a payload.
 */
function explain(error: unknown, ref: AzureKeyRef, operation: Operation): MasterKeyError {
  if (error instanceof MasterKeyError) return error;
  const e = (error ?? {}) as AzureErrorLike;
  const key = formatKeyUrl(ref);
  const host = hostOf(ref.vaultUrl);
  return credentialProblem(e, key) ?? transportProblem(e, key, host) ?? httpProblem(e, ref, operation) ?? sdkProblem(e, ref, operation) ?? new MasterKeyError(`Azure Key Vault ${operation} with ${key} failed: ${e.name ?? 'error'}${e.message ? `: ${oneLine(e.message)}` : ''}`);
}

function hostOf(vaultUrl: string): string {
  try {
    return new URL(vaultUrl).host;
  } catch {
    return vaultUrl;
  }
}

function credentialProblem(e: AzureErrorLike, key: string): MasterKeyError | undefined {
  const unavailable = (x: AzureErrorLike) => x.name === 'CredentialUnavailableError';
  if (unavailable(e) || (e.name === 'AggregateAuthenticationError' && (e.errors ?? []).every(unavailable))) {
    return new MasterKeyError(
      `no Azure credentials found for ${key}; sign in with \`az login\`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or use a workload or managed identity), or put a bearer token for https://vault.azure.net in WAX_AZURE_ACCESS_TOKEN`,
    );
  }
  if (e.name === 'AuthenticationError' || e.name === 'AggregateAuthenticationError' || e.name === 'AuthenticationRequiredError') {
    const inner = e.errors?.find((x) => x.name === 'AuthenticationError') ?? e;
    const reason = inner.errorResponse?.error ? ` (${inner.errorResponse.error})` : '';
    return new MasterKeyError(`Azure sign-in failed for ${key}${reason}; check the tenant, client id and secret or certificate of the identity (AZURE_* variables), or run \`az login\` again`);
  }
  return undefined;
}

function transportProblem(e: AzureErrorLike, key: string, host: string): MasterKeyError | undefined {
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    return new MasterKeyError(`cannot reach ${host} for ${key}: no answer within ${OPERATION_TIMEOUT_MS / 1000} s; check the network, proxy and firewall`);
  }
  if (e.code && NETWORK_CODES.has(e.code)) {
    return new MasterKeyError(`cannot reach ${host} for ${key} (${e.code}); check the vault URL, DNS, network, proxy and firewall`);
  }
  if (e.code && TLS_CODES.test(e.code)) {
    return new MasterKeyError(`the TLS certificate of ${host} is not trusted (${e.code}) for ${key}; for a private or emulator CA set NODE_EXTRA_CA_CERTS to its PEM file`);
  }
  if (/challenge resource .* does not match/i.test(e.message ?? '')) {
    return new MasterKeyError(`${host} is not an Azure Key Vault host (its authentication challenge names another domain) for ${key}; check the vault URL, or for an emulator set WAX_AZURE_KV_DISABLE_CHALLENGE_VERIFICATION=true`);
  }
  return undefined;
}

function httpProblem(e: AzureErrorLike, ref: AzureKeyRef, operation: Operation): MasterKeyError | undefined {
  const status = e.statusCode;
  if (status === undefined) return undefined;
  const key = formatKeyUrl(ref);
  const code = e.details?.error?.code ?? e.code ?? '';
  const inner = e.details?.error?.innerError?.code ?? '';
  const label = `${status}${code ? ` ${code}` : ''}`;
  const message = e.details?.error?.message ?? e.message ?? '';
  if (status === 401) return new MasterKeyError(`Azure Key Vault rejected the access token for ${key} (${label}); check that the token is for https://vault.azure.net in the vault's tenant and not expired, or sign in again`);
  if (status === 403 && (inner === 'KeyDisabled' || /disabled/i.test(message))) return disabledError(ref);
  if (status === 403 && (inner === 'KeyOperationForbidden' || /not permitted on this key/i.test(message))) return operationNotPermitted(ref, operation);
  if (status === 403) return new MasterKeyError(`Azure Key Vault denied ${operation} with ${key} (${label}); check that the identity has the Key Vault Crypto User role or encrypt/decrypt access policies, and the vault's network rules`);
  if (status === 404) return new MasterKeyError(`Azure Key Vault key ${key} was not found (${label}); check the vault URL, key name and version (a deleted key must be recovered first)`);
  if (status === 429) return new MasterKeyError(`Azure Key Vault throttled ${operation} with ${key} (${label}) and the retries ran out; try again later`);
  if (status === 400) return new MasterKeyError(`Azure Key Vault refused ${operation} with ${key} (${label}: ${oneLine(message)}); it must be an RSA key, and the stored data key must be intact`);
  if (status >= 500) return new MasterKeyError(`Azure Key Vault failed ${operation} with ${key} (${label}); try again later`);
  return new MasterKeyError(`Azure Key Vault answered ${label} to ${operation} with ${key}${message ? `: ${oneLine(message)}` : ''}`);
}

function operationNotPermitted(ref: AzureKeyRef, operation: Operation): MasterKeyError {
  return new MasterKeyError(`Azure Key Vault key ${formatKeyUrl(ref)} does not permit ${operation}; use an RSA key whose permitted operations include encrypt and decrypt`);
}

/** Checks the SDK makes itself, before any request, on a key it fetched. */
function sdkProblem(e: AzureErrorLike, ref: AzureKeyRef, operation: Operation): MasterKeyError | undefined {
  const message = e.message ?? '';
  if (/^Operation \w+ is not supported on key/.test(message)) return operationNotPermitted(ref, operation);
  if (/can't be used before|expired at/.test(message)) return new MasterKeyError(`Azure Key Vault key ${formatKeyUrl(ref)} is outside its activation or expiry dates; use another version`);
  return undefined;
}
