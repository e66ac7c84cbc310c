/**
 * A fast reader for the YAML that sops and wax write (block mappings and sequences,
 * single-line scalars, literal blocks, head comments), and the emitter wax always uses.
 *
 * Why: the general `yaml` library needs about 600 ms, cold, to parse a 2.5 MB encrypted
 * file; this reader needs a fraction of that, and a cold `wax decrypt` does not even
 * load the library. The reader is deliberately narrow: at the first construct it does not
 * handle (flow collections, anchors, tags, folded or multi-line scalars, comments whose
 * owner is ambiguous, flow collections over several lines or nested, …) it returns
 * `undefined` and the caller parses with the library. One-line flow collections of
 * scalars (`resources: { cpu: 100m, memory: 128Mi }`, `args: [--v, "2"]`), common in
 * Kubernetes manifests, are read here: loading the library costs more than such a file.
 * Tests check that both paths give the same tree on every fixture and on generated input.
 */
import { Comment, SopsTime, TreeBranch, type TreeValue } from '../tree.js';
import { resolvePlainScalar } from './yaml-scalars.js';

class Unsupported extends Error {}

/**
 * Deeper nesting is refused (by the full parser, see `yaml.ts`). Node's stack runs out a
 * few thousand levels down in the readers and the tree walk, and the `yaml` library
 * catches its own stack overflow in a way that can abort the process; a secrets file
 * never nests this deep.
 */
export const MAX_YAML_DEPTH = 500;
const bail = (): never => {
  throw new Unsupported();
};

interface Line {
  indent: number;
  /** The content after the indentation, trailing spaces removed. */
  text: string;
  /** The whole line as written, for literal blocks. */
  raw: string;
}


/** Parses all documents, or returns undefined when the input needs the full parser. */
export function fastParseYaml(text: string): TreeBranch[] | undefined {
  if (text.includes('\r') || text.includes('\t') || text.charCodeAt(0) === 0xfeff) return undefined;
  try {
    return splitDocuments(text).map((lines) => new FastReader(lines).document());
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

/**
 * Inside a line YAML's white space is the space (a tab or a CR sends the text to the full
 * parser). JavaScript's trim() also strips U+00A0, U+FEFF, U+3000 and other Unicode
 * spaces, which belong to a plain scalar: `password: secret` followed by a no-break space
 * must keep it, as go-yaml and the full library do.
 */
const trimSpacesStart = (s: string) => s.replace(/^ +/, '');
const trimSpacesEnd = (s: string) => s.replace(/ +$/, '');

function splitDocuments(text: string): (Line | null)[][] {
  const docs: (Line | null)[][] = [[]];
  const raw = text.split('\n');
  if (raw[raw.length - 1] === '') raw.pop();
  let seenContent = false;
  for (const line of raw) {
    if (line === '---') {
      if (seenContent) docs.push([]);
      else if (docs[0].some((l) => l !== null)) bail(); // comments before the first marker
      seenContent = true;
      continue;
    }
    if (line.startsWith('---') || line.startsWith('...') || line.startsWith('%')) bail();
    const trimmed = trimSpacesStart(line);
    if (trimmed === '') {
      // Whitespace-only lines are content in a literal block; leave them to the full parser.
      if (line !== '') bail();
      docs[docs.length - 1].push(null); // blank lines matter inside literal blocks
      continue;
    }
    if (!trimmed.startsWith('#')) seenContent = true;
    docs[docs.length - 1].push({ indent: line.length - trimmed.length, text: trimSpacesEnd(trimmed), raw: line });
  }
  return docs;
}

class FastReader {
  private pos = 0;
  private depth = 0;
  /** Raw text of each line, for literal blocks. */
  constructor(private readonly lines: (Line | null)[]) {}

  document(): TreeBranch {
    const first = this.peekContent();
    if (!first || first.indent !== 0 || first.text.startsWith('- ') || first.text === '-') bail();
    const branch = this.mapping(0);
    const trailing = this.comments(0);
    if (this.peekContent()) bail();
    for (const c of trailing) branch.items.push({ key: new Comment(c), value: null });
    return branch;
  }

  /** The next non-blank, non-comment line, without consuming anything. */
  private peekContent(): Line | undefined {
    for (let i = this.pos; i < this.lines.length; i++) {
      const line = this.lines[i];
      if (line && !line.text.startsWith('#')) return line;
    }
    return undefined;
  }

  /**
   * Consumes the comment lines before the next content line; they must stand at the
   * indentation of that line (or of `indent` at the end), or ownership is ambiguous.
   */
  private comments(indent: number): string[] {
    const out: string[] = [];
    const next = this.peekContent();
    const expected = next ? next.indent : indent;
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos];
      if (line === null) {
        this.pos++;
        continue;
      }
      if (!line.text.startsWith('#')) break;
      if (line.indent !== expected) bail();
      const body = line.raw.slice(line.indent + 1);
      if (body.trim() !== '') out.push(body);
      this.pos++;
    }
    return out;
  }

  /**
   * Comments after a collection's last item belong to it when they stand at its own
   * indentation (go-yaml's foot comments); shallower ones are left for the parent.
   */
  private trailing(indent: number): string[] {
    const out: string[] = [];
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos];
      if (line === null) {
        this.pos++;
        continue;
      }
      if (!line.text.startsWith('#') || line.indent < indent) break;
      if (line.indent > indent) bail();
      const body = line.raw.slice(line.indent + 1);
      if (body.trim() !== '') out.push(body);
      this.pos++;
    }
    return out;
  }

  /** Counts one level of nesting; past the limit the full parser takes over and refuses. */
  private enter(): void {
    if (++this.depth > MAX_YAML_DEPTH) bail();
  }

  private mapping(indent: number): TreeBranch {
    this.enter();
    const branch = new TreeBranch();
    const seen = new Set<string>();
    for (;;) {
      const next = this.peekContent();
      if (!next || next.indent < indent) {
        for (const c of this.trailing(indent)) branch.items.push({ key: new Comment(c), value: null });
        break;
      }
      if (next.indent > indent || next.text.startsWith('- ') || next.text === '-') bail();
      for (const c of this.comments(indent)) branch.items.push({ key: new Comment(c), value: null });
      const line = this.take();
      const { key, rest } = parseKey(line.text) ?? bail();
      if (seen.has(key)) bail(); // the full parser reports duplicates properly
      seen.add(key);
      branch.items.push({ key, value: this.value(rest, indent, false) });
    }
    this.depth--;
    return branch;
  }

  /** `ownsTrailing` is false for a list at its key's own indentation, whose foot is ambiguous. */
  private sequence(indent: number, ownsTrailing = true): TreeValue[] {
    this.enter();
    const items: TreeValue[] = [];
    for (;;) {
      const next = this.peekContent();
      if (!next || next.indent < indent || next.indent > indent || !(next.text.startsWith('- ') || next.text === '-')) {
        if (ownsTrailing) items.push(...this.trailing(indent).map((c) => new Comment(c)));
        break;
      }
      for (const c of this.comments(indent)) items.push(new Comment(c));
      const line = this.take();
      items.push(this.sequenceItem(line, indent));
    }
    this.depth--;
    return items;
  }

  private sequenceItem(line: Line, indent: number): TreeValue {
    if (line.text === '-') {
      // Whose is a comment between `-` and the block it opens? Readers disagree: decline.
      let following = this.pos;
      while (this.lines[following] === null) following++;
      if (this.lines[following]?.text.startsWith('#')) bail();
      return this.nested(indent, true);
    }
    const rest = line.text.slice(2);
    const inner = trimSpacesStart(rest);
    const column = indent + 2 + (rest.length - inner.length);
    if (isFlowStart(inner)) return this.value(inner, indent, true);
    if (inner.startsWith('- ') || inner === '-' || parseKey(inner)) {
      // `- key: value` or `- - x`: the rest of the line opens a block at its own column.
      this.pos--;
      this.lines[this.pos] = { indent: column, text: inner, raw: ' '.repeat(column) + inner };
      return inner.startsWith('-') ? this.sequence(column) : this.mapping(column);
    }
    return this.value(inner, indent, true);
  }

  private take(): Line {
    while (this.lines[this.pos] === null) this.pos++;
    return this.lines[this.pos++]!;
  }

  /** The value after `key:` (or `- `) on a line at `indent`. */
  private value(rest: string, indent: number, inSequence: boolean): TreeValue {
    if (rest === '') return this.nested(indent, inSequence);
    if (rest === '|' || rest === '|-' || rest === '|+') return this.literal(indent, rest);
    const value = isFlowStart(rest) ? parseFlowCollection(rest) : parseInlineScalar(rest);
    const next = this.peekContent();
    // A more indented line after a scalar would continue a multi-line plain scalar.
    if (next && next.indent > indent) bail();
    return value;
  }

  /** A block below `key:`, or null. Sequences may sit at the key's own indentation. */
  private nested(indent: number, inSequence: boolean): TreeValue {
    const next = this.peekContent();
    if (!next) return null;
    const isSeq = next.text.startsWith('- ') || next.text === '-';
    if (next.indent > indent) return isSeq ? this.sequence(next.indent) : this.mapping(next.indent);
    if (!inSequence && isSeq && next.indent === indent) return this.sequence(indent, false);
    return null;
  }

  private literal(indent: number, header: string): string {
    const body: (string | null)[] = [];
    let contentIndent = -1;
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos];
      if (line === null) {
        if (contentIndent < 0) bail(); // leading blank lines: leave them to the full parser
        body.push(null);
        this.pos++;
        continue;
      }
      if (line.indent <= indent) break;
      if (contentIndent < 0) contentIndent = line.indent;
      if (line.indent < contentIndent) bail();
      body.push(line.raw.slice(contentIndent));
      this.pos++;
    }
    if (contentIndent < 0) return '';
    let end = body.length;
    while (end > 0 && body[end - 1] === null) end--;
    const text = body.slice(0, end).map((l) => l ?? '').join('\n');
    if (header === '|-') return text;
    if (header === '|') return `${text}\n`;
    return `${text}\n${'\n'.repeat(body.length - end)}`;
  }
}

/** `key: rest` → the key and what follows `: ` ("" when the line ends at the colon). */
function parseKey(text: string): { key: string; rest: string } | undefined {
  let key: string;
  let after: string;
  if (text.startsWith('"')) {
    const end = findDoubleQuoteEnd(text);
    if (end < 0) return undefined;
    key = parseDoubleQuoted(text.slice(0, end + 1));
    after = text.slice(end + 1);
  } else if (text.startsWith("'")) {
    const end = findSingleQuoteEnd(text);
    if (end < 0) return undefined;
    key = text.slice(1, end).replace(/''/g, "'");
    after = text.slice(end + 1);
  } else {
    const colon = text.search(/:( |$)/);
    if (colon <= 0) return undefined;
    key = trimSpacesEnd(text.slice(0, colon));
    after = text.slice(colon);
    if (!isPlainSafeKey(key)) bail();
  }
  if (after === ':') return { key, rest: '' };
  if (!after.startsWith(': ')) return undefined;
  const rest = trimSpacesStart(after.slice(2));
  if (rest.startsWith('#')) bail();
  return { key, rest };
}

/** Plain keys that the core schema reads as strings, and that are not merge keys. */
function isPlainSafeKey(key: string): boolean {
  if (key === '<<' || /^[-?:,[\]{}#&*!|>'"%@`]/.test(key) || key.includes(' #')) return false;
  const resolved = resolvePlain(key);
  return typeof resolved === 'string';
}

function findDoubleQuoteEnd(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function findSingleQuoteEnd(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === "'") {
      if (text[i + 1] === "'") i++;
      else return i;
    }
  }
  return -1;
}

/** JSON's escapes are a subset of YAML's; anything else goes to the full parser. */
function parseDoubleQuoted(text: string): string {
  try {
    return JSON.parse(text) as string;
  } catch {
    return bail();
  }
}

function parseInlineScalar(text: string): TreeValue {
  if (text.startsWith('"')) {
    const end = findDoubleQuoteEnd(text);
    if (end !== text.length - 1) bail(); // multi-line, or a trailing comment
    return parseDoubleQuoted(text);
  }
  if (text.startsWith("'")) {
    const end = findSingleQuoteEnd(text);
    if (end !== text.length - 1) bail();
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (startsWithIndicator(text)) bail();
  if (/^[?:]/.test(text) || text.includes(' #') || /:( |$)/.test(text)) bail();
  return resolvePlain(text);
}

/** A plain scalar cannot start with an indicator character; `-1` and `-x` are plain. */
function startsWithIndicator(text: string): boolean {
  return /^[-?:,[\]{}#&*!|>%@`]/.test(text) && !/^-[^\s]/.test(text);
}

function isFlowStart(text: string): boolean {
  return text.startsWith('{') || text.startsWith('[');
}

/**
 * A flow mapping or sequence that fills `text` (one line): `{ k: v, … }` or `[v, …]`,
 * whose keys and values are scalars. Nested collections, empty entries, a trailing comma,
 * `? ` keys, a single-pair mapping inside a sequence (`[a: b]`), comments and plain
 * scalars with a `:` or `#` are all left to the full parser.
 */
function parseFlowCollection(text: string): TreeValue {
  const isMapping = text.startsWith('{');
  const close = isMapping ? '}' : ']';
  const entries = text.slice(1);
  if (trimSpacesStart(entries) === close) return isMapping ? new TreeBranch() : [];
  const branch = new TreeBranch();
  const items: TreeValue[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (;;) {
    const first = flowScalar(entries, at);
    if (isMapping) {
      if (entries[first.end] !== ':' || entries[first.end + 1] !== ' ') bail();
      const key = first.plain === undefined ? (first.value as string) : isPlainSafeKey(first.plain) ? first.plain : bail();
      if (seen.has(key)) bail(); // the full parser reports duplicates properly
      seen.add(key);
      const value = flowScalar(entries, first.end + 2);
      branch.items.push({ key, value: value.value });
      at = value.end;
    } else {
      items.push(first.value);
      at = first.end;
    }
    if (entries[at] === close) break;
    if (entries[at] !== ',') bail();
    at++;
  }
  if (at !== entries.length - 1) bail(); // text after the closing bracket
  return isMapping ? branch : items;
}

/**
 * One scalar of a flow collection from `start` (spaces skipped), its text when it is
 * plain, and where the text after it (spaces skipped) begins.
 */
function flowScalar(text: string, start: number): { value: TreeValue; plain?: string; end: number } {
  const at = skipSpaces(text, start);
  if (text[at] === '"' || text[at] === "'") {
    const rest = text.slice(at);
    const end = rest.startsWith('"') ? findDoubleQuoteEnd(rest) : findSingleQuoteEnd(rest);
    if (end < 0) bail();
    return { value: parseInlineScalar(rest.slice(0, end + 1)), end: skipSpaces(text, at + end + 1) };
  }
  const match = FLOW_PLAIN.exec(text.slice(at)) ?? bail();
  const plain = trimSpacesEnd(match[0]);
  if (plain === '' || startsWithIndicator(plain)) bail();
  return { value: resolvePlain(plain), plain, end: skipSpaces(text, at + match[0].length) };
}

function skipSpaces(text: string, from: number): number {
  let at = from;
  while (text[at] === ' ') at++;
  return at;
}

/** A plain scalar inside a flow collection: up to the next indicator; `:` and `#` decline. */
const FLOW_PLAIN = /^[^,[\]{}:#]*/;

/** Plain scalars are typed exactly as the full-library reader types them. */
const resolvePlain = resolvePlainScalar;

// ---------------------------------------------------------------------------------------
// Emitter

/** YAML 1.1 booleans and numbers that Kubernetes' reader would not read as strings. */
const YAML11_BOOL = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;
const YAML11_NUMBER = /^[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|0[0-7_]+|0b[01_]+|[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?)$/;
const PLAIN_SAFE = /^[^\s\-?:,[\]{}#&*!|>'"%@`][^\n\r\t]*$/;

/** True when `text` can be written as a plain scalar and reads back as the same string. */
export function isPlainString(text: string): boolean {
  if (text === '' || text === '<<' || !PLAIN_SAFE.test(text) || /\s$/.test(text)) return false;
  if (text.includes(': ') || text.includes(' #') || text.endsWith(':')) return false;
  // Printable ASCII and common Unicode only; anything unusual goes into double quotes.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(text)) return false;
  if (typeof resolvePlain(text) !== 'string') return false;
  return !YAML11_BOOL.test(text) && !YAML11_NUMBER.test(text);
}

function quote(text: string): string {
  // JSON strings are valid YAML double-quoted scalars.
  return JSON.stringify(text).replace(/[\u2028\u2029]/g, (c) => (c === '\u2028' ? '\\L' : '\\P'));
}

function formatKey(key: string): string {
  return isPlainString(key) ? key : quote(key);
}

/** go-yaml writes floats with `strconv.FormatFloat(f, 'g', -1, 64)`. */
export function formatYamlFloat(v: number): string {
  if (Number.isNaN(v)) return '.nan';
  if (v === Infinity) return '.inf';
  if (v === -Infinity) return '-.inf';
  if (Object.is(v, -0)) return '-0';
  const [mantissa, expText] = v.toExponential().split('e');
  const exponent = Number(expText);
  // Go uses the exponent form from 1e6 on when printing the shortest digits.
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return String(v);
}

function formatScalar(value: TreeValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatYamlFloat(value);
  if (value instanceof SopsTime) return value.text;
  const text = value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : String(value);
  return isPlainString(text) ? text : quote(text);
}

function isLiteralCandidate(text: string): boolean {
  if (!text.includes('\n') || /[\r\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029\ufeff]/.test(text)) return false;
  const lines = text.replace(/\n+$/, '').split('\n');
  // A leading space on the first line would need an indentation indicator; trailing
  // spaces would be invisible. Both are rare: such strings are double-quoted instead.
  return !/^[ \t]/.test(lines[0]) && lines.every((l) => !/[ \t]$/.test(l)) && lines[0] !== '';
}

function literal(text: string, pad: string): string[] {
  const trailing = /\n*$/.exec(text)![0].length;
  const header = trailing === 0 ? '|-' : trailing === 1 ? '|' : '|+';
  const body = text.slice(0, text.length - trailing).split('\n');
  const lines = body.map((l) => (l === '' ? '' : pad + l));
  for (let i = 1; i < trailing; i++) lines.push('');
  return [header, ...lines];
}

class Emitter {
  readonly out: string[] = [];
  /** Index of the last line that ends with a scalar value: only it may take a line comment. */
  private lastScalarLine = -1;
  constructor(private readonly step: number) {}

  private inlineComment(text: string): boolean {
    if (this.lastScalarLine !== this.out.length - 1 || this.lastScalarLine < 0) return false;
    this.out[this.lastScalarLine] += ` #${text}`;
    return true;
  }

  mapping(branch: TreeBranch, column: number, firstPrefix?: string): void {
    let prefix = firstPrefix;
    // go-yaml puts a block below a key at the next multiple of the indent past the key's
    // column. Keys of a mapping in a list stand two columns after the dash, so with an
    // indent of 1 or 2 that is deeper than dash + indent, which would not even nest.
    const childIndent = this.step * Math.floor((column + this.step) / this.step);
    const pad = ' '.repeat(column);
    const line = (text: string) => {
      this.out.push(prefix !== undefined ? prefix + text : pad + text);
      prefix = undefined;
    };
    for (const item of branch.items) {
      if (item.key instanceof Comment) {
        if (!(item.key.inline && prefix === undefined && this.inlineComment(item.key.value))) line(`#${item.key.value}`);
        continue;
      }
      this.entry(`${formatKey(item.key)}:`, item.value, line, childIndent);
    }
    if (prefix !== undefined) this.out.push(`${prefix}{}`);
  }

  /** `key:` (or `-`) followed by its value, on one line or as a nested block. */
  private entry(head: string, value: TreeValue, line: (text: string) => void, childIndent: number): void {
    if (value instanceof TreeBranch) {
      // A mapping or list holding only comments cannot be written so that it reads back
      // (YAML gives such a block to a neighbour); it can only arise from `unset`, and is
      // written empty.
      if (!value.items.some((i) => typeof i.key === 'string')) {
        line(`${head} {}`);
        return;
      }
      line(head);
      this.mapping(value, childIndent);
    } else if (Array.isArray(value)) {
      if (!value.some((v) => !(v instanceof Comment))) {
        line(`${head} []`);
        return;
      }
      line(head);
      this.sequence(value, childIndent);
    } else if (typeof value === 'string' && isLiteralCandidate(value)) {
      const [header, ...body] = literal(value, ' '.repeat(childIndent));
      line(`${head} ${header}`);
      this.out.push(...body);
    } else {
      line(`${head} ${formatScalar(value)}`);
      this.lastScalarLine = this.out.length - 1;
    }
  }

  sequence(items: TreeValue[], column: number): void {
    const pad = ' '.repeat(column);
    for (const item of items) {
      if (item instanceof Comment) {
        if (!(item.inline && this.inlineComment(item.value))) this.out.push(`${pad}#${item.value}`);
        continue;
      }
      if (item instanceof TreeBranch && item.items.some((i) => typeof i.key === 'string')) {
        // Comments that open the mapping go above the dash; `- # x` would end the item.
        const firstKey = item.items.findIndex((i) => typeof i.key === 'string');
        for (const c of item.items.slice(0, firstKey)) this.out.push(`${pad}#${(c.key as Comment).value}`);
        // `- key: value` with the following keys aligned after the dash.
        this.mapping(new TreeBranch(item.items.slice(firstKey)), column + 2, `${pad}- `);
      } else if (Array.isArray(item) && item.some((v) => !(v instanceof Comment))) {
        // As for mappings: comments that open the nested list stand above its dash.
        const { comments, rest } = openingComments(item);
        for (const c of comments) this.out.push(`${pad}#${c.value}`);
        this.out.push(`${pad}-`);
        this.sequence(rest, column + this.step);
      } else {
        this.entry('-', item, (text) => this.out.push(pad + text), column + this.step);
      }
    }
  }
}

/**
 * The comments that open a nested list, and those that open its first element in turn
 * (a list, or a mapping): all go above the list's bare `-`, because a comment between
 * a bare `-` and its block is read back in different places by different readers.
 */
function openingComments(list: TreeValue[]): { comments: Comment[]; rest: TreeValue[] } {
  const first = list.findIndex((v) => !(v instanceof Comment));
  const comments = list.slice(0, first) as Comment[];
  const head = list[first];
  let opened: TreeValue = head;
  if (head instanceof TreeBranch && head.items.some((i) => typeof i.key === 'string')) {
    const firstKey = head.items.findIndex((i) => typeof i.key === 'string');
    comments.push(...head.items.slice(0, firstKey).map((i) => i.key as Comment));
    opened = new TreeBranch(head.items.slice(firstKey));
  } else if (Array.isArray(head) && head.some((v) => !(v instanceof Comment))) {
    const inner = openingComments(head);
    comments.push(...inner.comments);
    opened = inner.rest;
  }
  return { comments, rest: [opened, ...list.slice(first + 1)] };
}

/** Writes documents as go-yaml would: block style, `indent` spaces, sequences indented. */
export function emitYaml(documents: TreeBranch[], indent = 4): string {
  return documents
    .map((doc) => {
      const emitter = new Emitter(indent);
      if (!doc.items.some((i) => typeof i.key === 'string')) {
        for (const i of doc.items) if (i.key instanceof Comment) emitter.out.push(`#${i.key.value}`);
        emitter.out.push('{}');
      } else emitter.mapping(doc, 0);
      return `${emitter.out.join('\n')}\n`;
    })
    .join('---\n');
}

/** A standalone value (for `--extract` of a list), in the same style. */
export function emitYamlValue(value: TreeValue, indent = 4): string {
  const emitter = new Emitter(indent);
  if (Array.isArray(value)) emitter.sequence(value, 0);
  else if (value instanceof TreeBranch) emitter.mapping(value, 0);
  else emitter.out.push(formatScalar(value));
  return `${emitter.out.join('\n')}\n`;
}
