import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decryptDocuments, encryptDocuments, encryptMac, verifyMac } from '../../src/crypto/tree-cipher.js';
import { ValueCipher } from '../../src/crypto/values.js';
import { compileSelector, type SelectionRule } from '../../src/document/rules.js';
import { Comment, SopsTime, TreeBranch, toPlain, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError, MacMismatchError, MalformedValueError, ValueAuthenticationError } from '../../src/errors.js';

const KEY = Buffer.alloc(32, 3);
const map = (...entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));
const c = (text: string) => new Comment(text);
const ENC = /^ENC\[AES256_GCM,data:[^,]+,iv:[^,]+,tag:[^,]+,type:[a-z]+\]$/;

async function options(rule?: SelectionRule, macOnlyEncrypted = false) {
  return { selector: await compileSelector(rule), macOnlyEncrypted };
}

function sha512Hex(parts: (string | Buffer)[], seed?: Buffer): string {
  const hash = createHash('sha512');
  if (seed) hash.update(seed);
  for (const part of parts) hash.update(part);
  return hash.digest('hex').toUpperCase();
}

/** Decrypts one stored value with a fresh cipher at the given AAD (throws if the AAD is wrong). */
const open = (text: string, aad: string) => new ValueCipher(KEY).decrypt(text, aad, 'test');

test('default rule: every value and comment encrypted, with AAD = mapping path', async () => {
  const doc = map(
    [c(' root comment'), null],
    ['stringData', map(['key', 'secret'], [c(' nested comment'), null], ['port', 8080n])],
    ['spec', map(['secretTemplates', [map(['name', 'tmpl']), map(['stringData', map(['token', 'tok'])])]])],
    ['a_list', ['x', c(' in list'), 'y']],
    ['flag', true],
    ['ratio', 0.5],
    ['when', new SopsTime('2024-01-02T00:00:00Z')],
    ['nothing', null],
    ['empty', ''],
    ['clear_unencrypted', 'visible'],
  );
  const { documents } = encryptDocuments([doc], new ValueCipher(KEY), await options());
  const out = documents[0];
  const rootComment = out.items[0].key as Comment;
  assert.match(rootComment.value, ENC);
  assert.deepEqual(open(rootComment.value, ':'), new Comment(' root comment'));
  const stringData = out.get('stringData') as TreeBranch;
  assert.equal(open(stringData.get('key') as string, 'stringData:key:'), 'secret');
  assert.deepEqual(open((stringData.items[1].key as Comment).value, 'stringData:'), new Comment(' nested comment'));
  assert.equal(open(stringData.get('port') as string, 'stringData:port:'), 8080n);
  const templates = ((out.get('spec') as TreeBranch).get('secretTemplates') as TreeValue[]) as TreeBranch[];
  assert.equal(open(templates[0].get('name') as string, 'spec:secretTemplates:name:'), 'tmpl');
  assert.equal(open((templates[1].get('stringData') as TreeBranch).get('token') as string, 'spec:secretTemplates:stringData:token:'), 'tok');
  const list = out.get('a_list') as TreeValue[];
  assert.equal(open(list[0] as string, 'a_list:'), 'x');
  assert.deepEqual(open((list[1] as Comment).value, 'a_list:'), new Comment(' in list'));
  assert.equal(open(list[2] as string, 'a_list:'), 'y');
  assert.equal(open(out.get('flag') as string, 'flag:'), true);
  assert.equal(open(out.get('ratio') as string, 'ratio:'), 0.5);
  assert.deepEqual(open(out.get('when') as string, 'when:'), new SopsTime('2024-01-02T00:00:00Z'));
  assert.equal(out.get('nothing'), null);
  assert.equal(out.get('empty'), '');
  assert.equal(out.get('clear_unencrypted'), 'visible');
  // Keys are never encrypted, and the input tree is untouched.
  assert.deepEqual(out.keys(), doc.keys());
  assert.equal((doc.get('stringData') as TreeBranch).get('key'), 'secret');
});

test('a value moved to another key fails to decrypt (AAD binding through the tree)', async () => {
  const { documents } = encryptDocuments([map(['a', 'secret'], ['b', 'other'])], new ValueCipher(KEY), await options());
  const swapped = map(['a', documents[0].get('b')!], ['b', documents[0].get('a')!]);
  const o = await options();
  assert.throws(() => decryptDocuments([swapped], new ValueCipher(KEY), o), ValueAuthenticationError);
});

test('MAC = uppercase hex SHA-512 of Go-serialised leaves in walk order (nulls and comments excluded)', async () => {
  const doc = map(
    [c(' comment'), null],
    ['s', 'héllo'],
    ['i', 42n],
    ['f', 1e21],
    ['b', false],
    ['n', null],
    ['t', new SopsTime('2024-01-02T03:04:05Z')],
    ['l', ['x', c(' c'), 7n]],
    ['e', ''],
    ['m', map(['clear_unencrypted', 'plain'], ['deep', true])],
  );
  const second = map(['z', 'last']);
  const expected = sha512Hex(['héllo', '42', '1000000000000000000000', 'False', '2024-01-02T03:04:05Z', 'x', '7', '', 'plain', 'True', 'last']);
  const { documents, mac } = encryptDocuments([doc, second], new ValueCipher(KEY), await options());
  assert.equal(mac, expected);
  assert.match(mac, /^[0-9A-F]{128}$/);
  const decrypted = decryptDocuments(documents, new ValueCipher(KEY), await options());
  assert.equal(decrypted.mac, expected);
  assert.deepEqual(toPlain(decrypted.documents[0]), toPlain(doc));
  assert.deepEqual(toPlain(decrypted.documents[1]), toPlain(second));
});

test('MAC depends on order: swapping two values changes it', async () => {
  const o = await options();
  const a = encryptDocuments([map(['a', 'x'], ['b', 'y'])], new ValueCipher(KEY), o).mac;
  const b = encryptDocuments([map(['b', 'y'], ['a', 'x'])], new ValueCipher(KEY), o).mac;
  assert.notEqual(a, b);
});

test('mac_only_encrypted: seeded with sha256("sops"), only encrypted leaves hashed', async () => {
  const seed = createHash('sha256').update('sops').digest();
  assert.equal(seed.toString('hex'), '8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69');
  const doc = map(['apiVersion', 'v1'], ['metadata', map(['name', 'x'])], ['data', map(['password', 'pw'], ['n', 5n])]);
  const rule: SelectionRule = { kind: 'encrypted_regex', value: '^data$' };
  const only = encryptDocuments([doc], new ValueCipher(KEY), await options(rule, true));
  assert.equal(only.mac, sha512Hex(['pw', '5'], seed));
  const all = encryptDocuments([doc], new ValueCipher(KEY), await options(rule, false));
  assert.equal(all.mac, sha512Hex(['v1', 'x', 'pw', '5']));
  // Clear values can change without changing the mac_only_encrypted MAC.
  const edited = map(['apiVersion', 'v2'], ['metadata', map(['name', 'y'])], ['data', map(['password', 'pw'], ['n', 5n])]);
  assert.equal(encryptDocuments([edited], new ValueCipher(KEY), await options(rule, true)).mac, only.mac);
  assert.equal(decryptDocuments(only.documents, new ValueCipher(KEY), await options(rule, true)).mac, only.mac);
  // Nothing encrypted at all: the MAC is the hash of the seed alone.
  assert.equal(encryptDocuments([map(['a', 'b'])], new ValueCipher(KEY), await options(rule, true)).mac, sha512Hex([], seed));
});

test('encrypted_regex: only the selected subtree is encrypted', async () => {
  const doc = map(['apiVersion', 'v1'], ['data', map(['a', 'A'], ['nested', map(['b', 'B'])])], ['other', 'O']);
  const { documents } = encryptDocuments([doc], new ValueCipher(KEY), await options({ kind: 'encrypted_regex', value: '^(data|stringData)$' }));
  const out = documents[0];
  assert.equal(out.get('apiVersion'), 'v1');
  assert.equal(out.get('other'), 'O');
  assert.match((out.get('data') as TreeBranch).get('a') as string, ENC);
  assert.match(((out.get('data') as TreeBranch).get('nested') as TreeBranch).get('b') as string, ENC);
});

test('_unencrypted on a parent leaves the whole subtree clear', async () => {
  const doc = map(['nested_unencrypted', map(['deep', map(['x', 'X'])], ['list', ['L']])], ['secret', 'S']);
  const { documents } = encryptDocuments([doc], new ValueCipher(KEY), await options());
  assert.deepEqual(toPlain(documents[0].get('nested_unencrypted')!), { deep: { x: 'X' }, list: ['L'] });
  assert.match(documents[0].get('secret') as string, ENC);
});

test('encrypted_regex "." leaves only top-level comments clear', async () => {
  const doc = map([c(' top'), null], ['a', map([c(' nested'), null], ['b', 'B'])]);
  const { documents } = encryptDocuments([doc], new ValueCipher(KEY), await options({ kind: 'encrypted_regex', value: '.' }));
  assert.equal((documents[0].items[0].key as Comment).value, ' top');
  assert.match(((documents[0].get('a') as TreeBranch).items[0].key as Comment).value, ENC);
});

test('encrypted_comment_regex: the marker stays clear, the following values are encrypted, the stack resets', async () => {
  const doc = map(
    ['before', 'clear1'],
    [c(' sops:enc'), null],
    [c(' second line'), null],
    ['secret', 'S'],
    ['after', 'clear2'],
    ['list', [c(' sops:enc'), 'L1', 'L2']],
  );
  const { documents, mac } = encryptDocuments([doc], new ValueCipher(KEY), await options({ kind: 'encrypted_comment_regex', value: 'sops:enc' }, true));
  const out = documents[0];
  assert.equal(out.get('before'), 'clear1');
  assert.equal((out.items[1].key as Comment).value, ' sops:enc');
  assert.match((out.items[2].key as Comment).value, ENC);
  assert.match(out.get('secret') as string, ENC);
  assert.equal(out.get('after'), 'clear2');
  const list = out.get('list') as TreeValue[];
  assert.equal((list[0] as Comment).value, ' sops:enc');
  assert.match(list[1] as string, ENC);
  assert.equal(list[2], 'L2');
  const seed = createHash('sha256').update('sops').digest();
  assert.equal(mac, sha512Hex(['S', 'L1'], seed));
  const back = decryptDocuments(documents, new ValueCipher(KEY), await options({ kind: 'encrypted_comment_regex', value: 'sops:enc' }, true));
  assert.equal(back.mac, mac);
  assert.deepEqual(toPlain(back.documents[0]), toPlain(doc));
  assert.equal((back.documents[0].items[2].key as Comment).value, ' second line');
});

test('unencrypted_comment_regex: values after a matching comment stay clear, the next ones are encrypted', async () => {
  const doc = map([c(' sops:clear'), null], ['shown', 'visible'], ['hidden', 'H'], ['nested', map([c(' sops:clear'), null], ['x', 'X'], ['y', 'Y'])]);
  const rule: SelectionRule = { kind: 'unencrypted_comment_regex', value: 'sops:clear' };
  const { documents } = encryptDocuments([doc], new ValueCipher(KEY), await options(rule));
  const out = documents[0];
  assert.equal((out.items[0].key as Comment).value, ' sops:clear');
  assert.equal(out.get('shown'), 'visible');
  assert.match(out.get('hidden') as string, ENC);
  const nested = out.get('nested') as TreeBranch;
  assert.equal(nested.get('x'), 'X');
  assert.match(nested.get('y') as string, ENC);
});

test('an encrypted comment that would match unencrypted_comment_regex → InvalidDocumentError', async () => {
  const doc = map([c(' plain'), null], ['k', 'v']);
  await assert.rejects(async () => encryptDocuments([doc], new ValueCipher(KEY), await options({ kind: 'unencrypted_comment_regex', value: 'AES256' })), InvalidDocumentError);
});

test('decrypt: a clear value where an encrypted one is expected → MalformedValueError', async () => {
  const o = await options();
  assert.throws(() => decryptDocuments([map(['password', 'not-encrypted'])], new ValueCipher(KEY), o), MalformedValueError);
  assert.throws(() => decryptDocuments([map(['port', 8080n])], new ValueCipher(KEY), o), MalformedValueError);
});

test('decrypt: a comment that is not a sops value is kept as it is', async () => {
  const doc = map([c(' legacy clear comment'), null], [c(' ENC[AES256_GCM,data:broken]'), null], ['k', new ValueCipher(KEY).encrypt('v', 'k:')]);
  const back = decryptDocuments([doc], new ValueCipher(KEY), await options());
  assert.equal((back.documents[0].items[0].key as Comment).value, ' legacy clear comment');
  assert.equal((back.documents[0].items[1].key as Comment).value, ' ENC[AES256_GCM,data:broken]');
  assert.equal(back.documents[0].get('k'), 'v');
});

test('verifyMac: a correct MAC passes', async () => {
  const cipher = new ValueCipher(KEY);
  const { documents, mac } = encryptDocuments([map(['a', 'x'])], cipher, await options());
  const stored = encryptMac(mac, cipher, '2024-01-02T03:04:05Z');
  assert.equal(new ValueCipher(KEY).decrypt(stored, '2024-01-02T03:04:05Z', 'sops.mac'), mac);
  const computed = decryptDocuments(documents, new ValueCipher(KEY), await options()).mac;
  verifyMac(stored, computed, new ValueCipher(KEY), '2024-01-02T03:04:05Z');
});

test('verifyMac: no MAC, a changed value or a changed lastmodified → MacMismatchError', async () => {
  const cipher = new ValueCipher(KEY);
  const o = await options({ kind: 'encrypted_regex', value: '^secret$' });
  const { documents, mac } = encryptDocuments([map(['secret', 'x'], ['clear', 'c'])], cipher, o);
  const lastModified = '2024-01-02T03:04:05Z';
  const stored = encryptMac(mac, cipher, lastModified);
  assert.throws(() => verifyMac('', mac, new ValueCipher(KEY), lastModified), MacMismatchError);
  const tampered = map(['secret', documents[0].get('secret')!], ['clear', 'changed']);
  const tamperedMac = decryptDocuments([tampered], new ValueCipher(KEY), o).mac;
  assert.notEqual(tamperedMac, mac);
  assert.throws(() => verifyMac(stored, tamperedMac, new ValueCipher(KEY), lastModified), MacMismatchError);
  assert.throws(() => verifyMac(stored, mac, new ValueCipher(KEY), '2024-01-02T03:04:06Z'), MacMismatchError);
  assert.throws(() => verifyMac(stored, mac, new ValueCipher(Buffer.alloc(32, 9)), lastModified), MacMismatchError);
  assert.throws(() => verifyMac('garbage', mac, new ValueCipher(KEY), lastModified), MacMismatchError);
});

test('toPlain keeps a key named __proto__ as data (it must not become the prototype or vanish)', () => {
  const doc = new TreeBranch([
    { key: '__proto__', value: new TreeBranch([{ key: 'polluted', value: 'yes' }]) },
    { key: 'plain', value: '__proto__' },
  ]);
  const plain = toPlain(doc) as Record<string, unknown>;
  assert.deepEqual(Object.keys(plain), ['__proto__', 'plain']);
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
  assert.equal((plain as { polluted?: unknown }).polluted, undefined);
  assert.equal(JSON.stringify(plain), '{"__proto__":{"polluted":"yes"},"plain":"__proto__"}');
});
