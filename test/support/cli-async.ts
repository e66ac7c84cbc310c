/**
 * `runWax` without blocking the test process. `runWax` (cli.ts) uses spawnSync, which
 * stops this process's event loop until wax exits — so an in-process fake server (Key
 * Vault, KMS, the API server) could never answer wax. Same environment rules as runWax.
 */
import { spawn } from 'node:child_process';
import { testEnvironment, waxBundle, type RunOptions, type RunResult } from './cli.js';

export function runWaxAsync(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [waxBundle(), ...args], {
      cwd: options.cwd,
      env: testEnvironment(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // A hang must fail the test, not stall the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr, signal });
    });
    child.stdin.end(options.input ?? '');
  });
}
