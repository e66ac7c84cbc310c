/**
 * Every age and PGP case of the shared fixtures (files written by sops 3.3 … 3.13 in
 * other projects) decrypts to its expected plaintext with the MAC verified; the negative
 * cases fail with an integrity error, never a parse error. PGP cases run through the
 * real `gpg`, each with its fixture key imported into a scratch GNUPGHOME of its own.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openBytes } from '../../src/sops-file.js';
import { formatFromPath } from '../../src/document/stores/index.js';
import { toPlain } from '../../src/document/tree.js';
import { ExitCode, IntegrityError, MacMismatchError, ValueAuthenticationError } from '../../src/errors.js';
import { fixturePath, fixturesAvailable, isPositive, loadManifest, type FixtureCase } from '../support/fixtures.js';
import { gpgAvailable, makeScratchKeyring, type ScratchKeyring } from '../support/gnupg.js';

const available = fixturesAvailable();
const manifest = available ? loadManifest() : [];
const cases = manifest.filter((c) => c.key_type === 'age');
const pgpCases = manifest.filter((c) => c.key_type === 'pgp');
const NO_FIXTURES = available ? false : 'fixtures not found at ../shared/fixtures';
const NO_GPG = gpgAvailable() ? false : 'gpg is not installed (Debian package gnupg)';

test('the manifest has the age cases the issue names', { skip: NO_FIXTURES }, () => {
  assert.ok(cases.length >= 19, `expected at least 19 age cases, found ${cases.length}`);
});

test('the manifest has the PGP cases, one of them negative', { skip: NO_FIXTURES }, () => {
  assert.ok(pgpCases.length >= 30, `expected at least 30 PGP cases, found ${pgpCases.length}`);
  assert.deepEqual(pgpCases.filter((c) => !isPositive(c)).map((c) => c.path), ['getsops-sops/functional-tests/res/no_mac.yaml']);
});

for (const c of cases) {
  const env = { SOPS_AGE_KEY_FILE: fixturePath(c.key_path), HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent' };
  const open = () => openBytes(readFileSync(fixturePath(c.path)), { format: formatFromPath(c.path), ctx: { env }, path: c.path });

  if (isPositive(c)) {
    test(`decrypts ${c.path}`, async () => {
      const opened = await open();
      assert.equal(opened.dataKey.length, 32);
      assert.deepEqual(opened.documents.map(toPlain), c.expected_plaintext);
    });
  } else {
    test(`rejects ${c.path} with an integrity error`, async () => {
      await assert.rejects(open(), (error: unknown) => {
        assert.ok(error instanceof IntegrityError, `expected an IntegrityError, got ${String(error)}`);
        assert.ok(error instanceof ValueAuthenticationError || error instanceof MacMismatchError);
        assert.ok([ExitCode.ErrorDecryptingTree, ExitCode.MacMismatch].includes(error.exitCode as 25 | 51));
        return true;
      });
    });
  }
}

// One scratch keyring per fixture key, made on first use: a case can only decrypt with
// the key the manifest names, not with another fixture's key imported next to it.
const keyrings = new Map<string, ScratchKeyring>();
after(() => {
  for (const keyring of keyrings.values()) keyring.cleanup();
});

function keyringFor(keyPath: string): ScratchKeyring {
  let keyring = keyrings.get(keyPath);
  if (!keyring) {
    keyring = makeScratchKeyring('wax-fixture-gnupg-');
    keyrings.set(keyPath, keyring);
    keyring.importKey(fixturePath(keyPath));
  }
  return keyring;
}

function openPgp(c: FixtureCase) {
  const env = { ...keyringFor(c.key_path).env, HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent' };
  return openBytes(readFileSync(fixturePath(c.path)), { format: formatFromPath(c.path), ctx: { env }, path: c.path });
}

for (const c of pgpCases) {
  if (isPositive(c)) {
    test(`decrypts ${c.path} (pgp)`, { skip: NO_GPG }, async () => {
      const opened = await openPgp(c);
      assert.equal(opened.dataKey.length, 32);
      assert.ok(opened.usedKeys.every((entry) => entry.type === 'pgp'));
      assert.deepEqual(opened.documents.map(toPlain), c.expected_plaintext);
    });
  } else {
    test(`rejects ${c.path} with a MAC mismatch (pgp)`, { skip: NO_GPG }, async () => {
      await assert.rejects(openPgp(c), (error: unknown) => {
        assert.ok(error instanceof MacMismatchError, `expected a MacMismatchError, got ${String(error)}`);
        assert.equal(error.exitCode, ExitCode.MacMismatch);
        return true;
      });
    });
  }
}
