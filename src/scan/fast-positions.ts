/**
 * Where a value sits in a YAML or JSON text, without the `yaml` library. The library
 * finds positions for the structural detectors (`documents.ts`), but loading it costs
 * a cold scan some 40 ms of CPU, and almost every file with a finding is plain block
 * YAML or JSON, which these few lines of parsing read just as well.
 *
 * The answer must be the library's answer, offset for offset: the start of the node's
 * range (a quoted scalar at its quote, a block scalar at its `|`, a block mapping at its
 * first key, a sequence at its first `-`). So the readers here take only what they are
 * sure about and say UNSURE at anything else (flow collections in YAML, anchors, tags,
 * multi-line plain or quoted scalars, keys that are not plain strings, tabs, CR, empty
 * documents, …); the caller then asks the library. `test/scan/fast-positions.test.ts`
 * compares both on generated documents.
 */

/** "Ask the library": the text uses something these readers do not follow. */
export const UNSURE = Symbol('unsure');
export type FastOffset = number | undefined | typeof UNSURE;

type Step = string | number;

/** A node of either reader: where its range starts, and its children. */
type FastNode =
  | { readonly kind: 'map'; readonly start: number; readonly entries: ReadonlyMap<string, FastNode> }
  | { readonly kind: 'seq'; readonly start: number; readonly items: readonly FastNode[] }
  | { readonly kind: 'scalar'; readonly start: number }
  /** A YAML flow collection on one line: located at its bracket, never looked into. */
  | { readonly kind: 'flow'; readonly start: number };

class Unsure extends Error {}
const unsure = (): never => {
  throw new Unsure();
};

/**
 * The offset of the node at `location` in a document, or of the deepest node on the way
 * when the rest cannot be followed (as `documents.ts` does with the library's nodes).
 */
function follow(root: FastNode, location: readonly Step[]): FastOffset {
  let node = root;
  for (const step of location) {
    if (node.kind === 'flow') return UNSURE;
    let next: FastNode | undefined;
    if (typeof step === 'number' && node.kind === 'seq') next = node.items[step];
    else if (typeof step === 'string' && node.kind === 'map') next = node.entries.get(step);
    if (next === undefined) return node.start;
    node = next;
  }
  return node.start;
}

// ---- YAML ----------------------------------------------------------------------------

/** One line of a document, or the part of it after a sequence's `- `. */
interface Line {
  readonly indent: number;
  /** Offset in the text of the first character after the indentation. */
  readonly start: number;
  /** From `start` to the end of the physical line. */
  readonly text: string;
  /** Index of the physical line: a block scalar's content is counted in those. */
  readonly physical: number;
  /** A `-` item marker; its content is the next line (the rest of this one, or below). */
  readonly dash: boolean;
}

/** Parsed documents of a YAML text (UNSURE when the text is beyond these readers). */
export function fastYamlDocuments(text: string): FastNode[] | typeof UNSURE {
  if (text.includes('\r') || text.includes('\t') || text.charCodeAt(0) === 0xfeff) return UNSURE;
  try {
    return splitYamlDocuments(text).map((lines) => new YamlReader(lines).document());
  } catch (error) {
    if (error instanceof Unsure || error instanceof RangeError) return UNSURE;
    throw error;
  }
}

export function fastYamlOffset(documents: readonly FastNode[], document: number, location: readonly Step[]): FastOffset {
  // Documents are split as the library splits them, but a disagreement must not pass for "no such document".
  return document < documents.length ? follow(documents[document], location) : UNSURE;
}

interface PhysicalLine {
  readonly start: number;
  readonly text: string;
}

/**
 * The physical lines of each document, as the library splits them: `---` starts a
 * document; comments and blank lines before the first `---` belong to no document of
 * their own. A document with nothing in it is left to the library.
 */
function splitYamlDocuments(text: string): PhysicalLine[][] {
  const documents: PhysicalLine[][] = [];
  let current: PhysicalLine[] = [];
  let started = false;
  let offset = 0;
  const finish = (explicit: boolean) => {
    if (current.some((line) => !isBlankOrComment(line.text))) documents.push(current);
    else if (explicit) unsure();
    current = [];
  };
  for (const raw of text.split('\n')) {
    const line = { start: offset, text: raw };
    offset += raw.length + 1;
    if (/^(?:---|\.\.\.|%)/.test(raw)) {
      if (!/^--- *$/.test(raw)) unsure();
      finish(started);
      started = true;
      continue;
    }
    current.push(line);
  }
  finish(started);
  return documents;
}

function isBlankOrComment(text: string): boolean {
  const content = text.trimStart();
  return content === '' || content.startsWith('#');
}

const PLAIN_KEY = /^\.?[A-Za-z_][\w./-]*$/;
/** Plain keys that YAML's core schema reads as null, booleans or special floats. */
const NOT_STRINGS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE', '.inf', '.Inf', '.INF', '.nan', '.NaN', '.NAN']);

/** A key as the library compares it (`String(key.value)`), when it is surely a plain string. */
function keyString(raw: string): string {
  if (PLAIN_KEY.test(raw) && !NOT_STRINGS.has(raw)) return raw;
  if (/^"[^"\\]*"$/.test(raw) || /^'[^']*'$/.test(raw)) return raw.slice(1, -1);
  return unsure();
}

/** `key:` then the end of the line, a space or a comment: the key and where its value starts. */
const ENTRY = /^("[^"\\]*"|'[^']*'|[A-Za-z_.][^#:]*?):(?: +|$)/;

function leadingSpaces(text: string): number {
  let spaces = 0;
  while (text.charCodeAt(spaces) === 32) spaces++;
  return spaces;
}

class YamlReader {
  private readonly lines: Line[] = [];
  private index = 0;

  constructor(private readonly physical: readonly PhysicalLine[]) {
    physical.forEach((line, number) => this.addLine(line.start, line.text, number));
  }

  /** Splits `- - a: b` into its item markers and content, each with its column; drops blank and comment lines. */
  private addLine(start: number, text: string, physical: number): void {
    let column = leadingSpaces(text);
    let rest = text.slice(column);
    if (rest === '' || rest.startsWith('#')) return;
    for (;;) {
      const dash = /^-(?: +|$)/.exec(rest);
      if (!dash) break;
      this.lines.push({ indent: column, start: start + column, text: rest, physical, dash: true });
      column += dash[0].length;
      rest = rest.slice(dash[0].length);
      if (rest === '' || rest.startsWith('#')) return;
    }
    this.lines.push({ indent: column, start: start + column, text: rest, physical, dash: false });
  }

  document(): FastNode {
    const first = this.lines[0] ?? unsure();
    const node = this.block(first.indent);
    if (this.index < this.lines.length) unsure();
    return node;
  }

  /** The collection that starts at the current line, which has this indent. */
  private block(indent: number): FastNode {
    const line = this.lines[this.index]!;
    if (line.dash) return this.sequence(indent);
    if (ENTRY.test(line.text)) return this.mapping(indent);
    return unsure(); // a bare scalar as a document, or below an item's `-`
  }

  /** Items at this indent; a key at the same indent ends it (a mapping's value may align with its key). */
  private sequence(indent: number): FastNode {
    const start = this.lines[this.index]!.start;
    const items: FastNode[] = [];
    while (this.index < this.lines.length) {
      const line = this.lines[this.index]!;
      if (line.indent < indent || (line.indent === indent && !line.dash)) break;
      if (line.indent > indent) unsure();
      this.index++;
      items.push(this.content(indent, line.physical));
    }
    return { kind: 'seq', start, items };
  }

  private mapping(indent: number): FastNode {
    const start = this.lines[this.index]!.start;
    const entries = new Map<string, FastNode>();
    while (this.index < this.lines.length) {
      const line = this.lines[this.index]!;
      if (line.indent < indent) break;
      if (line.indent > indent || line.dash) unsure();
      const entry = ENTRY.exec(line.text) ?? unsure();
      const key = keyString(entry[1]!.trimEnd());
      this.index++;
      const rest = line.text.slice(entry[0].length);
      const value = rest === '' || rest.startsWith('#') ? this.below(indent, line.physical, true) : this.scalar(line.start + entry[0].length, rest, indent, line.physical);
      if (!entries.has(key)) entries.set(key, value);
    }
    return { kind: 'map', start, entries };
  }

  /** An item's content: the rest of its line, or the block below it. */
  private content(indent: number, physical: number): FastNode {
    const next = this.lines[this.index];
    if (next && next.physical === physical) {
      if (next.dash || ENTRY.test(next.text)) return this.block(next.indent);
      this.index++;
      return this.scalar(next.start, next.text, indent, physical);
    }
    return this.below(indent, physical, false);
  }

  /**
   * The value that starts on a later line: a collection indented further (or, for a
   * mapping's value, a sequence at the key's own indent). A missing value is null,
   * whose range the library puts where these readers do not follow.
   */
  private below(indent: number, physical: number, sequenceMayAlign: boolean): FastNode {
    const next = this.lines[this.index];
    if (next && next.physical > physical && (next.indent > indent || (sequenceMayAlign && next.dash && next.indent === indent))) return this.block(next.indent);
    return unsure();
  }

  /** A scalar on one line (or a block scalar's header), starting at `start`. */
  private scalar(start: number, text: string, indent: number, physical: number): FastNode {
    const first = text[0]!;
    const flow = first === '{' || first === '[';
    if (flow) flowEnd(text);
    else if (first === '"' || first === "'") quotedEnd(text);
    else if (first === '|' || first === '>') this.skipBlockScalar(text, indent, physical);
    else plainEnd(text);
    // Nothing of this value may continue below: the next line must be less indented.
    const next = this.lines[this.index];
    if (next && next.physical > physical && next.indent > indent) unsure();
    return { kind: flow ? 'flow' : 'scalar', start };
  }

  /**
   * `|` or `>` with chomping only. Its content is every later line indented further than
   * `indent`, or blank, all at the first content line's indentation or deeper.
   */
  private skipBlockScalar(text: string, indent: number, physical: number): void {
    if (!/^[|>][+-]?(?: +#.*| *)$/.test(text)) unsure();
    let contentIndent: number | undefined;
    let leadingBlank = 0;
    let end = physical + 1;
    for (; end < this.physical.length; end++) {
      const line = this.physical[end]!.text;
      const spaces = leadingSpaces(line);
      if (spaces === line.length) {
        if (contentIndent === undefined) leadingBlank = Math.max(leadingBlank, spaces);
        continue;
      }
      if (spaces <= indent) break;
      contentIndent ??= spaces;
      if (spaces < contentIndent) unsure();
    }
    if (contentIndent === undefined || leadingBlank > contentIndent) unsure();
    while (this.index < this.lines.length && this.lines[this.index]!.physical < end) this.index++;
  }
}

function quotedEnd(text: string): void {
  const closing = text[0] === '"' ? /^"(?:[^"\\]|\\.)*"/.exec(text) : /^'(?:[^']|'')*'/.exec(text);
  if (!closing) return unsure(); // continues on the next line
  if (!/^(?: +#.*| *)$/.test(text.slice(closing[0].length))) unsure();
}

/**
 * A flow collection must close on its own line, before any comment: brackets are counted
 * outside quoted strings, and ` #` ends the line's content even inside the brackets.
 */
function flowEnd(text: string): void {
  let depth = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const quoted = (c === '"' ? /^"(?:[^"\\]|\\.)*"/ : /^'(?:[^']|'')*'/).exec(text.slice(i));
      if (!quoted) unsure();
      i += quoted![0].length - 1;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (--depth === 0) break;
    } else if (c === '#' && text[i - 1] === ' ') unsure();
  }
  if (depth !== 0 || !/^(?: +#.*| *)$/.test(text.slice(i + 1))) unsure();
}

function plainEnd(text: string): void {
  // Indicators that make something else of the value, or that these readers leave alone.
  if (/^(?:[\]}&*!%@`,?#]|[-:](?: |$))/.test(text)) unsure();
  const value = text.replace(/ +#.*$/, '').trimEnd();
  if (value === '' || value.includes(': ') || value.endsWith(':')) unsure();
}

// ---- JSON ----------------------------------------------------------------------------

/** The offset at `location` in a JSON text the JSON store accepted (UNSURE when in doubt). */
export function fastJsonOffset(text: string, location: readonly Step[]): FastOffset {
  // Tabs are JSON white space like spaces (`JSON.stringify(value, null, '\t')`, editors
  // set to tabs), and the library's flow reader places nodes after them just the same.
  if (text.includes('\r') || text.charCodeAt(0) === 0xfeff) return UNSURE;
  try {
    return new JsonReader(text).follow(location);
  } catch (error) {
    if (error instanceof Unsure || error instanceof RangeError) return UNSURE;
    throw error;
  }
}

const MAX_JSON_DEPTH = 500;
/** The library refuses implicit keys longer than this. */
const MAX_KEY_LENGTH = 1000;

class JsonReader {
  private at = 0;

  constructor(private readonly text: string) {}

  follow(location: readonly Step[]): FastOffset {
    this.skipSpace();
    let start = this.at;
    for (const step of location) {
      const next = this.child(step);
      if (next === undefined) return start;
      start = next;
      this.at = next;
    }
    return start;
  }

  /** Finds the child `step` of the value at `at`: its offset, or undefined when there is none. */
  private child(step: Step): number | undefined {
    const open = this.text[this.at];
    if (open === '{' && typeof step === 'string') return this.member(step);
    if (open === '[' && typeof step === 'number') return this.element(step);
    return undefined;
  }

  private member(wanted: string): number | undefined {
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === '}') return undefined;
    for (;;) {
      const key = this.keyAt();
      this.skipSpace();
      if (this.text[this.at] !== ':') unsure();
      this.at++;
      this.skipSpace();
      if (key === wanted) return this.at;
      this.skipValue(0);
      this.skipSpace();
      if (this.text[this.at] === '}') return undefined;
      if (this.text[this.at] !== ',') unsure();
      this.at++;
      this.skipSpace();
    }
  }

  private element(wanted: number): number | undefined {
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === ']') return undefined;
    for (let index = 0; ; index++) {
      if (index === wanted) return this.at;
      this.skipValue(0);
      this.skipSpace();
      if (this.text[this.at] === ']') return undefined;
      if (this.text[this.at] !== ',') unsure();
      this.at++;
      this.skipSpace();
    }
  }

  /** A key without escapes, read as is; anything else is left to the library. */
  private keyAt(): string {
    if (this.text[this.at] !== '"') unsure();
    const end = this.text.indexOf('"', this.at + 1);
    if (end < 0) unsure();
    const key = this.text.slice(this.at + 1, end);
    if (key.includes('\\') || key.includes('\n') || key.length > MAX_KEY_LENGTH) unsure();
    this.at = end + 1;
    return key;
  }

  private skipValue(depth: number): void {
    if (depth > MAX_JSON_DEPTH) unsure();
    const c = this.text[this.at];
    if (c === '"') return this.skipString();
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      this.at++;
      this.skipSpace();
      if (this.text[this.at] === close) {
        this.at++;
        return;
      }
      for (;;) {
        if (c === '{') {
          this.skipString();
          this.skipSpace();
          if (this.text[this.at] !== ':') unsure();
          this.at++;
          this.skipSpace();
        }
        this.skipValue(depth + 1);
        this.skipSpace();
        const next = this.text[this.at];
        this.at++;
        if (next === close) return;
        if (next !== ',') unsure();
        this.skipSpace();
      }
    }
    const literal = /^(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)/.exec(this.text.slice(this.at, this.at + 64));
    if (!literal) unsure();
    this.at += literal![0].length;
  }

  private skipString(): void {
    if (this.text[this.at] !== '"') unsure();
    for (let i = this.at + 1; i < this.text.length; i++) {
      const c = this.text[i];
      if (c === '\\') i++;
      else if (c === '"') {
        this.at = i + 1;
        return;
      } else if (c === '\n') unsure();
    }
    unsure();
  }

  private skipSpace(): void {
    for (let c = this.text[this.at]; c === ' ' || c === '\n' || c === '\t'; c = this.text[++this.at]);
  }
}
