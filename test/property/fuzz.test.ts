/**
 * Fuzzing every parser with random bytes, token soup and mutations of real encrypted
 * files: ENC values, metadata, the five stores, whole-file decryption and `.sops.yaml`.
 * Property: each call returns, or throws a WaxError subclass (src/errors.ts), within
 * CALL_LIMIT_MS; never a TypeError, RangeError, SyntaxError or a hang.
 *
 * Seeds: the sops files of ../shared/fixtures (read in place) and files encrypted here.
 * Seed and counts: see ./settings.ts (WAX_PROPERTY_RUNS, WAX_PROPERTY_SEED).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decryptBytes, encryptBytes, loadEncrypted } from '../../src/sops-file.js';
import { formatFromPath, storeFor } from '../../src/document/stores/index.js';
import type { Format, PlainMetadata } from '../../src/document/stores/types.js';
import { fastParseYaml } from '../../src/document/stores/yaml-fast.js';
import { parseYamlWithLibrary } from '../../src/document/stores/yaml.js';
import { parseMetadata, serializeMetadata } from '../../src/document/metadata.js';
import { parseTreePath } from '../../src/document/tree-path.js';
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { ValueCipher, parseEncryptedValue } from '../../src/crypto/values.js';
import { loadConfig, matchCreationRule } from '../../src/config.js';
import { ConfigError, InvalidDocumentError, MetadataError, WaxError } from '../../src/errors.js';
import { ageProvider, generateAgeIdentity } from '../../src/providers/age.js';
import type { ProviderContext } from '../../src/providers/index.js';
import { fixturePath, fixturesAvailable, loadManifest } from '../support/fixtures.js';
import { label, params, typedOutcome, typedOutcomeSync } from './settings.js';

const FORMATS: Format[] = ['yaml', 'json', 'dotenv', 'ini', 'binary'];

/** No provider may reach a network or a keyring from here: only age entries are opened. */
const SAFE_ENV = { HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', GNUPGHOME: '/nonexistent' };

// ---- seeds -------------------------------------------------------------------------

interface Seed {
  name: string;
  format: Format;
  bytes: Buffer;
  /** Set when the seed can be opened here (age keys only). */
  ctx?: ProviderContext;
}

function fixtureSeeds(): Seed[] {
  if (!fixturesAvailable()) return [];
  return loadManifest().map((c) => ({
    name: c.path,
    format: formatFromPath(c.path),
    bytes: readFileSync(fixturePath(c.path)),
    ctx: c.key_type === 'age' ? { env: { ...SAFE_ENV, SOPS_AGE_KEY_FILE: fixturePath(c.key_path) } } : undefined,
  }));
}

const INI_FIXTURES = ['getsops-sops/functional-tests/res/format.enc.ini', 'getsops-sops/functional-tests/res/format-2.enc.ini', 'getsops-sops/example.ini'];
const CONFIG_FIXTURES = ['getsops-sops/.sops.yaml', 'getsops-sops/functional-tests/.sops.yaml', 'humphd-sops-age/.sops.yaml', 'viaduct-ai-kustomize-sops/.sops.yaml'];

function readFixtures(paths: string[]): { name: string; bytes: Buffer }[] {
  if (!fixturesAvailable()) return [];
  return paths.map((p) => ({ name: p, bytes: readFileSync(fixturePath(p)) }));
}

const PLAINTEXTS: Record<Format, string> = {
  yaml: '# head\napiVersion: v1\nstringData:\n    password: hunter2 # inline\n    port: 5432\n    ratio: 0.5\n    on: true\n    when: 2024-01-02T03:04:05Z\n    empty: ""\n    none: null\n    list:\n        - a\n        - b: 1\n    big: 9223372036854775807\n---\nsecond: doc\n',
  json: '{"a": {"b": [1, 2.5, "x", true, null, {"c": "d"}], "e": ""}, "big": 9223372036854775807}\n',
  dotenv: 'DATABASE_URL=postgres://u:p@h/db\n# comment\nEMPTY=\nMULTI=line1\\nline2\n',
  ini: '; top\n[section]\nkey = value\nother = "quoted value"\n\n[second]\nx = 1\n',
  binary: 'any bytes \u0000\u00ff here',
};

/** Files encrypted here, in every format and with the metadata variants sops writes. */
async function ownSeeds(): Promise<Seed[]> {
  const first = await generateAgeIdentity();
  const second = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { ...SAFE_ENV, SOPS_AGE_KEY: `${first.identity}\n${second.identity}` } };
  const one = ageProvider.parseRecipient(first.recipient, ctx);
  const two = ageProvider.parseRecipient(second.recipient, ctx);
  const seeds: Seed[] = [];
  for (const format of FORMATS) {
    const input = Buffer.from(PLAINTEXTS[format]);
    const variants = [
      { name: 'default', keyGroups: [[one]] },
      { name: 'mac-only, encrypted_regex', keyGroups: [[one, two]], macOnlyEncrypted: true, rule: { kind: 'encrypted_regex' as const, value: '^(password|b|key|MULTI)$' } },
      { name: 'shamir 2 of 2', keyGroups: [[one], [two]], shamirThreshold: 2 },
    ];
    for (const v of variants) seeds.push({ name: `${format} ${v.name}`, format, bytes: await encryptBytes(input, { format, ...v }), ctx });
  }
  return seeds;
}

// ---- generators --------------------------------------------------------------------

/** Fragments that steer random text into the parsers' interesting states. */
const TOKENS = [
  '\n', '\n', ' ', '  ', '    ', '\t', '\r\n', ':', ': ', '- ', '-', '#', ' #', ';', '=', '"', "'", '`', '"""', '\\', '\\n', '\\u', '\\ud800', '|', '|-', '>', '{', '}',
  '[', ']', ',', '&a ', '*a', '!!str ', '!!binary ', '!!map', '!!int ', '<<: ', '? ', '---\n', '...\n', '%YAML 1.2\n', '~', 'null', 'true', '1e400', '0x1F', '9223372036854775808',
  '2024-01-01', '2024-01-02T03:04:05Z', 'key', 'sops', 'sops_', 'sops_version', 'sops_mac', '__map_', '__list_', '__list_99999999999', 'lastmodified', 'mac',
  'version', 'age', 'enc', 'recipient', 'key_groups', 'shamir_threshold', 'mac_only_encrypted', 'encrypted_regex', 'unencrypted_suffix', '[sops]', '[section]',
  'ENC[AES256_GCM,data:', ',iv:', ',tag:', ',type:str]', 'ENC[AES256_GCM,data:YQ==,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]',
  'creation_rules', 'path_regex', 'stores', 'indent', 'merge', 'pgp', '\ufeff', '\u0000', 'é', '🔐', '{"', '"}', '":', 'data', '"sops":',
];

const tokenSoup = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 4 }) }), { maxLength: 80 }).map((parts) => parts.join(''));

/** Text shaped like block YAML (indented keys, list items, comments, literal blocks), so that the fast reader takes it. */
const yamlWord = fc.oneof(fc.constantFrom('a', 'b', 'key', 'x y', '"q"', "'s'", '1', '0x1F', '1e400', '~', 'true', '2024-01-01', '""', '-1', '.5', 'a:b', 'é', '\u00a0', '\ufeff'), fc.string({ maxLength: 4 }));
const yamlLine = fc.tuple(
  fc.constantFrom('', '  ', '    ', '      ', ' '),
  fc.constantFrom('k: v', '- v', '- k: v', '# c', 'k:', 'k: |', 'k: |-', 'v', '-', 'k: {}', 'k: []', 'k: { K: V, W: X }', 'k: [V, W]', '- {K: V}', '- [ V ]', 'k: {K: [V]}', 'k: [V, ]'),
  yamlWord,
  yamlWord,
  fc.array(yamlWord, { minLength: 4, maxLength: 4 }),
).map(([indent, shape, k, v, [flowKey, flowValue, secondKey, secondValue]]) =>
  indent + shape.replace('k', k).replace('v', v).replace('c', v).replace('K', flowKey).replace('V', flowValue).replace('W', secondKey).replace('X', secondValue),
);
const yamlLines = fc.array(yamlLine, { maxLength: 12 }).map((lines) => `${lines.join('\n')}\n`);

const randomInput = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  tokenSoup.map((s) => Buffer.from(s)),
  yamlLines.map((s) => Buffer.from(s)),
);

/** A JSON-like value as the stores hand metadata over, with keys that trip up `String()` and `Number()`. */
const { jsonish } = fc.letrec<{ jsonish: unknown }>((tie) => ({
  jsonish: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('', 'x', '0', '-1', '2', 'true', '2024-01-02T03:04:05Z', '2024-13-40T99:99:99Z', '3.13.2', 'ENC[AES256_GCM,data:,iv:,tag:,type:str]', '(?<=x)', '[', 'age1abc'),
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('jsonish'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('toString', 'valueOf', 'constructor', '__proto__', 'recipient', 'enc', 'age', 'x', 'lastmodified'), tie('jsonish'), { maxKeys: 3 }),
  ),
}));

/** An edit of a metadata object: walk `steps` into it, then delete, replace or add there. */
const metadataEdit = fc.record({
  steps: fc.array(fc.nat(), { maxLength: 4 }),
  op: fc.constantFrom('delete', 'replace', 'add'),
  key: fc.constantFrom('lastmodified', 'mac', 'version', 'mac_only_encrypted', 'shamir_threshold', 'encrypted_regex', 'unencrypted_suffix', 'key_groups', 'age', 'enc', 'recipient', 'created_at', 'extra', 'toString'),
  value: jsonish,
});
type MetadataEdit = typeof metadataEdit extends fc.Arbitrary<infer T> ? T : never;

function editMetadata(meta: unknown, edit: MetadataEdit): unknown {
  const root = structuredClone(meta);
  let parent: unknown = root;
  for (const step of edit.steps) {
    const children = childrenOf(parent);
    if (children.length === 0) break;
    const next = (parent as Record<string, unknown>)[children[step % children.length]];
    if (next === null || typeof next !== 'object') break;
    parent = next;
  }
  if (parent === null || typeof parent !== 'object') return root;
  const target = parent as Record<string, unknown>;
  const children = childrenOf(target);
  const existing = children.length > 0 ? children[edit.steps.length % children.length] : undefined;
  if (edit.op === 'add' || existing === undefined) target[Array.isArray(target) ? String(target.length) : edit.key] = edit.value;
  else if (edit.op === 'delete') Array.isArray(target) ? target.splice(Number(existing), 1) : delete target[existing];
  else target[existing] = edit.value;
  return root;
}

function childrenOf(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Array.isArray(value) ? value.map((_, i) => String(i)) : Object.keys(value);
}

type Mutation<T> = ((input: T) => T) & { [fc.toStringMethod]: () => string };

/** A mutation that a failure report prints by what it does, not by its source code. */
function named<T>(description: string, mutate: (input: T) => T): Mutation<T> {
  return Object.assign(mutate, { [fc.toStringMethod]: () => description });
}

/** Byte-level mutations of a file. */
const byteMutation: fc.Arbitrary<Mutation<Buffer>> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) =>
    named<Buffer>(`flip bit ${bit} of byte ${at}`, (b: Buffer) => {
      if (b.length === 0) return b;
      const out = Buffer.from(b);
      out[at % out.length] ^= 1 << bit;
      return out;
    }),
  ),
  fc.nat().map((at) => named<Buffer>(`truncate at ${at}`, (b: Buffer) => b.subarray(0, at % (b.length + 1)))),
  fc.tuple(fc.nat(), fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(...TOKENS).map((t) => Buffer.from(t)))).map(([at, bytes]) =>
    named<Buffer>(`insert ${JSON.stringify(Buffer.from(bytes).toString('latin1'))} at ${at}`, (b: Buffer) => {
      const i = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), bytes, b.subarray(i)]);
    }),
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(([at, length]) =>
    named<Buffer>(`delete ${length} bytes at ${at}`, (b: Buffer) => {
      const i = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + length)]);
    }),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([x, y, duplicate]) =>
    named<Buffer>(`${duplicate ? 'duplicate' : 'swap'} lines ${x} and ${y}`, (b: Buffer) => {
      const lines = b.toString('latin1').split('\n');
      const i = x % lines.length;
      const j = y % lines.length;
      if (duplicate) lines.splice(j, 0, lines[i]);
      else [lines[i], lines[j]] = [lines[j], lines[i]];
      return Buffer.from(lines.join('\n'), 'latin1');
    }),
  ),
);

/** Mutations of one `ENC[...]` string: fields replaced, dropped, repeated, bad base64, wrong lengths, other types. */
const base64Of = (length: number) => Buffer.alloc(length, 0x41).toString('base64');
const FIELD_VALUES = ['', '=', '====', '!!!!', 'AA', 'A', 'YQ==', base64Of(1), base64Of(12), base64Of(15), base64Of(16), base64Of(17), base64Of(32), base64Of(64), 'YQ==]', 'a,b', 'a:b'];
const TYPES = ['str', 'int', 'float', 'bool', 'time', 'comment', 'bytes', '', 'STR', 'uint', 'null', 'str]'];
const encMutation: fc.Arbitrary<Mutation<string>> = fc.oneof(
  fc.tuple(fc.constantFrom('data', 'iv', 'tag'), fc.oneof(fc.constantFrom(...FIELD_VALUES), fc.base64String({ maxLength: 60 }), fc.string({ maxLength: 8 }))).map(([field, value]) =>
    named<string>(`${field} := ${JSON.stringify(value)}`, (enc: string) => enc.replace(new RegExp(`${field}:[^,\\]]*`), `${field}:${value}`)),
  ),
  fc.constantFrom(...TYPES).map((type) => named<string>(`type := ${JSON.stringify(type)}`, (enc: string) => enc.replace(/type:[^\]]*/, `type:${type}`))),
  fc.constantFrom('data', 'iv', 'tag', 'type').map((field) => named<string>(`drop ${field}`, (enc: string) => enc.replace(new RegExp(`,?${field}:[^,\\]]*`), ''))),
  fc.constantFrom('data', 'iv', 'tag', 'type').map((field) =>
    named<string>(`repeat ${field}`, (enc: string) => {
      const m = new RegExp(`${field}:[^,\\]]*`).exec(enc);
      return m ? enc.replace(']', `,${m[0]}]`) : enc;
    }),
  ),
  fc.constantFrom(']', 'ENC[', 'AES256_GCM,').map((part) => named<string>(`drop ${JSON.stringify(part)}`, (enc: string) => enc.replace(part, ''))),
  fc.constantFrom('AES128_GCM', 'aes256_gcm', 'AES256_GCM ').map((name) => named<string>(`cipher := ${JSON.stringify(name)}`, (enc: string) => enc.replace('AES256_GCM', name))),
  fc.string({ maxLength: 6 }).map((tail) => named<string>(`append ${JSON.stringify(tail)}`, (enc: string) => enc + tail)),
  fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 2 })).map(([at, text]) =>
    named<string>(`replace char ${at} with ${JSON.stringify(text)}`, (enc: string) => {
      const i = at % (enc.length + 1);
      return enc.slice(0, i) + text + enc.slice(i + 1);
    }),
  ),
);

/** Structured mutations of an encrypted file: one ENC value, or one metadata edit re-emitted by the store. */
function structuredMutation(format: Format): fc.Arbitrary<Mutation<Buffer>> {
  return fc.oneof(
    fc.tuple(fc.nat(), fc.array(encMutation, { minLength: 1, maxLength: 3 })).map(([which, edits]) =>
      named<Buffer>(`ENC value ${which}: ${edits.map((e) => e[fc.toStringMethod]()).join(', ')}`, (b: Buffer) => {
        const text = b.toString('utf8');
        const found = [...text.matchAll(/ENC\[[^\]]*\]/g)];
        if (found.length === 0) return b;
        const m = found[which % found.length];
        const mutated = edits.reduce((enc, edit) => edit(enc), m[0]);
        return Buffer.from(text.slice(0, m.index) + mutated + text.slice(m.index! + m[0].length));
      }),
    ),
    metadataEdit.map((edit) =>
      named<Buffer>(`metadata edit ${fc.stringify(edit)}`, (b: Buffer) => {
        const store = storeFor(format);
        try {
          const loaded = store.loadEncrypted(b);
          if (!loaded.metadata) return b;
          return store.emitEncrypted(loaded.documents, editMetadata(loaded.metadata, edit) as PlainMetadata);
        } catch (error) {
          // Writing edited metadata back is itself under test: only typed refusals are fine.
          if (error instanceof WaxError) return b;
          throw error;
        }
      }),
    ),
  );
}

// ---- helpers -----------------------------------------------------------------------

/** A comparable form of YAML documents: comments and their places kept, numbers by kind. */
function canon(value: TreeValue): unknown {
  if (value instanceof TreeBranch) return value.items.map((i) => (i.key instanceof Comment ? [`#${i.key.value}`] : [i.key, canon(i.value)]));
  if (Array.isArray(value)) return value.map((v) => (v instanceof Comment ? `#${v.value}` : canon(v)));
  if (typeof value === 'bigint') return `int:${value}`;
  if (typeof value === 'number') return `float:${String(value)}`;
  if (value instanceof SopsTime) return `time:${value.text}`;
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
  return value;
}

/** Every reader of every store on one input, and writing back what was read. */
function readEverywhere(input: Buffer): void {
  for (const format of FORMATS) {
    const store = storeFor(format);
    const plain = typedOutcomeSync(`${format} loadPlain`, () => store.loadPlain(input));
    if (plain.ok) typedOutcomeSync(`${format} emitPlain of what loadPlain read`, () => store.emitPlain(plain.value));
    typedOutcomeSync(`${format} loadEncrypted`, () => store.loadEncrypted(input));
    const loaded = typedOutcomeSync(`${format} loadEncrypted + parseMetadata`, () => loadEncrypted(input, format));
    if (loaded.ok) typedOutcomeSync(`${format} serializeMetadata`, () => serializeMetadata(loaded.value.metadata));
  }
}

/** Decrypts a file whose metadata names only age keys (other providers need a network or gpg). */
async function decryptIfAgeOnly(bytes: Buffer, format: Format, ctx: ProviderContext, ignoreMac: boolean): Promise<void> {
  const loaded = typedOutcomeSync(`${format} loadEncrypted`, () => loadEncrypted(bytes, format));
  if (!loaded.ok || loaded.value.metadata.keyGroups.flat().some((entry) => entry.type !== 'age')) return;
  // decryptBytes is openBytes (unwrap, decrypt, verify the MAC) and writing the plaintext.
  await typedOutcome(`${format} decryptBytes`, () => decryptBytes(bytes, { format, ctx, ignoreMac }));
}

let seeds: Seed[] = [];
let workDir = '';

before(async () => {
  seeds = [...fixtureSeeds(), ...(await ownSeeds())];
  workDir = mkdtempSync(join(tmpdir(), 'wax-fuzz-'));
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---- the properties ----------------------------------------------------------------

test(label('random bytes and token soup: every store reads, or refuses with a WaxError', 400), () => {
  fc.assert(
    fc.property(randomInput, (input) => readEverywhere(input)),
    params(400),
  );
});

test(label('YAML: when the fast reader accepts a text, the full library reads the same tree', 400), () => {
  fc.assert(
    fc.property(fc.oneof(yamlLines, tokenSoup), (text) => {
      const quick = typedOutcomeSync('fastParseYaml', () => fastParseYaml(text));
      if (!quick.ok || quick.value === undefined) return;
      const full = typedOutcomeSync('parseYamlWithLibrary', () => parseYamlWithLibrary(text));
      assert.ok(full.ok, `the fast reader accepted what the library refuses (${full.ok ? '' : full.error.message}): ${JSON.stringify(text)}`);
      assert.deepEqual(quick.value.map(canon), full.value.map(canon), JSON.stringify(text));
    }),
    params(400),
  );
});

/** One-line flow collections of scalars, the only flow style the fast reader takes. */
const flowLine = fc
  .tuple(fc.constantFrom('', '  '), fc.constantFrom('k: { K: V, W: X }', 'k: [V, W]', '- {K: V}', '- [ V ]', 'k: {K: V}', 'k: [ V,W ]'), fc.array(yamlWord, { minLength: 5, maxLength: 5 }))
  .map(([indent, shape, [k, a, b, c, d]]) => `${indent}${shape.replace('k', k).replace('K', a).replace('V', b).replace('W', c).replace('X', d)}\n`);

test(label('YAML: one-line flow collections the fast reader accepts read the same through the full library', 400), () => {
  let accepted = 0;
  fc.assert(
    fc.property(flowLine, (text) => {
      const quick = typedOutcomeSync('fastParseYaml', () => fastParseYaml(text));
      if (!quick.ok || quick.value === undefined) return;
      accepted++;
      const full = typedOutcomeSync('parseYamlWithLibrary', () => parseYamlWithLibrary(text));
      assert.ok(full.ok, `the fast reader accepted what the library refuses (${full.ok ? '' : full.error.message}): ${JSON.stringify(text)}`);
      assert.deepEqual(quick.value.map(canon), full.value.map(canon), JSON.stringify(text));
    }),
    params(400),
  );
  // The generator must reach the flow reader, or the property proves nothing.
  assert.ok(accepted > 0, 'no generated flow collection was accepted by the fast reader');
});

test(label('mutated encrypted files: every reader, and decryption, give a result or a WaxError', 150), async () => {
  assert.ok(seeds.length >= 15, `expected the fixtures and the files encrypted here as seeds, found ${seeds.length}`);
  const seedIndex = fc.nat({ max: seeds.length - 1 });
  await fc.assert(
    fc.asyncProperty(
      seedIndex.chain((i) => fc.tuple(fc.constant(i), fc.array(fc.oneof(byteMutation, structuredMutation(seeds[i].format)), { minLength: 1, maxLength: 3 }), fc.boolean())),
      async ([i, mutations, ignoreMac]) => {
        const seed = seeds[i];
        const bytes = mutations.reduce((b, mutate) => mutate(b), seed.bytes);
        readEverywhere(bytes);
        if (seed.ctx) await decryptIfAgeOnly(bytes, seed.format, seed.ctx, ignoreMac);
      },
    ),
    params(150),
  );
});

test(label('edited metadata: parseMetadata returns or throws a WaxError, and what it returns writes back', 500), () => {
  const originals = seeds.flatMap((seed) => {
    try {
      const metadata = storeFor(seed.format).loadEncrypted(seed.bytes).metadata;
      return metadata ? [{ format: seed.format, metadata }] : [];
    } catch {
      return [];
    }
  });
  assert.ok(originals.length >= 15);
  fc.assert(
    fc.property(fc.nat({ max: originals.length - 1 }), fc.array(metadataEdit, { minLength: 1, maxLength: 4 }), (i, edits) => {
      const { format, metadata } = originals[i];
      const edited = edits.reduce<unknown>((meta, edit) => editMetadata(meta, edit), metadata) as PlainMetadata;
      const parsed = typedOutcomeSync('parseMetadata', () => parseMetadata(edited));
      if (!parsed.ok) return;
      const plain = typedOutcomeSync('serializeMetadata', () => serializeMetadata(parsed.value));
      if (plain.ok) typedOutcomeSync(`${format} emitEncrypted`, () => storeFor(format).emitEncrypted([new TreeBranch()], plain.value));
    }),
    params(500),
  );
});

test(label('ENC values: malformed, mutated and random strings are refused with a WaxError', 1000), () => {
  const cipher = new ValueCipher(Buffer.alloc(32, 7));
  const valid = [cipher.encrypt('secret', 'a:'), cipher.encrypt(42n, 'a:'), cipher.encrypt(1.5, 'a:'), cipher.encrypt(true, 'a:'), cipher.encrypt(new SopsTime('2024-01-02T03:04:05Z'), 'a:'), cipher.encrypt(new Comment(' c'), 'a:')];
  const input = fc.oneof(
    fc.tuple(fc.constantFrom(...valid), fc.array(encMutation, { minLength: 1, maxLength: 4 })).map(([enc, edits]) => edits.reduce((e, edit) => edit(e), enc)),
    fc.string({ maxLength: 80 }).map((s) => `ENC[AES256_GCM,${s}`),
    tokenSoup,
  );
  fc.assert(
    fc.property(input, (text) => {
      typedOutcomeSync('parseEncryptedValue', () => parseEncryptedValue(text, 'a'));
      typedOutcomeSync('ValueCipher.decrypt', () => cipher.decrypt(text, 'a:', 'a'));
    }),
    params(1000),
  );
});

/** Config texts: token soup, configs built from the real vocabulary with odd values, mutated real configs. */
const configText = fc.oneof(
  tokenSoup,
  fc
    .record({
      creation_rules: fc.oneof(
        fc.array(fc.dictionary(fc.constantFrom('path_regex', 'age', 'pgp', 'kms', 'key_groups', 'shamir_threshold', 'encrypted_regex', 'unencrypted_suffix', 'mac_only_encrypted', 'aws_profile', 'merge', 'azure_keyvault', 'hc_vault_transit_uri'), jsonish, { maxKeys: 4 }), { maxLength: 3 }),
        jsonish,
      ),
      stores: jsonish,
    })
    .map((doc) => JSON.stringify(doc)),
  fc.tuple(fc.constantFrom(...readFixtures(CONFIG_FIXTURES).map((f) => f.bytes), Buffer.from('creation_rules:\n  - path_regex: \\.yaml$\n    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\n')), fc.array(byteMutation, { maxLength: 3 })).map(([bytes, mutations]) => mutations.reduce((b, m) => m(b), bytes).toString('utf8')),
);

test(label('.sops.yaml: random and mutated configs load, or are refused with a WaxError', 300), async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(configText, fc.constantFrom('secrets.yaml', 'a/b/c.json', 'x.env', '../outside.ini', 'ünï/код.txt'), async (text, file) => {
      const path = join(workDir, `config-${n++}.yaml`);
      writeFileSync(path, text);
      const config = typedOutcomeSync('loadConfig', () => loadConfig(path));
      if (config.ok) await typedOutcome('matchCreationRule', () => matchCreationRule(config.value, join(workDir, file)));
    }),
    params(300),
  );
});

test(label('tree paths: random text is parsed or refused with a WaxError', 500), () => {
  const pathText = fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.constantFrom('[', ']', '"', "'", '\\', '0', '99999999999999999999', 'a', ' ', '.'), { maxLength: 20 }).map((p) => p.join('')));
  fc.assert(
    fc.property(pathText, (text) => {
      typedOutcomeSync('parseTreePath', () => parseTreePath(text));
    }),
    params(500),
  );
});

test(label('the INI fixtures are seeds too: their mutations are read or refused with a WaxError', 100), { skip: fixturesAvailable() ? false : 'fixtures not found' }, () => {
  const files = readFixtures(INI_FIXTURES);
  fc.assert(
    fc.property(fc.nat({ max: files.length - 1 }), fc.array(fc.oneof(byteMutation, structuredMutation('ini')), { minLength: 1, maxLength: 3 }), (i, mutations) => {
      readEverywhere(mutations.reduce((b, m) => m(b), files[i].bytes));
    }),
    params(100),
  );
});

// ---- regressions: inputs the fuzzing found, kept as explicit cases ------------------

/** Asserts that a call fails with exactly `kind`, within the time bound. */
function refusedWith(kind: new (...args: never[]) => WaxError, call: () => unknown, what: string): void {
  const outcome = typedOutcomeSync(what, call);
  assert.ok(!outcome.ok, `${what}: expected ${kind.name}, but it succeeded`);
  assert.ok(outcome.error instanceof kind, `${what}: expected ${kind.name}, got ${outcome.error.constructor.name}: ${outcome.error.message}`);
}

test('regression: metadata fields that hold a mapping where sops expects text are refused with MetadataError', () => {
  const valid = { age: [{ recipient: 'age1x', enc: 'x' }], lastmodified: '2024-01-02T03:04:05Z', mac: 'ENC[…]', version: '3.13.2' };
  // String() of an object with a `toString` key threw a TypeError; other objects became "[object Object]".
  for (const [field, value] of [
    ['lastmodified', { toString: '' }],
    ['mac', { valueOf: 1 }],
    ['version', ['3.13.2']],
    ['encrypted_regex', { toString: 'x' }],
    ['shamir_threshold', { valueOf: '' }],
  ] as const) {
    refusedWith(MetadataError, () => parseMetadata({ ...valid, [field]: value }), `sops.${field}`);
  }
  refusedWith(MetadataError, () => parseMetadata({ ...valid, age: [{ recipient: { toString: '' }, enc: 'x' }] }), 'sops.age[0].recipient');
  assert.equal(parseMetadata({ ...valid, kms: [{ arn: 'arn:aws:kms:x', enc: 'x', context: { app: 'a' } }] }).keyGroups[0].length, 2, 'a KMS context is a mapping');
});

test('regression: .sops.yaml settings that hold a mapping or a list where a value belongs are refused with ConfigError', async () => {
  for (const text of [
    '{"creation_rules":[{"path_regex":{"toString":""}}]}',
    'creation_rules:\n  - path_regex: [{toString: ""}]\n',
    'creation_rules:\n  - encrypted_regex: {valueOf: 1}\n',
    'creation_rules:\n  - shamir_threshold: {toString: ""}\n',
    'stores:\n  yaml:\n    indent: {valueOf: ""}\n',
  ]) {
    const path = join(workDir, 'regression.sops.yaml');
    writeFileSync(path, text);
    refusedWith(ConfigError, () => loadConfig(path), JSON.stringify(text));
  }
});

test('regression: deeply nested YAML is refused with InvalidDocumentError, quickly and without aborting the process', () => {
  const flow = (n: number) => Buffer.from(`a: ${'['.repeat(n)}${']'.repeat(n)}\n`);
  const block = (n: number) => Buffer.from(`${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`);
  const compact = (n: number) => Buffer.from(`a:\n${'- '.repeat(n)}x\n`);
  // A RangeError from the fast reader at ~3,000 levels; the library's composer caught its
  // own stack overflow, and one such parse after another aborted node (a V8 regexp compile OOM).
  for (const input of [flow(1000), flow(20_000), block(3000), compact(3000), flow(1000)]) {
    refusedWith(InvalidDocumentError, () => storeFor('yaml').loadPlain(input), `${input.length} bytes of nesting`);
  }
  assert.equal(typedOutcomeSync('500 levels', () => storeFor('yaml').loadPlain(flow(499))).ok, true, 'nesting up to the limit is read');
});

test('regression: YAML alias bombs and self-referring aliases are refused; many plain aliases and keys are read quickly', () => {
  // 30 lines stood for 2^30 values: wax expanded them for minutes (go-yaml refuses "excessive aliasing").
  const bomb = `a0: &a0 [x, y]\n${Array.from({ length: 30 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}, *a${i}]`).join('\n')}\n`;
  refusedWith(InvalidDocumentError, () => storeFor('yaml').loadPlain(Buffer.from(bomb)), 'alias bomb');
  refusedWith(InvalidDocumentError, () => storeFor('yaml').loadPlain(Buffer.from('a: &a [*a]\n')), 'an alias inside its own anchor');
  refusedWith(InvalidDocumentError, () => storeFor('yaml').loadPlain(Buffer.from('a: &a\n    b: *a\n')), 'an alias inside its own anchored mapping');
  // The library's duplicate-key check and its alias lookup were quadratic: 20,000 keys took seconds.
  const aliases = `a: &a x\n${Array.from({ length: 20_000 }, (_, i) => `b${i}: *a`).join('\n')}\n`;
  const keys = `${Array.from({ length: 20_000 }, (_, i) => `k${i}: [${i}]`).join('\n')}\n`;
  assert.equal(typedOutcomeSync('20,000 aliases', () => storeFor('yaml').loadPlain(Buffer.from(aliases))).ok, true);
  assert.equal(typedOutcomeSync('20,000 keys in flow style', () => storeFor('yaml').loadPlain(Buffer.from(keys))).ok, true);
  refusedWith(InvalidDocumentError, () => storeFor('yaml').loadPlain(Buffer.from('a: [1]\nb: 2\na: [3]\n')), 'a duplicate key (now found by the reader)');
});

test('regression: the fast YAML reader keeps Unicode spaces (no-break space, U+FEFF) that belong to a plain scalar', () => {
  // JavaScript's trim() stripped them; go-yaml and the full library keep them.
  for (const text of [';<<: \ufeff\n', 'password: secret\u00a0\n', 'key\u3000: v\n', 'a: \ufeffx\n']) {
    const quick = fastParseYaml(text);
    assert.ok(quick, `the fast reader declined ${JSON.stringify(text)}`);
    assert.deepEqual(quick.map(canon), parseYamlWithLibrary(text).map(canon), JSON.stringify(text));
  }
  assert.equal(storeFor('yaml').loadPlain(Buffer.from('password: secret\u00a0\n'))[0].get('password'), 'secret\u00a0');
});

test('regression: a comment after an empty value at the end of a nested mapping belongs where its column puts it', () => {
  // The library gave the following comment lines to the empty scalar, read as its line comment.
  for (const text of ['a:\n    a:\n# top\n', 'a:\n    a:\n    # nested\n']) {
    assert.deepEqual(parseYamlWithLibrary(text).map(canon), fastParseYaml(text)!.map(canon), JSON.stringify(text));
  }
  const [doc] = parseYamlWithLibrary('a:\n    b:\n# top\n');
  assert.deepEqual(doc.items.map((i) => (i.key instanceof Comment ? `#${i.key.value} inline=${i.key.inline}` : i.key)), ['a', '# top inline=false']);
});
