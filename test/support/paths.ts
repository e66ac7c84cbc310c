/**
 * Locations for tests. Compiled tests live at build/test/<dir>/<file>.js, so the
 * repository root is three levels up from this module's compiled copy
 * (build/test/support/paths.js). Fixtures are shared with other projects and are read
 * in place, never copied into the repository.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** `../shared/fixtures` next to the repository (manifest.json, C2SP-CCTV, …). */
export function fixturesDir(): string {
  return path.resolve(repoRoot(), '../shared/fixtures');
}
