/**
 * The C2SP/CCTV age test vectors (../shared/fixtures/C2SP-CCTV/age/testdata) run through
 * `age-encryption`, the age implementation wax uses to wrap data keys. One test per
 * vector file. Format (C2SP-CCTV/age/README.md): `key: value` header lines, an empty
 * line, then the age file (optionally zlib-compressed, optionally ASCII-armored).
 *
 * success          → the plaintext's SHA-256 equals `payload`
 * payload failure  → decryption throws, one-shot and streaming. The README also asks that
 *                    the plaintext released before the error hash to `payload`; typage
 *                    holds each STREAM chunk back until it has seen the next one, so it
 *                    releases less than Go's age does (often nothing) and that hash
 *                    cannot match. Releasing less is safe, and wax only decrypts
 *                    one-shot (a data key is 32 or 33 bytes), so it is not asserted.
 * anything else    → decryption throws (no match, HMAC, header and armor failures)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { Decrypter, armor } from 'age-encryption';
import { fixturesDir } from '../support/paths.js';
import { AgeFormatError, decodeArmor, decodeX25519Identity, decryptX25519, x25519Identity } from '../../src/providers/age-x25519.js';

const VECTORS = path.join(fixturesDir(), 'C2SP-CCTV/age/testdata');

interface Vector {
  expect: string;
  payload?: string;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  compressed: boolean;
  unknownKeys: string[];
  body: Buffer;
}

const KNOWN_KEYS = new Set(['expect', 'payload', 'identity', 'passphrase', 'armored', 'compressed', 'file key', 'comment']);

function parseVector(file: Buffer): Vector {
  const end = file.indexOf('\n\n');
  assert.ok(end >= 0, 'vector has no blank line after its header');
  const v: Vector = { expect: '', identities: [], passphrases: [], armored: false, compressed: false, unknownKeys: [], body: file.subarray(end + 2) };
  for (const line of file.subarray(0, end).toString('utf8').split('\n')) {
    const sep = line.indexOf(': ');
    const key = sep < 0 ? line : line.slice(0, sep);
    const value = sep < 0 ? '' : line.slice(sep + 2);
    if (!KNOWN_KEYS.has(key)) v.unknownKeys.push(key);
    if (key === 'expect') v.expect = value;
    else if (key === 'payload') v.payload = value;
    else if (key === 'identity') v.identities.push(value);
    else if (key === 'passphrase') v.passphrases.push(value);
    else if (key === 'armored') v.armored = value === 'yes';
    else if (key === 'compressed') {
      assert.equal(value, 'zlib', `unknown compression ${value}`);
      v.compressed = true;
    }
  }
  if (v.compressed) v.body = inflateSync(v.body);
  return v;
}

function decrypterFor(v: Vector): Decrypter {
  const d = new Decrypter();
  for (const id of v.identities) d.addIdentity(id);
  for (const p of v.passphrases) d.addPassphrase(p);
  return d;
}

/** armor.decode works on text; latin1 keeps every byte of a malformed armor as one char. */
function ageBytes(v: Vector): Uint8Array {
  return v.armored ? armor.decode(v.body.toString('latin1')) : new Uint8Array(v.body);
}

/** Streams the payload, hashing every chunk released (up to an error, if any). */
async function streamDecrypt(v: Vector): Promise<{ hash: string; error: unknown }> {
  const hash = createHash('sha256');
  let error: unknown;
  try {
    const input = ageBytes(v);
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        // Feed in small pieces so that chunk boundaries are not aligned with the input.
        for (let i = 0; i < input.length; i += 4096) controller.enqueue(input.subarray(i, i + 4096));
        controller.close();
      },
    });
    const out = await decrypterFor(v).decrypt(source);
    const reader = out.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
  } catch (err) {
    error = err;
  }
  return { hash: hash.digest('hex'), error };
}

const available = existsSync(VECTORS);
const names = available ? readdirSync(VECTORS).sort() : [];

test('C2SP/CCTV age vectors are present', { skip: available ? false : `vectors not found at ${VECTORS}` }, () => {
  assert.ok(names.length >= 100, `only ${names.length} vectors`);
});

for (const name of names) {
  const v = parseVector(readFileSync(path.join(VECTORS, name)));
  const kind = v.passphrases.length > 0 ? 'scrypt' : v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-')) ? 'hybrid' : 'x25519';
  test(`age vector ${name} (${v.expect}; ${kind}${v.armored ? ', armored' : ''})`, async () => {
    assert.deepEqual(v.unknownKeys, [], 'vector uses header keys this runner does not understand');
    if (v.expect === 'success') {
      assert.ok(v.payload, 'success vector without payload hash');
      const plaintext = await decrypterFor(v).decrypt(ageBytes(v));
      assert.equal(createHash('sha256').update(plaintext).digest('hex'), v.payload);
      // The streaming path must agree with the one-shot path.
      const streamed = await streamDecrypt(v);
      assert.equal(streamed.error, undefined);
      assert.equal(streamed.hash, v.payload);
    } else if (v.expect === 'payload failure') {
      await assert.rejects(async () => decrypterFor(v).decrypt(ageBytes(v)));
      const streamed = await streamDecrypt(v);
      assert.ok(streamed.error !== undefined, 'streaming decryption did not fail');
    } else {
      assert.ok(
        ['no match', 'HMAC failure', 'header failure', 'armor failure'].includes(v.expect),
        `unknown expect value ${JSON.stringify(v.expect)}`,
      );
      await assert.rejects(async () => decrypterFor(v).decrypt(ageBytes(v)));
    }
  });
}

/**
 * The same vectors through wax's native X25519 decryptor (src/providers/age-x25519.ts),
 * which reads sops data keys without loading age-encryption. Every X25519-only vector:
 * success gives the payload; "no match" answers undefined (not mine); every other outcome
 * is an AgeFormatError, so a malformed or tampered file can never pass as "not mine".
 */
for (const name of names) {
  const v = parseVector(readFileSync(path.join(VECTORS, name)));
  const x25519Only = v.passphrases.length === 0 && v.identities.length > 0 && v.identities.every((i) => i.startsWith('AGE-SECRET-KEY-1'));
  if (!x25519Only) continue;
  test(`age vector ${name} through the native X25519 path (${v.expect})`, () => {
    const identities = v.identities.map((i) => x25519Identity(decodeX25519Identity(i)));
    const decrypt = () => {
      const file = v.armored ? decodeArmor(v.body.toString('latin1')) : v.body;
      return decryptX25519(file, identities);
    };
    if (v.expect === 'success') {
      const plaintext = decrypt();
      assert.ok(plaintext, 'no stanza matched');
      assert.equal(createHash('sha256').update(plaintext).digest('hex'), v.payload);
    } else if (v.expect === 'no match') {
      assert.equal(decrypt(), undefined);
    } else {
      assert.throws(decrypt, AgeFormatError);
    }
  });
}
