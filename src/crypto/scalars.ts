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

// ignoreBOM keeps a leading U+FEFF: the default strips it, so a value or binary file that
// starts with a byte order mark lost it on decryption (and its MAC no longer matched).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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

/** A timestamp as Go's time.Parse reads it: wall-clock fields and the zone offset. */
interface GoTime {
  year: string;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Fraction digits, at most 9 (Go truncates the rest). */
  fraction: string;
  /** Offset east of UTC in minutes. */
  offset: number;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Go's `time.Parse` with one of go-yaml v3's timestamp layouts: `2006-1-2T15:4:5.999999999Z07:00`
 * (sep `T`), the same with `t`, `2006-1-2 15:4:5.999999999` (sep ` `, no zone) and
 * `2006-1-2` (sep null). Month, day, hour, minute and second take one or two digits;
 * a zone is `Z` or `±hh:mm`; every field is range-checked, days against the month.
 */
function parseGoLayout(text: string, sep: 'T' | 't' | ' ' | null): GoTime | undefined {
  let i = 4;
  const getnum = (): number | undefined => {
    if (!isDigit(text[i])) return undefined;
    const width = isDigit(text[i + 1]) ? 2 : 1;
    const n = Number(text.slice(i, i + width));
    i += width;
    return n;
  };
  const literal = (c: string): boolean => (text[i] === c ? (i++, true) : false);
  const year = text.slice(0, 4);
  if (!literal('-')) return undefined;
  const month = getnum();
  if (month === undefined || !literal('-')) return undefined;
  const day = getnum();
  if (day === undefined) return undefined;
  const t: GoTime = { year, month, day, hour: 0, minute: 0, second: 0, fraction: '', offset: 0 };
  if (sep !== null) {
    if (sep === ' ') {
      // A space in a Go layout matches one or more spaces.
      if (text[i] !== ' ') return undefined;
      while (text[i] === ' ') i++;
    } else if (!literal(sep)) return undefined;
    const hour = getnum();
    if (hour === undefined || !literal(':')) return undefined;
    const minute = getnum();
    if (minute === undefined || !literal(':')) return undefined;
    const second = getnum();
    if (second === undefined) return undefined;
    Object.assign(t, { hour, minute, second });
    if ((text[i] === '.' || text[i] === ',') && isDigit(text[i + 1])) {
      let end = i + 1;
      while (isDigit(text[end])) end++;
      t.fraction = text.slice(i + 1, end).slice(0, 9);
      i = end;
    }
    if (sep !== ' ') {
      if (literal('Z')) {
        // UTC
      } else {
        const m = /^([+-])(\d{2}):(\d{2})/.exec(text.slice(i));
        if (!m) return undefined;
        const hours = Number(m[2]);
        const minutes = Number(m[3]);
        // Go accepts offsets up to 24:60 ("some people do write" them).
        if (hours > 24 || minutes > 60) return undefined;
        t.offset = (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
        i += 6;
      }
    }
  }
  if (i !== text.length) return undefined;
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > daysIn(t.month, Number(year))) return undefined;
  if (t.hour > 23 || t.minute > 59 || t.second > 59) return undefined;
  return t;
}

/** go-yaml v3's `parseTimestamp`: four digits and `-`, then the first layout that parses. */
function parseGoYamlTimestamp(text: string): GoTime | undefined {
  if (!/^[0-9]{4}-/.test(text)) return undefined;
  for (const sep of ['T', 't', ' ', null] as const) {
    const t = parseGoLayout(text, sep);
    if (t) return t;
  }
  return undefined;
}

/** True if a plain YAML scalar is a timestamp as go-yaml resolves it. */
export function looksLikeTimestamp(text: string): boolean {
  return parseGoYamlTimestamp(text) !== undefined;
}

/**
 * Go's `time.Time.MarshalText` of a parsed timestamp: `2006-01-02T15:04:05.999999999Z07:00`
 * (fraction trimmed of trailing zeros, `Z` for a zero offset, the offset otherwise). A date
 * alone is midnight UTC; the space form without a zone is UTC. Undefined when go-yaml
 * would not read the text as a timestamp (`2024-13-01`, `2024-01-02T10:00:00` without zone).
 */
export function normaliseGoTime(text: string): string | undefined {
  const t = parseGoYamlTimestamp(text);
  if (!t) return undefined;
  const pad = (v: number) => String(v).padStart(2, '0');
  let out = `${t.year}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}`;
  const fraction = t.fraction.replace(/0+$/, '');
  if (fraction) out += `.${fraction}`;
  if (t.offset === 0) return `${out}Z`;
  const abs = Math.abs(t.offset);
  return `${out}${t.offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
