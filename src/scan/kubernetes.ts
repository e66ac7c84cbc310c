/**
 * Kubernetes objects that carry secret values in clear: a `Secret` (apiVersion v1) with
 * a plaintext value under `data` or `stringData`, in any document of a multi-document
 * YAML file, in JSON, or as an item of a `kind: List`; an `EncryptedSecret` with a value
 * under `spec.data` / `spec.stringData` that is not in `ENC[…]` form; and the copy of a
 * Secret that `kubectl apply` keeps in the `last-applied-configuration` annotation,
 * which stays in clear when only `data` and `stringData` are encrypted.
 *
 * The field is `kind`, lower case, exactly as the API reads it: secretlint's rule
 * checked `Kind` and never fired.
 */
import { isEncryptedValue } from '../crypto/values.js';
import { formatFromPath } from '../document/stores/index.js';
import { TreeBranch, type TreeValue } from '../document/tree.js';
import { ENCRYPTED_SECRET_API_VERSION, ENCRYPTED_SECRET_KIND } from '../encrypted-secret.js';
import { describeLocation, leafText, loadPlainForScan, ValueLocator, type Location } from './documents.js';
import type { Detector, RawFinding, ScanTarget } from './types.js';

export const K8S_SECRET_RULE = 'k8s-secret-plaintext';
export const ENCRYPTED_SECRET_RULE_ID = 'encryptedsecret-plaintext';

/**
 * `kind: Secret` or `kind: EncryptedSecret` as YAML (plain, quoted, tagged, even with
 * the value on the next line) or JSON writes it; a List's items name their own kind.
 */
const SECRET_KIND = /\bkind['"]?\s*:\s*(?:!!str\s+)?['"]?(?:Encrypted)?Secret(?:List)?\b/;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const SECRET_FIELDS = ['data', 'stringData'] as const;

/** A plaintext value found in a parsed document; its position is looked up afterwards. */
interface Plaintext {
  ruleId: string;
  document: number;
  location: Location;
  value: string;
  message: string;
  hint: string;
}

export const kubernetesSecretDetector: Detector = {
  id: 'kubernetes-secret',
  mayFind: (target) => manifestFormat(target) !== undefined,
  detect(target: ScanTarget, text: string): RawFinding[] {
    const format = manifestFormat(target);
    if (format === undefined || !SECRET_KIND.test(text)) return [];
    // A file the store rejects is not applied by kubectl either; the credential rules still read its text.
    const documents = loadPlainForScan(format, target.content);
    if (!documents) return [];
    const sealable = documents.length === 1;
    const found = documents.flatMap((doc, index) =>
      objectsOf(doc).flatMap((found) => plaintextIn(found, index, sealHint(target.path, sealable && found.at.length === 0))),
    );
    if (found.length === 0) return [];
    const locator = new ValueLocator(format, text);
    return found.map(({ document, location, ...rest }) => ({ ...rest, ...locator.locate(document, location) }));
  },
};

/**
 * The format of a file that may hold a Secret: YAML or JSON (what kubectl applies) that
 * says `Secret` somewhere. Most YAML and JSON is no Secret (and many mention one:
 * secretRef, secretName): never parse those. The bytes hold 'Secret' exactly where the
 * text does, so the scan can ask before decoding.
 */
function manifestFormat(target: ScanTarget): 'yaml' | 'json' | undefined {
  const format = formatFromPath(target.path);
  return (format === 'yaml' || format === 'json') && target.content.includes('Secret') ? format : undefined;
}

interface KubernetesObject {
  object: TreeBranch;
  at: Location;
  /** The object's kind and apiVersion; items of a typed list (the API's `SecretList`) leave them out. */
  kind: TreeValue | undefined;
  apiVersion: TreeValue | undefined;
}

/**
 * The document itself, or each object of a list: `kind: List` is what `kubectl get -o
 * yaml` prints, a typed list such as `SecretList` what the API itself returns.
 */
function objectsOf(doc: TreeBranch): KubernetesObject[] {
  const kind = doc.get('kind');
  const items = doc.get('items');
  const apiVersion = doc.get('apiVersion');
  if (typeof kind !== 'string' || !kind.endsWith('List') || !Array.isArray(items)) return [{ object: doc, at: [], kind, apiVersion }];
  const typed = kind !== 'List';
  const itemKind = typed ? kind.slice(0, -'List'.length) : undefined;
  return items.flatMap((item, i) =>
    item instanceof TreeBranch ? [{ object: item, at: ['items', i], kind: item.get('kind') ?? itemKind, apiVersion: item.get('apiVersion') ?? (typed ? apiVersion : undefined) }] : [],
  );
}

interface Hints {
  path: string;
  secret: string;
}

function plaintextIn({ object, at, kind, apiVersion }: KubernetesObject, document: number, hints: Hints): Plaintext[] {
  if (kind === 'Secret' && (apiVersion === 'v1' || apiVersion === undefined)) return secretPlaintext(object, document, at, hints.secret);
  if (kind === ENCRYPTED_SECRET_KIND && apiVersion === ENCRYPTED_SECRET_API_VERSION) return encryptedSecretPlaintext(object, document, at, hints.path);
  return [];
}

function secretPlaintext(object: TreeBranch, document: number, at: Location, hint: string): Plaintext[] {
  const found = fieldValues(object, at, [], { ruleId: K8S_SECRET_RULE, document, label: `Secret ${objectName(object)}`, hint });
  const lastApplied = lastAppliedPlaintext(object.get('metadata'), document, [...at, 'metadata']);
  return [...found, ...lastApplied.map((p) => ({ ...p, hint: `remove the ${LAST_APPLIED} annotation, then ${hint}` }))];
}

function encryptedSecretPlaintext(object: TreeBranch, document: number, at: Location, path: string): Plaintext[] {
  const spec = object.get('spec');
  if (!(spec instanceof TreeBranch)) return [];
  // Values in clear were put there by hand or by another tool: only sealing the plain Secret again fixes that.
  const hint = `run: wax seal on the plain Secret to write ${path} again; never edit an EncryptedSecret by hand`;
  const found = fieldValues(spec, at, ['spec'], { ruleId: ENCRYPTED_SECRET_RULE_ID, document, label: `EncryptedSecret ${objectName(object)}`, hint });
  const template = spec.get('template');
  const templateMetadata = template instanceof TreeBranch ? template.get('metadata') : undefined;
  const lastApplied = lastAppliedPlaintext(templateMetadata, document, [...at, 'spec', 'template', 'metadata']);
  return [...found, ...lastApplied.map((p) => ({ ...p, ruleId: ENCRYPTED_SECRET_RULE_ID, hint }))];
}

/** One finding per clear value under `data` and `stringData` of `container` (at `prefix` in the object). */
function fieldValues(container: TreeBranch, at: Location, prefix: string[], about: { ruleId: string; document: number; label: string; hint: string }): Plaintext[] {
  return SECRET_FIELDS.flatMap((field) =>
    clearLeaves(container.get(field), [...prefix, field]).map(({ keys, value }) => ({
      ruleId: about.ruleId,
      document: about.document,
      location: [...at, ...keys],
      value,
      message: `plaintext value in ${describeLocation(keys)} of ${about.label}`,
      hint: about.hint,
    })),
  );
}

/**
 * `kubectl apply` stores the whole manifest as JSON in an annotation, so a Secret
 * exported from a cluster carries its values twice; encrypting `data` alone leaves the
 * copy in clear. The annotation is reported where it is, once per value it holds.
 */
function lastAppliedPlaintext(metadata: TreeValue | undefined, document: number, at: Location): Omit<Plaintext, 'hint'>[] {
  const annotations = metadata instanceof TreeBranch ? metadata.get('annotations') : undefined;
  const applied = annotations instanceof TreeBranch ? annotations.get(LAST_APPLIED) : undefined;
  if (typeof applied !== 'string' || isEncryptedValue(applied)) return [];
  const manifest = parseJsonObject(applied);
  if (!manifest || manifest.kind !== 'Secret') return [];
  const label = `Secret ${plainName(manifest)}`;
  return SECRET_FIELDS.flatMap((field) =>
    plainLeaves(manifest[field], [field]).map(({ keys, value }) => ({
      ruleId: K8S_SECRET_RULE,
      document,
      location: [...at, 'annotations', LAST_APPLIED],
      value,
      message: `plaintext value in ${describeLocation(keys)} of ${label}, inside the ${LAST_APPLIED} annotation`,
    })),
  );
}

/** wax seal takes a file that holds one Secret and nothing else. */
function sealHint(path: string, sealable: boolean): Hints {
  const secret = sealable
    ? `run: wax seal -i ${path} (or wax encrypt -i ${path})`
    : `run: wax encrypt -i ${path} (or move the Secret to a file of its own and run wax seal -i on it)`;
  return { path, secret };
}

interface ClearLeaf {
  keys: Location;
  value: string;
}

/**
 * A whole value that only refers to one kept elsewhere: Flux's post-build substitution
 * and envsubst (`${DB_PASSWORD}`), kustomize vars (`$(VAR)`), a quoted Helm expression.
 */
const REFERENCE = /^\s*(?:\$\{[^{}]+\}|\$\([^()]+\)|\{\{[^]*\}\})\s*$/;

function isClear(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || isEncryptedValue(value)) return false;
  return !(typeof value === 'string' && REFERENCE.test(value));
}

/** Values that are neither `ENC[…]`, empty, null nor a reference; nested ones too (not valid in a Secret, but still secret). */
function clearLeaves(value: TreeValue | undefined, keys: Location): ClearLeaf[] {
  if (!isClear(value)) return [];
  if (value instanceof TreeBranch) return value.keys().flatMap((key) => clearLeaves(value.get(key), [...keys, key]));
  if (Array.isArray(value)) return value.flatMap((element, i) => clearLeaves(element, [...keys, i]));
  return [{ keys, value: leafText(value!) }];
}

function plainLeaves(value: unknown, keys: Location): ClearLeaf[] {
  if (!isClear(value)) return [];
  if (Array.isArray(value)) return value.flatMap((element, i) => plainLeaves(element, [...keys, i]));
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => plainLeaves(v, [...keys, key]));
  return [{ keys, value: String(value) }];
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `namespace/name` as kubectl prints it; names are not secret, values never appear. */
function objectName(object: TreeBranch): string {
  const metadata = object.get('metadata');
  const name = metadata instanceof TreeBranch ? metadata.get('name') : undefined;
  const namespace = metadata instanceof TreeBranch ? metadata.get('namespace') : undefined;
  return qualifiedName(name, namespace);
}

function plainName(manifest: Record<string, unknown>): string {
  const metadata = manifest.metadata as Record<string, unknown> | undefined;
  return qualifiedName(metadata?.name, metadata?.namespace);
}

function qualifiedName(name: unknown, namespace: unknown): string {
  const shown = typeof name === 'string' && name !== '' ? name : '(unnamed)';
  return typeof namespace === 'string' && namespace !== '' ? `${namespace}/${shown}` : shown;
}
