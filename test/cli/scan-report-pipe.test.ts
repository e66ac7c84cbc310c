/**
 * A report bigger than a pipe's buffer (64 KB) reaches the reader whole, as in
 * `wax scan --format json | jq`: `wax scan` waits for its output to leave the process
 * before main() exits. The reader here starts late, so that the pipe fills up. The
 * tokens are generated at run time, so that no token-shaped literal sits in this file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, testEnvironment, waxBundle } from '../support/cli.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function token(seed: number): string {
  let out = 'ghp_';
  let state = seed * 2654435761;
  for (let i = 0; i < 36; i++) {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    out += ALNUM[state % ALNUM.length];
  }
  return out;
}

test('a JSON report of several hundred KB arrives whole through a pipe, with exit code 1', { skip: !existsSync('/bin/bash') && 'no bash' }, () => {
  const dir = makeTempDir();
  try {
    mkdirSync(join(dir, 'config'));
    let planted = 0;
    for (let file = 0; file < 40; file++) {
      const lines = Array.from({ length: 20 }, (_, i) => `token_${i}: "${token(file * 100 + i + 1)}"`);
      planted += lines.length;
      writeFileSync(join(dir, 'config', `service-${file}.yaml`), `${lines.join('\n')}\n`);
    }
    // bash for PIPESTATUS: wax's own exit code, not the reader's.
    const script = '"$0" "$1" scan --format json config | { sleep 1; cat; }; exit "${PIPESTATUS[0]}"';
    const result = spawnSync('/bin/bash', ['-c', script, process.execPath, waxBundle()], { cwd: dir, env: testEnvironment(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 1, result.stderr);
    assert.ok(result.stdout.length > 128 * 1024, `the report is only ${result.stdout.length} bytes`);
    const report = JSON.parse(result.stdout) as { findings: { ruleId: string }[] };
    assert.equal(report.findings.length, planted);
    assert.ok(report.findings.every((f) => f.ruleId === 'credential/github'));
  } finally {
    removeTempDir(dir);
  }
});

test('wax decrypt of a large file reaches a slow reader whole, and exits 0', { skip: !existsSync('/bin/bash') && 'no bash' }, () => {
  const dir = makeTempDir();
  try {
    const key = spawnSync(process.execPath, [waxBundle(), 'keygen', '-o', 'key.txt'], { cwd: dir, env: testEnvironment(), encoding: 'utf8' });
    assert.equal(key.status, 0, key.stderr);
    const recipient = /age1[0-9a-z]+/.exec(readFileSync(join(dir, 'key.txt'), 'utf8'))![0];
    const plain = Array.from({ length: 8000 }, (_, i) => `k${i}: value-${i}-padding-padding-padding\n`).join('');
    writeFileSync(join(dir, 'big.yaml'), plain);
    const enc = spawnSync(process.execPath, [waxBundle(), 'encrypt', '-i', '-a', recipient, 'big.yaml'], { cwd: dir, env: testEnvironment(), encoding: 'utf8' });
    assert.equal(enc.status, 0, enc.stderr);
    const script = '"$0" "$1" decrypt big.yaml | { sleep 1; cat; }; exit "${PIPESTATUS[0]}"';
    const result = spawnSync('/bin/bash', ['-c', script, process.execPath, waxBundle()], {
      cwd: dir,
      env: testEnvironment({ SOPS_AGE_KEY_FILE: join(dir, 'key.txt') }),
      encoding: 'utf8',
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.length, plain.length, 'the output was cut');
    assert.equal(result.stdout, plain);
  } finally {
    removeTempDir(dir);
  }
});
