import { openEncryptedSecret, secretToYaml } from '../../src/encrypted-secret.js';
import { storeFor } from '../../src/document/stores/index.js';
import { getAtPath, parseTreePath } from '../../src/document/tree-path.js';
import { Comment, TreeBranch, toPlain, type TreeValue } from '../../src/document/tree.js';
import { emitYamlValue } from '../../src/document/stores/yaml-fast.js';
import { scalarToBytes } from '../../src/crypto/scalars.js';
import { parseDecryptionOrder } from '../../src/crypto/envelope.js';
import { UsageError } from '../../src/errors.js';
import { readInputFile } from '../../src/files.js';
import type { Format } from '../../src/document/stores/types.js';
import { configForEmit, emitOptions, type OpenFlags, type TransformOptions, inputFormat, openEncrypted, outputFormat, providerContext, transformEncryptedFiles } from '../common.js';
import { checkOutputFlags, placeOutput, readInput } from '../io.js';

export interface DecryptCommandOptions extends OpenFlags, TransformOptions {
  extract?: string;
  asSecret?: boolean;
}

export async function decryptCommand(files: string[], options: DecryptCommandOptions): Promise<number> {
  if (files.length === 0 || files[0] === '-') checkOutputFlags(files, options, 'decrypt');
  if (options.extract && (files.length > 1 || options.recursive)) throw new UsageError('--extract works on one file');
  if (options.asSecret) return decryptAsSecret(files, options);
  if (files.length === 0 || files[0] === '-') {
    if (!options.filenameOverride && !options.inputType) throw new UsageError('decrypting standard input needs --filename-override or --input-type');
    placeOutput(undefined, await decryptOne(options.filenameOverride ?? 'stdin', readInput(undefined), options), options, 0o600);
    return 0;
  }
  return transformEncryptedFiles(files, options, 'decrypt', 'decrypted', (path, input) => decryptOne(path, input, options), 0o600);
}

async function decryptOne(path: string, input: Buffer, options: DecryptCommandOptions): Promise<Buffer> {
  const opened = await openEncrypted(path, options, input);
  const format = outputFormat(path, options);
  const emit = emitOptions(format, options.indent, configForEmit(options));
  if (options.extract) return extractValue(getAtPath(opened.documents[0], parseTreePath(options.extract)), format, emit.indent);
  return storeFor(format).emitPlain(opened.documents, emit);
}

/**
 * The Secret an EncryptedSecret file will become, checked as the controller checks it
 * (MAC, scope against the file's own metadata), so a bad file fails here, not in the cluster.
 */
async function decryptAsSecret(files: string[], options: DecryptCommandOptions): Promise<number> {
  if (files.length !== 1 || files[0] === '-' || options.recursive || options.inPlace) throw new UsageError('--as-secret works on one file, printed or written with --output');
  if (options.extract || options.ignoreMac) throw new UsageError('--as-secret cannot be combined with --extract or --ignore-mac');
  const format = inputFormat(files[0], options);
  const documents = storeFor(format).loadPlain(readInputFile(files[0]));
  if (documents.length !== 1) throw new UsageError('--as-secret needs a file with one EncryptedSecret document');
  const decryptionOrder = options.decryptionOrder ? parseDecryptionOrder(options.decryptionOrder) : undefined;
  const opened = await openEncryptedSecret(toPlain(documents[0]), providerContext(), { decryptionOrder });
  placeOutput(files[0], secretToYaml(opened.secret), options, 0o600);
  return 0;
}

/** Scalars print as their raw text (as sops does); mappings and lists in the output format. */
function extractValue(value: TreeValue, format: Format, indent?: number): Buffer {
  if (value instanceof TreeBranch) return storeFor(format === 'binary' || format === 'dotenv' || format === 'ini' ? 'json' : format).emitPlain([value], { indent });
  if (Array.isArray(value)) {
    const plain = toPlain(value);
    return Buffer.from(format === 'yaml' ? emitYamlValue(value, indent ?? 4) : `${JSON.stringify(plain, null, '\t')}\n`);
  }
  if (value === null) return Buffer.from('null');
  if (value instanceof Comment) return Buffer.from(value.value);
  if (typeof value === 'boolean') return Buffer.from(String(value));
  return scalarToBytes(value);
}
