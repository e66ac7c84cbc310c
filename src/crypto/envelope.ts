/**
 * Envelope encryption of the data key (sops-format.md §2, §8, §9.6): with one key group
 * every master key wraps the whole key; with several, the key is split with Shamir and
 * every key of group i wraps share i. Unwrapping tries each group's keys in the
 * decryption order until enough groups have answered.
 */
import { randomBytes } from 'node:crypto';
import { DataKeyUnavailableError, NoEncryptionKeyError, WaxError, type KeyAttempt } from '../errors.js';
import type { KeyGroup, MasterKeyEntry, Metadata } from '../document/metadata.js';
import { loadProvider, type MasterKeyRecipient, type ProviderContext } from '../providers/index.js';
import { combine, split } from './shamir.js';

export const DATA_KEY_SIZE = 32;

export function generateDataKey(): Buffer {
  return randomBytes(DATA_KEY_SIZE);
}

/** Wraps the data key for every recipient of every group. */
export async function wrapDataKey(dataKey: Uint8Array, groups: MasterKeyRecipient[][], threshold: number): Promise<KeyGroup[]> {
  if (groups.length === 0 || groups.every((g) => g.length === 0)) throw new NoEncryptionKeyError();
  const parts = groups.length === 1 ? [dataKey] : split(dataKey, groups.length, effectiveThreshold(threshold, groups.length));
  return Promise.all(groups.map((group, i) => Promise.all(group.map((recipient) => recipient.wrap(parts[i])))));
}

/** sops' default: with several groups and no threshold, every group is required. */
export function effectiveThreshold(threshold: number, groupCount: number): number {
  if (groupCount <= 1) return 1;
  return threshold > 0 ? threshold : groupCount;
}

export interface UnwrapResult {
  dataKey: Buffer;
  /** The entries that unwrapped the key (or its shares), one per group used. */
  usedKeys: MasterKeyEntry[];
}

/** `SOPS_DECRYPTION_ORDER` (default `age,pgp`): those types first, then the rest in file order. */
export function decryptionOrder(group: KeyGroup, order: string[]): MasterKeyEntry[] {
  const rank = (entry: MasterKeyEntry) => {
    const i = order.indexOf(entry.type);
    return i < 0 ? order.length : i;
  };
  return group.map((entry, index) => ({ entry, index })).sort((a, b) => rank(a.entry) - rank(b.entry) || a.index - b.index).map((x) => x.entry);
}

export interface UnwrapOptions {
  ctx: ProviderContext;
  order?: string[];
}

/**
 * Unwrapped data keys (or shares) by wrapped key, for the life of the process: a bulk run
 * over files that share a data key, or a controller resync, does not call KMS again. A
 * wrapped key only unwraps to one value, so an entry cannot be wrong. Caches are per
 * environment object (the CLI's is process.env), so a library caller that passes other
 * credentials never receives a key that its own identities could not unwrap. Bounded so
 * that a long-running process does not grow without limit.
 */
interface CachedPart {
  part: Uint8Array;
  /** Epoch ms after which the entry is not used; Infinity without a TTL. */
  expires: number;
}

const unwrapCaches = new WeakMap<object, Map<string, CachedPart>>();
/** Enough for every remotely wrapped key of a large cluster; a few hundred bytes each. */
const UNWRAP_CACHE_LIMIT = 10_000;
/** age unwraps locally in about 0.1 ms (providers/age-x25519.ts): caching it would only evict remote keys. */
const UNCACHED_TYPES = new Set(['age']);

function cacheFor(ctx: ProviderContext): Map<string, CachedPart> {
  let cache = unwrapCaches.get(ctx.env);
  if (!cache) {
    cache = new Map();
    unwrapCaches.set(ctx.env, cache);
  }
  return cache;
}

function cacheKey(entry: MasterKeyEntry): string | undefined {
  const enc = entry.fields.enc;
  return typeof enc === 'string' && enc !== '' ? `${entry.type}\u0000${enc}` : undefined;
}

function remember(cache: Map<string, CachedPart>, entry: MasterKeyEntry, part: Uint8Array, ttlMs: number | undefined): void {
  const key = cacheKey(entry);
  if (!key || UNCACHED_TYPES.has(entry.type)) return;
  if (cache.size >= UNWRAP_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, { part, expires: ttlMs === undefined ? Infinity : Date.now() + ttlMs });
}

function cached(cache: Map<string, CachedPart>, entry: MasterKeyEntry): Uint8Array | undefined {
  const key = cacheKey(entry);
  const hit = key === undefined ? undefined : cache.get(key);
  if (!hit) return undefined;
  cache.delete(key!);
  if (hit.expires <= Date.now()) return undefined;
  // Re-inserted at the end: the bound evicts the least recently used key first.
  cache.set(key!, hit);
  return hit.part;
}

/** Forgets the data keys cached for an environment (a controller whose identities changed). */
export function clearUnwrapCache(ctx: ProviderContext): void {
  unwrapCaches.delete(ctx.env);
}

/** Recovers the data key; throws DataKeyUnavailableError listing every attempt. */
export async function unwrapDataKey(metadata: Metadata, options: UnwrapOptions): Promise<UnwrapResult> {
  const order = options.order ?? parseDecryptionOrder(options.ctx.env.SOPS_DECRYPTION_ORDER);
  const groups = metadata.keyGroups;
  const needed = effectiveThreshold(metadata.shamirThreshold, groups.length);
  const attempts: KeyAttempt[] = [];
  const parts: Uint8Array[] = [];
  const usedKeys: MasterKeyEntry[] = [];
  for (let g = 0; g < groups.length && parts.length < needed; g++) {
    const found = await unwrapGroup(groups[g], g, order, options.ctx, attempts);
    if (found) {
      parts.push(found.part);
      usedKeys.push(found.entry);
    }
  }
  if (parts.length < needed) {
    const summary = groups.length === 1 ? 'no master key could decrypt it' : `${parts.length} of the ${needed} key groups needed could be decrypted`;
    throw new DataKeyUnavailableError(attempts, summary);
  }
  const dataKey = groups.length === 1 ? Buffer.from(parts[0]) : Buffer.from(combine(parts));
  if (dataKey.length !== DATA_KEY_SIZE) throw new DataKeyUnavailableError(attempts, `the recovered data key has ${dataKey.length} bytes, not ${DATA_KEY_SIZE}`);
  return { dataKey, usedKeys };
}

async function unwrapGroup(group: KeyGroup, index: number, order: string[], ctx: ProviderContext, attempts: KeyAttempt[]) {
  const expectedSize = DATA_KEY_SIZE;
  const ordered = decryptionOrder(group, order);
  const cache = cacheFor(ctx);
  for (const entry of ordered) {
    const part = cached(cache, entry);
    if (part) return { part, entry };
  }
  for (const entry of ordered) {
    let description: string = entry.type;
    try {
      const provider = await loadProvider(entry.type);
      description = `${entry.type} ${provider.describe(entry)}`;
      const part = await provider.unwrap(entry, ctx);
      if (part === null) {
        attempts.push({ group: index, key: description, reason: 'no matching identity available' });
        continue;
      }
      if (part.length !== expectedSize && part.length !== expectedSize + 1) {
        attempts.push({ group: index, key: description, reason: `unwrapped ${part.length} bytes, not a data key` });
        continue;
      }
      remember(cache, entry, part, ctx.dataKeyCacheTtlMs);
      return { part, entry };
    } catch (error) {
      const reason = error instanceof WaxError ? error.message : 'unexpected failure';
      // Cloud providers name the key in their messages already; do not say it twice.
      const id = description.slice(entry.type.length + 1);
      attempts.push({ group: index, key: id && reason.includes(id) ? entry.type : description, reason, hint: error instanceof WaxError ? error.hint : undefined });
    }
  }
  return undefined;
}

export function parseDecryptionOrder(text: string | undefined): string[] {
  if (!text) return ['age', 'pgp'];
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}
