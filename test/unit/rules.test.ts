import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRe2, compileSelector, DEFAULT_RULE, pickRule, RULE_KINDS, type SelectionRule } from '../../src/document/rules.js';
import { ConflictingParametersError, RegexError } from '../../src/errors.js';

const noComments: string[][] = [[]];
const enc = async (rule: SelectionRule, path: string[]) => (await compileSelector(rule)).shouldEncrypt(path, noComments, false);

test('pickRule: none, one, empty strings ignored', () => {
  assert.equal(pickRule({}), undefined);
  assert.equal(pickRule({ encrypted_regex: '' }), undefined);
  assert.equal(pickRule({ encrypted_regex: undefined }), undefined);
  assert.deepEqual(pickRule({ encrypted_regex: '^data$' }), { kind: 'encrypted_regex', value: '^data$' });
  assert.deepEqual(pickRule({ unencrypted_suffix: '_clear', encrypted_regex: '' }), { kind: 'unencrypted_suffix', value: '_clear' });
});

test('pickRule: any two rules → ConflictingParametersError', () => {
  for (let i = 0; i < RULE_KINDS.length; i++) {
    for (let j = i + 1; j < RULE_KINDS.length; j++) {
      assert.throws(() => pickRule({ [RULE_KINDS[i]]: 'a', [RULE_KINDS[j]]: 'b' }), ConflictingParametersError, `${RULE_KINDS[i]} + ${RULE_KINDS[j]}`);
    }
  }
});

test('the default rule is unencrypted_suffix _unencrypted', async () => {
  assert.deepEqual(DEFAULT_RULE, { kind: 'unencrypted_suffix', value: '_unencrypted' });
  const selector = await compileSelector();
  assert.deepEqual(selector.rule, DEFAULT_RULE);
  assert.equal(selector.shouldEncrypt(['password'], noComments, false), true);
  assert.equal(selector.shouldEncrypt(['password_unencrypted'], noComments, false), false);
});

test('unencrypted_suffix: a suffix on any path component leaves the subtree clear', async () => {
  const rule: SelectionRule = { kind: 'unencrypted_suffix', value: '_unencrypted' };
  assert.equal(await enc(rule, ['nested_unencrypted', 'deep', 'value']), false);
  assert.equal(await enc(rule, ['a', 'b_unencrypted']), false);
  assert.equal(await enc(rule, ['a', 'b']), true);
  // A suffix, not a substring.
  assert.equal(await enc(rule, ['x_unencrypted_not']), true);
});

test('encrypted_suffix: only paths with a component ending in the suffix', async () => {
  const rule: SelectionRule = { kind: 'encrypted_suffix', value: '_secret' };
  assert.equal(await enc(rule, ['db_secret']), true);
  assert.equal(await enc(rule, ['db_secret', 'nested', 'value']), true);
  assert.equal(await enc(rule, ['db', 'password']), false);
  assert.equal(await enc(rule, ['_secret_not']), false);
  // Templates (the mac-only fixture's rule) is a plain suffix: secretTemplates matches.
  assert.equal(await enc({ kind: 'encrypted_suffix', value: 'Templates' }, ['spec', 'secretTemplates', 'name']), true);
});

test('encrypted_regex ^(data|stringData)$ encrypts everything under data, nothing else', async () => {
  const rule: SelectionRule = { kind: 'encrypted_regex', value: '^(data|stringData)$' };
  assert.equal(await enc(rule, ['data', 'password']), true);
  assert.equal(await enc(rule, ['stringData', 'nested', 'deeper']), true);
  assert.equal(await enc(rule, ['spec', 'template', 'data', 'x']), true);
  assert.equal(await enc(rule, ['metadata', 'name']), false);
  assert.equal(await enc(rule, ['apiVersion']), false);
  assert.equal(await enc(rule, ['database']), false);
  assert.equal(await enc(rule, []), false);
});

test('unencrypted_regex: any matching component leaves the value clear', async () => {
  const rule: SelectionRule = { kind: 'unencrypted_regex', value: '^(metadata|kind)$' };
  assert.equal(await enc(rule, ['metadata', 'name']), false);
  assert.equal(await enc(rule, ['kind']), false);
  assert.equal(await enc(rule, ['data', 'metadata']), false);
  assert.equal(await enc(rule, ['data', 'x']), true);
});

test('regexes are RE2 with unanchored search', async () => {
  const rule: SelectionRule = { kind: 'encrypted_regex', value: 'pass' };
  assert.equal(await enc(rule, ['mypassword']), true);
  assert.equal(await enc(rule, ['PASSWORD']), false);
  assert.equal(await enc({ kind: 'encrypted_regex', value: '^pass$' }, ['mypassword']), false);
  const matcher = await compileRe2('b+', 'test');
  assert.equal(matcher('abbbc'), true);
  assert.equal(matcher('ac'), false);
});

test('an anchored alternation of words (^(data|stringData)$) matches exactly as RE2 does', async () => {
  const { RE2JS } = await import('re2js');
  const patterns = ['^(data|stringData)$', '^(?:data|stringData|password)$', '^password$', '^(api_key|x-token|v2)$'];
  const keys = ['data', 'stringData', 'password', 'api_key', 'x-token', 'v2', 'Data', 'data\n', '\ndata', 'data ', 'mydata', 'dataX', 'string', '', 'stringData\n', 'api', 'x-token\r', 'pass'];
  for (const pattern of patterns) {
    const matcher = await compileRe2(pattern, 'encrypted_regex');
    const re2 = RE2JS.compile(pattern);
    for (const key of keys) assert.equal(matcher(key), re2.matcher(key).find(), `${pattern} on ${JSON.stringify(key)}`);
  }
  // Not words: left to RE2 (a class, a dot, a flag, a multi-line flag, an unanchored end).
  for (const pattern of ['^(data|string.ata)$', '(?m)^(data)$', '^(?i)(data)$', '^(data|stringData)', '^[d]ata$']) {
    const matcher = await compileRe2(pattern, 'encrypted_regex');
    for (const key of keys) assert.equal(matcher(key), RE2JS.compile(pattern).matcher(key).find(), `${pattern} on ${JSON.stringify(key)}`);
  }
});

test('the (?i) inline flag works as in Go', async () => {
  const rule: SelectionRule = { kind: 'encrypted_regex', value: '(?i)^password$' };
  assert.equal(await enc(rule, ['PASSWORD']), true);
  assert.equal(await enc(rule, ['Password']), true);
  assert.equal(await enc(rule, ['passwords']), false);
  assert.equal(await enc({ kind: 'unencrypted_regex', value: '(?i)PUBLIC' }, ['public_key']), false);
});

test('RE2-only syntax: \\pL classes and \\z work', async () => {
  assert.equal(await enc({ kind: 'encrypted_regex', value: '^\\pL+\\z' }, ['Ünïcode']), true);
  assert.equal(await enc({ kind: 'encrypted_regex', value: '^\\pL+\\z' }, ['abc1']), false);
});

test('look-around and back-references are rejected with RegexError', async () => {
  for (const value of ['^(?=secret)', '(?!x)y', '(?<=a)b', '(a)\\1', '[unclosed', '(?P<n']) {
    await assert.rejects(compileSelector({ kind: 'encrypted_regex', value }), RegexError, value);
    await assert.rejects(compileRe2(value, 'path_regex'), RegexError, value);
  }
});

test('encrypted_comment_regex: values after a matching comment are encrypted, the comment itself is not', async () => {
  const s = await compileSelector({ kind: 'encrypted_comment_regex', value: 'sops:enc' });
  // The matching comment line, being visited: it is the last of the stack, so it stays clear.
  assert.equal(s.shouldEncrypt([], [[' sops:enc']], true), false);
  // A value after it is encrypted.
  assert.equal(s.shouldEncrypt(['password'], [[' sops:enc']], false), true);
  // A second comment after the marker is encrypted (only the last line is skipped).
  assert.equal(s.shouldEncrypt([], [[' sops:enc', ' more']], true), true);
  // No marker: clear.
  assert.equal(s.shouldEncrypt(['password'], [[' other']], false), false);
  assert.equal(s.shouldEncrypt(['password'], [[]], false), false);
  // A marker at an outer level covers values in nested mappings.
  assert.equal(s.shouldEncrypt(['a', 'b'], [[' sops:enc'], []], false), true);
  // ...and an outer marker is not the "last line" when visiting a nested comment.
  assert.equal(s.shouldEncrypt(['a'], [[' sops:enc'], [' nested']], true), true);
  // Rule ignores paths.
  assert.equal(s.shouldEncrypt(['password_unencrypted'], [[' sops:enc']], false), true);
});

test('unencrypted_comment_regex: values (and the comment) after a matching comment stay clear', async () => {
  const s = await compileSelector({ kind: 'unencrypted_comment_regex', value: '^ *clear$' });
  assert.equal(s.shouldEncrypt(['x'], [[' clear']], false), false);
  assert.equal(s.shouldEncrypt([], [[' clear']], true), false);
  assert.equal(s.shouldEncrypt(['x'], [[' other']], false), true);
  assert.equal(s.shouldEncrypt(['x'], [[]], false), true);
  assert.equal(s.shouldEncrypt(['a', 'b'], [[' clear'], []], false), false);
  assert.equal(s.matchesUnencryptedComment(' clear'), true);
  assert.equal(s.matchesUnencryptedComment(' x'), false);
  const other = await compileSelector({ kind: 'encrypted_comment_regex', value: 'clear' });
  assert.equal(other.matchesUnencryptedComment(' clear'), false);
});

test('path rules ignore the comment stack, comment rules ignore the path', async () => {
  const s = await compileSelector({ kind: 'encrypted_regex', value: '^data$' });
  assert.equal(s.shouldEncrypt(['data'], [[' anything']], false), true);
  assert.equal(s.shouldEncrypt([], [[' data']], true), false);
});
