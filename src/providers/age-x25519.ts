/**
 * Decryption of X25519 age files with Node's own crypto (age-encryption.org/v1), used for
 * the common case: X25519 identities unwrapping a sops data key.
 *
 * Why a second path beside `age-encryption`: loading that library (with its pure-JS
 * curves and post-quantum code, evaluated at import) is a third of a cold `wax decrypt`.
 * This path reads only what sops writes for X25519 recipients and is checked against the
 * C2SP/CCTV age vectors and against `age-encryption` itself. Everything else (encryption,
 * post-quantum identities, key generation) stays with `age-encryption`.
 */
import { createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';

export class AgeFormatError extends Error {}

const fail = (reason: string): never => {
  throw new AgeFormatError(reason);
};

const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const ARMOR_END = '-----END AGE ENCRYPTED FILE-----';
const VERSION_LINE = 'age-encryption.org/v1';
const CHUNK_SIZE = 64 * 1024;

/** Strict armor decoding: 64-column canonical base64 lines between the markers. */
export function decodeArmor(text: string): Buffer {
  const trimmed = text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  const lines = trimmed.split(/\r?\n/);
  if (lines[0] !== ARMOR_BEGIN || lines[lines.length - 1] !== ARMOR_END) fail('not an armored age file');
  const body = lines.slice(1, -1);
  if (body.length === 0) fail('empty armor');
  body.forEach((line, i) => {
    const last = i === body.length - 1;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(line) || line.length === 0) fail('invalid armor line');
    if (!last && line.length !== 64) fail('armor line is not 64 columns');
    if (last && line.length > 64) fail('armor line too long');
  });
  const joined = body.join('');
  if (joined.length % 4 !== 0) fail('armor is not padded base64');
  const bytes = Buffer.from(joined, 'base64');
  if (bytes.toString('base64') !== joined) fail('armor is not canonical base64');
  return bytes;
}

interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

interface Header {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including `---`. */
  macInput: Buffer;
  mac: Buffer;
  payloadStart: number;
}

/** Canonical unpadded base64, as age requires everywhere in the header. */
function decodeB64(text: string): Buffer {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) fail('invalid base64 in header');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== text) fail('non-canonical base64 in header');
  return bytes;
}

function readLine(file: Buffer, start: number): { line: string; next: number } {
  const end = file.indexOf(0x0a, start);
  if (end < 0) fail('header line without newline');
  const line = file.subarray(start, end).toString('latin1');
  if (/[^\x20-\x7e]/.test(line)) fail('invalid character in header');
  return { line, next: end + 1 };
}

export function parseHeader(file: Buffer): Header {
  let { line, next } = readLine(file, 0);
  if (line !== VERSION_LINE) fail('not an age v1 file');
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = next;
    ({ line, next } = readLine(file, next));
    if (line.startsWith('--- ')) {
      const mac = decodeB64(line.slice(4));
      if (mac.length !== 32) fail('invalid header MAC');
      return { stanzas, macInput: file.subarray(0, start + 3), mac, payloadStart: next };
    }
    if (!line.startsWith('-> ')) fail('invalid stanza line');
    const args = line.slice(3).split(' ');
    if (args.some((a) => a === '')) fail('empty stanza argument');
    const chunks: Buffer[] = [];
    for (;;) {
      ({ line, next } = readLine(file, next));
      const bytes = decodeB64(line);
      if (line.length > 64) fail('stanza line too long');
      chunks.push(bytes);
      if (line.length < 64) break;
    }
    stanzas.push({ type: args[0], args: args.slice(1), body: Buffer.concat(chunks) });
  }
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * An X25519 identity: its secret scalar, the same as a KeyObject, and its public key. The
 * KeyObject is made once: a PKCS#8 import costs about half a millisecond of OpenSSL 3
 * decoding, which per unwrap was most of a controller's decryption time.
 */
export interface X25519Identity {
  scalar: Buffer;
  privateKey: KeyObject;
  publicKey: Buffer;
}

export function x25519Identity(scalar: Buffer): X25519Identity {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { scalar, privateKey, publicKey: Buffer.from(spki.subarray(SPKI_X25519.length)) };
}

/** The peer's point comes in as a raw JWK: about 15 µs, where an SPKI DER import takes about 115. */
function scalarMult(privateKey: KeyObject, point: Buffer): Buffer {
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: point.toString('base64url') }, format: 'jwk' });
  return diffieHellman({ privateKey, publicKey });
}

function openChaCha(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < 16) return undefined;
  try {
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** The file key from an X25519 stanza addressed to `identity`, or undefined if it is not. */
function unwrapX25519(stanza: Stanza, identity: X25519Identity): Buffer | undefined {
  if (stanza.args.length !== 1) fail('malformed X25519 stanza');
  const share = decodeB64(stanza.args[0]);
  if (share.length !== 32) fail('malformed X25519 share');
  if (stanza.body.length !== 32) fail('malformed X25519 stanza body');
  let shared: Buffer;
  try {
    shared = scalarMult(identity.privateKey, share);
  } catch {
    return fail('invalid X25519 share');
  }
  if (shared.every((b) => b === 0)) fail('X25519 share is a low-order point');
  const key = hkdf(shared, Buffer.concat([share, identity.publicKey]), 'age-encryption.org/v1/X25519');
  return openChaCha(key, Buffer.alloc(12), stanza.body);
}

/** STREAM: ChaCha20-Poly1305 chunks of 64 KiB with a counter nonce and a last-chunk flag. */
function decryptPayload(fileKey: Buffer, payload: Buffer): Buffer {
  if (payload.length < 16) fail('missing payload nonce');
  const key = hkdf(fileKey, payload.subarray(0, 16), 'payload');
  const sealedChunks = payload.subarray(16);
  if (sealedChunks.length === 0) fail('missing payload');
  const out: Buffer[] = [];
  for (let offset = 0, counter = 0; offset < sealedChunks.length; counter++) {
    const end = Math.min(offset + CHUNK_SIZE + 16, sealedChunks.length);
    const last = end === sealedChunks.length;
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(counter, 5, 6);
    if (last) nonce[11] = 1;
    const chunk = openChaCha(key, nonce, sealedChunks.subarray(offset, end));
    if (!chunk) fail('payload failed authentication');
    if (last && chunk!.length === 0 && counter > 0) fail('empty last chunk');
    out.push(chunk!);
    offset = end;
  }
  return Buffer.concat(out);
}

/**
 * Decrypts an age file with X25519 identities. Returns undefined when no stanza is for
 * these identities ("not mine"); throws AgeFormatError for a malformed or tampered file.
 */
export function decryptX25519(file: Buffer, identities: X25519Identity[]): Buffer | undefined {
  const header = parseHeader(file);
  let fileKey: Buffer | undefined;
  for (const stanza of header.stanzas) {
    if (stanza.type !== 'X25519') continue;
    for (const identity of identities) {
      fileKey = unwrapX25519(stanza, identity);
      if (fileKey) break;
    }
    if (fileKey) break;
  }
  if (!fileKey) return undefined;
  if (fileKey.length !== 16) fail('invalid file key');
  const expected = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header.macInput).digest();
  if (!timingSafeEqual(expected, header.mac)) fail('header MAC mismatch');
  return decryptPayload(fileKey, file.subarray(header.payloadStart));
}

/** Decodes `AGE-SECRET-KEY-1…` (Bech32, BIP 173) to its 32-byte scalar. */
export function decodeX25519Identity(text: string): Buffer {
  const data = bech32Decode(text.toLowerCase(), 'age-secret-key-');
  if (data.length !== 32) fail('invalid identity length');
  return data;
}

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function polymod(values: number[]): number {
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i];
  }
  return chk;
}

function bech32Decode(text: string, prefix: string): Buffer {
  const sep = text.lastIndexOf('1');
  if (text.slice(0, sep) !== prefix) fail('unexpected Bech32 prefix');
  const data = [...text.slice(sep + 1)].map((c) => CHARSET.indexOf(c));
  if (data.length < 6 || data.some((v) => v < 0)) fail('invalid Bech32 characters');
  const hrp = [...prefix].map((c) => c.charCodeAt(0));
  const expanded = [...hrp.map((c) => c >> 5), 0, ...hrp.map((c) => c & 31)];
  if (polymod([...expanded, ...data]) !== 1) fail('invalid Bech32 checksum');
  // Regroup 5-bit words into bytes; leftover bits must be zero padding.
  const words = data.slice(0, -6);
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const w of words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) fail('invalid Bech32 padding');
  return Buffer.from(out);
}
