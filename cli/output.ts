/**
 * The only place that prints diagnostics. Messages come from typed errors, whose texts
 * are built from paths, key identifiers and reasons, never from values; anything else
 * is reported as an internal error without its message.
 */
import { WaxError } from '../src/errors.js';

export function printError(error: unknown): number {
  if (error instanceof WaxError) {
    process.stderr.write(`wax: error: ${error.message}\n`);
    if (error.hint) process.stderr.write(`wax: hint: ${error.hint}\n`);
    return error.exitCode;
  }
  // An untyped error may carry library text that quotes input; show only its class.
  const name = error instanceof Error ? error.constructor.name : typeof error;
  process.stderr.write(`wax: error: internal error (${name})\n`);
  process.stderr.write('wax: hint: run with WAX_DEBUG=1 to see the stack trace, and report it\n');
  if (process.env.WAX_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return 1;
}

export function warn(message: string): void {
  process.stderr.write(`wax: warning: ${message}\n`);
}

export function info(message: string): void {
  process.stderr.write(`wax: ${message}\n`);
}
