import { generateAgeIdentity } from '../../src/providers/age.js';
import { writeFileAtomic } from '../../src/files.js';
import { UsageError } from '../../src/errors.js';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { info } from '../output.js';

/** Writes a new identity in age-keygen's layout; the recipient also goes to stderr. */
export async function keygenCommand(options: { output?: string; pq?: boolean }): Promise<number> {
  const { identity, recipient } = await generateAgeIdentity(options.pq);
  const text = `# created: ${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${recipient}\n${identity}\n`;
  if (options.output) {
    if (existsSync(options.output)) throw new UsageError(`${options.output} already exists`, 'choose another path; wax never overwrites a key file');
    mkdirSync(dirname(options.output), { recursive: true, mode: 0o700 });
    writeFileAtomic(options.output, Buffer.from(text), { mode: 0o600 });
    info(`public key: ${recipient}`);
  } else {
    process.stdout.write(text);
    if (!process.stdout.isTTY) info(`public key: ${recipient}`);
  }
  return 0;
}
