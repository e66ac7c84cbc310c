/**
 * The YAML store (sops-format.md §6.1): multi-document files, key order and comments
 * kept as tree items, aliases and merge keys expanded, scalar types resolved as
 * go-yaml v3 resolves them (ints, floats, bools, nulls and unquoted timestamps).
 */
import { createRequire } from 'node:module';
import type { Alias, Document, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { InvalidDocumentError } from '../../errors.js';
import { Comment, fromPlain, SopsTime, TreeBranch, type TreeValue } from '../tree.js';
import type { EmitOptions, EncryptedFile, PlainMetadata, Store } from './types.js';
import { emitYaml, fastParseYaml } from './yaml-fast.js';
import { INT64_MAX, INT64_MIN, resolvePlainScalar } from './yaml-scalars.js';

type YamlDoc = Document.Parsed;
type YamlLib = typeof import('yaml');

let yamlLib: YamlLib | undefined;

/**
 * The full YAML library, loaded on first use only: files that wax and sops write are
 * read by the fast reader, and a cold `wax decrypt` should not pay for loading this one.
 */
export function loadYamlLib(): YamlLib {
  yamlLib ??= createRequire(import.meta.url)('yaml') as YamlLib;
  return yamlLib;
}

function parseDocuments(text: string): YamlDoc[] {
  const docs = loadYamlLib().parseAllDocuments(text, { intAsBigInt: true, uniqueKeys: true, merge: false, prettyErrors: false, strict: false });
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

  /** `headHandled`: the node's leading comment was already taken by the enclosing sequence. */
  private value(node: unknown, headHandled = false): TreeValue {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.value(node.resolve(this.doc));
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
    // A comment between `key:` and the first nested key belongs to the nested mapping.
    if (!headHandled) for (const c of commentLines(node.commentBefore)) branch.items.push({ key: new Comment(c), value: null });
    const explicitKeys = new Set(node.items.map((pair) => (isScalar(pair.key) ? pair.key.value : undefined)).filter((k) => typeof k === 'string'));
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      for (const c of commentLines(isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? keyNode.commentBefore : undefined)) branch.items.push({ key: new Comment(c), value: null });
      if (isScalar(keyNode) && keyNode.value === '<<' && keyNode.type === PLAIN) {
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

  private seq(node: YAMLSeq, headHandled = false): TreeValue[] {
    const out: TreeValue[] = headHandled ? [] : commentLines(node.commentBefore).map((c) => new Comment(c));
    for (const item of node.items) {
      const itemNode = item as Node | null;
      // As in sops, a comment before an element is an element of the sequence, not of a mapping it opens.
      if (itemNode && (isScalar(itemNode) || isMap(itemNode) || isSeq(itemNode))) for (const c of commentLines(itemNode.commentBefore)) out.push(new Comment(c));
      if (isPair(item)) throw new InvalidDocumentError('unsupported YAML: a key/value pair inside a sequence');
      out.push(this.value(item, true));
      if (itemNode && isScalar(itemNode)) for (const c of commentLines(itemNode.comment)) out.push(new Comment(c, true));
    }
    for (const c of commentLines(node.comment)) out.push(new Comment(c));
    return out;
  }
}

/** Parses every document: the fast reader first, the full library when it declines. */
export function parseYamlDocuments(text: string): TreeBranch[] {
  return fastParseYaml(text) ?? parseYamlWithLibrary(text);
}

/** The full parser alone (tests compare both paths). */
export function parseYamlWithLibrary(text: string): TreeBranch[] {
  return parseDocuments(text).map((doc) => new Reader(doc).document());
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
    for (const item of value.items) if (typeof item.key === 'string') out[item.key] = metadataToPlain(item.value);
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
