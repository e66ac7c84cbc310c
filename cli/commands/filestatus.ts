import { storeFor } from '../../src/document/stores/index.js';
import { looksEncrypted } from '../../src/document/metadata.js';
import { readInputFile } from '../../src/files.js';
import { inputFormat, type FormatOptions } from '../common.js';

/** `{"encrypted":true}` when the file has sops metadata with a version and a MAC. */
export async function filestatusCommand(files: string[], options: FormatOptions): Promise<number> {
  for (const file of files) {
    const input = readInputFile(file);
    const format = inputFormat(file, options);
    let encrypted = false;
    try {
      encrypted = looksEncrypted(storeFor(format).loadEncrypted(input).metadata);
    } catch {
      encrypted = false; // not parseable in its format: certainly not a sops file
    }
    const line = JSON.stringify({ encrypted });
    process.stdout.write(files.length > 1 ? `${file}: ${line}\n` : `${line}\n`);
  }
  return 0;
}
