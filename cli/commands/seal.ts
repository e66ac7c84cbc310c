import { sealSecret, type ScopeKind } from '../../src/encrypted-secret.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { readInputFile } from '../../src/files.js';
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
  const format = formatFromPath(file) === 'json' ? 'json' : 'yaml';
  const manifest = readManifest(readInputFile(file), format);
  const config = loadSopsConfig(options);
  // The keys come from flags, SOPS_* or the creation rule as for `wax encrypt`; the
  // selection rule does not: an EncryptedSecret always uses its own.
  const settings = await encryptSettings(file, options, config);
  const output = await sealSecret(manifest, {
    keyGroups: await resolveKeyGroups(settings.keyGroups, providerContext()),
    shamirThreshold: settings.shamirThreshold,
    scope: options.scope as ScopeKind,
    format,
    emit: emitOptions(format, options.indent, config),
  });
  placeOutput(file, output, options);
  return 0;
}

function readManifest(input: Buffer, format: 'yaml' | 'json'): unknown {
  const documents = storeFor(format).loadPlain(input);
  if (documents.length !== 1) throw new InvalidDocumentError(`the file holds ${documents.length} documents; wax seal takes one Secret`, 'put each Secret in its own file');
  return toPlain(documents[0]);
}
