/** The third-party sops fixtures in ../shared/fixtures, described by manifest.json. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from './paths.js';

export interface FixtureCase {
  path: string;
  key_path: string;
  key_type: 'age' | 'pgp';
  format: string;
  expect: string;
  note: string;
  expected_plaintext?: unknown[];
  expected_error?: string;
}

export function fixturesAvailable(): boolean {
  return existsSync(join(fixturesDir(), 'manifest.json'));
}

export function loadManifest(): FixtureCase[] {
  return (JSON.parse(readFileSync(join(fixturesDir(), 'manifest.json'), 'utf8')) as { cases: FixtureCase[] }).cases;
}

export function fixturePath(relative: string): string {
  return join(fixturesDir(), relative);
}

/** Positive cases succeed outright; the manifest's other texts mark negative cases. */
export function isPositive(c: FixtureCase): boolean {
  return c.expect.startsWith('success');
}
