/**
 * decrypt(encrypt(x)) == x in every store, compared as sops compares: a generated tree is
 * first written by the store (that text is the plaintext x), then encrypted and decrypted
 * in-process with a real age key; the decrypted bytes must equal x exactly, and the values
 * read back from x must be the generated ones (up to the retyping that sops itself does,
 * see `expectedValues`). The selection rule, mac_only_encrypted, the indentation and one
 * or two key groups (Shamir) vary per case.
 *
 * Seed and counts: see ./settings.ts (WAX_PROPERTY_RUNS, WAX_PROPERTY_SEED).
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decryptBytes, encryptBytes } from '../../src/sops-file.js';
import { storeFor } from '../../src/document/stores/index.js';
import type { EmitOptions, Format } from '../../src/document/stores/types.js';
import { formatYamlFloat } from '../../src/document/stores/yaml-fast.js';
import { formatGoFloat } from '../../src/crypto/scalars.js';
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import type { SelectionRule } from '../../src/document/rules.js';
import { ageProvider, generateAgeIdentity } from '../../src/providers/age.js';
import type { MasterKeyRecipient, ProviderContext } from '../../src/providers/index.js';
import { binaryContent, dotenvDocument, iniDocument, jsonDocument, selectionRule, wellFormed, yamlDocuments } from './arbitraries.js';
import { label, params } from './settings.js';
import { fixturePath, fixturesAvailable } from '../support/fixtures.js';

interface Keys {
  ctx: ProviderContext;
  one: MasterKeyRecipient;
  two: MasterKeyRecipient;
}

/** Two fresh age keys per run; both identities are available for decryption. */
async function makeKeys(): Promise<Keys> {
  const first = await generateAgeIdentity();
  const second = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: `${first.identity}\n${second.identity}`, HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent' } };
  return { ctx, one: ageProvider.parseRecipient(first.recipient, ctx), two: ageProvider.parseRecipient(second.recipient, ctx) };
}

interface Variation {
  rule: SelectionRule | undefined;
  macOnlyEncrypted: boolean;
  indent: number | undefined;
  shamir: boolean;
}

const variation: fc.Arbitrary<Variation> = fc.record({
  rule: selectionRule,
  macOnlyEncrypted: fc.boolean(),
  indent: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  shamir: fc.boolean(),
});

/** Encrypts `plain` and decrypts the result; returns the decrypted bytes. */
async function roundTrip(keys: Keys, format: Format, plain: Buffer, v: Variation): Promise<Buffer> {
  const emit: EmitOptions = { indent: v.indent };
  const keyGroups = v.shamir ? [[keys.one], [keys.two]] : [[keys.one]];
  const encrypted = await encryptBytes(plain, { format, keyGroups, shamirThreshold: v.shamir ? 2 : undefined, rule: v.rule, macOnlyEncrypted: v.macOnlyEncrypted, emit });
  return decryptBytes(encrypted, { format, ctx: keys.ctx, emit });
}

/** Printable form of bytes for a failure message (test data only, never a real secret). */
function show(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('utf8'));
}

function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (!actual.equals(expected)) assert.fail(`${what}\nexpected ${show(expected)}\nactual   ${show(actual)}`);
}

// ---- value comparison --------------------------------------------------------------

/**
 * A comparable form of a tree's values: comments dropped (the byte comparison covers
 * them), numbers tagged int or float by their Go type, times by text, bytes as hex.
 */
function canon(value: TreeValue): unknown {
  if (value instanceof TreeBranch) return value.items.filter((i) => typeof i.key === 'string').map((i) => [i.key, canon(i.value)]);
  if (Array.isArray(value)) return value.filter((v) => !(v instanceof Comment)).map(canon);
  if (typeof value === 'bigint') return `int:${value}`;
  if (typeof value === 'number') return `float:${Object.is(value, -0) ? '-0' : String(value)}`;
  if (value instanceof SopsTime) return `time:${value.text}`;
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
  return value;
}

/** Maps every leaf of a tree (comments dropped by canon anyway). */
function mapLeaves(value: TreeValue, f: (leaf: TreeValue) => TreeValue, mapKey: (key: string) => string): TreeValue {
  if (value instanceof TreeBranch) {
    return new TreeBranch(value.items.map((i) => (typeof i.key === 'string' ? { key: mapKey(i.key), value: mapLeaves(i.value, f, mapKey) } : i)));
  }
  if (Array.isArray(value)) return value.map((v) => mapLeaves(v, f, mapKey));
  return f(value);
}

/**
 * The values as sops reads the written text back, which is not always the generated
 * tree: go-yaml writes an integral float64 below 1e6 without a point (`3`), which reads
 * back as an int, Go's json.Marshal likewise below 1e21 (its shortest digits, read back
 * exactly as written); dotenv reads every `\n` (two characters) as a newline, also one
 * the value held literally; a lone surrogate (no UTF-8 form) is written as U+FFFD.
 */
function expectedValues(format: Format, documents: TreeBranch[]): TreeValue[] {
  return documents.map((doc) =>
    mapLeaves(doc, (leaf) => {
      if (typeof leaf === 'string') return format === 'dotenv' ? wellFormed(leaf).replaceAll('\\n', '\n') : wellFormed(leaf);
      if (typeof leaf !== 'number' || !Number.isFinite(leaf)) return leaf;
      if (format === 'yaml' && !/[.e]/.test(formatYamlFloat(leaf))) return BigInt(leaf);
      if (format === 'json' && Number.isInteger(leaf) && Math.abs(leaf) < 1e21) {
        // The shortest digits, not the exact binary value: 47885439325195370, not …368.
        const written = BigInt(formatGoFloat(leaf));
        if (written >= -(2n ** 63n) && written < 2n ** 63n) return written;
      }
      return leaf;
    }, wellFormed),
  );
}

// ---- the properties ----------------------------------------------------------------

interface StoreCase {
  format: Format;
  documents: fc.Arbitrary<TreeBranch[]>;
  /** Adjusts the expected top level to what the reader adds (INI's DEFAULT section). */
  expectedTop?: (doc: TreeBranch) => TreeBranch;
}

/** go-ini always has a DEFAULT section, first. */
function withDefaultSection(doc: TreeBranch): TreeBranch {
  return doc.has('DEFAULT') ? doc : new TreeBranch([{ key: 'DEFAULT', value: new TreeBranch() }, ...doc.items]);
}

const CASES: StoreCase[] = [
  { format: 'yaml', documents: yamlDocuments },
  { format: 'json', documents: jsonDocument.map((d) => [d]) },
  { format: 'dotenv', documents: dotenvDocument.map((d) => [d]) },
  { format: 'ini', documents: iniDocument.map((d) => [d]), expectedTop: withDefaultSection },
];

/** Cheap (no crypto): many cases per store. */
const STORE_RUNS = 200;
/** Each case wraps and unwraps a data key with age (a few ms of X25519 each way). */
const CRYPTO_RUNS = 60;

/**
 * The store half: x = write(tree) reads back as the tree's values, and is a fixed point
 * of read-then-write (otherwise decryption, which writes what it read, could not give x
 * back). Returns x.
 */
function checkStore(c: StoreCase, documents: TreeBranch[], indent: number | undefined): Buffer {
  const store = storeFor(c.format);
  const plain = store.emitPlain(documents, { indent });
  assertSameBytes(store.emitPlain(store.loadPlain(plain), { indent }), plain, 'write(read(x)) != x');
  const expected = expectedValues(c.format, documents).map((d) => (c.expectedTop ? c.expectedTop(d as TreeBranch) : d));
  assert.deepEqual(store.loadPlain(plain).map(canon), expected.map(canon), 'x does not read back as the generated values');
  return plain;
}

/** Both halves: the store's, then decrypt(encrypt(x)) == x byte for byte. */
async function checkRoundTrip(keys: Keys, c: StoreCase, documents: TreeBranch[], v: Variation): Promise<void> {
  const plain = checkStore(c, documents, v.indent);
  const decrypted = await roundTrip(keys, c.format, plain, v);
  assertSameBytes(decrypted, plain, 'decrypt(encrypt(x)) != x');
  if (c.format === 'yaml') assert.deepEqual(storeFor('yaml').loadPlain(decrypted).map(canon), storeFor('yaml').loadPlain(plain).map(canon));
}

for (const c of CASES) {
  test(label(`${c.format}: x = write(tree) reads back as the tree and write(read(x)) == x`, STORE_RUNS), () => {
    fc.assert(
      fc.property(c.documents, fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), (documents, indent) => {
        checkStore(c, documents, indent);
      }),
      params(STORE_RUNS),
    );
  });

  test(label(`${c.format}: decrypt(encrypt(x)) == x`, CRYPTO_RUNS), async () => {
    const keys = await makeKeys();
    await fc.assert(
      fc.asyncProperty(c.documents, variation, (documents, v) => checkRoundTrip(keys, c, documents, v)),
      params(CRYPTO_RUNS),
    );
  });
}

test(label('binary: decrypt(encrypt(x)) == x for any bytes', CRYPTO_RUNS), async () => {
  const keys = await makeKeys();
  await fc.assert(
    fc.asyncProperty(binaryContent, variation, async (bytes, v) => {
      const plain = Buffer.from(bytes);
      assertSameBytes(await roundTrip(keys, 'binary', plain, v), plain, 'decrypt(encrypt(x)) != x');
    }),
    params(CRYPTO_RUNS),
  );
});

// ---- regressions: counterexamples the properties found, kept as explicit cases -----

const PLAIN: Variation = { rule: undefined, macOnlyEncrypted: false, indent: undefined, shamir: false };
const caseFor = (format: Format) => CASES.find((c) => c.format === format)!;
const branch = (entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));

test('regression: a binary file or a value that starts with a UTF-8 byte order mark keeps it', async () => {
  // The strict UTF-8 decoder dropped a leading U+FEFF: the file lost three bytes, the value its MAC.
  const keys = await makeKeys();
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  assertSameBytes(await roundTrip(keys, 'binary', bom, PLAIN), bom, 'binary BOM');
  assertSameBytes(await roundTrip(keys, 'binary', Buffer.concat([bom, Buffer.from('text')]), PLAIN), Buffer.concat([bom, Buffer.from('text')]), 'binary BOM + text');
  await checkRoundTrip(keys, caseFor('yaml'), [branch([['password', '\ufeffsecret']])], PLAIN);
  await checkRoundTrip(keys, caseFor('dotenv'), [branch([['TOKEN', '\ufeff']])], PLAIN);
});

test('regression: YAML with indent 1 or 2 writes nested blocks that read back (the age enc block among them)', async () => {
  // Blocks under a key of a mapping in a list were indented from the dash, not from the key:
  // with indent 2 every age-encrypted file was unreadable, and `- a:\n    b: 1` changed meaning.
  const keys = await makeKeys();
  const nested = branch([['l', [branch([['a', branch([['b', 1n]])], ['c', 'x\ny\n']])]]]);
  for (const indent of [1, 2, 3, 4]) {
    await checkRoundTrip(keys, caseFor('yaml'), [new TreeBranch()], { ...PLAIN, indent });
    await checkRoundTrip(keys, caseFor('yaml'), [nested], { ...PLAIN, indent });
  }
  assert.equal(storeFor('yaml').emitPlain([nested], { indent: 2 }).toString(), 'l:\n  - a:\n      b: 1\n    c: |\n      x\n      y\n');
  assert.equal(storeFor('yaml').emitPlain([nested], { indent: 4 }).toString(), 'l:\n    - a:\n        b: 1\n      c: |\n        x\n        y\n');
});

const INDENT_2_FIXTURES = [
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/global/secret.yaml',
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/algorithms/age.yaml',
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/patches/merge1.yaml',
];

test('regression: files sops wrote with indent 2 are written again byte for byte with indent 2', { skip: fixturesAvailable() ? false : 'fixtures not found' }, () => {
  for (const path of INDENT_2_FIXTURES) {
    const bytes = readFileSync(fixturePath(path));
    const { documents, metadata } = storeFor('yaml').loadEncrypted(bytes);
    assertSameBytes(storeFor('yaml').emitEncrypted(documents, metadata!, { indent: 2 }), bytes, path);
  }
});

test('regression: INI values with a double quote and surrounding whitespace, keys with a backquote', async () => {
  // `"…"` quoting (go-ini's) cannot hold another double quote; a backquoted key ended at its own backquote.
  const keys = await makeKeys();
  await checkRoundTrip(keys, caseFor('ini'), [branch([['DEFAULT', branch([['=', '"\t']])]])], PLAIN);
  await checkRoundTrip(keys, caseFor('ini'), [branch([['s', branch([['k', ' say "hi" ']])]])], PLAIN);
  await checkRoundTrip(keys, caseFor('ini'), [branch([['data', branch([['`=', ''], ['#`', 'v'], ['a`b', 'c']])]])], PLAIN);
  assert.equal(storeFor('ini').emitPlain([branch([['DEFAULT', branch([['k', '"\t']])]])]).toString(), 'k = `"\t`\n');
});

test('regression: YAML read by the full library keeps a top-level comment after a nested list at the top', async () => {
  // The `yaml` library gives every comment after a collection to the innermost one; the
  // empty second document sends this text to the library rather than the fast reader.
  const keys = await makeKeys();
  const doc = branch([['', [false, new Comment(' clear-me')]], [new Comment('!'), null]]);
  await checkRoundTrip(keys, caseFor('yaml'), [doc, new TreeBranch()], PLAIN);
  const read = storeFor('yaml').loadPlain(Buffer.from('a:\n    - x\n    # in the list\n# at the top\n---\n{}\n'));
  assert.deepEqual(read[0].items.map((i) => (i.key instanceof Comment ? `#${i.key.value}` : i.key)), ['a', '# at the top']);
});

test('regression: a plain key that go-yaml reads as a string (1e400) is a string through the full library too', async () => {
  const keys = await makeKeys();
  await checkRoundTrip(keys, caseFor('yaml'), [branch([['1e400', 'v']]), new TreeBranch()], PLAIN);
});

test('regression: a comment that opens a mapping in a list nested in lists is written above the outer dash', async () => {
  // It stood between a bare `-` and its block, where readers disagree on its owner.
  const keys = await makeKeys();
  const doc = branch([['', [[[branch([[new Comment('='), null], ['', 'x']])]]]]]);
  await checkRoundTrip(keys, caseFor('yaml'), [doc], PLAIN);
  assert.equal(storeFor('yaml').emitPlain([doc]).toString(), '"":\n    #=\n    -\n        -\n            - "": x\n');
});

test('sops-compatible, excluded from the properties: a float -0 is written `-0` and read back as the int 0', async () => {
  // Go's ParseInt reads "-0" as 0 in both JSON (UseNumber) and YAML, so sops gives `0` too.
  const keys = await makeKeys();
  for (const [format, text, expected] of [
    ['json', '{\n\t"a": -0\n}\n', '{\n\t"a": 0\n}\n'],
    ['yaml', 'a: -0\n', 'a: 0\n'],
  ] as const) {
    assert.equal(storeFor(format).emitPlain([branch([['a', -0]])]).toString(), text);
    assertSameBytes(await roundTrip(keys, format, Buffer.from(text), PLAIN), Buffer.from(expected), `${format} -0`);
  }
});
