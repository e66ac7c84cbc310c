// Bundles the CLI into dist/ so that a cold `wax` start reads three files instead of
// resolving hundreds of modules:
//   wax.cjs        the executable (cli/launcher.ts): runs the bundle with V8's code cache
//                  (CommonJS: an .mjs entry costs node some 5 ms to set up its ES module loader)
//   wax.mjs        the executable of earlier versions, which hooks installed by `wax hook
//                  install` may still name: runs wax.cjs
//   wax-cli.cjs    the CLI, one CommonJS file (cli/main.ts and all it imports)
//   wax-cli.cache  the code cache, made here by sample runs (see makeCodeCache)
//   yaml-lib.cjs   the full YAML library, required on first use by the few files the fast
//                  reader declines
//   anchor-search.wasm  the scan's byte search (scripts/wasm.mjs compiles it into build/src)
// Cloud SDKs stay in node_modules and load only when a file uses their provider.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

// WAX_BUNDLE_OUTDIR lets a second bundle (under the repository, so that node_modules
// resolves) be built while tests run against dist/.
const outdir = process.env.WAX_BUNDLE_OUTDIR ?? 'dist';
// WAX_BUNDLE_MINIFY=0 keeps names readable for a CPU profile.
const minify = process.env.WAX_BUNDLE_MINIFY !== '0';
// Old files would linger next to new ones.
rmSync(outdir, { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', minify, legalComments: 'none', logLevel: 'warning' };
/**
 * CommonJS built from ES modules. src/ locates dist/yaml-lib.cjs from import.meta.url,
 * which CommonJS has not. The banner comes before esbuild's "use strict", so it must say
 * it first: the sources are written for strict mode (a write to a frozen object throws).
 */
const fromEsModules = (head = '') => ({
  format: 'cjs',
  define: { 'import.meta.url': '__waxModuleUrl' },
  banner: { js: `${head}"use strict";var __waxModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
});

// One file: a bundle with code splitting loads a module per chunk through the ES module
// loader (about 1 ms each), and V8 keeps a code cache for a script, not for a module graph.
// Code that only some commands need is still only compiled when they first call it.
await build({
  ...common,
  ...fromEsModules(),
  entryPoints: ['cli/main.ts'],
  outfile: `${outdir}/wax-cli.cjs`,
  sourcemap: false,
  external: ['@aws-sdk/*', '@azure/*', '@smithy/*', '@kubernetes/*'],
  plugins: [builtinsRequiredOnDemand()],
});

await build({
  ...common,
  ...fromEsModules('#!/usr/bin/env node\n'),
  entryPoints: ['cli/launcher.ts'],
  outfile: `${outdir}/wax.cjs`,
});
writeFileSync(`${outdir}/wax.mjs`, "#!/usr/bin/env node\n// Earlier versions' executable, named by hooks they installed.\nimport './wax.cjs';\n");

// The full YAML library, for the files the fast reader declines, as one CommonJS file
// that src/document/stores/yaml.ts requires on first use (see BUNDLED_YAML there).
await build({ ...common, entryPoints: ['yaml'], format: 'cjs', outfile: `${outdir}/yaml-lib.cjs` });

// src/scan/anchor-search.ts finds it beside the code that loads it, as in build/src.
copyFileSync('build/src/scan/anchor-search.wasm', `${outdir}/anchor-search.wasm`);

try {
  makeCodeCache();
} catch (error) {
  // wax works without the cache, only starts slower: an install must not fail for it.
  rmSync(`${outdir}/wax-cli.cache`, { force: true });
  console.warn(`bundle: no code cache (${error.message.split('\n')[0]}); wax works, but starts slower`);
}

/**
 * `await import('node:child_process')` (in the PGP provider, in a secretlint rule) would
 * stay an import() in the bundle, which cannot run where the launcher runs it (see
 * src/external-import.ts). Each becomes a lazily required module instead: same module,
 * loaded at the same moment.
 */
function builtinsRequiredOnDemand() {
  return {
    name: 'builtins-required-on-demand',
    setup(bundler) {
      bundler.onResolve({ filter: /^[\w:/]+$/ }, (args) => (args.kind === 'dynamic-import' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin-on-demand' } : undefined));
      bundler.onLoad({ filter: /.*/, namespace: 'builtin-on-demand' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    },
  };
}

/**
 * Runs the commands whose start matters most (a scan as the pre-commit hook runs it, an
 * encryption, a decryption) on sample files of our own, never a user's, with
 * WAX_WRITE_CODE_CACHE=1: each run loads the cache of the one before and writes it back
 * with the functions it compiled on top.
 */
function makeCodeCache() {
  const dir = mkdtempSync(join(tmpdir(), 'wax-code-cache-'));
  try {
    // Not the builder's environment: no SOPS_* setting, config file or key of theirs is
    // read (or could make a sample run fail), and HOME is the sample directory.
    const env = { PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: dir, SOPS_AGE_KEY_FILE: join(dir, 'key.txt') };
    const wax = (...args) => {
      const run = spawnSync(process.execPath, [resolve(outdir, 'wax.cjs'), ...args], { cwd: dir, env: { ...env, WAX_WRITE_CODE_CACHE: '1' }, encoding: 'utf8' });
      // scan exits 1 on findings: the samples have some on purpose.
      if (run.status !== 0 && !(args[0] === 'scan' && run.status === 1)) throw new Error(`bundle: wax ${args[0]} (code cache run) failed: ${run.stderr}`);
    };
    writeSamples(dir);
    wax('keygen', '-o', 'key.txt');
    const recipient = /public key: (age1\w+)/.exec(readFileSync(join(dir, 'key.txt'), 'utf8'))?.[1];
    if (!recipient) throw new Error('bundle: keygen wrote no recipient');
    wax('encrypt', '--age', recipient, '--output', 'encrypted.yaml', 'secret.yaml');
    wax('decrypt', 'encrypted.yaml');
    wax('scan', '.');
    const check = spawnSync(process.execPath, [resolve(outdir, 'wax.cjs'), '--version'], { env: { ...env, WAX_DEBUG_CODE_CACHE: '1' }, encoding: 'utf8' });
    if (!check.stderr.includes('code cache used')) console.warn(`bundle: the code cache is not used (${check.stderr.trim()}); wax works, but starts slower`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a scan meets: a plaintext Secret, a credential, configuration without either. */
function writeSamples(dir) {
  const files = {
    'secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: sample-password-for-the-code-cache\n',
    'deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app:1.0\n          resources: { cpu: 100m, memory: 128Mi }\n',
    'config.json': '{\n  "endpoint": "https://user:sample-password@db.example.com/app",\n  "region": "eu-west-1"\n}\n',
    'app.env': 'AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\nLOG_LEVEL=info\n',
    'main.go': 'package main\n\nfunc main() {\n\tprintln("hello")\n}\n',
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
}
