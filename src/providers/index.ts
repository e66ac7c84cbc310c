/**
 * The provider registry: one line per key type. Providers load lazily, so a command
 * never parses a cloud SDK unless the file or the flags use that provider.
 */
import { KeyFormatError, WaxError } from '../errors.js';
import type { KeyType, MasterKeyEntry } from '../document/metadata.js';
import type { MasterKeyRecipient, Provider, ProviderContext } from './types.js';

const loaders: Partial<Record<KeyType, () => Promise<Provider>>> = {
  age: async () => (await import('./age.js')).ageProvider,
  pgp: async () => (await import('./pgp.js')).pgpProvider,
  kms: async () => (await import('./aws-kms.js')).awsKmsProvider,
  azure_kv: async () => (await import('./azure-keyvault.js')).azureKeyVaultProvider,
};

export class UnsupportedKeyTypeError extends WaxError {
  constructor(type: string) {
    super(`master keys of type ${type} are not supported by this version of wax`, 1, 'another key in the same group may still decrypt the file');
  }
}

const cache = new Map<KeyType, Promise<Provider>>();

export function loadProvider(type: KeyType): Promise<Provider> {
  const loader = loaders[type];
  if (!loader) return Promise.reject(new UnsupportedKeyTypeError(type));
  let provider = cache.get(type);
  if (!provider) {
    provider = loader();
    cache.set(type, provider);
  }
  return provider;
}

export function isSupportedKeyType(type: KeyType): boolean {
  return loaders[type] !== undefined;
}

export { sameKey } from './types.js';
export type { Provider, ProviderContext, MasterKeyRecipient } from './types.js';

/** A configured or command-line key, as text or as a key_groups object. */
export interface KeySpec {
  type: KeyType;
  value: string | Record<string, unknown>;
}

export async function resolveRecipient(spec: KeySpec, ctx: ProviderContext): Promise<MasterKeyRecipient> {
  const provider = await loadProvider(spec.type);
  if (typeof spec.value === 'string') return provider.parseRecipient(spec.value, ctx);
  if (!provider.recipientFromConfig) throw new KeyFormatError(`${spec.type} keys cannot be given as objects`, 'use the string form');
  return provider.recipientFromConfig(spec.value, ctx);
}

export function resolveKeyGroups(groups: KeySpec[][], ctx: ProviderContext): Promise<MasterKeyRecipient[][]> {
  return Promise.all(groups.map((group) => Promise.all(group.map((spec) => resolveRecipient(spec, ctx)))));
}

/** Recipients for the keys already in a file (rotate keeps them). */
export function recipientsFromEntries(groups: MasterKeyEntry[][], ctx: ProviderContext): Promise<MasterKeyRecipient[][]> {
  return Promise.all(groups.map((group) => Promise.all(group.map(async (entry) => (await loadProvider(entry.type)).recipientFromEntry(entry, ctx)))));
}
