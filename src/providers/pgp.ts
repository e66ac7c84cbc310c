/**
 * OpenPGP master keys (sops-format.md §9.2) through the `gpg` binary, the way sops does
 * when it falls back to GnuPG: the same encrypt arguments, the keyring in GNUPGHOME (or
 * ~/.gnupg), the secret keys held by gpg-agent. An entry's `enc` is the ASCII-armored
 * PGP MESSAGE of the raw data key (or 33-byte Shamir share), kept without a trailing
 * newline as sops 3.13 writes it (`enc: |-`).
 *
 * Environment (read from the ProviderContext, so a library caller can pass its own):
 * - GNUPGHOME: the keyring, as for gpg itself.
 * - SOPS_GPG_EXEC: the gpg binary (sops' variable); `gpg` on PATH by default.
 * - WAX_PGP_KEY_FILE (wax only): colon- or newline-separated paths of secret key files,
 *   as `gpg --armor --export-secret-keys FP` writes them, for machines without a keyring
 *   (CI, containers). They are imported into a private GNUPGHOME made for this process
 *   (0700 under os.tmpdir(), removed at exit), so the user's keyring is never modified.
 * - WAX_PGP_TIMEOUT (wax only): seconds one gpg run may take, 60 by default.
 *
 * Passphrases: gpg runs with --batch but without `--pinentry-mode loopback`. sops users
 * rely on gpg-agent: its passphrase cache, its pinentry (graphical, or curses on
 * GPG_TTY), smartcards. Loopback would make gpg ask wax for the passphrase, and in batch
 * mode it then fails at once wherever the agent would have prompted. wax never sees a
 * passphrase. Because gpg-agent's pinentry has no timeout of its own (and a second prompt
 * waits for the first), every gpg run is bounded and a timeout is reported as such.
 *
 * gpg starts only when a PGP entry is actually tried; data keys travel on stdin only;
 * results are read from `--status-fd` (stable and untranslated), not from stderr.
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError, KeyFormatError, MasterKeyError, ReadError } from '../errors.js';
import { nowRfc3339, type MasterKeyEntry } from '../document/metadata.js';
import type { MasterKeyRecipient, Provider, ProviderContext } from './types.js';

type ChildProcessModule = typeof import('node:child_process');

const FINGERPRINT = /^[0-9A-F]{40}$/;
const BEGIN_MESSAGE = '-----BEGIN PGP MESSAGE-----';
const DEFAULT_TIMEOUT_SECONDS = 60;
/** A data key is 32 bytes; a crafted message must not be able to fill memory. */
const OUTPUT_LIMIT = 64 * 1024;

const PASSPHRASE_HINT =
  'unlock the key in gpg-agent first (export GPG_TTY=$(tty) and decrypt once by hand), use a graphical pinentry, or use a key without a passphrase (WAX_PGP_KEY_FILE in CI)';

// ---------------------------------------------------------------------------------------
// Fingerprints

/** Upper-case hex without spaces, as gpg prints it; KeyFormatError for anything else. */
export function normalizeFingerprint(text: string): string {
  const fp = text.replace(/\s+/g, '').toUpperCase();
  if (!FINGERPRINT.test(fp)) {
    const shown = text.length > 48 ? `${text.slice(0, 20)}…` : text;
    throw new KeyFormatError(
      `invalid PGP fingerprint ${JSON.stringify(shown)}`,
      'give the full 40-hex-digit fingerprint (spaces allowed), as `gpg --list-keys --fingerprint` shows it',
    );
  }
  return fp;
}

function recipientFor(fp: string, ctx: ProviderContext, createdAt?: string): MasterKeyRecipient {
  return {
    type: 'pgp',
    id: fp,
    async wrap(dataKey: Uint8Array): Promise<MasterKeyEntry> {
      const enc = await encryptTo(fp, dataKey, ctx.env);
      return { type: 'pgp', fields: { created_at: createdAt ?? nowRfc3339(), enc, fp } };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Running gpg

interface GpgRun {
  code: number | null;
  stdout: Buffer;
  /** `--status-fd` lines without their `[GNUPG:] ` prefix. */
  status: string[];
  stderr: string;
  timedOut: boolean;
}

let childProcess: ChildProcessModule | undefined;

/** child_process is loaded only when gpg is needed: most runs never start it. */
async function loadChildProcess(): Promise<ChildProcessModule> {
  childProcess ??= await import('node:child_process');
  return childProcess;
}

function gpgBinary(env: NodeJS.ProcessEnv): string {
  return env.SOPS_GPG_EXEC || 'gpg';
}

function timeoutSeconds(env: NodeJS.ProcessEnv): number {
  const text = env.WAX_PGP_TIMEOUT;
  if (text === undefined || text.trim() === '') return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new ConfigError('WAX_PGP_TIMEOUT must be a positive number of seconds', `unset it to use the default of ${DEFAULT_TIMEOUT_SECONDS}`);
  return seconds;
}

/** Collects a stream up to OUTPUT_LIMIT bytes; `onOverflow` stops the process beyond that. */
function collect(stream: Readable, onOverflow: () => void): () => Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > OUTPUT_LIMIT) onOverflow();
    else chunks.push(chunk);
  });
  return () => Buffer.concat(chunks);
}

/** One gpg process: `args` after --batch and the status pipe, `input` on stdin. */
async function runGpg(args: string[], input: Uint8Array | string, env: NodeJS.ProcessEnv): Promise<GpgRun> {
  const { spawn } = await loadChildProcess();
  const limitMs = timeoutSeconds(env) * 1000;
  const binary = gpgBinary(env);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--batch', '--status-fd', '3', ...args], { env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let timedOut = false;
    let settled = false;
    const stop = () => child.kill('SIGTERM');
    const stdout = collect(child.stdout, stop);
    const stderr = collect(child.stderr, stop);
    const status = collect(child.stdio[3] as Readable, stop);
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limitMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!settled) reject(cannotRun(binary, error));
      settled = true;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!settled) resolve({ code, stdout: stdout(), status: statusLines(status()), stderr: stderr().toString('utf8'), timedOut });
      settled = true;
    });
    // gpg may exit before reading all of stdin (a bad key, say); its status says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function statusLines(raw: Buffer): string[] {
  return raw
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('[GNUPG:] '))
    .map((line) => line.slice('[GNUPG:] '.length).trimEnd());
}

function cannotRun(binary: string, error: NodeJS.ErrnoException): MasterKeyError {
  if (error.code === 'ENOENT') return new MasterKeyError(`cannot run ${binary}: not found`, 'install GnuPG (Debian/Ubuntu: apt-get install gnupg) or point SOPS_GPG_EXEC at gpg');
  return new MasterKeyError(`cannot run ${binary}: ${error.code ?? 'error'}`, 'check that SOPS_GPG_EXEC (or gpg on PATH) is an executable gpg');
}

/** The last `gpg: …` line, for failures the status lines do not explain. gpg never prints the plaintext there. */
function gpgSays(run: GpgRun): string {
  if (run.code === null) return 'gpg was stopped before it finished (a signal, or output past the 64 KiB limit)';
  const lines = run.stderr.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('gpg: '));
  const last = lines.at(-1)?.slice('gpg: '.length) ?? `exit code ${run.code}`;
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}

function statusArgs(run: GpgRun, keyword: string): string[][] {
  return run.status.filter((line) => line === keyword || line.startsWith(`${keyword} `)).map((line) => line.split(' ').slice(1));
}

function timeoutError(run: GpgRun, env: NodeJS.ProcessEnv, doing: string): MasterKeyError {
  const prompt = statusArgs(run, 'PINENTRY_LAUNCHED').length > 0;
  const why = prompt ? ': gpg-agent is waiting at a passphrase prompt that nobody answered' : '';
  return new MasterKeyError(
    `gpg did not ${doing} within ${timeoutSeconds(env)}s${why}`,
    prompt ? `${PASSPHRASE_HINT}; or raise WAX_PGP_TIMEOUT` : 'check that gpg-agent is responsive (gpgconf --kill gpg-agent restarts it), or raise WAX_PGP_TIMEOUT',
  );
}

function keyringName(env: NodeJS.ProcessEnv): string {
  if (privateHomes.has(env.GNUPGHOME ?? '')) return 'the keys of WAX_PGP_KEY_FILE';
  return env.GNUPGHOME ? `the GnuPG keyring ${env.GNUPGHOME}` : 'the default GnuPG keyring (~/.gnupg)';
}

// ---------------------------------------------------------------------------------------
// Wrapping

/** The `gpg --encrypt` arguments sops uses (pgp/keysource.go), trusting the key for this run. */
function encryptArgs(fp: string): string[] {
  return ['--no-default-recipient', '--yes', '--encrypt', '-a', '-r', fp, '--trusted-key', fp.slice(-16), '--no-encrypt-to'];
}

async function encryptTo(fp: string, dataKey: Uint8Array, env: NodeJS.ProcessEnv): Promise<string> {
  const keyFiles = await keyFileKeyring(env);
  const runEnv = keyFiles?.fingerprints.has(fp) ? keyFiles.env : env;
  const run = await runGpg(encryptArgs(fp), dataKey, runEnv);
  if (run.timedOut) throw timeoutError(run, runEnv, `encrypt to PGP key ${fp}`);
  // sops 3.13 stores the armor without its final newline (`enc: |-`).
  const armored = run.stdout.toString('utf8').replace(/\r\n/g, '\n').trimEnd();
  if (run.code === 0 && armored.startsWith(BEGIN_MESSAGE)) return armored;
  throw encryptError(fp, run, runEnv);
}

/** INV_RECP reason codes (GnuPG doc/DETAILS) that a user can act on. */
const INVALID_RECIPIENT: Record<string, [string, string]> = {
  '1': ['no public key for it in', 'import it first with `gpg --import KEY.asc` (or set GNUPGHOME to the keyring that has it)'],
  '2': ['it matches several keys in', 'give the full fingerprint of one key'],
  '3': ['it has no encryption subkey in', 'add one with `gpg --quick-add-key FP default encr`'],
  '4': ['the key is revoked in', 'use another key'],
  '5': ['the key has expired in', 'extend it with `gpg --quick-set-expire FP 1y` and re-import it, or use another key'],
  '13': ['the key is disabled in', 'enable it with `gpg --edit-key FP enable`'],
};

function encryptError(fp: string, run: GpgRun, env: NodeJS.ProcessEnv): MasterKeyError {
  const reason = statusArgs(run, 'INV_RECP')[0]?.[0];
  const known = reason === undefined ? undefined : INVALID_RECIPIENT[reason];
  if (known) return new MasterKeyError(`cannot encrypt to PGP key ${fp}: ${known[0]} ${keyringName(env)}`, known[1]);
  return new MasterKeyError(`cannot encrypt to PGP key ${fp}: ${gpgSays(run)}`, 'run the same `gpg --encrypt -r FP` by hand to see why');
}

// ---------------------------------------------------------------------------------------
// Unwrapping

async function decryptIn(enc: string, env: NodeJS.ProcessEnv): Promise<Uint8Array | null> {
  const run = await runGpg(['--decrypt'], enc, env);
  if (run.timedOut) throw timeoutError(run, env, 'decrypt the data key');
  if (run.code === 0 && statusArgs(run, 'DECRYPTION_OKAY').length > 0) return new Uint8Array(run.stdout);
  if (noSecretKey(run)) return null;
  throw decryptError(run);
}

/**
 * "Not mine": gpg lacks the secret key of every recipient. gpg's stderr also says
 * "No secret key" when a present key's passphrase could not be asked for, so only the
 * status lines can tell the two apart.
 */
function noSecretKey(run: GpgRun): boolean {
  const missing = new Set(statusArgs(run, 'NO_SECKEY').map((args) => args[0]));
  if (missing.size === 0 || statusArgs(run, 'BAD_PASSPHRASE').length > 0) return false;
  if (statusArgs(run, 'ERROR').some((args) => args[0] === 'pkdecrypt_failed')) return false;
  return statusArgs(run, 'ENC_TO').every((args) => missing.has(args[0]));
}

/** gpg-error codes (the low 16 bits) that mean the passphrase could not be had. */
const PASSPHRASE_ERRORS: Record<number, string> = {
  11: 'wrong passphrase for the secret key',
  62: 'the passphrase prompt timed out',
  85: 'gpg-agent has no pinentry program to ask for the passphrase',
  99: 'the passphrase prompt was cancelled',
  198: 'the passphrase prompt was cancelled',
};

function decryptError(run: GpgRun): MasterKeyError {
  if (statusArgs(run, 'BAD_PASSPHRASE').length > 0) return new MasterKeyError(PASSPHRASE_ERRORS[11], PASSPHRASE_HINT);
  const failed = statusArgs(run, 'ERROR').find((args) => args[0] === 'pkdecrypt_failed');
  if (failed) {
    const code = Number(failed[1]) & 0xffff;
    const prompted = statusArgs(run, 'PINENTRY_LAUNCHED').length > 0;
    const reason = PASSPHRASE_ERRORS[code] ?? (prompted ? 'gpg-agent could not show the passphrase prompt (no terminal: is GPG_TTY set?)' : `the secret key could not decrypt it: ${gpgSays(run)}`);
    return new MasterKeyError(reason, PASSPHRASE_HINT);
  }
  if (statusArgs(run, 'NODATA').length > 0) return new MasterKeyError('the wrapped data key is not a PGP message', 'restore the file from version control');
  return new MasterKeyError(`gpg could not decrypt the wrapped data key (corrupted PGP message?): ${gpgSays(run)}`, 'restore the file from version control');
}

// ---------------------------------------------------------------------------------------
// Which keyring: the user's, or the keys of WAX_PGP_KEY_FILE

/**
 * The key IDs a message is encrypted to (its v3 public-key session key packets), so that
 * one gpg run goes straight to the keyring that can answer. Empty when unknown (another
 * packet version, anonymous recipients, not parseable): then every keyring is tried.
 */
export function recipientKeyIds(armored: string): string[] {
  const bytes = dearmor(armored);
  const ids: string[] = [];
  for (let pos = 0; bytes && pos < bytes.length; ) {
    const packet = packetAt(bytes, pos);
    if (!packet || packet.body + packet.length > bytes.length) break;
    if (packet.tag === 1) {
      // Only v3 packets carry a plain key ID; for others every keyring is tried.
      if (bytes[packet.body] !== 3 || packet.length < 10) return [];
      ids.push(Buffer.from(bytes.subarray(packet.body + 1, packet.body + 9)).toString('hex').toUpperCase());
    } else if (packet.tag !== 3 && packet.tag !== 10) break; // session keys (1, 3) and markers (10) come before the data
    pos = packet.body + packet.length;
  }
  return ids.includes('0000000000000000') ? [] : ids;
}

function dearmor(text: string): Buffer | undefined {
  const lines = text.replace(/\r/g, '').split('\n').map((line) => line.trim());
  const begin = lines.indexOf(BEGIN_MESSAGE);
  const end = lines.indexOf('-----END PGP MESSAGE-----');
  if (begin < 0 || end < begin) return undefined;
  // Armor headers (Version: …) end at the first blank line.
  const blank = lines.indexOf('', begin);
  const first = blank > begin && blank < end ? blank + 1 : begin + 1;
  return Buffer.from(lines.slice(first, end).filter((line) => !line.startsWith('=')).join(''), 'base64');
}

/** An OpenPGP packet header (RFC 4880 §4.2); undefined for partial or indeterminate lengths. */
function packetAt(b: Uint8Array, pos: number): { tag: number; body: number; length: number } | undefined {
  const first = b[pos];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  if ((first & 0x40) === 0) {
    const size = [1, 2, 4][first & 3];
    if (size === undefined) return undefined;
    let length = 0;
    for (let i = 1; i <= size; i++) length = length * 256 + (b[pos + i] ?? 0);
    return { tag: (first >> 2) & 0x0f, body: pos + 1 + size, length };
  }
  const tag = first & 0x3f;
  const o1 = b[pos + 1] ?? 255;
  if (o1 < 192) return { tag, body: pos + 2, length: o1 };
  if (o1 < 224) return { tag, body: pos + 3, length: ((o1 - 192) << 8) + (b[pos + 2] ?? 0) + 192 };
  if (o1 === 255 && pos + 6 <= b.length) return { tag, body: pos + 6, length: Buffer.from(b.subarray(pos + 2, pos + 6)).readUInt32BE(0) };
  return undefined;
}

/** The environments to try an entry in, best first: normally exactly one. */
async function keyringsFor(enc: string, env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv[]> {
  const keyFiles = await keyFileKeyring(env);
  if (!keyFiles) return [env];
  const ids = recipientKeyIds(enc);
  if (ids.some((id) => keyFiles.secretKeyIds.has(id))) return [keyFiles.env];
  return ids.length > 0 ? [env] : [env, keyFiles.env];
}

interface KeyFileKeyring {
  /** The environment with GNUPGHOME set to the private keyring. */
  env: NodeJS.ProcessEnv;
  /** Long key IDs of the imported secret keys and subkeys. */
  secretKeyIds: Set<string>;
  /** Fingerprints of every imported key and subkey. */
  fingerprints: Set<string>;
}

const keyFileKeyrings = new Map<string, Promise<KeyFileKeyring>>();

/** The private keyring for WAX_PGP_KEY_FILE, imported once per process and setting. */
function keyFileKeyring(env: NodeJS.ProcessEnv): Promise<KeyFileKeyring | undefined> {
  const setting = env.WAX_PGP_KEY_FILE;
  if (!setting || setting.trim() === '') return Promise.resolve(undefined);
  const cacheKey = JSON.stringify([setting, env.SOPS_GPG_EXEC]);
  let cached = keyFileKeyrings.get(cacheKey);
  if (!cached) {
    cached = importKeyFiles(setting, env);
    keyFileKeyrings.set(cacheKey, cached);
    // A failed import must not stick: the user may fix the file mid-run.
    cached.catch(() => keyFileKeyrings.delete(cacheKey));
  }
  return cached;
}

function keyFilePaths(setting: string): string[] {
  const paths = setting.split(/[:\n]/).map((path) => path.trim()).filter(Boolean);
  for (const path of paths) {
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      throw new ReadError(`WAX_PGP_KEY_FILE names ${path}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'fix the path or unset WAX_PGP_KEY_FILE');
    }
  }
  return paths;
}

async function importKeyFiles(setting: string, env: NodeJS.ProcessEnv): Promise<KeyFileKeyring> {
  const paths = keyFilePaths(setting);
  await loadChildProcess();
  const home = makePrivateHome();
  const homeEnv = { ...env, GNUPGHOME: home };
  // import-show lists what was imported, subkeys included, so one gpg run does it all.
  const run = await runGpg(['--with-colons', '--import-options', 'import-show', '--import', '--', ...paths], '', homeEnv);
  if (run.timedOut) throw timeoutError(run, homeEnv, 'import WAX_PGP_KEY_FILE');
  const keyring = { env: homeEnv, ...parseKeyListing(run.stdout.toString('utf8')) };
  if (keyring.secretKeyIds.size === 0) {
    throw new KeyFormatError(`WAX_PGP_KEY_FILE: no secret key found in ${paths.join(', ')}`, 'export one with `gpg --armor --export-secret-keys FINGERPRINT > key.asc`');
  }
  return keyring;
}

function parseKeyListing(text: string): { secretKeyIds: Set<string>; fingerprints: Set<string> } {
  const secretKeyIds = new Set<string>();
  const fingerprints = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if ((fields[0] === 'sec' || fields[0] === 'ssb') && fields[4]) secretKeyIds.add(fields[4].toUpperCase());
    if (fields[0] === 'fpr' && fields[9]) fingerprints.add(fields[9].toUpperCase());
  }
  return { secretKeyIds, fingerprints };
}

// ---------------------------------------------------------------------------------------
// The private GNUPGHOME and its removal

const privateHomes = new Set<string>();

function makePrivateHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'wax-gnupg-'));
  // gpg warns about (and agents refuse) a home others can read; mkdtemp's mode is not promised everywhere.
  chmodSync(home, 0o700);
  if (privateHomes.size === 0) registerCleanup();
  privateHomes.add(home);
  return home;
}

function registerCleanup(): void {
  process.once('exit', removePrivateHomes);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
}

/** Secret keys must not outlive an interrupted run; then the signal does what it would have done. */
function onSignal(signal: NodeJS.Signals): void {
  removePrivateHomes();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function removePrivateHomes(): void {
  for (const home of privateHomes) {
    // The agent gpg started for the home would otherwise linger until it notices the home is gone.
    childProcess?.spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 5000 });
    rmSync(home, { recursive: true, force: true });
  }
  privateHomes.clear();
  keyFileKeyrings.clear();
}

// ---------------------------------------------------------------------------------------
// The provider

export const pgpProvider: Provider = {
  type: 'pgp',

  parseRecipient(text: string, ctx: ProviderContext): MasterKeyRecipient {
    return recipientFor(normalizeFingerprint(text), ctx);
  },

  /** sops keeps an entry's created_at when it re-wraps a new data key (rotate, updatekeys). */
  recipientFromEntry(entry: MasterKeyEntry, ctx: ProviderContext): MasterKeyRecipient {
    const createdAt = typeof entry.fields.created_at === 'string' ? entry.fields.created_at : undefined;
    return recipientFor(normalizeFingerprint(String(entry.fields.fp ?? '')), ctx, createdAt);
  },

  describe(entry: MasterKeyEntry): string {
    const fp = String(entry.fields.fp ?? '');
    return fp === '' ? '(no fingerprint)' : fp.replace(/\s+/g, '').toUpperCase();
  },

  async unwrap(entry: MasterKeyEntry, ctx: ProviderContext): Promise<Uint8Array | null> {
    const enc = typeof entry.fields.enc === 'string' ? entry.fields.enc : '';
    if (!enc.includes(BEGIN_MESSAGE)) throw new MasterKeyError('the entry has no wrapped data key (enc is not a PGP message)', 'restore the file from version control');
    for (const env of await keyringsFor(enc, ctx.env)) {
      const key = await decryptIn(enc, env);
      if (key) return key;
    }
    return null;
  },
};
