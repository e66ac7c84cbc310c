// Compiles the WebAssembly text of src/ (src/scan/anchor-search.wat) into build/src/,
// beside the JavaScript that loads it; scripts/bundle.mjs copies it into dist/. The
// binary is made from the text on every build, never committed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import wabt from 'wabt';

const MODULES = ['src/scan/anchor-search'];

const toolkit = await wabt();
for (const name of MODULES) {
  const module = toolkit.parseWat(`${name}.wat`, readFileSync(`${name}.wat`, 'utf8'), { simd: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({});
    mkdirSync(dirname(`build/${name}.wasm`), { recursive: true });
    writeFileSync(`build/${name}.wasm`, buffer);
  } finally {
    module.destroy();
  }
}
