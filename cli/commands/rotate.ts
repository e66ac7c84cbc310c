import { openBytes, rotateOpened } from '../../src/sops-file.js';
import { loadProvider, recipientsFromEntries, resolveRecipient, sameKey, type MasterKeyRecipient } from '../../src/providers/index.js';
import { parseDecryptionOrder } from '../../src/crypto/envelope.js';
import { UsageError } from '../../src/errors.js';
import type { KeyType } from '../../src/document/metadata.js';
import { emitOptions, inputFormat, loadSopsConfig, providerContext, splitCommaList, transformEncryptedFiles, type FormatOptions } from '../common.js';
import type { OutputFlags } from '../io.js';

export interface RotateOptions extends FormatOptions, OutputFlags {
  addAge?: string[];
  rmAge?: string[];
  addPgp?: string[];
  rmPgp?: string[];
  addKms?: string[];
  rmKms?: string[];
  addAzureKv?: string[];
  rmAzureKv?: string[];
  ignoreMac?: boolean;
  decryptionOrder?: string;
  recursive?: boolean;
  jobs: string;
  indent?: string;
  config?: string;
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
  const opened = await openBytes(input, {
    format,
    path,
    ctx,
    ignoreMac: options.ignoreMac,
    decryptionOrder: options.decryptionOrder ? parseDecryptionOrder(options.decryptionOrder) : undefined,
  });
  const groups = await recipientsFromEntries(opened.metadata.keyGroups, ctx);
  await applyKeyChanges(groups, options);
  return rotateOpened(opened, groups, { emit: emitOptions(format, options.indent, loadSopsConfig(options)) });
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
