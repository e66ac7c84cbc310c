/**
 * The `wax` command line: argv → one command, loaded lazily so that `wax decrypt` never
 * parses the code of other commands → the only process.exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { printError } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const JOBS = String(Math.max(2, Math.min(8, (globalThis.navigator?.hardwareConcurrency ?? 2) * 2)));

/** Wraps a lazily imported command so that its exit code reaches the single exit point. */
function run<T extends unknown[]>(load: () => Promise<(...args: T) => Promise<number>>) {
  return async (...args: unknown[]) => {
    // commander passes the positional arguments, then the options, then the command.
    const fn = await load();
    process.exitCode = await fn(...(args.slice(0, -1) as T));
  };
}

function keyFlags(cmd: Command): Command {
  return cmd
    .option('-a, --age <recipients>', 'age recipients, comma-separated (repeatable; env SOPS_AGE_RECIPIENTS)', collect)
    .option('-p, --pgp <fingerprints>', 'PGP fingerprints, comma-separated (env SOPS_PGP_FP)', collect)
    .option('-k, --kms <arns>', 'AWS KMS key ARNs, ARN+ROLE_ARN to assume a role (env SOPS_KMS_ARN)', collect)
    .option('--aws-profile <profile>', 'AWS profile for the KMS keys')
    .option('--encryption-context <pairs>', 'KMS encryption context, key:value,key:value')
    .option('--azure-kv <urls>', 'Azure Key Vault key URLs (env SOPS_AZURE_KEYVAULT_URLS)', collect)
    .option('--gcp-kms <ids>', 'GCP KMS resource ids (env SOPS_GCP_KMS_IDS)', collect)
    .option('--hc-vault-transit <uris>', 'HashiCorp Vault transit URIs (env SOPS_VAULT_URIS)', collect);
}

function ruleFlags(cmd: Command): Command {
  return cmd
    .option('--unencrypted-suffix <suffix>', 'leave keys ending with this suffix in clear (default _unencrypted)')
    .option('--encrypted-suffix <suffix>', 'encrypt only keys ending with this suffix')
    .option('--unencrypted-regex <re>', 'leave keys matching this RE2 regex in clear')
    .option('--encrypted-regex <re>', 'encrypt only keys matching this RE2 regex')
    .option('--unencrypted-comment-regex <re>', 'leave values after a comment matching this regex in clear')
    .option('--encrypted-comment-regex <re>', 'encrypt only values after a comment matching this regex')
    .option('--mac-only-encrypted', 'compute the MAC over encrypted values only');
}

function formatFlags(cmd: Command): Command {
  const types = ['yaml', 'json', 'dotenv', 'ini', 'binary'];
  return cmd
    .addOption(new Option('--input-type <type>', 'input format instead of the extension').choices(types))
    .addOption(new Option('--output-type <type>', 'output format instead of the input format').choices(types))
    .option('--filename-override <name>', 'treat the input as this file name (format, creation rules)')
    .option('--indent <n>', 'indentation of YAML and JSON output')
    .option('--config <path>', 'the .sops.yaml to use (env SOPS_CONFIG)');
}

function bulkFlags(cmd: Command): Command {
  return cmd.option('-r, --recursive', 'process every file in the directories given').option('-j, --jobs <n>', 'files processed at once', JOBS);
}

function example(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', `\nExample:\n${text}\n`);
}

export function buildProgram(): Command {
  const program = new Command('wax')
    .description('SOPS-compatible secrets for GitOps: encrypt values with age and cloud keys, commit them, decrypt in CI and the cluster')
    .version('0.1.0')
    .showSuggestionAfterError()
    .exitOverride();

  const encrypt = program.command('encrypt').argument('[files...]').description('encrypt files (to stdout, or in place with -i)');
  keyFlags(ruleFlags(formatFlags(bulkFlags(encrypt))))
    .option('-i, --in-place', 'write the encrypted file over the plaintext')
    .option('--output <path>', 'write the result to this file')
    .option('--shamir-secret-sharing-threshold <n>', 'key groups needed to decrypt')
    .action(run(async () => (await import('./commands/encrypt.js')).encryptCommand));
  example(encrypt, '  $ wax encrypt --age age1… -i secret.yaml\n  $ wax encrypt -i -r clusters/   # every file a .sops.yaml rule covers');

  const decrypt = program.command('decrypt').argument('[files...]').description('decrypt files (to stdout, or in place with -i)');
  formatFlags(bulkFlags(decrypt))
    .option('--extract <path>', 'print one value, e.g. \'["data"]["password"]\'')
    .option('-i, --in-place', 'write the plaintext over the encrypted file')
    .option('--output <path>', 'write the plaintext to this file (created 0600)')
    .option('--ignore-mac', 'do not verify the MAC (for files edited by hand)')
    .option('--decryption-order <types>', 'master key types to try first (env SOPS_DECRYPTION_ORDER)')
    .action(run(async () => (await import('./commands/decrypt.js')).decryptCommand));
  example(decrypt, '  $ wax decrypt secret.yaml\n  $ wax decrypt --extract \'["stringData"]["password"]\' secret.yaml');

  const edit = program.command('edit').argument('<file>').description('open the decrypted file in $SOPS_EDITOR or $EDITOR and encrypt it again');
  keyFlags(ruleFlags(formatFlags(edit)))
    .option('--ignore-mac', 'open even if the MAC does not verify')
    .option('--shamir-secret-sharing-threshold <n>', 'key groups needed to decrypt (new files)')
    .option('--decryption-order <types>', 'master key types to try first')
    .action(run(async () => (await import('./commands/edit.js')).editCommand));
  example(edit, '  $ EDITOR=vim wax edit secret.yaml   # exits 200 if you change nothing');

  const set = program.command('set').argument('<file>').argument('<path>').argument('[value]').description('set one value (JSON) without opening an editor');
  formatFlags(set)
    .option('--value-stdin', 'read the value from standard input')
    .option('--value-file', 'treat VALUE as a file name to read the value from')
    .option('--idempotent', 'do not rewrite the file if the value is already set')
    .option('--ignore-mac', 'set even if the MAC does not verify')
    .action(run(async () => (await import('./commands/set.js')).setCommand));
  example(set, '  $ wax set secret.yaml \'["stringData"]["password"]\' \'"s3cret"\'');

  const unset = program.command('unset').argument('<file>').argument('<path>').description('remove one key or list element');
  formatFlags(unset)
    .option('--idempotent', 'succeed if the key is already absent')
    .option('--ignore-mac', 'unset even if the MAC does not verify')
    .action(run(async () => (await import('./commands/set.js')).unsetCommand));
  example(unset, '  $ wax unset secret.yaml \'["stringData"]["old"]\'');

  const rotate = program.command('rotate').argument('[files...]').description('re-encrypt with a new data key, optionally adding or removing master keys');
  formatFlags(bulkFlags(rotate))
    .option('-i, --in-place', 'write the result over the file (needed for several files)')
    .option('--output <path>', 'write the result to this file')
    .option('--add-age <recipients>', 'add age recipients', collect)
    .option('--rm-age <recipients>', 'remove age recipients', collect)
    .option('--add-pgp <fps>', 'add PGP fingerprints', collect)
    .option('--rm-pgp <fps>', 'remove PGP fingerprints', collect)
    .option('--add-kms <arns>', 'add AWS KMS keys', collect)
    .option('--rm-kms <arns>', 'remove AWS KMS keys', collect)
    .option('--add-azure-kv <urls>', 'add Azure Key Vault keys', collect)
    .option('--rm-azure-kv <urls>', 'remove Azure Key Vault keys', collect)
    .option('--ignore-mac', 'rotate even if the MAC does not verify')
    .option('--decryption-order <types>', 'master key types to try first')
    .action(run(async () => (await import('./commands/rotate.js')).rotateCommand));
  example(rotate, '  $ wax rotate -i --add-age age1new… --rm-age age1old… secret.yaml\n  $ wax rotate -i -r clusters/');

  const updatekeys = program.command('updatekeys').argument('[files...]').description("make each file's master keys match its .sops.yaml creation rule");
  formatFlags(bulkFlags(updatekeys))
    .option('-y, --yes', 'apply without asking')
    .option('--shamir-secret-sharing-threshold <n>', 'key groups needed to decrypt')
    .option('--decryption-order <types>', 'master key types to try first')
    .action(run(async () => (await import('./commands/updatekeys.js')).updatekeysCommand));
  example(updatekeys, '  $ wax updatekeys -y -r clusters/');

  const filestatus = program.command('filestatus').argument('<files...>').description('print {"encrypted":true|false} for each file');
  formatFlags(filestatus).action(run(async () => (await import('./commands/filestatus.js')).filestatusCommand));
  example(filestatus, '  $ wax filestatus secret.yaml\n  {"encrypted":true}');

  const execEnv = program
    .command('exec-env')
    .argument('<file>')
    .argument('<command>')
    .description("run a command with the file's top-level values in its environment")
    .option('--pristine', 'start from an empty environment')
    .option('--ignore-mac', 'run even if the MAC does not verify');
  formatFlags(execEnv).action(run(async () => (await import('./commands/exec.js')).execEnvCommand));
  example(execEnv, "  $ wax exec-env secrets.env 'psql \"$DATABASE_URL\"'");

  const execFile = program
    .command('exec-file')
    .argument('<file>')
    .argument('<command>')
    .description('run a command with {} replaced by the path of a private FIFO (or file) holding the plaintext')
    .option('--no-fifo', 'use a private temporary file instead of a FIFO')
    .option('--filename <name>', 'name of the temporary file', 'tmp-file')
    .option('--ignore-mac', 'run even if the MAC does not verify');
  formatFlags(execFile).action(run(async () => (await import('./commands/exec.js')).execFileCommand));
  example(execFile, "  $ wax exec-file kubeconfig.yaml 'kubectl --kubeconfig {} get pods'");

  program
    .command('keygen')
    .description('generate a new age identity (private key) and print its recipient')
    .option('-o, --output <path>', 'write the identity to this file (created 0600) instead of stdout')
    .option('--pq', 'generate a post-quantum hybrid (ML-KEM-768 + X25519) identity')
    .action(run(async () => (await import('./commands/keygen.js')).keygenCommand))
    .addHelpText('after', '\nExample:\n  $ wax keygen -o ~/.config/sops/age/keys.txt\n');

  return program;
}

function configureCommands(program: Command): void {
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride();
    cmd.configureOutput({ outputError: (text, write) => write(`wax: error: ${text.replace(/^error: /, '').trimEnd()}\nwax: hint: see \`wax ${cmd === program ? '' : cmd.name() + ' '}--help\`\n`) });
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  configureCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? 0 : 64;
    }
    return printError(error);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => process.exit(printError(error)),
);
