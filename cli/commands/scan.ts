/**
 * `wax scan`: a gate for pre-commit hooks and CI. Exit 1 means findings, 0 means clean,
 * and every failure is 2 (cli/main.ts maps the errors thrown here, and the flag errors
 * thrown before this runs), so a broken scan can never pass for a clean one.
 * Imports stay small: this module and the detectors are all a hook loads.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, ReadError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/files.js';
import { DETECTORS } from '../../src/scan/detectors.js';
import { sinceSource, stagedSource, trackedSource } from '../../src/scan/git.js';
import { formatReport, formatSummary, type ReportFormat } from '../../src/scan/report.js';
import { DetectorError, MAX_FILE_BYTES, scan, type ScanResult } from '../../src/scan/scanner.js';
import { pathsSource, stdinSource, type ScanSource } from '../../src/scan/sources.js';
import { buildBaseline, readBaseline, serializeBaseline } from '../../src/scan/suppress.js';
import { info, warn } from '../output.js';

/** Reported by SARIF's tool.driver.version; keep in step with VERSION in cli/main.ts. */
const WAX_VERSION = '0.1.0';
const STDIN_NAME = '<stdin>';

export interface ScanFlags {
  staged?: boolean;
  all?: boolean;
  since?: string;
  stdinFilename?: string;
  format?: string;
  baseline?: string;
  writeBaseline?: string;
  entropy?: boolean;
}

export async function scanCommand(paths: string[], flags: ScanFlags): Promise<number> {
  const source = await openSource(paths, flags);
  let result: ScanResult;
  try {
    const baseline = flags.baseline ? readBaseline(flags.baseline) : undefined;
    // A baseline's fingerprints are 64 hex digits: the entropy check would flag its own file.
    const exclude = [flags.baseline, flags.writeBaseline].filter((p): p is string => !!p).map((p) => resolve(p));
    result = await scan(source, { detectors: DETECTORS, options: { entropy: flags.entropy === true }, baseline, exclude });
  } catch (error) {
    if (error instanceof DetectorError && process.env.WAX_DEBUG === '1') process.stderr.write(`${(error.cause as Error)?.stack ?? ''}\n`);
    throw error;
  } finally {
    source.close();
  }
  // main() waits for stdout to drain before it exits, so a large report reaches a pipe whole.
  process.stdout.write(formatReport((flags.format ?? 'text') as ReportFormat, result.findings, result.summary, WAX_VERSION));
  for (const path of result.summary.tooLarge) warn(`${path}: not scanned, bigger than ${MAX_FILE_BYTES / 1024 / 1024} MB`);
  process.stderr.write(formatSummary(result.summary));
  if (flags.writeBaseline) {
    const accepted = [...result.findings, ...result.baselined];
    writeFileAtomic(flags.writeBaseline, Buffer.from(serializeBaseline(buildBaseline(accepted))));
    info(`scan: ${accepted.length} ${accepted.length === 1 ? 'finding' : 'findings'} written to the baseline ${flags.writeBaseline}`);
    return 0;
  }
  return result.findings.length > 0 ? 1 : 0;
}

function openSource(paths: string[], flags: ScanFlags): Promise<ScanSource> {
  const modes = [flags.staged && '--staged', flags.all && '--all', flags.since !== undefined && '--since'].filter((m): m is string => !!m);
  if (modes.length > 1) throw new UsageError(`${modes.join(' and ')} cannot be used together`, 'choose one of --staged, --all, --since REV, or paths');
  const fromStdin = paths.includes('-');
  if (flags.stdinFilename !== undefined && !fromStdin) throw new UsageError('--stdin-filename needs - (standard input) as the path', 'e.g. `kubectl get secret db -o yaml | wax scan - --stdin-filename db.yaml`');
  if (fromStdin) {
    if (paths.length > 1 || modes.length > 0) throw new UsageError('- (standard input) cannot be combined with other paths or with a git mode', 'scan standard input on its own');
    return Promise.resolve(stdinSource(readStandardInput(), flags.stdinFilename ?? STDIN_NAME));
  }
  if (flags.staged) return stagedSource(paths);
  if (flags.all) return trackedSource(paths);
  if (flags.since !== undefined) {
    if (flags.since === '') throw new UsageError('--since needs a revision', 'e.g. --since origin/main');
    return sinceSource(flags.since, paths);
  }
  return Promise.resolve(pathsSource(paths));
}

function readStandardInput(): Buffer {
  try {
    return readFileSync(0);
  } catch {
    throw new ReadError('cannot read standard input');
  }
}
