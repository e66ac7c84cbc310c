/**
 * A store turns file bytes into documents (value trees) and back, as sops' stores do
 * (sops-format.md §6). Stores know nothing of encryption: an encrypted file is the same
 * tree with `ENC[...]` strings, plus the `sops` metadata as plain data.
 */
import type { TreeBranch } from '../tree.js';

export type Format = 'yaml' | 'json' | 'dotenv' | 'ini' | 'binary';

/** Plain metadata as stored: nested objects, arrays, strings, numbers, booleans. */
export type PlainMetadata = Record<string, unknown>;

export interface EncryptedFile {
  documents: TreeBranch[];
  /** The `sops` block as plain data; undefined when the file has none. */
  metadata: PlainMetadata | undefined;
}

export interface EmitOptions {
  /** Indentation for YAML and JSON (`stores.<format>.indent` in .sops.yaml, `--indent`). */
  indent?: number;
}

export interface Store {
  readonly format: Format;
  /** Reads a plaintext file. Throws InvalidDocumentError on malformed input. */
  loadPlain(input: Buffer): TreeBranch[];
  /** Reads an encrypted file: documents without the metadata, and the metadata. */
  loadEncrypted(input: Buffer): EncryptedFile;
  emitPlain(documents: TreeBranch[], options?: EmitOptions): Buffer;
  emitEncrypted(documents: TreeBranch[], metadata: PlainMetadata, options?: EmitOptions): Buffer;
  /** True if a plaintext load is already a sops file (a top-level `sops` key; for binary, the JSON envelope). */
  hasMetadata(documents: TreeBranch[]): boolean;
}
