/**
 * The operations on whole files: encrypt a plaintext, open (decrypt and verify) an
 * encrypted file, seal an opened file again with the same data key, rotate and re-key.
 * Bytes in, bytes out; no file system access here (see `files.ts` for safe writes).
 */
import { AlreadyEncryptedError, NotEncryptedError } from './errors.js';
import { ValueCipher } from './crypto/values.js';
import { decryptDocuments, encryptDocuments, encryptMac, verifyMac } from './crypto/tree-cipher.js';
import { generateDataKey, unwrapDataKey, wrapDataKey } from './crypto/envelope.js';
import { compileSelector, DEFAULT_RULE, type SelectionRule } from './document/rules.js';
import { lastModifiedAad, nowRfc3339, parseMetadata, serializeMetadata, SOPS_VERSION, type KeyGroup, type MasterKeyEntry, type Metadata } from './document/metadata.js';
import { storeFor } from './document/stores/index.js';
import type { EmitOptions, Format } from './document/stores/types.js';
import type { TreeBranch } from './document/tree.js';
import type { MasterKeyRecipient, ProviderContext } from './providers/index.js';

export interface EncryptOptions {
  format: Format;
  /** Master keys per key group; one group is the common case. */
  keyGroups: MasterKeyRecipient[][];
  shamirThreshold?: number;
  /** The selection rule; the `_unencrypted` suffix when omitted. */
  rule?: SelectionRule;
  macOnlyEncrypted?: boolean;
  emit?: EmitOptions;
  /** Name used in messages. */
  path?: string;
  now?: Date;
}

export interface SealedDocuments {
  documents: TreeBranch[];
  metadata: Metadata;
}

/** Encrypts plaintext documents under a new data key. */
export async function encryptTree(documents: TreeBranch[], options: EncryptOptions): Promise<SealedDocuments & { dataKey: Buffer }> {
  const dataKey = generateDataKey();
  const keyGroups = await wrapDataKey(dataKey, options.keyGroups, options.shamirThreshold ?? 0);
  const binary = options.format === 'binary';
  const metadata: Metadata = {
    keyGroups,
    shamirThreshold: options.keyGroups.length > 1 ? (options.shamirThreshold ?? 0) : 0,
    lastModified: '',
    mac: '',
    // The binary store ignores selection rules and writes none, as sops 3.11+ does.
    rule: binary ? DEFAULT_RULE : (options.rule ?? DEFAULT_RULE),
    ruleExplicit: !binary,
    macOnlyEncrypted: options.macOnlyEncrypted ?? false,
    version: SOPS_VERSION,
    unknown: {},
  };
  const sealed = await sealTree(documents, metadata, new ValueCipher(dataKey), options.now);
  return { ...sealed, dataKey };
}

/** Encrypts a plaintext file's bytes. */
export async function encryptBytes(input: Buffer, options: EncryptOptions): Promise<Buffer> {
  const store = storeFor(options.format);
  const documents = store.loadPlain(input);
  if (store.hasMetadata(documents)) throw new AlreadyEncryptedError(options.path ?? 'input');
  const sealed = await encryptTree(documents, options);
  return store.emitEncrypted(sealed.documents, serializeMetadata(sealed.metadata), options.emit);
}

/** Encrypts documents with a cipher (whose stash keeps unchanged values identical) and sets the MAC. */
export async function sealTree(documents: TreeBranch[], metadata: Metadata, cipher: ValueCipher, now?: Date): Promise<SealedDocuments> {
  const selector = await compileSelector(metadata.rule);
  const encrypted = encryptDocuments(documents, cipher, { selector, macOnlyEncrypted: metadata.macOnlyEncrypted });
  const lastModified = nowRfc3339(now);
  const mac = encryptMac(encrypted.mac, cipher, lastModified);
  return { documents: encrypted.documents, metadata: { ...metadata, lastModified, mac, version: SOPS_VERSION } };
}

export interface OpenOptions {
  format: Format;
  ctx: ProviderContext;
  ignoreMac?: boolean;
  path?: string;
  /** `--decryption-order`; defaults to SOPS_DECRYPTION_ORDER or age,pgp. */
  decryptionOrder?: string[];
}

/** A decrypted file, ready to be shown, edited and sealed again with the same data key. */
export interface OpenedFile {
  format: Format;
  documents: TreeBranch[];
  metadata: Metadata;
  dataKey: Buffer;
  cipher: ValueCipher;
  usedKeys: MasterKeyEntry[];
}

/** Parses an encrypted file's bytes into its still-encrypted documents and metadata. */
export function loadEncrypted(input: Buffer, format: Format, path = 'input'): { documents: TreeBranch[]; metadata: Metadata } {
  const loaded = storeFor(format).loadEncrypted(input);
  if (!loaded.metadata) throw new NotEncryptedError(path);
  return { documents: loaded.documents, metadata: parseMetadata(loaded.metadata) };
}

/** Decrypts every value and verifies the MAC (unless ignoreMac). */
export async function openBytes(input: Buffer, options: OpenOptions): Promise<OpenedFile> {
  const { documents, metadata } = loadEncrypted(input, options.format, options.path);
  const { dataKey, usedKeys } = await unwrapDataKey(metadata, { ctx: options.ctx, order: options.decryptionOrder });
  const cipher = new ValueCipher(dataKey);
  const selector = await compileSelector(metadata.rule);
  const decrypted = decryptDocuments(documents, cipher, { selector, macOnlyEncrypted: metadata.macOnlyEncrypted });
  if (!options.ignoreMac) verifyMac(metadata.mac, decrypted.mac, cipher, lastModifiedAad(metadata.lastModified));
  return { format: options.format, documents: decrypted.documents, metadata, dataKey, cipher, usedKeys };
}

/** Decrypts a file's bytes to plaintext bytes in the same (or another) format. */
export async function decryptBytes(input: Buffer, options: OpenOptions & { outputFormat?: Format; emit?: EmitOptions }): Promise<Buffer> {
  const opened = await openBytes(input, options);
  return storeFor(options.outputFormat ?? options.format).emitPlain(opened.documents, options.emit);
}

/** Seals edited documents with the opened file's data key and keys (edit, set, unset). */
export async function resealBytes(opened: OpenedFile, documents: TreeBranch[], options: { outputFormat?: Format; emit?: EmitOptions; now?: Date } = {}): Promise<Buffer> {
  const sealed = await sealTree(documents, opened.metadata, opened.cipher, options.now);
  return storeFor(options.outputFormat ?? opened.format).emitEncrypted(sealed.documents, serializeMetadata(sealed.metadata), options.emit);
}

/** Re-encrypts everything under a new data key wrapped for `keyGroups` (rotate). */
export async function rotateOpened(opened: OpenedFile, keyGroups: MasterKeyRecipient[][], options: { emit?: EmitOptions; now?: Date } = {}): Promise<Buffer> {
  const dataKey = generateDataKey();
  const groups = await wrapDataKey(dataKey, keyGroups, opened.metadata.shamirThreshold);
  const metadata = { ...opened.metadata, keyGroups: groups };
  const sealed = await sealTree(opened.documents, metadata, new ValueCipher(dataKey), options.now);
  return storeFor(opened.format).emitEncrypted(sealed.documents, serializeMetadata(sealed.metadata), options.emit);
}

/**
 * Re-wraps the existing data key for new key groups without touching the values or the
 * MAC (updatekeys). Removed recipients who kept the old data key can still read the old
 * ciphertext until `rotate`, exactly as with sops.
 */
export async function rekeyBytes(input: Buffer, options: OpenOptions & { keyGroups: MasterKeyRecipient[][]; shamirThreshold?: number; emit?: EmitOptions }): Promise<{ output: Buffer; before: KeyGroup[]; after: KeyGroup[] }> {
  const { documents, metadata } = loadEncrypted(input, options.format, options.path);
  const { dataKey } = await unwrapDataKey(metadata, { ctx: options.ctx, order: options.decryptionOrder });
  const threshold = options.shamirThreshold ?? metadata.shamirThreshold;
  const after = await wrapDataKey(dataKey, options.keyGroups, threshold);
  const updated: Metadata = { ...metadata, keyGroups: after, shamirThreshold: options.keyGroups.length > 1 ? Math.min(threshold, options.keyGroups.length) : 0 };
  const output = storeFor(options.format).emitEncrypted(documents, serializeMetadata(updated), options.emit);
  return { output, before: metadata.keyGroups, after };
}
