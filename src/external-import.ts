/**
 * Imports a package that stays outside the CLI bundle: the cloud SDKs and client-node,
 * large, and needed only by the files and commands that use them.
 *
 * The CLI bundle runs as a `vm.Script` (cli/launcher.ts), and on Node.js 20 an `import()`
 * in code that V8 took from the code cache fails (the script's import callback is lost),
 * so the launcher, an ES module, registers an importer of its own under this symbol. The
 * compiled library (build/) has none and imports directly.
 */
export const EXTERNAL_IMPORTER = Symbol.for('wax.importExternal');

type Importer = (specifier: string) => Promise<unknown>;

export function importExternal<T>(specifier: string): Promise<T> {
  const importer = (Reflect.get(globalThis, EXTERNAL_IMPORTER) as Importer | undefined) ?? ((name: string) => import(name));
  return importer(specifier) as Promise<T>;
}
