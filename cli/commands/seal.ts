import { sealSecret, type ScopeKind } from '../../src/encrypted-secret.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { readInputFile, updateFile } from '../../src/files.js';
import { InvalidDocumentError, UsageError } from '../../src/errors.js';
import { formatFromPath, storeFor } from '../../src/document/stores/index.js';
import { toPlain } from '../../src/document/tree.js';
import { emitOptions, encryptSettings, loadSopsConfig, providerContext, type ConfigFlags, type KeyFlags } from '../common.js';
import { checkOutputFlags, placeOutput, type OutputFlags } from '../io.js';

export interface SealCommandOptions extends KeyFlags, ConfigFlags, OutputFlags {
  scope: string;
  shamirSecretSharingThreshold?: string;
  indent?: string;
}

const SCOPES: ScopeKind[] = ['strict', 'namespace', 'cluster'];

/** A plain Secret manifest (YAML or JSON) → an EncryptedSecret in the same format. */
export async function sealCommand(file: string, options: SealCommandOptions): Promise<number> {
  checkOutputFlags([file], options, 'seal');
  if (!SCOPES.includes(options.scope as ScopeKind)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}`);
  // In place under the file's lock: the manifest read is the manifest replaced.
  if (options.inPlace) await updateFile(file, (input) => sealBytes(file, input, options));
  else placeOutput(file, await sealBytes(file, readInputFile(file), options), options);
  return 0;
}

async function sealBytes(file: string, input: Buffer, options: SealCommandOptions): Promise<Buffer> {
  const format = formatFromPath(file) === 'json' ? 'json' : 'yaml';
  const manifest = readManifest(input, format);
  const config = loadSopsConfig(options);
  // The keys come from flags, SOPS_* or the creation rule as for `wax encrypt`; the
  // selection rule does not: an EncryptedSecret always uses its own.
  const settings = await encryptSettings(file, options, config);
  return sealSecret(manifest, {
    keyGroups: await resolveKeyGroups(settings.keyGroups, providerContext()),
    shamirThreshold: settings.shamirThreshold,
    scope: options.scope as ScopeKind,
    format,
    emit: emitOptions(format, options.indent, config),
  });
}

function readManifest(input: Buffer, format: 'yaml' | 'json'): unknown {
  const documents = storeFor(format).loadPlain(input);
  if (documents.length !== 1) throw new InvalidDocumentError(`the file holds ${documents.length} documents; wax seal takes one Secret`, 'put each Secret in its own file');
  return toPlain(documents[0]);
}
