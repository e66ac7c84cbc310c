/**
 * The `EncryptedSecret` custom resource (`wax.dev/v1alpha1`): a Kubernetes Secret whose
 * values and scope are sops-encrypted, written so that sops still decrypts the file and
 * so that the MAC still verifies on the object as the API server returns it.
 *
 * Two properties make the MAC survive the API server (design decision 4):
 * - `mac_only_encrypted: true`: only encrypted values are hashed, so clear fields
 *   (labels, annotations, server-added metadata) may change freely;
 * - a canonical key order: every mapping is written with its keys in Go's JSON order
 *   (UTF-8 byte order), which is the order the API server serialises a custom resource
 *   in. Reading the object back with keys sorted walks the encrypted values in the order
 *   they were hashed at sealing time.
 *
 * The scope (design decision 5) is an encrypted, MAC-covered value, so it can neither be
 * edited nor removed without breaking integrity, while sops reads it as one more value.
 */
import { InvalidDocumentError, IntegrityError, AlreadyEncryptedError, ExitCode, ScopeMismatchError } from './errors.js';
import { encryptTree, openBytes } from './sops-file.js';
import { isEncryptedValue } from './crypto/values.js';
import { parseMetadata, serializeMetadata, type MasterKeyEntry } from './document/metadata.js';
import { storeFor } from './document/stores/index.js';
import type { EmitOptions } from './document/stores/types.js';
import { setOwn, TreeBranch, type TreeValue } from './document/tree.js';
import type { SelectionRule } from './document/rules.js';
import type { MasterKeyRecipient, ProviderContext } from './providers/index.js';

export const ENCRYPTED_SECRET_API_VERSION = 'wax.dev/v1alpha1';
export const ENCRYPTED_SECRET_KIND = 'EncryptedSecret';

/** The only rule an EncryptedSecret may carry: any other could leave a value in clear. */
export const ENCRYPTED_SECRET_RULE: SelectionRule = { kind: 'encrypted_regex', value: '^(data|stringData|scope)$' };
const RULE_KEYS = new Set(['data', 'stringData', 'scope']);

/** `kubectl apply` stores the whole applied manifest here, plaintext Secret data included. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Kubernetes' own rule for Secret keys (`IsConfigMapKey`). */
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type ScopeKind = 'strict' | 'namespace' | 'cluster';

export type SecretScope = { kind: 'strict'; namespace: string; name: string } | { kind: 'namespace'; namespace: string } | { kind: 'cluster' };

export interface SealSecretOptions {
  keyGroups: MasterKeyRecipient[][];
  shamirThreshold?: number;
  scope: ScopeKind;
  /** YAML unless the manifest came as JSON and should stay JSON. */
  format?: 'yaml' | 'json';
  emit?: EmitOptions;
  now?: Date;
}

/** The Secret an EncryptedSecret becomes, as plain data ready for the API. */
export interface DesiredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type: string;
  data: Record<string, string>;
  immutable?: boolean;
}

export interface OpenedEncryptedSecret {
  secret: DesiredSecret;
  usedKeys: MasterKeyEntry[];
  scope: SecretScope;
}

type Plain = Record<string, unknown>;

const isObject = (value: unknown): value is Plain => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Go's `encoding/json` sorts map keys by their bytes; UTF-16 order differs above U+FFFF. */
export function goKeyOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Plain data → tree with every mapping in Go key order. Built from entry lists, never
 * from an intermediate object, because JavaScript puts integer-like keys ("9", "10")
 * first in numeric order.
 */
export function sortedTree(value: unknown): TreeValue {
  if (Array.isArray(value)) return value.map(sortedTree);
  if (isObject(value)) {
    const keys = Object.keys(value).sort(goKeyOrder);
    return new TreeBranch(keys.map((key) => ({ key, value: sortedTree(value[key]) })));
  }
  if (value === undefined) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return value as TreeValue;
}

/** JSON text with every mapping in Go key order (the object as the API server serialises it). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).filter((key) => value[key] !== undefined).sort(goKeyOrder);
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value ?? null);
}

// ---------------------------------------------------------------------------------------
// Sealing

/**
 * Turns a plain Kubernetes Secret manifest into an EncryptedSecret file.
 * @throws InvalidDocumentError (not a v1 Secret, missing name/namespace, bad values),
 *   AlreadyEncryptedError, NoEncryptionKeyError, MasterKeyError
 */
export async function sealSecret(secretManifest: unknown, options: SealSecretOptions): Promise<Buffer> {
  const secret = checkSecretManifest(secretManifest);
  const metadata = secret.metadata as Plain;
  const scope = scopeFor(options.scope, metadata);
  const document = buildEncryptedSecret(secret, metadata, scope);
  const format = options.format ?? 'yaml';
  const sealed = await encryptTree([sortedTree(document) as TreeBranch], {
    format,
    keyGroups: options.keyGroups,
    shamirThreshold: options.shamirThreshold,
    rule: ENCRYPTED_SECRET_RULE,
    macOnlyEncrypted: true,
    now: options.now,
  });
  return storeFor(format).emitEncrypted(sealed.documents, serializeMetadata(sealed.metadata), options.emit);
}

function checkSecretManifest(manifest: unknown): Plain {
  if (!isObject(manifest)) throw notASecret('the document is not a mapping');
  if (manifest.sops !== undefined) throw new AlreadyEncryptedError('the Secret manifest');
  if (manifest.kind === ENCRYPTED_SECRET_KIND) {
    throw new InvalidDocumentError('the manifest is already an EncryptedSecret', 'seal the plain Secret; `wax decrypt --as-secret` shows the Secret an EncryptedSecret becomes');
  }
  if (manifest.apiVersion !== 'v1' || manifest.kind !== 'Secret') throw notASecret(`found apiVersion ${describeScalar(manifest.apiVersion)}, kind ${describeScalar(manifest.kind)}`);
  if (!isObject(manifest.metadata)) throw notASecret('it has no metadata');
  return manifest;
}

function notASecret(reason: string): InvalidDocumentError {
  return new InvalidDocumentError(`wax seal takes a Kubernetes Secret (apiVersion v1, kind Secret): ${reason}`, 'write the plain Secret manifest first (kubectl create secret generic NAME --dry-run=client -o yaml), then seal it');
}

/** Type names only: a wrong field might hold a pasted secret. */
function describeScalar(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9./-]{1,63}$/.test(value) ? JSON.stringify(value) : value === undefined ? '(none)' : `(a ${typeof value})`;
}

function scopeFor(kind: ScopeKind, metadata: Plain): SecretScope {
  const name = metadata.name;
  const namespace = metadata.namespace;
  if (typeof name !== 'string' || name === '') {
    throw new InvalidDocumentError('the Secret has no metadata.name', 'set metadata.name: the EncryptedSecret and the Secret it becomes take this name');
  }
  if (kind === 'cluster') return { kind };
  if (typeof namespace !== 'string' || namespace === '') {
    throw new InvalidDocumentError(`a ${kind} scope needs metadata.namespace`, 'set metadata.namespace, or seal with --scope cluster to allow any namespace');
  }
  return kind === 'strict' ? { kind, namespace, name } : { kind, namespace };
}

export function formatScope(scope: SecretScope): string {
  if (scope.kind === 'strict') return `strict:${scope.namespace}/${scope.name}`;
  if (scope.kind === 'namespace') return `namespace:${scope.namespace}`;
  return 'cluster';
}

function buildEncryptedSecret(secret: Plain, metadata: Plain, scope: SecretScope): Plain {
  const spec: Plain = { scope: formatScope(scope), template: buildTemplate(secret, metadata) };
  if (secret.data !== undefined) spec.data = checkValues(secret.data, 'data');
  if (secret.stringData !== undefined) spec.stringData = checkValues(secret.stringData, 'stringData');
  const outMetadata: Plain = { name: metadata.name };
  if (typeof metadata.namespace === 'string' && metadata.namespace !== '') outMetadata.namespace = metadata.namespace;
  return { apiVersion: ENCRYPTED_SECRET_API_VERSION, kind: ENCRYPTED_SECRET_KIND, metadata: outMetadata, spec };
}

/** The clear part of the Secret: what reviewers should see and what may change in the cluster. */
function buildTemplate(secret: Plain, metadata: Plain): Plain {
  const templateMetadata: Plain = {};
  for (const field of ['labels', 'annotations'] as const) {
    const map = clearStringMap(metadata[field], `metadata.${field}`);
    if (map && Object.keys(map).length > 0) templateMetadata[field] = map;
  }
  const type = secret.type ?? 'Opaque';
  if (typeof type !== 'string' || type === '') throw new InvalidDocumentError('the Secret type must be a string', 'for example `type: Opaque`');
  const template: Plain = { metadata: templateMetadata, type };
  if (secret.immutable !== undefined) {
    if (typeof secret.immutable !== 'boolean') throw new InvalidDocumentError('the Secret field immutable must be true or false');
    template.immutable = secret.immutable;
  }
  return template;
}

/**
 * Labels and annotations stay in clear, so none may be named like a selected key (sops
 * would encrypt it), and kubectl's last-applied copy of the Secret is dropped: it holds
 * the plaintext values.
 */
function clearStringMap(value: unknown, where: string): Plain | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new InvalidDocumentError(`${where} must be a mapping of strings`);
  const out: Plain = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === LAST_APPLIED) continue;
    if (RULE_KEYS.has(key)) throw new InvalidDocumentError(`${where} has a key named ${key}, which an EncryptedSecret reserves for encrypted values`, 'rename that label or annotation');
    if (typeof v !== 'string') throw new InvalidDocumentError(`${where}.${key} must be a string`, 'quote the value');
    setOwn(out, key, v);
  }
  return out;
}

function checkValues(values: unknown, field: 'data' | 'stringData'): Plain {
  if (!isObject(values)) throw new InvalidDocumentError(`the Secret's ${field} must be a mapping`);
  for (const [key, value] of Object.entries(values)) checkValue(field, key, value);
  return values;
}

/** Messages name the key, never the value. */
function checkValue(field: 'data' | 'stringData', key: string, value: unknown): void {
  if (!SECRET_KEY.test(key)) throw new InvalidDocumentError(`${field} key ${JSON.stringify(key)} is not a valid Secret key`, 'Secret keys use letters, digits, "-", "_" and "." only');
  if (typeof value !== 'string') throw new InvalidDocumentError(`${field}.${key} must be a string`, 'quote the value in the manifest');
  if (field === 'data' && !BASE64.test(value)) throw new InvalidDocumentError(`data.${key} is not valid base64`, 'put plain text under stringData, or base64-encode it for data');
}

// ---------------------------------------------------------------------------------------
// Opening in the cluster

/**
 * The object as it was sealed, whatever the API server and other tools added: only
 * apiVersion, kind, spec, sops and metadata.name/namespace are kept (an allow-list, so
 * status, uid, resourceVersion, generation, creationTimestamp, managedFields and labels
 * or annotations added by Flux or Argo CD are never walked: none of them is sealed), and
 * every mapping is sorted in Go key order.
 */
export function canonicalEncryptedSecret(object: Plain): string {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  return canonicalJson({
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: metadata.name, namespace: metadata.namespace },
    spec: object.spec,
    sops: object.sops,
  });
}

/**
 * Verifies and decrypts an EncryptedSecret as the API server returns it, and checks its
 * scope against where it actually is.
 * @throws IntegrityError (ValueAuthenticationError, MalformedValueError, MacMismatchError;
 *   a missing or clear scope, or a selection rule that is not wax's), ScopeMismatchError,
 *   InvalidDocumentError, MetadataError, NotEncryptedError, DataKeyUnavailableError
 */
export async function openEncryptedSecret(object: unknown, ctx: ProviderContext, options: { decryptionOrder?: string[] } = {}): Promise<OpenedEncryptedSecret> {
  const where = checkEncryptedSecretObject(object);
  checkSealing(object as Plain);
  const opened = await openBytes(Buffer.from(canonicalEncryptedSecret(object as Plain)), { format: 'json', ctx, path: where.label, decryptionOrder: options.decryptionOrder });
  const spec = opened.documents[0].get('spec') as TreeBranch;
  const scope = parseScope(spec.get('scope'));
  checkScope(scope, where);
  return { secret: desiredSecret(spec, where), usedKeys: opened.usedKeys, scope };
}

interface Placement {
  namespace: string;
  name: string;
  label: string;
}

function checkEncryptedSecretObject(object: unknown): Placement {
  if (!isObject(object) || object.apiVersion !== ENCRYPTED_SECRET_API_VERSION || object.kind !== ENCRYPTED_SECRET_KIND) {
    throw new InvalidDocumentError(`not an EncryptedSecret (${ENCRYPTED_SECRET_API_VERSION})`, 'seal a Secret with `wax seal`');
  }
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  if (name === '') throw new InvalidDocumentError('the EncryptedSecret has no metadata.name');
  if (!isObject(object.spec)) throw new InvalidDocumentError('the EncryptedSecret has no spec');
  return { name, namespace, label: namespace ? `EncryptedSecret ${namespace}/${name}` : `EncryptedSecret ${name}` };
}

/**
 * Checks made before any key is unwrapped. The sops block is outside the MAC, so its
 * rule is pinned here: a rule that no longer selects the scope or the values would let
 * clear values through a MAC computed over fewer values.
 */
function checkSealing(object: Plain): void {
  if (isObject(object.sops)) {
    const metadata = parseMetadata(object.sops);
    const rule = metadata.rule;
    if (!metadata.macOnlyEncrypted || rule.kind !== ENCRYPTED_SECRET_RULE.kind || rule.value !== ENCRYPTED_SECRET_RULE.value) {
      throw integrity(`the sops metadata must have mac_only_encrypted: true and encrypted_regex: ${ENCRYPTED_SECRET_RULE.value}`);
    }
  }
  const scope = (object.spec as Plain).scope;
  if (scope === undefined) throw integrity('spec.scope is missing');
  if (!isEncryptedValue(scope)) throw integrity('spec.scope is not encrypted');
}

function integrity(reason: string): IntegrityError {
  // A scope in clear could have been edited by anyone, so it is treated as tampering.
  return new IntegrityError(`EncryptedSecret integrity: ${reason}`, ExitCode.ErrorDecryptingTree, 'seal the Secret again with `wax seal`; do not edit an EncryptedSecret by hand');
}

/** The scope's text was authenticated, so a bad shape means a bad sealer, not tampering. */
export function parseScope(value: TreeValue | undefined): SecretScope {
  const text = typeof value === 'string' ? value : '';
  if (text === 'cluster') return { kind: 'cluster' };
  const strict = /^strict:([^/]+)\/([^/]+)$/.exec(text);
  if (strict) return { kind: 'strict', namespace: strict[1], name: strict[2] };
  const namespace = /^namespace:([^/]+)$/.exec(text);
  if (namespace) return { kind: 'namespace', namespace: namespace[1] };
  throw new InvalidDocumentError('spec.scope is not strict:<namespace>/<name>, namespace:<namespace> or cluster', 'seal the Secret again with `wax seal --scope`');
}

function checkScope(scope: SecretScope, where: Placement): void {
  if (scope.kind === 'cluster') return;
  const sameNamespace = scope.namespace === where.namespace;
  if (scope.kind === 'namespace' && sameNamespace) return;
  if (scope.kind === 'strict' && sameNamespace && scope.name === where.name) return;
  throw new ScopeMismatchError(
    scope.kind === 'strict' ? `namespace ${scope.namespace}, name ${scope.name}` : `namespace ${scope.namespace}`,
    scope.kind === 'strict' ? `namespace ${where.namespace || '(none)'}, name ${where.name}` : `namespace ${where.namespace || '(none)'}`,
  );
}

function desiredSecret(spec: TreeBranch, where: Placement): DesiredSecret {
  const template = spec.get('template') instanceof TreeBranch ? (spec.get('template') as TreeBranch) : new TreeBranch();
  const templateMetadata = template.get('metadata') instanceof TreeBranch ? (template.get('metadata') as TreeBranch) : new TreeBranch();
  const metadata: DesiredSecret['metadata'] = { name: where.name, namespace: where.namespace };
  const labels = stringMap(templateMetadata.get('labels'), 'spec.template.metadata.labels');
  const annotations = stringMap(templateMetadata.get('annotations'), 'spec.template.metadata.annotations');
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  const type = template.get('type');
  const secret: DesiredSecret = { apiVersion: 'v1', kind: 'Secret', metadata, type: typeof type === 'string' && type !== '' ? type : 'Opaque', data: secretData(spec) };
  const immutable = template.get('immutable');
  if (typeof immutable === 'boolean') secret.immutable = immutable;
  return secret;
}

/** Kubernetes folds stringData into data, stringData winning; the controller does the same. */
function secretData(spec: TreeBranch): Record<string, string> {
  const data = stringMap(spec.get('data'), 'spec.data') ?? {};
  const stringData = stringMap(spec.get('stringData'), 'spec.stringData') ?? {};
  for (const [key, value] of Object.entries(data)) checkValue('data', key, value);
  for (const [key, value] of Object.entries(stringData)) {
    checkValue('stringData', key, value);
    setOwn(data, key, Buffer.from(value, 'utf8').toString('base64'));
  }
  return data;
}

function stringMap(value: TreeValue | undefined, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof TreeBranch)) throw new InvalidDocumentError(`${where} must be a mapping`);
  const out: Record<string, string> = {};
  for (const key of value.keys()) {
    const v = value.get(key);
    if (typeof v !== 'string') throw new InvalidDocumentError(`${where}.${key} must be a string`);
    setOwn(out, key, v);
  }
  return out;
}

/** The desired Secret as YAML in the usual field order, maps in Go order (`wax decrypt --as-secret`). */
export function secretToYaml(secret: DesiredSecret): Buffer {
  const order = ['apiVersion', 'kind', 'metadata', 'type', 'immutable', 'data'] as const;
  const items = order.filter((key) => secret[key] !== undefined).map((key) => ({ key, value: sortedTree(secret[key]) }));
  return storeFor('yaml').emitPlain([new TreeBranch(items)]);
}
