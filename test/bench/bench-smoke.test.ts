// Only the benchmark's input generator is tested here: timings depend on the machine and
// are never asserted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, visit } from 'yaml';
import { generateValuesYaml } from '../../bench/generate.js';
import { generateScanCorpus, PLANT_KINDS, WHOLE_FILE_KINDS, type Corpus, type Plant, type PlantKind } from '../../bench/scan-corpus.js';
import { computeRecall, parseGitleaksReport, parseSecretlintReport, parseWaxReport, unplanted, type ToolFinding } from '../../bench/scan.js';
import { makeTempDir, removeTempDir } from '../support/cli.js';
import { repoRoot } from '../support/paths.js';

test('bench generator: 10,000 values, the same bytes every time', () => {
  const first = generateValuesYaml({ values: 10_000, seed: 1 });
  assert.equal(first.text, generateValuesYaml({ values: 10_000, seed: 1 }).text);
  assert.notEqual(first.text, generateValuesYaml({ values: 10_000, seed: 2 }).text);

  const doc = parseDocument(first.text);
  assert.deepEqual(doc.errors, []);
  let values = 0;
  visit(doc, {
    Scalar(key) {
      if (key !== 'key') values++;
    },
  });
  assert.equal(values, 10_000);
  assert.equal(first.values, 10_000);
  // "About 1 MB", so that the big-file figures stay comparable between runs and machines.
  assert.ok(first.text.length > 800_000 && first.text.length < 1_300_000, `size ${first.text.length}`);
});

// --- the scan benchmark: its generated repository and its recall arithmetic ---

// Six plants of each kind reach every variant (private keys have six).
const SMALL_CORPUS = { files: 220, bytes: 900_000, plantsPerKind: 6, seed: 7 } as const;

/** The shape of the line a plant record names, per kind (whole-file kinds are checked apart). */
const PLANT_LINE_SHAPES: Record<Exclude<PlantKind, 'sops-unencrypted' | 'decrypted-twin'>, RegExp> = {
  aws: /\b(AKIA|ASIA)[A-Z2-7]{16}\b/,
  'private-key': /-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----/,
  github: /\b(gh[opsu]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b/,
  slack: /\bxox[bp]-[0-9]+-[0-9]+-[A-Za-z0-9-]+|https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]+\/B[A-Z0-9]+\/[A-Za-z0-9]{24}/,
  'db-connection': /\b(postgres(ql)?|mysql|mongodb(\+srv)?):\/\/[^:\s/]+:[A-Za-z0-9]{16,}@/,
  stripe: /\b[sr]k_live_[A-Za-z0-9]{24,}/,
  npm: /\bnpm_[A-Za-z0-9]{36}\b/,
  openai: /\bsk-proj-[\w-]{74}T3BlbkFJ[\w-]{73}[A-Za-z0-9]\b/,
  'k8s-secret': /^\s*"?[\w.-]+"?: "?[A-Za-z0-9+/=]{8,}"?,?$/,
  'encryptedsecret-plaintext': /^\s*"?[\w.-]+"?: "?[A-Za-z0-9+/]+=*"?,?$/,
};

let corpus: Corpus;
let corpusDir: string;
before(async () => {
  corpusDir = makeTempDir('wax-bench-corpus-');
  corpus = await generateScanCorpus(corpusDir, SMALL_CORPUS);
});
after(() => removeTempDir(corpusDir));

const git = (dir: string, args: string[]) => spawnSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
const lineOf = (p: Plant) => readFileSync(join(corpusDir, p.path), 'utf8').split('\n')[p.line - 1] ?? '';
// Failure messages name the plant, never its line: the line holds the (fake) secret.
const where = (p: Plant) => `${p.path}:${p.line} ${p.kind} (${p.variant})`;

test('scan corpus: the asked number of files, all committed, about the asked size, every kind planted', () => {
  assert.equal(corpus.paths.length, SMALL_CORPUS.files);
  const tracked = git(corpusDir, ['ls-files']).stdout.trim().split('\n');
  assert.deepEqual(tracked.sort(), [...corpus.paths].sort());
  assert.equal(git(corpusDir, ['status', '--porcelain']).stdout, '', 'the tree is committed as generated');
  assert.ok(corpus.bytes > SMALL_CORPUS.bytes * 0.75 && corpus.bytes < SMALL_CORPUS.bytes * 1.3, `size ${corpus.bytes}`);
  for (const kind of PLANT_KINDS) assert.equal(corpus.plants.filter((p) => p.kind === kind).length, SMALL_CORPUS.plantsPerKind, kind);
  // Scanners allow-list AWS's documented example keys; a plant made of them would prove nothing.
  for (const p of corpus.paths) assert.ok(!readFileSync(join(corpusDir, p), 'utf8').includes('EXAMPLE'), p);
});

test('scan corpus: every plant is where its record says, with the shape of its kind', () => {
  for (const plant of corpus.plants) {
    const text = readFileSync(join(corpusDir, plant.path), 'utf8');
    const lines = text.split('\n').length - 1;
    assert.ok(plant.region[0] >= 1 && plant.region[0] <= plant.line && plant.line <= plant.region[1] && plant.region[1] <= lines, `region of ${where(plant)}`);
    if (plant.kind === 'sops-unencrypted') {
      assert.match(plant.path, /^(clusters\/[^/]+\/secrets\/.*\.yaml|config\/secrets\/.*\.(yaml|json|env))$/, where(plant));
      if (plant.variant.startsWith('one value in clear')) assert.ok(/^sops:/m.test(text) && !lineOf(plant).includes('ENC['), `${where(plant)} has a value in clear`);
      else assert.ok(!text.includes('ENC[') && !/^sops:/m.test(text), `${where(plant)} is plaintext`);
    } else if (plant.kind === 'decrypted-twin') {
      const sibling = plant.path.replace(/\.dec\.yaml$/, '.yaml');
      assert.notEqual(sibling, plant.path, where(plant));
      assert.ok(corpus.encrypted.includes(sibling) && readFileSync(join(corpusDir, sibling), 'utf8').includes('ENC[AES256_GCM,'), `${where(plant)} has an encrypted sibling`);
      assert.ok(!text.includes('ENC['), `${where(plant)} is plaintext`);
    } else {
      // test() rather than assert.match, whose failure would print the line and its value.
      assert.ok(PLANT_LINE_SHAPES[plant.kind].test(lineOf(plant)), `the line of ${where(plant)} has the shape of its kind`);
    }
    if (plant.kind === 'k8s-secret') assert.match(text, /kind: Secret|"kind": "Secret"/, where(plant));
    if (plant.kind === 'encryptedsecret-plaintext') {
      assert.match(text, /kind: EncryptedSecret|"kind": "EncryptedSecret"/, where(plant));
      assert.ok(!lineOf(plant).includes('ENC['), `${where(plant)} holds a value in clear`);
    }
  }
  // The files that must stay silent are sops files: every value encrypted, the metadata present.
  assert.ok(corpus.encrypted.length >= SMALL_CORPUS.plantsPerKind * 3);
  for (const p of corpus.encrypted) {
    const text = readFileSync(join(corpusDir, p), 'utf8');
    assert.ok(text.includes('ENC[AES256_GCM,') && /(^|\n)("?sops"?[:_])|"sops": \{/.test(text), `${p} is sops-encrypted`);
  }
});

test('scan corpus: the same seed gives the same plaintext and plants, another seed does not', async () => {
  const again = makeTempDir('wax-bench-corpus-');
  const other = makeTempDir('wax-bench-corpus-');
  try {
    const second = await generateScanCorpus(again, SMALL_CORPUS);
    assert.deepEqual(second.paths, corpus.paths);
    assert.deepEqual(second.plants, corpus.plants);
    // Ciphertext and the throwaway recipient in .sops.yaml differ by design; everything else may not.
    const withCiphertext = corpus.plants.filter((p) => p.kind === 'encryptedsecret-plaintext' || p.variant.startsWith('one value in clear')).map((p) => p.path);
    const random = new Set([...corpus.encrypted, ...withCiphertext, '.sops.yaml']);
    for (const p of corpus.paths.filter((q) => !random.has(q))) {
      assert.ok(readFileSync(join(again, p)).equals(readFileSync(join(corpusDir, p))), `${p} differs between two runs`);
    }
    const third = await generateScanCorpus(other, { ...SMALL_CORPUS, seed: 8 });
    assert.notDeepEqual(third.plants, corpus.plants);
  } finally {
    removeTempDir(again);
    removeTempDir(other);
  }
});

test('scan corpus: seeds that once drew a key twice in one mapping (2, 3, 5 at this size) give a valid corpus', async () => {
  for (const seed of [2, 3, 5]) {
    const dir = makeTempDir('wax-bench-corpus-');
    try {
      const made = await generateScanCorpus(dir, { ...SMALL_CORPUS, seed });
      assert.equal(made.paths.length, SMALL_CORPUS.files, `seed ${seed}`);
    } finally {
      removeTempDir(dir);
    }
  }
});

const plant = (path: string, line: number, kind: PlantKind, region: [number, number]): Plant => ({ path, line, kind, variant: 'test', region });
const finding = (path: string, line: number): ToolFinding => ({ path, line, ruleId: 'r' });

test('scan recall: ±1 line counts, 2 lines off does not, whole-file kinds count anywhere in their file', () => {
  const aws = plant('a/.env', 5, 'aws', [5, 6]);
  const secret = plant('deploy/s.yaml', 8, 'k8s-secret', [1, 9]);
  const unencrypted = plant('config/secrets/c.yaml', 1, 'sops-unencrypted', [1, 4]);
  const twin = plant('x.dec.yaml', 1, 'decrypted-twin', [1, 3]);
  const plants = [aws, secret, unencrypted, twin];
  const findings = [
    finding('a/.env', 6), // +1: found
    finding('deploy/s.yaml', 10), // +2: not found
    finding('deploy/s.yaml', 2), // the `kind:` line: inside the Secret, still too far for recall
    finding('config/secrets/c.yaml', 3), // whole-file kind: found
    finding('x.yaml', 1), // the twin's sibling, not the twin
    finding('enc.yaml', 3),
    finding('src/other.ts', 5),
  ];
  const recall = computeRecall(plants, findings);
  assert.deepEqual(recall.total, { planted: 4, found: 2 });
  assert.deepEqual(recall.byKind.aws, { planted: 1, found: 1 });
  assert.deepEqual(recall.byKind['k8s-secret'], { planted: 1, found: 0 });
  assert.deepEqual(recall.byKind['sops-unencrypted'], { planted: 1, found: 1 });
  assert.deepEqual(recall.byKind['decrypted-twin'], { planted: 1, found: 0 });
  assert.deepEqual(recall.byKind.github, { planted: 0, found: 0 });
  assert.deepEqual(recall.missed, [secret, twin]);
  assert.deepEqual(computeRecall(plants, [finding('a/.env', 4), finding('deploy/s.yaml', 7), finding('x.dec.yaml', 3), finding('config/secrets/c.yaml', 1)]).total, { planted: 4, found: 4 });

  // Findings inside a planted object are not noise; the rest is, split by whether the file must stay silent.
  const extra = unplanted(plants, findings, ['enc.yaml']);
  assert.deepEqual(extra.inSilentFiles, [finding('enc.yaml', 3)]);
  assert.deepEqual(extra.elsewhere, [finding('x.yaml', 1), finding('src/other.ts', 5)]);
});

test('scan recall on the generated corpus: exact findings find everything, findings 2 lines off only the whole-file kinds', () => {
  const exact = corpus.plants.map((p) => finding(p.path, p.line));
  assert.deepEqual(computeRecall(corpus.plants, exact).total, { planted: corpus.plants.length, found: corpus.plants.length });
  const off = corpus.plants.map((p) => finding(p.path, p.line + 2));
  const recall = computeRecall(corpus.plants, off);
  for (const kind of PLANT_KINDS) {
    const expected = WHOLE_FILE_KINDS.has(kind) ? SMALL_CORPUS.plantsPerKind : 0;
    assert.equal(recall.byKind[kind].found, expected, kind);
  }
});

test('scan reports: wax, secretlint and gitleaks JSON reduce to repository-relative path and line', () => {
  const wax = parseWaxReport(JSON.stringify({ version: 1, findings: [{ path: 'deploy/s.yaml', line: 8, column: 3, ruleId: 'k8s-secret-plaintext', message: 'm', masked: 'ab****cd', hint: 'h', fingerprint: 'f' }], summary: { scanned: 10, skipped: 1 } }));
  assert.deepEqual(wax, { findings: [{ path: 'deploy/s.yaml', line: 8, ruleId: 'k8s-secret-plaintext' }], scanned: 10, skipped: 1 });
  assert.throws(() => parseWaxReport('{"version":1}'), /no findings array/);

  const secretlint = parseSecretlintReport(
    JSON.stringify([
      { filePath: '/tmp/repo/ops/aws/credentials', messages: [{ ruleId: '@secretlint/secretlint-rule-aws', loc: { start: { line: 5, column: 20 } } }] },
      { filePath: '/tmp/repo/README.md', messages: [] },
    ]),
    '/tmp/repo',
  );
  assert.deepEqual(secretlint, { findings: [{ path: 'ops/aws/credentials', line: 5, ruleId: '@secretlint/secretlint-rule-aws' }], scanned: 2 });

  const gitleaks = parseGitleaksReport(JSON.stringify([{ RuleID: 'github-pat', StartLine: 9, File: '.github/workflows/sync.yml', Secret: 'REDACTED' }, { RuleID: 'private-key', StartLine: 1, File: './deploy/keys/k.pem' }]), '/tmp/repo');
  assert.deepEqual(gitleaks.findings, [
    { path: '.github/workflows/sync.yml', line: 9, ruleId: 'github-pat' },
    { path: 'deploy/keys/k.pem', line: 1, ruleId: 'private-key' },
  ]);
});

test('scan corpus: secretlint, an independent peer, recognises the planted credentials', (t) => {
  const bin = join(repoRoot(), 'node_modules/secretlint/bin/secretlint.js');
  if (!existsSync(bin)) {
    t.skip('secretlint (a dev dependency) is not installed');
    return;
  }
  const rc = join(corpusDir, '..', `${corpusDir.split('/').pop()}-secretlintrc.json`);
  const out = `${rc}.out.json`;
  writeFileSync(rc, JSON.stringify({ rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }] }] }));
  try {
    const r = spawnSync(process.execPath, [bin, '**/*', '--secretlintrc', rc, '--format', 'json', '--output', out], { cwd: corpusDir, encoding: 'utf8' });
    assert.ok(r.status === 0 || r.status === 1, `secretlint exited ${r.status}`);
    const { findings } = parseSecretlintReport(readFileSync(out, 'utf8'), corpusDir);
    // secretlint's private-key rule wants base64 starting "MI", which a P-256 SEC1 key ("MHc…") never does.
    const kinds = new Set<PlantKind>(['aws', 'github', 'slack', 'db-connection', 'stripe', 'npm', 'openai', 'private-key']);
    const credentials = corpus.plants.filter((p) => kinds.has(p.kind) && p.variant !== 'EC P-256 PEM file');
    assert.ok(credentials.length >= 7 * SMALL_CORPUS.plantsPerKind);
    const recall = computeRecall(credentials, findings);
    assert.deepEqual(recall.missed.map(where), []);
  } finally {
    removeTempDir(rc);
    removeTempDir(out);
  }
});
