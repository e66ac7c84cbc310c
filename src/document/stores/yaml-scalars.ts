/**
 * How a plain (unquoted, untagged) YAML scalar is typed. sops takes its Go types from
 * go-yaml v3; the `yaml` library applies the YAML 1.2 core schema. Where they differ,
 * go-yaml wins, because the `type:` tag and the MAC depend on it. Both the fast reader
 * and the full-library reader resolve plain scalars through `resolvePlainScalar`.
 */
import { normaliseGoTime } from '../../crypto/scalars.js';
import { SopsTime, type TreeValue } from '../tree.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** `strconv.ParseInt(s, 0, 64)`'s syntax (range aside): sign, then 0x/0o/0b, a leading-0 octal, or decimal. */
function goParseIntBase0(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2];
  const magnitude = /^0[xXoObB]/.test(body) ? BigInt(body.toLowerCase()) : body.length > 1 && body[0] === '0' ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
  return m[1] === '-' ? -magnitude : magnitude;
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const GO_YAML_SPECIAL_FLOAT = /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/**
 * go-yaml v3's `resolve` for an untagged plain scalar that starts with a digit, a sign or
 * a dot, where it differs from the YAML 1.2 core schema the `yaml` package applies:
 * timestamps, `_` between digits (`1_000`), legacy octal (`0644` is 420, as Kubernetes
 * reads it), `0b`/`0o`/`0x` with a sign, and float overflow (`1e400` stays a string).
 * Returns undefined for other scalars, whose core-schema reading already agrees.
 */
export function resolveGoYamlPlain(text: string): bigint | number | SopsTime | string | undefined {
  const hint = text[0];
  if (hint === undefined || GO_YAML_SPECIAL_FLOAT.test(text)) return undefined;
  if (hint === '.') {
    const f = /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text) ? Number(text) : NaN;
    return Number.isFinite(f) ? f : text;
  }
  if (!/[0-9+-]/.test(hint)) return undefined;
  const time = normaliseGoTime(text);
  if (time !== undefined) return new SopsTime(time);
  const plain = text.replace(/_/g, '');
  const int = goParseIntBase0(plain);
  if (int !== undefined && int >= INT64_MIN && int <= INT64_MAX) return int;
  // go-yaml yields a uint64 here, which sops cannot encrypt; wax reads it as a float.
  if (int !== undefined && int >= 0n && int <= UINT64_MAX && plain[0] !== '+') return Number(int);
  if (YAML_STYLE_FLOAT.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f;
  }
  return text;
}

/** True if go-yaml would read this text, written as a plain scalar, as something other than a string. */
export function goYamlRetypes(text: string): boolean {
  const resolved = resolveGoYamlPlain(text);
  return resolved !== undefined && typeof resolved !== 'string';
}


const NULL = /^(?:~|null|Null|NULL)$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const CORE_INT = /^[-+]?[0-9]+$/;
const CORE_OCT = /^0o[0-7]+$/;
const CORE_HEX = /^0x[0-9a-fA-F]+$/;
const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const CORE_INF = /^[-+]?\.(?:inf|Inf|INF)$/;
const CORE_NAN = /^\.(?:nan|NaN|NAN)$/;

function int64OrFloat(value: bigint): bigint | number {
  return value < INT64_MIN || value > INT64_MAX ? Number(value) : value;
}

/** The full reading of a plain scalar: core-schema nulls and bools, then go-yaml, then core numbers. */
export function resolvePlainScalar(text: string): TreeValue {
  if (text === '' || NULL.test(text)) return null;
  if (BOOL.test(text)) return text[0] === 't' || text[0] === 'T';
  const go = resolveGoYamlPlain(text);
  if (go !== undefined) return go;
  if (CORE_INT.test(text) || CORE_OCT.test(text) || CORE_HEX.test(text)) return int64OrFloat(BigInt(text));
  if (CORE_FLOAT.test(text)) return Number(text);
  if (CORE_INF.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (CORE_NAN.test(text)) return NaN;
  return text;
}
