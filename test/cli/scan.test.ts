/**
 * `wax scan` as a hook and a CI job run it: the real bundle, the real detectors and real
 * git in a throwaway repository per case. Exit 1 on findings, 0 when clean, 2 on every
 * error; no output ever repeats a secret value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoneOf, makeTempDir, removeTempDir, runWax, testEnvironment, waxBundle, withWorkspace, type RunOptions, type RunResult, type Workspace } from '../support/cli.js';
import { git, ISOLATED_GIT_ENV } from '../support/git.js';

/** The developer's git configuration must not change what these repositories do. */
const GIT_ENV = ISOLATED_GIT_ENV;

const PASSWORD = 'hunter2-correct-horse-battery';
const AWS_ID = 'AKIAIOSFODNN7QWERTYU';
const AWS_SECRET = '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';
const TOKEN = 'c3VwZXItc2VjcmV0LXRva2Vu';
const SECRETS = [PASSWORD, AWS_ID, AWS_SECRET, TOKEN, Buffer.from(PASSWORD).toString('base64')];

const PLAIN_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
stringData:
  password: ${PASSWORD}
data:
  token: ${TOKEN}
`;

const AWS_ENV = `AWS_ACCESS_KEY_ID=${AWS_ID}\nAWS_SECRET_ACCESS_KEY=${AWS_SECRET}\n`;

interface Repo {
  ws: Workspace;
  dir: string;
  write(path: string, content: string | Buffer): void;
  read(path: string): string;
  git(...args: string[]): string;
  wax(args: string[], options?: RunOptions): RunResult;
  /** `wax scan` with these arguments; every stream is checked for the secret values. */
  scan(args: string[], options?: RunOptions): RunResult;
}

/** A workspace (age key, TMPDIR) with a fresh repository in `repo/`, beside the key file. */
function withRepo(fn: (repo: Repo) => void) {
  return withWorkspace((ws) => {
    const dir = join(ws.dir, 'repo');
    mkdirSync(dir);
    git(dir, 'init', '-q');
    const wax = (args: string[], options: RunOptions = {}) => ws.wax(args, { ...options, cwd: options.cwd ?? dir, env: { ...GIT_ENV, ...options.env } });
    fn({
      ws,
      dir,
      write: (path, content) => {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), content);
      },
      read: (path) => readFileSync(join(dir, path), 'utf8'),
      git: (...args) => git(dir, ...args),
      wax,
      scan: (args, options) => {
        const result = wax(['scan', ...args], options);
        assertNoneOf(result.stdout + result.stderr, SECRETS);
        return result;
      },
    });
  });
}

function ruleIds(result: RunResult): string[] {
  return [...result.stdout.matchAll(/^[^\s:]+:\d+:\d+: (\S+):/gm)].map((m) => m[1]).sort();
}

function sealed(repo: Repo, path: string): void {
  const result = repo.wax(['seal', '--age', repo.ws.key.recipient, '-i', path]);
  assert.equal(result.code, 0, result.stderr);
}

test(
  '--staged: a plaintext Secret, a file a creation rule covers left unencrypted and AWS keys are blocked; encrypted files pass',
  withRepo((repo) => {
    repo.write('.sops.yaml', `creation_rules:\n  - path_regex: ^secrets/\n    age: ${repo.ws.key.recipient}\n`);
    repo.write('k8s/db.yaml', PLAIN_SECRET);
    repo.write('secrets/app.yaml', `db:\n  password: ${PASSWORD}\n`);
    repo.write('app/.env', AWS_ENV);
    repo.write('README.md', '# nothing to see\n');
    repo.git('add', '.');
    const blocked = repo.scan(['--staged']);
    assert.equal(blocked.code, 1, blocked.stderr);
    assert.deepEqual(ruleIds(blocked), ['credential/aws', 'credential/aws', 'k8s-secret-plaintext', 'k8s-secret-plaintext', 'sops-unencrypted']);
    assert.match(blocked.stdout, /^k8s\/db\.yaml:7:\d+: k8s-secret-plaintext: .*\(value: hu\*+ry\)\n  hint: .*wax seal/m);
    assert.match(blocked.stdout, /^secrets\/app\.yaml:1:1: sops-unencrypted: .*\n  hint: run: wax encrypt -i secrets\/app\.yaml$/m);
    assert.match(blocked.stderr, /^wax: scan: 5 findings in 3 files \(5 scanned, 0 skipped\)$/m);

    sealed(repo, 'k8s/db.yaml');
    const encrypted = repo.wax(['encrypt', '-i', 'secrets/app.yaml']);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    repo.git('rm', '-q', '--cached', 'app/.env');
    repo.git('add', '.sops.yaml', 'k8s', 'secrets');
    const clean = repo.scan(['--staged']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.equal(clean.stdout, '');
    assert.match(clean.stderr, /^wax: scan: 0 findings in 0 files \(4 scanned, 0 skipped\)$/m);
  }),
);

test(
  '--staged: a file encrypted in the working tree but still plaintext in the index is blocked, and the opposite passes',
  withRepo((repo) => {
    repo.write('db.yaml', PLAIN_SECRET);
    repo.git('add', 'db.yaml');
    sealed(repo, 'db.yaml');
    assert.equal(repo.scan(['--staged']).code, 1, 'the index still holds the plaintext');
    assert.equal(repo.scan(['db.yaml']).code, 0, 'the working tree is encrypted');
    repo.git('add', 'db.yaml');
    assert.equal(repo.scan(['--staged']).code, 0);
    repo.write('db.yaml', PLAIN_SECRET);
    assert.equal(repo.scan(['--staged']).code, 0, 'an unstaged plaintext edit is not what the commit holds');
    // pre-commit passes the staged file names.
    assert.equal(repo.scan(['--staged', 'db.yaml']).code, 0);
  }),
);

test(
  '--all scans every tracked file from the working tree; --since only what changed',
  withRepo((repo) => {
    repo.write('old/db.yaml', PLAIN_SECRET);
    repo.write('clean.txt', 'hello\n');
    repo.git('add', '.');
    repo.git('commit', '-q', '-m', 'first');
    const first = repo.git('rev-parse', 'HEAD').trim();
    repo.write('new/.env', AWS_ENV);
    repo.write('untracked.yaml', PLAIN_SECRET);
    repo.git('add', 'new/.env');
    repo.git('commit', '-q', '-m', 'second');
    const all = repo.scan(['--all']);
    assert.equal(all.code, 1);
    assert.deepEqual([...new Set(all.stdout.match(/^\S+?(?=:\d)/gm))].sort(), ['new/.env', 'old/db.yaml']);
    const since = repo.scan(['--since', first]);
    assert.equal(since.code, 1);
    assert.deepEqual([...new Set(since.stdout.match(/^\S+?(?=:\d)/gm))], ['new/.env']);
    assert.equal(repo.scan(['--since', 'HEAD']).code, 0);
    // From a sub-directory, paths still print relative to the repository root.
    const sub = repo.scan(['--all'], { cwd: join(repo.dir, 'old') });
    assert.match(sub.stdout, /^old\/db\.yaml:/m);
  }),
);

test(
  'standard input: - with --stdin-filename names the content for the detectors and the findings',
  withRepo((repo) => {
    const found = repo.scan(['-', '--stdin-filename', 'deploy/db.yaml'], { input: PLAIN_SECRET });
    assert.equal(found.code, 1);
    assert.match(found.stdout, /^deploy\/db\.yaml:7:\d+: k8s-secret-plaintext:/m);
    const unnamed = repo.scan(['-'], { input: AWS_ENV });
    assert.equal(unnamed.code, 1);
    assert.match(unnamed.stdout, /^<stdin>:1:\d+: credential\/aws:/m);
    assert.equal(repo.scan(['-', '--stdin-filename', 'x.yaml'], { input: 'a: 1\n' }).code, 0);
  }),
);

test(
  'exit 2 for every error: unknown flag, git modes outside a repository, bad revision, conflicting modes, missing path, broken .sops.yaml',
  withRepo((repo) => {
    const outside = makeTempDir('wax-scan-outside-');
    try {
      const expectUsage = (args: string[], pattern: RegExp, options: RunOptions = {}) => {
        const result = repo.scan(args, options);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, pattern);
        assert.equal(result.stdout, '');
      };
      expectUsage(['--no-such-flag'], /^wax: error: unknown option '--no-such-flag'/m);
      expectUsage(['--format', 'xml'], /--format must be one of text, json, sarif/);
      expectUsage(['--since'], /wax: error: option '--since <value>' argument missing/);
      expectUsage(['--staged'], /--staged needs a git repository/, { cwd: outside });
      expectUsage(['--all'], /--all needs a git repository/, { cwd: outside });
      expectUsage(['--since', 'no-such-branch'], /--since no-such-branch: not a commit in this repository/);
      // A revision that reads as a git option is refused as a revision, never passed on as an option.
      expectUsage(['--since=--output=/tmp/wax-oops'], /--since --output=\/tmp\/wax-oops: not a commit/);
      expectUsage(['--staged', '--all'], /--staged and --all cannot be used together/);
      expectUsage(['-', 'other.yaml'], /standard input\) cannot be combined/, { input: '' });
      expectUsage(['--stdin-filename', 'x.yaml'], /--stdin-filename needs -/);
      expectUsage(['missing.yaml'], /missing\.yaml: no such file/);
      expectUsage(['--baseline', 'none.json'], /baseline none\.json does not exist/);
      repo.write('.sops.yaml', 'creation_rules: [unclosed\n');
      repo.write('a.yaml', 'a: 1\n');
      expectUsage([], new RegExp(`^wax: error: ${join(repo.dir, '.sops.yaml').replace(/[.]/g, '\\.')}: `, 'm'));
      repo.git('add', '.');
      expectUsage(['--staged'], /\.sops\.yaml/);
      // A clean scan is 0.
      repo.write('.sops.yaml', 'creation_rules: []\n');
      assert.equal(repo.scan([]).code, 0);
    } finally {
      removeTempDir(outside);
    }
  }),
);

test(
  '--format json and sarif parse, hold masked values and fingerprints only',
  withRepo((repo) => {
    repo.write('k8s/db.yaml', PLAIN_SECRET);
    const json = repo.scan(['--format', 'json']);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as { version: number; findings: { path: string; ruleId: string; masked: string; fingerprint: string }[]; summary: { findings: number; scanned: number } };
    assert.equal(report.version, 1);
    assert.equal(report.findings.length, 2);
    assert.equal(report.summary.findings, 2);
    assert.ok(report.findings.every((f) => f.path === 'k8s/db.yaml' && /^[0-9a-f]{64}$/.test(f.fingerprint)));

    const sarif = repo.scan(['--format', 'sarif', 'k8s']);
    assert.equal(sarif.code, 1);
    const log = JSON.parse(sarif.stdout);
    assert.equal(log.version, '2.1.0');
    const [run] = log.runs;
    assert.equal(run.tool.driver.name, 'wax');
    assert.deepEqual(run.tool.driver.rules.map((r: { id: string }) => r.id), ['k8s-secret-plaintext']);
    assert.equal(run.results.length, 2);
    for (const result of run.results) {
      assert.equal(result.ruleId, 'k8s-secret-plaintext');
      assert.ok(result.message.text.length > 0);
      assert.equal(result.locations[0].physicalLocation.artifactLocation.uri, 'k8s/db.yaml');
      assert.ok(result.locations[0].physicalLocation.region.startLine >= 7);
      assert.ok(result.locations[0].physicalLocation.region.startColumn >= 1);
      assert.match(result.partialFingerprints['waxFingerprint/v1'], /^[0-9a-f]{64}$/);
    }
    // The fingerprints are the same whatever the format.
    assert.deepEqual(
      run.results.map((r: { partialFingerprints: Record<string, string> }) => r.partialFingerprints['waxFingerprint/v1']),
      report.findings.map((f) => f.fingerprint),
    );
  }),
);

test(
  'suppression: wax:allow, .waxignore (the staged one), and a baseline written then read',
  withRepo((repo) => {
    repo.write('allowed.env', `# wax:allow test fixture\nAWS_ACCESS_KEY_ID=${AWS_ID}\n`);
    repo.write('fixtures/db.yaml', PLAIN_SECRET);
    repo.write('.waxignore', 'fixtures/\n');
    repo.git('add', '.');
    assert.equal(repo.scan(['--staged']).code, 0);
    assert.equal(repo.scan([]).code, 0);
    // Unstaging the ignore rule in the working tree changes nothing for --staged.
    repo.write('.waxignore', '');
    assert.equal(repo.scan(['--staged']).code, 0);
    assert.equal(repo.scan([]).code, 1);

    repo.write('app/db.yaml', PLAIN_SECRET);
    const written = repo.scan(['--write-baseline', '.wax-baseline.json']);
    assert.equal(written.code, 0, written.stderr);
    assert.match(written.stderr, /4 findings written to the baseline \.wax-baseline\.json/);
    const baselineText = repo.read('.wax-baseline.json');
    const first = repo.scan(['--format', 'json']);
    const masked = (JSON.parse(first.stdout) as { findings: { masked: string }[] }).findings.map((f) => f.masked);
    assertNoneOf(baselineText, [...SECRETS, ...masked]);
    const baseline = JSON.parse(baselineText) as { version: number; findings: Record<string, string>[] };
    assert.equal(baseline.version, 1);
    assert.equal(baseline.findings.length, 4);
    for (const entry of baseline.findings) assert.deepEqual(Object.keys(entry).sort(), ['fingerprint', 'path', 'ruleId']);

    const accepted = repo.scan(['--baseline', '.wax-baseline.json']);
    assert.equal(accepted.code, 0, accepted.stdout);
    assert.match(accepted.stderr, /0 findings in 0 files \(\d+ scanned, 0 skipped, 4 in the baseline\)/);
    repo.write('app/new.env', AWS_ENV);
    const fresh = repo.scan(['--baseline', '.wax-baseline.json']);
    assert.equal(fresh.code, 1);
    assert.deepEqual([...new Set(fresh.stdout.match(/^\S+?(?=:\d)/gm))], ['app/new.env']);
  }),
);

test(
  'binary and oversized files are skipped and counted; an oversized one is named',
  withRepo((repo) => {
    repo.write('blob.bin', Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.from(AWS_ENV)]));
    repo.write('huge.log', Buffer.alloc(10 * 1024 * 1024 + 1, 0x61));
    const result = repo.scan([]);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stderr, /^wax: warning: huge\.log: not scanned, bigger than 10 MB$/m);
    assert.match(result.stderr, /^wax: scan: 0 findings in 0 files \(0 scanned, 2 skipped\)$/m);
  }),
);

test('files of 40,000 AWS key ids (text, and JSON with a \\u escape) are scanned in bounded time, every one reported', () => {
  // secretlint's core compares every message of one call with every later one: linted as
  // one piece, half of such a file ran for 40-70 s here (a \\u escape in a .json file had
  // the whole file linted for the GCP key rule). The time limit only catches that kind of hang.
  const dir = makeTempDir('wax-scan-many-');
  try {
    const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    // Distinct base-32 ids.
    const ids = Array.from({ length: 40_000 }, (_, i) => `AKIA${Array.from({ length: 4 }, (_, d) => b32[(i >> (5 * d)) & 31]).join('')}${b32.slice(0, 12)}`);
    writeFileSync(join(dir, 'keys.txt'), ids.map((id) => `key = ${id}\n`).join(''));
    writeFileSync(join(dir, 'keys.json'), `{\n  "note": "caf\\u00e9",\n  "keys": [\n${ids.map((id) => `    "${id}"`).join(',\n')}\n  ]\n}\n`);
    for (const [file, firstLine] of [['keys.txt', 1], ['keys.json', 4]] as const) {
      // The JSON report is about 14 MB: more than runWax's default output buffer.
      const result = spawnSync(process.execPath, [waxBundle(), 'scan', file, '--format', 'json'], { cwd: dir, env: testEnvironment(), encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
      assert.equal(result.signal, null, `${file}: the scan did not finish within 60 s`);
      assert.equal(result.status, 1, result.stderr);
      const report = JSON.parse(result.stdout) as { findings: { ruleId: string; line: number }[] };
      assert.equal(report.findings.length, 40_000, file);
      assert.ok(report.findings.every((f, i) => f.ruleId === 'credential/aws' && f.line === firstLine + i), file);
    }
  } finally {
    removeTempDir(dir);
  }
});

test('wax scan --help documents the suppressions and exits 0', () => {
  const help = runWax(['scan', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--staged/);
  assert.match(help.stdout, /wax:allow/);
  assert.match(help.stdout, /\.waxignore/);
});
