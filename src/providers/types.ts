/**
 * The contract every master-key provider implements (age's model, design.md §2): a
 * recipient wraps the data key into a metadata entry; unwrapping an entry answers the
 * data key, `null` for "not mine" (no identity here for it), or throws for "mine, but
 * broken or unreachable". Providers keep no state about a file.
 */
import type { KeyType, MasterKeyEntry } from '../document/metadata.js';

export interface ProviderContext {
  env: NodeJS.ProcessEnv;
  /**
   * How long an unwrapped data key may be reused from the in-process cache (ms). Unset:
   * for the life of the process (the CLI). A controller sets it, so that a key revoked in
   * KMS stops working within the TTL instead of at the next restart.
   */
  dataKeyCacheTtlMs?: number;
}

export interface MasterKeyRecipient {
  readonly type: KeyType;
  /** What identifies the key to a person (age recipient, ARN, fingerprint); never secret. */
  readonly id: string;
  /**
   * True if `id` (another recipient's id, or a stored entry's description) names the same
   * key. Providers whose configured form may leave something out (a Key Vault key without
   * its version) say so here; without it, ids must be equal.
   */
  matches?(id: string): boolean;
  /** Wraps the data key (or a Shamir share) into a complete metadata entry. */
  wrap(dataKey: Uint8Array): Promise<MasterKeyEntry>;
}

export interface Provider {
  readonly type: KeyType;
  /** A recipient from its command-line or `.sops.yaml` text form. Throws KeyFormatError. */
  parseRecipient(text: string, ctx: ProviderContext): MasterKeyRecipient;
  /** A recipient from a `.sops.yaml` key_groups object (`{arn, role, context}`, ...). */
  recipientFromConfig?(value: Record<string, unknown>, ctx: ProviderContext): MasterKeyRecipient;
  /** A recipient from a stored entry, to wrap a new data key for the same key. */
  recipientFromEntry(entry: MasterKeyEntry, ctx: ProviderContext): MasterKeyRecipient;
  /** The entry's identifying text (same as the recipient's `id`). */
  describe(entry: MasterKeyEntry): string;
  /** The unwrapped bytes, `null` if no identity available here matches, or a throw. */
  unwrap(entry: MasterKeyEntry, ctx: ProviderContext): Promise<Uint8Array | null>;
}

/** Whether recipient `r` names the key identified by `id` (see MasterKeyRecipient.matches). */
export function sameKey(r: MasterKeyRecipient, id: string): boolean {
  return r.matches ? r.matches(id) : r.id === id;
}
