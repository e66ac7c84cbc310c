import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { jsonStore } from '../../src/document/stores/json.js';
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError, MetadataError } from '../../src/errors.js';
import { fixturesDir } from '../support/paths.js';

const load = (text: string) => jsonStore.loadPlain(Buffer.from(text, 'utf8'))[0];
const emit = (branch: TreeBranch, indent?: number) => jsonStore.emitPlain([branch], indent === undefined ? undefined : { indent }).toString('utf8');
const fixture = (rel: string) => readFileSync(path.join(fixturesDir(), rel));
const doc = (entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));

/** Must-fail helper: the exact class, and the message never echoes the given secret. */
function assertRejects(fn: () => unknown, cls: new (...args: never[]) => Error, secret?: string): void {
  assert.throws(fn, cls);
  if (secret === undefined) return;
  try {
    fn();
  } catch (error) {
    assert.ok(!(error as Error).message.includes(secret), `message leaks input: ${(error as Error).message}`);
  }
}

test('json: canonical input round-trips byte for byte', () => {
  const text = [
    '{',
    '\t"name": "value",',
    '\t"nested": {',
    '\t\t"list": [',
    '\t\t\t1,',
    '\t\t\t-2.5,',
    '\t\t\ttrue,',
    '\t\t\tnull,',
    '\t\t\t{',
    '\t\t\t\t"deep": "x"',
    '\t\t\t}',
    '\t\t],',
    '\t\t"emptyObject": {},',
    '\t\t"emptyList": []',
    '\t},',
    '\t"unicode": "héllo ☃ 😀",',
    '\t"escapes": "a\\"b\\\\c\\n\\t\\u003c"',
    '}',
    '',
  ].join('\n');
  assert.equal(emit(load(text)), text);
});

test('json: keys keep document order, integer-like keys included', () => {
  const branch = load('{"b": 1, "10": 2, "a": 3, "2": 4}');
  assert.deepEqual(branch.keys(), ['b', '10', 'a', '2']);
  assert.equal(emit(branch), '{\n\t"b": 1,\n\t"10": 2,\n\t"a": 3,\n\t"2": 4\n}\n');
});

test('json: integers that fit int64 are bigint, other numbers are floats', () => {
  const branch = load('{"a": 7, "b": 7.0, "c": 12345678901234567890, "d": 1e3, "e": -0}');
  assert.equal(branch.get('a'), 7n);
  assert.equal(branch.get('b'), 7);
  assert.equal(typeof branch.get('b'), 'number');
  assert.equal(branch.get('c'), 12345678901234567890);
  assert.equal(typeof branch.get('c'), 'number');
  assert.equal(branch.get('d'), 1000);
  assert.equal(branch.get('e'), 0n);
  // 7.0 is a float whose Go form is "7"; the big int became a float64.
  assert.equal(emit(branch), '{\n\t"a": 7,\n\t"b": 7,\n\t"c": 12345678901234567000,\n\t"d": 1000,\n\t"e": 0\n}\n');
});

test('json: int64 boundaries', () => {
  const branch = load('{"max": 9223372036854775807, "min": -9223372036854775808, "over": 9223372036854775808}');
  assert.equal(branch.get('max'), 9223372036854775807n);
  assert.equal(branch.get('min'), -9223372036854775808n);
  assert.equal(typeof branch.get('over'), 'number');
  assert.match(emit(branch), /"max": 9223372036854775807,\n\t"min": -9223372036854775808,/);
});

test('json: floats are written as Go json.Marshal writes float64', () => {
  const branch = doc([
    ['a', 3.14],
    ['b', 1e20],
    ['c', 1e21],
    ['d', 0.000001],
    ['e', 1.5e-7],
    ['f', -0.5],
  ]);
  assert.equal(emit(branch), '{\n\t"a": 3.14,\n\t"b": 100000000000000000000,\n\t"c": 1e+21,\n\t"d": 0.000001,\n\t"e": 1.5e-7,\n\t"f": -0.5\n}\n');
});

test('json: strings are escaped as Go json.Marshal escapes them', () => {
  const branch = doc([['s', '<a href="x">&</a>\u2028\u2029\u0001\u001f\b\f\n\r\t\\/\u007fé😀']]);
  assert.equal(emit(branch), '{\n\t"s": "\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e\\u2028\\u2029\\u0001\\u001f\\b\\f\\n\\r\\t\\\\/\u007fé😀"\n}\n');
  assert.equal(load(emit(branch)).get('s'), branch.get('s'));
});

test('json: keys are escaped too', () => {
  assert.equal(emit(doc([['<k>', 1n]])), '{\n\t"\\u003ck\\u003e": 1\n}\n');
});

test('json: escapes and unpaired surrogates are decoded as Go decodes them', () => {
  const branch = load('{"a": "\\u00e9\\ud83d\\ude00\\/", "b": "x\\ud800y", "c": "\\udc00"}');
  assert.equal(branch.get('a'), 'é😀/');
  assert.equal(branch.get('b'), 'x\uFFFDy');
  assert.equal(branch.get('c'), '\uFFFD');
});

test('json: comments are dropped, times and bytes become strings', () => {
  const branch = doc([
    [new Comment(' top'), null],
    ['t', new SopsTime('2024-01-02T03:04:05Z')],
    ['b', new Uint8Array(Buffer.from('raw'))],
    ['list', [new Comment(' c'), 'x']],
    ['onlyComment', [new Comment(' c')]],
  ]);
  assert.equal(emit(branch), '{\n\t"t": "2024-01-02T03:04:05Z",\n\t"b": "raw",\n\t"list": [\n\t\t"x"\n\t],\n\t"onlyComment": []\n}\n');
});

test('json: indent option gives N spaces, 0 keeps one item per line', () => {
  const branch = load('{"a": {"b": [1]}}');
  assert.equal(emit(branch, 2), '{\n  "a": {\n    "b": [\n      1\n    ]\n  }\n}\n');
  assert.equal(emit(branch, 0), '{\n"a": {\n"b": [\n1\n]\n}\n}\n');
  assert.equal(emit(new TreeBranch()), '{}\n');
});

test('json: the top level must be an object', () => {
  for (const text of ['[1, 2]', '"s"', '42', 'null', 'true']) assertRejects(() => load(text), InvalidDocumentError);
  assert.throws(
    () => load('["hunter2"]'),
    (error: unknown) =>
      error instanceof InvalidDocumentError &&
      /top level of a JSON document must be an object/.test(error.message) &&
      !error.message.includes('\n') &&
      !error.message.includes('hunter2') &&
      error.hint !== undefined,
  );
});

test('json: malformed input raises InvalidDocumentError without echoing values', () => {
  const cases = [
    '',
    '   \n',
    '{"password": "hunter2"',
    '{"password": "hunter2",}',
    '{"password" "hunter2"}',
    '{"password": hunter2}',
    '{"password": "hunter2" "x": 1}',
    '{"password": ["hunter2",]}',
    '{"password": "hunter2\tx"}',
    '{"password": "hunter2\\x"}',
    '{"password": "hunter2\\u12"}',
    '{"password": 0123}',
    '{"password": 1.}',
    '{"password": +1}',
    '{"password": 1e400}',
    '{"password": "hunter2"} trailing',
    '{hunter2: 1}',
    '\uFEFF{"password": "hunter2"}',
  ];
  for (const text of cases) assertRejects(() => load(text), InvalidDocumentError, 'hunter2');
});

test('json: errors name the position', () => {
  assert.throws(() => load('{\n  "a": 1,\n  "b": ]\n}'), { name: 'InvalidDocumentError', message: /line 3, column 8/ });
});

test('json: duplicate keys are refused, without naming them', () => {
  assertRejects(() => load('{"hunter2": 1, "hunter2": 2}'), InvalidDocumentError, 'hunter2');
  assertRejects(() => load('{"a": {"k": 1, "k": 2}}'), InvalidDocumentError);
  // The same key in two different objects is fine.
  assert.doesNotThrow(() => load('{"a": {"k": 1}, "b": {"k": 2}}'));
});

test('json: nesting deeper than the limit is refused with a typed error', () => {
  const deep = (n: number) => `{"a": ${'['.repeat(n)}${']'.repeat(n)}}`;
  assert.doesNotThrow(() => emit(load(deep(500))));
  assertRejects(() => load(deep(5000)), InvalidDocumentError);
});

test('json: NaN and infinities cannot be written', () => {
  assertRejects(() => emit(doc([['x', NaN]])), InvalidDocumentError);
  assertRejects(() => emit(doc([['x', Infinity]])), InvalidDocumentError);
});

test('json: one document only', () => {
  assertRejects(() => jsonStore.emitPlain([new TreeBranch(), new TreeBranch()]), InvalidDocumentError);
});

test('json: hasMetadata is a top-level "sops" key', () => {
  assert.equal(jsonStore.hasMetadata([load('{"a": {"sops": 1}}')]), false);
  assert.equal(jsonStore.hasMetadata([load('{"a": 1, "sops": {}}')]), true);
});

// ---- metadata against real files ---------------------------------------------------

const CURRENT = [
  ['getsops-sops/functional-tests/res/format.enc.json', undefined],
  ['humphd-sops-age/tests/data/secret.enc.json', 2],
] as const;

/** Written by sops before the trailing newline was added; everything else is identical. */
const NO_TRAILING_NEWLINE = [
  'getsops-sops/example.json',
  'getsops-sops/example.txt',
  'getsops-sops/examples/per_file/config.enc/static_github.json',
  'getsops-sops/examples/all_in_one/config/secret.enc.json',
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/files/file.txt',
  'jkroepke-helm-secrets/tests/assets/values/sops/files/file.json',
  'Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.json',
];

test('json fixtures: loadEncrypted splits "sops" off, emitEncrypted restores the same bytes', () => {
  for (const [rel, indent] of CURRENT) {
    const input = fixture(rel);
    const { documents, metadata } = jsonStore.loadEncrypted(input);
    assert.ok(metadata, rel);
    assert.equal(documents.length, 1);
    assert.equal(documents[0].has('sops'), false);
    assert.equal(jsonStore.emitEncrypted(documents, metadata, { indent }).toString(), input.toString(), rel);
  }
});

test('json fixtures: older files differ only by the trailing newline', () => {
  for (const rel of NO_TRAILING_NEWLINE) {
    const input = fixture(rel);
    const { documents, metadata } = jsonStore.loadEncrypted(input);
    assert.equal(jsonStore.emitEncrypted(documents, metadata!).toString(), input.toString() + '\n', rel);
  }
});

test('json fixtures: metadata is plain data', () => {
  const { documents, metadata } = jsonStore.loadEncrypted(fixture('humphd-sops-age/tests/data/secret.enc.json'));
  assert.deepEqual(documents[0].keys(), ['secret', 'string', 'int', 'float', 'boolean', '0word', 'complex']);
  assert.equal(metadata!.kms, null);
  assert.equal(metadata!.version, '3.9.2');
  const age = metadata!.age as { recipient: string; enc: string }[];
  assert.equal(age.length, 3);
  assert.equal(age[0].recipient, 'age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr');
  assert.match(age[0].enc, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+-----END AGE ENCRYPTED FILE-----\n$/);
});

test('json metadata: numbers and booleans are written as JSON, "sops" goes last', () => {
  const out = jsonStore.emitEncrypted([load('{"a": "x"}')], { shamir_threshold: 2, mac_only_encrypted: true, version: '3.13.2' }).toString();
  assert.equal(out, '{\n\t"a": "x",\n\t"sops": {\n\t\t"shamir_threshold": 2,\n\t\t"mac_only_encrypted": true,\n\t\t"version": "3.13.2"\n\t}\n}\n');
  const back = jsonStore.loadEncrypted(Buffer.from(out));
  assert.deepEqual(back.metadata, { shamir_threshold: 2, mac_only_encrypted: true, version: '3.13.2' });
});

test('json metadata: absent, malformed, or clashing', () => {
  assert.equal(jsonStore.loadEncrypted(Buffer.from('{"a": 1}')).metadata, undefined);
  assertRejects(() => jsonStore.loadEncrypted(Buffer.from('{"a": 1, "sops": "x"}')), MetadataError);
  assertRejects(() => jsonStore.emitEncrypted([load('{"sops": 1}')], { version: '3' }), InvalidDocumentError);
});
