import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { binaryStore } from '../../src/document/stores/binary.js';
import { TreeBranch } from '../../src/document/tree.js';
import { InvalidDocumentError } from '../../src/errors.js';
import { fixturesDir } from '../support/paths.js';

const fixture = (rel: string) => readFileSync(path.join(fixturesDir(), rel));

test('binary: UTF-8 input is one string under "data", written back unchanged', () => {
  for (const text of ['hello\n', 'a\r\nb\r\n', '', 'no newline', '{"looks": "like json"}\n', 'sops_version=3\n', 'é ☃ 😀']) {
    const input = Buffer.from(text, 'utf8');
    const documents = binaryStore.loadPlain(input);
    assert.equal(documents.length, 1);
    assert.deepEqual(documents[0].keys(), ['data']);
    assert.equal(documents[0].get('data'), text);
    assert.ok(binaryStore.emitPlain(documents).equals(input));
  }
});

test('binary: bytes that are not UTF-8 stay raw bytes', () => {
  const input = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0xc3]);
  const documents = binaryStore.loadPlain(input);
  const data = documents[0].get('data');
  assert.ok(data instanceof Uint8Array);
  assert.ok(Buffer.from(data).equals(input));
  assert.ok(binaryStore.emitPlain(documents).equals(input));
});

test('binary: plaintext never counts as carrying metadata', () => {
  const documents = binaryStore.loadPlain(Buffer.from('{"data": "x", "sops": {"version": "3"}}'));
  assert.equal(binaryStore.hasMetadata(documents), false);
});

test('binary: writing needs a string or bytes under "data"', () => {
  assert.throws(() => binaryStore.emitPlain([new TreeBranch()]), InvalidDocumentError);
  assert.throws(() => binaryStore.emitPlain([new TreeBranch([{ key: 'data', value: 5n }])]), InvalidDocumentError);
  assert.throws(() => binaryStore.emitPlain([new TreeBranch([{ key: 'other', value: 'x' }])]), InvalidDocumentError);
  assert.throws(() => binaryStore.emitPlain([new TreeBranch(), new TreeBranch()]), InvalidDocumentError);
});

test('binary fixtures: the encrypted form is the JSON envelope', () => {
  const cases: [string, string][] = [
    ['jkroepke-helm-secrets/tests/assets/values/sops/secrets.trailing-newline.raw', ''],
    ['fluxcd-kustomize-controller/internal/controller/testdata/sops/files/file.txt', '\n'],
    ['Mic92-sops-nix/pkgs/sops-install-secrets/test-assets/secrets.bin', '\n'],
    ['getsops-sops/example.txt', '\n'],
    ['jkroepke-helm-secrets/tests/assets/values/sops/files/file.properties', '\n'],
  ];
  for (const [rel, added] of cases) {
    const input = fixture(rel);
    const { documents, metadata } = binaryStore.loadEncrypted(input);
    assert.deepEqual(documents[0].keys(), ['data'], rel);
    assert.match(documents[0].get('data') as string, /^ENC\[AES256_GCM,data:/, rel);
    assert.ok(metadata?.mac, rel);
    // Files from sops before 3.9 lack the trailing newline; nothing else changes.
    assert.equal(binaryStore.emitEncrypted(documents, metadata!).toString(), input.toString() + added, rel);
  }
});

test('binary: emitEncrypted honours the JSON indent option', () => {
  const out = binaryStore.emitEncrypted(binaryStore.loadPlain(Buffer.from('x')), { version: '3.13.2' }, { indent: 2 });
  assert.equal(out.toString(), '{\n  "data": "x",\n  "sops": {\n    "version": "3.13.2"\n  }\n}\n');
});
