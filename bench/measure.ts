/** Wall time and peak memory of whole processes: what a user or a CI job waits for. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export interface Cmd {
  name: string;
  file: string;
  args: string[];
  /** Where stdout goes: a file descriptor (e.g. /dev/null or an output file). */
  stdout: number;
}

export interface Stats {
  runs: number;
  median: number;
  p90: number;
  min: number;
  max: number;
}

export class BenchError extends Error {}

/**
 * What is left out of the environment of every measured process: SOPS_* and NODE_OPTIONS
 * would change what the tools do; NODE_EXTRA_CA_CERTS makes Node.js read and parse a CA
 * bundle at every start. Machines behind a TLS-inspecting proxy set it so that npm reaches
 * its registry (this one does: 60 to 66 ms a start); a user running wax, secretlint or
 * gitleaks-wasm, all Node.js processes, usually has none, and none of them opens a TLS
 * connection while measured.
 */
const LEFT_OUT = (name: string) => name.startsWith('SOPS_') || name === 'NODE_OPTIONS' || name === 'NODE_EXTRA_CA_CERTS';

export function measuredEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !LEFT_OUT(name)));
}

/**
 * A line for the report when NODE_EXTRA_CA_CERTS was left out: what it costs a Node.js
 * start here (median of 5 `node -e 0` with it and without), so that figures measured with
 * it can be compared.
 */
export function leftOutCaNote(): string | undefined {
  const bundle = process.env.NODE_EXTRA_CA_CERTS;
  if (!bundle) return undefined;
  const devNull = openSync('/dev/null', 'w');
  try {
    const nodeStart = { name: 'node -e 0', file: process.execPath, args: ['-e', '0'], stdout: devNull };
    const start = (env: NodeJS.ProcessEnv) => stats(Array.from({ length: 5 }, () => timeOnce(nodeStart, { env }))).median;
    const without = measuredEnv();
    const withCa = start({ ...without, NODE_EXTRA_CA_CERTS: bundle });
    return `NODE_EXTRA_CA_CERTS (this machine's proxy CA bundle) is left out of every measured process: node -e 0 takes ${withCa.toFixed(0)} ms with it, ${start(without).toFixed(0)} ms without`;
  } finally {
    closeSync(devNull);
  }
}

/** Runs once and fails loudly: a benchmark of a command that errors measures nothing. */
export function runChecked(cmd: Cmd, options: SpawnSyncOptions): void {
  const result = spawnSync(cmd.file, cmd.args, { ...options, stdio: ['ignore', cmd.stdout, 'pipe'] });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new BenchError(`${cmd.name} exited with ${result.status ?? result.signal}: ${String(result.stderr).trim().slice(0, 500)}`);
  }
}

function timeOnce(cmd: Cmd, options: SpawnSyncOptions): number {
  const start = process.hrtime.bigint();
  runChecked(cmd, options);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Nearest-rank percentile: with 20 runs, p90 is the 18th value, a real observation. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { runs: sorted.length, median, p90: percentile(sorted, 90), min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Times the commands round-robin (A B C, A B C, …) instead of one after the other, so that
 * a machine that speeds up or slows down during the run (thermal, other load, page cache)
 * affects every command alike and the ratios stay fair.
 */
export function timeRoundRobin(cmds: Cmd[], runs: number, warmup: number, options: SpawnSyncOptions): Map<string, Stats> {
  for (let i = 0; i < warmup; i++) for (const cmd of cmds) runChecked(cmd, options);
  const samples = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
  for (let i = 0; i < runs; i++) for (const cmd of cmds) samples.get(cmd.name)!.push(timeOnce(cmd, options));
  return new Map([...samples].map(([name, s]) => [name, stats(s)]));
}

const GNU_TIME = '/usr/bin/time';

/**
 * Peak resident set size in MiB. GNU time reports the child's own maxrss; without it, a
 * preloaded module reports process.resourceUsage().maxRSS on exit (both are in KiB).
 */
export function peakRssMiB(cmd: Cmd, options: SpawnSyncOptions, rssPreload: string, outFile: string): { mib: number; via: string } {
  if (existsSync(GNU_TIME)) {
    runChecked({ ...cmd, file: GNU_TIME, args: ['-f', '%M', '-o', outFile, cmd.file, ...cmd.args] }, options);
    return { mib: Number(readFileSync(outFile, 'utf8').trim().split('\n').pop()) / 1024, via: 'GNU time %M' };
  }
  if (!/(^|\/)node$/.test(cmd.file)) throw new BenchError(`cannot measure memory of ${cmd.name} without ${GNU_TIME}`);
  const env = { ...options.env, BENCH_RSS_OUT: outFile };
  runChecked({ ...cmd, args: ['--import', rssPreload, ...cmd.args] }, { ...options, env });
  return { mib: Number(readFileSync(outFile, 'utf8')) / 1024, via: 'process.resourceUsage().maxRSS' };
}
