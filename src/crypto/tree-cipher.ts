/**
 * Encrypts or decrypts every selected leaf of a tree and computes the MAC over the
 * plaintext values in the same pass (sops-format.md §4, §5).
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidDocumentError, MacMismatchError, MalformedValueError } from '../errors.js';
import type { Selector } from '../document/rules.js';
import { Comment, type TreeBranch, type TreeValue } from '../document/tree.js';
import { describePath, pathToAad, walkDocuments } from '../document/walk.js';
import { scalarToBytes, scalarToString } from './scalars.js';
import { ValueCipher, isEncryptedValue } from './values.js';

/** sha256("sops"): seeds the MAC when only encrypted values are covered. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

export interface TreeCipherOptions {
  selector: Selector;
  macOnlyEncrypted: boolean;
}

function newMacHash(macOnlyEncrypted: boolean): Hash {
  const hash = createHash('sha512');
  if (macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  return hash;
}

function macInput(value: TreeValue): Buffer | undefined {
  if (value instanceof Comment || value === null) return undefined;
  return scalarToBytes(value);
}

/** Returns the encrypted documents and the MAC (uppercase hex) of their plaintext. */
export function encryptDocuments(documents: TreeBranch[], cipher: ValueCipher, options: TreeCipherOptions): { documents: TreeBranch[]; mac: string } {
  const hash = newMacHash(options.macOnlyEncrypted);
  const out = walkDocuments(documents, (value, path, comments) => {
    const isComment = value instanceof Comment;
    const encrypted = options.selector.shouldEncrypt(path, comments, isComment);
    if (!options.macOnlyEncrypted || encrypted) {
      const bytes = macInput(value);
      if (bytes) hash.update(bytes);
    }
    if (!encrypted) return value;
    const text = cipher.encrypt(value, pathToAad(path));
    if (isComment && text !== '' && options.selector.matchesUnencryptedComment(text)) {
      throw new InvalidDocumentError('an encrypted comment matches unencrypted_comment_regex', 'make the regex unable to match ENC[...] text');
    }
    return isComment ? new Comment(text, (value as Comment).inline) : text;
  });
  return { documents: out, mac: hash.digest('hex').toUpperCase() };
}

/** Returns the decrypted documents and the MAC computed over their plaintext. */
export function decryptDocuments(documents: TreeBranch[], cipher: ValueCipher, options: TreeCipherOptions): { documents: TreeBranch[]; mac: string } {
  const hash = newMacHash(options.macOnlyEncrypted);
  const out = walkDocuments(documents, (value, path, comments) => {
    const isComment = value instanceof Comment;
    const encrypted = options.selector.shouldEncrypt(path, comments, isComment);
    let plain: TreeValue = value;
    if (encrypted) plain = isComment ? decryptComment(value as Comment, path, cipher) : decryptLeaf(value, path, cipher);
    if (!options.macOnlyEncrypted || encrypted) {
      const bytes = macInput(plain);
      if (bytes) hash.update(bytes);
    }
    return plain;
  });
  return { documents: out, mac: hash.digest('hex').toUpperCase() };
}

function decryptLeaf(value: TreeValue, path: readonly string[], cipher: ValueCipher): TreeValue {
  if (typeof value !== 'string') {
    throw new MalformedValueError(describePath(path), 'expected an encrypted value, found a clear one');
  }
  return cipher.decrypt(value, pathToAad(path), describePath(path));
}

/** Comments that are not sops values (older sops, or clear by rule) are kept as they are. */
function decryptComment(comment: Comment, path: readonly string[], cipher: ValueCipher): TreeValue {
  if (!isEncryptedValue(comment.value)) return comment;
  try {
    const plain = cipher.decrypt(comment.value, pathToAad(path), describePath(path));
    return plain instanceof Comment ? new Comment(plain.value, comment.inline) : new Comment(scalarToString(plain), comment.inline);
  } catch {
    return comment;
  }
}

/** The stored MAC: the hex digest encrypted with the lastmodified timestamp as AAD. */
export function encryptMac(mac: string, cipher: ValueCipher, lastModified: string): string {
  return cipher.encrypt(mac, lastModified);
}

/** Decrypts the stored MAC and compares it with the computed one. */
export function verifyMac(storedMac: string, computedMac: string, cipher: ValueCipher, lastModified: string): void {
  if (storedMac === '') throw new MacMismatchError('the file has no MAC');
  let fileMac: TreeValue;
  try {
    fileMac = cipher.decrypt(storedMac, lastModified, 'sops.mac');
  } catch {
    // sops ignores this error and compares an empty MAC; a changed lastmodified lands here.
    throw new MacMismatchError('the stored MAC cannot be authenticated (was lastmodified or mac changed?)');
  }
  if (fileMac !== computedMac) throw new MacMismatchError('the values do not match the MAC stored in the file');
}
