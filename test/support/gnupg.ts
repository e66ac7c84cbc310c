/**
 * Throwaway GnuPG keyrings for tests: a fresh GNUPGHOME (0700, under the system temp
 * dir) per use, real `gpg` to import or generate keys, and a cleanup that stops the
 * gpg-agent the home started before removing it, so no agent or secret key outlives
 * the test run.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function gpgAvailable(): boolean {
  const r = spawnSync('gpg', ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export interface ScratchKeyring {
  home: string;
  /** GNUPGHOME (and PATH, for gpg to be found) for a child process or a ProviderContext. */
  env: Record<string, string>;
  /** Runs gpg in this home with --batch; throws with gpg's stderr if it fails. */
  gpg(args: string[], input?: string | Buffer): Buffer;
  /** Runs gpg in this home and returns the whole result, failures included. */
  tryGpg(args: string[], input?: string | Buffer): SpawnSyncReturns<Buffer>;
  /** `gpg --import` of a key file; fixture keys have no passphrase, loopback keeps any prompt away. */
  importKey(file: string): void;
  /** A new ed25519/cv25519 key without a passphrase; returns its fingerprint. */
  generateKey(name: string, passphrase?: string): string;
  /** The armored secret key, as `gpg --export-secret-keys` writes it, saved at `path`. */
  exportSecretKey(fp: string, path: string): void;
  /** The armored public key. */
  exportPublicKey(fp: string): Buffer;
  /** Stops the home's gpg-agent and removes the home. */
  cleanup(): void;
}

const LOOPBACK = ['--pinentry-mode', 'loopback'];

export function makeScratchKeyring(prefix = 'wax-test-gnupg-'): ScratchKeyring {
  const home = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(home, 0o700);
  const env = { GNUPGHOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const tryGpg = (args: string[], input?: string | Buffer) =>
    spawnSync('gpg', ['--batch', '--quiet', ...args], { env: { ...process.env, ...env }, input, maxBuffer: 1 << 24, timeout: 60_000 });
  const gpg = (args: string[], input?: string | Buffer) => {
    const r = tryGpg(args, input);
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed (${r.status}): ${r.stderr.toString().trim()}`);
    return r.stdout;
  };
  return {
    home,
    env,
    gpg,
    tryGpg,
    importKey: (file) => void gpg([...LOOPBACK, '--passphrase', '', '--import', file]),
    generateKey(name, passphrase = '') {
      gpg([...LOOPBACK, '--passphrase', passphrase, '--quick-gen-key', `${name} <${name.replace(/\W+/g, '.')}@example.invalid>`, 'future-default', 'default', 'never']);
      return fingerprintOf(gpg(['--with-colons', '--list-secret-keys', name]).toString());
    },
    exportSecretKey: (fp, path) => writeFileSync(path, gpg([...LOOPBACK, '--passphrase', '', '--armor', '--export-secret-keys', fp])),
    exportPublicKey: (fp) => gpg(['--armor', '--export', fp]),
    cleanup() {
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 10_000 });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The primary key's fingerprint in a `--with-colons` listing. */
export function fingerprintOf(listing: string): string {
  const fp = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fp) throw new Error('no fingerprint in the gpg listing');
  return fp;
}

/**
 * A pinentry that speaks just enough Assuan for gpg-agent: it either cancels every
 * passphrase request (as a user pressing Cancel) or never answers (as a prompt nobody
 * sees). Installed as the home's pinentry-program, it makes passphrase handling testable
 * without a terminal. The never-answering one exits when the agent closes its input.
 */
export function installFakePinentry(keyring: ScratchKeyring, behaviour: 'cancel' | 'hang'): void {
  const script = join(keyring.home, `pinentry-${behaviour}`);
  const onGetpin = behaviour === 'cancel' ? 'echo "ERR 83886179 Operation cancelled <Pinentry>"' : 'read -r never; exit 0';
  writeFileSync(
    script,
    `#!/bin/sh\necho "OK Pleased to meet you"\nwhile read -r cmd rest; do\n  case "$cmd" in\n    GETPIN) ${onGetpin} ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n`,
    { mode: 0o700 },
  );
  writeFileSync(join(keyring.home, 'gpg-agent.conf'), `pinentry-program ${script}\n`);
  // A running agent would keep its old pinentry.
  spawnSync('gpgconf', ['--homedir', keyring.home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 10_000 });
}
