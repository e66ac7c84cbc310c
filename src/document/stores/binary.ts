/**
 * The binary store (sops-format.md §6.4): any file that is not YAML, JSON, dotenv or
 * INI. The whole content is one value under the key `data` (AAD `data:`); the encrypted
 * file is a JSON document `{"data": "ENC[…]", "sops": {…}}`.
 */
import { InvalidDocumentError } from '../../errors.js';
import { bytesToStr } from '../../crypto/scalars.js';
import { TreeBranch } from '../tree.js';
import { looksEncrypted } from '../metadata.js';
import { jsonStore, singleDocument } from './json.js';
import type { Store } from './types.js';

const DATA_KEY = 'data';

/** Text when the bytes are valid UTF-8 (as sops' Go string), raw bytes otherwise, so nothing is lost. */
function loadPlain(input: Buffer): TreeBranch[] {
  return [new TreeBranch([{ key: DATA_KEY, value: bytesToStr(input) }])];
}

function emitPlain(documents: TreeBranch[]): Buffer {
  const value = singleDocument(documents, 'binary').get(DATA_KEY);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const problem = value === undefined ? 'has no "data" key' : 'has a "data" value that is not a string';
  throw new InvalidDocumentError(`cannot write a binary file: the document ${problem}`, 'choose another output type, for example --output-type json');
}

export const binaryStore: Store = {
  format: 'binary',
  loadPlain,
  loadEncrypted: (input) => jsonStore.loadEncrypted(input),
  emitPlain: (documents) => emitPlain(documents),
  emitEncrypted: (documents, metadata, options) => jsonStore.emitEncrypted(documents, metadata, options),
  hasMetadata,
};

/**
 * Any bytes are valid plaintext, so "already encrypted" means: the content is sops' JSON
 * envelope for a binary file, with a version and a MAC (what `filestatus` calls encrypted). Without this, `wax encrypt -i file.txt` run twice would
 * encrypt the ciphertext.
 */
function hasMetadata(documents: TreeBranch[]): boolean {
  const data = documents[0]?.get(DATA_KEY);
  if (typeof data !== 'string' || !data.trimStart().startsWith('{')) return false;
  try {
    return looksEncrypted(jsonStore.loadEncrypted(Buffer.from(data, 'utf8')).metadata);
  } catch {
    return false;
  }
}
