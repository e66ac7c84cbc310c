/**
 * `wax set` and `wax unset`: change one value of an encrypted file without an editor.
 * The file is sealed again with its own data key and the cipher's IV stash, so every
 * unchanged value keeps its exact `ENC[...]` string and the diff is the changed line
 * plus `sops.mac` and `sops.lastmodified`.
 */
import { isDeepStrictEqual } from 'node:util';
import { resealBytes, type OpenedFile } from '../../src/sops-file.js';
import { parseJsonDocument } from '../../src/document/stores/json.js';
import { formatTreePath, getAtPath, parseTreePath, setAtPath, unsetAtPath, type PathComponent } from '../../src/document/tree-path.js';
import { toPlain, TreeBranch, type TreeValue } from '../../src/document/tree.js';
import { readInputFile, updateFile } from '../../src/files.js';
import { ConflictingParametersError, ExitCode, TreePathError, UsageError, WaxError } from '../../src/errors.js';
import { configForEmit, emitOptions, inputFormat, isAlreadyEncrypted, openEncrypted, outputFormat, type OpenFlags } from '../common.js';
export type { OpenFlags };
import { expandPaths, runBulk } from '../bulk.js';
import { readStdin } from '../io.js';
import { warn } from '../output.js';
import { compileSelector } from '../../src/document/rules.js';

export interface SetOptions extends OpenFlags {
  valueStdin?: boolean;
  valueFile?: boolean;
  idempotent?: boolean;
  recursive?: boolean;
  jobs: string;
}

/**
 * `wax set FILE... PATH VALUE` (or `FILE... PATH` with --value-stdin): the same value in
 * one file or in many, directories with -r.
 */
export async function setCommand(args: string[], options: SetOptions): Promise<number> {
  const trailing = options.valueStdin ? 1 : 2;
  if (args.length < trailing + 1) throw new UsageError(options.valueStdin ? 'set needs FILE and PATH' : 'set needs FILE, PATH and VALUE (JSON)', 'see `wax set --help`');
  const files = args.slice(0, -trailing);
  const [path, value] = args.slice(-trailing);
  if (options.valueStdin && args.length >= 3 && !looksLikePath(path) && looksLikePath(args[args.length - 2])) {
    throw new UsageError('with --value-stdin, leave out VALUE', 'the value is read from standard input');
  }
  const treePath = checkPath(path);
  const newValue = parseValue(readValueText(value, options));
  return eachFile(files, options, 'updated', async (file, opened) => {
    const document = firstDocument(opened);
    if (options.idempotent && hasValue(document, treePath, newValue)) return false;
    setAtPath(document, treePath, newValue);
    await warnIfStoredInClear(file, opened, treePath, newValue);
    return true;
  });
}

/**
 * The file's own selection rule decides what is encrypted, as in sops, so a value set
 * outside it (a top-level key of an EncryptedSecret, a key ending in `_unencrypted`) is
 * written in clear. That is what the rule says, but rarely what a person setting a
 * secret means: say so, naming the path only.
 */
async function warnIfStoredInClear(file: string, opened: OpenedFile, path: PathComponent[], value: TreeValue): Promise<void> {
  const rule = opened.metadata.rule;
  if (rule.kind.endsWith('comment_regex')) return; // decided by comments around the value, not by its path
  const keys = path.filter((c): c is string => typeof c === 'string');
  const selector = await compileSelector(rule);
  // A mapping may hold deeper keys that an encrypted_* rule selects; only a certain case is reported.
  const certain = !(value instanceof TreeBranch || Array.isArray(value)) || rule.kind.startsWith('unencrypted');
  if (certain && !selector.shouldEncrypt(keys, [], false)) {
    warn(`${file}: ${formatTreePath(path)} is stored in clear: the file's ${rule.kind} (${JSON.stringify(rule.value)}) does not select it for encryption`);
  }
}

/** `wax unset FILE... PATH`. */
export async function unsetCommand(args: string[], options: SetOptions): Promise<number> {
  if (args.length < 2) throw new UsageError('unset needs FILE and PATH', 'see `wax unset --help`');
  const treePath = checkPath(args[args.length - 1]);
  return eachFile(args.slice(0, -1), options, 'updated', async (file, opened) => {
    if (!unsetAtPath(firstDocument(opened), treePath)) {
      if (options.idempotent) return false;
      throw new TreePathError(`${formatTreePath(treePath)} not found in ${file}`, 'pass --idempotent to succeed when it is already absent');
    }
    return true;
  });
}

/** Changes the opened documents in place; false: nothing to write. */
type Change = (file: string, opened: OpenedFile) => Promise<boolean>;

/** One file: errors propagate with their own exit code. Several (or -r): a bulk run. */
async function eachFile(files: string[], options: SetOptions, verb: string, change: Change): Promise<number> {
  const paths = expandPaths(files, Boolean(options.recursive));
  if (paths.length === 1 && !options.recursive) {
    await changeFile(paths[0], options, change);
    return 0;
  }
  return runBulk(
    paths,
    async (file) => {
      if (!isAlreadyEncrypted(readInputFile(file), inputFormat(file, options))) return { status: 'skipped' };
      return { status: (await changeFile(file, options, change)) ? 'done' : 'skipped' };
    },
    { verb, jobs: Number(options.jobs) },
  );
}

/**
 * Read, change and write back under the file's lock, so that two `wax set` on one file
 * apply one after the other instead of the second overwriting the first.
 */
function changeFile(file: string, options: OpenFlags, change: Change): Promise<boolean> {
  return updateFile(file, async (input) => {
    const opened = await openEncrypted(file, options, input);
    if (!(await change(file, opened))) return undefined;
    return resealed(file, opened, options);
  });
}

function looksLikePath(text: string): boolean {
  try {
    parseTreePath(text);
    return true;
  } catch {
    return false;
  }
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

function resealed(file: string, opened: OpenedFile, options: OpenFlags): Promise<Buffer> {
  const format = outputFormat(file, options);
  return resealBytes(opened, opened.documents, { outputFormat: format, emit: emitOptions(format, options.indent, configForEmit(options)) });
}
