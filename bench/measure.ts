/** Wall time and peak memory of whole processes: what a user or a CI job waits for. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

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
