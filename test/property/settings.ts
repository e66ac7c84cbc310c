/**
 * Shared settings of the property and fuzz tests. CI runs a fixed seed and a bounded
 * number of cases; `WAX_PROPERTY_RUNS=<n>` (and `WAX_PROPERTY_SEED=<n>`) give a longer
 * or a different run. The seed is printed in every test name, so any failure can be
 * replayed with the same two variables.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WaxError } from '../../src/errors.js';

const DEFAULT_SEED = 20_240_611;

function envInt(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(text)}`);
  return value;
}

export const SEED = envInt('WAX_PROPERTY_SEED') ?? DEFAULT_SEED;
const RUNS_OVERRIDE = envInt('WAX_PROPERTY_RUNS');

/** The number of cases for one property: its CI default, or the override for a long run. */
export function runs(ciDefault: number): number {
  return RUNS_OVERRIDE ?? ciDefault;
}

/** Test names carry the seed and the count: `… [seed 20240611, 200 runs]`. */
export function label(name: string, ciDefault: number): string {
  return `${name} [seed ${SEED}, ${runs(ciDefault)} runs]`;
}

/** fast-check parameters: the fixed seed, bounded runs, and the failing assertion in the report. */
export function params(ciDefault: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: runs(ciDefault), includeErrorInReport: true };
}

/** The per-call bound of the brief: a parser that needs longer on a small input counts as a hang. */
export const CALL_LIMIT_MS = 2_000;

/**
 * Runs one call of a parser under test: it may succeed or throw a WaxError (any subclass);
 * an untyped exception (TypeError, RangeError, SyntaxError, …) or a call slower than
 * CALL_LIMIT_MS fails the property. Returns the result, or undefined after a typed error.
 */
export async function typedOutcome<T>(what: string, call: () => T | Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: WaxError }> {
  const started = performance.now();
  let outcome: { ok: true; value: T } | { ok: false; error: WaxError };
  try {
    outcome = { ok: true, value: await call() };
  } catch (error) {
    outcome = { ok: false, error: typedError(what, error) };
  }
  assertWithinLimit(what, started);
  return outcome;
}

/** The synchronous form, for parsers that never return promises (no microtask per case). */
export function typedOutcomeSync<T>(what: string, call: () => T): { ok: true; value: T } | { ok: false; error: WaxError } {
  const started = performance.now();
  let outcome: { ok: true; value: T } | { ok: false; error: WaxError };
  try {
    outcome = { ok: true, value: call() };
  } catch (error) {
    outcome = { ok: false, error: typedError(what, error) };
  }
  assertWithinLimit(what, started);
  return outcome;
}

function typedError(what: string, error: unknown): WaxError {
  if (error instanceof WaxError) return error;
  const name = error instanceof Error ? error.constructor.name : typeof error;
  return assert.fail(`${what}: untyped exception ${name}: ${error instanceof Error ? error.message : String(error)}`);
}

function assertWithinLimit(what: string, started: number): void {
  const elapsed = performance.now() - started;
  assert.ok(elapsed <= CALL_LIMIT_MS, `${what}: one call took ${Math.round(elapsed)} ms (limit ${CALL_LIMIT_MS} ms)`);
}
