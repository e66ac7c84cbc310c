/**
 * `wax edit`: decrypt into a private temporary file, let the user's editor change it,
 * and seal the result again. An existing file keeps its data key (the IV stash keeps
 * unchanged values byte-identical); a missing file starts from an example and gets a
 * new data key for the keys that `wax encrypt` would use.
 *
 * Choices where sops leaves room:
 * - An unchanged example is not written: exit 200 and no file, which is what sops does
 *   (its `editExample` goes through the same unchanged-hash check as an existing file).
 * - The temporary file holds the input format; `--output-type` only changes the format
 *   of the file written back (sops writes the temp file with the output store but parses
 *   it with the input store, which fails for most pairs).
 * - A non-zero editor exit (vim's `:cq`) abandons the edit with exit 201, as sops does.
 * - A file that another program changed during the session is not overwritten (sops
 *   overwrites it): exit 213, and the edit is kept, encrypted, in a file beside it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { encryptTree, resealBytes } from '../../src/sops-file.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { storeFor } from '../../src/document/stores/index.js';
import { serializeMetadata } from '../../src/document/metadata.js';
import { TreeBranch } from '../../src/document/tree.js';
import type { Format } from '../../src/document/stores/types.js';
import { isDirectory, readInputFile, replaceIfUnchanged, writeFileAtomic } from '../../src/files.js';
import { ConcurrentModificationError, ExitCode, InvalidDocumentError, NoEditorError, NotModifiedError, WaxError, WriteError } from '../../src/errors.js';
import { configForEmit, emitOptions, type EncryptFlags, encryptSettings, inputFormat, loadSopsConfig, openEncrypted, type OpenFlags, outputFormat, providerContext } from '../common.js';
import { PrivateScope, type ChildResult } from './exec.js';

export interface EditOptions extends EncryptFlags, OpenFlags {}

/** The plaintext to edit and how to seal the edited documents. */
interface EditSession {
  plaintext: Buffer;
  seal(documents: TreeBranch[]): Promise<Buffer>;
  /** The error for an editor that saved nothing new. */
  unchanged: WaxError;
}

export async function editCommand(file: string, options: EditOptions): Promise<number> {
  const format = inputFormat(file, options);
  // Before any decryption: without an editor there is nothing to do.
  const editor = findEditor(process.env);
  const original = existsSync(file) ? readInputFile(file) : undefined;
  const session = original ? await existingFile(file, original, format, options) : await newFile(file, format, options);
  const scope = new PrivateScope();
  try {
    const documents = await editUntilValid(scope, { file, format, editor, session });
    await saveEdit(file, original, await session.seal(documents));
    return 0;
  } finally {
    scope.close();
    session.plaintext.fill(0);
  }
}

/**
 * The lock is not held during the editor session, which may last an hour; instead the
 * file is replaced only if it still holds what was decrypted (absent for a new file).
 * If another program (another `wax set`, git, a second `wax edit`) changed it meanwhile,
 * the edit is not lost: it is kept, encrypted, in a file of its own beside the original.
 */
async function saveEdit(file: string, original: Buffer | undefined, sealed: Buffer): Promise<void> {
  try {
    await replaceIfUnchanged(file, original, sealed);
  } catch (error) {
    if (!(error instanceof ConcurrentModificationError)) throw error;
    const aside = conflictPath(file);
    writeFileAtomic(aside, sealed, { mode: 0o600 });
    throw new ConcurrentModificationError(
      `${error.message}; your edit was saved, encrypted, as ${aside}`,
      `compare with \`wax decrypt ${aside}\`, carry your change over with \`wax edit ${file}\`, then delete ${aside}`,
    );
  }
}

/** `secret.yaml` → `secret.conflict-1a2b3c.yaml`: the extension stays, so the format does too. */
function conflictPath(file: string): string {
  const name = basename(file);
  const ext = extname(name) || (name.startsWith('.') ? name : '');
  const stem = name.slice(0, name.length - ext.length);
  return join(dirname(file), `${stem}${stem ? '.' : ''}conflict-${randomBytes(3).toString('hex')}${ext}`);
}

async function existingFile(file: string, input: Buffer, format: Format, options: EditOptions): Promise<EditSession> {
  const opened = await openEncrypted(file, options, input);
  const config = configForEmit(options);
  const output = outputFormat(file, options);
  return {
    plaintext: storeFor(format).emitPlain(opened.documents, emitOptions(format, options.indent, config)),
    seal: (documents) => resealBytes(opened, documents, { outputFormat: output, emit: emitOptions(output, options.indent, config) }),
    unchanged: new NotModifiedError(file),
  };
}

/** Keys are resolved before the editor opens, so a missing key never costs the user an edit. */
async function newFile(file: string, format: Format, options: EditOptions): Promise<EditSession> {
  if (!isDirectory(dirname(file))) throw new WriteError(`cannot create ${file}: ${dirname(file)} is not a directory`);
  const config = loadSopsConfig(options);
  const settings = await encryptSettings(file, options, config);
  const keyGroups = await resolveKeyGroups(settings.keyGroups, providerContext());
  const output = outputFormat(file, options);
  const emit = emitOptions(output, options.indent, config);
  return {
    plaintext: Buffer.from(EXAMPLES[format], 'utf8'),
    async seal(documents) {
      const sealed = await encryptTree(documents, { format, path: file, keyGroups, shamirThreshold: settings.shamirThreshold, rule: settings.rule, macOnlyEncrypted: settings.macOnlyEncrypted });
      return storeFor(output).emitEncrypted(sealed.documents, serializeMetadata(sealed.metadata), emit);
    },
    unchanged: new WaxError(`${file}: the example was not changed, so nothing was created`, ExitCode.FileHasNotBeenModified, 'edit the example before saving'),
  };
}

/**
 * Runs the editor until the file parses. On a terminal a parse error offers another
 * round; otherwise it is final and the original file stays untouched.
 */
async function editUntilValid(scope: PrivateScope, { file, format, editor, session }: { file: string; format: Format; editor: string; session: EditSession }): Promise<TreeBranch[]> {
  // The original base name lets editors pick syntax highlighting by extension.
  const tempPath = join(scope.makeDir(), basename(file));
  writeFileSync(tempPath, session.plaintext, { mode: 0o600, flag: 'wx' });
  const before = sha256(session.plaintext);
  for (;;) {
    checkEditorResult(await scope.run(`exec ${editor} "$1"`, [tempPath], process.env), file);
    const edited = readFileSync(tempPath);
    if (sha256(edited).equals(before)) throw session.unchanged;
    try {
      return parseEdited(edited, format);
    } catch (error) {
      if (!(error instanceof WaxError) || !process.stdin.isTTY || !(await askToRetry(error))) throw error;
    } finally {
      edited.fill(0);
    }
  }
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function parseEdited(edited: Buffer, format: Format): TreeBranch[] {
  const store = storeFor(format);
  const documents = store.loadPlain(edited);
  if (store.hasMetadata(documents)) {
    const key = format === 'dotenv' ? 'keys starting with "sops_"' : 'a top-level "sops" key';
    throw new InvalidDocumentError(`the edited file has ${key}, reserved for the metadata`, 'rename or remove that key');
  }
  // An emptied file is one empty document; zero documents would have nowhere to keep the metadata.
  return documents.length > 0 ? documents : [new TreeBranch()];
}

/** Shows the one-line reason and waits; Enter = edit again, end of input = give up (Ctrl-C is a signal). */
function askToRetry(error: WaxError): Promise<boolean> {
  process.stderr.write(`wax: error: ${error.message}\nwax: press Enter to edit again, or Ctrl-C to abandon `);
  return new Promise((resolve) => {
    // terminal: false keeps the tty in cooked mode, so Ctrl-C stays a real SIGINT.
    const reader = createInterface({ input: process.stdin, terminal: false });
    reader.once('line', () => {
      resolve(true);
      reader.close();
    });
    reader.once('close', () => resolve(false));
  });
}

function checkEditorResult(result: ChildResult, file: string): void {
  if (result.code === 0) return;
  if (result.code === 127) throw new NoEditorError('the editor could not be started (command not found)');
  if (result.signal === 'SIGINT') throw new WaxError(`the editor was interrupted; ${file} was not changed`, ExitCode.KeyboardInterrupt);
  const how = result.signal ? `was stopped by ${result.signal}` : `exited with status ${result.code}`;
  throw new WaxError(`the editor ${how}; ${file} was not changed`, ExitCode.NoEditorFound);
}

/**
 * $SOPS_EDITOR, then $EDITOR (either may carry arguments, `code --wait`: the shell
 * splits them), then the first of vim, nano, vi on PATH.
 */
export function findEditor(env: NodeJS.ProcessEnv): string {
  for (const configured of [env.SOPS_EDITOR, env.EDITOR]) if (configured?.trim()) return configured;
  for (const name of ['vim', 'nano', 'vi']) {
    const path = findOnPath(name, env.PATH ?? '');
    if (path) return `'${path.replace(/'/g, `'\\''`)}'`;
  }
  throw new NoEditorError('no editor found: $SOPS_EDITOR and $EDITOR are unset and none of vim, nano, vi is on PATH');
}

function findOnPath(name: string, pathList: string): string | undefined {
  for (const dir of pathList.split(':').filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!isDirectory(candidate)) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** What a new file starts as (sops' example, per format); each parses with its own store. */
const EXAMPLES: Record<Format, string> = {
  yaml: `hello: Welcome to wax! Edit this file as you please!
example_key: example_value
# Example comment
example_array:
    - example_value1
    - example_value2
example_number: 1234.56789
example_booleans:
    - true
    - false
`,
  json: `{
\t"hello": "Welcome to wax! Edit this file as you please!",
\t"example_key": "example_value",
\t"example_array": [
\t\t"example_value1",
\t\t"example_value2"
\t],
\t"example_number": 1234.56789,
\t"example_booleans": [
\t\ttrue,
\t\tfalse
\t]
}
`,
  dotenv: `hello=Welcome to wax! Edit this file as you please!
example_key=example_value
`,
  ini: `[Welcome!]
hello = Welcome to wax! Edit this file as you please!
example_key = example_value
`,
  binary: 'Welcome to wax! Edit this file as you please!\n',
};
