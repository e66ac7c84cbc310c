/**
 * OpenPGP master keys through the CLI bundle and the real `gpg`: the sops 3.13 entry
 * layout, round trips, interop with gpg by hand, WAX_PGP_KEY_FILE, every way a key can
 * be missing or locked (each with its exact exit code), rotate, mixed key groups, and
 * that gpg starts only when a PGP entry is tried, once per entry.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, KeyFormatError } from '../../src/errors.js';
import { normalizeFingerprint, recipientKeyIds } from '../../src/providers/pgp.js';
import { fixturePath, fixturesAvailable } from '../support/fixtures.js';
import { ageKeypair, makeTempDir, removeTempDir, runWax, type RunOptions, type RunResult } from '../support/cli.js';
import { gpgAvailable, installFakePinentry, makeScratchKeyring, type ScratchKeyring } from '../support/gnupg.js';
import { independentDecrypt, independentMetadata, independentPgpEntries, toJsonish, unwrapPgpWithCli } from '../support/independent-sops.js';

const NO_GPG = gpgAvailable() ? false : 'gpg is not installed (Debian package gnupg)';

const PLAINTEXT = 'db:\n    user: admin\n    password: correct-horse\nport: 5432\n';
const SECRETS = ['correct-horse'];

/** One key for the whole file: generating keys is the slow part of these tests. */
let shared: { keyring: ScratchKeyring; fp: string } | undefined;
function mainKey() {
  if (!shared) {
    const keyring = makeScratchKeyring();
    shared = { keyring, fp: keyring.generateKey('wax pgp test') };
  }
  return shared;
}
after(() => shared?.keyring.cleanup());

interface Ws {
  dir: string;
  /** TMPDIR for wax, so a test can see that nothing was left behind. */
  tmp: string;
  fp: string;
  keyring: ScratchKeyring;
  env: Record<string, string | undefined>;
  wax(args: string[], env?: Record<string, string | undefined>, options?: RunOptions): RunResult;
  write(name: string, text: string): string;
  read(name: string): string;
}

/** A test body with its own directory, the shared key in GNUPGHOME and no age identity. */
function withPgp(fn: (ws: Ws) => void | Promise<void>) {
  return async () => {
    const { keyring, fp } = mainKey();
    const dir = makeTempDir('wax-pgp-');
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    // HOME and XDG_CONFIG_HOME point here so that no age key of the developer is found.
    const env = { GNUPGHOME: keyring.home, HOME: dir, XDG_CONFIG_HOME: dir, TMPDIR: tmp, WAX_PGP_KEY_FILE: undefined, WAX_PGP_TIMEOUT: undefined };
    const ws: Ws = {
      dir,
      tmp,
      fp,
      keyring,
      env,
      wax: (args, extra = {}, options = {}) => runWax(args, { ...options, cwd: dir, env: { ...env, ...extra } }),
      write: (name, text) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      },
      read: (name) => readFileSync(join(dir, name), 'utf8'),
    };
    try {
      await fn(ws);
    } finally {
      removeTempDir(dir);
    }
  };
}

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, result.stderr);
  return result;
}

function fails(result: RunResult, code: number): RunResult {
  assert.equal(result.code, code, `expected exit ${code}, got ${result.code}: ${result.stderr}`);
  for (const secret of SECRETS) assert.ok(!result.stderr.includes(secret), 'stderr contains a secret');
  return result;
}

/** Encrypts PLAINTEXT as `name` for the workspace key and returns the encrypted text. */
function encryptedFile(ws: Ws, name = 's.yaml', extraArgs: string[] = []): string {
  ws.write(name, PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--pgp', ws.fp, ...extraArgs, name]));
  return ws.read(name);
}

/**
 * A gpg that logs its arguments (never secrets: data keys go on stdin) and runs the real
 * one, set through SOPS_GPG_EXEC, to count gpg processes.
 */
function countingGpg(ws: Ws): { env: Record<string, string>; runs: () => string[] } {
  const log = join(ws.dir, 'gpg-runs.log');
  const script = ws.write('gpg-counting.sh', `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec gpg "$@"\n`);
  chmodSync(script, 0o700);
  return { env: { SOPS_GPG_EXEC: script }, runs: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

/** Processes whose command line mentions `text` (Linux /proc); [] where /proc is absent. */
function processesMentioning(text: string): string[] {
  if (!existsSync('/proc/self/cmdline')) return [];
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(cmdline);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (check()) return true;
  return check();
}

// ---------------------------------------------------------------------------------------
// Pure parts, no gpg needed

test('fingerprints are normalised to upper-case hex without spaces; anything else is a KeyFormatError', () => {
  const fp = 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4';
  assert.equal(normalizeFingerprint(fp), fp);
  assert.equal(normalizeFingerprint(' fbc7 b9e2 a4f9 289a c0c1  d484 3d16 cee4 a273 81b4 '), fp);
  for (const bad of ['', fp.slice(1), `${fp}0`, `0x${fp}`, fp.replace('F', 'G'), '3D16CEE4A27381B4']) {
    assert.throws(() => normalizeFingerprint(bad), KeyFormatError, bad);
  }
});

test('the key IDs a wrapped key is encrypted to are read from its session key packets', { skip: fixturesAvailable() ? false : 'fixtures not found' }, () => {
  const encs = (path: string) =>
    [...readFileSync(fixturePath(path), 'utf8').matchAll(/-----BEGIN PGP MESSAGE-----[\s\S]*?-----END PGP MESSAGE-----/g)].map((m) => m[0]);
  // New-format headers (sops 3.13, go-crypto) and old-format ones (gpg, older sops), indented as in YAML.
  assert.deepEqual(encs('getsops-sops/functional-tests/res/format.enc.yaml').map(recipientKeyIds), [['25294A17CD90507F']]);
  assert.deepEqual(encs('getsops-sops/example.yaml').map(recipientKeyIds), [['25294A17CD90507F'], ['5C5525B581705783']]);
  assert.deepEqual(encs('jkroepke-helm-secrets/tests/assets/values/sops/secrets.yaml').map(recipientKeyIds), [['D71EE6A0B038EE0C']]);
  assert.deepEqual(recipientKeyIds('-----BEGIN PGP MESSAGE-----\n\nbm90IHBncA==\n-----END PGP MESSAGE-----'), []);
  assert.deepEqual(recipientKeyIds('not armored at all'), []);
});

// ---------------------------------------------------------------------------------------

test('encrypt --pgp writes the sops 3.13 entry: created_at, enc (armored, no final newline, |-), fp', { skip: NO_GPG }, withPgp((ws) => {
  ws.write('s.yaml', PLAINTEXT);
  const before = Date.now();
  const out = ok(ws.wax(['encrypt', '--pgp', ws.fp, 's.yaml'])).stdout;
  const meta = independentMetadata(out, 'yaml');
  const entries = meta['pgp'] as Record<string, string>[];
  assert.equal(entries.length, 1);
  const entry = entries[0]!;
  assert.deepEqual(Object.keys(entry), ['created_at', 'enc', 'fp']);
  assert.equal(entry.fp, ws.fp);
  assert.match(entry.created_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(Math.abs(Date.parse(entry.created_at!) - before) < 120_000, 'created_at is now');
  assert.ok(entry.enc!.startsWith('-----BEGIN PGP MESSAGE-----\n'));
  assert.ok(entry.enc!.endsWith('\n-----END PGP MESSAGE-----'), 'enc has no trailing newline');
  assert.match(out, /\n {8}- created_at: "[^"]+"\n {10}enc: \|-\n {12}-----BEGIN PGP MESSAGE-----\n/);
  assert.equal(meta['age'], undefined);
  assert.ok(!out.includes('correct-horse'));
}));

test('decrypt round trip through the GnuPG keyring in GNUPGHOME', { skip: NO_GPG }, withPgp((ws) => {
  encryptedFile(ws);
  assert.equal(ok(ws.wax(['decrypt', 's.yaml'])).stdout, PLAINTEXT);
  // JSON and dotenv carry the same entry in their own shapes.
  ws.write('s.json', '{"password": "correct-horse", "n": 1}\n');
  ok(ws.wax(['encrypt', '-i', '--pgp', ws.fp, 's.json']));
  assert.deepEqual(JSON.parse(ok(ws.wax(['decrypt', 's.json'])).stdout), { password: 'correct-horse', n: 1 });
  ws.write('s.env', 'PASSWORD=correct-horse\n');
  ok(ws.wax(['encrypt', '-i', '--pgp', ws.fp, 's.env']));
  assert.equal(ok(ws.wax(['decrypt', 's.env'])).stdout, 'PASSWORD=correct-horse\n');
}));

test('gpg --decrypt of enc by hand gives the 32-byte data key, which verifies the whole file independently', { skip: NO_GPG }, withPgp((ws) => {
  const text = encryptedFile(ws);
  const [entry] = independentPgpEntries(text, 'yaml');
  const byHand = ws.keyring.gpg(['--decrypt'], entry!.enc);
  assert.equal(byHand.length, 32);
  // And through a keyring of its own, from the exported key, as another machine would.
  const keyFile = join(ws.dir, 'secret.asc');
  ws.keyring.exportSecretKey(ws.fp, keyFile);
  assert.deepEqual(unwrapPgpWithCli(entry!.enc, keyFile), byHand);
  const verified = independentDecrypt(text, 'yaml', byHand);
  assert.ok(verified.macOk, 'MAC verifies');
  assert.deepEqual(toJsonish(verified.docs), [{ db: { user: 'admin', password: 'correct-horse' }, port: 5432 }]);
}));

test('WAX_PGP_KEY_FILE decrypts without a keyring and leaves no keyring, agent or key behind', { skip: NO_GPG }, withPgp(async (ws) => {
  encryptedFile(ws);
  const keyFile = join(ws.dir, 'secret.asc');
  ws.keyring.exportSecretKey(ws.fp, keyFile);
  const noKeyring = join(ws.dir, 'no-keyring');
  const other = makeScratchKeyring();
  try {
    const otherFile = join(ws.dir, 'other.asc');
    other.exportSecretKey(other.generateKey('wax other key'), otherFile);
    for (const setting of [keyFile, `${otherFile}:${keyFile}`, `${otherFile}\n${keyFile}\n`]) {
      const result = ok(ws.wax(['decrypt', 's.yaml'], { GNUPGHOME: noKeyring, WAX_PGP_KEY_FILE: setting }));
      assert.equal(result.stdout, PLAINTEXT);
      assert.deepEqual(readdirSync(ws.tmp), [], 'the private GNUPGHOME was removed');
      assert.ok(!existsSync(noKeyring), "the user's GNUPGHOME was not touched");
      assert.ok(await eventually(() => processesMentioning(ws.tmp).length === 0), 'no gpg-agent left running');
    }
  } finally {
    other.cleanup();
  }
}));

test('WAX_PGP_KEY_FILE also encrypts (rotate in CI) and is reported when unreadable or not a key', { skip: NO_GPG }, withPgp((ws) => {
  encryptedFile(ws);
  const keyFile = join(ws.dir, 'secret.asc');
  ws.keyring.exportSecretKey(ws.fp, keyFile);
  const ci = { GNUPGHOME: join(ws.dir, 'no-keyring'), WAX_PGP_KEY_FILE: keyFile };
  ok(ws.wax(['rotate', '-i', 's.yaml'], ci));
  assert.equal(ok(ws.wax(['decrypt', 's.yaml'], ci)).stdout, PLAINTEXT);
  assert.deepEqual(readdirSync(ws.tmp), []);

  const missing = fails(ws.wax(['decrypt', 's.yaml'], { ...ci, WAX_PGP_KEY_FILE: join(ws.dir, 'nope.asc') }), ExitCode.CouldNotRetrieveKey);
  assert.match(missing.stderr, /WAX_PGP_KEY_FILE names .*nope\.asc, which cannot be read \(ENOENT\)/);
  const publicOnly = ws.write('public.asc', ws.keyring.exportPublicKey(ws.fp).toString());
  const notSecret = fails(ws.wax(['decrypt', 's.yaml'], { ...ci, WAX_PGP_KEY_FILE: publicOnly }), ExitCode.CouldNotRetrieveKey);
  assert.match(notSecret.stderr, /WAX_PGP_KEY_FILE: no secret key found in/);
  assert.deepEqual(readdirSync(ws.tmp), []);
}));

test('a public key missing at encrypt exits 128 naming the fingerprint and how to import it', { skip: NO_GPG }, withPgp((ws) => {
  ws.write('s.yaml', PLAINTEXT);
  const empty = makeScratchKeyring();
  try {
    const result = fails(ws.wax(['encrypt', '--pgp', ws.fp, 's.yaml'], { GNUPGHOME: empty.home }), ExitCode.CouldNotRetrieveKey);
    assert.match(result.stderr, new RegExp(`cannot encrypt to PGP key ${ws.fp}: no public key for it in the GnuPG keyring`));
    assert.match(result.stderr, /gpg --import/);
    assert.equal(result.stdout, '');
    assert.equal(ws.read('s.yaml'), PLAINTEXT);
  } finally {
    empty.cleanup();
  }
}));

test('no secret key at decrypt exits 128 listing the pgp attempt as "no matching identity"', { skip: NO_GPG }, withPgp((ws) => {
  encryptedFile(ws);
  const publicOnly = makeScratchKeyring();
  try {
    publicOnly.gpg(['--import'], ws.keyring.exportPublicKey(ws.fp));
    const result = fails(ws.wax(['decrypt', 's.yaml'], { GNUPGHOME: publicOnly.home }), ExitCode.CouldNotRetrieveKey);
    assert.match(result.stderr, new RegExp(`group 0: pgp ${ws.fp}: no matching identity available`));
    assert.equal(result.stdout, '');
  } finally {
    publicOnly.cleanup();
  }
}));

test('a malformed fingerprint exits 1, from a flag or from SOPS_PGP_FP; spaces and lower case are accepted', { skip: NO_GPG }, withPgp((ws) => {
  ws.write('s.yaml', PLAINTEXT);
  for (const bad of ['XYZ', ws.fp.slice(1), `${ws.fp}00`, `0x${ws.fp}`, ws.fp.replace(/.$/, 'G')]) {
    const result = fails(ws.wax(['encrypt', '--pgp', bad, 's.yaml']), ExitCode.Generic);
    assert.match(result.stderr, /invalid PGP fingerprint/);
  }
  fails(ws.wax(['encrypt', 's.yaml'], { SOPS_PGP_FP: 'not-a-fingerprint' }), ExitCode.Generic);
  const spaced = ws.fp.toLowerCase().replace(/(.{4})/g, '$1 ').trim();
  const out = ok(ws.wax(['encrypt', '--pgp', spaced, 's.yaml'])).stdout;
  assert.deepEqual(independentPgpEntries(out, 'yaml').map((e) => e.fp), [ws.fp]);
  const fromEnv = ok(ws.wax(['encrypt', 's.yaml'], { SOPS_PGP_FP: ws.fp })).stdout;
  assert.deepEqual(independentPgpEntries(fromEnv, 'yaml').map((e) => e.fp), [ws.fp]);
}));

test('rotate --add-pgp and --rm-pgp; rotate keeps created_at as sops does', { skip: NO_GPG }, withPgp((ws) => {
  const age = ageKeypair(ws.dir);
  ws.write('s.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--age', age.recipient, 's.yaml']));
  const pgpOnly = {};
  fails(ws.wax(['decrypt', 's.yaml'], pgpOnly), ExitCode.CouldNotRetrieveKey);

  ok(ws.wax(['rotate', '-i', '--add-pgp', ws.fp.toLowerCase(), 's.yaml'], { SOPS_AGE_KEY_FILE: age.keyFile }));
  const added = independentMetadata(ws.read('s.yaml'), 'yaml');
  assert.equal((added['age'] as unknown[]).length, 1);
  const [entry] = independentPgpEntries(ws.read('s.yaml'), 'yaml');
  assert.equal(entry!.fp, ws.fp);
  assert.equal(ok(ws.wax(['decrypt', 's.yaml'], pgpOnly)).stdout, PLAINTEXT);

  const createdAt = (added['pgp'] as Record<string, string>[])[0]!.created_at;
  ok(ws.wax(['rotate', '-i', 's.yaml'], pgpOnly));
  const rotated = independentMetadata(ws.read('s.yaml'), 'yaml')['pgp'] as Record<string, string>[];
  assert.equal(rotated[0]!.created_at, createdAt);
  assert.notEqual(rotated[0]!.enc, entry!.enc, 'a new data key was wrapped');

  const spaced = ws.fp.replace(/(.{4})/g, '$1 ').trim();
  ok(ws.wax(['rotate', '-i', '--rm-pgp', spaced, 's.yaml'], pgpOnly));
  assert.equal(independentMetadata(ws.read('s.yaml'), 'yaml')['pgp'], undefined);
  fails(ws.wax(['decrypt', 's.yaml'], pgpOnly), ExitCode.CouldNotRetrieveKey);
  assert.equal(ok(ws.wax(['decrypt', 's.yaml'], { SOPS_AGE_KEY_FILE: age.keyFile })).stdout, PLAINTEXT);
}));

test('a key group mixing age and pgp decrypts with either key alone; an age match never starts gpg', { skip: NO_GPG }, withPgp((ws) => {
  const age = ageKeypair(ws.dir);
  ws.write('.sops.yaml', `creation_rules:\n  - key_groups:\n      - age:\n          - ${age.recipient}\n        pgp:\n          - ${ws.fp}\n`);
  ws.write('s.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', 's.yaml']));
  const meta = independentMetadata(ws.read('s.yaml'), 'yaml');
  assert.equal((meta['age'] as unknown[]).length, 1);
  assert.equal((meta['pgp'] as unknown[]).length, 1);

  const gpg = countingGpg(ws);
  const ageOnly = { ...gpg.env, SOPS_AGE_KEY_FILE: age.keyFile, GNUPGHOME: join(ws.dir, 'no-keyring') };
  assert.equal(ok(ws.wax(['decrypt', 's.yaml'], ageOnly)).stdout, PLAINTEXT);
  assert.deepEqual(gpg.runs(), [], 'gpg was started although the age key matched');

  assert.equal(ok(ws.wax(['decrypt', 's.yaml'], gpg.env)).stdout, PLAINTEXT);
  assert.equal(gpg.runs().length, 1);
}));

test('one gpg process per entry per operation, with the data key never on the command line', { skip: NO_GPG }, withPgp((ws) => {
  const gpg = countingGpg(ws);
  ws.write('s.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--pgp', ws.fp, 's.yaml'], gpg.env));
  assert.deepEqual(gpg.runs(), [`--batch --status-fd 3 --no-default-recipient --yes --encrypt -a -r ${ws.fp} --trusted-key ${ws.fp.slice(-16)} --no-encrypt-to`]);
  ok(ws.wax(['decrypt', 's.yaml'], gpg.env));
  assert.deepEqual(gpg.runs().slice(1), ['--batch --status-fd 3 --decrypt']);

  // With key files: one import for the process, then one decrypt per entry.
  const keyFile = join(ws.dir, 'secret.asc');
  ws.keyring.exportSecretKey(ws.fp, keyFile);
  ws.write('t.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--pgp', ws.fp, 't.yaml']));
  const before = gpg.runs().length;
  ok(ws.wax(['decrypt', '-i', 's.yaml', 't.yaml'], { ...gpg.env, GNUPGHOME: join(ws.dir, 'no-keyring'), WAX_PGP_KEY_FILE: keyFile }));
  assert.equal(ws.read('t.yaml'), PLAINTEXT);
  const runs = gpg.runs().slice(before);
  assert.equal(runs.filter((r) => r.includes('--import')).length, 1);
  assert.equal(runs.filter((r) => r.endsWith('--decrypt')).length, 2);
  assert.equal(runs.length, 3);
}));

// ---------------------------------------------------------------------------------------
// Locked keys: a passphrase that cannot be had is "mine, but failed", never "not mine".

/** Made once: protecting a new key with a passphrase takes gpg-agent seconds. */
let locked: { keyring: ScratchKeyring; fp: string } | undefined;
after(() => locked?.keyring.cleanup());

function lockedKey(behaviour: 'cancel' | 'hang') {
  if (!locked) {
    const keyring = makeScratchKeyring();
    locked = { keyring, fp: keyring.generateKey('wax locked key', 'a passphrase') };
  }
  // Stops the agent, which also forgets the passphrase cached while generating.
  installFakePinentry(locked.keyring, behaviour);
  return locked;
}

test('a cancelled passphrase prompt exits 128 with the reason and a hint, not "no matching identity"', { skip: NO_GPG }, withPgp((ws) => {
  const key = lockedKey('cancel');
  ws.write('s.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--pgp', key.fp, 's.yaml'], { GNUPGHOME: key.keyring.home }));
  const result = fails(ws.wax(['decrypt', 's.yaml'], { GNUPGHOME: key.keyring.home }), ExitCode.CouldNotRetrieveKey);
  assert.match(result.stderr, new RegExp(`pgp ${key.fp}: the passphrase prompt was cancelled`));
  assert.doesNotMatch(result.stderr, /no matching identity/);
}));

test('a passphrase prompt nobody answers becomes a clear timeout error (WAX_PGP_TIMEOUT)', { skip: NO_GPG }, withPgp((ws) => {
  const key = lockedKey('hang');
  ws.write('s.yaml', PLAINTEXT);
  ok(ws.wax(['encrypt', '-i', '--pgp', key.fp, 's.yaml'], { GNUPGHOME: key.keyring.home }));
  const started = Date.now();
  const result = fails(ws.wax(['decrypt', 's.yaml'], { GNUPGHOME: key.keyring.home, WAX_PGP_TIMEOUT: '2' }, { timeout: 30_000 }), ExitCode.CouldNotRetrieveKey);
  assert.ok(Date.now() - started < 20_000, 'the run was bounded');
  assert.match(result.stderr, /gpg did not decrypt the data key within 2s: gpg-agent is waiting at a passphrase prompt that nobody answered/);
  const invalid = fails(ws.wax(['decrypt', 's.yaml'], { GNUPGHOME: key.keyring.home, WAX_PGP_TIMEOUT: 'soon' }), ExitCode.CouldNotRetrieveKey);
  assert.match(invalid.stderr, /WAX_PGP_TIMEOUT must be a positive number of seconds/);
}));

test('a corrupted wrapped key exits 128 as a failure of that key, not as a missing identity', { skip: NO_GPG }, withPgp((ws) => {
  const text = encryptedFile(ws);
  const [entry] = independentPgpEntries(text, 'yaml');
  // Flip one character inside the second base64 line (after the armor's blank line).
  const line = entry!.enc.split('\n')[3]!;
  ws.write('bad.yaml', text.replace(line, line.slice(0, 10) + (line[10] === 'A' ? 'B' : 'A') + line.slice(11)));
  assert.notEqual(ws.read('bad.yaml'), text);
  const result = fails(ws.wax(['decrypt', 'bad.yaml']), ExitCode.CouldNotRetrieveKey);
  assert.match(result.stderr, /pgp [0-9A-F]{40}: (gpg could not decrypt the wrapped data key|the wrapped data key is not a PGP message)/);
  assert.doesNotMatch(result.stderr, /no matching identity/);
}));

test('a gpg that cannot be run (SOPS_GPG_EXEC) exits 128 saying so', { skip: NO_GPG }, withPgp((ws) => {
  encryptedFile(ws);
  const missing = { SOPS_GPG_EXEC: join(ws.dir, 'no-such-gpg') };
  ws.write('plain.yaml', PLAINTEXT);
  const encrypting = fails(ws.wax(['encrypt', '--pgp', ws.fp, 'plain.yaml'], missing), ExitCode.CouldNotRetrieveKey);
  assert.match(encrypting.stderr, /cannot run .*no-such-gpg: not found/);
  const decrypting = fails(ws.wax(['decrypt', 's.yaml'], missing), ExitCode.CouldNotRetrieveKey);
  assert.match(decrypting.stderr, new RegExp(`group 0: pgp ${ws.fp}: cannot run .*no-such-gpg: not found`));
}));
