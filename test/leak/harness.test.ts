/**
 * The leak harness (issue 6, item 3): every CLI command, on success and failure paths,
 * run on files holding known secret values (test/leak/canaries.ts), each run in a fresh
 * copy of the fixtures with a private TMPDIR. Checked for every run:
 *
 * - stdout: no canary, except those the command exists to print (decrypt, --extract,
 *   exec-* children, keygen's new key);
 * - stderr: no canary, ever;
 * - TMPDIR: empty afterwards;
 * - files: every file the run created or changed holds no canary, unless it is the
 *   plaintext output asked for (decrypt -i / --output, keygen -o), which must be 0600;
 * - scratch: no wax lock or temporary file is left in the working directory;
 * - transient: where wax puts plaintext on disk for a child (edit, exec-file), the file
 *   is 0600 in a 0700 directory under TMPDIR while it exists, and gone afterwards.
 *
 * The workspace's own age identity counts as a canary everywhere. The controller (a real
 * subprocess against the fake API server) is checked the same way: its stdout and stderr
 * logs, the Events, every EncryptedSecret status and /metrics hold no canary; only the
 * Secret's data may. A table of commands × channels is printed as a diagnostic (and
 * written to $WAX_LEAK_REPORT when set).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { sealSecret } from '../../src/encrypted-secret.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { isWaxScratchName } from '../../src/files.js';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';
import { runWaxAsync } from '../support/cli-async.js';
import { runWax, type RunResult } from '../support/cli.js';
import { ALL_CANARIES, CANARIES as C, findCanaries, identityCanary, type Canary } from './canaries.js';
import { buildTemplate, caseDirectory, HELD, MANIFEST, PLAIN_YAML, script, type Template } from './fixtures.js';

// ------------------------------------------------------------------ the tally

const CHANNELS = ['stdout', 'stderr', 'TMPDIR', 'files', 'scratch', 'transient'] as const;
type Channel = (typeof CHANNELS)[number] | 'logs (stdout)' | 'logs (stderr)' | 'Events' | 'status' | '/metrics' | 'Secret data';

/** group → channel → number of runs checked (a leak fails the run, so a count means clean). */
const tally = new Map<string, Map<Channel, number>>();
const runs = new Map<string, number>();

function count(group: string, channel: Channel): void {
  const row = tally.get(group) ?? new Map<Channel, number>();
  row.set(channel, (row.get(channel) ?? 0) + 1);
  tally.set(group, row);
}

// ------------------------------------------------------------------ cases

interface CaseContext {
  dir: string;
  tmp: string;
  template: Template;
}

interface LeakCase {
  group: string;
  title: string;
  args: string[] | ((ctx: CaseContext) => string[]);
  code: number;
  env?: Record<string, string | undefined> | ((ctx: CaseContext) => Record<string, string | undefined>);
  input?: string;
  /** Canaries this command exists to print on stdout. */
  stdoutAllows?: Canary[];
  /** Files (relative) that are plaintext output by request: they may hold canaries and must be 0600. */
  plaintextOutputs?: string[];
  /** Canaries known only after the run (keygen's new identity), and whether stdout may hold them. */
  runCanaries?: (ctx: CaseContext, result: RunResult) => { canaries: Canary[]; onStdout: boolean; inFiles?: string[] };
  /** A report file (relative) where a child wrote the mode of the plaintext file, of its directory, and its path. */
  transientReport?: string;
  /** Something else to run instead of one wax command (the git hook). */
  custom?: (ctx: CaseContext) => Promise<RunResult>;
  prepare?: (ctx: CaseContext) => void;
  check?: (ctx: CaseContext, result: RunResult) => void;
}

let template: Template;
let identity: Canary;
let caseNumber = 0;
let available = new Set<string>();

before(() => {
  template = buildTemplate();
  identity = identityCanary(readFileSync(template.key.keyFile, 'utf8'));
  const help = runWax(['--help']).stdout;
  available = new Set([...help.matchAll(/^ {2}([a-z-]+)\s/gm)].map((m) => m[1]));
});

after(() => {
  if (template) rmSync(join(template.dir, '..'), { recursive: true, force: true });
});

function snapshot(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (path === skip) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) out.set(relative(dir, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
      else out.set(relative(dir, path), entry.isFIFO() ? 'fifo' : 'other');
    }
  };
  walk(dir);
  return out;
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    out.push(entry.name);
    if (entry.isDirectory()) out.push(...listTree(join(dir, entry.name)).map((n) => `${entry.name}/${n}`));
  }
  return out;
}

async function runCase(c: LeakCase): Promise<void> {
  caseNumber++;
  const { dir, tmp } = caseDirectory(template, `case-${caseNumber}`);
  const ctx: CaseContext = { dir, tmp, template };
  try {
    c.prepare?.(ctx);
    const before = snapshot(dir, tmp);
    const extraEnv = typeof c.env === 'function' ? c.env(ctx) : (c.env ?? {});
    const result = c.custom
      ? await c.custom(ctx)
      : await runWaxAsync(typeof c.args === 'function' ? c.args(ctx) : c.args, {
          cwd: dir,
          env: { SOPS_AGE_KEY_FILE: template.key.keyFile, TMPDIR: tmp, XDG_CONFIG_HOME: join(dir, 'no-config'), ...extraEnv },
          input: c.input,
          timeout: 60_000,
        });
    assert.equal(result.code, c.code, `exit ${result.code}, expected ${c.code}; stderr: ${findCanaries(result.stderr, [...ALL_CANARIES, identity]).length ? '(withheld: it holds a canary)' : result.stderr}`);
    const extra = c.runCanaries?.(ctx, result) ?? { canaries: [], onStdout: false, inFiles: [] };
    const forbidden = [...ALL_CANARIES, identity, ...extra.canaries];
    const leaks: string[] = [];
    const note = (channel: Channel, found: string[]) => {
      for (const f of found) leaks.push(`${channel}: ${f}`);
      count(c.group, channel);
    };

    const stdoutAllowed = new Set([...(c.stdoutAllows ?? []), ...(extra.onStdout ? extra.canaries : [])]);
    note('stdout', findCanaries(result.stdout, forbidden.filter((x) => !stdoutAllowed.has(x))));
    note('stderr', findCanaries(result.stderr, forbidden));
    note('TMPDIR', listTree(tmp).map((name) => `left in TMPDIR: ${name}`));

    const after = snapshot(dir, tmp);
    const fileLeaks: string[] = [];
    for (const [path, hash] of after) {
      if (before.get(path) === hash) continue;
      const full = join(dir, path);
      if (hash === 'fifo' || hash === 'other') {
        fileLeaks.push(`${path}: a ${hash} left`);
        continue;
      }
      if ([...(c.plaintextOutputs ?? []), ...(extra.inFiles ?? [])].includes(path)) {
        if ((statSync(full).mode & 0o777) !== 0o600) fileLeaks.push(`${path}: plaintext output is not 0600`);
        continue;
      }
      fileLeaks.push(...findCanaries(readFileSync(full), forbidden).map((f) => `${path}: ${f}`));
    }
    note('files', fileLeaks);
    note('scratch', [...after.keys()].filter((p) => isWaxScratchName(p.split('/').pop()!)).map((p) => `scratch file left: ${p}`));

    if (c.transientReport) {
      const reportPath = join(dir, c.transientReport);
      assert.ok(existsSync(reportPath), 'the child never reported the plaintext file');
      const [fileMode, dirMode, path] = readFileSync(reportPath, 'utf8').trim().split('\n');
      const problems: string[] = [];
      if (!/^600\b/.test(fileMode)) problems.push(`plaintext file mode ${fileMode}`);
      if (dirMode !== '700') problems.push(`plaintext directory mode ${dirMode}`);
      if (!path.startsWith(`${tmp}/`)) problems.push('plaintext file outside TMPDIR');
      if (existsSync(path) || existsSync(dirname(path))) problems.push('plaintext file still there');
      note('transient', problems);
    }
    c.check?.(ctx, result);
    runs.set(c.group, (runs.get(c.group) ?? 0) + 1);
    assert.deepEqual(leaks, [], `${c.group}: ${c.title}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function leakTest(c: LeakCase): void {
  test(`${c.group}: ${c.title}`, async (t) => {
    const command = c.group.split(' ')[0];
    if (!available.has(command)) {
      t.skip(`\`wax ${command}\` is not in this bundle yet`);
      return;
    }
    await runCase(c);
  });
}

const age = () => ['--age', template.key.recipient];
const wrongKey = () => ({ SOPS_AGE_KEY_FILE: template.wrongKey.keyFile });

// ------------------------------------------------------------------ encrypt

leakTest({ group: 'encrypt', title: 'to stdout', args: () => ['encrypt', ...age(), 'plain.yaml'], code: 0 });
leakTest({ group: 'encrypt', title: '-i (yaml, json, dotenv, binary)', args: () => ['encrypt', '-i', ...age(), 'plain.yaml', 'plain.json', 'plain.env', 'plain.bin'], code: 0 });
leakTest({ group: 'encrypt', title: '--output', args: () => ['encrypt', ...age(), '--output', 'out.yaml', 'plain.yaml'], code: 0 });
leakTest({ group: 'encrypt', title: 'standard input', args: () => ['encrypt', ...age(), '--input-type', 'yaml', '-'], input: PLAIN_YAML, code: 0 });
leakTest({ group: 'encrypt', title: 'invalid YAML with a value on the broken line (exit 26)', args: () => ['encrypt', ...age(), 'broken.yaml'], code: 26 });
leakTest({ group: 'encrypt', title: 'no key (exit 111)', args: ['encrypt', 'plain.yaml'], code: 111 });
leakTest({ group: 'encrypt', title: 'already encrypted (exit 203)', args: () => ['encrypt', ...age(), 'secret.yaml'], code: 203 });
leakTest({ group: 'encrypt', title: 'an RE2-invalid regex (exit 5)', args: () => ['encrypt', ...age(), '--encrypted-regex', '(?=x)', 'plain.yaml'], code: 5 });
leakTest({ group: 'encrypt', title: 'an unknown flag (exit 64)', args: () => ['encrypt', '--bogus', 'plain.yaml'], code: 64 });

// ------------------------------------------------------------------ decrypt

leakTest({ group: 'decrypt', title: 'to stdout (prints the values)', args: ['decrypt', 'secret.yaml'], code: 0, stdoutAllows: HELD.yaml });
leakTest({ group: 'decrypt', title: 'dotenv to stdout', args: ['decrypt', 'secrets.env'], code: 0, stdoutAllows: HELD.env });
leakTest({ group: 'decrypt', title: 'JSON to stdout', args: ['decrypt', 'secret.json'], code: 0, stdoutAllows: HELD.json });
leakTest({ group: 'decrypt', title: 'binary to stdout', args: ['decrypt', 'blob.bin'], code: 0, stdoutAllows: HELD.binary });
leakTest({ group: 'decrypt', title: '--extract prints that value only', args: ['decrypt', '--extract', '["password"]', 'secret.yaml'], code: 0, stdoutAllows: [C.password] });
leakTest({ group: 'decrypt', title: '--extract of a mapping prints its values only', args: ['decrypt', '--extract', '["api"]', 'secret.yaml'], code: 0, stdoutAllows: [C.token, C.nested] });
leakTest({ group: 'decrypt', title: '-i (plaintext in place, 0600)', args: ['decrypt', '-i', 'secret.yaml'], code: 0, plaintextOutputs: ['secret.yaml'] });
leakTest({ group: 'decrypt', title: '-i -r (plaintext in place, 0600)', args: ['decrypt', '-i', '-r', 'upd'], code: 0, plaintextOutputs: ['upd/secret.yaml'] });
leakTest({ group: 'decrypt', title: '--output (0600)', args: ['decrypt', '--output', 'out.yaml', 'secret.yaml'], code: 0, plaintextOutputs: ['out.yaml'] });
leakTest({ group: 'decrypt', title: 'the wrong key (exit 128)', args: ['decrypt', 'secret.yaml'], env: wrongKey, code: 128 });
leakTest({ group: 'decrypt', title: 'a tampered value (exit 25)', args: ['decrypt', 'tampered.yaml'], code: 25 });
leakTest({ group: 'decrypt', title: 'a MAC mismatch (exit 51)', args: ['decrypt', 'mac.yaml'], code: 51 });
leakTest({ group: 'decrypt', title: 'a plaintext file (exit 204)', args: ['decrypt', 'plain.yaml'], code: 204 });
leakTest({ group: 'decrypt', title: '--extract of a missing key (exit 91)', args: ['decrypt', '--extract', '["nope"]', 'secret.yaml'], code: 91 });
leakTest({ group: 'decrypt', title: '--as-secret prints the Secret', args: ['decrypt', '--as-secret', 'es.yaml'], code: 0, stdoutAllows: HELD.manifest });
leakTest({ group: 'decrypt', title: '--as-secret of a copy moved to another namespace (exit 25)', args: ['decrypt', '--as-secret', 'es-moved.yaml'], code: 25 });
leakTest({ group: 'decrypt', title: 'an unknown flag (exit 64)', args: ['decrypt', '--bogus', 'secret.yaml'], code: 64 });

// ------------------------------------------------------------------ edit

const editorReport = (name: string, change: string) =>
  script(template, name, `stat -c '%a' "$1" > "$REPORT"; stat -c '%a' "$(dirname "$1")" >> "$REPORT"; echo "$1" >> "$REPORT"; ${change}`);
const reportEnv = (editor: () => string) => (ctx: CaseContext) => ({ EDITOR: editor(), REPORT: join(ctx.dir, 'report.txt') });

leakTest({ group: 'edit', title: 'a change saved', args: ['edit', 'secret.yaml'], env: reportEnv(() => editorReport('edit-ok.sh', `sed -i 's/admin/root/' "$1"`)), code: 0, transientReport: 'report.txt' });
leakTest({ group: 'edit', title: 'dotenv, a change saved', args: ['edit', 'secrets.env'], env: reportEnv(() => editorReport('edit-env.sh', `echo 'NEW=1' >> "$1"`)), code: 0, transientReport: 'report.txt' });
leakTest({ group: 'edit', title: 'nothing changed (exit 200)', args: ['edit', 'secret.yaml'], env: reportEnv(() => editorReport('edit-same.sh', 'true')), code: 200, transientReport: 'report.txt' });
leakTest({
  group: 'edit',
  title: 'invalid YAML saved, with a value on the broken line (exit 26)',
  args: ['edit', 'secret.yaml'],
  env: reportEnv(() => editorReport('edit-broken.sh', `cp '${join(template.scripts, 'broken.yaml')}' "$1"`)),
  code: 26,
  transientReport: 'report.txt',
});
leakTest({ group: 'edit', title: 'the editor fails (exit 201)', args: ['edit', 'secret.yaml'], env: reportEnv(() => editorReport('edit-fail.sh', 'exit 3')), code: 201, transientReport: 'report.txt' });
leakTest({ group: 'edit', title: 'the wrong key (exit 128)', args: ['edit', 'secret.yaml'], env: () => ({ ...wrongKey(), EDITOR: 'true' }), code: 128 });
leakTest({
  group: 'edit',
  title: 'the file changed during the edit (exit 213, the edit kept encrypted)',
  args: ['edit', 'secret.yaml'],
  // The editor plays a second writer too: it replaces the original while wax waits for it.
  env: (ctx) => ({
    ...reportEnv(() => editorReport('edit-conflict.sh', `cp "$OTHER" "$ORIGINAL"; sed -i 's/admin/root/' "$1"`))(ctx),
    OTHER: join(ctx.dir, 'upd', 'secret.yaml'),
    ORIGINAL: join(ctx.dir, 'secret.yaml'),
  }),
  code: 213,
  check: (ctx) => assert.equal(readdirSync(ctx.dir).filter((name) => /^secret\.conflict-[0-9a-f]{6}\.yaml$/.test(name)).length, 1, 'the edit was not kept'),
  transientReport: 'report.txt',
});
leakTest({ group: 'edit', title: 'a new file from the example', args: () => ['edit', ...age(), 'new.yaml'], env: reportEnv(() => editorReport('edit-new.sh', `echo "password: ${C.password.value}" >> "$1"`)), code: 0, transientReport: 'report.txt' });

// ------------------------------------------------------------------ set / unset

leakTest({ group: 'set', title: 'a new value', args: ['set', 'secret.yaml', '["password"]', `"${C.stringData.value}"`], code: 0 });
leakTest({ group: 'set', title: '--value-stdin', args: ['set', '--value-stdin', 'secret.yaml', '["password"]'], input: `"${C.stringData.value}"`, code: 0 });
leakTest({ group: 'set', title: 'a value that is not JSON (exit 7, never echoed)', args: ['set', 'secret.yaml', '["password"]', C.stringData.value], code: 7 });
leakTest({ group: 'set', title: '-r over a directory', args: ['set', '-r', 'upd', '["added"]', `"${C.stringData.value}"`], code: 0 });
leakTest({ group: 'set', title: 'several files, some failing (exit 205)', args: ['set', 'secret.yaml', 'tampered.yaml', 'plain.yaml', '["added"]', `"${C.stringData.value}"`], code: 205 });
leakTest({
  group: 'set',
  title: 'a path the file leaves in clear (an EncryptedSecret top-level key): warned',
  args: ['set', 'es.yaml', '["metadata"]["labels"]["team"]', '"payments"'],
  code: 0,
  check: (_ctx, result) => assert.match(result.stderr, /wax: warning: es\.yaml: \["metadata"\]\["labels"\]\["team"\] is stored in clear: the file's encrypted_regex/),
});
leakTest({ group: 'set', title: 'the wrong key (exit 128)', args: ['set', 'secret.yaml', '["password"]', '"x"'], env: wrongKey, code: 128 });
leakTest({ group: 'set', title: 'a tampered file (exit 25)', args: ['set', 'tampered.yaml', '["password"]', '"x"'], code: 25 });
leakTest({ group: 'set', title: 'a MAC mismatch (exit 51)', args: ['set', 'mac.yaml', '["password"]', '"x"'], code: 51 });
leakTest({ group: 'set', title: 'a plaintext file (exit 204)', args: ['set', 'plain.yaml', '["password"]', '"x"'], code: 204 });
leakTest({ group: 'unset', title: 'a key removed', args: ['unset', 'secret.yaml', '["password"]'], code: 0 });
leakTest({ group: 'unset', title: 'a missing key (exit 91)', args: ['unset', 'secret.yaml', '["nope"]'], code: 91 });

// ------------------------------------------------------------------ rotate / updatekeys / filestatus

leakTest({ group: 'rotate', title: '-i', args: ['rotate', '-i', 'secret.yaml'], code: 0 });
leakTest({ group: 'rotate', title: 'to stdout (ciphertext)', args: ['rotate', 'secret.yaml'], code: 0 });
leakTest({ group: 'rotate', title: '-i -r with a tampered file among them (exit 205)', args: ['rotate', '-i', '-r', '.'], code: 205 });
leakTest({ group: 'rotate', title: '--add-age and --rm-age', args: () => ['rotate', '-i', '--add-age', template.wrongKey.recipient, '--rm-age', template.key.recipient, 'secret.json'], code: 0 });
leakTest({ group: 'rotate', title: 'the wrong key (exit 128)', args: ['rotate', '-i', 'secret.yaml'], env: wrongKey, code: 128 });
leakTest({ group: 'updatekeys', title: '-y', args: ['updatekeys', '-y', '--config', 'upd/.sops.yaml', 'upd/secret.yaml'], code: 0 });
leakTest({ group: 'updatekeys', title: 'without -y and without a terminal (exit 64)', args: ['updatekeys', '--config', 'upd/.sops.yaml', 'upd/secret.yaml'], code: 64 });
leakTest({ group: 'updatekeys', title: 'the wrong key (exit 205)', args: ['updatekeys', '-y', '--config', 'upd/.sops.yaml', 'upd/secret.yaml'], env: wrongKey, code: 205 });
leakTest({ group: 'filestatus', title: 'encrypted, plaintext and broken files', args: ['filestatus', 'secret.yaml', 'plain.yaml', 'broken.yaml', 'plain.env'], code: 0 });

// ------------------------------------------------------------------ exec-env / exec-file

leakTest({ group: 'exec-env', title: 'a command that prints nothing: wax itself prints nothing', args: ['exec-env', 'secrets.env', 'true'], code: 0 });
leakTest({ group: 'exec-env', title: 'the child prints a value (allowed on stdout)', args: ['exec-env', 'secrets.env', 'printf "%s" "$DOTENV"'], code: 0, stdoutAllows: [C.dotenv] });
leakTest({ group: 'exec-env', title: 'nested values are left out with a warning naming the key', args: ['exec-env', 'secret.yaml', 'true'], code: 0 });
leakTest({ group: 'exec-env', title: "the child's exit status", args: ['exec-env', '--pristine', 'secrets.env', 'exit 7'], code: 7 });
leakTest({ group: 'exec-env', title: 'the wrong key (exit 128)', args: ['exec-env', 'secrets.env', 'true'], env: wrongKey, code: 128 });
leakTest({ group: 'exec-file', title: 'the child reads the FIFO (allowed on stdout)', args: ['exec-file', 'secret.yaml', 'cat {}'], code: 0, stdoutAllows: HELD.yaml });
leakTest({
  group: 'exec-file',
  title: 'the FIFO: 0600 in a 0700 directory under TMPDIR, gone afterwards',
  args: ['exec-file', 'secret.yaml', `stat -c '%a %F' {} > report.txt; stat -c '%a' "$(dirname {})" >> report.txt; echo {} >> report.txt; cat {} > /dev/null`],
  code: 0,
  transientReport: 'report.txt',
});
leakTest({
  group: 'exec-file',
  title: '--no-fifo: a 0600 file in a 0700 directory under TMPDIR, gone afterwards',
  args: ['exec-file', '--no-fifo', 'secret.yaml', `stat -c '%a' {} > report.txt; stat -c '%a' "$(dirname {})" >> report.txt; echo {} >> report.txt`],
  code: 0,
  transientReport: 'report.txt',
});
leakTest({ group: 'exec-file', title: 'the child fails', args: ['exec-file', 'secret.yaml', 'exit 4'], code: 4 });
leakTest({ group: 'exec-file', title: 'the wrong key (exit 128)', args: ['exec-file', 'secret.yaml', 'cat {}'], env: wrongKey, code: 128 });

// ------------------------------------------------------------------ keygen

function newIdentity(text: string): Canary[] {
  const value = /^AGE-SECRET-KEY-1[0-9A-Z]+$/m.exec(text)?.[0];
  assert.ok(value, 'keygen wrote no identity');
  return [{ name: 'the new age identity', value }];
}

leakTest({ group: 'keygen', title: 'to stdout (prints the new key, nowhere else)', args: ['keygen'], code: 0, runCanaries: (_ctx, r) => ({ canaries: newIdentity(r.stdout), onStdout: true }) });
leakTest({
  group: 'keygen',
  title: '-o FILE (0600; the key is nowhere else)',
  args: ['keygen', '-o', 'keys/new.txt'],
  code: 0,
  runCanaries: (ctx) => ({ canaries: newIdentity(readFileSync(join(ctx.dir, 'keys/new.txt'), 'utf8')), onStdout: false, inFiles: ['keys/new.txt'] }),
  check: (ctx) => assert.equal(statSync(join(ctx.dir, 'keys')).mode & 0o777, 0o700),
});
leakTest({ group: 'keygen', title: '-o onto an existing key file (exit 64)', args: ['keygen', '-o', 'key.txt'], code: 64 });

// ------------------------------------------------------------------ seal

leakTest({ group: 'seal', title: 'to stdout', args: () => ['seal', ...age(), 'manifest.yaml'], code: 0 });
leakTest({ group: 'seal', title: '-i', args: () => ['seal', '-i', ...age(), 'manifest.yaml'], code: 0 });
leakTest({ group: 'seal', title: '--output', args: () => ['seal', ...age(), '--output', 'sealed.yaml', 'manifest.yaml'], code: 0 });
leakTest({ group: 'seal', title: 'not a Secret, holding a value (exit 26)', args: () => ['seal', ...age(), 'configmap.yaml'], code: 26 });
leakTest({ group: 'seal', title: 'no key (exit 111)', args: ['seal', 'manifest.yaml'], code: 111 });

// ------------------------------------------------------------------ scan / hook (issue 5)

leakTest({ group: 'scan', title: 'plaintext secrets found (exit 1), text', args: ['scan', 'plain.yaml', 'plain.env', 'plain.json', 'manifest.yaml'], code: 1 });
leakTest({ group: 'scan', title: 'json report', args: ['scan', '--format', 'json', 'plain.yaml', 'manifest.yaml'], code: 1 });
leakTest({ group: 'scan', title: 'sarif report', args: ['scan', '--format', 'sarif', 'plain.yaml', 'manifest.yaml'], code: 1 });
leakTest({ group: 'scan', title: 'standard input', args: ['scan', '-', '--stdin-filename', 'x.yaml'], input: MANIFEST, code: 1 });
leakTest({ group: 'scan', title: '--entropy', args: ['scan', '--entropy', 'plain.yaml'], code: 1 });
leakTest({ group: 'scan', title: '--write-baseline stores fingerprints only', args: ['scan', '--write-baseline', 'baseline.json', 'plain.yaml', 'manifest.yaml'], code: 0 });
leakTest({ group: 'scan', title: 'encrypted files are clean (exit 0)', args: ['scan', 'secret.yaml', 'secret.json', 'secrets.env', 'es.yaml'], code: 0 });
leakTest({ group: 'scan', title: 'an unknown flag (exit 2)', args: ['scan', '--bogus', 'plain.yaml'], code: 2 });

async function gitHookRun(ctx: CaseContext): Promise<RunResult> {
  const git = (args: string[]) => spawnSync('git', args, { cwd: ctx.dir, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
  assert.equal(git(['init', '-q']).status, 0);
  const install = await runWaxAsync(['hook', 'install'], { cwd: ctx.dir, env: { TMPDIR: ctx.tmp } });
  assert.equal(install.code, 0, install.stderr);
  git(['add', 'plain.yaml', 'manifest.yaml']);
  const commit = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'secrets'], {
    cwd: ctx.dir,
    encoding: 'utf8',
    env: { ...process.env, TMPDIR: ctx.tmp, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  // The commit was blocked; git's own files (.git/) hold the staged plaintext by design.
  rmSync(join(ctx.dir, '.git'), { recursive: true, force: true });
  return { code: commit.status ?? 128, stdout: install.stdout + commit.stdout, stderr: install.stderr + commit.stderr, signal: null };
}

leakTest({ group: 'hook', title: 'install, then a commit of plaintext secrets is blocked', args: [], custom: gitHookRun, code: 1 });

// ------------------------------------------------------------------ status / wait and the controller

const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/main.js', import.meta.url));
const b64 = (text: string) => Buffer.from(text).toString('base64');

interface ControllerRun {
  fake: FakeApiServer;
  kubeconfig: string;
  stdout: () => string;
  stderr: () => string;
  metricsPort: () => number | undefined;
  stop: () => Promise<void>;
}

async function startControllerProcess(dir: string): Promise<ControllerRun> {
  const fake = await startFakeApiServer();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, fake.kubeconfigYaml('payments'));
  let stdout = '';
  let stderr = '';
  const child = spawn(process.execPath, [CONTROLLER_MAIN, '--kubeconfig', kubeconfig, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--no-leader-elect', '--resync', '2s'], {
    env: { PATH: process.env.PATH, HOME: dir, SOPS_AGE_KEY_FILE: template.key.keyFile, XDG_CONFIG_HOME: join(dir, 'none'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    fake,
    kubeconfig,
    stdout: () => stdout,
    stderr: () => stderr,
    metricsPort: () => {
      const line = stdout.split('\n').find((l) => l.includes('"servers listening"'));
      return line ? (JSON.parse(line).metricsPort as number) : undefined;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await fake.close();
    },
  };
}

async function api(fake: FakeApiServer, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${fake.url}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json' } });
  return (await res.json()) as Record<string, any>;
}

const esPath = (ns: string, name = '') => `/apis/wax.dev/v1alpha1/namespaces/${ns}/encryptedsecrets${name ? `/${name}` : ''}`;

async function sealed(name: string, namespace: string, recipient: string): Promise<Record<string, any>> {
  const manifest = parseYaml(MANIFEST);
  manifest.metadata = { name, namespace };
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], { env: {} });
  return parseYaml((await sealSecret(manifest, { keyGroups, scope: 'strict' })).toString());
}

function flipFirstValue(object: Record<string, any>): Record<string, any> {
  const text = JSON.stringify(object).replace(/ENC\[AES256_GCM,data:([^,]+),/, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `ENC[AES256_GCM,data:${bytes.toString('base64')},`;
  });
  return JSON.parse(text);
}

test('controller, status and wait: values only in the Secret data; not in logs, Events, status, /metrics or CLI output', async (t) => {
  const dir = join(template.dir, '..', 'controller');
  mkdirSync(dir);
  const run = await startControllerProcess(dir);
  t.after(() => run.stop());
  const { fake } = run;
  const recipient = template.key.recipient;
  // Decrypted; moved to another namespace (ScopeMismatch); tampered (IntegrityError); for a key
  // the controller lacks (KeyUnavailable); and an unowned Secret in the way (SecretConflict).
  const objects: [string, Record<string, any>][] = [
    ['payments', await sealed('db', 'payments', recipient)],
    ['elsewhere', await sealed('db', 'payments', recipient)],
    ['payments', flipFirstValue(await sealed('tampered', 'payments', recipient))],
    ['payments', await sealed('nokey', 'payments', template.wrongKey.recipient)],
    ['payments', await sealed('taken', 'payments', recipient)],
  ];
  await api(fake, 'POST', '/api/v1/namespaces/payments/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'taken' }, data: { theirs: b64('not-a-canary') } });
  for (const [ns, object] of objects) {
    const created = await api(fake, 'POST', esPath(ns), { ...object, metadata: { ...object.metadata, namespace: ns } });
    assert.equal(created.kind, 'EncryptedSecret', JSON.stringify(created.status ?? created.message ?? ''));
  }
  const expected: Record<string, string> = { 'payments/db': 'Decrypted', 'elsewhere/db': 'ScopeMismatch', 'payments/tampered': 'IntegrityError', 'payments/nokey': 'KeyUnavailable', 'payments/taken': 'SecretConflict' };
  const reasons = () => Object.fromEntries(Object.keys(expected).map((key) => {
    const [ns, name] = key.split('/');
    const es = fake.peek('encryptedsecrets', ns, name);
    return [key, (es?.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.reason];
  }));
  for (let i = 0; i < 300 && JSON.stringify(reasons()) !== JSON.stringify(expected); i++) await delay(50);
  assert.deepEqual(reasons(), expected);

  // The CLI against this cluster.
  const cli = async (title: string, group: string, args: string[], code: number) => {
    const result = await runWaxAsync([...args, '--kubeconfig', run.kubeconfig], { cwd: dir, env: { KUBECONFIG: undefined, TMPDIR: dir } });
    assert.equal(result.code, code, `${group} ${title}: ${result.stderr}`);
    for (const channel of ['stdout', 'stderr'] as const) {
      assert.deepEqual(findCanaries(result[channel], [...ALL_CANARIES, identity]), [], `${group} ${title}: ${channel}`);
      count(group, channel);
    }
    runs.set(group, (runs.get(group) ?? 0) + 1);
  };
  await cli('-A', 'status', ['status', '-A'], 0);
  await cli('-A -o json', 'status', ['status', '-A', '-o', 'json'], 0);
  await cli('one name', 'status', ['status', '-n', 'payments', 'db', 'nokey'], 0);
  await cli('Ready', 'wait', ['wait', '-n', 'payments', 'db', '--timeout', '10s'], 0);
  await cli('a permanent failure (exit 211)', 'wait', ['wait', '-n', 'payments', 'tampered', '--timeout', '10s'], 211);
  await cli('a timeout (exit 212)', 'wait', ['wait', '-n', 'payments', 'nokey', '--timeout', '2s'], 212);

  // The controller's own channels.
  const port = run.metricsPort();
  assert.ok(port, 'the controller never logged its metrics port');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /wax_reconcile_total/);
  const events = await api(fake, 'GET', '/api/v1/events');
  assert.ok((events.items ?? []).length >= 4, 'the controller recorded no Events');
  const statuses = Object.keys(expected).map((key) => fake.peek('encryptedsecrets', ...(key.split('/') as [string, string]))?.status);
  await run.stop();
  const channels: [Channel, string][] = [
    ['logs (stdout)', run.stdout()],
    ['logs (stderr)', run.stderr()],
    ['Events', JSON.stringify(events)],
    ['status', JSON.stringify(statuses)],
    ['/metrics', metrics],
  ];
  assert.ok(run.stdout().includes('"reconciled"'), 'no reconcile was logged');
  for (const [channel, text] of channels) {
    assert.deepEqual(findCanaries(text, [...ALL_CANARIES, identity]), [], `controller: ${channel}`);
    count('controller', channel);
  }
  // The one place the values belong, exactly.
  const secret = fake.peek('secrets', 'payments', 'db')!;
  assert.deepEqual(secret.data, { 'data-value': b64(C.secretData.value), password: b64(C.stringData.value) });
  assert.equal(fake.peek('secrets', 'elsewhere', 'db'), undefined);
  assert.deepEqual(fake.peek('secrets', 'payments', 'taken')!.data, { theirs: b64('not-a-canary') });
  count('controller', 'Secret data');
  runs.set('controller', 1);
});

// ------------------------------------------------------------------ the harness can fail

test('self-check: a leak planted in each channel is reported by name, never by value', async () => {
  const planted: LeakCase = {
    group: 'self-check',
    title: 'planted leaks',
    args: [],
    code: 0,
    transientReport: 'report.txt',
    custom: async (ctx) => {
      mkdirSync(join(ctx.tmp, 'wax-left'), { mode: 0o755 });
      writeFileSync(join(ctx.dir, 'dump.txt'), `token=${C.token.value}\n`);
      writeFileSync(join(ctx.dir, '.secret.yaml.wax-lock'), '{}');
      writeFileSync(join(ctx.dir, 'report.txt'), `644\n755\n${join(ctx.tmp, 'wax-left', 'f')}\n`);
      return { code: 0, stdout: `${C.password.value}\n`, stderr: `error near ${Buffer.from(C.awsSecret.value).toString('base64')}\n${identity.value.slice(2)}`, signal: null };
    },
  };
  const error = await runCase(planted).then(() => undefined, (e: Error) => e);
  assert.ok(error, 'the planted leaks were not found');
  const text = error.message;
  for (const expected of [
    'stdout: password (plain)', 'stderr: AWS secret key (base64)', 'stderr: age identity (part)', 'TMPDIR: left in TMPDIR: wax-left',
    'files: dump.txt: token (plain)', 'scratch: scratch file left: .secret.yaml.wax-lock',
    'transient: plaintext file mode 644', 'transient: plaintext directory mode 755', 'transient: plaintext file still there',
  ]) assert.ok(text.includes(expected), `not reported: ${expected}`);
  for (const canary of [...ALL_CANARIES, identity]) assert.ok(!text.includes(canary.value), 'the report itself holds a value');
  tally.delete('self-check');
});

// ------------------------------------------------------------------ the report

test('report: commands × channels checked, zero leaks', (t) => {
  const columns: Channel[] = [...CHANNELS, 'logs (stdout)', 'logs (stderr)', 'Events', 'status', '/metrics', 'Secret data'];
  const used = columns.filter((c) => [...tally.values()].some((row) => row.has(c)));
  const lines = [`| command | runs | ${used.join(' | ')} |`, `|---|---|${used.map(() => '---').join('|')}|`];
  for (const [group, row] of tally) lines.push(`| ${group} | ${runs.get(group) ?? 0} | ${used.map((c) => (row.has(c) ? `${row.get(c)} ✓` : '—')).join(' | ')} |`);
  const missing = [...available].filter((name) => !['help'].includes(name) && !tally.has(name) && !(name === 'hook' && tally.has('hook')));
  lines.push('', `commands in \`wax --help\` without a run: ${missing.length ? missing.join(', ') : 'none'}`);
  for (const line of lines) t.diagnostic(line);
  if (process.env.WAX_LEAK_REPORT) writeFileSync(process.env.WAX_LEAK_REPORT, `${lines.join('\n')}\n`);
  assert.deepEqual(missing, [], 'some commands were never run by the harness');
});

