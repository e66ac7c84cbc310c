/**
 * High-entropy strings: a quoted or assigned token of 20 or more characters from the
 * base64 or the hex alphabet whose Shannon entropy is above what words, names and paths
 * reach. The thresholds are detect-secrets' (base64 > 4.5 bits per character, hex > 3.0),
 * which keep the check usable on code at the price of missing short secrets: a base64
 * token needs more than 22 characters before it can exceed 4.5 at all.
 *
 * It is noisy by nature, so it runs only when asked (`--entropy`), and it stays quiet on
 * what is random but not secret: sops ciphertext and metadata, UUIDs, digests next to a
 * word that says so (`sha256`, `integrity`, a commit `rev`), public key names (age
 * recipients, PGP fingerprints), and lockfiles.
 */
import { basename } from 'node:path';
import { TextIndex } from './text-index.js';
import { isInside, sopsRegions, type TextRange } from './sops-regions.js';
import type { Detector, RawFinding, ScanContext, ScanTarget } from './types.js';

export const BASE64_THRESHOLD = 4.5;
export const HEX_THRESHOLD = 3.0;

const MIN_LENGTH = 20;
const TOKEN_CHARS = 'A-Za-z0-9+/=_\\-';
// A whole quoted string made of token characters: "…", '…' or `…`.
const QUOTED = new RegExp(`(["'\`])([${TOKEN_CHARS}]{${MIN_LENGTH},})\\1`, 'g');
// An unquoted value after `key =`, `key:`, `key :=` or `key =>` (YAML, dotenv, INI, code).
// It starts at the separator and looks back for the key: starting at the key instead
// retries every suffix of every word, which made this the slowest part of a scan.
const SEPARATOR = '(?::=|=>|[:=])';
const ASSIGNED = new RegExp(`${SEPARATOR}(?<=[\\w.-][ \\t]*${SEPARATOR})[ \\t]*([${TOKEN_CHARS}]{${MIN_LENGTH},})(?![${TOKEN_CHARS}])`, 'g');
const HEX = /^[0-9a-fA-F]+$/;
const DIGITS = /^[0-9]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Subresource-integrity and similar self-describing digests: sha512-…, sha256:…
const DIGEST_PREFIX = /^(?:sha(?:1|224|256|384|512)|md5)[-:]/i;
const DIGEST_WORD = /sha(?:1|224|256|384|512)?|md5|integrity|checksum|digest|hash|commit|\brev\b/i;
// Lengths of hex-encoded md5, sha1, sha224, sha256, sha384 and sha512.
const DIGEST_HEX_LENGTHS = new Set([32, 40, 56, 64, 96, 128]);
// Public key names that `.sops.yaml` and key lists are full of: an age recipient (bech32),
// and a PGP fingerprint (40 hex digits) on a line that says so.
const AGE_RECIPIENT = /^age1(?:pq1)?[02-9ac-hj-np-z]{58,}$/;
const FINGERPRINT_WORD = /pgp|fingerprint|\bfp\b/i;

/** Files made of digests and resolved URLs by design. */
const LOCKFILES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lock',
  'go.sum',
  'go.work.sum',
  'Cargo.lock',
  'poetry.lock',
  'Pipfile.lock',
  'composer.lock',
  'Gemfile.lock',
  'flake.lock',
]);

export const entropyDetector: Detector = {
  id: 'high-entropy',
  mayFind: (target, context) => inScope(target, context),
  detect(target, text, context) {
    if (!inScope(target, context)) return [];
    const regions = sopsRegions(text);
    const index = new TextIndex(text);
    return candidates(text)
      .filter((token) => !isInside(regions, token.start))
      .flatMap((token) => judge(text, index, token));
  },
};

/** Off unless asked for, and never in lockfiles (their hashes are all high-entropy). */
function inScope(target: ScanTarget, context: ScanContext): boolean {
  return context.options.entropy && !LOCKFILES.has(basename(target.path));
}

/** Quoted and assigned tokens, without overlaps (the first one found at a place wins). */
function candidates(text: string): TextRange[] {
  const found: TextRange[] = [];
  for (const m of text.matchAll(QUOTED)) found.push({ start: m.index + 1, end: m.index + m[0].length - 1 });
  for (const m of text.matchAll(ASSIGNED)) found.push({ start: m.index + m[0].length - m[1]!.length, end: m.index + m[0].length });
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  return found.filter((range, i) => i === 0 || range.start >= found[i - 1]!.end);
}

function judge(text: string, index: TextIndex, range: TextRange): RawFinding[] {
  const token = text.slice(range.start, range.end);
  if (UUID.test(token) || AGE_RECIPIENT.test(token) || DIGEST_PREFIX.test(token) || isNamedDigest(text, index, range, token)) return [];
  const alphabet = HEX.test(token) ? 'hex' : 'base64';
  const entropy = alphabet === 'hex' ? hexEntropy(token) : shannonEntropy(token);
  if (entropy <= (alphabet === 'hex' ? HEX_THRESHOLD : BASE64_THRESHOLD)) return [];
  const { line, column } = index.position(range.start);
  return [
    {
      ruleId: 'high-entropy',
      line,
      column,
      value: token,
      message: `high-entropy ${alphabet} string (${entropy.toFixed(1)} bits per character)`,
      hint: 'if it is a secret, move it into an encrypted file (wax encrypt -i FILE) or a secret store; if it is not, mark the line with wax:allow',
    },
  ];
}

/** A hex string of a digest's length on a line that names a digest, a commit or a PGP key. */
function isNamedDigest(text: string, index: TextIndex, range: TextRange, token: string): boolean {
  if (!HEX.test(token) || !DIGEST_HEX_LENGTHS.has(token.length)) return false;
  const line = text.slice(index.lineStart(range.start), index.lineEnd(range.end));
  return DIGEST_WORD.test(line) || (token.length === 40 && FINGERPRINT_WORD.test(line));
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

/**
 * As detect-secrets does: a string of digits only is more often a number (an id, a
 * timestamp, a phone number) than a key, so it pays a penalty that shrinks with length.
 */
export function hexEntropy(value: string): number {
  const entropy = shannonEntropy(value);
  return DIGITS.test(value) ? entropy - 1.2 / Math.log2(value.length) : entropy;
}
