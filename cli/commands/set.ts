/**
 * `wax set` and `wax unset`: change one value of an encrypted file without an editor.
 * The file is sealed again with its own data key and the cipher's IV stash, so every
 * unchanged value keeps its exact `ENC[...]` string and the diff is the changed line
 * plus `sops.mac` and `sops.lastmodified`.
 */
import { isDeepStrictEqual } from 'node:util';
import { openBytes, resealBytes, type OpenedFile } from '../../src/sops-file.js';
import { parseDecryptionOrder } from '../../src/crypto/envelope.js';
import { parseJsonDocument } from '../../src/document/stores/json.js';
import { formatTreePath, getAtPath, parseTreePath, setAtPath, unsetAtPath, type PathComponent } from '../../src/document/tree-path.js';
import { toPlain, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { readInputFile, writeFileAtomic } from '../../src/files.js';
import { ConflictingParametersError, ExitCode, TreePathError, UsageError, WaxError } from '../../src/errors.js';
import { emitOptions, inputFormat, loadSopsConfig, outputFormat, providerContext, type FormatOptions } from '../common.js';
import { readStdin } from '../io.js';

/** What every command that opens one encrypted file accepts. */
export interface OpenFlags extends FormatOptions {
  ignoreMac?: boolean;
  decryptionOrder?: string;
  indent?: string;
  config?: string;
}

/** Reads, decrypts and verifies `file` (MAC unless --ignore-mac). */
export async function openEncrypted(file: string, options: OpenFlags): Promise<OpenedFile> {
  return openBytes(readInputFile(file), {
    format: inputFormat(file, options),
    path: file,
    ctx: providerContext(),
    ignoreMac: options.ignoreMac,
    decryptionOrder: options.decryptionOrder ? parseDecryptionOrder(options.decryptionOrder) : undefined,
  });
}

/** The .sops.yaml for output indentation only; a broken one must not stop a command that does not need it. */
export function configForEmit(options: OpenFlags) {
  if (options.indent !== undefined) return undefined;
  try {
    return loadSopsConfig(options);
  } catch {
    return undefined;
  }
}

export interface SetOptions extends OpenFlags {
  valueStdin?: boolean;
  valueFile?: boolean;
  idempotent?: boolean;
}

export async function setCommand(file: string, path: string, value: string | undefined, options: SetOptions): Promise<number> {
  const treePath = checkPath(path);
  const newValue = parseValue(readValueText(value, options));
  const opened = await openEncrypted(file, options);
  const document = firstDocument(opened);
  if (options.idempotent && hasValue(document, treePath, newValue)) return 0;
  setAtPath(document, treePath, newValue);
  await writeResealed(file, opened, options);
  return 0;
}

export async function unsetCommand(file: string, path: string, options: SetOptions): Promise<number> {
  const treePath = checkPath(path);
  const opened = await openEncrypted(file, options);
  if (!unsetAtPath(firstDocument(opened), treePath)) {
    if (options.idempotent) return 0;
    throw new TreePathError(`${formatTreePath(treePath)} not found in ${file}`, 'pass --idempotent to succeed when it is already absent');
  }
  await writeResealed(file, opened, options);
  return 0;
}

/** The metadata is not part of the documents; a value set there would be dropped or clash. */
function checkPath(text: string): PathComponent[] {
  const path = parseTreePath(text);
  if (path[0] === 'sops') throw new TreePathError('the top-level key "sops" is reserved for the metadata', 'wax manages sops.* itself; use `wax rotate` or `wax updatekeys` for keys');
  return path;
}

function readValueText(value: string | undefined, options: SetOptions): string {
  if (options.valueStdin && options.valueFile) throw new ConflictingParametersError('--value-stdin and --value-file cannot be used together');
  if (options.valueStdin) {
    if (value !== undefined) throw new UsageError('with --value-stdin, leave out VALUE');
    return readStdin().toString('utf8');
  }
  if (value === undefined) throw new UsageError('set needs a VALUE (JSON)', 'pass it as the third argument, or use --value-stdin or --value-file');
  return options.valueFile ? readInputFile(value).toString('utf8') : value;
}

const VALUE_HINT = `VALUE is JSON: strings need quotes ('"s3cret"'); numbers, true, false, null, objects and arrays as they are`;

/**
 * JSON.parse decides validity (its messages quote the input, so they are never shown);
 * the JSON store then builds the tree, so types match a JSON file's exactly: integers
 * that fit int64 become ints (bigint, no precision lost), `1.0` stays a float.
 */
function parseValue(text: string): TreeValue {
  try {
    JSON.parse(text);
    return parseJsonDocument(Buffer.from(`{"value":${text}\n}`, 'utf8')).get('value')!;
  } catch {
    // The store's positions would point into the wrapper, so one message covers both parsers.
    throw new WaxError('the value is not valid JSON (or has duplicate keys)', ExitCode.InvalidSetFormat, VALUE_HINT);
  }
}

function firstDocument(opened: OpenedFile): TreeBranch {
  if (opened.documents.length === 0) opened.documents.push(new TreeBranch());
  return opened.documents[0];
}

/** Compared as plain data, so comments and int-versus-float spelling do not count. */
function hasValue(document: TreeBranch, path: PathComponent[], value: TreeValue): boolean {
  try {
    return isDeepStrictEqual(toPlain(getAtPath(document, path)), toPlain(value));
  } catch (error) {
    if (error instanceof TreePathError) return false;
    throw error;
  }
}

async function writeResealed(file: string, opened: OpenedFile, options: OpenFlags): Promise<void> {
  const format = outputFormat(file, options);
  const output = await resealBytes(opened, opened.documents, { outputFormat: format, emit: emitOptions(format, options.indent, configForEmit(options)) });
  writeFileAtomic(file, output);
}
