/**
 * The scan engine and its sources, in-process: what is listed, what is read (git's index
 * for --staged, never the working tree), what is skipped and counted, how creation rules
 * are matched, and that no raw value survives past the engine. The detectors here are
 * small stand-ins, so that these tests say what the engine does, whatever the real ones do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, FileNotFoundError, UsageError } from '../../src/errors.js';
import { GitError, sinceSource, stagedSource, trackedSource, BlobReader } from '../../src/scan/git.js';
import { DetectorError, scan, type ScanSettings } from '../../src/scan/scanner.js';
import { pathsSource, stdinSource, type ScanSource } from '../../src/scan/sources.js';
import { encryptHint, type Detector, type RawFinding } from '../../src/scan/types.js';
import { git, ISOLATED_GIT_ENV } from '../support/git.js';

// The developer's git configuration must not change what these repositories do.
// (the sources under test spawn git from this process, so its own environment is set).
for (const [name, value] of Object.entries(ISOLATED_GIT_ENV)) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

const SECRET = 'hunter2-correct-horse-battery';
const OTHER_SECRET = 'tr0ub4dor-and-3-more-words';

/** Flags `password: VALUE` unless VALUE is `ENC[…]`: a stand-in for the real detectors. */
const passwordDetector: Detector = {
  id: 'test-password',
  detect(target, text) {
    const out: RawFinding[] = [];
    text.split('\n').forEach((line, index) => {
      const match = /password:\s*(\S+)/.exec(line);
      if (!match || match[1].startsWith('ENC[')) return;
      out.push({
        ruleId: 'test/password',
        line: index + 1,
        column: match.index + match[0].indexOf(match[1]) + 1,
        value: match[1],
        message: 'plaintext password',
        hint: encryptHint(target.path),
      });
    });
    return out;
  },
};

/** Reports what `passwordDetector` reports under another rule: the duplicate must be dropped. */
const echoDetector: Detector = {
  id: 'test-echo',
  async detect(target, text, context) {
    const found = await passwordDetector.detect(target, text, context);
    return found.map((raw) => ({ ...raw, ruleId: 'test/echo' }));
  },
};

/** Reports, for each file, the index of the creation rule that covers it. */
const coverageDetector: Detector = {
  id: 'test-coverage',
  async detect(target, _text, context) {
    const rule = await context.creationRuleFor(target.path);
    if (!rule) return [];
    return [{ ruleId: `test/rule-${rule.index}`, line: 1, column: 1, value: target.path, message: 'covered', hint: encryptHint(target.path) }];
  },
};

function settings(extra: Partial<ScanSettings> = {}): ScanSettings {
  return { detectors: [passwordDetector], options: { entropy: false }, ...extra };
}

async function scanAndClose(source: ScanSource, extra: Partial<ScanSettings> = {}) {
  try {
    return await scan(source, settings(extra));
  } finally {
    source.close();
  }
}

async function withDir(fn: (dir: string) => unknown): Promise<void> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wax-engine-')));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(dir: string, path: string, content: string | Buffer): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), content);
}

test('paths: directories are walked without .git and node_modules; findings sorted by path and line', () =>
  withDir(async (dir) => {
    write(dir, 'b.yaml', `a: 1\npassword: ${SECRET}\n`);
    write(dir, 'a/z.yaml', `password: ${OTHER_SECRET}\nx: 1\npassword: ${SECRET}\n`);
    write(dir, 'a/clean.yaml', 'password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n');
    write(dir, '.git/config.yaml', `password: ${SECRET}\n`);
    write(dir, 'node_modules/pkg/x.yaml', `password: ${SECRET}\n`);
    const result = await scanAndClose(pathsSource([], dir));
    assert.deepEqual(
      result.findings.map((f) => `${f.path}:${f.line}:${f.column}`),
      ['a/z.yaml:1:11', 'a/z.yaml:3:11', 'b.yaml:2:11'],
    );
    assert.equal(result.summary.files, 3);
    assert.equal(result.summary.scanned, 3);
    assert.equal(result.summary.findings, 3);
    assert.equal(result.summary.filesWithFindings, 2);
  }));

test('findings carry a masked value and the documented fingerprint; the raw value leaves nowhere', () =>
  withDir(async (dir) => {
    write(dir, 'x.yaml', `password: ${SECRET}\n`);
    const result = await scanAndClose(pathsSource(['x.yaml'], dir));
    const [finding] = result.findings;
    assert.deepEqual(Object.keys(finding).sort(), ['column', 'fingerprint', 'hint', 'line', 'masked', 'message', 'path', 'ruleId']);
    assert.equal(finding.masked, 'hu****************ry');
    const expected = createHash('sha256').update(`wax-scan-v1\0test/password\0x.yaml\0${SECRET}`).digest('hex');
    assert.equal(finding.fingerprint, expected);
    assert.equal(finding.hint, 'run: wax encrypt -i x.yaml');
    assert.ok(!JSON.stringify(result).includes(SECRET));
  }));

test('the same value on the same line is reported once, by the first detector', () =>
  withDir(async (dir) => {
    write(dir, 'x.yaml', `password: ${SECRET}\n`);
    const result = await scanAndClose(pathsSource([dir]), { detectors: [echoDetector, passwordDetector] });
    assert.deepEqual(result.findings.map((f) => f.ruleId), ['test/echo']);
  }));

test('binary files and files over the size limit are skipped and counted, not scanned', () =>
  withDir(async (dir) => {
    write(dir, 'image.bin', Buffer.concat([Buffer.from(`password: ${SECRET}\n`), Buffer.from([0, 1, 2])]));
    write(dir, 'big.log', `password: ${SECRET}\n${'x'.repeat(2000)}\n`);
    write(dir, 'small.yaml', `password: ${SECRET}\n`);
    const result = await scanAndClose(pathsSource([], dir), { maxFileBytes: 1000 });
    assert.deepEqual(result.findings.map((f) => f.path), ['small.yaml']);
    assert.equal(result.summary.scanned, 1);
    assert.equal(result.summary.binary, 1);
    assert.deepEqual(result.summary.tooLarge, ['big.log']);
    assert.equal(result.summary.skipped, 2);
  }));

test('a NUL byte after the first 8 KB does not make a file binary', () =>
  withDir(async (dir) => {
    write(dir, 'x.txt', Buffer.concat([Buffer.from(`password: ${SECRET}\n${'y'.repeat(9000)}`), Buffer.from([0])]));
    const result = await scanAndClose(pathsSource([], dir));
    assert.equal(result.summary.binary, 0);
    assert.equal(result.findings.length, 1);
  }));

test('symbolic links: not followed by the walk or in git modes, followed when named on the command line', () =>
  withDir(async (dir) => {
    write(dir, 'outside/target.yaml', `password: ${SECRET}\n`);
    mkdirSync(join(dir, 'repo'));
    symlinkSync(join(dir, 'outside/target.yaml'), join(dir, 'repo/link.yaml'));
    const walked = await scanAndClose(pathsSource([], join(dir, 'repo')));
    assert.equal(walked.summary.files, 0);
    const named = await scanAndClose(pathsSource(['link.yaml'], join(dir, 'repo')));
    assert.deepEqual(named.findings.map((f) => f.path), ['link.yaml']);
    git(join(dir, 'repo'), 'init', '-q');
    git(join(dir, 'repo'), 'add', '.');
    const tracked = await scanAndClose(await trackedSource([], join(dir, 'repo')));
    assert.equal(tracked.summary.files, 1);
    assert.equal(tracked.summary.scanned, 0, 'a tracked link is not read through');
    const staged = await scanAndClose(await stagedSource([], join(dir, 'repo')));
    assert.equal(staged.summary.files, 0, 'a staged link holds a path, not content');
  }));

test('--all answers whether a file exists from git, as --staged does: an untracked file is no twin of a tracked one', () =>
  withDir(async (dir) => {
    write(dir, 'secret.yaml', `password: ${SECRET}\n`);
    write(dir, 'untracked.enc.yaml', 'not in the repository\n');
    write(dir, 'other.enc.yaml', 'in the repository\n');
    git(dir, 'init', '-q');
    git(dir, 'add', 'secret.yaml', 'other.enc.yaml');
    const asked: Record<string, boolean> = {};
    const probe: Detector = {
      id: 'probe',
      detect(target, _text, context) {
        for (const name of ['untracked.enc.yaml', 'other.enc.yaml', 'missing.yaml']) asked[name] = context.exists(name);
        return [];
      },
    };
    await scanAndClose(await trackedSource(['secret.yaml'], dir), { detectors: [probe] });
    assert.deepEqual(asked, { 'untracked.enc.yaml': false, 'other.enc.yaml': true, 'missing.yaml': false });
  }));

test('a path that does not exist is an error, not a clean scan', () =>
  withDir(async (dir) => {
    await assert.rejects(scanAndClose(pathsSource(['nope.yaml'], dir)), FileNotFoundError);
  }));

test('a detector that crashes, in detect or in mayFind (at once or later), fails the scan with its id and the path, without its own message', () =>
  withDir(async (dir) => {
    write(dir, 'x.yaml', `password: ${SECRET}\n`);
    const crash = (error: Error) => () => {
      throw error;
    };
    const crashing: [Detector, string][] = [
      [{ id: 'crashing', detect: crash(new TypeError(`cannot handle ${SECRET}`)) }, 'TypeError'],
      [{ ...passwordDetector, id: 'crashing-early', mayFind: crash(new RangeError(`cannot handle ${SECRET}`)) }, 'RangeError'],
      [{ ...passwordDetector, id: 'crashing-later', mayFind: async () => crash(new SyntaxError(`cannot handle ${SECRET}`))() }, 'SyntaxError'],
    ];
    for (const [detector, kind] of crashing) {
      await assert.rejects(scanAndClose(pathsSource([], dir), { detectors: [detector] }), (error: unknown) => {
        assert.ok(error instanceof DetectorError);
        assert.equal(error.message, `x.yaml: the ${detector.id} detector failed (${kind})`);
        assert.ok(!error.message.includes(SECRET));
        return true;
      });
    }
  }));

test('a detector whose mayFind says no (at once or later) is not asked, and a file no detector may find anything in still counts as scanned', () =>
  withDir(async (dir) => {
    write(dir, 'a.yaml', `password: ${SECRET}\n`);
    write(dir, 'b.yaml', `password: ${OTHER_SECRET}\n`);
    const asked: string[] = [];
    const only = (path: string, answer: (yes: boolean) => boolean | Promise<boolean>): Detector => ({
      id: `only-${path}`,
      mayFind: (target) => answer(target.path.endsWith(path)),
      detect: (target, text, context) => {
        asked.push(`${path}:${target.path}`);
        return passwordDetector.detect(target, text, context);
      },
    });
    const result = await scanAndClose(pathsSource([], dir), { detectors: [only('a.yaml', (yes) => yes), only('b.yaml', async (yes) => yes)] });
    assert.deepEqual(asked.sort(), ['a.yaml:a.yaml', 'b.yaml:b.yaml']);
    assert.deepEqual(
      result.findings.map((f) => f.path),
      ['a.yaml', 'b.yaml'],
    );
    const none = await scanAndClose(pathsSource([], dir), { detectors: [{ ...passwordDetector, mayFind: () => false }] });
    assert.deepEqual([none.findings.length, none.summary.scanned], [0, 2]);
  }));

test('creation rules: first path_regex match relative to the config directory; a rule without path_regex ends the walk', () =>
  withDir(async (dir) => {
    write(
      dir,
      '.sops.yaml',
      [
        'creation_rules:',
        '  - path_regex: ^secrets/.*\\.yaml$',
        '    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29',
        '  - path_regex: (^|/)prod/',
        '    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29',
        '  - age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29',
        '  - path_regex: ^later/',
        '    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29',
        '',
      ].join('\n'),
    );
    write(dir, 'secrets/a.yaml', 'a: 1\n');
    write(dir, 'secrets/prod/b.yaml', 'a: 1\n');
    write(dir, 'apps/prod/c.yaml', 'a: 1\n');
    write(dir, 'later/d.yaml', 'a: 1\n');
    write(dir, 'apps/e.yaml', 'a: 1\n');
    // Scanned from a subdirectory: paths print relative to it, rules match relative to the config.
    const result = await scanAndClose(pathsSource(['..'], join(dir, 'apps')), { detectors: [coverageDetector] });
    assert.deepEqual(
      result.findings.map((f) => `${f.path} ${f.ruleId}`),
      ['../apps/prod/c.yaml test/rule-1', '../secrets/a.yaml test/rule-0', '../secrets/prod/b.yaml test/rule-0'],
    );
  }));

test('a broken .sops.yaml fails the scan with a ConfigError naming the file', () =>
  withDir(async (dir) => {
    write(dir, '.sops.yaml', 'creation_rules: [unclosed\n');
    write(dir, 'x.yaml', 'a: 1\n');
    await assert.rejects(scanAndClose(pathsSource([], dir)), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`^${join(dir, '.sops.yaml')}: `));
      return true;
    });
    write(dir, '.sops.yaml', 'creation_rules:\n  - path_regex: (?<=x)y\n    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\n');
    await assert.rejects(scanAndClose(pathsSource([], dir)), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /\.sops\.yaml: creation_rules\[0\]: path_regex/);
      return true;
    });
  }));

test('standard input: scanned under its given name; other paths come from the working tree', () =>
  withDir(async (dir) => {
    write(dir, 'twin.yaml', 'a: 1\n');
    const seen: string[] = [];
    const probe: Detector = {
      id: 'probe',
      async detect(target, _text, context) {
        seen.push(`${target.path} self=${context.exists(target.path)} twin=${context.exists('twin.yaml')} missing=${context.exists('nope')}`);
        seen.push(`read=${(await context.read('twin.yaml'))?.toString()}`);
        return [];
      },
    };
    const source = stdinSource(Buffer.from(`password: ${SECRET}\n`), 'deploy/secret.yaml', dir);
    const result = await scanAndClose(source, { detectors: [probe, passwordDetector] });
    assert.deepEqual(result.findings.map((f) => `${f.path}:${f.line}`), ['deploy/secret.yaml:1']);
    assert.deepEqual(seen, ['deploy/secret.yaml self=true twin=true missing=false', 'read=a: 1\n']);
    assert.throws(() => stdinSource(Buffer.from(''), ''), UsageError);
  }));

test('--staged: the index content counts, not the working tree', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    // Plaintext staged, then encrypted in the working tree only: still blocked.
    write(dir, 'leaky.yaml', `password: ${SECRET}\n`);
    // Encrypted staged, then a plaintext edit left unstaged: passes.
    write(dir, 'fine.yaml', 'password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n');
    git(dir, 'add', '.');
    write(dir, 'leaky.yaml', 'password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n');
    write(dir, 'fine.yaml', `password: ${OTHER_SECRET}\n`);
    const result = await scanAndClose(await stagedSource([], dir));
    assert.deepEqual(result.findings.map((f) => `${f.path}:${f.line}`), ['leaky.yaml:1']);
    assert.equal(result.summary.files, 2);
  }));

test('--staged: only added, copied, modified and renamed files; paths restrict the set; sub-directory cwd', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, 'old.yaml', `password: ${SECRET}\n`);
    write(dir, 'gone.yaml', `password: ${SECRET}\n`);
    write(dir, 'moved.yaml', `password: ${OTHER_SECRET}\n`);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'first');
    git(dir, 'rm', '-q', 'gone.yaml');
    write(dir, 'sub/new.yaml', `password: ${SECRET}\n`);
    git(dir, 'mv', 'moved.yaml', 'sub/renamed.yaml');
    write(dir, 'untracked.yaml', `password: ${SECRET}\n`);
    git(dir, 'add', 'sub/new.yaml');
    const all = await scanAndClose(await stagedSource([], dir));
    assert.deepEqual(all.findings.map((f) => f.path), ['sub/new.yaml', 'sub/renamed.yaml']);
    // pre-commit passes file names; from a sub-directory they are relative to it.
    const restricted = await scanAndClose(await stagedSource(['new.yaml', 'old.yaml'], join(dir, 'sub')));
    assert.deepEqual(restricted.findings.map((f) => f.path), ['sub/new.yaml']);
    const byDirectory = await scanAndClose(await stagedSource(['sub'], dir));
    assert.equal(byDirectory.findings.length, 2);
    await assert.rejects(stagedSource(['/etc/passwd'], dir), UsageError);
  }));

test('--staged: exists and read answer from the index', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, 'a.yaml', 'a: staged\n');
    write(dir, 'b.yaml', 'b: 1\n');
    git(dir, 'add', '.');
    unlinkSync(join(dir, 'b.yaml'));
    write(dir, 'a.yaml', 'a: working tree\n');
    write(dir, 'untracked.yaml', 'c: 1\n');
    const answers: string[] = [];
    const probe: Detector = {
      id: 'probe',
      async detect(target, text, context) {
        if (target.path !== 'a.yaml') return [];
        answers.push(text, String(context.exists('b.yaml')), String(context.exists('untracked.yaml')));
        answers.push(String(await context.read('b.yaml')), String(await context.read('untracked.yaml')));
        return [];
      },
    };
    await scanAndClose(await stagedSource([], dir), { detectors: [probe] });
    assert.deepEqual(answers, ['a: staged\n', 'true', 'false', 'b: 1\n', 'undefined']);
  }));

test('--staged: the .sops.yaml and .waxignore that count are the staged ones', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, '.sops.yaml', 'creation_rules:\n  - path_regex: ^staged/\n    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\n');
    write(dir, '.waxignore', 'ignored-in-index/\n');
    write(dir, 'staged/a.yaml', 'a: 1\n');
    write(dir, 'tree/b.yaml', 'b: 1\n');
    write(dir, 'ignored-in-index/c.yaml', `password: ${SECRET}\n`);
    write(dir, 'ignored-in-tree/d.yaml', `password: ${SECRET}\n`);
    git(dir, 'add', '.');
    write(dir, '.sops.yaml', 'creation_rules:\n  - path_regex: ^tree/\n    age: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\n');
    write(dir, '.waxignore', 'ignored-in-tree/\n');
    const result = await scanAndClose(await stagedSource([], dir), { detectors: [coverageDetector, passwordDetector] });
    assert.deepEqual(result.findings.map((f) => `${f.path} ${f.ruleId}`), ['ignored-in-tree/d.yaml test/password', 'staged/a.yaml test/rule-0']);
    // A broken staged config is named as such, not by a temporary file.
    write(dir, '.sops.yaml', 'creation_rules: [unclosed\n');
    git(dir, 'add', '.sops.yaml');
    write(dir, '.sops.yaml', 'creation_rules: []\n');
    await assert.rejects(scanAndClose(await stagedSource([], dir)), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^\.sops\.yaml \(staged\): /);
      assert.ok(!error.message.includes(tmpdir()), error.message);
      return true;
    });
  }));

test('--staged: many blobs, an empty one and a large one through a single cat-file', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    const expected = new Map<string, string>();
    for (let i = 0; i < 150; i++) expected.set(`f${String(i).padStart(3, '0')}.txt`, `file ${i}\n${'z'.repeat(i * 37)}\n`);
    expected.set('empty.txt', '');
    expected.set('large.txt', `${'0123456789abcdef'.repeat(200_000)}\n`);
    for (const [path, content] of expected) write(dir, path, content);
    git(dir, 'add', '.');
    const seen = new Map<string, string>();
    const recorder: Detector = {
      id: 'recorder',
      detect(target, text) {
        seen.set(target.path, text);
        return [];
      },
    };
    const result = await scanAndClose(await stagedSource([], dir), { detectors: [recorder] });
    assert.equal(result.summary.scanned, expected.size);
    assert.deepEqual(new Map([...seen].sort()), new Map([...expected].sort()));
  }));

test('BlobReader: a missing object answers undefined, and the reader goes on', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, 'a.txt', 'hello\n');
    git(dir, 'add', '.');
    const object = git(dir, 'rev-parse', ':a.txt').trim();
    const reader = new BlobReader(dir);
    try {
      const [missing, found] = await Promise.all([reader.read('0'.repeat(40)), reader.read(object)]);
      assert.equal(missing, undefined);
      assert.equal(found?.toString(), 'hello\n');
    } finally {
      reader.close();
    }
  }));

test('--all: every tracked file from the working tree, untracked ones left out', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, 'a.yaml', 'a: 1\n');
    write(dir, 'deleted.yaml', `password: ${SECRET}\n`);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'first');
    write(dir, 'a.yaml', `password: ${SECRET}\n`);
    unlinkSync(join(dir, 'deleted.yaml'));
    write(dir, 'untracked.yaml', `password: ${SECRET}\n`);
    const result = await scanAndClose(await trackedSource([], dir));
    assert.deepEqual(result.findings.map((f) => f.path), ['a.yaml']);
    assert.equal(result.summary.files, 2);
    assert.equal(result.summary.scanned, 1);
  }));

test('--all: files read into the shared scratch buffer keep their own bytes while detectors wait', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    const files = Array.from({ length: 24 }, (_, i) => `f${String(i).padStart(2, '0')}.yaml`);
    // Every other file holds nothing the detector wants: its load overwrites the scratch buffer.
    files.forEach((name, i) => write(dir, name, i % 2 === 0 ? `password: value-of-${name}-${'x'.repeat(i * 37)}\n` : `note: ${'y'.repeat(500 + i)}\n`));
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'files');
    const slow: Detector = {
      id: 'slow',
      // A file without `password` is left out before its bytes are kept.
      mayFind: (target) => target.content.includes('password'),
      async detect(target, text, context) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        assert.equal(target.content.toString('utf8'), text, `${target.path}: the bytes changed while the detector waited`);
        return passwordDetector.detect(target, text, context);
      },
    };
    const result = await scanAndClose(await trackedSource([], dir), { detectors: [slow] });
    assert.deepEqual(
      result.findings.map((f) => f.path),
      files.filter((_, i) => i % 2 === 0),
    );
    assert.equal(result.summary.scanned, files.length);
  }));

test('--since: files changed between a commit and the working tree', () =>
  withDir(async (dir) => {
    git(dir, 'init', '-q');
    write(dir, 'old.yaml', `password: ${SECRET}\n`);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'first');
    const base = git(dir, 'rev-parse', 'HEAD').trim();
    write(dir, 'committed.yaml', `password: ${SECRET}\n`);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'second');
    write(dir, 'old.yaml', `a: 1\npassword: ${OTHER_SECRET}\n`);
    const result = await scanAndClose(await sinceSource(base, [], dir));
    assert.deepEqual(result.findings.map((f) => `${f.path}:${f.line}`), ['committed.yaml:1', 'old.yaml:2']);
    const head = await scanAndClose(await sinceSource('HEAD', [], dir));
    assert.deepEqual(head.findings.map((f) => f.path), ['old.yaml']);
    await assert.rejects(sinceSource('no-such-rev', [], dir), (error: unknown) => error instanceof GitError && /--since no-such-rev: not a commit/.test(error.message));
    // A revision that looks like a flag is refused as a revision, never passed on as an option.
    await assert.rejects(sinceSource('--output=/tmp/x', [], dir), GitError);
  }));

test('git modes outside a repository are a GitError', () =>
  withDir(async (dir) => {
    await assert.rejects(stagedSource([], dir), (error: unknown) => error instanceof GitError && /--staged needs a git repository/.test(error.message));
    await assert.rejects(trackedSource([], dir), GitError);
    await assert.rejects(sinceSource('HEAD', [], dir), GitError);
  }));
