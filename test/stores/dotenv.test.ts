import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dotenvStore, flattenMetadata, unflattenMetadata } from '../../src/document/stores/dotenv.js';
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { InvalidDocumentError, MetadataError } from '../../src/errors.js';
import { fixturesDir } from '../support/paths.js';

const load = (text: string) => dotenvStore.loadPlain(Buffer.from(text, 'utf8'))[0];
const emit = (branch: TreeBranch) => dotenvStore.emitPlain([branch]).toString('utf8');
const fixture = (rel: string) => readFileSync(path.join(fixturesDir(), rel));
const doc = (entries: [string | Comment, TreeValue][]) => new TreeBranch(entries.map(([key, value]) => ({ key, value })));

test('dotenv: canonical input round-trips byte for byte', () => {
  const text = '#comment\nA=1\nB=two words\nEMPTY=\nURL=https://x/?a=b&c=d\n# another\n';
  assert.equal(emit(load(text)), text);
});

test('dotenv: keys keep document order', () => {
  assert.deepEqual(load('Z=1\nA=2\nM=3\n').keys(), ['Z', 'A', 'M']);
});

test('dotenv: split at the first "=", nothing trimmed or unquoted', () => {
  const branch = load('foo =  bar\nK=a=b\nQ="quoted"\nexport E=1\n S= x \n=novalue\n');
  assert.deepEqual(
    branch.items.map((item) => [item.key, item.value]),
    [
      ['foo ', '  bar'],
      ['K', 'a=b'],
      ['Q', '"quoted"'],
      ['export E', '1'],
      [' S', ' x '],
      ['', 'novalue'],
    ],
  );
  assert.equal(emit(branch), 'foo =  bar\nK=a=b\nQ="quoted"\nexport E=1\n S= x \n=novalue\n');
});

test('dotenv: \\n in a value is a newline, written back as the two characters', () => {
  const branch = load('KEY=line1\\nline2\\n\n');
  assert.equal(branch.get('KEY'), 'line1\nline2\n');
  assert.equal(emit(branch), 'KEY=line1\\nline2\\n\n');
  assert.equal(emit(doc([['K', 'a\nb']])), 'K=a\\nb\n');
});

test('dotenv: CRLF lines keep their \\r in the value, and round-trip', () => {
  const text = 'A=1\r\n#c\r\nB=2\r\n';
  const branch = load(text);
  assert.equal(branch.get('A'), '1\r');
  assert.equal(branch.get('B'), '2\r');
  assert.equal((branch.items[1].key as Comment).value, 'c\r');
  assert.equal(emit(branch), text);
});

test('dotenv: comments are items holding the text after #', () => {
  const branch = load('# first\nA=1\n#second\n');
  assert.ok(branch.items[0].key instanceof Comment);
  assert.equal((branch.items[0].key as Comment).value, ' first');
  assert.equal((branch.items[2].key as Comment).value, 'second');
  assert.equal(branch.items[0].value, null);
  // Only a leading # makes a comment.
  assert.equal(load('A=1 # not a comment\n').get('A'), '1 # not a comment');
});

test('dotenv: empty lines are dropped, a missing final newline is added', () => {
  const branch = load('\n\nA=1\n\n\nB=2');
  assert.deepEqual(branch.keys(), ['A', 'B']);
  assert.equal(emit(branch), 'A=1\nB=2\n');
  assert.equal(emit(load('')), '');
});

test('dotenv: a line without "=" names only its line number', () => {
  assert.throws(() => load('A=1\nhunter2\n'), InvalidDocumentError);
  assert.throws(() => load('A=1\nhunter2\n'), (error: Error) => /line 2\b/.test(error.message) && !error.message.includes('hunter2'));
  // A CRLF blank line is "\r", which sops rejects too.
  assert.throws(() => load('A=1\r\n\r\nB=2\r\n'), InvalidDocumentError);
});

test('dotenv: nested values cannot be written', () => {
  assert.throws(() => emit(doc([['A', doc([['b', 'c']])]])), InvalidDocumentError);
  assert.throws(() => emit(doc([['A', ['x']]])), InvalidDocumentError);
});

test('dotenv: keys that could not be read back are refused', () => {
  for (const key of ['a=b', 'a\nb', '#a']) assert.throws(() => emit(doc([[key, 'v']])), InvalidDocumentError);
});

test('dotenv: other scalars are written as their sops plaintext form', () => {
  const branch = doc([
    ['I', 5n],
    ['F', 1.5],
    ['B', true],
    ['T', new SopsTime('2024-01-01T00:00:00Z')],
    ['N', null],
    ['U', new Uint8Array(Buffer.from('bytes'))],
  ]);
  assert.equal(emit(branch), 'I=5\nF=1.5\nB=True\nT=2024-01-01T00:00:00Z\nN=\nU=bytes\n');
});

test('dotenv: multi-line comments stay comments', () => {
  assert.equal(emit(doc([[new Comment(' a\n b'), null]])), '# a\n# b\n');
});

test('dotenv: hasMetadata is any key starting with sops_', () => {
  assert.equal(dotenvStore.hasMetadata([load('A=1\nsops=x\nSOPS_X=1\n')]), false);
  assert.equal(dotenvStore.hasMetadata([load('A=1\nsops_version=3\n')]), true);
});

// ---- metadata ----------------------------------------------------------------------

const FIXTURES = [
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/envs/env.env',
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/component/env.env',
  'fluxcd-kustomize-controller/internal/controller/testdata/sops/remote/env.env',
  'humphd-sops-age/tests/data/secret.enc.env',
  'viaduct-ai-kustomize-sops/test/krm/envs/secret.enc.env',
  'viaduct-ai-kustomize-sops/test/krm/metadata/secret.enc.env',
  'getsops-sops/functional-tests/res/format.enc.env',
];

test('dotenv fixtures: metadata unflattens and flattens back to the same bytes', () => {
  for (const rel of FIXTURES) {
    const input = fixture(rel);
    const { documents, metadata } = dotenvStore.loadEncrypted(input);
    assert.ok(metadata, rel);
    assert.equal(dotenvStore.hasMetadata(documents), false, rel);
    assert.equal(dotenvStore.emitEncrypted(documents, metadata).toString(), input.toString(), rel);
  }
});

test('dotenv fixture: the unflattened metadata of a sops 3.9 file', () => {
  const { documents, metadata } = dotenvStore.loadEncrypted(fixture(FIXTURES[0]));
  assert.deepEqual(documents[0].keys(), ['key']);
  assert.deepEqual(Object.keys(metadata!), ['age', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);
  const age = metadata!.age as Record<string, string>[];
  assert.equal(age.length, 1);
  assert.equal(age[0].recipient, 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29');
  assert.match(age[0].enc, /^-----BEGIN AGE ENCRYPTED FILE-----\n[A-Za-z0-9+/=\n]+-----END AGE ENCRYPTED FILE-----\n$/);
  assert.equal(metadata!.lastmodified, '2024-11-12T13:33:42Z');
  assert.equal(metadata!.version, '3.9.0');
});

test('dotenv fixture: an older file in random order keeps its meaning', () => {
  // sops 3.7 wrote the flattened keys in Go map order; list elements are still placed by index.
  const input = fixture('Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.env');
  const { documents, metadata } = dotenvStore.loadEncrypted(input);
  assert.ok(documents[0].items[0].key instanceof Comment);
  const pgp = metadata!.pgp as Record<string, string>[];
  assert.deepEqual(
    pgp.map((entry) => entry.fp),
    ['7FB89715AADA920D65D25E63F9BA9DEBD03F57C0', '2504791468B153B8A3963CC97BA53D1919C5DFD4'],
  );
  assert.match(pgp[0].enc, /^-----BEGIN PGP MESSAGE-----\n\n/);
  const again = dotenvStore.loadEncrypted(dotenvStore.emitEncrypted(documents, metadata!));
  assert.deepEqual(again.metadata, metadata);
  assert.deepEqual(again.documents, documents);
});

test('dotenv metadata: key groups, contexts, numbers and booleans', () => {
  const metadata = {
    key_groups: [
      { age: [{ enc: 'line1\nline2\n', recipient: 'age1x' }], hc_vault: [] },
      { age: [], hc_vault: [], kms: [{ arn: 'arn:aws:kms:x', aws_profile: '', context: { app: 'pay', env: 'prod' } }] },
    ],
    lastmodified: '2026-01-01T00:00:00Z',
    mac: 'ENC[x]',
    mac_only_encrypted: true,
    shamir_threshold: 2,
    unknown_null: null,
    version: '3.13.2',
  };
  const out = dotenvStore.emitEncrypted([load('A=1\n')], metadata).toString();
  assert.equal(
    out,
    [
      'A=1',
      'sops_key_groups__list_0__map_age__list_0__map_enc=line1\\nline2\\n',
      'sops_key_groups__list_0__map_age__list_0__map_recipient=age1x',
      'sops_key_groups__list_1__map_kms__list_0__map_arn=arn:aws:kms:x',
      'sops_key_groups__list_1__map_kms__list_0__map_aws_profile=',
      'sops_key_groups__list_1__map_kms__list_0__map_context__map_app=pay',
      'sops_key_groups__list_1__map_kms__list_0__map_context__map_env=prod',
      'sops_lastmodified=2026-01-01T00:00:00Z',
      'sops_mac=ENC[x]',
      'sops_mac_only_encrypted=true',
      'sops_shamir_threshold=2',
      'sops_version=3.13.2',
      '',
    ].join('\n'),
  );
  // Empty lists and nulls leave no trace; everything else comes back as strings.
  assert.deepEqual(dotenvStore.loadEncrypted(Buffer.from(out)).metadata, {
    key_groups: [
      { age: [{ enc: 'line1\nline2\n', recipient: 'age1x' }] },
      { kms: [{ arn: 'arn:aws:kms:x', aws_profile: '', context: { app: 'pay', env: 'prod' } }] },
    ],
    lastmodified: '2026-01-01T00:00:00Z',
    mac: 'ENC[x]',
    mac_only_encrypted: 'true',
    shamir_threshold: '2',
    version: '3.13.2',
  });
});

test('dotenv metadata: flatten and unflatten are inverse on string data', () => {
  const metadata = { a: [{ b: 'x', c: ['y', 'z'] }, { d: { e: 'w' } }], f: 'v' };
  const flat = flattenMetadata(metadata, '');
  assert.deepEqual(flat, [
    ['a__list_0__map_b', 'x'],
    ['a__list_0__map_c__list_0', 'y'],
    ['a__list_0__map_c__list_1', 'z'],
    ['a__list_1__map_d__map_e', 'w'],
    ['f', 'v'],
  ]);
  assert.deepEqual(unflattenMetadata(flat), metadata);
  // Order of the flat keys does not matter for lists.
  assert.deepEqual(unflattenMetadata([['l__list_1', 'b'], ['l__list_0', 'a']]), { l: ['a', 'b'] });
});

test('dotenv metadata: malformed flat keys raise MetadataError', () => {
  assert.throws(() => unflattenMetadata([['k__list_0', 'a'], ['k__list_0', 'b']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k__list_0', 'a'], ['k__list_999999999999', 'b']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k__list_1', 'a']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k__list_0', 'a'], ['k__map_x', 'b']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k', 'a'], ['k__list_0', 'b']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k__list_0__map_x', 'a'], ['k__list_0', 'b']]), MetadataError);
  assert.throws(() => unflattenMetadata([['k__list_x', 'a']]), MetadataError);
  assert.throws(() => flattenMetadata({ a__map_b: 'x', a: { b: 'y' } }, ''), MetadataError);
  assert.throws(() => dotenvStore.loadEncrypted(Buffer.from('A=1\nsops_k__list_1=x\n')), MetadataError);
});

test('dotenv metadata: absent, or clashing with a data key', () => {
  assert.equal(dotenvStore.loadEncrypted(Buffer.from('A=1\n')).metadata, undefined);
  assert.throws(() => dotenvStore.emitEncrypted([load('sops_mine=1\n')], { version: '3' }), InvalidDocumentError);
});
