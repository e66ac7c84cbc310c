/**
 * Finds every occurrence of a set of short ASCII literals in a text, in one pass, with
 * the WebAssembly kernel of `anchor-search.wat` (128-bit SIMD): about 0.4 ns a byte here,
 * where a JavaScript `indexOf` per literal stops at every occurrence of its first
 * character and costs several times that for the prefilter's sixty literals.
 *
 * Each literal is found through a fingerprint, three of its bytes (two for a two-byte
 * literal) chosen to be rare in code and configuration; the kernel reports where a
 * fingerprint occurs, and this module compares the whole literal there. Where the kernel
 * cannot run (no WebAssembly, as under `--jitless`; no SIMD; the module missing from an
 * install), `LiteralSearch.create` answers undefined and callers search in JavaScript.
 */
import { readFileSync } from 'node:fs';

export type OnLiteral = (literal: number, offset: number) => void;

const TABLES_AT = 0;
const SLOTS_AT = 1024;
const SLOT_KEYS = 1 << 21; // one byte per three 7-bit bytes
const TEXT_AT = SLOTS_AT + SLOT_KEYS;
/** Positions are written in 24 bits, beside the slot. */
const MAX_TEXT_BYTES = (1 << 24) - 1;
/** Zero bytes after the text: the kernel's loads of the last block read up to 18 past it. */
const PADDING = 32;
const PAGE = 65536;
const BUCKETS = 8;

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  find(text: number, length: number, out: number, cap: number): number;
}

/** The compiled kernel, once per process; null when it cannot run here. */
let kernel: WebAssembly.Module | null | undefined;

function compiledKernel(): WebAssembly.Module | null {
  if (kernel === undefined) {
    try {
      kernel = new WebAssembly.Module(readFileSync(new URL('./anchor-search.wasm', import.meta.url)));
    } catch {
      // Any failure here (no WebAssembly, no SIMD, no file) leaves the JavaScript search.
      kernel = null;
    }
  }
  return kernel;
}

interface Fingerprint {
  readonly literal: number;
  /** Where the fingerprint starts in the literal. */
  readonly at: number;
  /** Two or three character codes. */
  readonly codes: readonly number[];
}

export class LiteralSearch {
  private constructor(
    private readonly exports: KernelExports,
    /** What a slot of the kernel's table holds: the fingerprints with those bytes, and their literals. */
    private readonly slots: readonly (readonly SlotEntry[])[],
  ) {}

  /** A search for `literals` (ASCII, two characters or more), or undefined where the kernel cannot run. */
  static create(literals: readonly string[]): LiteralSearch | undefined {
    for (const literal of literals) {
      // No NUL: the kernel reads the zero padding after a text as "no fingerprint starts here".
      if (literal.length < 2 || !/^[\x01-\x7f]+$/.test(literal)) throw new TypeError(`LiteralSearch: ${JSON.stringify(literal)} is not ASCII of two characters or more`);
    }
    const module = compiledKernel();
    if (!module) return undefined;
    let exports: KernelExports;
    try {
      exports = new WebAssembly.Instance(module).exports as unknown as KernelExports;
    } catch {
      return undefined;
    }
    const fingerprints = literals.map((literal, index) => fingerprintOf(literal, index));
    const heap = new Uint8Array(exports.memory.buffer);
    writeBuckets(heap, fingerprints);
    const slots = writeSlots(heap, fingerprints, literals);
    return slots ? new LiteralSearch(exports, slots) : undefined;
  }

  /**
   * Calls `onLiteral(index, offset)` for every occurrence of every literal in `bytes`,
   * roughly in order of offset (by where each literal's fingerprint lies). Returns
   * false, having called nothing, when a fingerprint occurs at more than one position in
   * eight (no text a person writes): the caller searches that text another way.
   */
  find(bytes: Uint8Array, onLiteral: OnLiteral): boolean {
    if (bytes.length > MAX_TEXT_BYTES) return false;
    const { memory, find } = this.exports;
    const out = (TEXT_AT + bytes.length + PADDING + 3) & ~3;
    const cap = (bytes.length >> 3) + 64;
    const needed = out + cap * 4;
    if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE));
    const heap = new Uint8Array(memory.buffer);
    heap.set(bytes, TEXT_AT);
    heap.fill(0, TEXT_AT + bytes.length, TEXT_AT + bytes.length + PADDING);
    const count = find(TEXT_AT, bytes.length, out, cap);
    if (count < 0) return false;
    const candidates = new Int32Array(memory.buffer, out, count);
    for (let i = 0; i < count; i++) {
      const candidate = candidates[i]!;
      this.#compare(bytes, candidate >>> 8, this.slots[candidate & 0xff]!, onLiteral);
    }
    return true;
  }

  /** The literals of the fingerprints found at `at`, compared in full. */
  #compare(bytes: Uint8Array, at: number, entries: readonly SlotEntry[], onLiteral: OnLiteral): void {
    for (const { literal, printAt, codes } of entries) {
      const start = at - printAt;
      if (start < 0 || start + codes.length > bytes.length) continue;
      let same = true;
      for (let i = 0; i < codes.length && same; i++) same = bytes[start + i] === codes[i];
      if (same) onLiteral(literal, start);
    }
  }
}

/** A fingerprint in a slot: its literal's index and bytes, and where in them it lies. */
interface SlotEntry {
  readonly literal: number;
  readonly printAt: number;
  readonly codes: Uint8Array;
}

/**
 * Rough frequencies of ASCII bytes in code and configuration, per thousand: lower-case
 * letters in their English order, then space and newline; capitals, digits and
 * punctuation rare. Only their order matters: they pick each literal's rarest window and
 * group the fingerprints into buckets that rarely agree by chance. Whole numbers, so that
 * the grouping's arithmetic allocates nothing before the optimiser sees it.
 */
const FREQUENCY: Int32Array = (() => {
  const frequency = new Int32Array(128).fill(2);
  const letters = 'etaoinsrhldcumfpgwybvkxjqz';
  const perThousand = [76, 55, 49, 45, 42, 40, 38, 36, 37, 24, 26, 17, 17, 14, 13, 11, 12, 14, 12, 9, 6, 5, 1, 1, 1, 1];
  for (let i = 0; i < letters.length; i++) frequency[letters.charCodeAt(i)] = perThousand[i]!;
  for (let code = 65; code <= 90; code++) frequency[code] = 8;
  for (let code = 48; code <= 57; code++) frequency[code] = 10;
  for (const [character, share] of [[' ', 150], ['\n', 30], ['"', 20], ['_', 10], ['-', 10], ['.', 10], [':', 10], ['/', 10]] as const) {
    frequency[character.charCodeAt(0)] = share;
  }
  return frequency;
})();

function fingerprintOf(literal: string, index: number): Fingerprint {
  if (literal.length < 3) return { literal: index, at: 0, codes: [literal.charCodeAt(0), literal.charCodeAt(1)] };
  let best = 0;
  let rarest = Number.MAX_SAFE_INTEGER;
  for (let at = 0; at + 3 <= literal.length; at++) {
    const chance = FREQUENCY[literal.charCodeAt(at)]! * FREQUENCY[literal.charCodeAt(at + 1)]! * FREQUENCY[literal.charCodeAt(at + 2)]!;
    if (chance < rarest) [best, rarest] = [at, chance];
  }
  return { literal: index, at: best, codes: [0, 1, 2].map((k) => literal.charCodeAt(best + k)) };
}

/**
 * The nibbles a bucket accepts at each of the three bytes, as 16-bit sets, and how
 * likely a window of text is to pass them by chance. A two-byte fingerprint accepts any
 * third byte.
 */
interface Bucket {
  readonly low: readonly number[];
  readonly high: readonly number[];
  readonly chance: number;
}

function bucketOf({ codes }: Fingerprint): Bucket {
  // Every nibble: any byte.
  const low = [0xffff, 0xffff, 0xffff];
  const high = [0xffff, 0xffff, 0xffff];
  for (let k = 0; k < codes.length; k++) [low[k], high[k]] = [1 << (codes[k]! & 15), 1 << (codes[k]! >> 4)];
  return { low, high, chance: chanceOf(low, high) };
}

function union(a: Bucket, b: Bucket): Bucket {
  const low = [a.low[0]! | b.low[0]!, a.low[1]! | b.low[1]!, a.low[2]! | b.low[2]!];
  const high = [a.high[0]! | b.high[0]!, a.high[1]! | b.high[1]!, a.high[2]! | b.high[2]!];
  return { low, high, chance: chanceOf(low, high) };
}

function chanceOf(low: readonly number[], high: readonly number[]): number {
  let chance = 1;
  for (let k = 0; k < 3; k++) {
    let share = 0;
    // ASCII has high nibbles 0 to 7: bytes with an accepted high and low nibble.
    for (let hi = 0; hi < 8; hi++) {
      if ((high[k]! & (1 << hi)) === 0) continue;
      for (let lo = 0; lo < 16; lo++) if (low[k]! & (1 << lo)) share += FREQUENCY[(hi << 4) | lo]!;
    }
    // Per thousand, at most all of it (any byte, for a two-byte fingerprint's third):
    // three factors stay a small integer.
    chance *= Math.min(share, 1000);
  }
  return chance;
}

/**
 * Groups the fingerprints into eight buckets: each in turn, the likeliest first, goes to
 * the bucket whose chance of a false candidate it raises least (greedy, 8 tries each).
 */
function groupIntoBuckets(prints: readonly Fingerprint[]): (readonly Fingerprint[])[] {
  const single = prints.map((print) => ({ print, bucket: bucketOf(print) }));
  single.sort((a, b) => b.bucket.chance - a.bucket.chance);
  const groups: { prints: Fingerprint[]; bucket: Bucket | undefined }[] = Array.from({ length: BUCKETS }, () => ({ prints: [], bucket: undefined }));
  for (const { print, bucket } of single) {
    let best = groups[0]!;
    let bestBucket = bucket;
    let cost = Number.MAX_SAFE_INTEGER;
    for (const group of groups) {
      const merged = group.bucket === undefined ? bucket : union(group.bucket, bucket);
      const added = merged.chance - (group.bucket?.chance ?? 0);
      if (added < cost) [best, bestBucket, cost] = [group, merged, added];
    }
    best.prints.push(print);
    best.bucket = bestBucket;
  }
  return groups.map((group) => group.prints);
}

/** The kernel's nibble tables: which buckets accept each nibble of each byte of a window. */
function writeBuckets(heap: Uint8Array, prints: readonly Fingerprint[]): void {
  groupIntoBuckets(prints).forEach((group, bucket) => {
    const bit = 1 << bucket;
    for (const { codes } of group) {
      for (let k = 0; k < 3; k++) {
        const lowTable = TABLES_AT + k * 32;
        // A two-byte fingerprint: any third byte.
        const nibbles = k < codes.length ? [codes[k]! & 15, 16 + (codes[k]! >> 4)] : Array.from({ length: 32 }, (_, nibble) => nibble);
        for (const nibble of nibbles) heap[lowTable + nibble] |= bit;
      }
    }
  });
}

/**
 * The kernel's slot table: for each key of three 7-bit bytes that some fingerprint has
 * (a two-byte one has 128, one per third byte), the slot of the fingerprints with that
 * key. Returns what each slot holds, or undefined when 255 slots are too few.
 */
function writeSlots(heap: Uint8Array, prints: readonly Fingerprint[], literals: readonly string[]): SlotEntry[][] | undefined {
  const byKey = new Map<number, Fingerprint[]>();
  for (const print of prints) {
    const [b0, b1, b2] = print.codes as [number, number, number?];
    const thirds = b2 === undefined ? Array.from({ length: 128 }, (_, code) => code) : [b2];
    for (const third of thirds) {
      const key = (b0 << 14) | (b1 << 7) | third;
      byKey.set(key, [...(byKey.get(key) ?? []), print]);
    }
  }
  const codes = literals.map((literal) => Uint8Array.from(literal, (character) => character.charCodeAt(0)));
  // Slot 0 means "no fingerprint"; keys with the same fingerprints share a slot.
  const slots: SlotEntry[][] = [[]];
  const slotOf = new Map<string, number>();
  for (const [key, found] of byKey) {
    const id = found.map((print) => print.literal).join(',');
    let slot = slotOf.get(id);
    if (slot === undefined) {
      if (slots.length > 255) return undefined;
      slot = slots.push(found.map((print) => ({ literal: print.literal, printAt: print.at, codes: codes[print.literal]! }))) - 1;
      slotOf.set(id, slot);
    }
    heap[SLOTS_AT + key] = slot;
  }
  return slots;
}
