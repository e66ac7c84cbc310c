/**
 * What the structural detectors share: reading a scanned file through the project's own
 * stores (so that "encrypted" and "selected" mean what they mean to `wax encrypt`), and
 * finding the line and column of a value, which the stores do not keep.
 *
 * Positions are computed only for files that already have a finding: the YAML library
 * is loaded lazily, and a clean file never pays for it.
 */
import type { Document, Node } from 'yaml';
import { WaxError } from '../errors.js';
import { scalarToString } from '../crypto/scalars.js';
import { isEmptyValue } from '../crypto/values.js';
import { formatFromPath, storeFor } from '../document/stores/index.js';
import { binaryStore } from '../document/stores/binary.js';
import { jsonStore } from '../document/stores/json.js';
import type { Format, PlainMetadata } from '../document/stores/types.js';
import { loadYamlLib } from '../document/stores/yaml.js';
import { Comment, TreeBranch, type TreeValue } from '../document/tree.js';
import { walkDocuments } from '../document/walk.js';
import type { Selector } from '../document/rules.js';
import { fastJsonOffset, fastYamlDocuments, fastYamlOffset, UNSURE, type FastOffset } from './fast-positions.js';
import { TextIndex } from './text-index.js';

/** Mapping keys and sequence indices from a document's root down to one value. */
export type Location = readonly (string | number)[];

export interface Position {
  line: number;
  column: number;
}

export const FILE_POSITION: Position = { line: 1, column: 1 };

export interface LoadedFile {
  format: Format;
  /** The documents without the `sops` metadata (for binary: `{data: …}`). */
  documents: TreeBranch[];
  /** The sops metadata when the file has a usable block, else undefined. */
  metadata: PlainMetadata | undefined;
}

/**
 * Reads a file as `wax encrypt` would by its name, or undefined when it does not parse:
 * a file the stores reject is no sops file, and the caller decides what that means.
 */
export function loadForScan(path: string, content: Buffer, format: Format = formatFromPath(path)): LoadedFile | undefined {
  return guardParse(() => (format === 'binary' ? loadBinary(content) : loadStructured(format, content)));
}

/** The plaintext documents, or undefined when the store rejects the content. */
export function loadPlainForScan(format: Format, content: Buffer): TreeBranch[] | undefined {
  return guardParse(() => storeFor(format).loadPlain(content));
}

function loadStructured(format: Format, content: Buffer): LoadedFile {
  const loaded = storeFor(format).loadEncrypted(content);
  return { format, documents: loaded.documents, metadata: isSopsMetadata(loaded.metadata) ? loaded.metadata : undefined };
}

/** A binary file is encrypted when it is sops' JSON envelope; anything else is its own plaintext. */
function loadBinary(content: Buffer): LoadedFile {
  const envelope = binaryEnvelope(content);
  if (envelope) return envelope;
  return { format: 'binary', documents: binaryStore.loadPlain(content), metadata: undefined };
}

function binaryEnvelope(content: Buffer): LoadedFile | undefined {
  // Cheap refusal first: most binary-format files (scripts, docs) are not JSON at all.
  if (!content.toString('utf8', 0, Math.min(content.length, 64)).trimStart().startsWith('{')) return undefined;
  const loaded = guardParse(() => jsonStore.loadEncrypted(content));
  if (!loaded || !isSopsMetadata(loaded.metadata) || !loaded.documents[0]?.has('data')) return undefined;
  return { format: 'binary', documents: loaded.documents, metadata: loaded.metadata };
}

/**
 * A `sops` block worth the name: a mapping with a version, a MAC or a timestamp. A
 * plaintext file may well have a key named `sops` (a tool's settings); a sops file
 * always has these, even the ones written without a MAC.
 */
export function isSopsMetadata(raw: unknown): raw is PlainMetadata {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return false;
  const fields = raw as Record<string, unknown>;
  return ['version', 'mac', 'lastmodified'].some((key) => fields[key] !== undefined && fields[key] !== null);
}

/** Whether the content is a sops file in any of these formats (first that says yes). */
export function hasSopsMetadata(content: Buffer, formats: readonly Format[]): boolean {
  return [...new Set(formats)].some((format) => loadForScan('', content, format)?.metadata !== undefined);
}

/**
 * Scanned content is untrusted: the stores throw typed errors for malformed input, and
 * a deeply nested document can exhaust the stack. Neither may crash a scan.
 */
function guardParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (error instanceof WaxError || error instanceof RangeError) return undefined;
    throw error;
  }
}

// ---- leaves --------------------------------------------------------------------------

export interface Leaf {
  /** The scalar or comment as stored. */
  value: TreeValue;
  document: number;
  /** Mapping keys only, as the selection rules see them. */
  path: readonly string[];
  /** The comment stack the comment-based selection rules see; valid during the visit only. */
  comments: readonly string[][];
  location: Location;
}

/**
 * Visits every leaf in the order `wax encrypt` does, with what the selection rules see
 * (from `walkDocuments` itself, so "selected" cannot drift from what encryption does)
 * and where the leaf is (sequence indices included, which the walk does not report).
 */
export function forEachLeaf(documents: TreeBranch[], visit: (leaf: Leaf) => void): void {
  documents.forEach((doc, document) => {
    const locations: Location[] = [];
    locateBranch(doc, [], locations);
    let index = 0;
    walkDocuments([doc], (value, path, comments) => {
      visit({ value, document, path, comments, location: locations[index++] ?? [] });
      return value;
    });
  });
}

/** The walk's visiting order: items in order, comment keys are leaves, nulls are skipped. */
function locateBranch(branch: TreeBranch, at: Location, out: Location[]): void {
  for (const item of branch.items) {
    if (item.key instanceof Comment) out.push(at);
    else locateValue(item.value, [...at, item.key], out);
  }
}

function locateValue(value: TreeValue, at: Location, out: Location[]): void {
  if (value === null) return;
  if (value instanceof TreeBranch) locateBranch(value, at, out);
  else if (Array.isArray(value)) value.forEach((element, i) => locateValue(element, [...at, i], out));
  else out.push(at);
}

/** A value that holds something: not a comment, not null, not one sops leaves empty. */
export function isValueLeaf(leaf: Leaf): boolean {
  return !(leaf.value instanceof Comment) && leaf.value !== null && !isEmptyValue(leaf.value);
}

/** The value as text, for masking and fingerprints only. */
export function leafText(value: TreeValue): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value instanceof Comment) return value.value;
  if (value === null || value instanceof TreeBranch || Array.isArray(value)) return '';
  return scalarToString(value);
}

/**
 * The first non-empty value the selector picks (any value without one), e.g. to
 * fingerprint an unencrypted file: the value is masked and hashed, never shown.
 */
export function firstSelectedValue(documents: TreeBranch[], selector?: Selector): string | undefined {
  let first: string | undefined;
  forEachLeaf(documents, (leaf) => {
    if (first !== undefined || !isValueLeaf(leaf)) return;
    if (!selector || selector.shouldEncrypt(leaf.path, leaf.comments, false)) first = leafText(leaf.value);
  });
  return first;
}

/** `spec.containers[0].env`: keys and indices, never values. */
export function describeLocation(location: Location): string {
  if (location.length === 0) return '(document root)';
  return location.map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`)).join('');
}

// ---- positions -----------------------------------------------------------------------

/**
 * Finds where values are in one file's text. Built per file and only once a finding
 * needs a position; the parse behind it is done at most once.
 */
export class ValueLocator {
  private yamlDocs: Document.Parsed[] | undefined;
  private fastYaml: ReturnType<typeof fastYamlDocuments> | undefined;
  private lines: TextIndex | undefined;

  constructor(
    private readonly format: Format,
    private readonly text: string,
  ) {}

  locate(document: number, location: Location): Position {
    switch (this.format) {
      case 'yaml':
      case 'json':
      case 'binary':
        return this.locateTree(document, location);
      case 'dotenv':
        return this.locateDotenv(location);
      case 'ini':
        return this.locateIni(location);
    }
  }

  /**
   * YAML, JSON and the binary envelope (which is JSON): the YAML library reads all three
   * with ranges. The fast readers answer first, and the library is loaded only for what
   * they leave to it.
   */
  private locateTree(document: number, location: Location): Position {
    let offset = this.fastOffset(document, location);
    if (offset === UNSURE) {
      this.yamlDocs ??= parseWithRanges(this.text);
      offset = libraryOffset(this.yamlDocs, document, location);
    }
    return offset === undefined ? FILE_POSITION : this.positionAt(offset);
  }

  private fastOffset(document: number, location: Location): FastOffset {
    if (this.format !== 'yaml') return document === 0 ? fastJsonOffset(this.text, location) : UNSURE;
    this.fastYaml ??= fastYamlDocuments(this.text);
    return this.fastYaml === UNSURE ? UNSURE : fastYamlOffset(this.fastYaml, document, location);
  }

  /** dotenv keys are verbatim, one `KEY=VALUE` per line. */
  private locateDotenv(location: Location): Position {
    const key = String(location[0] ?? '');
    const lines = this.text.split('\n');
    const index = lines.findIndex((line) => line[0] !== '#' && line.startsWith(`${key}=`));
    return index < 0 ? FILE_POSITION : { line: index + 1, column: key.length + 2 };
  }

  /** INI: `[section]` headers (keys before the first one are in DEFAULT), then `key = value`. */
  private locateIni(location: Location): Position {
    const [section, key] = location.map(String);
    const lines = this.text.split('\n');
    let current = 'DEFAULT';
    let sectionLine: number | undefined;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trimStart();
      if (line.startsWith('[')) {
        current = line.slice(1, line.lastIndexOf(']'));
        if (current === section) sectionLine ??= i + 1;
        continue;
      }
      if (current !== section || line[0] === '#' || line[0] === ';') continue;
      const delimiter = line.search(/[=:]/);
      if (delimiter > 0 && line.slice(0, delimiter).trim() === key) {
        const valueStart = delimiter + 1 + (line.slice(delimiter + 1).length - line.slice(delimiter + 1).trimStart().length);
        return { line: i + 1, column: lines[i].length - line.length + valueStart + 1 };
      }
    }
    return sectionLine === undefined ? FILE_POSITION : { line: sectionLine, column: 1 };
  }

  private positionAt(offset: number): Position {
    this.lines ??= new TextIndex(this.text);
    return this.lines.position(offset);
  }
}

/** Where the library puts the node at `location` (see `nodeOffset`); undefined for no such document. */
export function libraryOffset(docs: readonly Document.Parsed[], document: number, location: Location): number | undefined {
  const doc = docs[document];
  return doc ? nodeOffset(doc, location) : undefined;
}

export function parseWithRanges(text: string): Document.Parsed[] {
  // Lenient on purpose: positions only, and the stores already accepted this text.
  const docs = loadYamlLib().parseAllDocuments(text, { uniqueKeys: false, merge: false, strict: false, prettyErrors: false });
  return Array.isArray(docs) ? docs : [docs];
}

/**
 * The offset of the node at `location`, or of the deepest node on the way when the
 * rest cannot be followed (a key that came from a merge key, for example), so the
 * position is still close to the value.
 */
function nodeOffset(doc: Document.Parsed, location: Location): number | undefined {
  const yaml = loadYamlLib();
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const step of location) {
    if (yaml.isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (typeof step === 'number' && yaml.isSeq(node)) next = node.items[step];
    else if (typeof step === 'string' && yaml.isMap(node)) next = node.items.find((pair) => yaml.isScalar(pair.key) && String(pair.key.value) === step)?.value;
    if (next === undefined || next === null) return offset;
    node = next;
    offset = rangeStart(node) ?? offset;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}
