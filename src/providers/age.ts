/**
 * age master keys (sops-format.md §9.1) through `age-encryption`, the TypeScript age by
 * age's author. Each sops entry is a complete armored age file with one recipient
 * stanza whose payload is the raw data key (or Shamir share).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { join } from 'node:path';
import type { Decrypter } from 'age-encryption';
import { KeyFormatError, WaxError } from '../errors.js';
import type { MasterKeyEntry } from '../document/metadata.js';
import type { MasterKeyRecipient, Provider, ProviderContext } from './types.js';
import { AgeFormatError, decodeArmor, decodeX25519Identity, decryptX25519, x25519Identity, type X25519Identity } from './age-x25519.js';

/** age-encryption is loaded only to encrypt, for post-quantum identities and for keygen. */
const loadAge = () => import('age-encryption');

const RECIPIENT = /^age1(pq1)?[02-9ac-hj-np-z]+$/;
const IDENTITY = /^AGE-SECRET-KEY-(PQ-)?1[02-9AC-HJ-NP-Z]+$/;

export class AgeKeyError extends WaxError {}

/** Where identities come from, in the order sops reads them. */
export interface IdentitySource {
  name: string;
  identities: string[];
}

export function parseAgeRecipients(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((r) => r.trim())
    .filter(Boolean);
}

function checkRecipient(text: string): string {
  if (!RECIPIENT.test(text)) {
    const shown = text.length > 20 ? `${text.slice(0, 12)}…` : text;
    throw new KeyFormatError(`invalid age recipient ${JSON.stringify(shown)}`, 'age recipients start with age1 (or age1pq1 for post-quantum keys)');
  }
  return text;
}

function recipientFor(recipient: string): MasterKeyRecipient {
  checkRecipient(recipient);
  return {
    type: 'age',
    id: recipient,
    async wrap(dataKey: Uint8Array): Promise<MasterKeyEntry> {
      const { Encrypter, armor } = await loadAge();
      const encrypter = new Encrypter();
      encrypter.addRecipient(recipient);
      const file = await readStream(await encrypter.encrypt(streamOf(dataKey)));
      return { type: 'age', fields: { enc: armor.encode(file), recipient } };
    },
  };
}

/**
 * age-encryption reads whole buffers through `new Response(...)`, which makes Node load
 * its fetch implementation (about 15 ms of a cold start). Streams in and out avoid it.
 */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

async function readStream(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return chunks.length === 1 ? chunks[0] : new Uint8Array(Buffer.concat(chunks));
}

/** Parses a key file: one identity per line, `#` comments and blank lines ignored. */
export function parseIdentityFile(text: string, sourceName: string): string[] {
  const identities: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!IDENTITY.test(line)) {
      // Never echo the line: it may be a key in a format we do not read.
      throw new KeyFormatError(`${sourceName}: line ${index + 1} is not an age identity`, 'identities start with AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1 (plugin and SSH identities are not supported)');
    }
    identities.push(line);
  });
  return identities;
}

/** The user config dir sops uses for `sops/age/keys.txt`. */
export function userConfigDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_CONFIG_HOME) return env.XDG_CONFIG_HOME;
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Application Support');
  if (platform() === 'win32') return env.AppData ?? join(homedir(), 'AppData', 'Roaming');
  return join(env.HOME ?? homedir(), '.config');
}

function readOptionalFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgeKeyError(`cannot read age key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, 2, 'check the file permissions');
  }
}

/** Loads every identity sops would load (§9.1). Missing sources are skipped. */
export function loadIdentitySources(env: NodeJS.ProcessEnv, recipientHint?: string): IdentitySource[] {
  const sources: IdentitySource[] = [];
  if (env.SOPS_AGE_KEY) sources.push({ name: 'SOPS_AGE_KEY', identities: parseIdentityFile(env.SOPS_AGE_KEY.split(/\s+/).join('\n'), 'SOPS_AGE_KEY') });
  if (env.SOPS_AGE_KEY_FILE) {
    const text = readOptionalFile(env.SOPS_AGE_KEY_FILE);
    if (text === undefined) throw new AgeKeyError(`SOPS_AGE_KEY_FILE points to ${env.SOPS_AGE_KEY_FILE}, which does not exist`, 2, 'fix the path or unset SOPS_AGE_KEY_FILE');
    sources.push({ name: env.SOPS_AGE_KEY_FILE, identities: parseIdentityFile(text, env.SOPS_AGE_KEY_FILE) });
  }
  if (env.SOPS_AGE_KEY_CMD) sources.push({ name: 'SOPS_AGE_KEY_CMD', identities: runKeyCommand(env, recipientHint) });
  const defaultFile = join(userConfigDir(env), 'sops', 'age', 'keys.txt');
  const text = readOptionalFile(defaultFile);
  if (text !== undefined) sources.push({ name: defaultFile, identities: parseIdentityFile(text, defaultFile) });
  return sources;
}

function runKeyCommand(env: NodeJS.ProcessEnv, recipient?: string): string[] {
  try {
    // child_process is loaded only here: most runs never need it, and it costs start-up time.
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    const out = execFileSync('/bin/sh', ['-c', env.SOPS_AGE_KEY_CMD!], {
      env: { ...env, SOPS_AGE_RECIPIENT: recipient ?? '' },
      stdio: ['ignore', 'pipe', 'ignore'],
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    return parseIdentityFile(out, 'SOPS_AGE_KEY_CMD output');
  } catch (error) {
    if (error instanceof KeyFormatError) throw error;
    throw new AgeKeyError('SOPS_AGE_KEY_CMD failed', 128, 'run the command by hand to see why');
  }
}

/** Identities are loaded once per process and key settings; bulk commands reuse them. */
const identityCache = new Map<string, Promise<IdentitySource[]>>();

function identitiesFor(ctx: ProviderContext, recipient: string): Promise<IdentitySource[]> {
  const { SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, XDG_CONFIG_HOME, HOME } = ctx.env;
  const cacheKey = JSON.stringify([SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, XDG_CONFIG_HOME, HOME]);
  let cached = identityCache.get(cacheKey);
  if (!cached) {
    cached = Promise.resolve().then(() => loadIdentitySources(ctx.env, recipient));
    identityCache.set(cacheKey, cached);
    // A failed load (missing key file) must not stick: the user may fix it mid-run.
    cached.catch(() => identityCache.delete(cacheKey));
  }
  return cached;
}

const NOT_MINE = "no identity matched any of the file's recipients";

export const ageProvider: Provider = {
  type: 'age',

  parseRecipient(text: string): MasterKeyRecipient {
    return recipientFor(text.trim());
  },

  recipientFromEntry(entry: MasterKeyEntry): MasterKeyRecipient {
    return recipientFor(String(entry.fields.recipient ?? ''));
  },

  describe(entry: MasterKeyEntry): string {
    return String(entry.fields.recipient ?? '(no recipient)');
  },

  async unwrap(entry: MasterKeyEntry, ctx: ProviderContext): Promise<Uint8Array | null> {
    const sources = await identitiesFor(ctx, String(entry.fields.recipient ?? ''));
    if (sources.every((source) => source.identities.length === 0)) return null;
    const enc = String(entry.fields.enc ?? '');
    const x25519 = x25519Identities(sources);
    if (x25519) return unwrapNative(enc, x25519);
    const { armor } = await loadAge();
    let file: Uint8Array;
    try {
      file = armor.decode(enc);
    } catch {
      throw new AgeKeyError('the wrapped data key is not a valid armored age file', 128);
    }
    const decrypter = await newDecrypter(sources);
    try {
      return await readStream(await decrypter.decrypt(streamOf(file)));
    } catch (error) {
      if (error instanceof Error && error.message === NOT_MINE) return null;
      throw new AgeKeyError('the wrapped data key failed to decrypt (corrupted age file)', 128);
    }
  },
};

function invalidIdentity(source: IdentitySource, index: number): AgeKeyError {
  return new AgeKeyError(`identity ${index + 1} of ${source.name} is not a valid age identity (bad checksum or length)`, 128, 'regenerate it with `wax keygen` or check for a copy-paste error');
}

async function newDecrypter(sources: IdentitySource[]): Promise<Decrypter> {
  const { Decrypter } = await loadAge();
  const decrypter = new Decrypter();
  for (const source of sources) {
    source.identities.forEach((identity, index) => {
      try {
        decrypter.addIdentity(identity);
      } catch {
        throw invalidIdentity(source, index);
      }
    });
  }
  return decrypter;
}

/** Derived once per loaded identity list (identitiesFor caches the list), not once per file. */
const derivedIdentities = new WeakMap<IdentitySource[], X25519Identity[] | undefined>();

/** The identities as X25519 keys when every one is X25519 (the native path), else undefined. */
function x25519Identities(sources: IdentitySource[]): X25519Identity[] | undefined {
  if (!derivedIdentities.has(sources)) derivedIdentities.set(sources, deriveX25519Identities(sources));
  return derivedIdentities.get(sources);
}

function deriveX25519Identities(sources: IdentitySource[]): X25519Identity[] | undefined {
  if (!sources.every((source) => source.identities.every((id) => id.startsWith('AGE-SECRET-KEY-1')))) return undefined;
  return sources.flatMap((source) =>
    source.identities.map((identity, index) => {
      try {
        return x25519Identity(decodeX25519Identity(identity));
      } catch {
        throw invalidIdentity(source, index);
      }
    }),
  );
}

function unwrapNative(enc: string, identities: X25519Identity[]): Uint8Array | null {
  try {
    return decryptX25519(decodeArmor(enc), identities) ?? null;
  } catch (error) {
    if (error instanceof AgeFormatError) throw new AgeKeyError('the wrapped data key failed to decrypt (corrupted age file)', 128);
    throw error;
  }
}

/** A new identity and its recipient, for `wax keygen`. */
export async function generateAgeIdentity(postQuantum = false): Promise<{ identity: string; recipient: string }> {
  const { generateHybridIdentity, generateX25519Identity, identityToRecipient } = await loadAge();
  const identity = postQuantum ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The recipient of an identity string. */
export async function recipientOfIdentity(identity: string): Promise<string> {
  return (await loadAge()).identityToRecipient(identity);
}
