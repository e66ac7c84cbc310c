/**
 * The YAML store (sops-format.md §6.1): multi-document files, key order and comments
 * kept as tree items, aliases and merge keys expanded, scalar types resolved as
 * go-yaml v3 resolves them (ints, floats, bools, nulls and unquoted timestamps).
 */
import { Document, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, Scalar, YAMLMap, YAMLSeq, type Node, type Pair } from 'yaml';
import { InvalidDocumentError } from '../../errors.js';
import { looksLikeTimestamp, normaliseGoTime } from '../../crypto/scalars.js';
import { Comment, fromPlain, SopsTime, TreeBranch, type TreeValue } from '../tree.js';
import type { EmitOptions, EncryptedFile, PlainMetadata, Store } from './types.js';

type YamlDoc = Document.Parsed;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function parseDocuments(input: Buffer): YamlDoc[] {
  const text = input.toString('utf8');
  const docs = parseAllDocuments(text, { intAsBigInt: true, uniqueKeys: true, merge: false, prettyErrors: false, strict: false });
  // parseAllDocuments returns an EmptyStream (an array) for empty input.
  const list = Array.isArray(docs) ? docs : [docs];
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

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** Comment text as sops keeps it: one item per line, the `#` already stripped by the parser. */
function commentLines(text: string | null | undefined): string[] {
  if (!text) return [];
  return text.split('\n').filter((line) => line.trim() !== '');
}

class Reader {
  constructor(private readonly doc: YamlDoc) {}

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
    branch.items.unshift(...commentLines(this.doc.commentBefore).map((c) => ({ key: new Comment(c), value: null })));
    branch.items.push(...commentLines(this.doc.comment).map((c) => ({ key: new Comment(c), value: null })));
    return branch;
  }

  private value(node: unknown): TreeValue {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.value(node.resolve(this.doc));
    if (isMap(node)) return this.map(node);
    if (isSeq(node)) return this.seq(node);
    if (isScalar(node)) return this.scalar(node);
    throw new InvalidDocumentError('unsupported YAML node');
  }

  private scalar(node: Scalar): TreeValue {
    const v = node.value;
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return v < INT64_MIN || v > INT64_MAX ? Number(v) : v;
    if (typeof v === 'string') {
      // go-yaml resolves unquoted, untagged timestamps to time.Time (sops' `type:time`).
      if (node.type === Scalar.PLAIN && !node.tag && looksLikeTimestamp(v)) return new SopsTime(normaliseGoTime(v)!);
      return v;
    }
    if (typeof v === 'number' || typeof v === 'boolean') return v;
    return String(v);
  }

  private map(node: YAMLMap): TreeBranch {
    const branch = new TreeBranch();
    // A comment between `key:` and the first nested key belongs to the nested mapping.
    for (const c of commentLines(node.commentBefore)) branch.items.push({ key: new Comment(c), value: null });
    const explicitKeys = new Set(node.items.map((pair) => (isScalar(pair.key) ? pair.key.value : undefined)).filter((k) => typeof k === 'string'));
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      for (const c of commentLines(isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? keyNode.commentBefore : undefined)) branch.items.push({ key: new Comment(c), value: null });
      if (isScalar(keyNode) && keyNode.value === '<<' && keyNode.type === Scalar.PLAIN) {
        this.merge(branch, pair, explicitKeys);
        continue;
      }
      branch.items.push({ key: this.key(keyNode), value: this.value(pair.value) });
      this.trailingComments(pair.value as Node | null, branch.items);
    }
    for (const c of commentLines(node.comment)) branch.items.push({ key: new Comment(c), value: null });
    return branch;
  }

  /** A line comment after a scalar value stays with it (sops 3.13 keeps it inline). */
  private trailingComments(value: Node | null, items: { key: string | Comment; value: TreeValue }[]): void {
    if (value && isScalar(value)) for (const c of commentLines(value.comment)) items.push({ key: new Comment(c, true), value: null });
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
    const type = node === null ? 'null' : isScalar(node) ? typeof node.value : isMap(node) ? 'mapping' : isSeq(node) ? 'sequence' : 'alias';
    throw new InvalidDocumentError(`the document contains a non-string key (${type === 'bigint' ? 'int' : type})`, 'only string keys are supported; quote the key');
  }

  private seq(node: YAMLSeq): TreeValue[] {
    const out: TreeValue[] = commentLines(node.commentBefore).map((c) => new Comment(c));
    for (const item of node.items) {
      const itemNode = item as Node | null;
      if (itemNode && (isScalar(itemNode) || isMap(itemNode) || isSeq(itemNode))) for (const c of commentLines(itemNode.commentBefore)) out.push(new Comment(c));
      if (isPair(item)) throw new InvalidDocumentError('unsupported YAML: a key/value pair inside a sequence');
      out.push(this.value(item));
      if (itemNode && isScalar(itemNode)) for (const c of commentLines(itemNode.comment)) out.push(new Comment(c, true));
    }
    for (const c of commentLines(node.comment)) out.push(new Comment(c));
    return out;
  }
}

/** Builds yaml nodes from the tree, attaching comment items to the nodes that follow them. */
class Writer {
  constructor(private readonly doc: Document) {}

  node(value: TreeValue): Node {
    if (value instanceof TreeBranch) return this.map(value);
    if (Array.isArray(value)) return this.seq(value);
    return this.scalar(value);
  }

  map(branch: TreeBranch): YAMLMap {
    const map = new YAMLMap(this.doc.schema);
    let pending: string[] = [];
    let last: Node | undefined;
    for (const item of branch.items) {
      if (item.key instanceof Comment) {
        if (item.key.inline && last && isScalar(last) && !last.comment) last.comment = item.key.value;
        else pending.push(item.key.value);
        continue;
      }
      const key = new Scalar(item.key);
      if (looksAmbiguousKey(item.key)) key.type = Scalar.QUOTE_DOUBLE;
      if (pending.length) key.commentBefore = pending.join('\n');
      pending = [];
      last = this.node(item.value);
      map.items.push(this.doc.createPair(key, last));
    }
    if (pending.length) map.comment = pending.join('\n');
    return map;
  }

  private seq(items: TreeValue[]): YAMLSeq {
    const seq = new YAMLSeq(this.doc.schema);
    let pending: string[] = [];
    let last: Node | undefined;
    for (const item of items) {
      if (item instanceof Comment) {
        if (item.inline && last && isScalar(last) && !last.comment) last.comment = item.value;
        else pending.push(item.value);
        continue;
      }
      last = this.node(item);
      if (pending.length) last.commentBefore = pending.join('\n');
      pending = [];
      seq.items.push(last);
    }
    if (pending.length) seq.comment = pending.join('\n');
    return seq;
  }

  private scalar(value: TreeValue): Scalar {
    if (value instanceof SopsTime) {
      const node = new Scalar(value.text);
      node.type = Scalar.PLAIN;
      return node;
    }
    if (value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
    const node = new Scalar(value);
    if (typeof value === 'string' && !value.includes('\n') && needsQuotes(value)) node.type = Scalar.QUOTE_DOUBLE;
    return node;
  }
}

/** YAML 1.1 booleans: go-yaml quotes them, and Kubernetes' YAML reader still honours them. */
const YAML11_BOOL = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;
/** YAML 1.1 sexagesimal numbers (`1:20`) and leading-zero octals (`0755`). */
const YAML11_NUMBER = /^[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|0[0-7_]+)$/;

/**
 * Strings the core schema would print plain but that another YAML reader would not read
 * back as the same string: timestamps (go-yaml), 1.1 booleans and numbers (Kubernetes).
 * The yaml library already quotes what the core schema itself would misread.
 */
function needsQuotes(text: string): boolean {
  return looksLikeTimestamp(text) || YAML11_BOOL.test(text) || YAML11_NUMBER.test(text);
}

function looksAmbiguousKey(key: string): boolean {
  return needsQuotes(key);
}

function emit(documents: TreeBranch[], options: EmitOptions | undefined, metadata?: PlainMetadata): Buffer {
  const indent = options?.indent ?? 4;
  const metaTree = metadata ? (fromPlain(metadata) as TreeBranch) : undefined;
  const parts = documents.map((branch) => {
    const doc = new Document(null, { version: '1.2' });
    const writer = new Writer(doc);
    const withMeta = metaTree ? new TreeBranch([...branch.items, { key: 'sops', value: metaTree }]) : branch;
    doc.contents = writer.map(withMeta) as never;
    return doc.toString({ indent, indentSeq: true, lineWidth: 0, minContentWidth: 0, flowCollectionPadding: false });
  });
  return Buffer.from(parts.join('---\n'), 'utf8');
}

function hasSopsKey(documents: TreeBranch[]): boolean {
  return documents.length > 0 && documents[0].has('sops');
}

export const yamlStore: Store = {
  format: 'yaml',

  loadPlain(input: Buffer): TreeBranch[] {
    return parseDocuments(input).map((doc) => new Reader(doc).document());
  },

  loadEncrypted(input: Buffer): EncryptedFile {
    const docs = parseDocuments(input);
    const branches = docs.map((doc) => new Reader(doc).document());
    let metadata: PlainMetadata | undefined;
    const first = docs[0]?.contents;
    if (first && isMap(first)) {
      const node = first.get('sops', true);
      if (node !== undefined) metadata = (isMap(node) ? node.toJS(docs[0], { mapAsMap: false }) : node) as PlainMetadata;
    }
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
