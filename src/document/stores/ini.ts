/**
 * The INI store (sops-format.md §6.4). sops reads and writes INI through go-ini
 * (gopkg.in/ini.v1) with its default options; this file mirrors the parts of go-ini
 * that sops files depend on, so that the tree (and with it every AAD and the MAC) is
 * the one sops sees:
 *
 * - Sections are top-level keys, each a mapping of key → string. Keys before the first
 *   header belong to the section `DEFAULT`, which go-ini always creates first: it is
 *   always the first item of the tree, empty or not, and is written without a header
 *   (and not at all when empty).
 * - `;`/`#` lines before a section header become the section's comment (the first item
 *   of the section); lines before a key become the key's comment, stored as the item
 *   *after* the key, as sops does; consecutive comment lines form one comment joined by
 *   newlines, and an inline comment after a plain value joins the key's comment.
 * - Values: surrounding whitespace trimmed, `"…"`/`'…'` unquoted, `` `…` `` and `"""…"""`
 *   (possibly multi-line) taken verbatim, a trailing `\` continues on the next line.
 * - Output: `key = value` with `=` aligned per section, a blank line between sections,
 *   values quoted as go-ini quotes them.
 * - Metadata: a `[sops]` section flattened like dotenv without the prefix; newlines
 *   written as `\n` (two characters) and read in both that form and as real newlines
 *   (sops 3.13.1 wrote `"""` multi-line values).
 *
 * Edges deliberately not supported (sops cannot round-trip them either):
 * - go-ini's `-` auto-increment keys: `-` is read as a literal key named `-`.
 * - UTF-16 byte order marks (a UTF-8 BOM is skipped, as go-ini does).
 * - Multi-line values that themselves contain `"""`, keys containing both `` ` `` and
 *   `"`, and values with a trailing `\r`: go-ini's quoting cannot represent them.
 * - Duplicate keys in a section are refused (go-ini silently keeps the last value);
 *   duplicate section headers are merged, as go-ini does.
 *
 * Deliberate differences in output, only where go-ini would write something it reads
 * back differently: values ending in `\`, surrounded by quotes, starting with `"""` or
 * holding a double quote and surrounding whitespace are wrapped in backquotes, and keys
 * starting with `#`, `;` or `[` too; keys holding a backquote (and no double quote) are
 * always wrapped in triple quotes. Comments that sops would drop (several after one
 * key, or before the first key but not first in the section) are joined to the
 * neighbouring comment instead. Non-string scalars are written as wax serialises them
 * (`True`, `3.14`), not with sops' `%s` formatting.
 */
import { InvalidDocumentError } from '../../errors.js';
import { scalarToString } from '../../crypto/scalars.js';
import { Comment, TreeBranch, isBranch, type TreeItem, type TreeValue } from '../tree.js';
import { flattenMetadata, unflattenMetadata } from './dotenv.js';
import { singleDocument } from './json.js';
import type { EncryptedFile, PlainMetadata, Store } from './types.js';

const DEFAULT_SECTION = 'DEFAULT';
const SOPS_SECTION = 'sops';
const HINT = 'fix the INI syntax; wax never prints the offending value';

// Go's unicode.IsSpace, used by go-ini's trimming.
const LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
const TRAILING_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/;
const trimLeft = (s: string) => s.replace(LEADING_SPACE, '');
const trimSpace = (s: string) => trimLeft(s).replace(TRAILING_SPACE, '');

function indexOfAny(s: string, chars: string): number {
  for (let i = 0; i < s.length; i++) if (chars.includes(s[i])) return i;
  return -1;
}

/** go-ini's hasSurroundedQuote: quoted at both ends, and no other such quote inside. */
function surrounded(s: string, quote: string): boolean {
  return s.length >= 2 && s[0] === quote && s[s.length - 1] === quote && s.indexOf(quote, 1) === s.length - 1;
}

interface IniKey {
  name: string;
  value: string;
  comment: string;
}

class IniSection {
  comment = '';
  readonly keys: IniKey[] = [];
  private readonly byName = new Map<string, IniKey>();

  constructor(readonly name: string) {}

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Like go-ini's NewKey: an existing key keeps its position and gets the new value. */
  setKey(name: string, value: string): IniKey {
    const existing = this.byName.get(name);
    if (existing) {
      existing.value = value;
      return existing;
    }
    const key = { name, value, comment: '' };
    this.keys.push(key);
    this.byName.set(name, key);
    return key;
  }
}

/** Sections in order; DEFAULT first, because go-ini creates it before anything else. */
class IniFile {
  readonly sections: IniSection[] = [];
  private readonly byName = new Map<string, IniSection>();

  constructor() {
    this.section(DEFAULT_SECTION);
  }

  section(name: string): IniSection {
    let section = this.byName.get(name);
    if (!section) {
      section = new IniSection(name);
      this.sections.push(section);
      this.byName.set(name, section);
    }
    return section;
  }
}

// ---- reading ---------------------------------------------------------------------

/** Lines as go-ini's reader returns them: each with its `\n`, the last one without. */
class Lines {
  private readonly lines: string[];
  private index = 0;

  constructor(text: string) {
    const parts = text.split('\n');
    this.lines = parts.map((part, i) => (i < parts.length - 1 ? part + '\n' : part));
  }

  get eof(): boolean {
    return this.index >= this.lines.length;
  }

  get lineNumber(): number {
    return this.index;
  }

  next(): string {
    return this.lines[this.index++];
  }
}

class Parser {
  private readonly file = new IniFile();
  private section: IniSection;
  /** Comment lines waiting for the next key or header (go-ini's `p.comment`). */
  private pending = '';

  constructor(private readonly lines: Lines) {
    this.section = this.file.section(DEFAULT_SECTION);
  }

  parse(): IniFile {
    while (!this.lines.eof) {
      const line = trimLeft(this.lines.next());
      if (line === '') continue;
      if (line[0] === '#' || line[0] === ';') this.pending += line;
      else if (line[0] === '[') this.header(line);
      else this.keyValue(line);
    }
    return this.file;
  }

  private header(line: string): void {
    const close = line.lastIndexOf(']');
    if (close < 0) throw this.fail('unclosed section header');
    const name = line.slice(1, close);
    if (name === '') throw this.fail('empty section name');
    this.section = this.file.section(name);
    const rest = line.slice(close + 1);
    const comment = indexOfAny(rest, '#;');
    if (comment >= 0) this.pending += rest.slice(comment);
    this.section.comment = trimSpace(this.pending);
    this.pending = '';
  }

  private keyValue(line: string): void {
    const [name, offset] = this.keyName(line);
    if (name === '') throw this.fail('empty key name');
    const value = this.value(line.slice(offset));
    if (this.section.has(name)) throw this.fail('duplicate key in a section', 'remove one of the two entries');
    this.section.setKey(name, value).comment = trimSpace(this.pending);
    this.pending = '';
  }

  /** go-ini's readKeyName: the name (possibly quoted) and the offset just past the delimiter. */
  private keyName(line: string): [string, number] {
    let quote = '';
    if (line[0] === '"') quote = line.length > 6 && line.startsWith('"""') ? '"""' : '"';
    else if (line[0] === '`') quote = '`';
    if (quote) {
      const close = line.indexOf(quote, quote.length);
      if (close < 0) throw this.fail('missing closing quote of a key');
      const delimiter = indexOfAny(line.slice(close + quote.length), '=:');
      if (delimiter < 0) throw this.fail('no "=" after a quoted key');
      return [trimSpace(line.slice(quote.length, close)), close + quote.length + delimiter + 1];
    }
    const delimiter = indexOfAny(line, '=:');
    if (delimiter < 0) throw this.fail('the line is not a key = value pair, a [section] header or a comment');
    return [trimSpace(line.slice(0, delimiter)), delimiter + 1];
  }

  /** go-ini's readValue. */
  private value(rest: string): string {
    const line = trimLeft(rest);
    if (line === '') return '';
    const quote = line.length > 3 && line.startsWith('"""') ? '"""' : line[0] === '`' ? '`' : '';
    if (quote) {
      const close = line.slice(quote.length).lastIndexOf(quote);
      if (close >= 0) return line.slice(quote.length, quote.length + close);
      return this.multiline(line.slice(quote.length), quote);
    }
    let value = trimSpace(line);
    if (value.endsWith('\\')) return this.continuation(value.slice(0, -1));
    const comment = indexOfAny(value, '#;');
    if (comment >= 0) {
      this.pending += value.slice(comment);
      value = trimSpace(value.slice(0, comment));
    }
    return surrounded(value, "'") || surrounded(value, '"') ? value.slice(1, -1) : value;
  }

  /** A quoted value that runs to the line holding the last closing quote. */
  private multiline(value: string, quote: string): string {
    const start = this.lines.lineNumber;
    for (;;) {
      if (this.lines.eof) throw this.fail('a quoted value starting here has no closing quote', HINT, start);
      const next = this.lines.next();
      const close = next.lastIndexOf(quote);
      if (close >= 0) {
        const comment = indexOfAny(next.slice(close), '#;');
        if (comment >= 0) this.pending += trimSpace(next.slice(close + comment));
        return value + next.slice(0, close);
      }
      value += next;
    }
  }

  /** A trailing backslash joins the next (trimmed) line, until an empty line or one without `\`. */
  private continuation(value: string): string {
    while (!this.lines.eof) {
      const next = trimSpace(this.lines.next());
      if (next === '') break;
      value += next;
      if (!value.endsWith('\\')) break;
      value = value.slice(0, -1);
    }
    return value;
  }

  private fail(reason: string, hint = HINT, line = this.lines.lineNumber): InvalidDocumentError {
    return new InvalidDocumentError(`invalid INI at line ${line}: ${reason}`, hint);
  }
}

/** sops' stripCommentChar: drops the leading run of `;`/`#` and spaces. */
function stripCommentChar(comment: string): string {
  if (comment.startsWith(';')) return comment.replace(/^[; ]+/, '');
  if (comment.startsWith('#')) return comment.replace(/^[# ]+/, '');
  return comment;
}

function commentItem(comment: string): TreeItem {
  return { key: new Comment(stripCommentChar(comment)), value: null };
}

function sectionBranch(section: IniSection): TreeBranch {
  const items: TreeItem[] = section.comment ? [commentItem(section.comment)] : [];
  for (const key of section.keys) {
    items.push({ key: key.name, value: key.value });
    if (key.comment) items.push(commentItem(key.comment));
  }
  return new TreeBranch(items);
}

function loadPlain(input: Buffer): TreeBranch[] {
  const text = input.toString('utf8').replace(/^\uFEFF/, '');
  const file = new Parser(new Lines(text)).parse();
  return [new TreeBranch(file.sections.map((section) => ({ key: section.name, value: sectionBranch(section) })))];
}

// ---- writing ---------------------------------------------------------------------

function valueText(value: TreeValue): string {
  if (isBranch(value) || Array.isArray(value)) {
    throw new InvalidDocumentError('INI values must be scalars; a section holds a nested value', 'flatten the structure, or use YAML or JSON');
  }
  return value === null ? '' : scalarToString(value);
}

function checkName(name: string, what: string): void {
  if (name === '' || name.includes('\n') || trimSpace(name) !== name) {
    throw new InvalidDocumentError(`an INI ${what} name cannot be empty, contain a newline, or start or end with whitespace`, `rename the ${what}`);
  }
}

/** Fills a section as sops' encodeTree does: a leading comment is the section's, later ones the previous key's. */
function fillSection(section: IniSection, branch: TreeBranch): void {
  let last: IniKey | undefined;
  for (const item of branch.items) {
    if (item.key instanceof Comment) {
      const target = last ?? section;
      if (item.key.value !== '') target.comment = target.comment ? `${target.comment}\n${item.key.value}` : item.key.value;
      continue;
    }
    checkName(item.key, 'key');
    last = section.setKey(item.key, valueText(item.value));
  }
}

function fromTree(branch: TreeBranch): IniFile {
  const file = new IniFile();
  for (const item of branch.items) {
    // sops drops comments that stand outside any section.
    if (item.key instanceof Comment) continue;
    if (!(item.value instanceof TreeBranch)) {
      throw new InvalidDocumentError('INI files hold sections: every top-level value must be a mapping', 'nest the values under a section name');
    }
    checkName(item.key, 'section');
    fillSection(file.section(item.key), item.value);
  }
  return file;
}

/** go-ini's comment lines: a `; ` prefix unless the line already starts with `;` or `#`. */
function commentText(comment: string, isKey: boolean): string {
  if (comment === '') return '';
  const lines = comment.split('\n').map((line) => {
    if (line === '') return '; ';
    if (line[0] !== '#' && line[0] !== ';') return '; ' + (isKey ? trimSpace(line) : line);
    return `${line[0]} ${trimSpace(line.slice(1))}`;
  });
  return lines.map((line) => line + '\n').join('');
}

function quoteKey(name: string): string {
  // go-ini would backquote a key with a backquote in it when it also holds `=`, `:` or a
  // leading `#;[`, and that backquote would end the key early: triple quotes instead.
  if (name.includes('`') && !name.includes('"')) return '"""' + name + '"""';
  if (name.includes('"') || /[=:]/.test(name) || /^[#;[]/.test(name)) return '`' + name + '`';
  return name;
}

/** Values go-ini would write bare but read back differently (see the header comment). */
function needsBackquotes(value: string): boolean {
  return /[#;]/.test(value) || value.endsWith('\\') || value.startsWith('"""') || surrounded(value, '"') || surrounded(value, "'");
}

function quoteValue(value: string): string {
  if (/[\n`]/.test(value)) return '"""' + value + '"""';
  if (needsBackquotes(value)) return '`' + value + '`';
  // go-ini's `"…"` reads back only when the value holds no other double quote.
  if (trimSpace(value) !== value) return value.includes('"') ? '`' + value + '`' : `"${value}"`;
  return value;
}

function sectionText(section: IniSection): string {
  const names = section.keys.map((key) => quoteKey(key.name));
  // go-ini aligns on byte length (Go's len), not on characters.
  const width = names.reduce((max, name) => Math.max(max, Buffer.byteLength(name)), 0);
  return section.keys
    .map((key, i) => `${commentText(key.comment, true)}${names[i]}${' '.repeat(width - Buffer.byteLength(names[i]))} = ${quoteValue(key.value)}\n`)
    .join('');
}

function write(file: IniFile): string {
  let out = '';
  const last = file.sections.length - 1;
  file.sections.forEach((section, i) => {
    out += commentText(section.comment, false);
    // The first section is always DEFAULT: written without a header, and skipped when empty.
    if (i > 0) out += `[${section.name}]\n`;
    else if (section.keys.length === 0) return;
    out += sectionText(section);
    if (i !== last) out += '\n';
  });
  return out;
}

function emitPlain(documents: TreeBranch[]): Buffer {
  return Buffer.from(write(fromTree(singleDocument(documents, 'INI'))), 'utf8');
}

// ---- metadata --------------------------------------------------------------------

function loadEncrypted(input: Buffer): EncryptedFile {
  const [branch] = loadPlain(input);
  const index = branch.items.findIndex((item) => item.key === SOPS_SECTION);
  if (index < 0) return { documents: [branch], metadata: undefined };
  const [item] = branch.items.splice(index, 1);
  const entries: [string, string][] = [];
  for (const entry of (item.value as TreeBranch).items) {
    // sops 3.13.2 escapes newlines as `\n`; 3.13.1 wrote them raw inside """…""": accept both.
    if (typeof entry.key === 'string') entries.push([entry.key, (entry.value as string).replaceAll('\\n', '\n')]);
  }
  return { documents: [branch], metadata: unflattenMetadata(entries) };
}

function emitEncrypted(documents: TreeBranch[], metadata: PlainMetadata): Buffer {
  const branch = singleDocument(documents, 'INI');
  if (branch.has(SOPS_SECTION)) {
    throw new InvalidDocumentError('the document has a [sops] section, which is reserved for the metadata', 'rename that section');
  }
  const entries = flattenMetadata(metadata, '').map(([key, value]) => ({ key, value: value.replaceAll('\n', '\\n') }));
  return emitPlain([new TreeBranch([...branch.items, { key: SOPS_SECTION, value: new TreeBranch(entries) }])]);
}

export const iniStore: Store = {
  format: 'ini',
  loadPlain,
  loadEncrypted,
  emitPlain: (documents) => emitPlain(documents),
  emitEncrypted: (documents, metadata) => emitEncrypted(documents, metadata),
  hasMetadata: (documents) => documents.some((doc) => doc.has(SOPS_SECTION)),
};
