/**
 * The scan engine: one source in, findings out. Each file is read once and decoded once,
 * every detector sees it, and each raw finding is either dropped (an inline `wax:allow`,
 * a duplicate, a baseline entry) or turned into a `Finding` that carries a masked value and
 * a fingerprint. The raw value is never copied into anything that leaves this module.
 *
 * Two files are never scanned: `.waxignore` (patterns, no values) and the baseline file
 * (its 64-digit fingerprints would read as high-entropy strings). `.sops.yaml` is scanned
 * like any other file: by design it holds public key identifiers only, which no detector
 * flags, and a private key pasted into it by mistake is exactly what must be stopped.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import { ConfigError, WaxError } from '../errors.js';
import type { CreationRule, SopsConfig } from '../config.js';
import type { ScanSource, SideFile } from './sources.js';
import { translatePathRegex } from './path-regex.js';
import { allowedInline, compileWaxignore, splitLines, type IgnoreMatcher } from './suppress.js';
import { maskSecret, type Detector, type Finding, type RawFinding, type ScanContext, type ScanOptions, type ScanTarget } from './types.js';

/** Bigger files are not scanned (and are named in the summary): secrets live in small text files. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** git's own test for binary content: a NUL byte in the first 8 KB. */
const BINARY_PROBE_BYTES = 8192;
/** Files up to this size are read into one reused buffer (pages are only touched as far as used). */
const SCRATCH_BYTES = 4 * 1024 * 1024;
/** Files in flight at once: enough to overlap reads with detection, few enough to bound memory. */
const DEFAULT_CONCURRENCY = 8;

export interface ScanSettings {
  readonly detectors: readonly Detector[];
  readonly options: ScanOptions;
  /** Fingerprints of accepted findings. */
  readonly baseline?: ReadonlySet<string>;
  readonly maxFileBytes?: number;
  readonly concurrency?: number;
  /** Absolute locations never scanned, such as the baseline file (its fingerprints look like secrets). */
  readonly exclude?: readonly string[];
}

export interface ScanSummary {
  /** Files the source listed. */
  readonly files: number;
  readonly scanned: number;
  /** Binary and too-large files: listed but not scanned. */
  readonly skipped: number;
  readonly binary: number;
  /** Paths over the size limit, so that a report can name them. */
  readonly tooLarge: readonly string[];
  /** Files left out by `.waxignore` (and the baseline file). */
  readonly ignored: number;
  readonly findings: number;
  readonly filesWithFindings: number;
  /** Findings dropped by an inline `wax:allow`, and by the baseline. */
  readonly allowedInline: number;
  readonly baselined: number;
}

export interface ScanResult {
  readonly findings: readonly Finding[];
  /** The findings the baseline accepted, so that `--write-baseline` can keep them. */
  readonly baselined: readonly Finding[];
  readonly summary: ScanSummary;
}

/** A detector threw: a bug, reported without the error's own text, which may quote the file. */
export class DetectorError extends WaxError {
  constructor(path: string, detector: string, error: unknown) {
    const kind = error instanceof Error ? error.constructor.name : typeof error;
    super(`${path}: the ${detector} detector failed (${kind})`, undefined, 'run with WAX_DEBUG=1 to see the stack trace, and report it; list the file in .waxignore to go on meanwhile');
    this.cause = error;
  }
}

/** The one-way fingerprint a baseline stores: stable for the same rule, path and value. */
export function fingerprint(ruleId: string, path: string, value: string): string {
  return createHash('sha256').update(`wax-scan-v1\0${ruleId}\0${path}\0${value}`).digest('hex');
}

export function toFinding(path: string, raw: RawFinding): Finding {
  return {
    path,
    line: raw.line,
    column: raw.column,
    ruleId: raw.ruleId,
    message: raw.message,
    masked: maskSecret(raw.value),
    hint: raw.hint,
    fingerprint: fingerprint(raw.ruleId, path, raw.value),
  };
}

/** The content as UTF-8 text; pure ASCII (most code and configuration) reads the same as ASCII, about twice as fast. */
export function decode(content: Buffer): string {
  return isAscii(content) ? content.toString('ascii') : content.toString('utf8');
}

export function isBinary(content: Buffer): boolean {
  return content.subarray(0, BINARY_PROBE_BYTES).includes(0);
}

interface Tally {
  scanned: number;
  binary: number;
  tooLarge: string[];
  ignored: number;
  allowedInline: number;
  findings: Finding[];
  baselined: Finding[];
}

/** Scans every file of `source`; findings sorted by path, line and column. */
export async function scan(source: ScanSource, settings: ScanSettings): Promise<ScanResult> {
  const [paths, ruleFor, ignored] = await Promise.all([source.list(), creationRuleResolver(source), waxignoreMatcher(source)]);
  const excluded = new Set(settings.exclude ?? []);
  const context: ScanContext = {
    options: settings.options,
    creationRuleFor: ruleFor,
    exists: (path) => source.exists(path),
    ...(source.knownPaths ? { knownPaths: () => source.knownPaths!() } : {}),
    read: memoize((path) => source.read(path)),
  };
  const tally: Tally = { scanned: 0, binary: 0, tooLarge: [], ignored: 0, allowedInline: 0, findings: [], baselined: [] };
  // One buffer that each file on disk is read into, instead of an allocation per file
  // (most files are dropped before anything keeps their bytes; see scanFile).
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const scanOne = async (path: string) => {
    if (ignored !== undefined || excluded.size > 0) {
      const location = source.locate(path);
      if (excluded.has(location) || ignored?.(location)) {
        tally.ignored++;
        return;
      }
    }
    await scanFile(path, source, context, settings, tally, scratch);
  };
  await forEachLimited(paths, settings.concurrency ?? DEFAULT_CONCURRENCY, scanOne);
  const findings = tally.findings.sort(byPosition);
  return {
    findings,
    baselined: tally.baselined.sort(byPosition),
    summary: {
      files: paths.length,
      scanned: tally.scanned,
      skipped: tally.binary + tally.tooLarge.length,
      binary: tally.binary,
      tooLarge: tally.tooLarge.sort(),
      ignored: tally.ignored,
      findings: findings.length,
      filesWithFindings: new Set(findings.map((f) => f.path)).size,
      allowedInline: tally.allowedInline,
      baselined: tally.baselined.length,
    },
  };
}

async function scanFile(path: string, source: ScanSource, context: ScanContext, settings: ScanSettings, tally: Tally, scratch: Buffer): Promise<void> {
  const pending = source.load(path, settings.maxFileBytes ?? MAX_FILE_BYTES, scratch);
  // Files on disk are read at once: no microtask per file for them.
  const loaded = pending instanceof Promise ? await pending : pending;
  if (loaded.kind === 'missing') return; // tracked but deleted in the working tree: nothing to commit
  if (loaded.kind === 'too-large') {
    tally.tooLarge.push(path);
    return;
  }
  if (isBinary(loaded.content)) {
    tally.binary++;
    return;
  }
  tally.scanned++;
  let target: ScanTarget = { path, content: loaded.content };
  // Most files hold nothing any detector looks for, and need not even be decoded (nor
  // copied out of the scratch buffer). Nothing is awaited before the copy: another file's
  // load would overwrite the scratch buffer meanwhile.
  const answers = askMayFind(target, context, settings.detectors);
  if (answers.every((answer) => answer === false)) return;
  if (loaded.borrowed) target = { path, content: Buffer.from(loaded.content) };
  const detectors = await detectorsFor(answers, target.path, settings.detectors);
  if (detectors.length === 0) return;
  const text = decode(target.content);
  const raws = await detectAll(target, text, context, detectors);
  if (raws.length === 0) return;
  const lines = splitLines(text);
  for (const raw of raws) {
    if (allowedInline(lines, raw.line)) {
      tally.allowedInline++;
      continue;
    }
    const finding = toFinding(path, raw);
    if (settings.baseline?.has(finding.fingerprint)) tally.baselined.push(finding);
    else tally.findings.push(finding);
  }
}

/** Each detector's `mayFind` (true where it has none), asked at once: answers may be pending. */
function askMayFind(target: ScanTarget, context: ScanContext, detectors: readonly Detector[]): (boolean | Promise<boolean>)[] {
  return detectors.map((detector) => {
    try {
      return detector.mayFind === undefined || detector.mayFind(target, context);
    } catch (error) {
      throw detectorFailure(target.path, detector, error);
    }
  });
}

/** The detectors whose answer is yes, in order; pending answers are awaited. */
async function detectorsFor(answers: readonly (boolean | Promise<boolean>)[], path: string, detectors: readonly Detector[]): Promise<Detector[]> {
  const may: Detector[] = [];
  for (const [index, detector] of detectors.entries()) {
    let answer = answers[index]!;
    try {
      // Most answers are plain booleans: no await (a microtask each) for those.
      if (typeof answer !== 'boolean') answer = await answer;
    } catch (error) {
      throw detectorFailure(path, detector, error);
    }
    if (answer) may.push(detector);
  }
  return may;
}

/** A detector's bug as a DetectorError; wax's own typed errors pass through. */
function detectorFailure(path: string, detector: Detector, error: unknown): WaxError {
  return error instanceof WaxError ? error : new DetectorError(path, detector.id, error);
}

/** Every detector in order; a second finding of the same value on the same line is dropped (the first detector wins). */
async function detectAll(target: ScanTarget, text: string, context: ScanContext, detectors: readonly Detector[]): Promise<RawFinding[]> {
  const seen = new Set<string>();
  const out: RawFinding[] = [];
  for (const detector of detectors) {
    let found: RawFinding[];
    try {
      found = await detector.detect(target, text, context);
    } catch (error) {
      throw detectorFailure(target.path, detector, error);
    }
    for (const raw of found) {
      const key = `${raw.line}\0${raw.value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(raw);
    }
  }
  return out;
}

function byPosition(a: Finding, b: Finding): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  return a.line - b.line || a.column - b.column || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0);
}

/** Runs `work` over `items` with at most `limit` at once; the first failure stops new work and is thrown. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function memoize(read: (path: string) => Promise<Buffer | undefined>): (path: string) => Promise<Buffer | undefined> {
  const cache = new Map<string, Promise<Buffer | undefined>>();
  return (path) => {
    let pending = cache.get(path);
    if (!pending) {
      pending = read(path);
      cache.set(path, pending);
    }
    return pending;
  };
}

/** The `.waxignore` test, or undefined when there is none (and nothing to locate). */
async function waxignoreMatcher(source: ScanSource): Promise<IgnoreMatcher | undefined> {
  const file = await source.waxignore();
  if (!file) return undefined;
  const matches = await compileWaxignore(file);
  // The ignore file holds patterns, not secrets: it is never scanned itself.
  return (location) => location === file.path || matches(location);
}

/**
 * `ScanContext.creationRuleFor` over the source's `.sops.yaml`: each `path_regex` compiled
 * once, rules walked in order as sops does. A rule without `path_regex` ends the walk with
 * no rule: it says which keys to use, not that every file must be encrypted.
 */
async function creationRuleResolver(source: ScanSource): Promise<(path: string) => CreationRule | undefined> {
  const file = await source.sopsConfig();
  if (!file) return () => undefined;
  const config = await loadSideConfig(file);
  // The RE2 engine is loaded only for a pattern that JavaScript cannot run the same way.
  const compileRe2 = async (pattern: string, what: string) => (await import('../document/rules.js')).compileRe2(pattern, what);
  const walk: { rule: CreationRule; matches?: (path: string) => boolean }[] = [];
  for (const rule of config.creationRules) {
    if (!rule.pathRegex) {
      walk.push({ rule });
      break;
    }
    try {
      walk.push({ rule, matches: translatePathRegex(rule.pathRegex) ?? (await compileRe2(rule.pathRegex, 'path_regex')) });
    } catch (error) {
      if (!(error instanceof WaxError)) throw error;
      throw new ConfigError(`${file.name}: creation_rules[${rule.index}]: ${error.message}`, error.hint);
    }
  }
  const base = dirname(file.path);
  const inside = base.endsWith(sep) ? base : base + sep;
  // Locations are normalised absolute paths: under the config's directory, the relative
  // path is what follows it, with no need for relative()'s walk (it runs for every file).
  const relativeToBase = (location: string) =>
    sep === '/' && location.startsWith(inside) ? location.slice(inside.length) : relative(base, location).split(sep).join('/');
  return (path) => {
    const rel = relativeToBase(source.locate(path));
    for (const { rule, matches } of walk) {
      if (!matches) return undefined;
      if (matches(rel)) return rule;
    }
    return undefined;
  };
}

/** Loads a `.sops.yaml`: the staged copy from its content, the working tree's from disk. */
async function loadSideConfig(file: SideFile): Promise<SopsConfig> {
  const { loadConfig, parseConfig } = await import('../config.js');
  if (file.content === undefined) return loadConfig(file.path);
  return parseConfig(file.content.toString('utf8'), file.path, file.name);
}
