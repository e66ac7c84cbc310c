/**
 * The status contract of an EncryptedSecret: what the controller writes and what
 * `wax status` / `wax wait` read. Field names and reasons are stable API; a change here is
 * a change for every pipeline that waits on them.
 *
 * One condition, `Ready`, carries the outcome (sealed-secrets' style: every exit path of
 * a reconcile sets it). `lastTransitionTime` moves only when the condition's status or
 * reason changes, so a resync that finds nothing new produces an identical status and
 * therefore no API write.
 */

export const Reason = {
  Decrypted: 'Decrypted',
  ScopeMismatch: 'ScopeMismatch',
  IntegrityError: 'IntegrityError',
  SecretConflict: 'SecretConflict',
  KeyUnavailable: 'KeyUnavailable',
  InvalidSpec: 'InvalidSpec',
} as const;

export type ReadyReason = (typeof Reason)[keyof typeof Reason];
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ReadyCondition {
  type: 'Ready';
  status: ConditionStatus;
  reason: ReadyReason;
  message: string;
  /** RFC 3339. */
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface EncryptedSecretStatus {
  observedGeneration?: number;
  secretName?: string;
  /** The master key(s) that unwrapped the data key, as `type id` (`age age1…`, `kms arn:…`). */
  decryptedWith?: string;
  /** RFC 3339: the last decryption that changed the Secret or the condition. */
  lastDecryptedAt?: string;
  conditions: ReadyCondition[];
}

/**
 * Reasons that will not clear by waiting: `wax wait` fails fast on these, while it keeps
 * waiting through `KeyUnavailable` (the controller retries it with backoff).
 */
const PERMANENT_REASONS: ReadonlySet<string> = new Set([Reason.ScopeMismatch, Reason.IntegrityError, Reason.SecretConflict, Reason.InvalidSpec]);

export function isPermanentReason(reason: string): boolean {
  return PERMANENT_REASONS.has(reason);
}

/** What one reconcile concluded, before it is merged with the previous status. */
export interface Outcome {
  generation?: number;
  secretName: string;
  ready: ConditionStatus;
  reason: ReadyReason;
  message: string;
  /** Set when this reconcile decrypted successfully. */
  decryptedWith?: string;
  /** True when the decryption changed something (Secret written, condition moved). */
  freshDecryption?: boolean;
}

type Plain = Record<string, unknown>;
const isObject = (value: unknown): value is Plain => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The status as read from an object from the API; tolerant, since anyone may write it. */
export function readStatus(object: unknown): EncryptedSecretStatus | undefined {
  const status = isObject(object) && isObject(object.status) ? object.status : undefined;
  if (!status) return undefined;
  const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isReadyCondition) : [];
  const out: EncryptedSecretStatus = { conditions };
  if (typeof status.observedGeneration === 'number') out.observedGeneration = status.observedGeneration;
  if (typeof status.secretName === 'string') out.secretName = status.secretName;
  if (typeof status.decryptedWith === 'string') out.decryptedWith = status.decryptedWith;
  if (typeof status.lastDecryptedAt === 'string') out.lastDecryptedAt = status.lastDecryptedAt;
  return out;
}

function isReadyCondition(value: unknown): value is ReadyCondition {
  return isObject(value) && value.type === 'Ready' && typeof value.status === 'string' && typeof value.reason === 'string';
}

export function readyCondition(status: EncryptedSecretStatus | undefined): ReadyCondition | undefined {
  return status?.conditions.find((c) => c.type === 'Ready');
}

/** RFC 3339 at second precision, as Kubernetes writes metav1.Time. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The next status from the previous one. Decryption details survive failures (they say
 * which key last worked, which helps during a KMS outage), and timestamps move only when
 * something actually changed, so an unchanged resync yields a deep-equal status.
 */
export function nextStatus(previous: EncryptedSecretStatus | undefined, outcome: Outcome, now: Date): EncryptedSecretStatus {
  const before = readyCondition(previous);
  const transitioned = !before || before.status !== outcome.ready || before.reason !== outcome.reason;
  const condition: ReadyCondition = {
    type: 'Ready',
    status: outcome.ready,
    reason: outcome.reason,
    message: outcome.message,
    lastTransitionTime: transitioned ? rfc3339(now) : before.lastTransitionTime,
  };
  if (outcome.generation !== undefined) condition.observedGeneration = outcome.generation;
  const status: EncryptedSecretStatus = { secretName: outcome.secretName, conditions: [condition] };
  if (outcome.generation !== undefined) status.observedGeneration = outcome.generation;
  const decryptedWith = outcome.decryptedWith ?? previous?.decryptedWith;
  if (decryptedWith !== undefined) status.decryptedWith = decryptedWith;
  const stamp = outcome.decryptedWith !== undefined && (outcome.freshDecryption || transitioned || !previous?.lastDecryptedAt);
  const lastDecryptedAt = stamp ? rfc3339(now) : previous?.lastDecryptedAt;
  if (lastDecryptedAt !== undefined) status.lastDecryptedAt = lastDecryptedAt;
  return status;
}

/** Whether writing `next` would change anything (key order and unknown fields ignored). */
export function statusChanged(previous: EncryptedSecretStatus | undefined, next: EncryptedSecretStatus): boolean {
  if (!previous) return true;
  return stableJson(previous) !== stableJson(next);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
