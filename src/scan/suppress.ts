/**
 * The three ways to accept a finding, from the narrowest to the widest:
 * - an inline `wax:allow` comment on the finding's line, or alone on the line above it;
 * - `.waxignore`, gitignore syntax, for files that are never to be scanned (test fixtures);
 * - a baseline: accepted findings stored as fingerprints (rule, path and a one-way hash of
 *   the value), never as values, so the file can be committed.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { Finding } from './types.js';
import type { SideFile } from './sources.js';
import { toSlashes } from './sources.js';

const INLINE_MARKER = 'wax:allow';
/** The line above counts only when the comment is all it holds: `# wax:allow`, `// wax:allow: test key`. */
const ALLOW_LINE = /^\s*(?:#+|\/\/+|\/\*+|<!--|--|;+|%|\*)?\s*wax:allow\b/;

/** Whether the finding at 1-based `line` is allowed by a `wax:allow` comment in `lines`. */
export function allowedInline(lines: readonly string[], line: number): boolean {
  const own = lines[line - 1];
  if (own !== undefined && own.includes(INLINE_MARKER)) return true;
  const above = lines[line - 2];
  return above !== undefined && ALLOW_LINE.test(above);
}

/** Lines of a text, for `allowedInline`; `\r\n` files keep a `\r` that does not matter here. */
export function splitLines(text: string): string[] {
  return text.split('\n');
}

export type IgnoreMatcher = (location: string) => boolean;

/**
 * Compiles a `.waxignore` (gitignore syntax, case-sensitive as git is on Linux) into a
 * test of absolute locations; files outside its directory are never ignored by it.
 */
export async function compileWaxignore(file: SideFile): Promise<IgnoreMatcher> {
  let text: string;
  try {
    text = (file.content ?? readFileSync(file.path)).toString('utf8');
  } catch (error) {
    throw new UsageError(`${file.name}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'check the file permissions');
  }
  const { default: ignore } = await import('ignore');
  const rules = ignore({ ignorecase: false }).add(text);
  const base = dirname(file.path);
  return (location) => {
    const rel = toSlashes(relative(base, location));
    if (rel === '' || rel.startsWith('../') || isAbsolute(rel)) return false;
    return rules.ignores(rel);
  };
}

export const BASELINE_VERSION = 1;

/** What a baseline stores per accepted finding: enough to review it, nothing to recover the value. */
export interface BaselineEntry {
  readonly fingerprint: string;
  readonly ruleId: string;
  readonly path: string;
}

export interface Baseline {
  readonly version: typeof BASELINE_VERSION;
  readonly findings: readonly BaselineEntry[];
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

/** The accepted fingerprints in a baseline file; a missing or malformed file is a usage error. */
export function readBaseline(path: string): Set<string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`baseline ${path} does not exist`, `create it with \`wax scan --write-baseline ${path}\``);
    throw new UsageError(`baseline ${path}: cannot read (${code ?? 'error'})`);
  }
  return parseBaseline(text, path);
}

export function parseBaseline(text: string, name: string): Set<string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`baseline ${name} is not valid JSON`, `write it again with \`wax scan --write-baseline ${name}\``);
  }
  const doc = raw as Partial<Baseline> | null;
  if (doc === null || typeof doc !== 'object' || doc.version !== BASELINE_VERSION || !Array.isArray(doc.findings)) {
    throw new UsageError(`baseline ${name} is not a wax baseline (version ${BASELINE_VERSION} with a findings list)`, `write it again with \`wax scan --write-baseline ${name}\``);
  }
  const fingerprints = new Set<string>();
  doc.findings.forEach((entry, index) => {
    const fingerprint = (entry as Partial<BaselineEntry> | null)?.fingerprint;
    if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
      throw new UsageError(`baseline ${name}: findings[${index}] has no valid fingerprint`, 'each entry needs a 64-digit hex fingerprint');
    }
    fingerprints.add(fingerprint);
  });
  return fingerprints;
}

/** The baseline for `findings`, sorted and without duplicates so that it diffs well. */
export function buildBaseline(findings: readonly Finding[]): Baseline {
  const entries = new Map<string, BaselineEntry>();
  for (const finding of findings) entries.set(finding.fingerprint, { fingerprint: finding.fingerprint, ruleId: finding.ruleId, path: finding.path });
  const sorted = [...entries.values()].sort((a, b) => compare(a.path, b.path) || compare(a.ruleId, b.ruleId) || compare(a.fingerprint, b.fingerprint));
  return { version: BASELINE_VERSION, findings: sorted };
}

export function serializeBaseline(baseline: Baseline): string {
  return `${JSON.stringify(baseline, null, 2)}\n`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
