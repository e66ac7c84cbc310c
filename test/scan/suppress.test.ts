/**
 * Accepting findings: `wax:allow` comments, `.waxignore` and baselines, each on its own
 * and through the engine. A baseline must never hold a value or a masked value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { scan } from '../../src/scan/scanner.js';
import { pathsSource } from '../../src/scan/sources.js';
import { allowedInline, buildBaseline, compileWaxignore, parseBaseline, readBaseline, serializeBaseline } from '../../src/scan/suppress.js';
import { encryptHint, type Detector, type Finding, type RawFinding } from '../../src/scan/types.js';

const SECRET = 'hunter2-correct-horse-battery';

/** Flags every `password: VALUE`: a stand-in for the real detectors. */
const passwordDetector: Detector = {
  id: 'test-password',
  detect(target, text) {
    const out: RawFinding[] = [];
    text.split('\n').forEach((line, index) => {
      const match = /password:\s*(\S+)/.exec(line);
      if (match) out.push({ ruleId: 'test/password', line: index + 1, column: match.index + 11, value: match[1], message: 'plaintext password', hint: encryptHint(target.path) });
    });
    return out;
  },
};

async function withDir(fn: (dir: string) => unknown): Promise<void> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wax-suppress-')));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(dir: string, path: string, content: string): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), content);
}

test('wax:allow on the finding line, or alone in a comment on the line above', () => {
  const lines = [
    'password: a # wax:allow',
    '# wax:allow test fixture',
    'password: b',
    '// wax:allow',
    'password: c',
    'other: x # wax:allow',
    'password: d',
    '# wax:allow',
    '',
    'password: e',
    '  <!-- wax:allow -->',
    'password: f',
  ];
  const allowed = (line: number) => allowedInline(lines, line);
  assert.equal(allowed(1), true, 'same line');
  assert.equal(allowed(3), true, '# comment above');
  assert.equal(allowed(5), true, '// comment above');
  assert.equal(allowed(7), false, 'a trailing comment on the line above covers that line only');
  assert.equal(allowed(10), false, 'two lines above does not count');
  assert.equal(allowed(12), true, 'an HTML comment above');
  assert.equal(allowed(99), false, 'beyond the end');
});

test('wax:allow through the engine: allowed findings are counted, not reported', () =>
  withDir(async (dir) => {
    write(dir, 'x.yaml', `password: ${SECRET} # wax:allow\n# wax:allow: test data\npassword: ${SECRET}2\npassword: ${SECRET}3\n`);
    const result = await scan(pathsSource([], dir), { detectors: [passwordDetector], options: { entropy: false } });
    assert.deepEqual(result.findings.map((f) => f.line), [4]);
    assert.equal(result.summary.allowedInline, 2);
  }));

test('.waxignore: gitignore syntax relative to its directory, case-sensitive, nothing outside it', () =>
  withDir(async (dir) => {
    write(dir, 'repo/.waxignore', '# fixtures\nfixtures/\ndocs/examples/\n*.example.yaml\n!keep.example.yaml\n/root-only.yaml\n');
    const ignored = await compileWaxignore({ path: join(dir, 'repo/.waxignore'), name: '.waxignore' });
    const at = (path: string) => ignored(join(dir, path));
    assert.equal(at('repo/fixtures/a.yaml'), true);
    assert.equal(at('repo/deep/test/fixtures/a.yaml'), true, 'a name without a slash matches at any depth');
    assert.equal(at('repo/docs/examples/a.yaml'), true);
    assert.equal(at('repo/deep/docs/examples/a.yaml'), false, 'a slash inside anchors the pattern');
    assert.equal(at('repo/app/db.example.yaml'), true);
    assert.equal(at('repo/app/keep.example.yaml'), false, 'negation');
    assert.equal(at('repo/app/DB.EXAMPLE.YAML'), false, 'case-sensitive, as git on Linux');
    assert.equal(at('repo/root-only.yaml'), true);
    assert.equal(at('repo/sub/root-only.yaml'), false, 'anchored to the .waxignore directory');
    assert.equal(at('elsewhere/test/fixtures/a.yaml'), false, 'outside the .waxignore directory');
    assert.equal(at('repo/app/real.yaml'), false);
  }));

test('.waxignore through the engine: ignored files are not scanned, and the ignore file itself never is', () =>
  withDir(async (dir) => {
    mkdirSync(join(dir, '.git'));
    write(dir, '.waxignore', `fixtures/\n# password: ${SECRET}\n`);
    write(dir, 'fixtures/a.yaml', `password: ${SECRET}\n`);
    write(dir, 'app/b.yaml', `password: ${SECRET}\n`);
    // Found from a sub-directory: the nearest .waxignore up to the repository root.
    const result = await scan(pathsSource(['..'], join(dir, 'app')), { detectors: [passwordDetector], options: { entropy: false } });
    assert.deepEqual(result.findings.map((f) => f.path), ['../app/b.yaml']);
    assert.equal(result.summary.ignored, 2);
  }));

test('.waxignore is not looked for above the repository root', () =>
  withDir(async (dir) => {
    write(dir, '.waxignore', '*.yaml\n');
    mkdirSync(join(dir, 'repo/.git'), { recursive: true });
    write(dir, 'repo/a.yaml', `password: ${SECRET}\n`);
    const result = await scan(pathsSource([], join(dir, 'repo')), { detectors: [passwordDetector], options: { entropy: false } });
    assert.equal(result.findings.length, 1);
  }));

function finding(path: string, ruleId: string, fingerprint: string): Finding {
  return { path, line: 1, column: 1, ruleId, message: 'm', masked: 'hu****ry', hint: 'h', fingerprint };
}

test('baseline: sorted, de-duplicated, fingerprints with rule and path only', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  const baseline = buildBaseline([finding('z.yaml', 'r', a), finding('a.yaml', 'r', b), finding('z.yaml', 'r', a)]);
  assert.deepEqual(baseline, {
    version: 1,
    findings: [
      { fingerprint: b, ruleId: 'r', path: 'a.yaml' },
      { fingerprint: a, ruleId: 'r', path: 'z.yaml' },
    ],
  });
  const text = serializeBaseline(baseline);
  assert.ok(!text.includes('hu****ry'), 'no masked value');
  assert.deepEqual(parseBaseline(text, 'b.json'), new Set([a, b]));
});

test('baseline: a malformed or missing file is a usage error naming it', () =>
  withDir((dir) => {
    const bad = (text: string) => assert.throws(() => parseBaseline(text, 'base.json'), (error: unknown) => error instanceof UsageError && error.message.includes('base.json'));
    bad('{');
    bad('[]');
    bad('{"version":2,"findings":[]}');
    bad('{"version":1}');
    bad('{"version":1,"findings":[{"fingerprint":"abc"}]}');
    bad('{"version":1,"findings":[null]}');
    assert.throws(() => readBaseline(join(dir, 'none.json')), (error: unknown) => error instanceof UsageError && /does not exist/.test(error.message));
  }));

test('baseline through the engine: accepted findings move to `baselined`; a new value at the same place is reported', () =>
  withDir(async (dir) => {
    write(dir, 'x.yaml', `password: ${SECRET}\n`);
    const settings = { detectors: [passwordDetector], options: { entropy: false } };
    const first = await scan(pathsSource([], dir), settings);
    const accepted = parseBaseline(serializeBaseline(buildBaseline(first.findings)), 'b.json');
    const second = await scan(pathsSource([], dir), { ...settings, baseline: accepted });
    assert.equal(second.findings.length, 0);
    assert.equal(second.summary.baselined, 1);
    assert.deepEqual(second.baselined, first.findings);
    write(dir, 'x.yaml', `password: ${SECRET}-rotated\n`);
    const third = await scan(pathsSource([], dir), { ...settings, baseline: accepted });
    assert.equal(third.findings.length, 1);
  }));
