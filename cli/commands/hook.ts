/**
 * `wax hook install|uninstall`: a plain-git pre-commit hook that runs `wax scan --staged`.
 * The hooks directory is git's own answer (`git rev-parse --git-path hooks`), so
 * `core.hooksPath` and linked worktrees are respected. A hook that is already there is
 * kept and run first (moved aside to `pre-commit.wax-chained`), unless --force replaces it.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/files.js';
import { GitError, runGit } from '../../src/scan/git.js';
import { info } from '../output.js';

/** How wax recognises its own hook, to update it in place and never chain itself. */
const MARKER = '# wax pre-commit hook (installed by `wax hook install`)';
const CHAINED = 'pre-commit.wax-chained';

export interface HookFlags {
  force?: boolean;
}

export async function hookCommand(action: string, flags: HookFlags): Promise<number> {
  if (action !== 'install' && action !== 'uninstall') throw new UsageError(`unknown hook action '${action}'`, 'use `wax hook install` or `wax hook uninstall`');
  const dir = await hooksDirectory();
  return action === 'install' ? install(dir, flags.force === true) : uninstall(dir);
}

async function hooksDirectory(): Promise<string> {
  const cwd = process.cwd();
  try {
    return resolve(cwd, (await runGit(['rev-parse', '--git-path', 'hooks'], cwd)).toString('utf8').trim());
  } catch (error) {
    if (!(error instanceof GitError)) throw error;
    throw new GitError(`${cwd} is not inside a git repository`, 'run `wax hook install` inside the repository to protect');
  }
}

function install(dir: string, force: boolean): number {
  const hook = join(dir, 'pre-commit');
  const script = hookScript(process.execPath, resolve(process.argv[1]));
  const existing = readHook(hook);
  if (existing !== undefined && existing.includes(MARKER)) {
    if (existing === script) info(`the pre-commit hook is already installed: ${hook}`);
    else {
      writeFileAtomic(hook, Buffer.from(script), { mode: 0o755 });
      info(`pre-commit hook updated: ${hook}`);
    }
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  if (existing !== undefined && !force) chainExisting(dir, hook);
  writeFileAtomic(hook, Buffer.from(script), { mode: 0o755 });
  info(`pre-commit hook installed: ${hook} runs \`wax scan --staged\``);
  return 0;
}

/** Moves someone else's hook aside; ours runs it first and stops on its failure. */
function chainExisting(dir: string, hook: string): void {
  const chained = join(dir, CHAINED);
  if (existsSync(chained)) {
    throw new UsageError(`${hook} is not wax's hook, and ${chained} is already taken`, 'move one of them away, or pass --force to replace the current hook');
  }
  renameSync(hook, chained);
  info(`the existing pre-commit hook now runs first, from ${chained}`);
}

function uninstall(dir: string): number {
  const hook = join(dir, 'pre-commit');
  const existing = readHook(hook);
  if (existing === undefined) {
    info(`no pre-commit hook in ${dir}: nothing to remove`);
    return 0;
  }
  if (!existing.includes(MARKER)) throw new UsageError(`${hook} is not wax's hook`, 'it was left as it is; remove it by hand if you mean to');
  unlinkSync(hook);
  const chained = join(dir, CHAINED);
  if (existsSync(chained)) {
    renameSync(chained, hook);
    info(`wax's pre-commit hook removed; the earlier hook is back in ${hook}`);
  } else info(`wax's pre-commit hook removed: ${hook}`);
  return 0;
}

/** The hook's text, or undefined when there is none; a link or directory counts as someone else's hook. */
function readHook(path: string): string | undefined {
  try {
    return lstatSync(path).isFile() ? readFileSync(path, 'utf8') : '';
  } catch {
    return undefined;
  }
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The hook finds wax by the node and script that installed it (so it works without wax
 * on PATH, e.g. from a checkout), and falls back to `wax` on PATH when those are gone.
 */
export function hookScript(node: string, script: string): string {
  return `#!/bin/sh
${MARKER}
# Blocks a commit whose staged content holds plaintext secrets (exit 1) or cannot be scanned (exit 2).
# Skip it for one commit: WAX_SKIP_HOOK=1 git commit ...  (git commit --no-verify skips every hook).
# Remove it with \`wax hook uninstall\`, which puts back a hook it chained.
hooks=$(dirname -- "$0")
if [ -x "$hooks/${CHAINED}" ]; then
  "$hooks/${CHAINED}" "$@" || exit $?
fi
if [ "\${WAX_SKIP_HOOK:-}" = 1 ]; then
  echo 'wax: WAX_SKIP_HOOK=1: the staged content was not scanned' >&2
  exit 0
fi
node=${shellQuote(node)}
wax=${shellQuote(script)}
if [ -x "$node" ] && [ -f "$wax" ]; then
  exec "$node" "$wax" scan --staged
fi
if command -v wax >/dev/null 2>&1; then
  exec wax scan --staged
fi
echo "wax: error: cannot find wax (not at $wax, not on PATH)" >&2
echo 'wax: hint: run \`wax hook install\` again, or put wax on PATH' >&2
exit 2
`;
}
