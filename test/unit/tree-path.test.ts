import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTreePath, getAtPath, parseTreePath, setAtPath, unsetAtPath } from '../../src/document/tree-path.js';
import { Comment, fromPlain, toPlain, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { TreePathError } from '../../src/errors.js';

const tree = () =>
  fromPlain({
    a: { b: 'x', list: ['zero', 'one', { deep: 'd' }] },
    top: 1,
  }) as TreeBranch;

test('parse: double-quoted keys and indices', () => {
  assert.deepEqual(parseTreePath('["a"]["b"][0]'), ['a', 'b', 0]);
  assert.deepEqual(parseTreePath('["a"]'), ['a']);
  assert.deepEqual(parseTreePath('[12]'), [12]);
});

test("parse: single-quoted keys, spaces around components", () => {
  assert.deepEqual(parseTreePath("['a']['b c']"), ['a', 'b c']);
  assert.deepEqual(parseTreePath(' [ "a" ] [ 1 ] '), ['a', 1]);
  assert.deepEqual(parseTreePath('["a"][\'b\']'), ['a', 'b']);
});

test('parse: escapes inside quoted keys', () => {
  assert.deepEqual(parseTreePath('["a\\"b"]'), ['a"b']);
  assert.deepEqual(parseTreePath("['it\\'s']"), ["it's"]);
  assert.deepEqual(parseTreePath('["back\\\\slash"]'), ['back\\slash']);
  assert.deepEqual(parseTreePath('["with]bracket"]'), ['with]bracket']);
  assert.deepEqual(parseTreePath('["0"]'), ['0']);
  assert.deepEqual(parseTreePath('[""]'), ['']);
});

test('parse: invalid paths → TreePathError', () => {
  for (const bad of ['', '   ', 'a', '["a"', '["a"]b', '[a]', '[-1]', '[1.5]', '["a"]]', '["a]', "['a\"]", '["a"]["b"', '.a.b', '[]']) {
    assert.throws(() => parseTreePath(bad), TreePathError, JSON.stringify(bad));
  }
});

test('formatTreePath round-trips parseTreePath', () => {
  for (const path of [['a', 'b', 0], ['with "quotes"'], [3, 'x'], ['back\\slash']] as (string | number)[][]) {
    assert.deepEqual(parseTreePath(formatTreePath(path)), path);
  }
  assert.equal(formatTreePath(['a', 0]), '["a"][0]');
});

test('get: mappings and sequences', () => {
  const t = tree();
  assert.equal(getAtPath(t, ['a', 'b']), 'x');
  assert.equal(getAtPath(t, ['a', 'list', 1]), 'one');
  assert.equal(getAtPath(t, ['a', 'list', 2, 'deep']), 'd');
  assert.equal(getAtPath(t, ['top']), 1n);
  assert.deepEqual(toPlain(getAtPath(t, ['a']) as TreeValue), { b: 'x', list: ['zero', 'one', { deep: 'd' }] });
});

test('get: missing keys, out-of-range indices and type mismatches → TreePathError', () => {
  const t = tree();
  for (const path of [['nope'], ['a', 'nope'], ['a', 'list', 3], ['a', 'b', 0], ['a', 0], ['top', 'x'], ['a', 'list', 'x']] as (string | number)[][]) {
    assert.throws(() => getAtPath(t, path), TreePathError, JSON.stringify(path));
  }
});

test('get: comments in a sequence are not counted as elements', () => {
  const t = new TreeBranch([{ key: 'l', value: [new Comment(' c'), 'first', new Comment(' d'), 'second'] }]);
  assert.equal(getAtPath(t, ['l', 0]), 'first');
  assert.equal(getAtPath(t, ['l', 1]), 'second');
  assert.throws(() => getAtPath(t, ['l', 2]), TreePathError);
});

test('set: replaces an existing value in place, keeping key order', () => {
  const t = tree();
  setAtPath(t, ['a', 'b'], 'new');
  assert.equal(getAtPath(t, ['a', 'b']), 'new');
  assert.deepEqual((getAtPath(t, ['a']) as TreeBranch).keys(), ['b', 'list']);
  setAtPath(t, ['top'], fromPlain({ m: 1 }));
  assert.deepEqual(toPlain(getAtPath(t, ['top'])), { m: 1 });
  assert.deepEqual(t.keys(), ['a', 'top']);
});

test('set: creates intermediate mappings (and lists for index components)', () => {
  const t = new TreeBranch();
  setAtPath(t, ['x', 'y', 'z'], 'v');
  assert.deepEqual(toPlain(t), { x: { y: { z: 'v' } } });
  setAtPath(t, ['arr', 0, 'k'], 'w');
  assert.deepEqual(toPlain(t), { x: { y: { z: 'v' } }, arr: [{ k: 'w' }] });
  setAtPath(t, ['nested', 0, 0], 'n');
  assert.deepEqual(toPlain(t.get('nested')!), [['n']]);
  // A null on the way is replaced by a mapping.
  const withNull = fromPlain({ a: null }) as TreeBranch;
  setAtPath(withNull, ['a', 'b'], 'c');
  assert.deepEqual(toPlain(withNull), { a: { b: 'c' } });
});

test('set: an index equal to the length appends; existing indices replace', () => {
  const t = tree();
  setAtPath(t, ['a', 'list', 3], 'three');
  setAtPath(t, ['a', 'list', 0], 'ZERO');
  assert.deepEqual(toPlain(getAtPath(t, ['a', 'list'])), ['ZERO', 'one', { deep: 'd' }, 'three']);
  setAtPath(t, ['a', 'list', 2, 'deep'], 'D');
  assert.equal(getAtPath(t, ['a', 'list', 2, 'deep']), 'D');
});

test('set: indices skip comments', () => {
  const t = new TreeBranch([{ key: 'l', value: [new Comment(' c'), 'first'] }]);
  setAtPath(t, ['l', 0], 'changed');
  assert.deepEqual(t.get('l'), [new Comment(' c'), 'changed']);
  setAtPath(t, ['l', 1], 'appended');
  assert.deepEqual(t.get('l'), [new Comment(' c'), 'changed', 'appended']);
});

test('set: impossible paths → TreePathError', () => {
  const t = tree();
  assert.throws(() => setAtPath(t, ['a', 'list', 5], 'x'), TreePathError);
  assert.throws(() => setAtPath(t, ['a', 'b', 'c'], 'x'), TreePathError);
  assert.throws(() => setAtPath(t, ['a', 0], 'x'), TreePathError);
  assert.throws(() => setAtPath(t, ['a', 'list', 'k'], 'x'), TreePathError);
  assert.deepEqual(toPlain(t), toPlain(tree()));
});

test('unset: removes keys and elements, false when absent', () => {
  const t = tree();
  assert.equal(unsetAtPath(t, ['a', 'list', 1]), true);
  assert.deepEqual(toPlain(getAtPath(t, ['a', 'list'])), ['zero', { deep: 'd' }]);
  assert.equal(unsetAtPath(t, ['a', 'list', 1, 'deep']), true);
  assert.deepEqual(toPlain(getAtPath(t, ['a', 'list'])), ['zero', {}]);
  assert.equal(unsetAtPath(t, ['top']), true);
  assert.deepEqual(t.keys(), ['a']);
  assert.equal(unsetAtPath(t, ['top']), false);
  assert.equal(unsetAtPath(t, ['missing', 'deeper']), false);
  assert.equal(unsetAtPath(t, ['a', 'list', 9]), false);
  assert.equal(unsetAtPath(t, ['a', 'b', 0]), false);
  assert.equal(unsetAtPath(t, ['a', 'list', 'k']), false);
  assert.equal(unsetAtPath(t, ['a', 0]), false);
});

test('unset: an index skips comments and leaves them in place', () => {
  const t = new TreeBranch([{ key: 'l', value: [new Comment(' c'), 'first', 'second'] }]);
  assert.equal(unsetAtPath(t, ['l', 0]), true);
  assert.deepEqual(t.get('l'), [new Comment(' c'), 'second']);
});
