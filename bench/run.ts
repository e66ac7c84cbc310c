/**
 * `npm run bench`: wax against its peers (node itself, the age CLI, the sops-age library),
 * all in one run on one machine, so that the ratios mean something even where the absolute
 * numbers do not. Prints a table and writes the same figures to bench/results.json.
 *
 * Env: BENCH_RUNS (cold-start runs, default 20), BENCH_BIG_RUNS (big-file runs, default 5),
 * BENCH_WAX (the CLI entry to measure, default dist/wax.cjs), BENCH_CONTROLLER_OBJECTS
 * (EncryptedSecrets in the controller section, default 2000), BENCH_SCAN_RUNS (rounds of
 * full-tree scans, default 3), BENCH_SCAN_FILES and BENCH_SCAN_MB (the generated
 * repository, default 2000 files and 30 MB; the staged scan takes BENCH_RUNS runs),
 * BENCH_ONLY (`cli`, `controller` or `scan`: run one part; results.json keeps the other
 * parts' last figures).
 *
 * Targets are reported as PASS/MISS and never change the exit code: this is a report, not
 * a test. Only a crash (a command that fails, a wrong plaintext) exits non-zero.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { generateValuesYaml } from './generate.js';
import { writeHelpers } from './helpers.js';
import { benchControllerScale, type ControllerScaleResult } from './controller-scale.js';
import { BenchError, leftOutCaNote, measuredEnv, peakRssMiB, runChecked, timeRoundRobin, type Cmd, type Stats } from './measure.js';
import { benchScan, SCAN_TOOL_NAMES, type ScanBenchResult, type ToolResult } from './scan.js';
import { PLANT_KINDS } from './scan-corpus.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WAX = path.resolve(ROOT, process.env.BENCH_WAX ?? 'dist/wax.cjs');
const RUNS = positiveInt('BENCH_RUNS', 20);
const BIG_RUNS = positiveInt('BENCH_BIG_RUNS', 5);
const WARMUP = 2;
const SEED = 0x5eed;
const NODE = process.execPath;
// Other work on the machine inflates every figure (the ratios suffer less); read before our
// own runs add to it.
const load = loadavg()[0];
const CLOUD_SDK = /@aws-sdk|@azure|@kubernetes/;

const TARGET_COLD_MS = 60;
const TARGET_DECRYPT_RATIO = 2;
const TARGET_ENCRYPT_MS = 1000;
const CONTROLLER_OBJECTS = positiveInt('BENCH_CONTROLLER_OBJECTS', 2000);
const TARGET_CONTROLLER_READY_MS = 10_000;
const TARGET_CONTROLLER_RSS_MB = 200;
const ONLY = process.env.BENCH_ONLY ?? '';
const RESULTS = path.join(ROOT, 'bench/results.json');
/** Controller targets are recognised by this prefix when results.json is merged. */
const CONTROLLER_PREFIX = 'controller: ';
const SCAN_PREFIX = 'scan: ';
const SCAN_RUNS = positiveInt('BENCH_SCAN_RUNS', 3);
const SCAN_FILES = positiveInt('BENCH_SCAN_FILES', 2000);
const SCAN_MB = positiveInt('BENCH_SCAN_MB', 30);
const TARGET_SCAN_SPEEDUP = 10;
const TARGET_STAGED_MS = 300;
const STAGED_FILES = 50;

const SMALL_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: database
  namespace: payments
type: Opaque
stringData:
  username: app
  password: "c0rrect-h0rse-battery-staple"
  url: postgres://app@db.payments.svc:5432/app?sslmode=require
`;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

interface Target {
  target: string;
  /** The same target, shortened for its table row. */
  short: string;
  measured: string;
  pass: boolean;
}

function firstLine(file: string, args: string[]): string | undefined {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n')[0] : undefined;
}

const ms = (n: number) => n.toFixed(1);
const signedMs = (n: number) => `${n < 0 ? '' : '+'}${ms(n)} ms`;
const verdict = (t: Target) => [t.short, t.pass ? 'PASS' : 'MISS'];

/** Columns holding only numbers are right-aligned, everything else left-aligned. */
function printTable(title: string, head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = head.map((_, i) => rows.every((r) => /^[-+\d.]*$/.test(r[i] ?? '')));
  const line = (r: string[]) => head.map((_, i) => (numeric[i] ? (r[i] ?? '').padStart(widths[i]) : (r[i] ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  if (!['', 'cli', 'controller', 'scan'].includes(ONLY)) throw new BenchError(`BENCH_ONLY must be cli, controller or scan, got ${JSON.stringify(ONLY)}`);
  let results: Record<string, unknown>;
  let targets: Target[];
  if (ONLY === '' || ONLY === 'cli') {
    if (!existsSync(WAX)) throw new BenchError(`${path.relative(ROOT, WAX)} does not exist; run \`npm run build\` first`);
    const dir = mkdtempSync(path.join(tmpdir(), 'wax-bench-'));
    try {
      ({ results, targets } = bench(dir));
    } finally {
      // The directory holds an age identity: never leave it behind, even after a crash.
      rmSync(dir, { recursive: true, force: true });
    }
    if (ONLY === 'cli') ({ results, targets } = keepLastScan(results, targets));
  } else {
    // Only the controller or the scan part: keep the last figures of the others, replace that part's.
    results = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
    const prefix = ONLY === 'controller' ? CONTROLLER_PREFIX : SCAN_PREFIX;
    targets = ((results.targets as Target[] | undefined) ?? []).filter((t) => !t.target.startsWith(prefix));
    console.log(`wax bench (${ONLY} only): node ${process.version}, ${process.platform}-${process.arch}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}, load average ${load.toFixed(2)} at start`);
    const caNote = leftOutCaNote();
    if (caNote) console.log(caNote);
  }
  if (ONLY === '' || ONLY === 'controller') {
    const scale = await benchControllerScale({ root: ROOT, objects: CONTROLLER_OBJECTS, kmsObjects: Math.max(1, Math.round(CONTROLLER_OBJECTS / 20)), namespaces: 20 });
    const controllerTargets = reportControllerScale(scale);
    targets = [...targets.filter((t) => !t.target.startsWith(CONTROLLER_PREFIX)), ...controllerTargets];
    results.controllerScale = { ...scale, date: new Date().toISOString() };
  }
  if (ONLY === '' || ONLY === 'scan') {
    if (!existsSync(WAX)) throw new BenchError(`${path.relative(ROOT, WAX)} does not exist; run \`npm run build\` first`);
    const scan = await benchScan({ root: ROOT, wax: WAX, runs: SCAN_RUNS, stagedRuns: RUNS, stagedFiles: STAGED_FILES, corpus: { files: SCAN_FILES, bytes: SCAN_MB * 1_000_000 } });
    const scanTargets = reportScan(scan);
    targets = [...targets.filter((t) => !t.target.startsWith(SCAN_PREFIX)), ...scanTargets];
    results.scan = scanResultsJson(scan);
  }
  results.targets = targets;
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  console.log('\nTargets: ' + targets.map((t) => `${t.pass ? 'PASS' : 'MISS'} ${t.target} (${t.measured})`).join('; '));
  console.log('wrote bench/results.json');
}

/** Prints the controller table; returns its targets. */
function reportControllerScale(s: ControllerScaleResult): Target[] {
  const n = s.objects.toLocaleString('en');
  const rssMB = s.peakRssMiB === null ? null : (s.peakRssMiB * 1024 * 1024) / 1e6;
  const targets: Target[] = [
    { target: `${CONTROLLER_PREFIX}${n} EncryptedSecrets Ready within ${TARGET_CONTROLLER_READY_MS / 1000} s`, short: `all ≤ ${TARGET_CONTROLLER_READY_MS / 1000} s`, measured: `${s.ready}/${s.objects} in ${ms(s.readyMs)} ms`, pass: s.allReady && s.readyMs <= TARGET_CONTROLLER_READY_MS },
    { target: `${CONTROLLER_PREFIX}one Secret create per object`, short: `= ${s.objects}`, measured: `${s.writes.secretCreates} creates, ${s.writes.secretOther} other Secret writes`, pass: s.writes.secretCreates === s.objects && s.writes.secretOther === 0 },
    { target: `${CONTROLLER_PREFIX}KMS Decrypt ≤ 1 per distinct wrapped key`, short: `≤ ${s.distinctKmsWrappedKeys}`, measured: `${s.kms.decrypt} Decrypt for ${s.distinctKmsWrappedKeys} keys`, pass: s.kms.decrypt <= s.distinctKmsWrappedKeys },
    { target: `${CONTROLLER_PREFIX}zero API writes on a resync with no change`, short: '0', measured: s.resync.observed ? String(s.resync.writes) : 'no resync observed', pass: s.resync.observed && s.resync.writes === 0 },
    { target: `${CONTROLLER_PREFIX}peak RSS < ${TARGET_CONTROLLER_RSS_MB} MB`, short: `< ${TARGET_CONTROLLER_RSS_MB} MB`, measured: rssMB === null ? 'not measured' : `${rssMB.toFixed(1)} MB`, pass: rssMB !== null && rssMB < TARGET_CONTROLLER_RSS_MB },
  ];
  const [ready, creates, kms, resync, rss] = targets;
  const resyncWrites = Object.entries(s.resync.writesByResource).map(([k, v]) => `${k} ${v}`).join(', ');
  printTable(
    `Controller scale: ${n} EncryptedSecrets in ${s.namespaces} namespaces (${s.ageObjects} age, ${s.kmsObjects} KMS), controller in a child process, fakes over loopback`,
    ['', 'measured', 'notes', 'target', ''],
    [
      ['all Ready=True (from spawn)', `${ms(s.readyMs)} ms`, `${s.ready}/${s.objects} Ready; ${s.reconcileSpanMs === null ? '' : `${ms(s.reconcileSpanMs)} ms from first reconcile`}`, ...verdict(ready)],
      ['CPU until Ready', s.cpuMsAtReady.controller === null ? 'n/a' : `${ms(s.cpuMsAtReady.controller)} ms`, `controller, user + system; fakes and harness ${ms(s.cpuMsAtReady.fakes)} ms (other work on the machine stretches wall time, not CPU time)`],
      ['Secret creates', String(s.writes.secretCreates), `other Secret writes ${s.writes.secretOther}`, ...verdict(creates)],
      ['status writes', String(s.writes.statusWrites), `events ${s.writes.events}, other writes ${s.writes.other}, total ${s.writes.total}`],
      ['KMS Decrypt calls', String(s.kms.decrypt), `${s.distinctKmsWrappedKeys} distinct wrapped keys; first pass ${s.kms.decryptFirstPass}, resync ${s.kms.decryptDuringResync}; failed ${s.kms.decryptFailed}; other KMS/STS calls ${s.kms.otherCalls}`, ...verdict(kms)],
      [`API writes on resync (--resync ${s.resyncPeriodMs / 1000}s)`, s.resync.observed ? String(s.resync.writes) : 'n/a', s.resync.observed ? `${s.resync.reconciled}/${s.resync.enqueued} re-reconciled${s.resync.durationMs === null ? '' : ` in ${ms(s.resync.durationMs)} ms`}${resyncWrites ? `; ${resyncWrites}` : ''}` : 'no resync record seen', ...verdict(resync)],
      ['controller peak RSS', s.peakRssMiB === null ? 'n/a' : `${s.peakRssMiB.toFixed(1)} MiB`, 'process.resourceUsage().maxRSS at exit', ...verdict(rss)],
      ['setup (not timed above)', `${ms(s.sealMs + s.loadMs)} ms`, `seal ${ms(s.sealMs)} ms, create in fake ${ms(s.loadMs)} ms; section wall ${(s.wallMs / 1000).toFixed(1)} s; controller error records ${s.controllerErrors}`],
    ],
  );
  return targets;
}

/** A CLI-only run starts results.json afresh: carry the scan part's last figures over. */
function keepLastScan(results: Record<string, unknown>, targets: Target[]): { results: Record<string, unknown>; targets: Target[] } {
  const last = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
  if (last.scan === undefined) return { results, targets };
  const lastTargets = ((last.targets as Target[] | undefined) ?? []).filter((t) => t.target.startsWith(SCAN_PREFIX));
  return { results: { ...results, scan: last.scan }, targets: [...targets, ...lastTargets] };
}

const pct = (found: number, planted: number) => (planted === 0 ? 'n/a' : `${((100 * found) / planted).toFixed(1)}%`);
const recallText = (t: ToolResult) => (t.recall ? `${pct(t.recall.total.found, t.recall.total.planted)} (${t.recall.total.found}/${t.recall.total.planted})` : 'n/a');

/** Prints the scan tables; returns the scan targets. */
function reportScan(s: ScanBenchResult): Target[] {
  const [wax, secretlint, gitleaks] = s.tools;
  const waxMs = wax.stats!.median;
  const speedup = (peer: ToolResult) => (peer.stats ? peer.stats.median / waxMs : null);
  const speedTarget = (peer: ToolResult): Target => {
    const x = speedup(peer);
    return {
      target: `${SCAN_PREFIX}wax scan --all ≥ ${TARGET_SCAN_SPEEDUP}× faster than ${peer.name}`,
      short: `≥ ${TARGET_SCAN_SPEEDUP}×`,
      measured: x === null ? `${peer.name} not measured (${peer.note})` : `${x.toFixed(1)}× (${ms(waxMs)} vs ${ms(peer.stats!.median)} ms)`,
      pass: x !== null && x >= TARGET_SCAN_SPEEDUP,
    };
  };
  const peers = [secretlint, gitleaks];
  const recallOf = (t: ToolResult) => (t.recall ? t.recall.total.found / t.recall.total.planted : -1);
  const recallPass = peers.every((p) => p.recall !== null && recallOf(wax) >= recallOf(p));
  const stagedMs = s.staged.stats.median;
  const targets: Target[] = [
    speedTarget(secretlint),
    speedTarget(gitleaks),
    {
      target: `${SCAN_PREFIX}recall of wax scan --all ≥ secretlint's and gitleaks's on ${s.plants} planted secrets`,
      short: '≥ both',
      measured: s.tools.map((t) => `${t.name} ${recallText(t)}`).join(', '),
      pass: recallPass,
    },
    { target: `${SCAN_PREFIX}wax scan --staged of ${s.staged.files} files < ${TARGET_STAGED_MS} ms (wall, node start included)`, short: `< ${TARGET_STAGED_MS} ms`, measured: `${ms(stagedMs)} ms`, pass: stagedMs < TARGET_STAGED_MS },
    { target: `${SCAN_PREFIX}no wax finding in the ${s.silentFiles} sops-encrypted files and EncryptedSecrets`, short: '0', measured: String(wax.findingsInSilentFiles), pass: wax.findingsInSilentFiles === 0 },
  ];
  const [vsSecretlint, vsGitleaks, recallTarget, stagedTarget, silentTarget] = targets;

  const row = (t: ToolResult, target?: Target): string[] => {
    if (!t.stats) return [t.name, '', '', '', '', '', '', '', '', '', '', `skipped: ${t.note}`];
    const x = speedup(t);
    return [
      t.version ? `${t.name} ${t.version}` : t.name,
      ms(t.stats.median),
      ms(t.stats.p90),
      t.cpu ? ms(t.cpu.median) : 'n/a',
      t.filesPerSecond!.toFixed(0),
      t.mbPerSecond!.toFixed(2),
      t === wax ? '1.0×' : `${x!.toFixed(1)}×`,
      recallText(t),
      String(t.findings),
      String(t.findingsInSilentFiles),
      String(t.findingsElsewhere),
      t.note,
      ...(target ? verdict(target) : []),
    ];
  };
  printTable(
    `Scan: ${s.files.toLocaleString('en')} files, ${(s.bytes / 1e6).toFixed(1)} MB (${s.largeFiles} big logs/CSVs), ${s.plants} planted secrets, ${s.silentFiles} encrypted files that must stay silent (${s.runs} rounds, round-robin; a round times each tool for 2 s or once, right after an untimed run of it: ${s.tools.map((t) => `${t.name.split(' ')[0]} ${t.stats?.runs ?? 0}`).join(', ')} runs; cold process; generated in ${(s.generateMs / 1000).toFixed(1)} s)\n` +
      `wall time of the whole process; cpu = its user + system time (GNU time); load average ${s.loadAverage.start.toFixed(2)} → ${s.loadAverage.end.toFixed(2)} on ${cpus().length} cpus`,
    ['', 'median ms', 'p90 ms', 'cpu ms', 'files/s', 'MB/s', 'wax speed-up', 'recall', 'findings', 'on encrypted', 'unplanted', 'notes', 'target', ''],
    [row(wax, silentTarget), row(secretlint, vsSecretlint), row(gitleaks, vsGitleaks)],
  );

  const found = (t: ToolResult, kind: (typeof PLANT_KINDS)[number]) => (t.recall ? `${t.recall.byKind[kind].found}/${t.recall.byKind[kind].planted}` : '');
  printTable(
    'Scan recall by kind (found within ±1 line; anywhere in the file for sops-unencrypted and decrypted-twin)',
    ['kind', 'planted', ...s.tools.map((t) => t.name)],
    [...PLANT_KINDS.map((k) => [k, String(s.plantsByKind[k]), ...s.tools.map((t) => found(t, k))]), ['total', String(s.plants), ...s.tools.map(recallText)], ['target', '', ...verdict(recallTarget)]],
  );
  if (wax.recall && wax.recall.missed.length > 0) {
    console.log(`wax missed: ${wax.recall.missed.map((p) => `${p.path}:${p.line} ${p.kind} (${p.variant})`).join('; ')}`);
  }

  const st = s.staged;
  printTable(`Staged scan: ${st.files} modified files in git's index (${RUNS} runs, cold process each)`, ['', 'median ms', 'p90 ms', 'cpu ms', 'notes', 'target', ''], [
    ['wax scan --staged', ms(st.stats.median), ms(st.stats.p90), st.cpu ? ms(st.cpu.median) : 'n/a', `${st.findings} findings; ${st.plantsFound}/${st.plantsInStaged} plants in the staged files found`, ...verdict(stagedTarget)],
  ]);
  return targets;
}

/** The scan figures for results.json: recall per kind for every tool, the missed plants only for wax. */
function scanResultsJson(s: ScanBenchResult): Record<string, unknown> {
  return {
    ...s,
    date: new Date().toISOString(),
    tools: s.tools.map((t) => ({
      ...t,
      recall: t.recall ? { total: t.recall.total, byKind: t.recall.byKind, ...(t.name === SCAN_TOOL_NAMES.wax ? { missed: t.recall.missed } : {}) } : null,
    })),
  };
}

function bench(dir: string): { results: Record<string, unknown>; targets: Target[] } {
  const at = (name: string) => path.join(dir, name);
  const keyFile = at('key.txt');
  // A clean environment (see measuredEnv); cwd is the temp dir so that no .sops.yaml
  // above the repository applies.
  const env = measuredEnv();
  env.SOPS_AGE_KEY_FILE = keyFile;
  const opts: SpawnSyncOptions = { cwd: dir, env };
  const devNull = openSync('/dev/null', 'w');
  const toFile = (name: string) => openSync(at(name), 'w');
  const sopsAgeUrl = import.meta.resolve('sops-age');
  const helpers = writeHelpers(dir, sopsAgeUrl);

  const wax = (name: string, args: string[], stdout = devNull): Cmd => ({ name, file: NODE, args: [WAX, ...args], stdout });
  const sopsAge = (name: string, file: string, stdout = devNull): Cmd => ({ name, file: NODE, args: [helpers.sopsAge, keyFile, file], stdout });

  // --- setup: a fresh key, the inputs, and one checked round trip through every tool ---
  runChecked(wax('wax keygen', ['keygen', '-o', keyFile]), opts);
  const recipient = /^# public key: (age1\S+)$/m.exec(readFileSync(keyFile, 'utf8'))?.[1];
  if (!recipient) throw new BenchError('wax keygen wrote no "# public key:" line');
  writeFileSync(at('small.plain.yaml'), SMALL_SECRET);
  const big = generateValuesYaml({ values: 10_000, seed: SEED });
  writeFileSync(at('big.plain.yaml'), big.text);
  for (const name of ['small', 'big']) {
    const fd = toFile(`${name}.yaml`);
    runChecked(wax(`wax encrypt ${name}`, ['encrypt', '--age', recipient, `${name}.plain.yaml`], fd), opts);
    closeSync(fd);
  }
  const ageVersion = firstLine('age', ['--version']);
  if (ageVersion) runChecked({ name: 'age -e', file: 'age', args: ['-e', '-r', recipient, '-o', 'small.age', 'small.plain.yaml'], stdout: devNull }, opts);

  // A benchmark of a wrong answer is worthless: every decryptor must return the plaintext.
  const check = (cmd: Cmd, expected: string, parse: (s: string) => unknown) => {
    const fd = toFile('check.out');
    runChecked({ ...cmd, stdout: fd }, opts);
    closeSync(fd);
    if (!isDeepStrictEqual(parse(readFileSync(at('check.out'), 'utf8')), parseYaml(expected))) {
      throw new BenchError(`${cmd.name} did not return the original plaintext`);
    }
  };
  for (const [name, plain] of [['small', SMALL_SECRET], ['big', big.text]]) {
    check(wax(`wax decrypt ${name}`, ['decrypt', `${name}.yaml`]), plain, parseYaml);
    check(sopsAge(`sops-age ${name}`, `${name}.yaml`), plain, JSON.parse);
  }
  if (ageVersion) check({ name: 'age -d', file: 'age', args: ['-d', '-i', keyFile, 'small.age'], stdout: devNull }, SMALL_SECRET, parseYaml);

  // --- 1. cold start ---
  const coldCmds: Cmd[] = [
    { name: 'node -e 0', file: NODE, args: ['-e', '0'], stdout: devNull },
    wax('wax --version', ['--version']),
    wax('wax decrypt small.yaml', ['decrypt', 'small.yaml']),
    sopsAge('sops-age small.yaml', 'small.yaml'),
  ];
  if (ageVersion) coldCmds.push({ name: 'age -d small.age', file: 'age', args: ['-d', '-i', keyFile, 'small.age'], stdout: devNull });
  const cold = timeRoundRobin(coldCmds, RUNS, WARMUP, opts);
  const base = cold.get('node -e 0')!;
  const vsNode = (s: Stats) => ({ ratioToNode: s.median / base.median, diffMs: s.median - base.median });
  const coldDiff = vsNode(cold.get('wax decrypt small.yaml')!).diffMs;

  // --- 2. big file: encrypt to a scratch file, decrypt the file encrypted in setup ---
  const bigCmds: Cmd[] = [
    wax('wax encrypt big', ['encrypt', '--age', recipient, '--output', 'big.scratch.yaml', 'big.plain.yaml']),
    wax('wax decrypt big', ['decrypt', 'big.yaml']),
    sopsAge('sops-age big', 'big.yaml'),
  ];
  const bigStats = timeRoundRobin(bigCmds, BIG_RUNS, WARMUP, opts);
  const encryptMs = bigStats.get('wax encrypt big')!.median;
  const decryptRatio = bigStats.get('sops-age big')!.median / bigStats.get('wax decrypt big')!.median;

  // --- 3. peak memory ---
  const memory: Record<string, number> = {};
  let memoryVia = '';
  for (const cmd of [coldCmds[0], ...bigCmds]) {
    const r = peakRssMiB(cmd, opts, helpers.rss, at('rss.out'));
    memory[cmd.name] = r.mib;
    memoryVia = r.via;
  }

  // --- 4. module loading of an age-only decrypt ---
  const logFile = at('resolve.log');
  writeFileSync(logFile, '');
  runChecked(
    { name: 'wax decrypt (resolve log)', file: NODE, args: ['--import', pathToFileURL(helpers.resolveLog).href, WAX, 'decrypt', 'small.yaml'], stdout: devNull },
    { ...opts, env: { ...env, BENCH_RESOLVE_LOG: logFile } },
  );
  const urls = [...new Set(readFileSync(logFile, 'utf8').split('\n').filter(Boolean))];
  const cloudUrls = urls.filter((u) => CLOUD_SDK.test(u));
  const distDir = path.dirname(WAX);
  const distPrefix = pathToFileURL(distDir).href + '/';
  // The launcher (dist/wax.cjs) reads the CLI bundle itself, past the module loader.
  const cliBundle = path.join(distDir, 'wax-cli.cjs');
  const chunks = [...urls.filter((u) => u.startsWith(distPrefix)), ...(existsSync(cliBundle) ? [pathToFileURL(cliBundle).href] : [])];
  // A cloud SDK bundled into a chunk has no @aws-sdk in its URL; its size would show here.
  const chunkKiB = chunks.reduce((sum, u) => sum + statSync(fileURLToPath(u)).size, 0) / 1024;
  const nonBuiltin = urls.filter((u) => !u.startsWith('node:'));
  const distKiB = readdirSync(distDir).reduce((sum, f) => sum + statSync(path.join(distDir, f)).size, 0) / 1024;

  // --- report ---
  const targets: Target[] = [
    { target: `cold wax decrypt ≤ node -e 0 + ${TARGET_COLD_MS} ms`, short: `≤ +${TARGET_COLD_MS} ms`, measured: signedMs(coldDiff), pass: coldDiff <= TARGET_COLD_MS },
    { target: `10,000-value decrypt (MAC verified) ≥ ${TARGET_DECRYPT_RATIO}× faster than sops-age`, short: `sops-age ≥ ${TARGET_DECRYPT_RATIO}× wax`, measured: `${decryptRatio.toFixed(2)}×`, pass: decryptRatio >= TARGET_DECRYPT_RATIO },
    { target: `10,000-value encrypt < ${TARGET_ENCRYPT_MS} ms`, short: `< ${TARGET_ENCRYPT_MS} ms`, measured: `${ms(encryptMs)} ms`, pass: encryptMs < TARGET_ENCRYPT_MS },
    { target: 'no cloud SDK loaded by an age decrypt', short: '0', measured: String(cloudUrls.length), pass: cloudUrls.length === 0 },
  ];
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const gitHead = firstLine('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = (firstLine('git', ['-C', ROOT, 'status', '--porcelain']) ?? '') !== '';
  console.log(`wax bench: node ${process.version}, ${process.platform}-${process.arch}, ${cpu} ×${cpus().length}, load average ${load.toFixed(2)} at start`);
  console.log(`wax ${path.relative(ROOT, WAX)} @ ${gitHead ?? '?'}${dirty ? ' (dirty tree)' : ''}; age ${ageVersion ?? 'not installed'}; sops-age ${sopsAgeVersion()}`);
  console.log(`wall time of whole processes; ${WARMUP} warm-up runs each, then runs interleaved round-robin`);
  const caNote = leftOutCaNote();
  if (caNote) console.log(caNote);

  const coldRow = (name: string, label: string, target?: Target): string[] => {
    const s = cold.get(name)!;
    const v = vsNode(s);
    const vs = name === 'node -e 0' ? ['1.00×', 'baseline'] : [`${v.ratioToNode.toFixed(2)}×`, signedMs(v.diffMs)];
    return [label, ms(s.median), ms(s.p90), ...vs, ...(target ? verdict(target) : [])];
  };
  printTable(`Cold start: small Secret (${RUNS} runs)`, ['', 'median ms', 'p90 ms', 'vs node', 'vs node ms', 'target', ''], [
    coldRow('node -e 0', 'node -e 0'),
    coldRow('wax --version', 'wax --version (CLI shell only)'),
    coldRow('wax decrypt small.yaml', 'wax decrypt small.yaml', targets[0]),
    ageVersion ? coldRow('age -d small.age', 'age -d -i key.txt small.age') : ['age -d -i key.txt small.age', '', '', 'skipped: age not installed'],
    coldRow('sops-age small.yaml', 'sops-age decrypt small.yaml (fresh node)'),
  ]);

  const bigRow = (name: string, label: string, note: string, target?: Target): string[] => {
    const s = bigStats.get(name)!;
    return [label, ms(s.median), ms(s.p90), note, ...(target ? verdict(target) : [])];
  };
  const encBytes = statSync(at('big.yaml')).size;
  printTable(
    `Big file: ${big.values.toLocaleString('en')} values, ${(big.text.length / 1e6).toFixed(2)} MB plain, ${(encBytes / 1e6).toFixed(2)} MB encrypted (${BIG_RUNS} runs, cold process each)`,
    ['', 'median ms', 'p90 ms', 'notes', 'target', ''],
    [
      bigRow('wax encrypt big', 'wax encrypt', 'to a file (--output)', targets[2]),
      bigRow('wax decrypt big', 'wax decrypt', 'MAC verified', targets[1]),
      bigRow('sops-age big', 'sops-age decrypt', `MAC NOT verified; ${decryptRatio.toFixed(2)}× wax's time`),
    ],
  );

  printTable(`Peak RSS (${memoryVia})`, ['', 'MiB', 'over node -e 0'], Object.entries(memory).map(([name, mib]) => [name, mib.toFixed(1), name === 'node -e 0' ? '' : `+${(mib - memory['node -e 0']).toFixed(1)} MiB`]));

  printTable('Module loading: wax decrypt small.yaml (age only)', ['', 'target', ''], [
    [`cloud SDK modules loaded by decrypt: ${cloudUrls.length}${cloudUrls.length ? ` (${cloudUrls[0]} …)` : ''}`, ...verdict(targets[3])],
    [`wax dist chunks loaded: ${chunks.length} (${chunkKiB.toFixed(0)} KiB of ${distKiB.toFixed(0)} KiB in dist)`],
    [`modules resolved: ${urls.length} (${urls.length - nonBuiltin.length} node: built-ins, ${nonBuiltin.filter((u) => !u.startsWith(distPrefix)).length} outside dist)`],
  ]);

  const results = {
    date: new Date().toISOString(),
    meta: { node: process.version, platform: `${process.platform}-${process.arch}`, cpu, cpus: cpus().length, loadAverage: load, wax: path.relative(ROOT, WAX), git: gitHead, dirty, age: ageVersion ?? null, sopsAge: sopsAgeVersion(), runs: RUNS, bigRuns: BIG_RUNS, warmup: WARMUP, seed: SEED },
    coldStart: Object.fromEntries([...cold].map(([name, s]) => [name, { ...s, ...vsNode(s) }])),
    bigFile: {
      values: big.values,
      plainBytes: big.text.length,
      encryptedBytes: encBytes,
      stats: Object.fromEntries(bigStats),
      sopsAgeOverWaxDecrypt: decryptRatio,
      macVerified: { 'wax decrypt big': true, 'sops-age big': false },
    },
    peakRssMiB: { via: memoryVia, ...memory },
    modules: { cloudSdkUrls: cloudUrls, distChunks: chunks.map((u) => path.basename(u)), distChunkKiB: chunkKiB, distKiB, resolved: urls },
    targets,
  };
  closeSync(devNull);
  return { results, targets };
}

function sopsAgeVersion(): string {
  return JSON.parse(readFileSync(path.join(ROOT, 'node_modules/sops-age/package.json'), 'utf8')).version;
}

main().catch((error: unknown) => {
  console.error(`bench: error: ${error instanceof BenchError ? error.message : (error as Error).stack}`);
  process.exitCode = 1;
});
