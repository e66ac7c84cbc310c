/**
 * The JSON store (sops-format.md §6.2). A small parser of our own, because JSON.parse
 * reorders integer-like keys, cannot tell `7` from `7.0` (int vs float changes the
 * `type:` tag and the MAC bytes) and loses integers beyond 2^53. Output is what sops
 * writes: its compact encoding re-indented by Go's `json.Indent` (tab by default), with
 * strings escaped as Go's `json.Marshal` does, and a trailing newline.
 */
import { InvalidDocumentError, MetadataError } from '../../errors.js';
import { formatGoFloat } from '../../crypto/scalars.js';
import { Comment, SopsTime, TreeBranch, fromPlain, toPlain, type TreeItem, type TreeValue } from '../tree.js';
import type { EmitOptions, EncryptedFile, PlainMetadata, Store } from './types.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/**
 * Go accepts 10000 levels; this recursive parser (and the recursive writer and tree
 * walk after it) would exhaust Node's stack long before that, so refuse early with a
 * typed error instead of a RangeError. No secrets file nests anywhere near this deep.
 */
const MAX_DEPTH = 1000;
const HINT = 'fix the JSON syntax; wax never prints the offending value';
const LITERALS = [
  ['true', true],
  ['false', false],
  ['null', null],
] as const;
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Recursive-descent parser over the decoded text. Errors carry a position, never content. */
class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): TreeBranch {
    this.skipSpace();
    if (this.text.charCodeAt(0) === 0xfeff) throw this.fail('the file starts with a byte order mark', 'save the file as UTF-8 without BOM');
    if (this.pos >= this.text.length) throw this.fail('the JSON document is empty');
    if (this.text[this.pos] !== '{') {
      throw new InvalidDocumentError(
        `the top level of a JSON document must be an object (${this.where()})`,
        'wrap the content in an object, for example {"data": [...]}',
      );
    }
    const branch = this.object(1);
    this.skipSpace();
    // sops' token decoder stops at the closing brace; trailing bytes are more likely a mistake than intent.
    if (this.pos < this.text.length) throw this.fail('unexpected content after the top-level object');
    return branch;
  }

  private value(depth: number): TreeValue {
    if (depth > MAX_DEPTH) throw this.fail('the document is nested too deeply');
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, result] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return result;
      }
    }
    throw this.pos >= this.text.length ? this.fail('unexpected end of input') : this.fail('unexpected character');
  }

  private object(depth: number): TreeBranch {
    this.pos++; // {
    const items: TreeItem[] = [];
    const seen = new Set<string>();
    this.skipSpace();
    if (this.eat('}')) return new TreeBranch(items);
    for (;;) {
      this.skipSpace();
      const keyAt = this.pos;
      if (this.text[this.pos] !== '"') throw this.fail('expected a string key');
      const key = this.string();
      // Go would keep both; a duplicate key is almost always an editing mistake that hides a secret.
      if (seen.has(key)) throw new InvalidDocumentError(`duplicate key in a JSON object (${this.where(keyAt)})`, 'remove one of the two entries');
      seen.add(key);
      this.skipSpace();
      this.expect(':');
      this.skipSpace();
      items.push({ key, value: this.value(depth) });
      if (this.endOfList('}')) return new TreeBranch(items);
    }
  }

  private array(depth: number): TreeValue[] {
    this.pos++; // [
    const out: TreeValue[] = [];
    this.skipSpace();
    if (this.eat(']')) return out;
    for (;;) {
      this.skipSpace();
      out.push(this.value(depth));
      if (this.endOfList(']')) return out;
    }
  }

  /** After an element: `,` continues, `close` ends the list. */
  private endOfList(close: string): boolean {
    this.skipSpace();
    if (this.eat(close)) return true;
    this.expect(',');
    return false;
  }

  private string(): string {
    this.pos++; // opening quote
    let out = '';
    let start = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) throw this.fail('unterminated string');
      const code = this.text.charCodeAt(this.pos);
      if (code === 0x22) break;
      if (code < 0x20) throw this.fail('control character in a string');
      if (code !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(start, this.pos) + this.escape();
      start = this.pos;
    }
    out += this.text.slice(start, this.pos);
    this.pos++; // closing quote
    return replaceLoneSurrogates(out);
  }

  private escape(): string {
    const c = this.text[this.pos + 1];
    if (c !== undefined && c in SIMPLE_ESCAPES) {
      this.pos += 2;
      return SIMPLE_ESCAPES[c];
    }
    const hex = this.text.slice(this.pos + 2, this.pos + 6);
    if (c !== 'u' || !/^[0-9a-fA-F]{4}$/.test(hex)) throw this.fail('invalid escape sequence');
    this.pos += 6;
    return String.fromCharCode(parseInt(hex, 16));
  }

  private number(): bigint | number {
    const match = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    match.lastIndex = this.pos;
    const m = match.exec(this.text);
    if (!m) throw this.fail('invalid number');
    this.pos += m[0].length;
    // sops 3.13.2 decodes with UseNumber: int when the literal fits int64, else float64.
    if (m[1] === undefined && m[2] === undefined) {
      const int = BigInt(m[0]);
      if (int >= INT64_MIN && int <= INT64_MAX) return int;
    }
    const float = Number(m[0]);
    if (!Number.isFinite(float)) throw this.fail('number out of range');
    return float;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  private eat(c: string): boolean {
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  private expect(c: string): void {
    if (!this.eat(c)) throw this.pos >= this.text.length ? this.fail('unexpected end of input') : this.fail(`expected '${c}'`);
  }

  /** Computed only when an error is raised: it scans the text up to `at`. */
  private where(at = this.pos): string {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
  }

  private fail(reason: string, hint = HINT): InvalidDocumentError {
    return new InvalidDocumentError(`invalid JSON: ${reason} at ${this.where()}`, hint);
  }
}

/** Go decodes an unpaired `\ud800` escape to U+FFFD; so do we, so the MAC bytes agree. */
function replaceLoneSurrogates(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export function parseJsonDocument(input: Buffer): TreeBranch {
  return new Parser(input.toString('utf8')).document();
}

// ---- output ----------------------------------------------------------------------

const GO_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** `json.Marshal` of a string (HTML-safe escaping, as sops gets it by default). */
export function quoteGo(s: string): string {
  const escaped = s.replace(/["\\<>&\u0000-\u001f\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${escaped}"`;
}

/**
 * `json.Marshal` of a float64: `strconv` 'f' format, switching to the exponent form
 * outside [1e-6, 1e21) exactly where JavaScript's `String` does (and with the same
 * spelling, `1e+21`, `1e-7`). NaN and infinities have no JSON form.
 */
function formatJsonFloat(v: number): string {
  if (!Number.isFinite(v)) throw new InvalidDocumentError('JSON cannot represent NaN or infinite numbers', 'quote the value to keep it as a string');
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-6 || abs >= 1e21)) return String(v);
  return formatGoFloat(v);
}

class Writer {
  constructor(private readonly indent: string) {}

  value(v: TreeValue, depth: number): string {
    if (v instanceof TreeBranch) return this.object(v, depth);
    if (Array.isArray(v)) return this.array(v, depth);
    if (v === null) return 'null';
    if (typeof v === 'string') return quoteGo(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number') return formatJsonFloat(v);
    if (v instanceof Uint8Array) return quoteGo(Buffer.from(v).toString('utf8'));
    if (v instanceof SopsTime) return quoteGo(v.text);
    throw new InvalidDocumentError('a comment stands where JSON needs a value');
  }

  private object(branch: TreeBranch, depth: number): string {
    // JSON has no comments: sops drops them.
    const items = branch.items.filter((item): item is TreeItem & { key: string } => typeof item.key === 'string');
    const parts = items.map((item) => `${quoteGo(item.key)}: ${this.value(item.value, depth + 1)}`);
    return this.wrap('{', parts, '}', depth);
  }

  private array(values: TreeValue[], depth: number): string {
    const parts = values.filter((v) => !(v instanceof Comment)).map((v) => this.value(v, depth + 1));
    return this.wrap('[', parts, ']', depth);
  }

  /** json.Indent's layout: empty containers stay `{}` / `[]`, one element per line otherwise. */
  private wrap(open: string, parts: string[], close: string, depth: number): string {
    if (parts.length === 0) return open + close;
    const inner = this.indent.repeat(depth + 1);
    return `${open}\n${inner}${parts.join(`,\n${inner}`)}\n${this.indent.repeat(depth)}${close}`;
  }
}

/** `stores.json.indent`: N spaces when given (0 = no indentation, still one item per line), else a tab. */
function indentString(options?: EmitOptions): string {
  const n = options?.indent;
  return n === undefined || n < 0 ? '\t' : ' '.repeat(n);
}

export function emitJsonDocument(branch: TreeBranch, options?: EmitOptions): Buffer {
  return Buffer.from(new Writer(indentString(options)).value(branch, 0) + '\n', 'utf8');
}

/** JSON holds exactly one document; refusing more beats sops' silent drop of the rest. */
export function singleDocument(documents: TreeBranch[], format: string): TreeBranch {
  if (documents.length > 1) {
    throw new InvalidDocumentError(`${format} files hold one document; this input has ${documents.length}`, 'split the documents into separate files');
  }
  return documents[0] ?? new TreeBranch();
}

// ---- metadata --------------------------------------------------------------------

const SOPS_KEY = 'sops';

function loadEncrypted(input: Buffer): EncryptedFile {
  const branch = parseJsonDocument(input);
  const index = branch.items.findIndex((item) => item.key === SOPS_KEY);
  if (index < 0) return { documents: [branch], metadata: undefined };
  const [item] = branch.items.splice(index, 1);
  if (!(item.value instanceof TreeBranch)) throw new MetadataError('the sops metadata is not a mapping', 'the file is damaged; restore it from version control');
  return { documents: [branch], metadata: toPlain(item.value) as PlainMetadata };
}

function emitEncrypted(documents: TreeBranch[], metadata: PlainMetadata, options?: EmitOptions): Buffer {
  const branch = singleDocument(documents, 'JSON');
  if (branch.has(SOPS_KEY)) {
    throw new InvalidDocumentError('the document has a top-level "sops" key, which is reserved for the metadata', 'rename that key');
  }
  const withMetadata = new TreeBranch([...branch.items, { key: SOPS_KEY, value: fromPlain(metadata) }]);
  return emitJsonDocument(withMetadata, options);
}

export const jsonStore: Store = {
  format: 'json',
  loadPlain: (input) => [parseJsonDocument(input)],
  loadEncrypted,
  emitPlain: (documents, options) => emitJsonDocument(singleDocument(documents, 'JSON'), options),
  emitEncrypted,
  hasMetadata: (documents) => documents.some((doc) => doc.has(SOPS_KEY)),
};
