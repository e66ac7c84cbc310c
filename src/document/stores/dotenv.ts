/**
 * The dotenv store (sops-format.md §6.3), exactly as sops parses it: one `KEY=VALUE`
 * per line split at the first `=`, no trimming, no quotes, no `export`; `#` lines are
 * comments; `\n` in a value means a newline. The AAD of a value is its key verbatim, so
 * any "helpful" trimming here would make files written by sops undecryptable.
 *
 * Also home of the metadata flattening shared with the INI store: nested metadata
 * becomes flat keys joined with `__map_<key>` and `__list_<index>`.
 */
import { InvalidDocumentError, MetadataError } from '../../errors.js';
import { formatGoFloat, scalarToString } from '../../crypto/scalars.js';
import { Comment, TreeBranch, isBranch, type TreeItem, type TreeValue } from '../tree.js';
import { singleDocument } from './json.js';
import type { EncryptedFile, PlainMetadata, Store } from './types.js';

const SOPS_PREFIX = 'sops_';
const MAP_SEPARATOR = '__map_';
const LIST_SEPARATOR = '__list_';

// ---- metadata flattening (dotenv and INI) ------------------------------------------

/** Metadata leaves are written as strings; mapstructure's weak typing reads them back. */
function metadataLeafString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatGoFloat(value);
  throw new MetadataError(`the sops metadata holds a value of type ${typeof value}, which cannot be flattened`);
}

/**
 * Depth-first, in the order given (the caller passes sops 3.13's sorted layout). Nulls
 * and empty lists or maps produce no key, as in sops. Returns [flat key, string value].
 */
export function flattenMetadata(metadata: PlainMetadata, prefix: string): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  const visit = (value: unknown, key: string): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${key}${LIST_SEPARATOR}${i}`));
    } else if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, `${key}${MAP_SEPARATOR}${k}`);
    } else {
      if (seen.has(key)) throw new MetadataError(`flattening the sops metadata produces the key ${key} twice`);
      seen.add(key);
      out.push([key, metadataLeafString(value)]);
    }
  };
  for (const [key, value] of Object.entries(metadata)) visit(value, prefix + key);
  return out;
}

/** A flat key split as sops' `tokenize` does: strings index maps, numbers index lists. */
function tokenize(flatKey: string): (string | number)[] {
  const tokens: (string | number)[] = [];
  let kind: 'map' | 'list' = 'map';
  let start = 0;
  let i = 0;
  const finish = () => {
    const text = flatKey.slice(start, i);
    if (kind === 'map') tokens.push(text);
    else if (/^\d+$/.test(text)) tokens.push(Number(text));
    else throw new MetadataError(`sops metadata key ${flatKey} has a list index that is not a number`);
  };
  while (i < flatKey.length) {
    const separator = flatKey.startsWith(MAP_SEPARATOR, i) ? MAP_SEPARATOR : flatKey.startsWith(LIST_SEPARATOR, i) ? LIST_SEPARATOR : undefined;
    if (!separator) {
      i++;
      continue;
    }
    finish();
    kind = separator === MAP_SEPARATOR ? 'map' : 'list';
    i += separator.length;
    start = i;
  }
  finish();
  return tokens;
}

/** Lists are built as index maps so that a stray `__list_999999999` cannot allocate a huge array. */
type Node = { map: Map<string, Node> } | { list: Map<number, Node> } | { leaf: string };

function childFor(next: string | number | undefined, value: string): Node {
  if (next === undefined) return { leaf: value };
  return typeof next === 'number' ? { list: new Map() } : { map: new Map() };
}

function kindOf(node: Node): string {
  return 'map' in node ? 'map' : 'list' in node ? 'list' : 'leaf';
}

function insert(root: Node, flatKey: string, value: string): void {
  const tokens = tokenize(flatKey);
  let node = root;
  tokens.forEach((token, i) => {
    const fresh = childFor(tokens[i + 1], value);
    const slots = ('map' in node ? node.map : 'list' in node ? node.list : undefined) as Map<string | number, Node> | undefined;
    if (!slots) throw new MetadataError(`sops metadata key ${flatKey} conflicts with another key`);
    const existing = slots.get(token);
    if (existing === undefined) {
      slots.set(token, fresh);
      node = fresh;
      return;
    }
    if (kindOf(existing) === 'leaf' && kindOf(fresh) === 'leaf') throw new MetadataError(`sops metadata key ${flatKey} appears twice`);
    if (kindOf(existing) !== kindOf(fresh)) throw new MetadataError(`sops metadata key ${flatKey} conflicts with another key`);
    node = existing;
  });
}

function toPlainNode(node: Node): unknown {
  if ('leaf' in node) return node.leaf;
  if ('map' in node) return Object.fromEntries([...node.map].map(([k, v]) => [k, toPlainNode(v)]));
  const out: unknown[] = [];
  for (let i = 0; i < node.list.size; i++) {
    const item = node.list.get(i);
    if (item === undefined) throw new MetadataError('the sops metadata has a list with a missing element');
    out.push(toPlainNode(item));
  }
  return out;
}

/** The inverse of `flattenMetadata`; values stay strings (parseMetadata reads them weakly typed). */
export function unflattenMetadata(entries: [string, string][]): PlainMetadata {
  const root: Node = { map: new Map() };
  for (const [key, value] of entries) insert(root, key, value);
  return toPlainNode(root) as PlainMetadata;
}

// ---- the store -------------------------------------------------------------------

function loadPlain(input: Buffer): TreeBranch[] {
  const items: TreeItem[] = [];
  // Split on \n only, like sops: with CRLF input the \r stays part of the value (and of its MAC bytes).
  input
    .toString('utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line === '') return;
      if (line[0] === '#') {
        items.push({ key: new Comment(line.slice(1)), value: null });
        return;
      }
      const eq = line.indexOf('=');
      if (eq < 0) throw new InvalidDocumentError(`invalid dotenv line ${index + 1}: no '=' found`, 'each line must be KEY=VALUE, a # comment, or empty');
      items.push({ key: line.slice(0, eq), value: line.slice(eq + 1).replaceAll('\\n', '\n') });
    });
  return [new TreeBranch(items)];
}

function valueText(key: string, value: TreeValue): string {
  if (isBranch(value) || Array.isArray(value)) {
    throw new InvalidDocumentError(`dotenv values must be scalars; the value of ${key} is nested`, 'flatten the structure, or use YAML or JSON');
  }
  return value === null ? '' : scalarToString(value);
}

/** Keys sops would write but could not read back as the same key. */
function checkKey(key: string): void {
  if (key.includes('=') || key.includes('\n') || key.startsWith('#')) {
    throw new InvalidDocumentError('a dotenv key cannot contain "=" or a newline, or start with "#"', 'rename the key');
  }
}

function line(item: TreeItem): string {
  if (item.key instanceof Comment) {
    // One `#` line per comment line keeps a multi-line comment from breaking the file.
    return item.key.value
      .split('\n')
      .map((text) => `#${text}\n`)
      .join('');
  }
  checkKey(item.key);
  return `${item.key}=${valueText(item.key, item.value).replaceAll('\n', '\\n')}\n`;
}

function emitPlain(documents: TreeBranch[]): Buffer {
  return Buffer.from(singleDocument(documents, 'dotenv').items.map(line).join(''), 'utf8');
}

function loadEncrypted(input: Buffer): EncryptedFile {
  const [branch] = loadPlain(input);
  const kept: TreeItem[] = [];
  const flat: [string, string][] = [];
  for (const item of branch.items) {
    if (typeof item.key === 'string' && item.key.startsWith(SOPS_PREFIX)) flat.push([item.key.slice(SOPS_PREFIX.length), item.value as string]);
    else kept.push(item);
  }
  return { documents: [new TreeBranch(kept)], metadata: flat.length > 0 ? unflattenMetadata(flat) : undefined };
}

function emitEncrypted(documents: TreeBranch[], metadata: PlainMetadata): Buffer {
  const branch = singleDocument(documents, 'dotenv');
  if (hasMetadata([branch])) {
    throw new InvalidDocumentError(`a dotenv key starts with "${SOPS_PREFIX}", which is reserved for the metadata`, 'rename that key');
  }
  const metadataItems = flattenMetadata(metadata, SOPS_PREFIX).map(([key, value]) => ({ key, value }));
  return emitPlain([new TreeBranch([...branch.items, ...metadataItems])]);
}

function hasMetadata(documents: TreeBranch[]): boolean {
  return documents.some((doc) => doc.items.some((item) => typeof item.key === 'string' && item.key.startsWith(SOPS_PREFIX)));
}

export const dotenvStore: Store = {
  format: 'dotenv',
  loadPlain,
  loadEncrypted,
  emitPlain: (documents) => emitPlain(documents),
  emitEncrypted: (documents, metadata) => emitEncrypted(documents, metadata),
  hasMetadata,
};
