import { test } from 'node:test';
import assert from 'node:assert/strict';
import { yamlStore } from '../../src/document/stores/yaml.js';
import { Comment, SopsTime, toPlain, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError } from '../../src/errors.js';

const load = (text: string) => yamlStore.loadPlain(Buffer.from(text, 'utf8'));
const load1 = (text: string) => {
  const docs = load(text);
  assert.equal(docs.length, 1);
  return docs[0];
};
const emit = (docs: TreeBranch[], indent?: number) => yamlStore.emitPlain(docs, indent === undefined ? undefined : { indent }).toString('utf8');
const roundTrip = (text: string, indent?: number) => emit(load(text), indent);

/** Comment items of a branch or sequence, as "#text" strings, in order, with inline marked. */
function describe(value: TreeValue): unknown {
  if (value instanceof TreeBranch) {
    return value.items.map((item) => (item.key instanceof Comment ? `#${item.key.value}${item.key.inline ? ' (inline)' : ''}` : [item.key, describe(item.value)]));
  }
  if (Array.isArray(value)) return value.map((v) => (v instanceof Comment ? `#${v.value}${v.inline ? ' (inline)' : ''}` : describe(v)));
  if (value instanceof SopsTime) return `time:${value.text}`;
  if (typeof value === 'bigint') return `int:${value}`;
  if (typeof value === 'number') return `float:${value}`;
  return value;
}

/** Must-fail helper: the exact class, and the message never echoes the secret. */
function assertRejectsWithoutLeak(text: string, secret: string): void {
  assert.throws(() => load(text), InvalidDocumentError);
  try {
    load(text);
  } catch (error) {
    assert.ok(!(error as Error).message.includes(secret), `message leaks input: ${(error as Error).message}`);
    assert.ok(!((error as { hint?: string }).hint ?? '').includes(secret));
  }
}

const CANONICAL = [
  '# head comment',
  '# second head line',
  'apiVersion: v1 # inline on scalar',
  'kind: Secret',
  'metadata:',
  '    # opens nested mapping',
  '    name: x',
  '    labels:',
  '        app: web',
  '    # trailing in metadata',
  'list:',
  '    # before first',
  '    - one # inline one',
  '    # before map element',
  '    - k: v',
  '      # inside element',
  '      k2: v2',
  '    # end of list',
  'stringData:',
  '    password: hunter2',
  '# foot of document',
  '',
].join('\n');

test('yaml: canonical sops-style input round-trips byte for byte', () => {
  assert.equal(roundTrip(CANONICAL), CANONICAL);
  assert.equal(roundTrip(roundTrip(CANONICAL)), CANONICAL);
});

test('yaml: comments become items where sops puts them', () => {
  assert.deepEqual(describe(load1(CANONICAL)), [
    '# head comment',
    '# second head line',
    ['apiVersion', 'v1'],
    '# inline on scalar (inline)',
    ['kind', 'Secret'],
    ['metadata', ['# opens nested mapping', ['name', 'x'], ['labels', [['app', 'web']]], '# trailing in metadata']],
    ['list', ['# before first', 'one', '# inline one (inline)', '# before map element', [['k', 'v'], '# inside element', ['k2', 'v2']], '# end of list']],
    ['stringData', [['password', 'hunter2']]],
    '# foot of document',
  ]);
});

test('yaml: a comment before a mapping element of a sequence is kept once', () => {
  const text = 'list:\n    # before map element\n    - k: v\n    # before nested list\n    - - x\n';
  const doc = load1(text);
  const list = doc.get('list') as TreeValue[];
  const comments = list.filter((v) => v instanceof Comment).map((v) => (v as Comment).value);
  assert.deepEqual(comments, [' before map element', ' before nested list']);
  assert.deepEqual(describe(list[1]), [['k', 'v']]);
  assert.deepEqual(describe(list[3]), ['x']);
  // Stable across repeated round trips (the comment is not duplicated each time).
  const once = roundTrip(text);
  assert.equal(roundTrip(once), once);
  assert.equal(once.split('before map element').length - 1, 1);
  assert.equal(once.split('before nested list').length - 1, 1);
});

test('yaml: multi-document files round-trip, empty documents are empty branches', () => {
  const text = 'a: 1\n---\n# doc2\nb: two\n';
  const docs = load(text);
  assert.equal(docs.length, 2);
  assert.deepEqual(toPlain(docs[0]), { a: 1 });
  assert.deepEqual(describe(docs[1]), ['# doc2', ['b', 'two']]);
  assert.equal(emit(docs), text);
  const withEmpty = load('---\na: 1\n---\n---\nb: 2\n');
  assert.equal(withEmpty.length, 3);
  assert.deepEqual(withEmpty[1].items, []);
  // The leading `---` is dropped, as sops does.
  assert.equal(emit(withEmpty).startsWith('a: 1\n---\n'), true);
});

test('yaml: flow style becomes block style', () => {
  assert.equal(roundTrip('a: [1, 2]\nb: {c: d}\n'), 'a:\n    - 1\n    - 2\nb:\n    c: d\n');
});

test('yaml: the indent option', () => {
  const text = 'a:\n    b:\n        - c: 1\n          d: 2\n';
  assert.equal(roundTrip(text), text);
  assert.equal(roundTrip(text, 2), 'a:\n  b:\n    - c: 1\n      d: 2\n');
  assert.equal(roundTrip(text, 3), 'a:\n   b:\n      - c: 1\n        d: 2\n');
});

test('yaml: aliases are expanded and never re-emitted', () => {
  const doc = load1('base: &b\n    x: 1\n    y: [a, b]\ncopy: *b\nscalar: &s hello\nagain: *s\n');
  assert.deepEqual(toPlain(doc), { base: { x: 1, y: ['a', 'b'] }, copy: { x: 1, y: ['a', 'b'] }, scalar: 'hello', again: 'hello' });
  const out = emit([doc]);
  assert.ok(!out.includes('&') && !out.includes('*'), out);
});

test('yaml: merge keys are expanded; explicit keys win; earlier merge sources win', () => {
  const doc = load1(
    [
      'a: &a',
      '    one: A1',
      '    two: A2',
      'b: &b',
      '    two: B2',
      '    three: B3',
      'single:',
      '    <<: *a',
      '    one: own',
      'multi:',
      '    <<: [*a, *b]',
      '    four: own4',
      '',
    ].join('\n'),
  );
  assert.deepEqual(toPlain(doc.get('single')!), { one: 'own', two: 'A2' });
  assert.deepEqual(toPlain(doc.get('multi')!), { one: 'A1', two: 'A2', three: 'B3', four: 'own4' });
  assert.ok(!emit([doc]).includes('<<'));
  assert.throws(() => load('a: 1\nb:\n    <<: *nope\n'), InvalidDocumentError);
});

test('yaml: duplicate keys → InvalidDocumentError without the value', () => {
  assertRejectsWithoutLeak('password: s3cr3t-one\npassword: s3cr3t-two\n', 's3cr3t');
  assertRejectsWithoutLeak('outer:\n    inner: 1\n    inner: s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('a: {k: s3cr3t, k: 2}\n', 's3cr3t');
});

test('yaml: malformed YAML → InvalidDocumentError with a line, without the value', () => {
  assertRejectsWithoutLeak('ok: 1\npassword: "s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('a: [s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('a: 1\n  b: s3cr3t\n', 's3cr3t');
  try {
    load('ok: 1\nok2: 2\npassword: "s3cr3t\n');
    assert.fail('must throw');
  } catch (error) {
    assert.ok(error instanceof InvalidDocumentError);
    assert.match(error.message, /line \d+/);
  }
});

test('yaml: documents that are not mappings, and non-string keys → InvalidDocumentError', () => {
  assertRejectsWithoutLeak('- s3cr3t\n- b\n', 's3cr3t');
  assertRejectsWithoutLeak('just-a-s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('a: 1\n---\n- s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('1: s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('? [a, b]\n: s3cr3t\n', 's3cr3t');
  assertRejectsWithoutLeak('? {a: b}\n: s3cr3t\n', 's3cr3t');
});

test('yaml: ints are bigints, exact beyond 2^53 inside int64', () => {
  const doc = load1('small: 42\nneg: -7\nbig: 9007199254740993\nmax: 9223372036854775807\nmin: -9223372036854775808\nhex: 0x1F\noct: 0o17\n');
  assert.equal(doc.get('small'), 42n);
  assert.equal(doc.get('neg'), -7n);
  assert.equal(doc.get('big'), 9007199254740993n);
  assert.equal(doc.get('max'), 9223372036854775807n);
  assert.equal(doc.get('min'), -9223372036854775808n);
  assert.equal(doc.get('hex'), 31n);
  assert.equal(doc.get('oct'), 15n);
  assert.equal(emit([doc]), 'small: 42\nneg: -7\nbig: 9007199254740993\nmax: 9223372036854775807\nmin: -9223372036854775808\nhex: 31\noct: 15\n');
});

test('yaml: numbers beyond int64 are floats', () => {
  const doc = load1('over: 9223372036854775808\nunder: -9223372036854775809\nhuge: 123456789012345678901234567890\n');
  assert.equal(doc.get('over'), 9223372036854775808);
  assert.equal(typeof doc.get('over'), 'number');
  assert.equal(doc.get('under'), -9223372036854775809);
  assert.equal(typeof doc.get('huge'), 'number');
});

test('yaml: go-yaml integer forms (legacy octal, underscores, binary, signed hex)', () => {
  const doc = load1('mode: 0644\nthousands: 1_000\nbin: 0b101\nneghex: -0x10\nnine: 09\nfloatus: 1_000.5\n');
  assert.equal(doc.get('mode'), 420n);
  assert.equal(doc.get('thousands'), 1000n);
  assert.equal(doc.get('bin'), 5n);
  assert.equal(doc.get('neghex'), -16n);
  // Not octal, so go-yaml falls back to a float.
  assert.equal(doc.get('nine'), 9);
  assert.equal(typeof doc.get('nine'), 'number');
  assert.equal(doc.get('floatus'), 1000.5);
});

test('yaml: floats, 1.0 stays a float, .inf and .nan', () => {
  const doc = load1('pi: 3.14\none: 1.0\nexp: 1e3\ndot: .5\ninf: .inf\nninf: -.Inf\nnan: .NaN\noverflow: 1e400\n');
  assert.equal(doc.get('pi'), 3.14);
  assert.equal(doc.get('one'), 1);
  assert.equal(typeof doc.get('one'), 'number');
  assert.equal(doc.get('exp'), 1000);
  assert.equal(doc.get('dot'), 0.5);
  assert.equal(doc.get('inf'), Infinity);
  assert.equal(doc.get('ninf'), -Infinity);
  assert.ok(Number.isNaN(doc.get('nan') as number));
  // ParseFloat fails with a range error, so go-yaml keeps the text.
  assert.equal(doc.get('overflow'), '1e400');
  const out = emit([doc]);
  assert.match(out, /^inf: \.inf$/m);
  assert.match(out, /^ninf: -\.inf$/m);
  assert.match(out, /^nan: \.nan$/m);
  assert.equal(load1(out).get('overflow'), '1e400');
});

test('yaml: booleans and nulls', () => {
  const doc = load1('t: true\nT: True\nf: FALSE\nyes: yes\nn1: null\nn2: ~\nn3:\nn4: Null\n');
  assert.equal(doc.get('t'), true);
  assert.equal(doc.get('T'), true);
  assert.equal(doc.get('f'), false);
  // YAML 1.1 booleans are strings for go-yaml v3.
  assert.equal(doc.get('yes'), 'yes');
  for (const k of ['n1', 'n2', 'n3', 'n4']) assert.equal(doc.get(k), null, k);
  assert.equal(doc.has('n3'), true);
});

test('yaml: unquoted timestamps are SopsTime, quoted ones stay strings and are written back quoted', () => {
  const doc = load1(
    'date: 2024-01-02\nwhen: 2006-01-02T15:04:05+07:06\nspaced: 2006-01-02 15:04:05\nquoted: "2024-01-02"\nsingle: \'2024-01-02\'\ntagged: !!str 2024-01-02\nbadmonth: 2024-13-45\nnozone: 2001-12-14T21:59:43\n',
  );
  assert.deepEqual(doc.get('date'), new SopsTime('2024-01-02T00:00:00Z'));
  assert.deepEqual(doc.get('when'), new SopsTime('2006-01-02T15:04:05+07:06'));
  assert.deepEqual(doc.get('spaced'), new SopsTime('2006-01-02T15:04:05Z'));
  assert.equal(doc.get('quoted'), '2024-01-02');
  assert.equal(doc.get('single'), '2024-01-02');
  assert.equal(doc.get('tagged'), '2024-01-02');
  // Not timestamps for go-yaml: strings.
  assert.equal(doc.get('badmonth'), '2024-13-45');
  assert.equal(doc.get('nozone'), '2001-12-14T21:59:43');
  const out = emit([doc]);
  assert.match(out, /^date: 2024-01-02T00:00:00Z$/m);
  assert.match(out, /^when: 2006-01-02T15:04:05\+07:06$/m);
  assert.match(out, /^quoted: "2024-01-02"$/m);
  assert.match(out, /^single: "2024-01-02"$/m);
  // Read back, the quoted strings are still strings and the times still times.
  const again = load1(out);
  assert.equal(again.get('quoted'), '2024-01-02');
  assert.deepEqual(again.get('date'), new SopsTime('2024-01-02T00:00:00Z'));
  assert.equal(again.get('badmonth'), '2024-13-45');
});

test('yaml: strings that go-yaml would read as numbers or times are quoted on output', () => {
  const doc = new TreeBranch(
    ['1_000', '0b101', '0644', '2024-01-02', '123', '1.5', 'true', 'null', '', '1e400', 'plain text', '+0x1F'].map((s, i) => ({ key: `k${i}`, value: s })),
  );
  const out = emit([doc]);
  const back = load1(out);
  assert.deepEqual(toPlain(back), toPlain(doc));
  for (const item of back.items) assert.equal(typeof item.value, 'string', `${String(item.key)}: ${out}`);
  assert.match(out, /^k10: plain text$/m);
  // Keys too: a key go-yaml would read as a timestamp or an int must be quoted.
  const keys = new TreeBranch([
    { key: '2024-01-02', value: 'a' },
    { key: '1_000', value: 'b' },
  ]);
  const keysOut = emit([keys]);
  assert.deepEqual(load1(keysOut).keys(), ['2024-01-02', '1_000']);
  assert.match(keysOut, /^"2024-01-02": a$/m);
  assert.match(keysOut, /^"1_000": b$/m);
});

test('yaml: multi-line strings are literal blocks', () => {
  const doc = new TreeBranch([
    { key: 'enc', value: '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n' },
    { key: 'pgp', value: '-----BEGIN PGP MESSAGE-----\nx\n-----END PGP MESSAGE-----' },
  ]);
  const out = emit([doc]);
  assert.match(out, /^enc: \|\n/m);
  assert.match(out, /^pgp: \|-\n/m);
  assert.deepEqual(toPlain(load1(out)), toPlain(doc));
});

test('yaml: loadEncrypted takes metadata from the first document and drops later sops keys', () => {
  const text = [
    'a: ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]',
    'sops:',
    '    age:',
    '        - recipient: age1xyz',
    '          enc: |',
    '            -----BEGIN AGE ENCRYPTED FILE-----',
    '            YWdl',
    '            -----END AGE ENCRYPTED FILE-----',
    '    lastmodified: "2024-01-01T00:00:00Z"',
    '    mac: ENC[AES256_GCM,data:DD==,iv:EE==,tag:FF==,type:str]',
    '    shamir_threshold: 2',
    '    mac_only_encrypted: true',
    '    version: 3.9.0',
    '---',
    'b: two',
    'sops:',
    '    mac: other',
    '',
  ].join('\n');
  const { documents, metadata } = yamlStore.loadEncrypted(Buffer.from(text));
  assert.equal(documents.length, 2);
  assert.deepEqual(documents[0].keys(), ['a']);
  assert.deepEqual(documents[1].keys(), ['b']);
  assert.ok(metadata);
  assert.equal(metadata.mac, 'ENC[AES256_GCM,data:DD==,iv:EE==,tag:FF==,type:str]');
  assert.equal(metadata.lastmodified, '2024-01-01T00:00:00Z');
  assert.equal(Number(metadata.shamir_threshold), 2);
  assert.equal(metadata.mac_only_encrypted, true);
  assert.equal(metadata.version, '3.9.0');
  assert.deepEqual(metadata.age, [{ recipient: 'age1xyz', enc: '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n' }]);
  assert.equal(yamlStore.loadEncrypted(Buffer.from('a: 1\n')).metadata, undefined);
});

test('yaml: emitEncrypted appends sops as the last key of every document', () => {
  const docs = load('a: 1\n---\nb: 2\n');
  const out = yamlStore.emitEncrypted(docs, { lastmodified: '2024-01-01T00:00:00Z', mac: 'm', version: '3.13.2' }).toString('utf8');
  assert.equal(
    out,
    [
      'a: 1',
      'sops:',
      '    lastmodified: "2024-01-01T00:00:00Z"',
      '    mac: m',
      '    version: 3.13.2',
      '---',
      'b: 2',
      'sops:',
      '    lastmodified: "2024-01-01T00:00:00Z"',
      '    mac: m',
      '    version: 3.13.2',
      '',
    ].join('\n'),
  );
  const back = yamlStore.loadEncrypted(Buffer.from(out));
  assert.deepEqual(back.metadata, { lastmodified: '2024-01-01T00:00:00Z', mac: 'm', version: '3.13.2' });
  assert.deepEqual(back.documents.map((d) => d.keys()), [['a'], ['b']]);
});

test('yaml: hasMetadata looks at a top-level sops key of the first document', () => {
  assert.equal(yamlStore.hasMetadata(load('sops:\n    mac: x\n')), true);
  assert.equal(yamlStore.hasMetadata(load('a:\n    sops: x\n')), false);
  assert.equal(yamlStore.hasMetadata(load('a: 1\n')), false);
  assert.equal(yamlStore.hasMetadata([]), false);
});
