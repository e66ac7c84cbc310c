/**
 * Generators of plaintext documents per store, for the round-trip properties. Each store
 * gets the trees it can hold: YAML everything (comments, timestamps, several documents),
 * JSON the same minus comments and timestamps, dotenv and INI flat strings, binary bytes.
 * Strings are drawn from a pool that is dense in the characters each format treats
 * specially, plus arbitrary Unicode.
 */
import fc from 'fast-check';
import { normaliseGoTime } from '../../src/crypto/scalars.js';
import type { SelectionRule } from '../../src/document/rules.js';
import { Comment, SopsTime, TreeBranch, type TreeItem, type TreeValue } from '../../src/document/tree.js';

/** Go's unicode.IsSpace at either end of a string (go-ini trims those). */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;

/** Characters and fragments that mean something to one of the formats. */
const SPECIAL = [
  '=', '#', '"', "'", ' ', '  ', '\t', '\n', '\r', '\r\n', '\\', '\\n', ':', ': ', ' #', ';', '-', '- ', '[', ']', '{', '}', ',', '&', '*',
  '!', '|', '>', '%', '@', '`', '"""', '?', '<<', '---', '...', '~', '\u0000', '\u0007', '\u000b', '\u0085', '\u00a0', '\u2028', '\u3000',
  '\ufeff', '\ufffd', 'é', 'ß', '日本', '🔐', '\u0301', 'ENC[AES256_GCM,', 'sops', 'sops_', '_unencrypted', '_enc', 'null', 'true', 'no', '0x1F', '1e3',
];

/** Whole values that resolve to something other than a string when written plain. */
const TRICKY = [
  '', ' ', 'yes', 'No', 'on', 'OFF', 'y', 'n', 'true', 'False', 'null', '~', 'NULL', '0755', '012', '1:20', '0x1F', '0o17', '0b101', '1_000',
  '1e3', '1e400', '.5', '.inf', '-.Inf', '.nan', '+12', '-0', '2024-01-02', '2024-01-02T03:04:05Z', '2024-1-2', '2024-13-01', 'a: b', '#not a comment',
  'x #y', '- item', '-x', '? q', ': c', '[a]', '{a}', '&anchor', '*alias', '!tag', '|', '>', "'quoted'", '"dq"', '%dir', '@at', '`tick', '=',
  'trailing ', ' leading', 'tab\tinside', 'line1\nline2\n', 'no newline\nat end', 'many\n\n\n', '\nstarts with newline', '  indented\nblock\n',
  'ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]', 'back\\slash', 'a\\nb', 'quote " inside', "single ' inside", '---', '...', '<<', '\ufeffbom',
  '"quoted both"', "'single both'", 'ends with backslash\\', '"""triple', 'x;y', 'k=v', '\r', 'ends with cr\r',
];

/** One "unit" of a generated string: mostly printable ASCII, often a special fragment, sometimes any code point. */
const unit = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
);

/** A string as Go holds it (UTF-8 bytes): a lone surrogate becomes U+FFFD. */
export const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

/** A lone surrogate: a JavaScript string that has no UTF-8 form (Go would see U+FFFD). */
const loneSurrogate = fc.constantFrom('\ud800', '\udfff', 'a\udc00b');

export const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit, maxLength: 12 }) },
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: loneSurrogate },
);

/** Keys that the selection rules below look for, mixed with arbitrary text. */
const RULE_KEYS = ['data', 'stringData', 'a', 'b', 'public', 'password', 'x_unencrypted', 'y_enc', 'sops_like'];
export const key = fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom(...RULE_KEYS) });

/** Comment bodies (the text after `#`): one line each, words the comment rules match. */
const COMMENT_WORDS = [' clear-me', ' sops:enc', ' a comment', '', ' ', '#', '##', ' trailing ', 'x'];
export const commentText = fc
  .oneof({ weight: 3, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom(...COMMENT_WORDS) })
  .map((s) => s.replace(/[\r\n\u2028\u2029\u0085]/g, ' '));

/** The YAML readers (like sops') drop blank comment lines, so a tree never holds one. */
const yamlComment = commentText.filter((s) => s.trim() !== '');

/**
 * What the INI reader can hold: go-ini trims a comment and sops strips its leading run
 * of `;`, `#` and spaces, so a comment never starts or ends with those.
 */
const iniComment = commentText.filter((s) => s !== '' && !/^[;#]/.test(s) && !GO_SPACE.test(s));

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** int64 with the interesting ones (beyond 2^53, the extremes) drawn often. */
export const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(INT64_MIN, INT64_MAX, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 0n),
);

/**
 * No -0: it is written `-0`, which sops (Go's ParseInt, in JSON and YAML alike) and wax
 * read back as the int 0, so no file can hold a float -0 and decrypt(encrypt(x)) gives
 * `0` with sops too.
 */
export const finiteDouble = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
  fc.constantFrom(0.1, 1.5, -2.25, 1e-7, 1e21, 1e300, 5e-324, 123456.789, 1e6, 0.5),
);
export const anyDouble = fc.oneof({ weight: 6, arbitrary: finiteDouble }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) });

/** Timestamps as go-yaml reads them, kept in Go's MarshalText form (what the stores hold). */
export const timestamp = fc
  .record({
    year: fc.integer({ min: 1000, max: 9999 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.stringMatching(/^[0-9]{0,9}$/),
    offset: fc.oneof(fc.constant('Z'), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }).map(formatOffset)),
    dateOnly: fc.boolean(),
  })
  .map((t) => {
    const pad = (n: number) => String(n).padStart(2, '0');
    const date = `${t.year}-${pad(t.month)}-${pad(t.day)}`;
    const written = t.dateOnly ? date : `${date}T${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${t.fraction ? `.${t.fraction}` : ''}${t.offset}`;
    return new SopsTime(normaliseGoTime(written)!);
  });

function formatOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export interface TreeShape {
  scalar: fc.Arbitrary<TreeValue>;
  /** Comment bodies, for formats that have comments. */
  comments?: fc.Arbitrary<string>;
}

/** Mapping items without duplicate keys; comments interleaved when the format has them. */
function branchOf(entries: fc.Arbitrary<[string, TreeValue]>, comments: fc.Arbitrary<string> | undefined, maxLength: number, reserved: string[] = []): fc.Arbitrary<TreeBranch> {
  const item = comments
    ? fc.oneof({ weight: 5, arbitrary: entries }, { weight: 1, arbitrary: fc.tuple(comments, fc.boolean()).map(([c, inline]) => new Comment(c, inline)) })
    : entries;
  return fc.array(item, { maxLength }).map((list) => {
    const items: TreeItem[] = [];
    const seen = new Set<string>(reserved);
    for (const entry of list) {
      if (entry instanceof Comment) items.push({ key: entry, value: null });
      else if (!seen.has(wellFormed(entry[0]))) {
        // Two lone surrogates are the same key once written (both U+FFFD).
        seen.add(wellFormed(entry[0]));
        items.push({ key: entry[0], value: entry[1] });
      }
    }
    return new TreeBranch(items);
  });
}

/** Nested trees: mappings, lists (also lists of mappings), scalars, and a deep chain now and then. */
export function documentArb(shape: TreeShape): fc.Arbitrary<TreeBranch> {
  const { value } = fc.letrec<{ value: TreeValue; branch: TreeBranch; list: TreeValue[] }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 6, arbitrary: shape.scalar },
      { weight: 2, arbitrary: tie('branch') },
      { weight: 1, arbitrary: tie('list') },
    ),
    branch: branchOf(fc.tuple(key, tie('value')), shape.comments, 5),
    list: fc.array(
      shape.comments
        ? fc.oneof({ weight: 6, arbitrary: tie('value') }, { weight: 1, arbitrary: fc.tuple(shape.comments, fc.boolean()).map(([c, inline]) => new Comment(c, inline)) })
        : tie('value'),
      { maxLength: 4 },
    ),
  }));
  const deep = fc.tuple(fc.integer({ min: 20, max: 120 }), key, shape.scalar, fc.array(fc.boolean(), { minLength: 120, maxLength: 120 })).map(([depth, k, leaf, kinds]) => {
    let node: TreeValue = leaf;
    for (let i = 0; i < depth; i++) node = kinds[i] ? new TreeBranch([{ key: k, value: node }]) : [node];
    return node;
  });
  const topValue = fc.oneof({ weight: 12, arbitrary: value }, { weight: 1, arbitrary: deep });
  return branchOf(fc.tuple(key, topValue), shape.comments, 6, ['sops']);
}

export const yamlScalar: fc.Arbitrary<TreeValue> = fc.oneof(
  { weight: 6, arbitrary: text },
  { weight: 2, arbitrary: int64 },
  { weight: 2, arbitrary: anyDouble },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: timestamp },
);

export const jsonScalar: fc.Arbitrary<TreeValue> = fc.oneof(
  { weight: 6, arbitrary: text },
  { weight: 2, arbitrary: int64 },
  { weight: 2, arbitrary: finiteDouble },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

export const yamlDocuments = fc.array(documentArb({ scalar: yamlScalar, comments: yamlComment }), { minLength: 1, maxLength: 3 });
export const jsonDocument = documentArb({ scalar: jsonScalar });

/** dotenv: KEY=VALUE lines; a key cannot hold `=` or a newline, start with `#`, or use the `sops_` prefix. */
const dotenvKey = key.filter((k) => !k.includes('=') && !k.includes('\n') && !k.startsWith('#') && !k.startsWith('sops_'));
export const dotenvDocument = fc
  .array(fc.oneof({ weight: 5, arbitrary: fc.tuple(dotenvKey, text) }, { weight: 1, arbitrary: commentText.map((c) => new Comment(c)) }), { maxLength: 8 })
  .map((list) => new TreeBranch(list.map((entry) => (entry instanceof Comment ? { key: entry, value: null } : { key: entry[0], value: entry[1] }))));

/**
 * INI names and values within what go-ini can represent (see the header of
 * src/document/stores/ini.ts): names without newlines or surrounding whitespace, no key
 * with both a backquote and a double quote, no multi-line value containing `"""`, no
 * value ending in `\r`.
 */
// A name starting with U+FEFF may open the file, where go-ini (and wax) skip a byte order mark.
const iniName = key.filter((k) => k !== '' && !k.includes('\n') && !k.startsWith('\ufeff') && !GO_SPACE.test(k) && !(k.includes('`') && k.includes('"')));
const iniSectionName = iniName.filter((k) => k !== 'sops' && k !== 'DEFAULT');
const iniValue = text.filter((v) => !v.endsWith('\r') && !(v.includes('\n') && v.includes('"""')));
const iniSection = branchOf(fc.tuple(iniName, iniValue), iniComment, 5);
export const iniDocument = fc
  .tuple(fc.option(iniSection, { nil: undefined }), fc.array(fc.tuple(iniSectionName, iniSection), { maxLength: 4 }))
  .map(([defaults, sections]) => {
    // A DEFAULT section without keys is not written, and go-ini drops its comments with it.
    const items: TreeItem[] = defaults && defaults.keys().length > 0 ? [{ key: 'DEFAULT', value: defaults }] : [];
    const seen = new Set<string>();
    for (const [name, section] of sections) {
      if (seen.has(wellFormed(name))) continue;
      seen.add(wellFormed(name));
      items.push({ key: name, value: section });
    }
    return new TreeBranch(items);
  });

export const binaryContent = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  text.map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
  fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array([0xef, 0xbb, 0xbf, ...b])),
);

/** The selection rules, each with keys or comments in the pools above that it selects. */
export const selectionRule = fc.constantFrom<SelectionRule | undefined>(
  undefined,
  { kind: 'unencrypted_suffix', value: '_unencrypted' },
  { kind: 'encrypted_suffix', value: '_enc' },
  { kind: 'encrypted_regex', value: '^(data|stringData|a)$' },
  { kind: 'unencrypted_regex', value: '^(public|b)' },
  { kind: 'encrypted_comment_regex', value: 'sops:enc' },
  { kind: 'unencrypted_comment_regex', value: 'clear-me' },
);
