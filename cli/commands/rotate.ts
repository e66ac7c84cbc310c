import { rotateOpened } from '../../src/sops-file.js';
import { loadProvider, recipientsFromEntries, resolveRecipient, sameKey, type MasterKeyRecipient } from '../../src/providers/index.js';
import { UsageError } from '../../src/errors.js';
import type { KeyType } from '../../src/document/metadata.js';
import { configForEmit, emitOptions, type OpenFlags, type TransformOptions, inputFormat, openEncrypted, providerContext, splitCommaList, transformEncryptedFiles } from '../common.js';

export interface RotateOptions extends OpenFlags, TransformOptions {
  addAge?: string[];
  rmAge?: string[];
  addPgp?: string[];
  rmPgp?: string[];
  addKms?: string[];
  rmKms?: string[];
  addAzureKv?: string[];
  rmAzureKv?: string[];
}

const CHANGES: [KeyType, keyof RotateOptions, keyof RotateOptions][] = [
  ['age', 'addAge', 'rmAge'],
  ['pgp', 'addPgp', 'rmPgp'],
  ['kms', 'addKms', 'rmKms'],
  ['azure_kv', 'addAzureKv', 'rmAzureKv'],
];

export async function rotateCommand(files: string[], options: RotateOptions): Promise<number> {
  if (files.length === 0) throw new UsageError('rotate needs a file', 'see `wax rotate --help`');
  return transformEncryptedFiles(files, options, 'rotate', 'rotated', (path, input) => rotateOne(path, input, options));
}

async function rotateOne(path: string, input: Buffer, options: RotateOptions): Promise<Buffer> {
  const ctx = providerContext();
  const format = inputFormat(path, options);
  const opened = await openEncrypted(path, options, input);
  const groups = await recipientsFromEntries(opened.metadata.keyGroups, ctx);
  await applyKeyChanges(groups, options);
  return rotateOpened(opened, groups, { emit: emitOptions(format, options.indent, configForEmit(options)) });
}

/** --add-* keys join the first group (as sops does); --rm-* keys leave every group. */
async function applyKeyChanges(groups: MasterKeyRecipient[][], options: RotateOptions): Promise<void> {
  const ctx = providerContext();
  for (const [type, addFlag, rmFlag] of CHANGES) {
    const removed = splitCommaList(options[rmFlag] as string[] | undefined);
    if (removed.length) {
      const provider = await loadProvider(type);
      const removers = removed.map((text) => provider.parseRecipient(text, ctx));
      for (let g = 0; g < groups.length; g++) groups[g] = groups[g].filter((r) => !(r.type === type && removers.some((x) => sameKey(x, r.id))));
    }
    for (const text of splitCommaList(options[addFlag] as string[] | undefined)) {
      const recipient = await resolveRecipient({ type, value: text }, ctx);
      if (!groups[0].some((r) => r.type === type && sameKey(recipient, r.id))) groups[0].push(recipient);
    }
  }
  if (groups.every((g) => g.length === 0)) throw new UsageError('rotate would remove every master key', 'add a key with --add-age (or another --add-* flag) in the same command');
}
