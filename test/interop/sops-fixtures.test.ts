/**
 * Every age case of the shared fixtures (files written by sops 3.3 … 3.13 in other
 * projects) decrypts to its expected plaintext with the MAC verified; the negative cases
 * fail with an integrity error, never a parse error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openBytes } from '../../src/sops-file.js';
import { formatFromPath } from '../../src/document/stores/index.js';
import { toPlain } from '../../src/document/tree.js';
import { ExitCode, IntegrityError, MacMismatchError, ValueAuthenticationError } from '../../src/errors.js';
import { fixturePath, fixturesAvailable, isPositive, loadManifest } from '../support/fixtures.js';

const available = fixturesAvailable();
const cases = available ? loadManifest().filter((c) => c.key_type === 'age') : [];

test('the manifest has the age cases the issue names', { skip: available ? false : 'fixtures not found at ../shared/fixtures' }, () => {
  assert.ok(cases.length >= 19, `expected at least 19 age cases, found ${cases.length}`);
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
