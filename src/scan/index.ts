/**
 * The scan API: sources (paths, standard input, git's index, tracked files, changes since a
 * commit), the engine, suppression (baselines) and reports. `wax scan` is a thin shell over it.
 */
export { scan, fingerprint, MAX_FILE_BYTES, DetectorError, type ScanSettings, type ScanSummary, type ScanResult } from './scanner.js';
export { pathsSource, stdinSource, type ScanSource, type SideFile, type Loaded } from './sources.js';
export { stagedSource, trackedSource, sinceSource, GitError } from './git.js';
export { readBaseline, parseBaseline, buildBaseline, serializeBaseline, BASELINE_VERSION, type Baseline, type BaselineEntry } from './suppress.js';
export { formatReport, formatText, formatJson, formatSarif, formatSummary, REPORT_FORMATS, type ReportFormat } from './report.js';
export { DETECTORS } from './detectors.js';
export { maskSecret, encryptHint, type Detector, type RawFinding, type Finding, type ScanContext, type ScanOptions, type ScanTarget } from './types.js';
