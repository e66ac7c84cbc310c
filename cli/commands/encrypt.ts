import { encryptBytes } from '../../src/sops-file.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { readInputFile, updateFile } from '../../src/files.js';
import { AlreadyEncryptedError, ConfigError, UsageError } from '../../src/errors.js';
import { matchCreationRule } from '../../src/config.js';
import { expandPaths, runBulk, type FileOutcome } from '../bulk.js';
import { emitOptions, encryptSettings, inputFormat, loadSopsConfig, outputFormat, providerContext, type EncryptFlags, type FormatOptions } from '../common.js';
import { checkOutputFlags, placeOutput, readInput, type OutputFlags } from '../io.js';

export interface EncryptCommandOptions extends EncryptFlags, FormatOptions, OutputFlags {
  recursive?: boolean;
  jobs: string;
  indent?: string;
}

export async function encryptCommand(files: string[], options: EncryptCommandOptions): Promise<number> {
  checkOutputFlags(files, options, 'encrypt');
  if (files.length === 0 || files[0] === '-') {
    if (!options.filenameOverride && !options.inputType) throw new UsageError('encrypting standard input needs --filename-override or --input-type');
    const data = await encryptOne(options.filenameOverride ?? 'stdin', readInput(undefined), options);
    placeOutput(undefined, data, options);
    return 0;
  }
  const paths = expandPaths(files, Boolean(options.recursive));
  if (paths.length === 1 && !options.recursive) {
    const [path] = paths;
    const name = options.filenameOverride ?? path;
    if (options.inPlace) await updateFile(path, (input) => encryptOne(name, input, options));
    else placeOutput(path, await encryptOne(name, readInputFile(path), options), options);
    return 0;
  }
  const named = new Set(files);
  return runBulk(paths, (path) => encryptInPlace(path, options, named), { verb: 'encrypted', jobs: Number(options.jobs) });
}

async function encryptOne(path: string, input: Buffer, options: EncryptCommandOptions): Promise<Buffer> {
  const config = loadSopsConfig(options);
  const settings = await encryptSettings(path, options, config);
  const ctx = providerContext();
  const format = inputFormat(path, options);
  return encryptBytes(input, {
    format,
    path,
    keyGroups: await resolveKeyGroups(settings.keyGroups, ctx),
    shamirThreshold: settings.shamirThreshold,
    rule: settings.rule,
    macOnlyEncrypted: settings.macOnlyEncrypted,
    emit: emitOptions(outputFormat(path, options), options.indent, config),
  });
}

/**
 * In a bulk run, files already encrypted are skipped rather than failed; with -r, so are
 * files no creation rule covers and files that are not YAML, JSON, dotenv or INI (a
 * directory walk must never encrypt a README by accident).
 */
async function encryptInPlace(path: string, options: EncryptCommandOptions, named: Set<string>): Promise<FileOutcome> {
  if (!named.has(path)) {
    if (inputFormat(path, options) === 'binary') return { status: 'skipped' };
    const config = loadSopsConfig(options);
    if (config && !(await hasCreationRule(config, path))) return { status: 'skipped' };
  }
  try {
    // Under the file's lock: the plaintext read is the plaintext replaced, or nothing is written.
    await updateFile(path, (input) => encryptOne(path, input, options));
  } catch (error) {
    // encryptBytes already parses the file and knows; asking beforehand parsed it twice.
    if (error instanceof AlreadyEncryptedError) return { status: 'skipped', note: 'already encrypted, skipped' };
    throw error;
  }
  return { status: 'done' };
}

async function hasCreationRule(config: NonNullable<ReturnType<typeof loadSopsConfig>>, path: string): Promise<boolean> {
  try {
    await matchCreationRule(config, path);
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}
