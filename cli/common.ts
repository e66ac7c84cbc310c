/**
 * What several commands share: formats from extensions or flags, master keys from flags,
 * environment or `.sops.yaml`, selection rules, indentation, and reading input.
 */
import { ConfigError, NoEncryptionKeyError, UsageError } from '../src/errors.js';
import { findConfigFile, loadConfig, matchCreationRule, type CreationRule, type SopsConfig } from '../src/config.js';
import { formatFromPath, storeFor } from '../src/document/stores/index.js';
import { readInputFile, updateFile } from '../src/files.js';
import { openBytes, type OpenedFile } from '../src/sops-file.js';
import { parseDecryptionOrder } from '../src/crypto/envelope.js';
import { expandPaths, runBulk } from './bulk.js';
import { checkOutputFlags, placeOutput, type OutputFlags } from './io.js';
import type { EmitOptions, Format } from '../src/document/stores/types.js';
import { pickRule, type SelectionRule } from '../src/document/rules.js';
import type { KeyType } from '../src/document/metadata.js';
import type { KeySpec, ProviderContext } from '../src/providers/index.js';

export const FORMATS: Format[] = ['yaml', 'json', 'dotenv', 'ini', 'binary'];

export function parseFormat(value: string | undefined, flag: string): Format | undefined {
  if (value === undefined) return undefined;
  if (!FORMATS.includes(value as Format)) throw new UsageError(`${flag} must be one of ${FORMATS.join(', ')}`);
  return value as Format;
}

export interface FormatOptions {
  inputType?: string;
  outputType?: string;
  filenameOverride?: string;
}

export function inputFormat(path: string, options: FormatOptions): Format {
  return parseFormat(options.inputType, '--input-type') ?? formatFromPath(options.filenameOverride ?? path);
}

export function outputFormat(path: string, options: FormatOptions): Format {
  return parseFormat(options.outputType, '--output-type') ?? inputFormat(path, options);
}

export function providerContext(): ProviderContext {
  return { env: process.env };
}

/** Key flags, each repeatable and comma-separated, as sops has them. */
export interface KeyFlags {
  age?: string[];
  pgp?: string[];
  kms?: string[];
  azureKv?: string[];
  gcpKms?: string[];
  hcVaultTransit?: string[];
  awsProfile?: string;
  encryptionContext?: string;
}

const FLAG_TYPES: [keyof KeyFlags, KeyType, string][] = [
  ['age', 'age', 'SOPS_AGE_RECIPIENTS'],
  ['pgp', 'pgp', 'SOPS_PGP_FP'],
  ['kms', 'kms', 'SOPS_KMS_ARN'],
  ['azureKv', 'azure_kv', 'SOPS_AZURE_KEYVAULT_URLS'],
  ['gcpKms', 'gcp_kms', 'SOPS_GCP_KMS_IDS'],
  ['hcVaultTransit', 'hc_vault', 'SOPS_VAULT_URIS'],
];

export function splitCommaList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** Keys named by flags, else by the SOPS_* variables; empty when neither names any. */
export function keysFromFlags(flags: KeyFlags, env: NodeJS.ProcessEnv): KeySpec[] {
  const fromFlags = FLAG_TYPES.flatMap(([flag, type]) => splitCommaList(flags[flag] as string[] | undefined).map((value) => ({ type, value })));
  const specs = fromFlags.length > 0 ? fromFlags : FLAG_TYPES.flatMap(([, type, variable]) => splitCommaList(env[variable] ? [env[variable]!] : []).map((value) => ({ type, value })));
  return specs.map((spec) => (spec.type === 'kms' && (flags.awsProfile || flags.encryptionContext) ? { type: spec.type, value: kmsObject(spec.value, flags) } : spec));
}

function kmsObject(arn: string, flags: KeyFlags): Record<string, unknown> {
  const out: Record<string, unknown> = { arn };
  if (flags.awsProfile) out.aws_profile = flags.awsProfile;
  if (flags.encryptionContext) out.context = parseEncryptionContext(flags.encryptionContext);
  return out;
}

export function parseEncryptionContext(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const colon = pair.indexOf(':');
    if (colon <= 0) throw new UsageError('--encryption-context takes key:value pairs separated by commas');
    out[pair.slice(0, colon)] = pair.slice(colon + 1);
  }
  return out;
}

export interface RuleFlags {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: string;
  encryptedRegex?: string;
  unencryptedCommentRegex?: string;
  encryptedCommentRegex?: string;
}

export function ruleFromFlags(flags: RuleFlags): SelectionRule | undefined {
  return pickRule({
    unencrypted_suffix: flags.unencryptedSuffix,
    encrypted_suffix: flags.encryptedSuffix,
    unencrypted_regex: flags.unencryptedRegex,
    encrypted_regex: flags.encryptedRegex,
    unencrypted_comment_regex: flags.unencryptedCommentRegex,
    encrypted_comment_regex: flags.encryptedCommentRegex,
  });
}

export interface ConfigFlags {
  config?: string;
}

/** The `.sops.yaml` in force: --config, SOPS_CONFIG, or the nearest one upwards. */
export function loadSopsConfig(flags: ConfigFlags): SopsConfig | undefined {
  const path = findConfigFile(process.cwd(), flags.config ?? process.env.SOPS_CONFIG);
  if (!path) return undefined;
  // A bulk run asks for every file; the file does not change during one command.
  let config = loadedConfigs.get(path);
  if (!config) {
    config = loadConfig(path);
    loadedConfigs.set(path, config);
  }
  return config;
}

const loadedConfigs = new Map<string, SopsConfig>();

/** What every command that opens an encrypted file accepts. */
export interface OpenFlags extends FormatOptions, ConfigFlags {
  ignoreMac?: boolean;
  decryptionOrder?: string;
  indent?: string;
}

/** Decrypts and verifies `path` (MAC unless --ignore-mac); reads it unless `input` is given. */
export function openEncrypted(path: string, options: OpenFlags, input: Buffer = readInputFile(path)): Promise<OpenedFile> {
  return openBytes(input, {
    format: inputFormat(path, options),
    path,
    ctx: providerContext(),
    ignoreMac: options.ignoreMac,
    decryptionOrder: options.decryptionOrder ? parseDecryptionOrder(options.decryptionOrder) : undefined,
  });
}

/** The .sops.yaml for output indentation only; a broken one must not stop a command that does not need it. */
export function configForEmit(options: OpenFlags): SopsConfig | undefined {
  if (options.indent !== undefined) return undefined;
  try {
    return loadSopsConfig(options);
  } catch {
    return undefined;
  }
}

export interface EncryptSettings {
  keyGroups: KeySpec[][];
  shamirThreshold: number;
  rule?: SelectionRule;
  macOnlyEncrypted: boolean;
  creationRule?: CreationRule;
}

export interface EncryptFlags extends KeyFlags, RuleFlags, ConfigFlags {
  macOnlyEncrypted?: boolean;
  shamirSecretSharingThreshold?: string;
}

/**
 * Flags first, then SOPS_* variables, then the matching creation rule, as sops decides.
 * The creation rule still supplies the selection rule and mac_only_encrypted when the
 * keys come from flags.
 */
export async function encryptSettings(path: string, flags: EncryptFlags, config: SopsConfig | undefined): Promise<EncryptSettings> {
  const flagKeys = keysFromFlags(flags, process.env);
  let creationRule: CreationRule | undefined;
  if (config) {
    try {
      creationRule = await matchCreationRule(config, path);
    } catch (error) {
      if (!(error instanceof ConfigError) || flagKeys.length === 0) throw error;
    }
  }
  const keyGroups = flagKeys.length > 0 ? [flagKeys] : (creationRule?.keyGroups ?? []);
  if (keyGroups.every((group) => group.length === 0)) throw new NoEncryptionKeyError();
  const threshold = flags.shamirSecretSharingThreshold !== undefined ? parseThreshold(flags.shamirSecretSharingThreshold) : (creationRule?.shamirThreshold ?? 0);
  return {
    keyGroups,
    shamirThreshold: threshold,
    rule: ruleFromFlags(flags) ?? creationRule?.rule,
    macOnlyEncrypted: Boolean(flags.macOnlyEncrypted) || Boolean(creationRule?.macOnlyEncrypted),
    creationRule,
  };
}

function parseThreshold(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new UsageError('--shamir-secret-sharing-threshold must be a whole number from 2 to 255');
  return n;
}

export function emitOptions(format: Format, indentFlag: string | undefined, config: SopsConfig | undefined): EmitOptions {
  if (indentFlag !== undefined) {
    const indent = Number(indentFlag);
    if (!Number.isInteger(indent) || indent < 0 || indent > 16) throw new UsageError('--indent must be a whole number from 0 to 16');
    return { indent };
  }
  const stores = config?.stores;
  if (format === 'yaml' && stores?.yaml?.indent !== undefined) return { indent: stores.yaml.indent };
  if (format === 'json' && stores?.json?.indent !== undefined) return { indent: stores.json.indent };
  if (format === 'binary' && stores?.json_binary?.indent !== undefined) return { indent: stores.json_binary.indent };
  return {};
}

export function requireFiles(files: string[], command: string): void {
  if (files.length === 0) throw new UsageError(`${command} needs a file`, `see \`wax ${command} --help\``);
}

/** True when the input already carries sops metadata. */
export function isAlreadyEncrypted(input: Buffer, format: Format): boolean {
  const store = storeFor(format);
  return store.hasMetadata(store.loadPlain(input));
}

export interface TransformOptions extends OutputFlags, FormatOptions {
  recursive?: boolean;
  jobs: string;
}

/**
 * The shape of decrypt and rotate: one file to stdout, --output or -i; several files (or
 * -r) in place, skipping files that are not encrypted. In place, each file is changed
 * under its lock (updateFile), so a concurrent wax process never loses its update.
 */
export async function transformEncryptedFiles(
  files: string[],
  options: TransformOptions,
  command: string,
  verb: string,
  transform: (path: string, input: Buffer) => Promise<Buffer>,
  mode?: number,
): Promise<number> {
  checkOutputFlags(files, options, command);
  const paths = expandPaths(files, Boolean(options.recursive));
  if (paths.length === 1 && !options.recursive) {
    const path = paths[0];
    if (options.inPlace) await updateFile(path, (input) => transform(path, input), { mode });
    else placeOutput(path, await transform(path, readInputFile(path)), options, mode);
    return 0;
  }
  return runBulk(
    paths,
    async (path) => {
      // Decided without the lock: a walk must not create lock files next to plaintext files it skips.
      if (!isAlreadyEncrypted(readInputFile(path), inputFormat(path, options))) return { status: 'skipped' };
      await updateFile(path, (input) => transform(path, input), { mode });
      return { status: 'done' };
    },
    { verb, jobs: Number(options.jobs) },
  );
}
