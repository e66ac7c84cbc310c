/**
 * The fast YAML reader and the emitter against the full `yaml` library: on every fixture
 * the two readers agree, and for generated trees the emitted text reads back as the same
 * tree through both readers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { emitYaml, fastParseYaml, formatYamlFloat } from '../../src/document/stores/yaml-fast.js';
import { parseYamlWithLibrary } from '../../src/document/stores/yaml.js';
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { fixturesDir } from '../support/paths.js';
import { fixturesAvailable } from '../support/fixtures.js';

/** A comparable form: comments kept (their place matters for encryption), numbers by value. */
function canon(value: TreeValue): unknown {
  if (value instanceof TreeBranch) return value.items.map((i) => [i.key instanceof Comment ? `#${i.key.value}` : `k:${i.key}`, i.key instanceof Comment ? null : canon(i.value)]);
  if (Array.isArray(value)) return value.map((v) => (v instanceof Comment ? `#${v.value}` : canon(v)));
  if (value instanceof SopsTime) return `time:${value.text}`;
  if (typeof value === 'bigint' || typeof value === 'number') return `num:${String(Number(value))}`;
  if (value instanceof Comment) return `#${value.value}`;
  return value;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

test('on every YAML fixture the fast reader agrees with the full library, or declines', { skip: fixturesAvailable() ? false : 'fixtures not found' }, () => {
  const files = yamlFiles(fixturesDir());
  let fast = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    let slow: unknown;
    try {
      slow = parseYamlWithLibrary(text).map(canon);
    } catch {
      assert.equal(fastParseYaml(text), undefined, `${file}: the fast reader accepted what the library rejects`);
      continue;
    }
    const quick = fastParseYaml(text);
    if (quick === undefined) continue;
    fast++;
    assert.deepEqual(quick.map(canon), slow, file);
  }
  assert.ok(fast >= files.length * 0.8, `only ${fast} of ${files.length} fixtures took the fast path`);
});

const TRICKY_STRINGS = [
  '', ' ', 'yes', 'No', 'on', 'OFF', 'y', 'true', 'False', 'null', '~', 'NULL', '0755', '012', '1:20', '0x1F', '0o17', '0b101', '1_000',
  '1e3', '.5', '.inf', '-.Inf', '.nan', '+12', '-0', '2024-01-02', '2024-01-02T03:04:05Z', '2024-1-2', 'a: b', 'a:b', '#not a comment',
  'x #y', '- item', '-x', '? q', ': c', '[a]', '{a}', '&anchor', '*alias', '!tag', '|', '>', "'quoted'", '"dq"', '%dir', '@at', '`tick',
  'trailing ', ' leading', 'tab\tinside', 'line1\nline2\n', 'no newline\nat end', 'many\n\n\n', '\nstarts with newline', '  indented\nblock\n',
  'ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]', 'unicode ✓ ünïcödé 日本', 'emoji 🔐', 'ctrl \u0001 char', 'crlf\r\nline', 'ends with colon:',
  'http://example.com/x?y=z#frag', 'C:\\path\\to', 'back\\slash', 'quote " inside', "single ' inside", '---', '...', '=', '<<',
];

const key = fc.oneof(fc.constantFrom(...TRICKY_STRINGS.filter((s) => s !== '')), fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('password', 'data', 'stringData', 'name'));
const scalar: fc.Arbitrary<TreeValue> = fc.oneof(
  fc.constantFrom(...TRICKY_STRINGS),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noDefaultInfinity: false, noNaN: false }).filter((d) => !Number.isInteger(d) || !Number.isFinite(d) || Math.abs(d) >= 1e6),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(new SopsTime('2024-01-02T03:04:05Z'), new SopsTime('2006-01-02T15:04:05.5+07:06')),
);
const commentText = fc.string({ maxLength: 15 }).filter((s) => !s.includes('\n') && !s.includes('\r') && s.trim() !== '').map((s) => ` ${s.trim()}`);

const { tree } = fc.letrec((tie) => ({
  tree: fc.array(fc.oneof({ weight: 6, arbitrary: fc.tuple(key, tie('value')) }, { weight: 1, arbitrary: commentText }), { maxLength: 5 }).map((items) => {
    const branch = new TreeBranch();
    for (const item of items) {
      if (typeof item === 'string') branch.items.push({ key: new Comment(item), value: null });
      else if (!branch.has(item[0] as string)) branch.items.push({ key: item[0] as string, value: item[1] as TreeValue });
    }
    return branch;
  }),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, { weight: 5, arbitrary: scalar }, { weight: 1, arbitrary: tie('tree') }, { weight: 1, arbitrary: tie('list') }),
  list: fc.array(fc.oneof({ weight: 5, arbitrary: tie('value') }, { weight: 1, arbitrary: commentText.map((c) => new Comment(c)) }), { maxLength: 4 }),
}));

/**
 * A comment that opens a mapping or list inside a sequence is written above the element's
 * dash and read back as an element of the outer sequence, as sops does. Lists add nothing
 * to a key path, so the comment keeps its AAD; the expected tree is normalised the same way.
 */
function normaliseComments(value: TreeValue): TreeValue {
  if (value instanceof TreeBranch) return new TreeBranch(value.items.map((i) => ({ key: i.key, value: nested(normaliseComments(i.value)) })));
  if (!Array.isArray(value)) return value;
  const out: TreeValue[] = [];
  for (const raw of value) {
    // Inner elements first: a comment hoisted out of an inner list may be hoisted again.
    const element = normaliseComments(raw);
    if (element instanceof TreeBranch && element.items.some((i) => typeof i.key === 'string')) {
      const first = element.items.findIndex((i) => typeof i.key === 'string');
      out.push(...element.items.slice(0, first).map((i) => i.key as Comment));
      out.push(new TreeBranch(element.items.slice(first)));
    } else if (Array.isArray(element) && element.some((v) => !(v instanceof Comment))) {
      const first = element.findIndex((v) => !(v instanceof Comment));
      out.push(...element.slice(0, first));
      out.push(element.slice(first));
    } else out.push(nested(element));
  }
  return out;
}

/** Nested mappings and lists that hold only comments are written (and read) empty. */
function nested(value: TreeValue): TreeValue {
  if (value instanceof TreeBranch && !value.items.some((i) => typeof i.key === 'string')) return new TreeBranch();
  if (Array.isArray(value) && value.every((v) => v instanceof Comment)) return [];
  return value;
}

const runs = Number(process.env.WAX_PROPERTY_RUNS ?? 300);

test('emitted YAML reads back as the same tree through the full library', () => {
  fc.assert(
    fc.property(tree, (doc) => {
      const text = emitYaml([doc]);
      assert.deepEqual(parseYamlWithLibrary(text).map(canon), [canon(normaliseComments(doc))], text);
    }),
    { numRuns: runs, seed: 42 },
  );
});

test('the fast reader reads emitted YAML exactly as the full library does', () => {
  fc.assert(
    fc.property(tree, (doc) => {
      const text = emitYaml([doc]);
      const quick = fastParseYaml(text);
      if (quick !== undefined) assert.deepEqual(quick.map(canon), parseYamlWithLibrary(text).map(canon), text);
      if (quick !== undefined) assert.deepEqual(quick.map(canon), [canon(normaliseComments(doc))], `the fast reader reads back exactly what was written:\n${text}`);
    }),
    { numRuns: runs, seed: 7 },
  );
});

test('one-line flow collections of scalars are read as the full library reads them', () => {
  // What Kubernetes manifests hold (resources, probes, args): reading them here spares loading the library.
  const texts = [
    'resources:\n  requests: { cpu: 466m, memory: 486Mi }\n  limits: {cpu: 1, memory: "2Gi"}\n',
    'args: [--v, "2", \'a b\', 3, true, null, ~, 1.5, -1]\n',
    'containers:\n  - { name: app, image: "registry/app:1.0" }\n  - [ x , y ]\n',
    'probe: { path: /healthz, port: http }\nempty: { }\nnone: [ ]\n',
    'm: { "quoted key": 1, \'single\': "a,b", plain key: c d }\n',
  ];
  for (const text of texts) {
    const quick = fastParseYaml(text);
    assert.ok(quick, `the fast reader declined ${JSON.stringify(text)}`);
    assert.deepEqual(quick.map(canon), parseYamlWithLibrary(text).map(canon), JSON.stringify(text));
  }
});

test('floats are written as go-yaml writes them', () => {
  assert.equal(formatYamlFloat(0.25), '0.25');
  assert.equal(formatYamlFloat(1e6), '1e+06');
  assert.equal(formatYamlFloat(1234567.5), '1.2345675e+06');
  assert.equal(formatYamlFloat(123456.5), '123456.5');
  assert.equal(formatYamlFloat(0.0001), '0.0001');
  assert.equal(formatYamlFloat(0.00001), '1e-05');
  assert.equal(formatYamlFloat(NaN), '.nan');
  assert.equal(formatYamlFloat(-Infinity), '-.inf');
});

test('the fast reader declines what it does not handle', () => {
  for (const text of ['a: &x 1\nb: *x\n', 'a: {b: {c: 1}}\n', 'a: [b, [c]]\n', 'a: {b: 1,}\n', 'a: [b: c]\n', 'a: {b: 1} # c\n', 'a: {b: 1, b: 2}\n', 'a: {b: 1,\n  c: 2}\n', 'a: [x:y]\n', 'a: >\n  folded\n', 'a: !!str 1\n', 'a: b # c\n', 'a: "multi\n  line"\n', '- a\n', 'a: 1\r\n', 'a:\n\tb: 1\n']) {
    assert.equal(fastParseYaml(text), undefined, JSON.stringify(text));
  }
});
