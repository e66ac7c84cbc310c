/**
 * The fast position readers answer exactly what the `yaml` library answers, or UNSURE:
 * on generated block YAML with every style the readers take (and some they refuse), on
 * generated JSON, on hand-picked edge cases, and on the sops files of ../shared/fixtures.
 * Every node's location is asked, and locations that lead nowhere (the deepest node on
 * the way is the answer then).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Node } from 'yaml';
import { fastJsonOffset, fastYamlDocuments, fastYamlOffset, UNSURE, type FastOffset } from '../../src/scan/fast-positions.js';
import { libraryOffset, parseWithRanges, ValueLocator, type Location } from '../../src/scan/documents.js';
import { loadYamlLib } from '../../src/document/stores/yaml.js';
import { fixturePath, fixturesAvailable } from '../support/fixtures.js';

interface Comparison {
  /** Locations the fast reader answered (and answered right). */
  answered: number;
  /** Locations it left to the library. */
  unsure: number;
}

/** Every location of every document, plus one missing key and one missing index below each. */
function locations(node: Node | null | undefined, at: Location, out: Location[]): void {
  const yaml = loadYamlLib();
  out.push(at, [...at, 'no-such-key'], [...at, 99]);
  if (yaml.isMap(node)) for (const pair of node.items) if (yaml.isScalar(pair.key)) locations(pair.value as Node | null, [...at, String(pair.key.value)], out);
  if (yaml.isSeq(node)) node.items.forEach((item, i) => locations(item as Node, [...at, i], out));
}

/** Asserts the fast answer equals the library's wherever the fast reader answers. */
function compare(text: string, format: 'yaml' | 'json'): Comparison {
  const docs = parseWithRanges(text);
  const fast = format === 'yaml' ? fastYamlDocuments(text) : undefined;
  const result: Comparison = { answered: 0, unsure: 0 };
  docs.forEach((doc, document) => {
    const all: Location[] = [];
    locations(doc.contents as Node | null, [], all);
    for (const location of all) {
      let answer: FastOffset;
      if (format === 'json') answer = document === 0 ? fastJsonOffset(text, location) : UNSURE;
      else answer = fast === UNSURE || fast === undefined ? UNSURE : fastYamlOffset(fast, document, location);
      if (answer === UNSURE) {
        result.unsure++;
        continue;
      }
      result.answered++;
      assert.equal(answer, libraryOffset(docs, document, location), `document ${document} at ${JSON.stringify(location)} in:\n${text}`);
    }
  });
  return result;
}

// ---------------------------------------------------------------------------------------
// Generated block YAML

type Tree = { map: [string, Tree][] } | { seq: Tree[] } | { scalar: string };

/** Keys and scalars the fast reader takes, and some it leaves to the library. */
const KEYS = ['name', 'stringData', 'data', 'app.kubernetes.io/name', '.dockerconfigjson', 'DB_PASSWORD', 'tls.crt', '"quoted key"', "'single'", 'x-y'];
const OTHER_KEYS = ['a b', 'true', 'null', '1', '.inf', '"esc\\"aped"'];
const SCALARS = ['value', 'hunter2', '"double: quoted"', "'it''s'", '42', '-1', 'ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]', 'a#b', '{ cpu: 1, memory: 2Gi }', '[/bin/sh, -c]', '"with # hash"'];
const OTHER_SCALARS = ['&anchor x', '!!str tagged', '*alias', '{ a: [1, 2 }', '[a, b # comment', "'open", '@at'];
const BLOCKS = ['|', '|-', '>', '>+'];

function trees(keys: readonly string[], scalars: readonly string[]): fc.Arbitrary<Tree> {
  return fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...scalars, ...BLOCKS).map((scalar) => ({ scalar })),
      fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), tie('tree')), { minLength: 1, maxLength: 4, selector: ([key]) => key }).map((map) => ({ map })),
      fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((seq) => ({ seq })),
    ),
  })).tree;
}

interface Style {
  alignSequences: boolean;
  comments: boolean;
  indent: number;
}

/** Block YAML for `node` at `indent`, as the first line's rest (`head`) and the lines below. */
function emit(node: Tree, indent: number, style: Style, out: string[], head: string): void {
  const pad = ' '.repeat(indent);
  if ('scalar' in node) {
    if (BLOCKS.includes(node.scalar)) {
      out.push(`${head}${node.scalar}`, `${pad}${' '.repeat(style.indent)}first line`, '', `${pad}${' '.repeat(style.indent)}  second: line`);
    } else out.push(`${head}${node.scalar}${style.comments ? ' # trailing' : ''}`);
    return;
  }
  if (head.trim() !== '' && !head.trimEnd().endsWith('-')) {
    // A collection as a mapping's value starts on the next line.
    out.push(head.trimEnd());
    const seqAligned = 'seq' in node && style.alignSequences;
    emit(node, seqAligned ? indent : indent + style.indent, style, out, seqAligned ? pad : pad + ' '.repeat(style.indent));
    return;
  }
  if ('map' in node) {
    node.map.forEach(([key, value], i) => {
      if (style.comments && i === 1) out.push(`${pad}# between entries`);
      const lead = i === 0 ? head : pad;
      const keyIndent = i === 0 ? head.length : indent;
      emit(value, keyIndent, style, out, `${lead}${key}: `);
    });
  } else {
    node.seq.forEach((item, i) => emit(item, (i === 0 ? head.length : indent) + 2, style, out, `${i === 0 ? head : pad}- `));
  }
}

function yamlText(docs: Tree[], style: Style, preamble: boolean): string {
  const parts = docs.map((doc) => {
    const lines: string[] = [];
    emit('scalar' in doc ? { map: [['value', doc]] } : doc, 0, style, lines, '');
    return lines.join('\n');
  });
  return `${preamble ? '# generated\n---\n' : ''}${parts.join('\n---\n')}\n`;
}

const STYLE = fc.record({ alignSequences: fc.boolean(), comments: fc.boolean(), indent: fc.constantFrom(2, 4) });

test('fast YAML positions equal the library: generated documents of the styles it reads (property)', () => {
  let answered = 0;
  fc.assert(
    fc.property(fc.array(trees(KEYS, SCALARS), { minLength: 1, maxLength: 3 }), STYLE, fc.boolean(), (docs, style, preamble) => {
      const text = yamlText(docs, style, preamble);
      // Every document of these styles is read; only what lies inside flow collections is left to the library.
      assert.notEqual(fastYamlDocuments(text), UNSURE, text);
      answered += compare(text, 'yaml').answered;
    }),
    { numRuns: 400, seed: 20251122 },
  );
  assert.ok(answered > 10_000, `the fast reader answered only ${answered} locations`);
});

test('fast YAML positions equal the library: generated documents with what it does not read (property)', () => {
  fc.assert(
    fc.property(
      fc.array(trees([...KEYS, ...OTHER_KEYS], [...SCALARS, ...OTHER_SCALARS]), { minLength: 1, maxLength: 3 }),
      STYLE,
      fc.boolean(),
      (docs, style, preamble) => {
        compare(yamlText(docs, style, preamble), 'yaml');
      },
    ),
    { numRuns: 400, seed: 20251123 },
  );
});

test('fast YAML positions: the shapes of Kubernetes manifests and sops files are answered without the library', () => {
  const manifest = [
    '# a Secret and a Deployment',
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    '  name: db',
    '  labels: { app: db }',
    'stringData:',
    '  password: "hunter2"   # test value',
    '  url: postgres://db:5432/app',
    '---',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '      - name: app',
    '        args: [--port, "8080"]',
    '        env:',
    '          - name: LOG_LEVEL',
    '            value: info',
    'sops:',
    '    age:',
    '        - recipient: age1xyz',
    '          enc: |',
    '            -----BEGIN AGE ENCRYPTED FILE-----',
    '            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOQ',
    '',
    '            -----END AGE ENCRYPTED FILE-----',
    '    lastmodified: "2025-01-01T00:00:00Z"',
    '    version: 3.9.0',
    '',
  ].join('\n');
  const result = compare(manifest, 'yaml');
  assert.ok(result.answered > 40, `answered ${result.answered}`);
  // Inside flow collections the library is asked.
  assert.ok(result.unsure > 0);
  const docs = fastYamlDocuments(manifest);
  assert.notEqual(docs, UNSURE);
});

test('fast YAML positions: what the reader does not follow is left to the library', () => {
  const cases = [
    'a:\tb\n', // tab
    'a: b\r\nc: d\r\n', // CR
    'a: &x 1\nb: *x\n', // anchor, alias
    'a: !!str 1\n', // tag
    'a: plain\n  continued\n', // multi-line plain
    'a: "quoted\n  continued"\n', // multi-line quoted
    'a: |2\n   indented\n', // indentation indicator
    '? complex\n: key\n', // complex key
    'a: 1\n---\n', // empty document
    '%YAML 1.2\n---\na: 1\n', // directive
    'a: 1\n...\n', // document end
    '{a: 1}\n', // flow document
    'a:\n  - x\n b: 1\n', // bad indentation
    'key: |\n  a\n# comment\n  b\n', // comment line inside a block scalar's span
    'a: x: y\n', // mapping value in a plain scalar
    'a:\n', // null value
  ];
  for (const text of cases) {
    const docs = fastYamlDocuments(text);
    const answer = docs === UNSURE ? UNSURE : fastYamlOffset(docs, 0, ['a']);
    assert.equal(answer, UNSURE, JSON.stringify(text));
    compare(text, 'yaml');
  }
});

test('fast YAML positions: documents are numbered as the library numbers them', () => {
  for (const text of ['# c\n---\na: 1\n---\nb: 2\n', 'a: 1\n---\nb: 2\n', '---\na: 1\n', 'a: 1\n']) {
    const docs = fastYamlDocuments(text);
    assert.notEqual(docs, UNSURE, text);
    assert.equal((docs as unknown[]).length, parseWithRanges(text).length, text);
    compare(text, 'yaml');
  }
  // A document the reader does not know of is not "no such document".
  assert.equal(fastYamlOffset(fastYamlDocuments('a: 1\n') as never, 1, []), UNSURE);
});

// ---------------------------------------------------------------------------------------
// JSON

test('fast JSON positions equal the library: generated values (property)', () => {
  let answered = 0;
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(0, 2, 4, '\t', ' \t'), (value, indent) => {
      answered += compare(JSON.stringify(value, null, indent), 'json').answered;
    }),
    { numRuns: 300, seed: 20251122 },
  );
  assert.ok(answered > 1000, `the fast reader answered only ${answered} locations`);
});

test('fast JSON positions: escaped keys and CR are left to the library; tabs are white space', () => {
  for (const text of ['{"a\\"b": 1, "c": 2}', '{"c": 2}\r\n']) {
    assert.equal(fastJsonOffset(text, ['c']), UNSURE, JSON.stringify(text));
    compare(text, 'json');
  }
  for (const text of ['{\t"c": 2}', '{\n\t"a": {\n\t\t"c":\t[1,\t2]\n\t},\t"c": 3\n}\n']) {
    assert.notEqual(fastJsonOffset(text, ['c']), UNSURE, JSON.stringify(text));
    assert.ok(compare(text, 'json').answered > 0, JSON.stringify(text));
  }
  // A key after the wanted one is never read: it cannot matter which one comes first.
  assert.equal(fastJsonOffset('{"c": 2, "a\\"b": 1}', ['c']), 6);
});

test('the locator answers as before, with and without the fast reader', () => {
  const text = 'kind: Secret\nstringData:\n  password: hunter2\n  list:\n  - a\n  - b: "c"\n';
  const locator = new ValueLocator('yaml', text);
  assert.deepEqual(locator.locate(0, ['stringData', 'password']), { line: 3, column: 13 });
  assert.deepEqual(locator.locate(0, ['stringData', 'list', 1, 'b']), { line: 6, column: 8 });
  assert.deepEqual(locator.locate(0, ['stringData', 'missing']), { line: 3, column: 3 });
  assert.deepEqual(locator.locate(3, []), { line: 1, column: 1 });
  // Anchors send it to the library, with the same kind of answer.
  assert.deepEqual(new ValueLocator('yaml', 'a: &x 1\nb: *x\n').locate(0, ['a']), { line: 1, column: 7 });
});

// ---------------------------------------------------------------------------------------
// Real sops files

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(path, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(path);
  }
  return out;
}

test('fast positions equal the library on the YAML and JSON files of ../shared/fixtures', { skip: !fixturesAvailable() && 'no ../shared/fixtures' }, () => {
  let answered = 0;
  for (const path of filesUnder(fixturePath('.'))) {
    const text = readFileSync(path, 'utf8');
    answered += compare(text, path.endsWith('.json') ? 'json' : 'yaml').answered;
  }
  assert.ok(answered > 1000, `answered ${answered}`);
});
