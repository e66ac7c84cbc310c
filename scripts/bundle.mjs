// Bundles the CLI into dist/ so that a cold `wax` start reads a few files instead of
// resolving hundreds of modules. Commands stay separate chunks (splitting), so running
// `wax decrypt` never parses the code of `wax edit` or of a cloud SDK.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// WAX_BUNDLE_OUTDIR lets a second bundle (under the repository, so that node_modules
// resolves) be built while tests run against dist/.
const outdir = process.env.WAX_BUNDLE_OUTDIR ?? 'dist';
// Old chunks would linger with new hashes next to them.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { wax: 'cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.mjs' },
  // WAX_BUNDLE_MINIFY=0 keeps names readable for a CPU profile.
  minify: process.env.WAX_BUNDLE_MINIFY !== '0',
  sourcemap: false,
  legalComments: 'none',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __waxCreateRequire } from 'node:module'; const require = __waxCreateRequire(import.meta.url);",
  },
  // Cloud SDKs stay in node_modules and load only when a file uses their provider.
  external: ['@aws-sdk/*', '@azure/*', '@smithy/*', '@kubernetes/*'],
  logLevel: 'warning',
});

// The full YAML library, for the files the fast reader declines, as one CommonJS file
// that src/document/stores/yaml.ts requires on first use (see BUNDLED_YAML there).
await build({
  entryPoints: ['yaml'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: `${outdir}/yaml-lib.cjs`,
  minify: process.env.WAX_BUNDLE_MINIFY !== '0',
  legalComments: 'none',
  logLevel: 'warning',
});
