import { createInterface } from 'node:readline/promises';
import { rekeyBytes, loadEncrypted } from '../../src/sops-file.js';
import { loadProvider, resolveKeyGroups, sameKey, type MasterKeyRecipient } from '../../src/providers/index.js';
import { matchCreationRule } from '../../src/config.js';
import { parseDecryptionOrder } from '../../src/crypto/envelope.js';
import { readInputFile, replaceIfUnchanged, updateFile } from '../../src/files.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import type { KeyGroup } from '../../src/document/metadata.js';
import { expandPaths, runBulk, type FileOutcome } from '../bulk.js';
import { emitOptions, inputFormat, isAlreadyEncrypted, loadSopsConfig, providerContext, type FormatOptions } from '../common.js';
import type { SopsConfig } from '../../src/config.js';

export interface UpdatekeysOptions extends FormatOptions {
  yes?: boolean;
  shamirSecretSharingThreshold?: string;
  decryptionOrder?: string;
  recursive?: boolean;
  jobs: string;
  indent?: string;
  config?: string;
}

export async function updatekeysCommand(files: string[], options: UpdatekeysOptions): Promise<number> {
  if (files.length === 0) throw new UsageError('updatekeys needs a file', 'see `wax updatekeys --help`');
  const config = loadSopsConfig(options);
  if (!config) throw new ConfigError('updatekeys needs a .sops.yaml', 'create one with creation_rules, or pass --config');
  if (!options.yes && !process.stdin.isTTY) throw new UsageError('updatekeys asks for confirmation, but standard input is not a terminal', 'pass -y to apply without asking');
  const paths = expandPaths(files, Boolean(options.recursive));
  // Questions must not interleave, so interactive runs go one file at a time.
  const jobs = options.yes ? Number(options.jobs) : 1;
  return runBulk(paths, (path) => updateOne(path, options, config), { verb: 'updated', jobs });
}

/**
 * With -y the whole read-rekey-write runs under the file's lock. When a person is asked
 * first, the lock is not held while they think: the answer applies only to the content
 * shown, so a file changed meanwhile is refused (ConcurrentModificationError).
 */
async function updateOne(path: string, options: UpdatekeysOptions, config: SopsConfig): Promise<FileOutcome> {
  const input = readInputFile(path);
  if (!isAlreadyEncrypted(input, inputFormat(path, options))) {
    if (options.recursive) return { status: 'skipped' };
    throw new UsageError(`${path} is not encrypted`, 'encrypt it first with `wax encrypt -i`');
  }
  if (options.yes) {
    let result: Buffer | string = '';
    await updateFile(path, async (current) => {
      result = await rekeyIfNeeded(path, current, options, config);
      return typeof result === 'string' ? undefined : result;
    });
    return outcome(result);
  }
  const result = await rekeyIfNeeded(path, input, options, config, () => confirm('apply these changes?'));
  if (typeof result !== 'string') await replaceIfUnchanged(path, input, result);
  return outcome(result);
}

const outcome = (result: Buffer | string): FileOutcome => (typeof result === 'string' ? { status: 'skipped', note: result } : { status: 'done' });

/** The file with the creation rule's keys, or why it stays as it is. */
async function rekeyIfNeeded(path: string, input: Buffer, options: UpdatekeysOptions, config: SopsConfig, approve?: () => Promise<boolean>): Promise<Buffer | string> {
  const format = inputFormat(path, options);
  const rule = await matchCreationRule(config, path);
  const ctx = providerContext();
  const desired = await resolveKeyGroups(rule.keyGroups, ctx);
  const current = loadEncrypted(input, format, path).metadata;
  const threshold = options.shamirSecretSharingThreshold !== undefined ? Number(options.shamirSecretSharingThreshold) : current.shamirThreshold;
  const diff = await describeDiff(current.keyGroups, desired);
  if (diff.length === 0 && threshold === current.shamirThreshold) return 'already up to date';
  process.stderr.write(`wax: ${path}: key changes:\n${diff.map((line) => `  ${line}\n`).join('')}`);
  if (approve && !(await approve())) return 'changes not applied';
  const { output } = await rekeyBytes(input, {
    format,
    path,
    ctx,
    keyGroups: desired,
    shamirThreshold: threshold,
    decryptionOrder: options.decryptionOrder ? parseDecryptionOrder(options.decryptionOrder) : undefined,
    emit: emitOptions(format, options.indent, config),
  });
  return output;
}

/** Lines like `group 0: + age age1…` for every key added or removed. */
async function describeDiff(current: KeyGroup[], desired: MasterKeyRecipient[][]): Promise<string[]> {
  const lines: string[] = [];
  const groups = Math.max(current.length, desired.length);
  for (let g = 0; g < groups; g++) {
    const before: { type: string; id: string }[] = [];
    for (const entry of current[g] ?? []) before.push({ type: entry.type, id: (await loadProvider(entry.type).catch(() => undefined))?.describe(entry) ?? JSON.stringify(entry.fields) });
    const after = desired[g] ?? [];
    for (const r of after) if (!before.some((b) => b.type === r.type && sameKey(r, b.id))) lines.push(`group ${g}: + ${r.type} ${r.id}`);
    for (const b of before) if (!after.some((r) => r.type === b.type && sameKey(r, b.id))) lines.push(`group ${g}: - ${b.type} ${b.id}`);
  }
  return lines;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`wax: ${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
