import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ExitCode, WaxError } from '../../src/errors.js';
import { ShamirError, combine, gfInverse, gfMul, split, splitWithCoefficients } from '../../src/crypto/shamir.js';

/** Schoolbook GF(2^8): full carry-less product, then long division by 0x11B. */
function slowMul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 8; i++) if ((b >> i) & 1) product ^= a << i;
  for (let bit = 14; bit >= 8; bit--) if ((product >> bit) & 1) product ^= 0x11b << (bit - 8);
  return product;
}

function subsets<T>(items: T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, size - 1).map((s) => [first!, ...s]), ...subsets(rest, size)];
}

function isShamirError(exitCode: number) {
  return (err: unknown) => err instanceof ShamirError && err instanceof WaxError && err.exitCode === exitCode;
}

test('gfMul equals the schoolbook product for all 65536 pairs', () => {
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const expected = slowMul(a, b);
      if (gfMul(a, b) !== expected) assert.fail(`gfMul(${a}, ${b}) = ${gfMul(a, b)}, expected ${expected}`);
    }
  }
});

test('gfMul matches the FIPS-197 worked examples', () => {
  assert.equal(gfMul(0x57, 0x83), 0xc1);
  assert.equal(gfMul(0x57, 0x13), 0xfe);
  assert.equal(gfMul(0x53, 0xca), 0x01);
});

test('gfInverse is a^254: a·a^-1 = 1 for every non-zero a, and 0 maps to 0', () => {
  assert.equal(gfInverse(0), 0);
  for (let a = 1; a < 256; a++) {
    const inv = gfInverse(a);
    assert.equal(slowMul(a, inv), 1, `inverse of ${a}`);
  }
  assert.equal(gfInverse(0x53), 0xca);
});

test('known answer: fixed coefficients give hand-computed shares', () => {
  // Threshold 2, f(x) = s + a·x. Byte 0: s=0x53, a=0xCA. Byte 1: s=0x00, a=0x01.
  //   f0(1) = 0x53^0xCA = 0x99
  //   f0(2) = 0x53^(0xCA·2) = 0x53^(0x194 mod 0x11B = 0x8F) = 0xDC
  //   f0(3) = 0x53^(0xCA·2 ^ 0xCA) = 0x53^0x45 = 0x16
  //   f1(x) = x
  const shares = splitWithCoefficients(Uint8Array.of(0x53, 0x00), 3, 2, [Uint8Array.of(0xca), Uint8Array.of(0x01)]);
  assert.deepEqual(
    shares.map((s) => [...s]),
    [
      [0x99, 0x01, 0x01],
      [0xdc, 0x02, 0x02],
      [0x16, 0x03, 0x03],
    ],
  );

  // Threshold 3, f(x) = 0x57 + 0x83·x + 0x01·x².
  //   x=1: 0x57^0x83^0x01 = 0xD5
  //   x=2: 0x83·2 = 0x106^0x11B = 0x1D; x² = 4;      0x57^0x1D^0x04 = 0x4E
  //   x=3: 0x83·3 = 0x1D^0x83 = 0x9E;   x² = 5;      0x57^0x9E^0x05 = 0xCC
  //   x=4: 0x83·4 = 0x1D·2 = 0x3A;      x² = 0x10;   0x57^0x3A^0x10 = 0x7D
  const three = splitWithCoefficients(Uint8Array.of(0x57), 4, 3, [Uint8Array.of(0x83, 0x01)]);
  assert.deepEqual(
    three.map((s) => [...s]),
    [
      [0xd5, 1],
      [0x4e, 2],
      [0xcc, 3],
      [0x7d, 4],
    ],
  );
  assert.deepEqual([...combine([three[3]!, three[0]!, three[2]!])], [0x57]);
  assert.deepEqual([...combine([shares[2]!, shares[0]!])], [0x53, 0x00]);
});

test('combine accepts arbitrary x coordinates (sops < 3.10 used a random permutation of 1..255)', () => {
  // f(x) = 0x53 + 0xCA·x evaluated at x = 0xC8 and x = 0x07, computed with the slow multiply.
  const share = (x: number) => Uint8Array.of(0x53 ^ slowMul(0xca, x), x);
  assert.deepEqual([...combine([share(0xc8), share(0x07)])], [0x53]);
  assert.deepEqual([...combine([share(0xff), share(0x01)])], [0x53]);
});

test('split: shares are len+1 bytes and share i has x = i + 1', () => {
  const secret = randomBytes(32);
  const shares = split(secret, 5, 3);
  assert.equal(shares.length, 5);
  shares.forEach((s, i) => {
    assert.equal(s.length, 33);
    assert.equal(s[32], i + 1);
  });
});

for (let n = 2; n <= 5; n++) {
  for (let k = 2; k <= n; k++) {
    test(`split ${k}-of-${n}: every subset of size >= ${k} recombines, every smaller one does not`, () => {
      const secret = randomBytes(32);
      const shares = split(secret, n, k);
      const indices = shares.map((_, i) => i);
      for (let size = 1; size <= n; size++) {
        for (const subset of subsets(indices, size)) {
          const picked = subset.map((i) => shares[i]!);
          if (size >= k) {
            assert.deepEqual(Buffer.from(combine(picked)), secret, `subset ${subset.join(',')}`);
          } else if (size >= 2) {
            // A wrong value, with probability 1 - 2^-256.
            assert.notDeepEqual(Buffer.from(combine(picked)), secret, `subset ${subset.join(',')}`);
          } else {
            assert.throws(() => combine(picked), isShamirError(ExitCode.CouldNotRetrieveKey));
          }
        }
      }
    });
  }
}

test('split: 255 parts, threshold 255, one-byte secret round-trips', () => {
  const secret = Uint8Array.of(0xa5);
  const shares = split(secret, 255, 255);
  assert.equal(shares[254]![1], 255);
  assert.deepEqual([...combine(shares)], [0xa5]);
});

test('split rejects misuse with exit code 1', () => {
  const secret = randomBytes(32);
  const generic = isShamirError(ExitCode.Generic);
  assert.throws(() => split(secret, 3, 1), generic, 'threshold < 2');
  assert.throws(() => split(secret, 2, 3), generic, 'threshold > parts');
  assert.throws(() => split(secret, 256, 2), generic, 'parts > 255');
  assert.throws(() => split(new Uint8Array(0), 3, 2), generic, 'empty secret');
  assert.throws(() => splitWithCoefficients(secret, 3, 2, []), generic, 'coefficient count');
});

test('combine rejects unusable shares with exit code 128', () => {
  const shares = split(randomBytes(32), 3, 2);
  const notRetrievable = isShamirError(ExitCode.CouldNotRetrieveKey);
  assert.throws(() => combine([]), notRetrievable, 'no shares');
  assert.throws(() => combine([shares[0]!]), notRetrievable, 'one share');
  assert.throws(() => combine([shares[0]!, shares[0]!]), notRetrievable, 'duplicate x');
  assert.throws(() => combine([shares[0]!, shares[1]!.subarray(1)]), notRetrievable, 'unequal lengths');
  assert.throws(() => combine([Uint8Array.of(1), Uint8Array.of(2)]), notRetrievable, 'too short');
});
