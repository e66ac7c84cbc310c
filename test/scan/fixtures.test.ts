/**
 * Files that sops and other tools wrote (../shared/fixtures, listed in manifest.json)
 * raise no finding through the full engine with every detector, entropy included: the
 * encrypted values and the sops metadata (key material included) are not secrets in clear.
 * The files are read in place, never copied; there is no .sops.yaml, so coverage rules
 * do not apply and what is tested is that encrypted content is recognised as such.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DETECTORS } from '../../src/scan/detectors.js';
import { scan } from '../../src/scan/scanner.js';
import { pathsSource, type ScanSource } from '../../src/scan/sources.js';
import { fixturesAvailable, loadManifest } from '../support/fixtures.js';
import { fixturesDir } from '../support/paths.js';

function fixtureSource(paths: string[]): ScanSource {
  const tree = pathsSource(paths, fixturesDir());
  return { ...tree, sopsConfig: async () => undefined, waxignore: async () => undefined };
}

test('every encrypted fixture file raises no finding with all detectors', { skip: !fixturesAvailable() && 'no ../shared/fixtures' }, async () => {
  const paths = [...new Set(loadManifest().map((c) => c.path))];
  assert.ok(paths.length >= 40, `the manifest lists ${paths.length} files`);
  const result = await scan(fixtureSource(paths), { detectors: DETECTORS, options: { entropy: true } });
  assert.deepEqual(
    result.findings.map((f) => `${f.path}:${f.line}: ${f.ruleId}: ${f.message}`),
    [],
  );
  assert.equal(result.summary.scanned, paths.length, 'every file was scanned, none skipped');
});
