/**
 * EncryptedSecret + identities → the decision for its Secret (design.md: pure). No API
 * call happens here: the caller passes the objects as the API returned them and carries
 * out the returned action, status and event. Decryption is the only I/O (it may call a
 * KMS through the providers in ctx).
 *
 * Rules (sealed-secrets' style): a Secret this EncryptedSecret does not control is never
 * touched unless it carries the adopt annotation; an owned Secret that drifted is put
 * back; nothing is written when nothing differs; every exit path sets the Ready
 * condition; when the key is unavailable the existing Secret is kept.
 */
import { openEncryptedSecret, ENCRYPTED_SECRET_API_VERSION, ENCRYPTED_SECRET_KIND, type DesiredSecret } from '../src/encrypted-secret.js';
import {
  DataKeyUnavailableError,
  IntegrityError,
  InvalidDocumentError,
  KeyFormatError,
  MasterKeyError,
  MetadataError,
  NotEncryptedError,
  ScopeMismatchError,
  WaxError,
} from '../src/errors.js';
import { loadProvider, type ProviderContext } from '../src/providers/index.js';
import type { MasterKeyEntry } from '../src/document/metadata.js';
import { nextStatus, readStatus, readyCondition, Reason, statusChanged, type EncryptedSecretStatus, type Outcome, type ReadyReason } from './status.js';

/** Set to "true" on an existing Secret to let wax take it over. */
export const ADOPT_ANNOTATION = 'wax.dev/adopt';
/** Marks Secrets wax manages, so the controller can watch only those. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'wax';

/** Longest status message: a condition is for people, and etcd objects are bounded. */
const MAX_MESSAGE = 1024;

type Plain = Record<string, any>;

export type Action = 'create' | 'update' | 'none' | 'conflict';
export type ErrorClass = 'permanent' | 'transient';

export interface ReconcileInput {
  encryptedSecret: Plain;
  existingSecret?: Plain;
  ctx: ProviderContext;
  now: Date;
  decryptionOrder?: string[];
}

export interface KubeEvent {
  type: 'Normal' | 'Warning';
  reason: ReadyReason;
  message: string;
}

export interface ReconcileResult {
  action: Action;
  /** The Secret to create, or to PUT (with the existing resourceVersion) for an update. */
  secret?: Plain;
  /**
   * An update the API server will refuse in place (the Secret's type changed, or the
   * existing Secret is immutable): the caller deletes and creates instead.
   */
  replace?: boolean;
  status: EncryptedSecretStatus;
  /** False when the status is deep-equal to the stored one: no status write needed. */
  statusChanged: boolean;
  event?: KubeEvent;
  /** Set on failures: how the queue should retry. */
  errorClass?: ErrorClass;
}

export async function reconcile(input: ReconcileInput): Promise<ReconcileResult> {
  const es = input.encryptedSecret;
  const previous = readStatus(es);
  const placement = placementOf(es);
  if (typeof placement === 'string') return failed(input, previous, Reason.InvalidSpec, placement, 'none');
  let opened: { secret: DesiredSecret; usedKeys: MasterKeyEntry[] };
  try {
    opened = await openEncryptedSecret(es, input.ctx, { decryptionOrder: input.decryptionOrder });
  } catch (error) {
    const reason = reasonForDecryptError(error);
    return failed(input, previous, reason, messageOf(error), 'none');
  }
  return decided(input, previous, withOwnership(opened.secret, placement), await describeKeys(opened.usedKeys));
}

interface Placement {
  namespace: string;
  name: string;
  uid: string;
}

/** The identity the Secret is bound to; a message if the object cannot own anything. */
function placementOf(es: Plain): Placement | string {
  const metadata = es?.metadata ?? {};
  if (typeof metadata.namespace !== 'string' || metadata.namespace === '') return 'the EncryptedSecret has no namespace: a Secret needs one';
  if (typeof metadata.name !== 'string' || metadata.name === '') return 'the EncryptedSecret has no name';
  if (typeof metadata.uid !== 'string' || metadata.uid === '') return 'the EncryptedSecret has no uid (not read from the API server?)';
  return { namespace: metadata.namespace, name: metadata.name, uid: metadata.uid };
}

function ownerReference(placement: Placement): Plain {
  return { apiVersion: ENCRYPTED_SECRET_API_VERSION, kind: ENCRYPTED_SECRET_KIND, name: placement.name, uid: placement.uid, controller: true, blockOwnerDeletion: true };
}

/** The desired Secret plus what makes it ours; the managed-by label wins over the template's. */
function withOwnership(secret: DesiredSecret, placement: Placement): Plain {
  const labels = { ...(secret.metadata.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  const metadata: Plain = { ...secret.metadata, labels, ownerReferences: [ownerReference(placement)] };
  return { ...secret, metadata };
}

/** Success path: compare with what exists and pick the write, if any. */
function decided(input: ReconcileInput, previous: EncryptedSecretStatus | undefined, desired: Plain, decryptedWith: string): ReconcileResult {
  const existing = input.existingSecret;
  const uid = desired.metadata.ownerReferences[0].uid as string;
  if (existing && !controlledBy(existing, uid)) {
    const refusal = adoptionRefusal(existing);
    if (refusal) return failed(input, previous, Reason.SecretConflict, refusal, 'conflict');
  }
  if (!existing) return succeeded(input, previous, 'create', desired, decryptedWith, `created Secret ${secretLabel(desired)}`);
  if (sameSecret(existing, desired, uid)) return succeeded(input, previous, 'none', undefined, decryptedWith, `Secret ${secretLabel(desired)} is up to date`);
  const update = forUpdate(existing, desired);
  const verb = controlledBy(existing, uid) ? 'put back' : 'adopted';
  const result = succeeded(input, previous, 'update', update, decryptedWith, `${verb} Secret ${secretLabel(desired)}`);
  if (needsReplace(existing, desired)) result.replace = true;
  return result;
}

function controlledBy(secret: Plain, uid: string): boolean {
  const refs: unknown = secret?.metadata?.ownerReferences;
  return Array.isArray(refs) && refs.some((ref) => ref?.uid === uid && ref?.controller === true);
}

/**
 * Why an existing Secret may not be taken, or undefined if it may. Another controller's
 * Secret is refused even with the annotation: Kubernetes allows one controller per object.
 */
function adoptionRefusal(secret: Plain): string | undefined {
  const label = `${secret?.metadata?.namespace}/${secret?.metadata?.name}`;
  const refs: unknown[] = Array.isArray(secret?.metadata?.ownerReferences) ? secret.metadata.ownerReferences : [];
  const controller = refs.find((ref: any) => ref?.controller === true) as Plain | undefined;
  if (controller) return `Secret ${label} exists and is controlled by ${controller.kind} ${controller.name}; wax does not take over another controller's Secret`;
  if (secret?.metadata?.annotations?.[ADOPT_ANNOTATION] === 'true') return undefined;
  return `Secret ${label} exists and is not owned by this EncryptedSecret; it is left untouched (annotate it ${ADOPT_ANNOTATION}="true" to let wax take it over, or delete it)`;
}

/** Exactly what `decided` puts back: data, type, labels, annotations, immutable, our controller reference. */
function sameSecret(existing: Plain, desired: Plain, uid: string): boolean {
  return (
    controlledBy(existing, uid) &&
    sameMap(existing.data, desired.data) &&
    (existing.type ?? 'Opaque') === desired.type &&
    sameMap(existing.metadata?.labels, desired.metadata.labels) &&
    sameMap(existing.metadata?.annotations, desired.metadata.annotations) &&
    (existing.immutable === true) === (desired.immutable === true)
  );
}

/** Maps as the API returns them: an absent map and an empty one are the same. */
function sameMap(a: unknown, b: unknown): boolean {
  const left = (a ?? {}) as Record<string, unknown>;
  const right = (b ?? {}) as Record<string, unknown>;
  const keys = Object.keys(left);
  return keys.length === Object.keys(right).length && keys.every((k) => Object.prototype.hasOwnProperty.call(right, k) && left[k] === right[k]);
}

/**
 * The PUT body: desired content on the existing object's identity. resourceVersion makes
 * the write optimistic (a concurrent edit gives 409 and a retry, never a lost update);
 * owner references of other, non-controlling owners are kept.
 */
function forUpdate(existing: Plain, desired: Plain): Plain {
  const others = (Array.isArray(existing.metadata?.ownerReferences) ? existing.metadata.ownerReferences : []).filter((ref: Plain) => ref?.controller !== true);
  const metadata: Plain = { ...desired.metadata, ownerReferences: [...others, ...desired.metadata.ownerReferences] };
  if (existing.metadata?.resourceVersion !== undefined) metadata.resourceVersion = existing.metadata.resourceVersion;
  if (existing.metadata?.uid !== undefined) metadata.uid = existing.metadata.uid;
  return { ...desired, metadata };
}

/** Kubernetes refuses to change a Secret's type, or anything of an immutable Secret. */
function needsReplace(existing: Plain, desired: Plain): boolean {
  if ((existing.type ?? 'Opaque') !== desired.type) return true;
  return existing.immutable === true && !(sameMap(existing.data, desired.data) && desired.immutable === true);
}

function secretLabel(secret: Plain): string {
  return `${secret.metadata.namespace}/${secret.metadata.name}`;
}

function succeeded(input: ReconcileInput, previous: EncryptedSecretStatus | undefined, action: Action, secret: Plain | undefined, decryptedWith: string, message: string): ReconcileResult {
  // The condition's message is the same for every action, so a no-op pass leaves the status
  // deep-equal (no write); what was done goes to the event.
  const conditionMessage = `decrypted into Secret ${input.encryptedSecret.metadata.namespace}/${input.encryptedSecret.metadata.name}`;
  const outcome: Outcome = { ...common(input), ready: 'True', reason: Reason.Decrypted, message: conditionMessage, decryptedWith, freshDecryption: action !== 'none' };
  const status = nextStatus(previous, outcome, input.now);
  const result: ReconcileResult = { action, status, statusChanged: statusChanged(previous, status) };
  if (secret) result.secret = secret;
  // An event for writes and for the first success after a failure; silent resyncs stay silent.
  if (action !== 'none' || transitioned(previous, status)) result.event = { type: 'Normal', reason: Reason.Decrypted, message };
  return result;
}

function failed(input: ReconcileInput, previous: EncryptedSecretStatus | undefined, reason: ReadyReason, message: string, action: Action): ReconcileResult {
  const outcome: Outcome = { ...common(input), ready: 'False', reason, message: truncate(message) };
  const status = nextStatus(previous, outcome, input.now);
  const result: ReconcileResult = { action, status, statusChanged: statusChanged(previous, status), errorClass: classifyReason(reason) };
  // Warnings once per transition or new generation, not on every retry of the same failure.
  if (transitioned(previous, status) || previous?.observedGeneration !== status.observedGeneration) result.event = { type: 'Warning', reason, message: outcome.message };
  return result;
}

function common(input: ReconcileInput): { generation?: number; secretName: string } {
  const metadata = input.encryptedSecret?.metadata ?? {};
  const out: { generation?: number; secretName: string } = { secretName: typeof metadata.name === 'string' ? metadata.name : '' };
  if (typeof metadata.generation === 'number') out.generation = metadata.generation;
  return out;
}

function transitioned(previous: EncryptedSecretStatus | undefined, next: EncryptedSecretStatus): boolean {
  const before = readyCondition(previous);
  const after = readyCondition(next);
  return !before || before.status !== after?.status || before.reason !== after?.reason;
}

/** `type id` per key that unwrapped the data key (several with Shamir), never key material. */
async function describeKeys(entries: MasterKeyEntry[]): Promise<string> {
  const described = await Promise.all(entries.map(async (entry) => `${entry.type} ${(await loadProvider(entry.type)).describe(entry)}`));
  return described.join(', ');
}

// ------------------------------------------------------------------------ error classes

/** The status reason for a failure of openEncryptedSecret; unknown errors are bugs and rethrown. */
export function reasonForDecryptError(error: unknown): ReadyReason {
  if (error instanceof ScopeMismatchError) return Reason.ScopeMismatch;
  if (error instanceof IntegrityError) return Reason.IntegrityError;
  if (error instanceof DataKeyUnavailableError || error instanceof MasterKeyError) return Reason.KeyUnavailable;
  if (error instanceof InvalidDocumentError || error instanceof MetadataError || error instanceof NotEncryptedError || error instanceof KeyFormatError) return Reason.InvalidSpec;
  // Any other WaxError (an unsupported key type, ...) is about the object, not the moment.
  if (error instanceof WaxError) return Reason.InvalidSpec;
  throw error;
}

/** Permanent reasons wait for the object (or the Secret) to change; transient ones back off. */
export function classifyReason(reason: ReadyReason): ErrorClass {
  return reason === Reason.KeyUnavailable ? 'transient' : 'permanent';
}

/**
 * Retry class of anything thrown while reconciling, API errors included. Only 400 and 422
 * (the server rejected the object itself) are permanent; 409, 429, 5xx, 403 (RBAC may be
 * fixed), network errors and unknown errors back off.
 */
export function classifyError(error: unknown): ErrorClass {
  if (error instanceof WaxError) {
    try {
      return classifyReason(reasonForDecryptError(error));
    } catch {
      return 'transient';
    }
  }
  const code = (error as { code?: unknown })?.code;
  return code === 400 || code === 422 ? 'permanent' : 'transient';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`;
}
