import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePath, pathToAad, walkDocuments } from '../../src/document/walk.js';
import { Comment, TreeBranch, type TreeItem, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError } from '../../src/errors.js';

const map = (...entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));
const c = (text: string) => new Comment(text);

interface Visit {
  value: string;
  path: string[];
  comments: string[][];
}

function record(docs: TreeBranch[]): Visit[] {
  const visits: Visit[] = [];
  walkDocuments(docs, (value, path, comments) => {
    visits.push({ value: value instanceof Comment ? `#${value.value}` : String(value), path: [...path], comments: comments.map((level) => [...level]) });
    return value;
  });
  return visits;
}

test('walk order: documents in order, mapping items in order, depth first', () => {
  const docs = [map(['a', 'A'], ['b', map(['c', 'C'], ['d', ['D1', 'D2']])], ['e', 'E']), map(['f', 'F'])];
  assert.deepEqual(
    record(docs).map((v) => v.value),
    ['A', 'C', 'D1', 'D2', 'E', 'F'],
  );
});

test('paths hold mapping keys only: sequence indices are not part of them', () => {
  const docs = [map(['spec', map(['list', ['x', map(['name', 'n']), ['deep']]])])];
  const visits = record(docs);
  assert.deepEqual(
    visits.map((v) => [v.value, v.path.join('.')]),
    [
      ['x', 'spec.list'],
      ['n', 'spec.list.name'],
      ['deep', 'spec.list'],
    ],
  );
});

test('nulls are not visited; other scalar types are', () => {
  const docs = [map(['n', null], ['i', 1n], ['f', 1.5], ['b', false], ['s', ''], ['l', [null, 'x']])];
  assert.deepEqual(
    record(docs).map((v) => v.value),
    ['1', '1.5', 'false', '', 'x'],
  );
});

test('comments are visited with the path of the enclosing mapping or sequence', () => {
  const ab = map([c(' in a.b'), null], ['k', 'v']);
  const a = map([c(' in a'), null], ['b', ab]);
  const docs = [map([c(' root'), null], ['a', a], ['lorem', ['foo', c(' in list'), 'bar']])];
  const comments = record(docs).filter((v) => v.value.startsWith('#'));
  assert.deepEqual(
    comments.map((v) => [v.value, pathToAad(v.path)]),
    [
      ['# root', ':'],
      ['# in a', 'a:'],
      ['# in a.b', 'a:b:'],
      ['# in list', 'lorem:'],
    ],
  );
});

test('the comment stack: a level per mapping/sequence, reset after each value', () => {
  const docs = [
    map(
      [c(' one'), null],
      [c(' two'), null],
      ['a', 'A'],
      ['b', 'B'],
      [c(' three'), null],
      ['nested', map([c(' inner'), null], ['x', 'X'], ['y', 'Y'])],
      ['after', 'Z'],
      ['list', [c(' l1'), 'L1', 'L2']],
    ),
  ];
  const byValue = new Map(record(docs).map((v) => [v.value, v.comments]));
  assert.deepEqual(byValue.get('# one'), [[' one']]);
  assert.deepEqual(byValue.get('# two'), [[' one', ' two']]);
  assert.deepEqual(byValue.get('A'), [[' one', ' two']]);
  assert.deepEqual(byValue.get('B'), [[]]);
  assert.deepEqual(byValue.get('# inner'), [[' three'], [' inner']]);
  assert.deepEqual(byValue.get('X'), [[' three'], [' inner']]);
  assert.deepEqual(byValue.get('Y'), [[' three'], []]);
  assert.deepEqual(byValue.get('Z'), [[]]);
  assert.deepEqual(byValue.get('L1'), [[], [' l1']]);
  assert.deepEqual(byValue.get('L2'), [[], []]);
});

test('the visitor result replaces the leaf; the input tree is not mutated', () => {
  const input = map([c(' note'), null], ['a', 'x'], ['l', ['y', map(['z', 'z'])]]);
  const out = walkDocuments([input], (value) => (value instanceof Comment ? new Comment(value.value.toUpperCase(), true) : `<${String(value)}>`));
  assert.equal((out[0].items[0].key as Comment).value, ' NOTE');
  assert.equal((out[0].items[0].key as Comment).inline, true);
  assert.equal(out[0].get('a'), '<x>');
  assert.deepEqual((out[0].get('l') as TreeValue[])[0], '<y>');
  assert.equal(((out[0].get('l') as TreeValue[])[1] as TreeBranch).get('z'), '<z>');
  assert.equal(input.get('a'), 'x');
  assert.equal((input.items[0].key as Comment).value, ' note');
  assert.deepEqual((input.get('l') as TreeValue[])[0], 'y');
});

test('a visitor returning a string for a comment still yields a comment key', () => {
  const out = walkDocuments([map([new Comment(' c', true), null], ['k', 'v'])], (value) => (value instanceof Comment ? 'ENC[...]' : value));
  const key = out[0].items[0].key;
  assert.ok(key instanceof Comment);
  assert.equal(key.value, 'ENC[...]');
  assert.equal(key.inline, true);
});

test('a non-string key → InvalidDocumentError', () => {
  const bad = new TreeBranch([{ key: 1 as unknown as string, value: 'x' } as TreeItem]);
  assert.throws(() => walkDocuments([bad], (v) => v), InvalidDocumentError);
});

test('pathToAad and describePath', () => {
  assert.equal(pathToAad([]), ':');
  assert.equal(pathToAad(['a']), 'a:');
  assert.equal(pathToAad(['a', 'b']), 'a:b:');
  // The separator is not escaped, as in sops.
  assert.equal(pathToAad(['a:b']), 'a:b:');
  assert.equal(describePath([]), '(document root)');
  assert.equal(describePath(['stringData', 'password']), 'stringData.password');
});
