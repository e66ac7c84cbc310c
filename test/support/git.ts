/**
 * Throwaway git repositories for tests: the developer's git configuration and any
 * GIT_DIR/GIT_INDEX_FILE inherited from a hook running the tests must not change what
 * these repositories do.
 */
import { spawnSync } from 'node:child_process';
import { testEnvironment } from './cli.js';

/** Added to a test's environment (undefined removes the variable). */
export const ISOLATED_GIT_ENV: Record<string, string | undefined> = {
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_DIR: undefined,
  GIT_INDEX_FILE: undefined,
  GIT_WORK_TREE: undefined,
};

/** Runs git in `cwd` with a fixed identity and branch name; throws with git's stderr on failure. */
export function git(cwd: string, ...args: string[]): string {
  const run = spawnSync('git', ['-c', 'user.name=wax test', '-c', 'user.email=test@wax.invalid', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    env: testEnvironment(ISOLATED_GIT_ENV),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}
