/**
 * The YAML store (sops-format.md §6.1): multi-document files, key order and comments
 * kept as tree items, aliases and merge keys expanded, scalar types resolved as
 * go-yaml v3 resolves them (ints, floats, bools, nulls and unquoted timestamps).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Alias, Document, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { InvalidDocumentError } from '../../errors.js';
import { Comment, fromPlain, setOwn, SopsTime, TreeBranch, type TreeValue } from '../tree.js';
import type { EmitOptions, EncryptedFile, PlainMetadata, Store } from './types.js';
import { emitYaml, fastParseYaml, MAX_YAML_DEPTH } from './yaml-fast.js';
import { INT64_MAX, INT64_MIN, resolvePlainScalar } from './yaml-scalars.js';

type YamlDoc = Document.Parsed;
type YamlLib = typeof import('yaml');
type CstToken = import('yaml').CST.Token;

let yamlLib: YamlLib | undefined;

/**
 * The full YAML library, loaded on first use only: files that wax and sops write are
 * read by the fast reader, and a cold `wax decrypt` should not pay for loading this one.
 */
export function loadYamlLib(): YamlLib {
  yamlLib ??= requireYaml();
  return yamlLib;
}

/**
 * The bundle ships the library as one file beside its chunks (`scripts/bundle.mjs`):
 * loading it reads and compiles one file instead of the two dozen that node resolves for
 * the package (about 20 ms less), and the chunks that never need it do not carry it.
 * Unbundled (tsc's build/), the package itself is loaded.
 */
const BUNDLED_YAML = './yaml-lib.cjs';

function requireYaml(): YamlLib {
  const require = createRequire(import.meta.url);
  return (existsSync(new URL(BUNDLED_YAML, import.meta.url)) ? require(BUNDLED_YAML) : require('yaml')) as YamlLib;
}

/** The deepest nesting of collections in the parser's tokens, measured without recursion. */
function nestingDepth(tokens: CstToken[]): number {
  let deepest = 0;
  const pending: [CstToken | null | undefined, number][] = tokens.map((token) => [token, 0]);
  while (pending.length > 0) {
    const [token, depth] = pending.pop()!;
    if (!token) continue;
    if (token.type === 'document') pending.push([token.value, depth]);
    else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      deepest = Math.max(deepest, depth + 1);
      if (deepest > MAX_YAML_DEPTH) return deepest;
      for (const item of token.items) pending.push([item.key, depth + 1], [item.value, depth + 1]);
    }
  }
  return deepest;
}

function parseDocuments(text: string): YamlDoc[] {
  const lib = loadYamlLib();
  // parseAllDocuments in two steps, so that the nesting is measured before composing: the
  // composer recurses until the stack overflows and catches that, which near the end of
  // the stack can abort the whole process instead (a V8 regexp compile running out).
  const tokens = Array.from(new lib.Parser().parse(text));
  if (nestingDepth(tokens) > MAX_YAML_DEPTH) {
    throw new InvalidDocumentError(`the YAML document is nested more than ${MAX_YAML_DEPTH} levels deep`, 'flatten the structure');
  }
  // Duplicate keys are found by the Reader: the library's check compares every key with
  // every other (20,000 keys took seconds).
  const composer = new lib.Composer({ intAsBigInt: true, uniqueKeys: false, merge: false, strict: false });
  const list: YamlDoc[] = Array.from(composer.compose(tokens));
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) {
      // The library's message quotes the source line; only its code and position are safe to show.
      const line = error.linePos?.[0]?.line ?? lineOf(text, error.pos[0]);
      const what = error.code === 'DUPLICATE_KEY' ? 'duplicate mapping key' : `invalid YAML (${error.code.toLowerCase().replace(/_/g, ' ')})`;
      throw new InvalidDocumentError(`${what} at line ${line}`, 'fix the YAML syntax; `wax` never prints the offending value');
    }
  }
  return list;
}

const isAlias = (n: unknown): n is Alias => loadYamlLib().isAlias(n);
const isMap = (n: unknown): n is YAMLMap => loadYamlLib().isMap(n);
const isSeq = (n: unknown): n is YAMLSeq => loadYamlLib().isSeq(n);
const isScalar = (n: unknown): n is Scalar => loadYamlLib().isScalar(n);
const isPair = (n: unknown): n is Pair => loadYamlLib().isPair(n);
const PLAIN = 'PLAIN';

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** Comment text as sops keeps it: one item per line, the `#` already stripped by the parser. */
function commentLines(text: string | null | undefined): string[] {
  if (!text) return [];
  return text.split('\n').filter((line) => line.trim() !== '');
}

/** A comment line after a collection's last item, with the column of its `#`. */
interface FootLine {
  column: number;
  text: string;
}

/** The comment lines of a stretch of source, blank comments skipped as in `commentLines`. */
function footLines(source: string): FootLine[] {
  const out: FootLine[] = [];
  for (const line of source.split('\n')) {
    const body = line.trimStart();
    if (body.startsWith('#') && body.slice(1).trim() !== '') out.push({ column: line.length - body.length, text: body.slice(1) });
  }
  return out;
}

/** go-yaml's `allowedAliasRatio`: the share of values that may come from alias expansion. */
function allowedAliasRatio(decoded: number): number {
  if (decoded <= 400_000) return 0.99;
  if (decoded >= 4_000_000) return 0.1;
  return 0.99 - 0.89 * ((decoded - 400_000) / 3_600_000);
}

class Reader {
  /** Foot comments of the collection just read that stand left of it: an enclosing collection's. */
  private outer: FootLine[] = [];
  /** Values read, those read through an alias, and the current alias nesting (go-yaml's alias bomb guard). */
  private decoded = 0;
  private viaAlias = 0;
  private aliasDepth = 0;
  /** Each alias's target, found in one pass (the library's `resolve` searches the document every time). */
  private targets?: Map<Alias, unknown>;
  /** Anchored nodes being expanded through an alias right now. */
  private readonly expanding = new Set<unknown>();

  constructor(
    private readonly doc: YamlDoc,
    private readonly source: string,
  ) {}

  document(): TreeBranch {
    const contents = this.doc.contents;
    if (contents === null || (isScalar(contents) && contents.value === null && !contents.comment)) {
      return new TreeBranch([...commentLines(this.doc.commentBefore), ...commentLines(this.doc.comment)].map((c) => ({ key: new Comment(c), value: null })));
    }
    const node = isAlias(contents) ? contents.resolve(this.doc) : contents;
    if (!isMap(node)) {
      throw new InvalidDocumentError(
        `YAML documents that are ${isSeq(node) ? 'sequences' : 'scalars'} are not supported`,
        'the top level of each document must be a mapping (key: value)',
      );
    }
    const branch = this.map(node);
    // A top-level mapping indented in the file leaves foot lines left of it: still its own.
    for (const c of this.adopt(undefined)) branch.items.push({ key: new Comment(c), value: null });
    branch.items.unshift(...commentLines(this.doc.commentBefore).map((c) => ({ key: new Comment(c), value: null })));
    branch.items.push(...commentLines(this.doc.comment).map((c) => ({ key: new Comment(c), value: null })));
    return branch;
  }

  /** `headHandled`: the node's leading comment was already taken by the enclosing sequence. */
  private value(node: unknown, headHandled = false): TreeValue {
    this.countValue();
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      // The anchored node's foot comments belong to where it stands, not to this alias.
      const pending = this.outer.length;
      const target = this.resolve(node);
      // `&a [*a]` is a valid YAML graph but no tree: go-yaml refuses it too.
      if (this.expanding.has(target)) throw new InvalidDocumentError('a YAML alias refers to a node that contains it', 'replace the alias with a copy of the value');
      this.expanding.add(target);
      this.aliasDepth++;
      const value = this.value(target);
      this.aliasDepth--;
      this.expanding.delete(target);
      this.outer.length = pending;
      return value;
    }
    if (isMap(node)) return this.map(node, headHandled);
    if (isSeq(node)) return this.seq(node, headHandled);
    if (isScalar(node)) return this.scalar(node);
    throw new InvalidDocumentError('unsupported YAML node');
  }

  private scalar(node: Scalar): TreeValue {
    const v = node.value;
    // Plain scalars are typed from their text, exactly as the fast reader types them.
    if (node.type === PLAIN && !node.tag && typeof node.source === 'string') return resolvePlainScalar(node.source);
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return v < INT64_MIN || v > INT64_MAX ? Number(v) : v;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    return String(v);
  }

  private map(node: YAMLMap, headHandled = false): TreeBranch {
    const branch = new TreeBranch();
    const column = this.blockColumn(node);
    // A comment between `key:` and the first nested key belongs to the nested mapping.
    if (!headHandled) for (const c of commentLines(node.commentBefore)) branch.items.push({ key: new Comment(c), value: null });
    const explicitKeys = new Set(node.items.map((pair) => (isScalar(pair.key) ? pair.key.value : undefined)).filter((k) => typeof k === 'string'));
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      for (const c of commentLines(isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? keyNode.commentBefore : undefined)) branch.items.push({ key: new Comment(c), value: null });
      if (isScalar(keyNode) && keyNode.value === '<<' && keyNode.type === PLAIN) {
        this.unique(seen, '<<', keyNode);
        this.merge(branch, pair, explicitKeys);
        continue;
      }
      const key = this.key(keyNode);
      this.unique(seen, key, keyNode);
      branch.items.push({ key, value: this.value(pair.value) });
      this.trailingComments(pair.value as Node | null, branch.items);
      for (const c of this.adopt(column)) branch.items.push({ key: new Comment(c), value: null });
    }
    for (const c of this.foot(node, column)) branch.items.push({ key: new Comment(c), value: null });
    return branch;
  }

  private unique(seen: Set<string>, key: string, node: Node | null): void {
    if (seen.has(key)) {
      const line = node?.range ? lineOf(this.source, node.range[0]) : '?';
      throw new InvalidDocumentError(`duplicate mapping key at line ${line}`, 'fix the YAML syntax; `wax` never prints the offending value');
    }
    seen.add(key);
  }

  /** A line comment after a scalar value stays with it (sops 3.13 keeps it inline). */
  private trailingComments(value: Node | null, items: { key: string | Comment; value: TreeValue }[]): void {
    if (value && isScalar(value)) for (const c of this.lineComments(value)) items.push({ key: new Comment(c, true), value: null });
  }

  /**
   * A scalar's line comments. After an empty value (`key:` at the end of a mapping) the
   * library also gives the scalar the comment lines that follow; those are foot lines,
   * placed by their column like a collection's (see `foot`).
   */
  private lineComments(node: Scalar): string[] {
    const lines = commentLines(node.comment);
    const range = node.range;
    if (lines.length === 0 || !range) return lines;
    const after = this.source.slice(range[1], range[2]);
    const newline = after.indexOf('\n');
    if (newline < 0) return lines;
    const later = footLines(after.slice(newline + 1));
    const own = lines.length - later.length;
    // Only when the source holds exactly these lines can their columns be trusted.
    if (own < 0 || later.some((line, i) => line.text !== lines[own + i])) return lines;
    this.outer.push(...later);
    return lines.slice(0, own);
  }

  /** `<<: *base` merges the base mapping's keys that the mapping does not set itself. */
  private merge(branch: TreeBranch, pair: Pair, explicitKeys: Set<unknown>): void {
    const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
    for (const source of sources) {
      const resolved = this.value(source);
      if (!(resolved instanceof TreeBranch)) throw new InvalidDocumentError('a merge key (<<) must refer to a mapping');
      for (const item of resolved.items) {
        if (typeof item.key !== 'string' || explicitKeys.has(item.key) || branch.has(item.key)) continue;
        branch.items.push(item);
      }
    }
  }

  private key(node: Node | null): string {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    // Plain keys are typed as go-yaml types them, like values: `1e400` overflows and stays a string.
    if (isScalar(node) && node.type === PLAIN && !node.tag && typeof node.source === 'string' && typeof resolvePlainScalar(node.source) === 'string') return node.source;
    const type = node === null ? 'null' : isScalar(node) ? typeof node.value : isMap(node) ? 'mapping' : isSeq(node) ? 'sequence' : 'alias';
    throw new InvalidDocumentError(`the document contains a non-string key (${type === 'bigint' ? 'int' : type})`, 'only string keys are supported; quote the key');
  }

  private seq(node: YAMLSeq, headHandled = false): TreeValue[] {
    const out: TreeValue[] = headHandled ? [] : commentLines(node.commentBefore).map((c) => new Comment(c));
    const column = this.blockColumn(node);
    for (const item of node.items) {
      const itemNode = item as Node | null;
      // As in sops, a comment before an element is an element of the sequence, not of a mapping it opens.
      if (itemNode && (isScalar(itemNode) || isMap(itemNode) || isSeq(itemNode))) for (const c of commentLines(itemNode.commentBefore)) out.push(new Comment(c));
      if (isPair(item)) throw new InvalidDocumentError('unsupported YAML: a key/value pair inside a sequence');
      out.push(this.value(item, true));
      if (itemNode && isScalar(itemNode)) for (const c of this.lineComments(itemNode)) out.push(new Comment(c, true));
      for (const c of this.adopt(column)) out.push(new Comment(c));
    }
    for (const c of this.foot(node, column)) out.push(new Comment(c));
    return out;
  }

  /**
   * Aliases are expanded, so a few lines of anchors referring to anchors can stand for
   * billions of values. As go-yaml does ("document contains excessive aliasing"), refuse
   * once most of what was read came through aliases.
   */
  private countValue(): void {
    this.decoded++;
    if (this.aliasDepth > 0) this.viaAlias++;
    if (this.viaAlias > 100 && this.decoded > 1000 && this.viaAlias / this.decoded > allowedAliasRatio(this.decoded)) {
      throw new InvalidDocumentError('the YAML document contains excessive aliasing', 'expand the aliases by hand, or use fewer of them');
    }
  }

  /** What `alias.resolve(doc)` answers: the last node before the alias that carries its anchor. */
  private resolve(alias: Alias): unknown {
    if (!this.targets) {
      const targets = new Map<Alias, unknown>();
      const latest = new Map<string, unknown>();
      loadYamlLib().visit(this.doc, {
        Node: (_key, node) => {
          if (isAlias(node)) targets.set(node, latest.get(node.source));
          else if (node.anchor) latest.set(node.anchor, node);
        },
      });
      this.targets = targets;
    }
    return this.targets.get(alias);
  }

  /** The column a block collection's items start at; undefined for flow collections. */
  private blockColumn(node: YAMLMap | YAMLSeq): number | undefined {
    const start = node.range?.[0];
    if (node.flow || start === undefined) return undefined;
    return start - (this.source.lastIndexOf('\n', start - 1) + 1);
  }

  /**
   * A collection's foot comments (after its last item) as go-yaml and the fast reader
   * assign them: lines at the collection's column or deeper are its own; from the first
   * shallower line on they belong to an enclosing collection. The library gives them all
   * to the innermost collection, which moved a top-level comment into a nested list.
   */
  private foot(node: YAMLMap | YAMLSeq, column: number | undefined): string[] {
    const lines = commentLines(node.comment);
    const range = node.range;
    if (lines.length === 0 || column === undefined || !range) return lines;
    const found = footLines(this.source.slice(range[1], range[2]));
    // Only when the source holds exactly these lines can their columns be trusted.
    if (found.length !== lines.length || found.some((line, i) => line.text !== lines[i])) return lines;
    const split = found.findIndex((line) => line.column < column);
    if (split < 0) return lines;
    this.outer.push(...found.slice(split));
    return lines.slice(0, split);
  }

  /** Takes the pending foot lines of a nested collection that stand at `column` or deeper. */
  private adopt(column: number | undefined): string[] {
    let n = 0;
    while (n < this.outer.length && (column === undefined || this.outer[n].column >= column)) n++;
    return this.outer.splice(0, n).map((line) => line.text);
  }
}

/** Parses every document: the fast reader first, the full library when it declines. */
export function parseYamlDocuments(text: string): TreeBranch[] {
  return fastParseYaml(text) ?? parseYamlWithLibrary(text);
}

/** The full parser alone (tests compare both paths). */
export function parseYamlWithLibrary(text: string): TreeBranch[] {
  return parseDocuments(text).map((doc) => new Reader(doc, text).document());
}

function emit(documents: TreeBranch[], options: EmitOptions | undefined, metadata?: PlainMetadata): Buffer {
  const metaTree = metadata ? (fromPlain(metadata) as TreeBranch) : undefined;
  const withMeta = metaTree ? documents.map((doc) => new TreeBranch([...doc.items, { key: 'sops', value: metaTree }])) : documents;
  return Buffer.from(emitYaml(withMeta, options?.indent ?? 4), 'utf8');
}

/** Metadata as plain data: ints as numbers, times as their text (lastmodified, created_at). */
function metadataToPlain(value: TreeValue): unknown {
  if (value instanceof TreeBranch) {
    const out: Record<string, unknown> = {};
    for (const item of value.items) if (typeof item.key === 'string') setOwn(out, item.key, metadataToPlain(item.value));
    return out;
  }
  if (Array.isArray(value)) return value.filter((v) => !(v instanceof Comment)).map(metadataToPlain);
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof SopsTime) return value.text;
  return value;
}

function hasSopsKey(documents: TreeBranch[]): boolean {
  return documents.length > 0 && documents[0].has('sops');
}

export const yamlStore: Store = {
  format: 'yaml',

  loadPlain(input: Buffer): TreeBranch[] {
    return parseYamlDocuments(input.toString('utf8'));
  },

  loadEncrypted(input: Buffer): EncryptedFile {
    const branches = parseYamlDocuments(input.toString('utf8'));
    const raw = branches[0]?.get('sops');
    const metadata = raw === undefined ? undefined : (metadataToPlain(raw) as PlainMetadata);
    // Only the first document's metadata counts; later `sops` keys are dropped, as sops does.
    for (const branch of branches) branch.delete('sops');
    return { documents: branches, metadata };
  },

  emitPlain(documents: TreeBranch[], options?: EmitOptions): Buffer {
    return emit(documents, options);
  },

  emitEncrypted(documents: TreeBranch[], metadata: PlainMetadata, options?: EmitOptions): Buffer {
    return emit(documents, options, metadata);
  },

  hasMetadata: hasSopsKey,
};
