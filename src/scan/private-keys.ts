/**
 * Private keys that the preset's rule cannot see. secretlint's private-key rule reports a
 * PEM block only when its base64 body is at least 100 characters and starts with `MI` (an
 * ASN.1 SEQUENCE with a long-form length) or OpenSSH's magic. That leaves out every key
 * whose DER is under 128 bytes (EC P-256 in SEC1, `MHcC…`, what cert-manager and ACME
 * clients write; Ed25519 and X25519 in PKCS#8, `MC4C…`) and every armoured OpenPGP secret
 * key (`lQ…` or `xc…`, often after armour headers): exactly the PGP keys a sops user
 * exports for Flux. gitleaks finds both.
 *
 * The check here is structural, not a looser pattern: the body must decode to a key, one
 * DER SEQUENCE that fills it exactly, OpenSSH's `openssh-key-v1` magic, or an OpenPGP
 * secret-key packet. Placeholders (`MIIE...`, `<your key>`, a truncated body) never do.
 * Encrypted keys (`ENCRYPTED PRIVATE KEY`, `Proc-Type: 4,ENCRYPTED` headers) are left
 * alone, as the preset leaves them.
 */
import type { TextRange } from './sops-regions.js';
import { TextIndex } from './text-index.js';

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
/** The labels of unencrypted private keys (RFC 7468, OpenSSH, OpenPGP armour). */
const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'DSA PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'PGP PRIVATE KEY BLOCK']);
/** The longest label above plus room: a longer run after BEGIN is no label of ours. */
const MAX_LABEL = 32;
/** Bigger than any single key (an RSA-16384 PEM is about 12 KB); bounds the work per BEGIN. */
const MAX_BODY = 64 * 1024;
/** Ed25519 in PKCS#8 is 48 bytes, the smallest key worth the name. */
const MIN_KEY_BYTES = 40;
/** A JSON or YAML string keeps the line breaks as `\n` (or `\r\n`) escapes. */
const ESCAPED_BREAKS = /\\[rn]/g;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
/** OpenPGP packet tags of a secret key and a secret subkey (RFC 4880 §4.3). */
const PGP_SECRET_TAGS = new Set([5, 7]);

/**
 * `[start, end)` of each unencrypted private key block in `text`, from BEGIN through END.
 * Linear in the text whatever it holds: BEGIN and END markers are each found in one pass,
 * a block's END is the first one after its BEGIN, and a body that holds another BEGIN is
 * no key, so every character is decoded at most once (a file of many BEGIN lines and no
 * END cannot make the scan quadratic).
 */
export function privateKeyBlocks(text: string, index: TextIndex = new TextIndex(text)): TextRange[] {
  const begins = index.positions(BEGIN);
  if (begins.length === 0) return [];
  const ends = index.positions(END);
  const blocks: TextRange[] = [];
  let nextEnd = 0;
  for (let i = 0; i < begins.length; i++) {
    const at = begins[i]!;
    const labelStart = at + BEGIN.length;
    const labelEnd = text.slice(labelStart, labelStart + MAX_LABEL + DASHES.length).indexOf(DASHES);
    if (labelEnd < 0) continue;
    const label = text.slice(labelStart, labelStart + labelEnd);
    if (!KEY_LABELS.has(label)) continue;
    const bodyStart = labelStart + labelEnd + DASHES.length;
    while (nextEnd < ends.length && ends[nextEnd]! < bodyStart) nextEnd++;
    if (nextEnd === ends.length) break;
    const close = ends[nextEnd]!;
    const endMarker = `${END}${label}-----`;
    if (close - bodyStart > MAX_BODY || (begins[i + 1] ?? Infinity) < close || !text.startsWith(endMarker, close)) continue;
    const body = text.slice(bodyStart, close).replace(ESCAPED_BREAKS, '\n');
    if (label === 'PGP PRIVATE KEY BLOCK' ? isPgpSecretKey(body) : isKeyDer(label, body)) blocks.push({ start: at, end: close + endMarker.length });
  }
  return blocks;
}

function isKeyDer(label: string, body: string): boolean {
  const der = decodeBase64(body.replace(/\s+/g, ''));
  if (!der || der.length < MIN_KEY_BYTES) return false;
  if (label === 'OPENSSH PRIVATE KEY') return der.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC);
  return isOneDerSequence(der);
}

/** A SEQUENCE (0x30) whose definite length, short or long form, ends exactly at the end. */
function isOneDerSequence(der: Buffer): boolean {
  if (der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const octets = first & 0x7f;
  if (octets < 1 || octets > 3) return false;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + der[2 + i]!;
  return 2 + octets + length === der.length;
}

/**
 * ASCII armour (RFC 4880 §6.2): optional `Key: value` header lines and a blank line, the
 * base64 body, an optional `=XXXX` checksum line. The first packet must be a secret key.
 */
function isPgpSecretKey(armour: string): boolean {
  const lines = armour.split('\n').map((line) => line.trim());
  let first = 0;
  while (first < lines.length && lines[first] === '') first++;
  if (lines.slice(first).some((line) => line.includes(': '))) {
    // Headers end at the first blank line after them.
    while (first < lines.length && lines[first] !== '') first++;
  }
  const body: string[] = [];
  for (const line of lines.slice(first)) {
    if (line.startsWith('=')) break;
    body.push(line);
  }
  const packets = decodeBase64(body.join(''));
  if (!packets || packets.length < MIN_KEY_BYTES) return false;
  const header = packets[0]!;
  if ((header & 0x80) === 0) return false;
  // New format: the tag is the low six bits; old format: bits 5–2.
  const tag = header & 0x40 ? header & 0x3f : (header >> 2) & 0x0f;
  return PGP_SECRET_TAGS.has(tag);
}

function decodeBase64(text: string): Buffer | undefined {
  return text.length > 0 && text.length % 4 === 0 && BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}
