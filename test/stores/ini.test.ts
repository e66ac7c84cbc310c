import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decryptDocuments, verifyMac } from '../../src/crypto/tree-cipher.js';
import { ValueCipher } from '../../src/crypto/values.js';
import { lastModifiedAad, parseMetadata } from '../../src/document/metadata.js';
import { compileSelector } from '../../src/document/rules.js';
import { iniStore } from '../../src/document/stores/ini.js';
import { Comment, TreeBranch, toPlain, type TreeItem, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError } from '../../src/errors.js';
import { fixturesDir } from '../support/paths.js';

const load = (text: string) => iniStore.loadPlain(Buffer.from(text, 'utf8'))[0];
const emit = (branch: TreeBranch) => iniStore.emitPlain([branch]).toString('utf8');
const fixture = (rel: string) => readFileSync(path.join(fixturesDir(), rel));
const doc = (entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));
const section = (branch: TreeBranch, name: string) => branch.get(name) as TreeBranch;
/** Items as [key or '#comment', value] pairs, easy to compare. */
const flat = (items: TreeItem[]) => items.map((item) => (item.key instanceof Comment ? `#${item.key.value}` : [item.key, item.value]));

test('ini: the layout sops writes round-trips byte for byte', () => {
  const text = [
    '; a section comment',
    '[database]',
    'user     = admin',
    'password = s3cret',
    '; a key comment',
    'host     = db.example.com',
    '',
    '[empty]',
    '',
    '[last]',
    'k = v',
    '',
  ].join('\n');
  assert.equal(emit(load(text)), text);
});

test('ini: sections and keys keep document order; DEFAULT always comes first', () => {
  const branch = load('[z]\nb = 1\na = 2\n[a]\nx = 3\n');
  assert.deepEqual(branch.keys(), ['DEFAULT', 'z', 'a']);
  assert.deepEqual(section(branch, 'DEFAULT').items, []);
  assert.deepEqual(section(branch, 'z').keys(), ['b', 'a']);
});

test('ini: keys before the first header go to DEFAULT, written without a header', () => {
  const text = 'top   = 1\nother = 2\n\n[s]\nk = v\n';
  const branch = load(text);
  assert.deepEqual(flat(section(branch, 'DEFAULT').items), [
    ['top', '1'],
    ['other', '2'],
  ]);
  assert.equal(emit(branch), text);
  // An empty DEFAULT is not written at all.
  assert.equal(emit(doc([['DEFAULT', doc([])], ['s', doc([['k', 'v']])]])), '[s]\nk = v\n');
  assert.equal(emit(doc([['only', doc([['k', 'v']])]])), '[only]\nk = v\n');
  assert.equal(emit(new TreeBranch()), '');
});

test('ini: "=" is aligned per section on the longest key (in bytes)', () => {
  assert.equal(emit(doc([['s', doc([['a', '1'], ['long_key', '2'], ['é', '3']])]])), '[s]\na        = 1\nlong_key = 2\né       = 3\n');
});

test('ini: comments become items, as sops stores them', () => {
  const branch = load('; before section\n[s]\n# before key\n;second line\nk = v ; inline\nplain = x\n');
  assert.deepEqual(flat(section(branch, 's').items), ['#before section', ['k', 'v'], '#before key\n;second line\n; inline', ['plain', 'x']]);
  // Written back the way go-ini writes comments: before their key, one line each.
  assert.equal(emit(branch), '; before section\n[s]\n; before key\n; second line\n; inline\nk     = v\nplain = x\n');
});

test('ini: a comment that is not first in a section attaches to the key before it', () => {
  const branch = doc([['s', doc([['a', '1'], [new Comment('about a'), null], ['b', '2']])]]);
  assert.equal(emit(branch), '[s]\n; about a\na = 1\nb = 2\n');
  assert.deepEqual(flat(section(load(emit(branch)), 's').items), [['a', '1'], '#about a', ['b', '2']]);
});

test('ini: values are read as go-ini reads them', () => {
  const text = [
    '[s]',
    '  spaced   =   value with spaces   ',
    'colon: yes',
    'dq = "  keep  "',
    "sq = 'single'",
    'bq = `a;b#c`',
    'inline = v # comment',
    'triple = """line1',
    'line2"""',
    'cont = first \\',
    '   second',
    'empty =',
    '`quoted key` = 1',
  ].join('\n');
  const branch = section(load(text), 's');
  assert.deepEqual(
    branch.items.filter((item) => typeof item.key === 'string').map((item) => [item.key, item.value]),
    [
      ['spaced', 'value with spaces'],
      ['colon', 'yes'],
      ['dq', '  keep  '],
      ['sq', 'single'],
      ['bq', 'a;b#c'],
      ['inline', 'v'],
      ['triple', 'line1\nline2'],
      ['cont', 'first second'],
      ['empty', ''],
      ['quoted key', '1'],
    ],
  );
});

test('ini: tricky values survive a write and a read', () => {
  const values = ['a;b', 'x#y', '  lead', 'trail  ', 'multi\nline', 'back`tick', 'ends with \\', '"quoted"', "'single'", '"""start', '', 'a = b', 'ENC[AES256_GCM,data:YQ==,iv:x,tag:y,type:str]'];
  const branch = doc([['s', doc(values.map((value, i): [string, TreeValue] => [`k${i}`, value]))]]);
  const back = section(load(emit(branch)), 's');
  assert.deepEqual(values.map((_, i) => back.get(`k${i}`)), values);
});

test('ini: keys that need quoting survive a write and a read', () => {
  const keys = ['a=b', 'a:b', 'say "hi"', 'back`tick', '#hash', ';semi', '[bracket'];
  const branch = doc([['s', doc(keys.map((key): [string, TreeValue] => [key, 'v']))]]);
  assert.deepEqual(section(load(emit(branch)), 's').keys(), keys);
});

test('ini: CRLF input is read', () => {
  const branch = load('[s]\r\nk = v\r\n; c\r\nx = y\r\n');
  assert.deepEqual(flat(section(branch, 's').items), [['k', 'v'], ['x', 'y'], '#c']);
});

test('ini: duplicate section headers merge, as in go-ini', () => {
  const branch = load('[a]\nx = 1\n[b]\ny = 2\n[a]\nz = 3\n');
  assert.deepEqual(branch.keys(), ['DEFAULT', 'a', 'b']);
  assert.deepEqual(section(branch, 'a').keys(), ['x', 'z']);
});

test('ini: malformed input raises InvalidDocumentError naming only the line', () => {
  const cases: [string, number][] = [
    ['[s]\nk = v\n[unclosed hunter2\n', 3],
    ['[s]\nhunter2\n', 2],
    ['[s]\n= hunter2\n', 2],
    ['[s]\nk = hunter2\nk = again\n', 3],
    ['[s]\nk = """hunter2\nno end\n', 2],
    ['[]\nk = hunter2\n', 1],
    ['[s]\n`hunter2 = 1\n', 2],
  ];
  for (const [text, line] of cases) {
    assert.throws(() => load(text), InvalidDocumentError, text);
    assert.throws(() => load(text), (error: Error) => error.message.includes(`line ${line}`) && !error.message.includes('hunter2'), text);
  }
});

test('ini: trees that INI cannot hold are refused', () => {
  assert.throws(() => emit(doc([['s', 'not a section']])), InvalidDocumentError);
  assert.throws(() => emit(doc([['s', doc([['nested', doc([['a', 'b']])]])]])), InvalidDocumentError);
  assert.throws(() => emit(doc([['s', doc([['list', ['a']]])]])), InvalidDocumentError);
  assert.throws(() => emit(doc([['s', doc([['', 'v']])]])), InvalidDocumentError);
  assert.throws(() => emit(doc([['s', doc([['a\nb', 'v']])]])), InvalidDocumentError);
  assert.throws(() => emit(doc([['', doc([])]])), InvalidDocumentError);
});

test('ini: hasMetadata is a [sops] section', () => {
  assert.equal(iniStore.hasMetadata([load('[s]\nsops = 1\n')]), false);
  assert.equal(iniStore.hasMetadata([load('[sops]\nversion = 3\n')]), true);
});

// ---- metadata against real files ---------------------------------------------------

test('ini fixture: a sops 3.13.2 file round-trips byte for byte', () => {
  const input = fixture('getsops-sops/functional-tests/res/format.enc.ini');
  const { documents, metadata } = iniStore.loadEncrypted(input);
  assert.deepEqual(documents[0].keys(), ['DEFAULT', 'foo']);
  assert.equal(metadata!.version, '3.13.2');
  const pgp = metadata!.pgp as Record<string, string>[];
  assert.match(pgp[0].enc, /^-----BEGIN PGP MESSAGE-----\n\n[\s\S]+\n-----END PGP MESSAGE-----$/);
  assert.equal(iniStore.emitEncrypted(documents, metadata!).toString(), input.toString());
});

test('ini fixture: the 3.13.1 """ multi-line form reads as the escaped form', () => {
  const raw = iniStore.loadEncrypted(fixture('getsops-sops/functional-tests/res/format-2.enc.ini'));
  const pgp = raw.metadata!.pgp as Record<string, string>[];
  assert.match(pgp[0].enc, /^-----BEGIN PGP MESSAGE-----\n\nwcBMAyUpShfNkFB[\s\S]+=j3Rn\n-----END PGP MESSAGE-----$/);
  // Written again, the newlines are escaped as sops 3.13.2 does, and read back the same.
  const out = iniStore.emitEncrypted(raw.documents, raw.metadata!).toString();
  assert.ok(!out.includes('"""'));
  assert.match(out, /^pgp__list_0__map_enc {8}= -----BEGIN PGP MESSAGE-----\\n\\nwcBM/m);
  assert.deepEqual(iniStore.loadEncrypted(Buffer.from(out)).metadata, raw.metadata);
});

test('ini fixture: an older file with an encrypted section comment', () => {
  const input = fixture('Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.ini');
  const { documents, metadata } = iniStore.loadEncrypted(input);
  const welcome = section(documents[0], 'Welcome!');
  assert.ok(welcome.items[0].key instanceof Comment);
  assert.match((welcome.items[0].key as Comment).value, /^ENC\[AES256_GCM,.*type:comment\]$/);
  assert.deepEqual(welcome.keys(), ['hello', 'example_key', 'never_gonna']);
  const pgp = metadata!.pgp as Record<string, string>[];
  assert.deepEqual(
    pgp.map((entry) => entry.fp),
    ['7FB89715AADA920D65D25E63F9BA9DEBD03F57C0', '2504791468B153B8A3963CC97BA53D1919C5DFD4'],
  );
  // The data part is written exactly as sops wrote it (only the metadata order differs: sops 3.7 used Go map order).
  const text = input.toString();
  assert.equal(iniStore.emitPlain(documents).toString(), text.slice(0, text.indexOf('\n[sops]')));
  const again = iniStore.loadEncrypted(iniStore.emitEncrypted(documents, metadata!));
  assert.deepEqual(again.metadata, metadata);
  assert.deepEqual(again.documents, documents);
});

test('ini fixture: example.ini keeps every section and its metadata', () => {
  const { documents, metadata } = iniStore.loadEncrypted(fixture('getsops-sops/example.ini'));
  assert.deepEqual(documents[0].keys(), ['DEFAULT', 'name', 'address', 'phoneNumbers', 'not private']);
  assert.equal(section(documents[0], 'not private').get('notsecret_unencrypted'), 'hi there!');
  assert.equal((metadata!.pgp as unknown[]).length, 2);
  assert.equal(metadata!.unencrypted_suffix, '_unencrypted');
});

test('ini metadata: flattened below [sops], newlines as \\n, other scalars as strings', () => {
  const metadata = { age: [{ enc: 'a\nb\n', recipient: 'age1x' }], lastmodified: '2026-01-01T00:00:00Z', mac_only_encrypted: true, shamir_threshold: 2, version: '3.13.2' };
  const out = iniStore.emitEncrypted([doc([['s', doc([['k', 'v']])]])], metadata).toString();
  assert.equal(
    out,
    [
      '[s]',
      'k = v',
      '',
      '[sops]',
      'age__list_0__map_enc       = a\\nb\\n',
      'age__list_0__map_recipient = age1x',
      'lastmodified               = 2026-01-01T00:00:00Z',
      'mac_only_encrypted         = true',
      'shamir_threshold           = 2',
      'version                    = 3.13.2',
      '',
    ].join('\n'),
  );
  const back = iniStore.loadEncrypted(Buffer.from(out));
  assert.deepEqual(back.metadata, { ...metadata, mac_only_encrypted: 'true', shamir_threshold: '2' });
  assert.deepEqual(back.documents[0].keys(), ['DEFAULT', 's']);
});

test('ini metadata: absent, or clashing with a data section', () => {
  assert.equal(iniStore.loadEncrypted(Buffer.from('[s]\nk = v\n')).metadata, undefined);
  assert.throws(() => iniStore.emitEncrypted([doc([['sops', doc([])]])], { version: '3' }), InvalidDocumentError);
});

// ---- the tree sops MACs: decrypt real INI files and verify their MAC -----------------

const hasGpg = spawnSync('gpg', ['--version']).status === 0;

/** The data key, unwrapped by the real gpg from the file's first pgp entry the key opens. */
function pgpDataKey(entries: string[], keyFile: string): Buffer {
  const home = mkdtempSync(path.join(tmpdir(), 'wax-ini-gnupg-'));
  const env = { ...process.env, GNUPGHOME: home };
  const base = ['--batch', '--quiet', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];
  try {
    spawnSync('gpg', [...base, '--import', keyFile], { env });
    for (const enc of entries) {
      const result = spawnSync('gpg', [...base, '--decrypt'], { env, input: enc });
      if (result.status === 0) return result.stdout;
    }
    throw new Error('no pgp entry could be unwrapped');
  } finally {
    spawnSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  }
}

const MAC_CASES: [string, string, unknown][] = [
  [
    'Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.ini',
    'Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/key.asc',
    { DEFAULT: {}, 'Welcome!': { hello: 'Welcome to SOPS! Edit this file as you please!', example_key: 'example_value', never_gonna: 'give you up' } },
  ],
  ['getsops-sops/functional-tests/res/format.enc.ini', 'getsops-sops/pgp/sops_functional_tests_key.asc', { DEFAULT: {}, foo: { bar: 'baz' } }],
  ['getsops-sops/functional-tests/res/format-2.enc.ini', 'getsops-sops/pgp/sops_functional_tests_key.asc', { DEFAULT: {}, foo: { bar: 'baz' } }],
];

for (const [rel, keyRel, expected] of MAC_CASES) {
  test(`ini fixture: ${rel} decrypts and its MAC verifies`, { skip: hasGpg ? false : 'gpg CLI not installed' }, async () => {
    const { documents, metadata } = iniStore.loadEncrypted(fixture(rel));
    const meta = parseMetadata(metadata!);
    const cipher = new ValueCipher(pgpDataKey(meta.keyGroups[0].map((entry) => String(entry.fields.enc)), path.join(fixturesDir(), keyRel)));
    const selector = await compileSelector(meta.rule);
    const plain = decryptDocuments(documents, cipher, { selector, macOnlyEncrypted: meta.macOnlyEncrypted });
    // Throws unless the tree (DEFAULT first, comment positions, values) is the one sops hashed.
    verifyMac(meta.mac, plain.mac, cipher, lastModifiedAad(meta.lastModified));
    assert.deepEqual(toPlain(plain.documents[0]), expected);
  });
}

test('ini fixture: the encrypted section comment decrypts under its section path', { skip: hasGpg ? false : 'gpg CLI not installed' }, async () => {
  const { documents, metadata } = iniStore.loadEncrypted(fixture(MAC_CASES[0][0]));
  const meta = parseMetadata(metadata!);
  const cipher = new ValueCipher(pgpDataKey(meta.keyGroups[0].map((entry) => String(entry.fields.enc)), path.join(fixturesDir(), MAC_CASES[0][1])));
  const plain = decryptDocuments(documents, cipher, { selector: await compileSelector(meta.rule), macOnlyEncrypted: false });
  assert.equal(emit(plain.documents[0]).split('\n')[0], '; This is an example file.');
});
