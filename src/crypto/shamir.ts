/**
 * Shamir secret sharing over GF(2^8), byte-compatible with sops' `shamir` package (a
 * fork of HashiCorp Vault's, sops-format.md §8). With two or more key groups the data
 * key is split and share i is wrapped by every master key of group i.
 *
 * Share layout: `len(secret) + 1` bytes; byte j is f_j(x) for an independent random
 * polynomial of degree threshold-1 with f_j(0) = secret[j]; the LAST byte is x.
 * Since 3.10 sops writes x = i + 1 for share i; older releases (and Vault) used a
 * random permutation of 1..255, so `combine` takes x from each share and assumes
 * nothing about it.
 *
 * Field arithmetic avoids table lookups indexed by secret bytes (the log/exp tables of
 * the original leaked through the cache, GHSA-vq4h-9ghm-qmrr); JavaScript gives no hard
 * constant-time guarantee, but the multiply has no data-dependent branch or index.
 */
import { randomBytes } from 'node:crypto';
import { ExitCode, WaxError } from '../errors.js';

/** Misuse of `split` (exit 1) or shares that cannot be combined (exit 128). */
export class ShamirError extends WaxError {
  constructor(message: string, exitCode: number = ExitCode.Generic, hint?: string) {
    super(message, exitCode, hint);
  }
}

/**
 * a·b in GF(2^8) = GF(2)[X]/(X^8+X^4+X^3+X+1): carry-less "Russian peasant" multiply
 * from the high bit of b down, reducing by 0x1B whenever the accumulator overflows.
 * Masks (`-bit & v`) instead of branches keep the instruction stream independent of the
 * operands.
 * @internal exported for tests
 */
export function gfMul(a: number, b: number): number {
  let acc = 0;
  for (let i = 7; i >= 0; i--) {
    const bit = (b >>> i) & 1;
    const overflow = (acc >>> 7) & 1;
    acc = ((-bit & a) ^ (-overflow & 0x1b) ^ (acc << 1)) & 0xff;
  }
  return acc;
}

/**
 * a^-1 = a^254 (the multiplicative group has 255 elements); 0 maps to 0.
 * Fixed addition chain: 2, 3, 6, 12, 15, 24, 48, 63, 126, 127, 254.
 * @internal exported for tests
 */
export function gfInverse(a: number): number {
  let b = gfMul(a, a); // a^2
  let c = gfMul(a, b); // a^3
  b = gfMul(c, c); // a^6
  b = gfMul(b, b); // a^12
  c = gfMul(b, c); // a^15
  b = gfMul(b, b); // a^24
  b = gfMul(b, b); // a^48
  b = gfMul(b, c); // a^63
  b = gfMul(b, b); // a^126
  b = gfMul(a, b); // a^127
  return gfMul(b, b); // a^254
}

function gfDiv(a: number, b: number): number {
  // Unreachable from combine (x coordinates are checked distinct), kept as a guard.
  if (b === 0) throw new ShamirError('shamir: division by zero', ExitCode.CouldNotRetrieveKey);
  return gfMul(a, gfInverse(b));
}

/** Horner's rule; coefficients[0] is the intercept. */
function evaluate(coefficients: ArrayLike<number>, x: number): number {
  let out = coefficients[coefficients.length - 1]!;
  for (let i = coefficients.length - 2; i >= 0; i--) out = gfMul(out, x) ^ coefficients[i]!;
  return out;
}

/** Lagrange interpolation at x = 0. */
function interpolateAtZero(xs: Uint8Array, ys: Uint8Array): number {
  let result = 0;
  for (let i = 0; i < xs.length; i++) {
    let basis = 1;
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue;
      // (0 - x_j) / (x_i - x_j); subtraction is XOR.
      basis = gfMul(basis, gfDiv(xs[j]!, xs[i]! ^ xs[j]!));
    }
    result ^= gfMul(ys[i]!, basis);
  }
  return result;
}

function checkSplitArguments(secret: Uint8Array, parts: number, threshold: number): void {
  const fail = (reason: string) => new ShamirError(`shamir: ${reason}`, ExitCode.Generic);
  if (!Number.isInteger(parts) || !Number.isInteger(threshold)) throw fail('parts and threshold must be integers');
  if (parts < threshold) throw fail(`parts (${parts}) cannot be less than threshold (${threshold})`);
  if (parts > 255) throw fail(`parts (${parts}) cannot exceed 255`);
  if (threshold < 2) throw fail(`threshold (${threshold}) must be at least 2`);
  if (threshold > 255) throw fail(`threshold (${threshold}) cannot exceed 255`);
  if (secret.length === 0) throw fail('cannot split an empty secret');
}

/**
 * Deterministic core of {@link split}: `coefficients[j]` holds the threshold-1
 * non-constant coefficients (a_1 … a_{k-1}) of the polynomial for secret byte j.
 * @internal exported for known-answer tests; production code calls {@link split}.
 */
export function splitWithCoefficients(
  secret: Uint8Array,
  parts: number,
  threshold: number,
  coefficients: readonly Uint8Array[],
): Uint8Array[] {
  checkSplitArguments(secret, parts, threshold);
  if (coefficients.length !== secret.length || coefficients.some((c) => c.length !== threshold - 1)) {
    throw new ShamirError(`shamir: need ${secret.length} coefficient vectors of ${threshold - 1} bytes`, ExitCode.Generic);
  }
  const shares: Uint8Array[] = [];
  for (let i = 0; i < parts; i++) {
    const share = new Uint8Array(secret.length + 1);
    share[secret.length] = i + 1;
    shares.push(share);
  }
  const poly = new Uint8Array(threshold);
  for (let j = 0; j < secret.length; j++) {
    poly[0] = secret[j]!;
    poly.set(coefficients[j]!, 1);
    for (let i = 0; i < parts; i++) shares[i]![j] = evaluate(poly, i + 1);
  }
  poly.fill(0);
  return shares;
}

/**
 * Splits `secret` into `parts` shares, any `threshold` of which recover it.
 * @throws ShamirError (exit 1) if threshold < 2, threshold > parts, parts > 255 or the
 *   secret is empty.
 */
export function split(secret: Uint8Array, parts: number, threshold: number): Uint8Array[] {
  checkSplitArguments(secret, parts, threshold);
  const degree = threshold - 1;
  const random = randomBytes(secret.length * degree);
  const coefficients: Uint8Array[] = [];
  for (let j = 0; j < secret.length; j++) coefficients.push(random.subarray(j * degree, (j + 1) * degree));
  try {
    return splitWithCoefficients(secret, parts, threshold, coefficients);
  } finally {
    random.fill(0);
  }
}

/**
 * Recovers the secret from shares produced by {@link split} (or by any sops release).
 * Given fewer shares than the threshold it returns an unrelated value: Shamir cannot
 * detect that; the caller notices when the data key fails to decrypt the MAC.
 * @throws ShamirError (exit 128) with fewer than 2 shares, shares shorter than 2 bytes,
 *   unequal lengths or a duplicate x coordinate.
 */
export function combine(shares: Uint8Array[]): Uint8Array {
  const fail = (reason: string) =>
    new ShamirError(
      `shamir: cannot combine key shares: ${reason}`,
      ExitCode.CouldNotRetrieveKey,
      'check that enough key groups could be decrypted (shamir_threshold)',
    );
  if (shares.length < 2) throw fail('less than two shares cannot reconstruct the secret');
  const length = shares[0]!.length;
  if (length < 2) throw fail('shares must be at least two bytes');
  if (shares.some((s) => s.length !== length)) throw fail('all shares must be the same length');

  const xs = new Uint8Array(shares.length);
  const seen = new Set<number>();
  shares.forEach((share, i) => {
    const x = share[length - 1]!;
    if (seen.has(x)) throw fail('duplicate share detected');
    seen.add(x);
    xs[i] = x;
  });

  const secret = new Uint8Array(length - 1);
  const ys = new Uint8Array(shares.length);
  for (let j = 0; j < secret.length; j++) {
    shares.forEach((share, i) => (ys[i] = share[j]!));
    secret[j] = interpolateAtZero(xs, ys);
  }
  ys.fill(0);
  return secret;
}
