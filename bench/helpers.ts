/**
 * Small scripts the benchmark writes into its temporary directory and runs in fresh node
 * processes. They are plain .mjs (not compiled TypeScript) so that what is timed is only
 * node + the code under test.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface HelperPaths {
  sopsAge: string;
  resolveLog: string;
  rss: string;
}

/** sopsAgeUrl: file URL of the sops-age entry in the project's node_modules. */
export function writeHelpers(dir: string, sopsAgeUrl: string): HelperPaths {
  const paths: HelperPaths = {
    sopsAge: path.join(dir, 'sops-age-decrypt.mjs'),
    resolveLog: path.join(dir, 'resolve-log.mjs'),
    rss: path.join(dir, 'rss.mjs'),
  };

  // argv: <age key file> <sops file>. Prints the plaintext like `wax decrypt` does, so both
  // pay for producing output; fileType is given so that nothing is auto-detected.
  writeFileSync(
    paths.sopsAge,
    `import { decryptSops } from ${JSON.stringify(sopsAgeUrl)};
import { readFileSync } from 'node:fs';
const [keyFile, file] = process.argv.slice(2);
const secretKey = readFileSync(keyFile, 'utf8').match(/^AGE-SECRET-KEY-1\\S+/m)[0];
const plain = await decryptSops(readFileSync(file, 'utf8'), { secretKey, fileType: 'yaml' });
process.stdout.write(JSON.stringify(plain) + '\\n');
`,
  );

  // Registered with --import before the entry point, so the entry, every chunk it imports
  // and every bare specifier are seen. The hook runs off-thread and appends to a file.
  const hooks = path.join(dir, 'resolve-log-hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}
`,
  );
  // ESM resolve hooks do not see require() on node 20, and the bundle has a require (for
  // CommonJS dependencies), so the CommonJS cache is logged at exit as well.
  writeFileSync(
    paths.resolveLog,
    `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const log = process.env.BENCH_RESOLVE_LOG;
register(${JSON.stringify('./' + path.basename(hooks))}, import.meta.url, { data: { log } });
const require = createRequire(import.meta.url);
process.on('exit', () => {
  for (const file of Object.keys(require.cache)) appendFileSync(log, pathToFileURL(file).href + '\\n');
});
`,
  );

  // Fallback for machines without GNU time; maxRSS is in KiB like GNU time's %M.
  writeFileSync(
    paths.rss,
    `import { writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(process.env.BENCH_RSS_OUT, String(process.resourceUsage().maxRSS)));
`,
  );
  return paths;
}
