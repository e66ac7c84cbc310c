/**
 * The value tree every store reads into and writes from, mirroring sops' `Tree`:
 * documents are ordered mappings; comments are items of the mapping (or elements of
 * the sequence) they appear in, so that walk order, paths and comment encryption match
 * sops exactly.
 *
 * Scalar types follow sops' Go types, because the `type:` tag and the MAC bytes depend
 * on them: `string` → str, `bigint` → int, `number` → float, `boolean` → bool,
 * `SopsTime` → time. JavaScript cannot tell `1` from `1.0`, so ints are bigints.
 */

/** A comment line, without its leading `#`. `inline` marks a line (trailing) comment. */
export class Comment {
  constructor(
    readonly value: string,
    readonly inline = false,
  ) {}
}

/** A timestamp kept as Go's `time.Time.MarshalText` form (RFC 3339 with nanoseconds). */
export class SopsTime {
  constructor(readonly text: string) {}
}

/** `Uint8Array` holds the raw content of a binary file that is not valid UTF-8. */
export type Scalar = string | Uint8Array | bigint | number | boolean | SopsTime | null;
export type TreeValue = Scalar | Comment | TreeBranch | TreeValue[];

export interface TreeItem {
  /** A mapping key, or a Comment standing in the mapping at this position. */
  key: string | Comment;
  value: TreeValue;
}

/** An ordered mapping. */
export class TreeBranch {
  constructor(public items: TreeItem[] = []) {}

  get(key: string): TreeValue | undefined {
    for (const item of this.items) if (item.key === key) return item.value;
    return undefined;
  }

  has(key: string): boolean {
    return this.items.some((item) => item.key === key);
  }

  /** Replaces the value of `key` in place, or appends it. */
  set(key: string, value: TreeValue): void {
    const existing = this.items.find((item) => item.key === key);
    if (existing) existing.value = value;
    else this.items.push({ key, value });
  }

  delete(key: string): boolean {
    const index = this.items.findIndex((item) => item.key === key);
    if (index < 0) return false;
    this.items.splice(index, 1);
    return true;
  }

  /** Mapping keys only, comments skipped. */
  keys(): string[] {
    return this.items.filter((item) => typeof item.key === 'string').map((item) => item.key as string);
  }
}

/** One file: its documents (only YAML has more than one). */
export type Documents = TreeBranch[];

export function isBranch(value: unknown): value is TreeBranch {
  return value instanceof TreeBranch;
}

/** Converts plain JSON-like data into a tree (used by tests and by `set`). */
export function fromPlain(value: unknown): TreeValue {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(fromPlain);
  if (value instanceof TreeBranch || value instanceof Comment || value instanceof SopsTime) return value;
  if (typeof value === 'object') {
    return new TreeBranch(Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ key, value: fromPlain(v) })));
  }
  if (typeof value === 'number' && Number.isInteger(value) && Number.isSafeInteger(value)) return BigInt(value);
  return value as Scalar;
}

/**
 * Sets `key` on a plain object as an own, enumerable property, `__proto__` included: plain
 * assignment of `__proto__` changes the object's prototype instead (or does nothing for a
 * string), so a document key of that name would silently vanish from a decrypted file, a
 * Secret or its labels. JSON.stringify and Object.entries see the property like any other.
 */
export function setOwn(target: object, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else (target as Record<string, unknown>)[key] = value;
}

/**
 * Converts a tree to plain data for comparison and for `--extract` as JSON: comments
 * dropped, ints as numbers where safe (as strings of digits otherwise), times as text.
 */
export function toPlain(value: TreeValue): unknown {
  if (value instanceof TreeBranch) {
    const out: Record<string, unknown> = {};
    for (const item of value.items) if (typeof item.key === 'string') setOwn(out, item.key, toPlain(item.value));
    return out;
  }
  if (Array.isArray(value)) return value.filter((v) => !(v instanceof Comment)).map(toPlain);
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof SopsTime) return value.text;
  if (value instanceof Comment) return undefined;
  return value;
}

/** Deep copy, so that an encrypt pass never mutates the caller's tree. */
export function cloneValue(value: TreeValue): TreeValue {
  if (value instanceof TreeBranch) return new TreeBranch(value.items.map((item) => ({ key: item.key, value: cloneValue(item.value) })));
  if (Array.isArray(value)) return value.map(cloneValue);
  return value;
}
