/**
 * `wax hook install|uninstall` with real git: a real `git commit` of a plaintext Secret is
 * refused and a clean one goes through; core.hooksPath is honoured; an existing hook is
 * chained (and still decides), --force replaces it, uninstall puts it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ExitCode } from '../../src/errors.js';
import { assertNoneOf, makeTempDir, removeTempDir, runWax, testEnvironment, waxBundle, withWorkspace, type RunResult, type Workspace } from '../support/cli.js';
import { ISOLATED_GIT_ENV } from '../support/git.js';

const GIT_ENV = ISOLATED_GIT_ENV;
const PASSWORD = 'hunter2-correct-horse-battery';
const SECRETS = [PASSWORD, Buffer.from(PASSWORD).toString('base64')];

const PLAIN_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
stringData:
  password: ${PASSWORD}
`;

/** A pre-commit hook of someone else's: leaves a trace, and fails when asked to. */
const FOREIGN_HOOK = '#!/bin/sh\necho "foreign hook ran" >> "$TRACE"\nexit "${FOREIGN_EXIT:-0}"\n';

interface Repo {
  ws: Workspace;
  dir: string;
  trace: string;
  write(path: string, content: string): void;
  git(...args: string[]): SpawnSyncReturns<string>;
  hook(args: string[]): RunResult;
  /** `git commit` of everything in the working tree; every stream is checked for the secret. */
  commit(message: string, env?: Record<string, string>): SpawnSyncReturns<string>;
  commits(): number;
}

function withRepo(fn: (repo: Repo) => void) {
  return withWorkspace((ws) => {
    const dir = join(ws.dir, 'repo');
    mkdirSync(dir);
    const trace = join(ws.dir, 'trace.log');
    const env = (extra: Record<string, string> = {}) => testEnvironment({ ...GIT_ENV, ...ws.env, TRACE: trace, ...extra });
    const git = (args: string[], extra: Record<string, string> = {}) =>
      spawnSync('git', ['-c', 'user.name=wax test', '-c', 'user.email=test@wax.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, env: env(extra), encoding: 'utf8' });
    assert.equal(git(['init', '-q']).status, 0);
    fn({
      ws,
      dir,
      trace,
      write: (path, content) => {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      },
      git: (...args) => git(args),
      hook: (args) => ws.wax(['hook', ...args], { cwd: dir, env: GIT_ENV }),
      commit: (message, extra) => {
        assert.equal(git(['add', '-A']).status, 0);
        const result = git(['commit', '-q', '-m', message], extra);
        assertNoneOf(result.stdout + result.stderr, SECRETS);
        return result;
      },
      commits: () => {
        const log = git(['rev-list', '--count', 'HEAD']);
        return log.status === 0 ? Number(log.stdout.trim()) : 0;
      },
    });
  });
}

function installed(repo: Repo, args: string[] = []): RunResult {
  const result = repo.hook(['install', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return result;
}

function seal(repo: Repo, path: string): void {
  const result = repo.ws.wax(['seal', '--age', repo.ws.key.recipient, '-i', path], { cwd: repo.dir });
  assert.equal(result.code, 0, result.stderr);
}

test(
  'after wax hook install, git commit of a plaintext Secret is refused and a sealed one goes through',
  withRepo((repo) => {
    const install = installed(repo);
    const hook = join(repo.dir, '.git/hooks/pre-commit');
    assert.match(install.stderr, /pre-commit hook installed: .*\.git\/hooks\/pre-commit/);
    assert.ok(statSync(hook).mode & 0o100, 'the hook is executable');

    repo.write('db.yaml', PLAIN_SECRET);
    const refused = repo.commit('plaintext');
    assert.equal(refused.status, 1, 'git refuses the commit when the hook fails');
    assert.match(refused.stdout + refused.stderr, /db\.yaml:7:\d+: k8s-secret-plaintext: .*\(value: hu\*+ry\)/);
    assert.equal(repo.commits(), 0);

    seal(repo, 'db.yaml');
    const passed = repo.commit('sealed');
    assert.equal(passed.status, 0, passed.stderr);
    assert.equal(repo.commits(), 1);

    // `git commit -a` stages into a temporary index (GIT_INDEX_FILE) that the hook must read.
    repo.write('db.yaml', PLAIN_SECRET);
    const all = repo.git('commit', '-q', '-a', '-m', 'commit -a');
    assert.equal(all.status, 1, all.stderr);
    assertNoneOf(all.stdout + all.stderr, SECRETS);
    assert.match(all.stdout + all.stderr, /db\.yaml:7:\d+: k8s-secret-plaintext/);
    assert.equal(repo.commits(), 1);
    seal(repo, 'db.yaml');

    // The escape hatch, said out loud.
    repo.write('other.yaml', PLAIN_SECRET);
    const skipped = repo.commit('skipped', { WAX_SKIP_HOOK: '1' });
    assert.equal(skipped.status, 0, skipped.stderr);
    assert.match(skipped.stderr, /WAX_SKIP_HOOK=1: the staged content was not scanned/);
  }),
);

test(
  'core.hooksPath is honoured',
  withRepo((repo) => {
    assert.equal(repo.git('config', 'core.hooksPath', '.githooks').status, 0);
    installed(repo);
    assert.ok(existsSync(join(repo.dir, '.githooks/pre-commit')));
    assert.ok(!existsSync(join(repo.dir, '.git/hooks/pre-commit')));
    repo.write('db.yaml', PLAIN_SECRET);
    assert.equal(repo.commit('plaintext').status, 1);
    assert.equal(repo.commits(), 0);
  }),
);

test(
  'an existing hook is chained: it runs first, its failure (and exit status) stops the commit; install is idempotent; uninstall restores it',
  withRepo((repo) => {
    const hooks = join(repo.dir, '.git/hooks');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'pre-commit'), FOREIGN_HOOK, { mode: 0o755 });
    const install = installed(repo);
    assert.match(install.stderr, /existing pre-commit hook now runs first, from .*pre-commit\.wax-chained/);
    assert.equal(readFileSync(join(hooks, 'pre-commit.wax-chained'), 'utf8'), FOREIGN_HOOK);

    repo.write('a.txt', 'hello\n');
    assert.equal(repo.commit('clean').status, 0);
    assert.equal(readFileSync(repo.trace, 'utf8'), 'foreign hook ran\n');

    repo.write('b.txt', 'again\n');
    assert.equal(repo.commit('foreign hook says no', { FOREIGN_EXIT: '3' }).status, 1);
    assert.equal(repo.commits(), 1);
    const direct = spawnSync(join(hooks, 'pre-commit'), [], { cwd: repo.dir, env: testEnvironment({ ...GIT_ENV, TRACE: repo.trace, FOREIGN_EXIT: '3' }) });
    assert.equal(direct.status, 3, 'the chained hook exit status is kept');

    repo.write('db.yaml', PLAIN_SECRET);
    assert.equal(repo.commit('plaintext').status, 1, 'wax still runs after a passing chained hook');

    const again = installed(repo);
    assert.match(again.stderr, /already installed/);
    assert.ok(!existsSync(join(hooks, 'pre-commit.wax-chained.wax-chained')));
    assert.equal(readFileSync(join(hooks, 'pre-commit.wax-chained'), 'utf8'), FOREIGN_HOOK);

    const removed = repo.hook(['uninstall']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(readFileSync(join(hooks, 'pre-commit'), 'utf8'), FOREIGN_HOOK);
    assert.ok(!existsSync(join(hooks, 'pre-commit.wax-chained')));
    assert.equal(repo.hook(['uninstall']).code, ExitCode.Usage, "a hook that is not wax's is left alone");
    assert.equal(readFileSync(join(hooks, 'pre-commit'), 'utf8'), FOREIGN_HOOK);
  }),
);

test(
  '--force replaces an existing hook instead of chaining it',
  withRepo((repo) => {
    const hooks = join(repo.dir, '.git/hooks');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'pre-commit'), FOREIGN_HOOK, { mode: 0o755 });
    installed(repo, ['--force']);
    assert.ok(!existsSync(join(hooks, 'pre-commit.wax-chained')));
    assert.match(readFileSync(join(hooks, 'pre-commit'), 'utf8'), /wax scan --staged/);
    repo.write('a.txt', 'hello\n');
    assert.equal(repo.commit('clean', { FOREIGN_EXIT: '3' }).status, 0);
    assert.ok(!existsSync(repo.trace), 'the replaced hook no longer runs');
    const removed = repo.hook(['uninstall']);
    assert.equal(removed.code, 0);
    assert.ok(!existsSync(join(hooks, 'pre-commit')));
  }),
);

test(
  'the hook falls back to wax on PATH when the bundle that installed it is gone, and says so when there is none',
  withRepo((repo) => {
    const copy = makeTempDir('wax-hook-bundle-');
    try {
      cpSync(dirname(waxBundle()), copy, { recursive: true });
      const install = runWax(['hook', 'install'], { cwd: repo.dir, env: GIT_ENV });
      assert.equal(install.code, 0);
      const fromCopy = spawnSync(process.execPath, [join(copy, 'wax.cjs'), 'hook', 'install', '--force'], { cwd: repo.dir, env: testEnvironment(GIT_ENV), encoding: 'utf8' });
      assert.equal(fromCopy.status, 0, fromCopy.stderr);
      rmSync(copy, { recursive: true, force: true });
      const bin = join(repo.ws.dir, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'wax'), `#!/bin/sh\necho "wax from PATH: $*" >> "$TRACE"\n`);
      chmodSync(join(bin, 'wax'), 0o755);
      const hook = join(repo.dir, '.git/hooks/pre-commit');
      const viaPath = spawnSync(hook, [], { cwd: repo.dir, env: testEnvironment({ ...GIT_ENV, TRACE: repo.trace, PATH: `${bin}:/usr/bin:/bin` }), encoding: 'utf8' });
      assert.equal(viaPath.status, 0, viaPath.stderr);
      assert.equal(readFileSync(repo.trace, 'utf8'), 'wax from PATH: scan --staged\n');
      const none = spawnSync(hook, [], { cwd: repo.dir, env: testEnvironment({ ...GIT_ENV, PATH: '/usr/bin:/bin' }), encoding: 'utf8' });
      assert.equal(none.status, 2);
      assert.match(none.stderr, /wax: error: cannot find wax/);
    } finally {
      removeTempDir(copy);
    }
  }),
);

test('wax hook: unknown action and no repository', () => {
  const outside = makeTempDir('wax-hook-outside-');
  try {
    const unknown = runWax(['hook', 'instal'], { cwd: outside, env: GIT_ENV });
    assert.equal(unknown.code, ExitCode.Usage);
    assert.match(unknown.stderr, /unknown hook action 'instal'/);
    const noRepo = runWax(['hook', 'install'], { cwd: outside, env: GIT_ENV });
    assert.equal(noRepo.code, ExitCode.CouldNotReadInputFile);
    assert.match(noRepo.stderr, /is not inside a git repository/);
  } finally {
    removeTempDir(outside);
  }
});
