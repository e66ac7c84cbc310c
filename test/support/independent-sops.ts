/**
 * An independent reader of SOPS v3 files, written from docs/sops-format.md alone, for
 * tests only: it checks that files wax writes decrypt and MAC-verify the way sops would.
 *
 * It must not import anything from src/ — a shared bug would otherwise pass unnoticed.
 * Only node:crypto, node:child_process (the real `age`/`gpg` CLIs) and the `yaml`
 * package (parsed with the failsafe schema so that every scalar is resolved here, by
 * go-yaml v3's rules rather than the JS library's) are used.
 *
 * Deliberately stricter than sops where wax's output is concerned: `ENC[...]` must end
 * at its `]`, base64 must be canonical, the IV must be 32 bytes and the tag 16. Not
 * supported (throws rather than guesses): YAML merge keys, explicit tags other than
 * !!str, the comment-regex selection rules, key groups in the age helper.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Document, isAlias, isMap, isScalar, isSeq, parseAllDocuments, type Node as YamlNode } from 'yaml';

export type Format = 'yaml' | 'json' | 'dotenv';

/** A `time.Time` value, kept as Go's `MarshalText` (RFC 3339 with nanoseconds). */
export class GoTime {
  constructor(readonly text: string) {}
}

/** Scalar leaf values with Go's types: string, int (bigint), float64 (number), bool, time. */
type Scalar = string | bigint | number | boolean | GoTime | Uint8Array | null;

type INode = { t: 'leaf'; v: Scalar } | { t: 'map'; entries: [string, INode][] } | { t: 'seq'; items: INode[] };

interface RawComment {
  text: string;
  /** Mapping-key paths to try as AAD, innermost first. */
  candidates: string[][];
}

export interface DecryptedComment {
  text: string;
  /** The AAD that authenticated it, or null for a comment stored in clear. */
  aad: string | null;
}

export interface IndependentResult {
  /** One plain object per document, `sops` removed. int → bigint, float → number, time → GoTime. */
  docs: unknown[];
  macOk: boolean;
  /** Uppercase hex SHA-512 recomputed over the plaintext leaves. */
  computedMac: string;
  /** The decrypted `sops.mac` ("" if the file has none). */
  fileMac: string;
  /** Comments (YAML, dotenv), decrypted where they authenticate. Never part of the MAC. */
  comments: DecryptedComment[];
}

export interface AgeEntry {
  recipient: string;
  enc: string;
}

// ---------------------------------------------------------------------------------------
// Entry points

export function independentDecrypt(fileText: string, format: Format, dataKey: Uint8Array): IndependentResult {
  const parsed = parseFile(fileText, format);
  const meta = parsed.metadata;
  const rules = selectionRules(meta);
  const macOnlyEncrypted = truthy(meta['mac_only_encrypted']);

  const hash = createHash('sha512');
  // sha256("sops"), written first when only encrypted values are hashed (§5.1).
  if (macOnlyEncrypted) hash.update(createHash('sha256').update('sops').digest());

  const walk = (node: INode, keyPath: string[]): unknown => {
    if (node.t === 'map') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.entries) {
        Object.defineProperty(out, k, { value: walk(v, [...keyPath, k]), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (node.t === 'seq') return node.items.map((item) => walk(item, keyPath));
    if (node.v === null) return null; // nulls are neither encrypted nor hashed
    const encrypted = rules(keyPath);
    let plain: Scalar = node.v;
    if (encrypted) {
      if (typeof node.v !== 'string') throw new Error(`${describe(keyPath)}: value should be encrypted but is a ${typeof node.v}`);
      plain = node.v === '' ? '' : decryptValue(node.v, dataKey, aadOf(keyPath), describe(keyPath));
    }
    if (!macOnlyEncrypted || encrypted) hash.update(toBytes(plain));
    return plain;
  };
  const docs = parsed.docs.map((doc) => walk(doc, []));
  const computedMac = hash.digest('hex').toUpperCase();

  const lastModified = meta['lastmodified'];
  if (lastModified === undefined) throw new Error('metadata has no lastmodified');
  const macAad = goRfc3339(scalarText(lastModified));
  const storedMac = meta['mac'];
  const fileMac = storedMac === undefined || storedMac === null || storedMac === '' ? '' : String(decryptValue(scalarText(storedMac), dataKey, macAad, 'sops.mac'));

  const comments = parsed.comments.map((c) => decryptComment(c, dataKey));
  return { docs, macOk: fileMac !== '' && fileMac === computedMac, computedMac, fileMac, comments };
}

/** The `sops` metadata as plain values (dotenv: unflattened). */
export function independentMetadata(fileText: string, format: Format): Record<string, unknown> {
  return parseFile(fileText, format).metadata;
}

/** Every age entry: the flat `sops.age` list, then those of each key group. */
export function independentAgeEntries(fileText: string, format: Format): AgeEntry[] {
  const meta = independentMetadata(fileText, format);
  const lists: unknown[] = [meta['age']];
  if (Array.isArray(meta['key_groups'])) for (const g of meta['key_groups']) lists.push((g as Record<string, unknown>)?.['age']);
  const out: AgeEntry[] = [];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const e of list as Record<string, unknown>[]) out.push({ recipient: scalarText(e['recipient']), enc: scalarText(e['enc']) });
  }
  return out;
}

/** Every PGP entry of the flat `sops.pgp` list. */
export function independentPgpEntries(fileText: string, format: Format): { fp: string; enc: string }[] {
  const list = independentMetadata(fileText, format)['pgp'];
  if (!Array.isArray(list)) return [];
  return (list as Record<string, unknown>[]).map((e) => ({ fp: scalarText(e['fp']), enc: scalarText(e['enc']) }));
}

/** JSON-ish view of decrypted docs: bigint → number, GoTime → its text, bytes → latin1. */
export function toJsonish(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof GoTime) return value.text;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (Array.isArray(value)) return value.map(toJsonish);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: toJsonish(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Peer CLIs

function cliWorks(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export function ageCliAvailable(): boolean {
  return cliWorks('age', ['--version']);
}

export function gpgCliAvailable(): boolean {
  return cliWorks('gpg', ['--version']);
}

/** Pipes an armored age file into `age --decrypt -i identityFile`; returns the raw plaintext. */
export function unwrapAgeWithCli(enc: string, identityFile: string): Buffer {
  const r = spawnSync('age', ['--decrypt', '-i', identityFile], { input: enc, maxBuffer: 1 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`age --decrypt failed (${r.status}): ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** Imports `keyFile` into a throwaway GNUPGHOME and decrypts an armored PGP message with `gpg`. */
export function unwrapPgpWithCli(enc: string, keyFile: string): Buffer {
  const home = mkdtempSync(path.join(tmpdir(), 'wax-gnupg-'));
  try {
    const env = { ...process.env, GNUPGHOME: home };
    const base = ['--batch', '--quiet', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];
    const imported = spawnSync('gpg', [...base, '--import', keyFile], { env });
    if (imported.status !== 0) throw new Error(`gpg --import failed: ${imported.stderr.toString().trim()}`);
    const r = spawnSync('gpg', [...base, '--decrypt'], { env, input: enc, maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`gpg --decrypt failed (${r.status}): ${r.stderr.toString().trim()}`);
    return r.stdout;
  } finally {
    spawnSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Values: ENC[AES256_GCM,data:…,iv:…,tag:…,type:…] (§3)

function aadOf(keyPath: string[]): string {
  return keyPath.join(':') + ':';
}

function describe(keyPath: string[]): string {
  return keyPath.length === 0 ? '(root)' : keyPath.join('.');
}

function strictBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new Error(`${what} is not canonical padded base64`);
  return bytes;
}

interface EncParts {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: string;
}

function parseEnc(text: string, where: string): EncParts {
  const m = /^ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:([^,\]]*)\]$/.exec(text);
  if (!m) throw new Error(`${where}: value does not match sops' data format`);
  const parts = {
    data: strictBase64(m[1]!, `${where}: data`),
    iv: strictBase64(m[2]!, `${where}: iv`),
    tag: strictBase64(m[3]!, `${where}: tag`),
    type: m[4]!,
  };
  if (parts.iv.length !== 32) throw new Error(`${where}: iv is ${parts.iv.length} bytes, sops writes 32`);
  if (parts.tag.length !== 16) throw new Error(`${where}: tag is ${parts.tag.length} bytes, expected 16`);
  return parts;
}

function gcmOpen(p: EncParts, key: Uint8Array, aad: string, where: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, p.iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(p.tag);
  try {
    return Buffer.concat([decipher.update(p.data), decipher.final()]);
  } catch {
    throw new Error(`${where}: AES-GCM authentication failed`);
  }
}

function decryptValue(text: string, key: Uint8Array, aad: string, where: string): Scalar {
  const p = parseEnc(text, where);
  const plain = gcmOpen(p, key, aad, where);
  const s = plain.toString('utf8');
  switch (p.type) {
    case 'str':
      return s;
    case 'int':
      return goAtoi(s, where);
    case 'float':
      return goParseFloat(s, where);
    case 'bool':
      return goParseBool(s, where);
    case 'time': {
      const t = parseRfc3339(s);
      if (!t) throw new Error(`${where}: type:time value is not RFC 3339`);
      return new GoTime(formatGoTime(t, true));
    }
    case 'bytes':
      return new Uint8Array(plain);
    case 'comment':
      throw new Error(`${where}: type:comment on a value`);
    default:
      throw new Error(`${where}: unknown datatype ${JSON.stringify(p.type)}`);
  }
}

function decryptComment(c: RawComment, key: Uint8Array): DecryptedComment {
  const text = c.text;
  const enc = text.trim();
  if (!enc.startsWith('ENC[AES256_GCM,')) return { text, aad: null };
  for (const candidate of c.candidates) {
    const aad = aadOf(candidate);
    try {
      const p = parseEnc(enc, 'comment');
      if (p.type !== 'comment') break;
      return { text: gcmOpen(p, key, aad, 'comment').toString('utf8'), aad };
    } catch {
      // try the next enclosing mapping; sops keeps undecryptable comments as they are
    }
  }
  return { text, aad: null };
}

/** ToBytes (§3.4): the bytes that enter the MAC. */
function toBytes(v: Scalar): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'bigint') return Buffer.from(v.toString(10));
  if (typeof v === 'number') return Buffer.from(goFormatFloat(v));
  if (typeof v === 'boolean') return Buffer.from(v ? 'True' : 'False');
  if (v instanceof GoTime) return Buffer.from(v.text);
  if (v instanceof Uint8Array) return Buffer.from(v);
  throw new Error('null has no bytes');
}

// ---------------------------------------------------------------------------------------
// Go's strconv and time, as far as sops uses them

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function goAtoi(s: string, where: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`${where}: type:int value is not a decimal integer`);
  const v = BigInt(s);
  if (v < INT64_MIN || v > INT64_MAX) throw new Error(`${where}: type:int value out of range`);
  return v;
}

function goParseFloat(s: string, where: string): number {
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(s)) return NaN;
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) throw new Error(`${where}: type:float value is not a number`);
  const v = Number(s);
  if (!Number.isFinite(v)) throw new Error(`${where}: type:float value out of range`);
  return v;
}

function goParseBool(s: string, where: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new Error(`${where}: type:bool value is not a Go bool`);
}

/** strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent. */
export function goFormatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  // toExponential() without an argument gives the shortest digits that round-trip.
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(v.toExponential());
  if (!m) throw new Error(`cannot format ${v}`);
  const digits = m[2]! + (m[3] ?? '');
  const point = Number(m[4]) + 1; // digits before the decimal point
  let body: string;
  if (point <= 0) body = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) body = digits + '0'.repeat(point - digits.length);
  else body = digits.slice(0, point) + '.' + digits.slice(point);
  return m[1]! + body;
}

interface TimeFields {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** Fraction digits as written (Go keeps at most 9). */
  frac: string;
  /** Offset in minutes east of UTC. */
  offset: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function validTime(t: TimeFields): boolean {
  const dim = new Date(Date.UTC(t.y, t.mo, 0)).getUTCDate();
  return t.mo >= 1 && t.mo <= 12 && t.d >= 1 && t.d <= dim && t.h <= 23 && t.mi <= 59 && t.s <= 59;
}

function parseOffset(z: string | undefined): number | null {
  if (z === undefined || z === 'Z') return 0;
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(z);
  if (!m || Number(m[2]) > 23 || Number(m[3]) > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

function fields(m: RegExpExecArray, zone: string | undefined): TimeFields | null {
  const offset = parseOffset(zone);
  if (offset === null) return null;
  const t = {
    y: Number(m[1]),
    mo: Number(m[2]),
    d: Number(m[3]),
    h: Number(m[4] ?? 0),
    mi: Number(m[5] ?? 0),
    s: Number(m[6] ?? 0),
    frac: (m[7] ?? '').slice(1, 10),
    offset,
  };
  return validTime(t) ? t : null;
}

/** time.Parse(time.RFC3339, s). */
function parseRfc3339(s: string): TimeFields | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  return m ? fields(m, m[8]) : null;
}

/** go-yaml v3 `parseTimestamp`: the four layouts it tries on an unquoted scalar. */
function parseYamlTimestamp(s: string): TimeFields | null {
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})([.,]\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (m) return fields(m, m[8]);
  m = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})([.,]\d+)?$/.exec(s);
  if (m) return fields(m, undefined);
  m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  if (m) return fields(m, undefined);
  return null;
}

/** Format(RFC3339Nano) when `nano`, else Format(RFC3339); a zero offset prints as Z. */
function formatGoTime(t: TimeFields, nano: boolean): string {
  let out = `${pad(t.y, 4)}-${pad(t.mo)}-${pad(t.d)}T${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}`;
  if (nano) {
    const frac = t.frac.padEnd(9, '0').replace(/0+$/, '');
    if (frac !== '') out += '.' + frac;
  }
  if (t.offset === 0) return out + 'Z';
  const abs = Math.abs(t.offset);
  return `${out}${t.offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The MAC's AAD: lastmodified parsed as RFC 3339 and re-formatted (§5.3). */
function goRfc3339(s: string): string {
  const t = parseRfc3339(s);
  if (!t) throw new Error(`lastmodified ${JSON.stringify(s)} is not RFC 3339`);
  return formatGoTime(t, false);
}

// ---------------------------------------------------------------------------------------
// Selection rules (§4)

function truthy(v: unknown): boolean {
  return v === true || (typeof v === 'string' && ['true', 'True', 'TRUE', '1', 't', 'T'].includes(v));
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof GoTime) return v.text;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`expected a scalar in the metadata, got ${v === null ? 'null' : typeof v}`);
}

/** RE2 → JS for the patterns seen in .sops.yaml files: a leading (?i) becomes the i flag. */
function goRegex(pattern: string): RegExp {
  let flags = '';
  let source = pattern;
  if (source.startsWith('(?i)')) {
    flags = 'i';
    source = source.slice(4);
  }
  // Other inline flags ((?s), (?m), (?i) mid-pattern) and (?P<name>…) have no JS equivalent here.
  if (/\(\?[a-zA-Z]/.test(source)) throw new Error(`unsupported RE2 syntax in ${JSON.stringify(pattern)}`);
  return new RegExp(source, flags);
}

function selectionRules(meta: Record<string, unknown>): (keyPath: string[]) => boolean {
  const names = ['unencrypted_suffix', 'encrypted_suffix', 'unencrypted_regex', 'encrypted_regex', 'unencrypted_comment_regex', 'encrypted_comment_regex'];
  const set = names.filter((n) => meta[n] !== undefined && meta[n] !== null && meta[n] !== '');
  if (set.length > 1) throw new Error(`more than one selection rule: ${set.join(', ')}`);
  const rule = set[0] ?? 'unencrypted_suffix';
  const value = set.length === 0 ? '_unencrypted' : scalarText(meta[rule]);
  switch (rule) {
    case 'unencrypted_suffix':
      return (p) => !p.some((k) => k.endsWith(value));
    case 'encrypted_suffix':
      return (p) => p.some((k) => k.endsWith(value));
    case 'unencrypted_regex': {
      const re = goRegex(value);
      return (p) => !p.some((k) => re.test(k));
    }
    case 'encrypted_regex': {
      const re = goRegex(value);
      return (p) => p.some((k) => re.test(k));
    }
    default:
      throw new Error(`${rule} is not supported by the independent verifier`);
  }
}

// ---------------------------------------------------------------------------------------
// Stores

interface ParsedFile {
  docs: INode[];
  metadata: Record<string, unknown>;
  comments: RawComment[];
}

function parseFile(text: string, format: Format): ParsedFile {
  switch (format) {
    case 'yaml':
      return parseYamlFile(text);
    case 'json':
      return parseJsonFile(text);
    case 'dotenv':
      return parseDotenvFile(text);
    default:
      throw new Error(`unknown format ${String(format)}`);
  }
}

/** Splits the top-level `sops` key off a document. */
function splitMetadata(doc: INode, what: string): { doc: INode; meta: INode | undefined } {
  if (doc.t !== 'map') throw new Error(`${what}: top level must be a mapping`);
  const meta = doc.entries.find(([k]) => k === 'sops')?.[1];
  return { doc: { t: 'map', entries: doc.entries.filter(([k]) => k !== 'sops') }, meta };
}

function toPlain(node: INode | undefined): unknown {
  if (node === undefined) return undefined;
  if (node.t === 'leaf') return node.v;
  if (node.t === 'seq') return node.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of node.entries) Object.defineProperty(out, k, { value: toPlain(v), enumerable: true, writable: true, configurable: true });
  return out;
}

function metadataOf(meta: INode | undefined): Record<string, unknown> {
  if (meta === undefined) throw new Error('no sops metadata');
  const m = toPlain(meta);
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error('sops metadata is not a mapping');
  return m as Record<string, unknown>;
}

// --- YAML (go-yaml v3 semantics) ---

const STR_TAG = 'tag:yaml.org,2002:str';

/** go-yaml v3 `resolve` for an unquoted scalar decoded into interface{}. */
function resolvePlain(s: string): Scalar {
  if (['', '~', 'null', 'Null', 'NULL'].includes(s)) return null;
  if (['true', 'True', 'TRUE'].includes(s)) return true;
  if (['false', 'False', 'FALSE'].includes(s)) return false;
  if (['.nan', '.NaN', '.NAN'].includes(s)) return NaN;
  if (['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].includes(s)) return Infinity;
  if (['-.inf', '-.Inf', '-.INF'].includes(s)) return -Infinity;
  if (/^\d{4}-/.test(s)) {
    const t = parseYamlTimestamp(s);
    if (t) return new GoTime(formatGoTime(t, true));
  }
  const p = s.replaceAll('_', '');
  // strconv.ParseInt(p, 0, 64): sign, then 0x / 0o / 0b / leading-0 octal / decimal.
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(p);
  if (m) {
    let digits = m[2]!;
    if (/^0[0-7]+$/.test(digits)) digits = '0o' + digits.slice(1);
    const v = (m[1] === '-' ? -1n : 1n) * BigInt(digits.replace(/^0([XOB])/, (_, c: string) => '0' + c.toLowerCase()));
    if (v >= INT64_MIN && v <= 2n ** 64n - 1n) return v; // uint64 beyond int64 is still an integer
  }
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(p)) {
    const v = Number(p);
    if (Number.isFinite(v)) return v;
  }
  return s;
}

interface YamlCtx {
  doc: Document.Parsed;
  comments: RawComment[];
}

function ancestorsOf(keyPath: string[]): string[][] {
  const out: string[][] = [];
  for (let i = keyPath.length; i >= 0; i--) out.push(keyPath.slice(0, i));
  return out;
}

function noteComments(ctx: YamlCtx | null, texts: (string | null | undefined)[], container: string[]): void {
  if (!ctx) return;
  for (const text of texts) {
    if (!text) continue;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      ctx.comments.push({ text: line, candidates: ancestorsOf(container) });
    }
  }
}

function yamlKey(node: unknown): string {
  if (!isScalar(node)) throw new Error('Tree contains a non-string key: only string keys are supported');
  const raw = String(node.value);
  if (node.tag === STR_TAG || node.type !== 'PLAIN') return raw;
  if (node.tag) throw new Error(`unsupported tag ${node.tag} on a key`);
  if (raw === '<<') throw new Error('YAML merge keys are not supported by the independent verifier');
  const v = resolvePlain(raw);
  if (typeof v === 'string') return v;
  if (v instanceof GoTime) return raw;
  throw new Error(`Tree contains a non-string key (${raw}): only string keys are supported`);
}

/** `ctx` is null while expanding an alias, so the anchor's comments are not counted twice. */
function yamlToNode(node: unknown, keyPath: string[], container: string[], ctx: YamlCtx | null, rootCtx: YamlCtx): INode {
  if (node === null || node === undefined) return { t: 'leaf', v: null };
  if (isAlias(node)) {
    const target = node.resolve(rootCtx.doc);
    if (!target) throw new Error(`unresolved alias ${node.source}`);
    return yamlToNode(target, keyPath, container, null, rootCtx);
  }
  if (isMap(node)) {
    noteComments(ctx, [node.commentBefore, node.comment], keyPath);
    const entries: [string, INode][] = [];
    for (const pair of node.items) {
      const key = yamlKey(pair.key);
      if (isScalar(pair.key)) noteComments(ctx, [pair.key.commentBefore, pair.key.comment], keyPath);
      if (entries.some(([k]) => k === key)) throw new Error(`duplicate key ${key}`);
      entries.push([key, yamlToNode(pair.value, [...keyPath, key], keyPath, ctx, rootCtx)]);
    }
    return { t: 'map', entries };
  }
  if (isSeq(node)) {
    noteComments(ctx, [node.commentBefore, node.comment], keyPath);
    return { t: 'seq', items: node.items.map((item) => yamlToNode(item, keyPath, keyPath, ctx, rootCtx)) };
  }
  if (isScalar(node)) {
    noteComments(ctx, [node.commentBefore, node.comment], container);
    const raw = String(node.value);
    if (node.tag === STR_TAG) return { t: 'leaf', v: raw };
    if (node.tag) throw new Error(`${describe(keyPath)}: unsupported tag ${node.tag}`);
    return { t: 'leaf', v: node.type === 'PLAIN' ? resolvePlain(raw) : raw };
  }
  throw new Error(`${describe(keyPath)}: unsupported YAML node`);
}

function parseYamlFile(text: string): ParsedFile {
  const list: Document.Parsed[] = [...parseAllDocuments(text, { schema: 'failsafe', uniqueKeys: true })];
  const comments: RawComment[] = [];
  const docs: INode[] = [];
  let metaNode: INode | undefined;
  list.forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`YAML document ${i}: ${doc.errors[0]!.message}`);
    const ctx: YamlCtx = { doc, comments };
    noteComments(ctx, [doc.commentBefore, doc.comment], []);
    if (doc.contents !== null && !isMap(doc.contents)) throw new Error('YAML documents that are sequences or scalars are not supported');
    const node = doc.contents === null ? ({ t: 'map', entries: [] } as INode) : yamlToNode(doc.contents as YamlNode, [], [], ctx, ctx);
    const { doc: data, meta } = splitMetadata(node, `YAML document ${i}`);
    if (i === 0) metaNode = meta; // later documents' sops keys are dropped
    docs.push(data);
  });
  return { docs, metadata: metadataOf(metaNode), comments };
}

// --- JSON (a small ordered parser: JSON.parse would move integer-like keys first) ---

function parseJsonFile(text: string): ParsedFile {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`JSON: ${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    if (text[i] !== '"') fail('expected a string');
    i++;
    let out = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined) fail('unterminated string');
      if (c === '"') return out;
      if (c === '\\') {
        const e = text[i++];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) out += simple[e];
        else if (e === 'u') {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
        } else fail('bad escape');
      } else if (c < ' ') fail('control character in string');
      else out += c;
    }
  };
  const value = (): INode => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, INode][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'map', entries };
      }
      for (;;) {
        ws();
        const k = str();
        if (entries.some(([e]) => e === k)) fail(`duplicate key ${k}`);
        ws();
        if (text[i++] !== ':') fail('expected :');
        entries.push([k, value()]);
        ws();
        const sep = text[i++];
        if (sep === '}') return { t: 'map', entries };
        if (sep !== ',') fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const items: INode[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'seq', items };
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return { t: 'seq', items };
        if (sep !== ',') fail('expected , or ]');
      }
    }
    if (c === '"') return { t: 'leaf', v: str() };
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return { t: 'leaf', v };
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail('unexpected character');
    i += m![0].length;
    // sops >= 3.13.2 (UseNumber): int when it fits int64, else float64. Older releases made
    // every number a float64; both give the same MAC bytes below 2^53.
    if (m![2] === undefined && m![3] === undefined) {
      const n = BigInt(m![0]);
      if (n >= INT64_MIN && n <= INT64_MAX) return { t: 'leaf', v: n };
    }
    return { t: 'leaf', v: Number(m![0]) };
  };
  const root = value();
  ws();
  if (i !== text.length) fail('trailing data');
  const { doc, meta } = splitMetadata(root, 'JSON');
  return { docs: [doc], metadata: metadataOf(meta), comments: [] };
}

// --- dotenv ---

function unflatten(flat: [string, string][]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of flat) {
    const parts = key.split('__');
    let cur: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, idx) => {
      const last = idx === parts.length - 1;
      const next = parts[idx + 1];
      const container = () => (next !== undefined && next.startsWith('list_') ? [] : {});
      let slot: string | number;
      if (Array.isArray(cur)) {
        if (!part.startsWith('list_')) throw new Error(`dotenv metadata: expected list_N in ${key}`);
        slot = Number(part.slice(5));
      } else slot = part.startsWith('map_') ? part.slice(4) : part;
      const holder = cur as Record<string | number, unknown>;
      if (last) holder[slot] = value;
      else {
        if (holder[slot] === undefined) holder[slot] = container();
        cur = holder[slot] as Record<string, unknown> | unknown[];
      }
    });
  }
  return root;
}

function parseDotenvFile(text: string): ParsedFile {
  const entries: [string, INode][] = [];
  const meta: [string, string][] = [];
  const comments: RawComment[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      comments.push({ text: line.slice(1), candidates: [[]] });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error('dotenv: line without =');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).replaceAll('\\n', '\n');
    if (key.startsWith('sops_')) meta.push([key.slice(5), value]);
    else entries.push([key, { t: 'leaf', v: value }]);
  }
  if (meta.length === 0) throw new Error('no sops metadata');
  return { docs: [{ t: 'map', entries }], metadata: unflatten(meta), comments };
}
