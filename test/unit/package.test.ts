/**
 * What `npm publish` would ship: the CLI bundle, the compiled library with its types, and
 * the documents. Tests, benches, sources, keys and local bundles must never be in it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import { repoRoot } from '../support/paths.js';

interface PackedFile {
  path: string;
}

function packedFiles(): string[] {
  // --ignore-scripts: `prepare` would rebuild what `npm test` has just built.
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot(), encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `npm pack failed: ${run.stderr}`);
  const [report] = JSON.parse(run.stdout) as { files: PackedFile[] }[];
  return report.files.map((f) => f.path).sort();
}

const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^SECURITY\.md$/,
  /^LICENSE$/,
  /^dist\/[\w.-]+\.(mjs|cjs|cache|wasm)$/,
  /^build\/src\/[\w/.-]+\.(js|d\.ts|wasm)$/,
];

test('npm pack --dry-run: only the bundle, the compiled library, its types and the documents', () => {
  const files = packedFiles();
  const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  assert.deepEqual(unexpected, [], 'files the package must not ship');
  for (const needed of ['dist/wax.cjs', 'dist/wax.mjs', 'dist/wax-cli.cjs', 'dist/wax-cli.cache', 'dist/yaml-lib.cjs', 'dist/anchor-search.wasm', 'build/src/scan/anchor-search.wasm', 'build/src/index.js', 'build/src/index.d.ts', 'LICENSE', 'SECURITY.md', 'package.json']) {
    assert.ok(files.includes(needed), `${needed} missing from the package`);
  }
  assert.ok(!files.some((f) => /(^|\/)(test|bench|keys)\//.test(f)), 'no tests, benches or keys');
});
