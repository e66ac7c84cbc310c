/**
 * The hook as pre-commit users get it: the real `pre-commit` framework installs wax from
 * a repository (`repo:` a path, `rev:` a commit) through `.pre-commit-hooks.yaml`, runs
 * `npm install` there (the `prepare` build), packs and installs it, and a real
 * `git commit` in a throwaway repository per case either is blocked or goes through.
 *
 * The hook repository is a copy of this checkout's files (tracked and untracked, not
 * ignored), committed, so the code under test is the working tree, committed or not.
 * One PRE_COMMIT_HOME serves the whole file, so the environment is installed once.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { assertNoneOf, makeTempDir, makeWorkspace, removeTempDir, testEnvironment, type Workspace } from '../support/cli.js';
import { repoRoot } from '../support/paths.js';

const PASSWORD = 'hunter2-correct-horse-battery';
const TOKEN = 'c3VwZXItc2VjcmV0LXRva2Vu';
const AWS_ID = 'AKIAQ3EGRVL4XHZ7MN2P';
const AWS_SECRET = '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';
const SECRETS = [PASSWORD, TOKEN, AWS_ID, AWS_SECRET, Buffer.from(PASSWORD).toString('base64')];

const PLAIN_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
type: Opaque
stringData:
  password: ${PASSWORD}
data:
  token: ${TOKEN}
`;

const APP_CONFIG = `database:
  host: db.payments.svc
  password: ${PASSWORD}
`;

const AWS_ENV = `AWS_ACCESS_KEY_ID=${AWS_ID}\nAWS_SECRET_ACCESS_KEY=${AWS_SECRET}\n`;

/** The installing `npm install` builds the whole project, on a machine shared with other work. */
const INSTALL_TIMEOUT_MS = 20 * 60_000;
const COMMIT_TIMEOUT_MS = 2 * 60_000;

const NO_PRE_COMMIT = preCommitMissing();

function preCommitMissing(): string | false {
  const probe = spawnSync('pre-commit', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'pre-commit is not installed (Debian package pre-commit; .ci/run installs it)';
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  if (npm.error || npm.status !== 0) return 'npm is not on PATH, and pre-commit installs node hooks with it';
  return false;
}

/** Every directory this file makes, removed at the end. */
const scratch: string[] = [];
after(() => {
  for (const dir of scratch) removeTempDir(dir);
});

function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  scratch.push(dir);
  return dir;
}

/**
 * The environment of every git and pre-commit run: no developer or outer-hook git state
 * (GIT_DIR, GIT_INDEX_FILE of a surrounding hook, global config), no SKIP that would skip
 * the hook, no npm settings exported by an `npm test` around us, no WAX_BUNDLE_OUTDIR that
 * would send the `prepare` bundle elsewhere. The npm cache is used before the registry.
 */
function processEnvironment(home: string): NodeJS.ProcessEnv {
  const env = testEnvironment();
  for (const key of Object.keys(env)) {
    if (/^(GIT_|PRE_COMMIT|WAX_|npm_|NPM_)/i.test(key) || key === 'SKIP' || key === 'INIT_CWD' || key === 'NODE_TEST_CONTEXT') delete env[key];
  }
  return {
    ...env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'wax test',
    GIT_AUTHOR_EMAIL: 'test@wax.invalid',
    GIT_COMMITTER_NAME: 'wax test',
    GIT_COMMITTER_EMAIL: 'test@wax.invalid',
    PRE_COMMIT_HOME: home,
    PRE_COMMIT_COLOR: 'never',
    npm_config_prefer_offline: 'true',
  };
}

interface Run {
  code: number;
  stdout: string;
  /** stdout and stderr: pre-commit and git split their messages between the two. */
  output: string;
  ms: number;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = COMMIT_TIMEOUT_MS): Run {
  const started = performance.now();
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  const ms = performance.now() - started;
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.signal) throw new Error(`${command} ${args.join(' ')} was killed (${result.signal}) after ${Math.round(ms)} ms:\n${result.stdout}${result.stderr}`);
  return { code: result.status ?? 128, stdout: result.stdout, output: result.stdout + result.stderr, ms };
}

function mustRun(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout?: number): Run {
  const result = run(command, args, cwd, env, timeout);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.output}`);
  return result;
}

/** A committed copy of the checkout's files: what `repo:` points at. */
function makeHookRepository(env: NodeJS.ProcessEnv): { path: string; rev: string } {
  const root = repoRoot();
  const listed = mustRun('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root, env).stdout;
  const path = tempDir('wax-hook-repo-');
  for (const file of new Set(listed.split('\0').filter(Boolean))) copyEntry(join(root, file), join(path, file));
  mustRun('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], path, env);
  mustRun('git', ['add', '-A'], path, env);
  mustRun('git', ['commit', '-q', '--no-verify', '-m', 'wax under test'], path, env);
  return { path, rev: mustRun('git', ['rev-parse', 'HEAD'], path, env).stdout.trim() };
}

/** Files deleted in the working tree but still in the index stay deleted, as in the tree. */
function copyEntry(from: string, to: string): void {
  let stat;
  try {
    stat = lstatSync(from);
  } catch {
    return;
  }
  mkdirSync(dirname(to), { recursive: true });
  if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
  else if (stat.isFile()) copyFileSync(from, to);
}

interface InstalledHook {
  home: string;
  repo: string;
  rev: string;
  env: NodeJS.ProcessEnv;
  installMs: number;
  installOutput: string;
}

let installed: { value?: InstalledHook; error?: unknown } | undefined;

/**
 * Builds the hook repository and has pre-commit install its environment, once; a failed
 * install fails every case at once instead of being retried by each.
 */
function installedHook(): InstalledHook {
  if (!installed) {
    try {
      const home = tempDir('wax-pre-commit-home-');
      const env = processEnvironment(home);
      const { path: repo, rev } = makeHookRepository(env);
      const scratchRepo = newGitRepository(env);
      writeFileSync(join(scratchRepo, '.pre-commit-config.yaml'), preCommitConfig(repo, rev));
      const install = mustRun('pre-commit', ['install-hooks'], scratchRepo, env, INSTALL_TIMEOUT_MS);
      installed = { value: { home, repo, rev, env, installMs: install.ms, installOutput: install.output } };
    } catch (error) {
      installed = { error };
    }
  }
  if (installed.error) throw installed.error;
  return installed.value!;
}

function newGitRepository(env: NodeJS.ProcessEnv): string {
  const dir = tempDir('wax-pre-commit-user-');
  mustRun('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], dir, env);
  return dir;
}

function preCommitConfig(repo: string, rev: string, extra = ''): string {
  return `repos:\n  - repo: ${repo}\n    rev: ${rev}\n    hooks:\n      - id: wax-scan\n${extra}`;
}

/** The wax environment pre-commit made: `<home>/repo…/node_env-<version>/bin/wax`. */
function installedWax(home: string): string | undefined {
  for (const entry of readdirSync(home)) {
    if (!entry.startsWith('repo')) continue;
    for (const env of readdirSync(join(home, entry))) {
      const bin = join(home, entry, env, 'bin', 'wax');
      if (env.startsWith('node_env') && existsSync(bin)) return bin;
    }
  }
  return undefined;
}

/** A user's repository with the hook installed and a first commit of its config. */
interface UserRepo {
  dir: string;
  ws: Workspace;
  write(path: string, content: string): void;
  read(path: string): string;
  git(...args: string[]): string;
  head(): string;
  /** `git commit`, through the installed pre-commit hook; the output is checked for secrets. */
  commit(message: string): Run;
  /** `pre-commit run ARGS` (with --files it does not stash unstaged changes). */
  preCommit(...args: string[]): Run;
  /** `wax ARGS` from this checkout's bundle, with the workspace's age key. */
  wax(...args: string[]): void;
}

function userRepo(hook: InstalledHook, configExtra = ''): UserRepo {
  const dir = newGitRepository(hook.env);
  const ws = makeWorkspace();
  scratch.push(ws.dir);
  const git = (...args: string[]) => mustRun('git', args, dir, hook.env).stdout;
  const checked = (result: Run) => {
    assertNoneOf(result.output, SECRETS);
    return result;
  };
  const repo: UserRepo = {
    dir,
    ws,
    write: (path, content) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    },
    read: (path) => readFileSync(join(dir, path), 'utf8'),
    git,
    head: () => git('rev-parse', 'HEAD').trim(),
    commit: (message) => checked(run('git', ['commit', '-m', message], dir, hook.env)),
    preCommit: (...args) => checked(run('pre-commit', ['run', ...args], dir, hook.env)),
    wax: (...args) => {
      const result = ws.wax(args, { cwd: dir });
      assert.equal(result.code, 0, `wax ${args.join(' ')}: ${result.stderr}`);
    },
  };
  repo.write('.pre-commit-config.yaml', preCommitConfig(hook.repo, hook.rev, configExtra));
  mustRun('pre-commit', ['install'], dir, hook.env);
  git('add', '.pre-commit-config.yaml');
  const first = repo.commit('pre-commit config');
  assert.equal(first.code, 0, first.output);
  return repo;
}

/** `.sops.yaml` whose creation rule says everything under secrets/ is encrypted. */
function sopsConfig(repo: UserRepo): string {
  return `creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: ${repo.ws.key.recipient}\n`;
}

/** The commit failed through the hook's findings (exit 1, not a crash) and HEAD did not move. */
function assertBlocked(repo: UserRepo, before: string, result: Run): void {
  assert.notEqual(result.code, 0, `the commit went through:\n${result.output}`);
  assert.match(result.output, /^wax scan \(plaintext secrets\)\.+Failed$/m, result.output);
  assert.match(result.output, /^- exit code: 1$/m, result.output);
  assert.equal(repo.head(), before, 'HEAD moved');
}

function assertPassed(repo: UserRepo, before: string, result: Run): void {
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /^wax scan \(plaintext secrets\)\.+Passed$/m, result.output);
  assert.notEqual(repo.head(), before, 'HEAD did not move');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

test('pre-commit installs wax from this checkout (repo: a path, rev: a commit) and builds it on install', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, (t) => {
  const hook = installedHook();
  t.diagnostic(`hook environment installed in ${seconds(hook.installMs)} (npm install with the prepare build, npm pack, npm install -g)`);
  const wax = installedWax(hook.home);
  assert.ok(wax, `no wax in the environment pre-commit made under ${hook.home}:\n${hook.installOutput}`);
  // With node and npm on PATH, pre-commit 3.x picks language_version `system`: no node download.
  t.diagnostic(`environment: ${basename(dirname(dirname(wax)))}`);
  const help = mustRun(wax, ['scan', '--help'], hook.home, hook.env);
  assert.match(help.output, /--staged/);
});

test('a plaintext Kubernetes Secret is blocked, with the rule and a hint, and nothing is committed', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, (t: TestContext) => {
  const repo = userRepo(installedHook());
  repo.write('k8s/db.yaml', PLAIN_SECRET);
  repo.git('add', 'k8s/db.yaml');
  const before = repo.head();
  const result = repo.commit('add the db secret');
  t.diagnostic(`blocked commit: ${seconds(result.ms)} wall`);
  assertBlocked(repo, before, result);
  assert.match(result.output, /^k8s\/db\.yaml:\d+:\d+: k8s-secret-plaintext: .*stringData\.password.*\(value: hu\*+ry\)$/m);
  assert.match(result.output, /^k8s\/db\.yaml:\d+:\d+: k8s-secret-plaintext: .*data\.token/m);
  assert.match(result.output, /^ {2}hint: .*wax (seal|encrypt) -i k8s\/db\.yaml/m);
  assert.match(result.output, /^wax: scan: 2 findings in 1 file /m);
});

test('a file a .sops.yaml creation rule covers, left unencrypted, is blocked', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, () => {
  const repo = userRepo(installedHook());
  repo.write('.sops.yaml', sopsConfig(repo));
  repo.write('secrets/app.yaml', APP_CONFIG);
  repo.git('add', '.sops.yaml', 'secrets/app.yaml');
  const before = repo.head();
  const result = repo.commit('app config');
  assertBlocked(repo, before, result);
  assert.match(result.output, /^secrets\/app\.yaml:1:1: sops-unencrypted: /m);
  assert.match(result.output, /^ {2}hint: run: wax encrypt -i secrets\/app\.yaml$/m);
});

test('an AWS access key id with its secret access key is blocked', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, () => {
  const repo = userRepo(installedHook());
  repo.write('deploy/aws.env', AWS_ENV);
  repo.write('README.md', '# deploy notes\n');
  repo.git('add', 'deploy/aws.env', 'README.md');
  const before = repo.head();
  const result = repo.commit('aws credentials');
  assertBlocked(repo, before, result);
  assert.match(result.output, /^deploy\/aws\.env:1:\d+: credential\/aws: .*\(value: AK\*+2P\)$/m);
  assert.match(result.output, /^deploy\/aws\.env:2:\d+: credential\/aws: .*\(value: wJ\*+7T\)$/m);
  assert.match(result.output, /^ {2}hint: .*wax encrypt/m);
  assert.doesNotMatch(result.output, /README\.md:/);
});

test('wax-encrypted files pass: a creation-rule file, a sops-encrypted Secret and an EncryptedSecret from wax seal', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, (t: TestContext) => {
  const repo = userRepo(installedHook());
  repo.write('.sops.yaml', sopsConfig(repo));
  repo.write('secrets/app.yaml', APP_CONFIG);
  repo.wax('encrypt', '-i', 'secrets/app.yaml');
  repo.write('k8s/flux-secret.yaml', PLAIN_SECRET);
  repo.wax('encrypt', '--age', repo.ws.key.recipient, '--encrypted-regex', '^(data|stringData)$', '-i', 'k8s/flux-secret.yaml');
  repo.write('k8s/db.yaml', PLAIN_SECRET);
  repo.wax('seal', '--age', repo.ws.key.recipient, '-i', 'k8s/db.yaml');
  assert.match(repo.read('k8s/db.yaml'), /^kind: EncryptedSecret$/m);
  repo.git('add', '.sops.yaml', 'secrets', 'k8s');
  const before = repo.head();
  const result = repo.commit('encrypted secrets');
  t.diagnostic(`passing commit: ${seconds(result.ms)} wall`);
  assertPassed(repo, before, result);
  assert.deepEqual(repo.git('show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort(), ['.sops.yaml', 'k8s/db.yaml', 'k8s/flux-secret.yaml', 'secrets/app.yaml']);
});

test('the staged content is what counts: encrypting the working tree after staging the plaintext still blocks', { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, () => {
  const repo = userRepo(installedHook());
  repo.write('.sops.yaml', sopsConfig(repo));
  repo.write('secrets/app.yaml', APP_CONFIG);
  repo.git('add', '.sops.yaml', 'secrets/app.yaml');
  repo.wax('encrypt', '-i', 'secrets/app.yaml');
  const before = repo.head();
  const result = repo.commit('app config');
  assertBlocked(repo, before, result);
  assert.match(result.output, /^secrets\/app\.yaml:1:1: sops-unencrypted: /m);
  // pre-commit stashed the unstaged encryption while the hook ran and put it back after.
  const staged = repo.git('diff', '--cached', '--name-only').trim();
  assert.equal(staged, '.sops.yaml\nsecrets/app.yaml');
  assert.ok(repo.git('show', ':secrets/app.yaml').includes(PASSWORD), 'the index holds the plaintext');
  assert.match(repo.read('secrets/app.yaml'), /^sops:$/m, 'the working tree holds the encrypted file again');
  assert.match(repo.git('diff', '--name-only').trim(), /^secrets\/app\.yaml$/);

  // `pre-commit run --files` does not stash, so here the hook sees an encrypted working
  // tree over a plaintext index: only reading the index blocks this.
  const unstashed = repo.preCommit('wax-scan', '--files', 'secrets/app.yaml');
  assert.equal(unstashed.code, 1, unstashed.output);
  assert.match(unstashed.output, /^- exit code: 1$/m);
  assert.match(unstashed.output, /^secrets\/app\.yaml:1:1: sops-unencrypted: /m);
  // And the opposite: an encrypted index under a plaintext working tree passes.
  repo.git('add', 'secrets/app.yaml');
  repo.write('secrets/app.yaml', APP_CONFIG);
  const reverse = repo.preCommit('wax-scan', '--files', 'secrets/app.yaml');
  assert.equal(reverse.code, 0, reverse.output);
  assert.match(reverse.output, /^wax scan \(plaintext secrets\)\.+Passed$/m);
});

test("the user's exclude applies: pre-commit passes only the files it selects", { skip: NO_PRE_COMMIT, timeout: INSTALL_TIMEOUT_MS + 60_000 }, () => {
  const repo = userRepo(installedHook(), '        exclude: ^testdata/\n');
  repo.write('testdata/plain-secret.yaml', PLAIN_SECRET);
  repo.git('add', 'testdata/plain-secret.yaml');
  const before = repo.head();
  const excluded = repo.commit('a fixture the user chose to exclude');
  assert.equal(excluded.code, 0, excluded.output);
  assert.match(excluded.output, /^wax scan \(plaintext secrets\)\.+\(no files to check\)Skipped$/m);
  assert.notEqual(repo.head(), before);

  repo.write('k8s/db.yaml', PLAIN_SECRET);
  repo.write('testdata/another.yaml', PLAIN_SECRET);
  repo.git('add', 'k8s/db.yaml', 'testdata/another.yaml');
  const second = repo.head();
  const mixed = repo.commit('one excluded, one not');
  assertBlocked(repo, second, mixed);
  assert.match(mixed.output, /^k8s\/db\.yaml:/m);
  assert.doesNotMatch(mixed.output, /testdata\//);
});
