/**
 * The contract between the plaintext-secret detectors, the scan engine that feeds them
 * and the reports that print their findings. A detector sees one file's text and answers
 * with raw findings that still hold the matched value; the engine turns each into a
 * `Finding` (masked value, fingerprint) and drops the value, so nothing past the engine
 * can print a secret by mistake.
 */
import type { CreationRule } from '../config.js';

/** One file to scan, as the chosen source has it (git's index for `--staged`). */
export interface ScanTarget {
  /** The path findings print: repository-relative with forward slashes in git modes. */
  readonly path: string;
  readonly content: Buffer;
}

/** What a detector reports. `value` never leaves the engine. */
export interface RawFinding {
  /** A stable id, e.g. `k8s-secret-plaintext`, `credential/aws`; documented in the README. */
  readonly ruleId: string;
  /** 1-based line and column of the value (1, 1 for a finding about the whole file). */
  readonly line: number;
  readonly column: number;
  /** The offending text: masked for display and hashed into the fingerprint, never printed. */
  readonly value: string;
  /** One line about what was found, e.g. "plaintext value in stringData.password". Never the value. */
  readonly message: string;
  /** What to do, e.g. "run: wax encrypt -i deploy/secret.yaml". */
  readonly hint: string;
}

/** A finding as reports print it and baselines store it. */
export interface Finding {
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly ruleId: string;
  readonly message: string;
  /** At most the first and last two characters of the value, the rest as `*`. */
  readonly masked: string;
  readonly hint: string;
  /** A one-way fingerprint of (rule, path, value) for baselines: never the value. */
  readonly fingerprint: string;
}

export interface ScanOptions {
  /** The high-entropy detector is noisy, so it is off unless asked for. */
  readonly entropy: boolean;
}

/** What a detector may ask about the rest of the scanned source. */
export interface ScanContext {
  readonly options: ScanOptions;
  /**
   * The `.sops.yaml` creation rule with an explicit `path_regex` that covers this path
   * (first match, as sops picks), or undefined. A rule without `path_regex` says which
   * keys to use, not that every file must be encrypted, so it never counts here.
   */
  creationRuleFor(path: string): CreationRule | undefined | Promise<CreationRule | undefined>;
  /** Whether a file exists at this path in the source (the index for `--staged`, the tree otherwise). */
  exists(path: string): boolean;
  /**
   * Every path `exists` says yes to, where the source holds such a list (git's index, its
   * tracked files), so that a detector can index them once instead of asking per file;
   * absent for the working tree of a plain directory.
   */
  knownPaths?(): Iterable<string>;
  /** That file's content in the same source, or undefined when there is none. */
  read(path: string): Promise<Buffer | undefined>;
}

export interface Detector {
  readonly id: string;
  /**
   * False when the detector can tell from the path and the bytes alone that it finds
   * nothing in this file: the scan then neither decodes the file for it nor calls
   * `detect`. Must never be false where `detect` would find something; absent, true.
   * `target.content` may be the scan's scratch buffer, valid only until this returns: read
   * it before returning (a promise may settle later, but not read it then).
   */
  mayFind?(target: ScanTarget, context: ScanContext): boolean | Promise<boolean>;
  /** `text` is `target.content` decoded as UTF-8; binary files never reach a detector. */
  detect(target: ScanTarget, text: string, context: ScanContext): RawFinding[] | Promise<RawFinding[]>;
}

/**
 * At most the first and last two characters; values too short to show four characters
 * and still hide most of themselves are masked entirely.
 */
export function maskSecret(value: string): string {
  const chars = Array.from(value);
  if (chars.length < 12) return '*'.repeat(Math.max(chars.length, 4));
  // A value may end in a newline (a PEM block): shown as-is it would break the report's line.
  const shown = (c: string) => (/[\p{C}\s]/u.test(c) ? '*' : c);
  const edge = (part: string[]) => part.map(shown).join('');
  return `${edge(chars.slice(0, 2))}${'*'.repeat(Math.min(chars.length - 4, 16))}${edge(chars.slice(-2))}`;
}

/** The hint every "this should have been encrypted" finding gives. */
export function encryptHint(path: string): string {
  return `run: wax encrypt -i ${path}`;
}
