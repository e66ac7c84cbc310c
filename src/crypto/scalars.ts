/**
 * Go's serialisation of scalar values, as sops' `ToBytes` and `aes.Cipher` do it. Both
 * the encrypted plaintext and the MAC input depend on these exact bytes.
 */
import { Comment, SopsTime, type TreeValue } from '../document/tree.js';

export type ValueType = 'str' | 'int' | 'float' | 'bool' | 'time' | 'comment' | 'bytes';

export function typeOf(value: TreeValue): ValueType {
  if (typeof value === 'string' || value instanceof Uint8Array) return 'str';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'float';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof SopsTime) return 'time';
  if (value instanceof Comment) return 'comment';
  throw new TypeError('not a scalar value');
}

/** The plaintext bytes of a scalar, byte-compatible with Go's `ToBytes`. */
export function scalarToBytes(value: TreeValue): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.from(scalarToString(value), 'utf8');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decrypted bytes of a `str` value: text when it is valid UTF-8, raw bytes otherwise (binary files). */
export function bytesToStr(bytes: Buffer): string | Uint8Array {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
}

/** The plaintext string of a scalar, byte-compatible with Go. */
export function scalarToString(value: TreeValue): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatGoFloat(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value instanceof SopsTime) return value.text;
  if (value instanceof Comment) return value.value;
  throw new TypeError('not a scalar value');
}

/** Reverses `scalarToString` for a given `type:` tag. Returns undefined when unparsable. */
export function parseScalar(text: string, type: string): TreeValue | undefined {
  switch (type) {
    case 'str':
    case 'bytes':
      return text;
    case 'int':
      return /^[+-]?\d+$/.test(text) ? BigInt(text) : undefined;
    case 'float':
      return parseGoFloat(text);
    case 'bool':
      return parseGoBool(text);
    case 'time':
      return normaliseGoTime(text) === undefined ? undefined : new SopsTime(normaliseGoTime(text)!);
    case 'comment':
      return new Comment(text);
    default:
      return undefined;
  }
}

/** `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent. */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  const shortest = String(v);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(shortest);
  if (!match) return shortest;
  const [, sign, lead, frac = '', expText] = match;
  const digits = lead + frac;
  const exponent = Number(expText);
  // The decimal point sits after `1 + exponent` digits of `digits`.
  const pointAt = 1 + exponent;
  if (pointAt <= 0) return `${sign}0.${'0'.repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return sign + digits + '0'.repeat(pointAt - digits.length);
  return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}

function parseGoFloat(text: string): number | undefined {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf' || text === 'inf' || text === '+inf') return Infinity;
  if (text === '-Inf' || text === '-inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** `strconv.ParseBool`. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

const TIMESTAMP =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(?:[ \t]*(Z|[+-]\d{1,2}(?::?\d{2})?))?)?$/;

/** True if a plain YAML scalar is a timestamp as go-yaml resolves it. */
export function looksLikeTimestamp(text: string): boolean {
  return TIMESTAMP.test(text);
}

/**
 * Go's `time.Time.MarshalText` of a parsed timestamp: `2006-01-02T15:04:05.999999999Z07:00`
 * (fraction trimmed of trailing zeros, `Z` for UTC, the offset otherwise). A date
 * alone is midnight UTC; no zone means UTC.
 */
export function normaliseGoTime(text: string): string | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const pad = (v: string) => v.padStart(2, '0');
  let out = `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`;
  const fraction = frac.slice(0, 9).replace(/0+$/, '');
  if (fraction) out += `.${fraction}`;
  out += formatZone(zone);
  return out;
}

function formatZone(zone: string | undefined): string {
  if (!zone || zone === 'Z') return 'Z';
  const m = /^([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(zone)!;
  const hours = m[2].padStart(2, '0');
  const minutes = m[3] ?? '00';
  if (Number(hours) === 0 && Number(minutes) === 0) return 'Z';
  return `${m[1]}${hours}:${minutes}`;
}
