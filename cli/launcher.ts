/**
 * The `wax` executable (`dist/wax.cjs`): runs the CLI bundle `dist/wax-cli.cjs` with V8's
 * code cache for it, `dist/wax-cli.cache`, made by `scripts/bundle.mjs` when it builds the
 * bundle. A cold start otherwise spends a good part of its time compiling JavaScript: the
 * cache holds the bytecode of the functions a scan, an encryption and a decryption run,
 * so that V8 deserialises them instead (about 35 ms of a 2,000-file `wax scan`).
 *
 * The cache is only ever written by the build (WAX_WRITE_CODE_CACHE), beside the code it
 * belongs to, never at run time. It starts with a SHA-256 over the bundle it was made for
 * and its own data: V8 checks only the source's length (a rebuilt bundle of the same
 * length would run stale bytecode) and, in release builds, no checksum of the data. V8
 * does check its version and flags, and refuses a cache from another Node.js. Without a
 * usable cache the bundle is compiled as `require` would compile it.
 *
 * Imports node: built-ins and one constant: this file is bundled on its own.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { EXTERNAL_IMPORTER } from '../src/external-import.js';

const BUNDLE_NAME = 'wax-cli.cjs';
const CACHE_NAME = 'wax-cli.cache';
const HASH_BYTES = 32;

const here = dirname(fileURLToPath(import.meta.url));
const bundlePath = join(here, BUNDLE_NAME);
const cachePath = join(here, CACHE_NAME);

tuneForShortRun();
const source = readFileSync(bundlePath);
const cachedData = usableCache();
const script = new Script(wrapAsCommonJs(source.toString('utf8')), { filename: bundlePath, cachedData });
// For the build and the tests: a cache V8 silently refuses would only show as a slower start.
if (process.env.WAX_DEBUG_CODE_CACHE === '1') process.stderr.write(`wax: code cache ${cachedData === undefined ? 'absent or stale' : script.cachedDataRejected ? 'refused by V8' : 'used'}\n`);
// The cloud SDKs stay outside the bundle; its own import() would fail (src/external-import.ts).
Reflect.set(globalThis, EXTERNAL_IMPORTER, (specifier: string) => import(specifier));
if (process.env.WAX_WRITE_CODE_CACHE === '1') process.on('exit', writeCache);
runAsCommonJs(script);

/**
 * wax runs for a fraction of a second. V8 optimises every function that has run a while,
 * on background threads, and in a scan of 2,000 files a third of the CPU time went into
 * optimising per-file functions (detectors, the YAML reader, path helpers) that the run
 * ends before paying back. Four times V8 11's tier-up budget keeps the optimiser for the
 * loops that are really hot: measured on Node 20, about 17% less CPU for `scan --all` and
 * the same wall time. Set before compiling, for every command, as the code cache records
 * V8's flags. The flag has kept its name for a decade of V8 versions; it is set only on
 * versions it was checked with, because V8 reports an unknown flag on stderr.
 */
function tuneForShortRun(): void {
  const major = Number(process.versions.v8.split('.')[0]);
  if (major >= 11 && major <= 13) setFlagsFromString('--interrupt-budget=270336');
}

/** The V8 data of the cache when it was made for this very bundle and is whole, else undefined. */
function usableCache(): Buffer | undefined {
  let cache: Buffer;
  try {
    cache = readFileSync(cachePath);
  } catch {
    return undefined;
  }
  const data = cache.subarray(HASH_BYTES);
  if (cache.length <= HASH_BYTES || !cache.subarray(0, HASH_BYTES).equals(cacheHash(data))) return undefined;
  return data;
}

function cacheHash(data: Buffer): Buffer {
  return createHash('sha256').update(source).update(data).digest();
}

/** What Node.js wraps a CommonJS module in; the bundle is one. */
function wrapAsCommonJs(code: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

function runAsCommonJs(compiled: Script): void {
  const run = compiled.runInThisContext() as (exports: object, require: NodeRequire, module: object, filename: string, dir: string) => void;
  const module = { exports: {}, filename: bundlePath, id: bundlePath, loaded: false };
  run.call(module.exports, module.exports, createRequire(bundlePath), module, bundlePath, here);
}

/** At the end of a build's sample run: every function compiled so far goes into the cache. */
function writeCache(): void {
  const temporary = `${cachePath}.${process.pid}.tmp`;
  const data = script.createCachedData();
  writeFileSync(temporary, Buffer.concat([cacheHash(data), data]));
  renameSync(temporary, cachePath);
}
