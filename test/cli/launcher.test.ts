/**
 * The executable `dist/wax.cjs` (cli/launcher.ts) runs the CLI bundle with the V8 code
 * cache the build made: used when it belongs to that very bundle, ignored otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTempDir, removeTempDir, waxBundle } from '../support/cli.js';

const VERSION = '0.1.0';

function runVersion(executable: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [executable, '--version'], { env: { ...process.env, WAX_DEBUG_CODE_CACHE: '1' }, encoding: 'utf8' });
}

/** A copy of dist/ to tamper with. */
function withDistCopy(check: (dist: string) => void): void {
  const dir = makeTempDir('wax-launcher-');
  try {
    const dist = join(dir, 'dist');
    cpSync(dirname(waxBundle()), dist, { recursive: true });
    check(dist);
  } finally {
    removeTempDir(dir);
  }
}

test('the CLI runs with the code cache the build made for it', () => {
  const run = runVersion(waxBundle());
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), VERSION);
  assert.match(run.stderr, /code cache used/);
});

test('dist/wax.mjs, the executable that hooks of earlier versions name, still runs wax', () => {
  const run = runVersion(join(dirname(waxBundle()), 'wax.mjs'));
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), VERSION);
  assert.match(run.stderr, /code cache used/);
});

test('a bundle changed after the build runs as changed: the cache of the old one (same length) is not used', () => {
  withDistCopy((dist) => {
    const bundle = join(dist, 'wax-cli.cjs');
    const source = readFileSync(bundle, 'utf8');
    assert.ok(source.includes(`"${VERSION}"`), 'the version string is in the bundle');
    // Same length: V8's own check of a code cache looks at the source's length only.
    writeFileSync(bundle, source.replaceAll(`"${VERSION}"`, '"9.9.9"'));
    const run = runVersion(join(dist, 'wax.cjs'));
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), '9.9.9', 'the changed code ran, not bytecode of the old one');
    assert.match(run.stderr, /code cache absent or stale/);
  });
});

test('a damaged or missing cache is ignored and the CLI works', () => {
  withDistCopy((dist) => {
    const cache = join(dist, 'wax-cli.cache');
    const bytes = readFileSync(cache);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(cache, bytes);
    const damaged = runVersion(join(dist, 'wax.cjs'));
    assert.equal(damaged.status, 0, damaged.stderr);
    assert.equal(damaged.stdout.trim(), VERSION);
    assert.match(damaged.stderr, /code cache absent or stale/);
    rmSync(cache);
    const missing = runVersion(join(dist, 'wax.cjs'));
    assert.equal(missing.status, 0, missing.stderr);
    assert.equal(missing.stdout.trim(), VERSION);
    assert.match(missing.stderr, /code cache absent or stale/);
  });
});

test('the bundle and the launcher run in strict mode, as the ES modules they are built from', () => {
  const dist = dirname(waxBundle());
  assert.match(readFileSync(join(dist, 'wax-cli.cjs'), 'utf8'), /^"use strict";/);
  assert.match(readFileSync(join(dist, 'wax.cjs'), 'utf8'), /^#!\/usr\/bin\/env node\n"use strict";/);
});

test('the bundle has no import() of a module: it would fail under the launcher (src/external-import.ts)', () => {
  const source = readFileSync(join(dirname(waxBundle()), 'wax-cli.cjs'), 'utf8');
  assert.deepEqual(source.match(/\bimport\(\s*["'`][^"'`]+["'`]\s*\)/g) ?? [], []);
});
