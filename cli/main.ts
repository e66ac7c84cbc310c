/**
 * The `wax` command line: argv → one command, loaded lazily so that `wax decrypt` never
 * parses the code of other commands → the only process.exit.
 */
import { availableParallelism } from 'node:os';
import { UsageError } from '../src/errors.js';
import { commandHelp, parseCommand, programHelp, suggest, type CommandFunction, type CommandSpec, type OptionSpec } from './args.js';
import { printError } from './output.js';

const VERSION = '0.1.0';
const JOBS = String(Math.max(2, Math.min(8, availableParallelism() * 2)));
const FORMATS = ['yaml', 'json', 'dotenv', 'ini', 'binary'];

const KEY_FLAGS: OptionSpec[] = [
  { flags: '-a, --age <recipients>', description: 'age recipients, comma-separated (repeatable; env SOPS_AGE_RECIPIENTS)', multiple: true },
  { flags: '-p, --pgp <fingerprints>', description: 'PGP fingerprints, comma-separated (env SOPS_PGP_FP)', multiple: true },
  { flags: '-k, --kms <arns>', description: 'AWS KMS key ARNs, ARN+ROLE_ARN to assume a role (env SOPS_KMS_ARN)', multiple: true },
  { flags: '--aws-profile <profile>', description: 'AWS profile for the KMS keys' },
  { flags: '--encryption-context <pairs>', description: 'KMS encryption context, key:value,key:value' },
  { flags: '--azure-kv <urls>', description: 'Azure Key Vault key URLs (env SOPS_AZURE_KEYVAULT_URLS)', multiple: true },
  { flags: '--gcp-kms <ids>', description: 'GCP KMS resource ids (env SOPS_GCP_KMS_IDS)', multiple: true },
  { flags: '--hc-vault-transit <uris>', description: 'HashiCorp Vault transit URIs (env SOPS_VAULT_URIS)', multiple: true },
];

const RULE_FLAGS: OptionSpec[] = [
  { flags: '--unencrypted-suffix <suffix>', description: 'leave keys ending with this suffix in clear (default _unencrypted)' },
  { flags: '--encrypted-suffix <suffix>', description: 'encrypt only keys ending with this suffix' },
  { flags: '--unencrypted-regex <re>', description: 'leave keys matching this RE2 regex in clear' },
  { flags: '--encrypted-regex <re>', description: 'encrypt only keys matching this RE2 regex' },
  { flags: '--unencrypted-comment-regex <re>', description: 'leave values after a comment matching this regex in clear' },
  { flags: '--encrypted-comment-regex <re>', description: 'encrypt only values after a comment matching this regex' },
  { flags: '--mac-only-encrypted', description: 'compute the MAC over encrypted values only' },
];

const FORMAT_FLAGS: OptionSpec[] = [
  { flags: '--input-type <type>', description: 'input format instead of the extension', choices: FORMATS },
  { flags: '--output-type <type>', description: 'output format instead of the input format', choices: FORMATS },
  { flags: '--filename-override <name>', description: 'treat the input as this file name (format, creation rules)' },
  { flags: '--indent <n>', description: 'indentation of YAML and JSON output' },
  { flags: '--config <path>', description: 'the .sops.yaml to use (env SOPS_CONFIG)' },
];

const BULK_FLAGS: OptionSpec[] = [
  { flags: '-r, --recursive', description: 'process every file in the directories given' },
  { flags: '-j, --jobs <n>', description: 'files processed at once', default: JOBS },
];

const IGNORE_MAC: OptionSpec = { flags: '--ignore-mac', description: 'go on even if the MAC does not verify (for files edited by hand)' };
const DECRYPTION_ORDER: OptionSpec = { flags: '--decryption-order <types>', description: 'master key types to try first (env SOPS_DECRYPTION_ORDER)' };
const THRESHOLD: OptionSpec = { flags: '--shamir-secret-sharing-threshold <n>', description: 'key groups needed to decrypt' };

const rotateKeyFlags = (['age', 'pgp', 'kms', 'azure-kv'] as const).flatMap((type): OptionSpec[] => [
  { flags: `--add-${type} <keys>`, description: `add ${type} keys, comma-separated`, multiple: true },
  { flags: `--rm-${type} <keys>`, description: `remove ${type} keys, comma-separated`, multiple: true },
]);

const COMMANDS: CommandSpec[] = [
  {
    name: 'encrypt',
    args: ['[files...]'],
    description: 'encrypt files (to stdout, or in place with -i)',
    options: [
      { flags: '-i, --in-place', description: 'write the encrypted file over the plaintext' },
      { flags: '--output <path>', description: 'write the result to this file' },
      THRESHOLD,
      ...KEY_FLAGS,
      ...RULE_FLAGS,
      ...FORMAT_FLAGS,
      ...BULK_FLAGS,
    ],
    example: '  $ wax encrypt --age age1… -i secret.yaml\n  $ wax encrypt -i -r clusters/   # every file a .sops.yaml rule covers',
    load: async () => (await import('./commands/encrypt.js')).encryptCommand,
  },
  {
    name: 'decrypt',
    args: ['[files...]'],
    description: 'decrypt files (to stdout, or in place with -i)',
    options: [
      { flags: '--extract <path>', description: 'print one value, e.g. \'["data"]["password"]\'' },
      { flags: '-i, --in-place', description: 'write the plaintext over the encrypted file' },
      { flags: '--output <path>', description: 'write the plaintext to this file (created 0600)' },
      { flags: '--as-secret', description: 'verify an EncryptedSecret (scope included) and print the Secret it will become' },
      IGNORE_MAC,
      DECRYPTION_ORDER,
      ...FORMAT_FLAGS,
      ...BULK_FLAGS,
    ],
    example: '  $ wax decrypt secret.yaml\n  $ wax decrypt --extract \'["stringData"]["password"]\' secret.yaml',
    load: async () => (await import('./commands/decrypt.js')).decryptCommand,
  },
  {
    name: 'seal',
    args: ['<file>'],
    description: 'turn a plain Secret manifest into an EncryptedSecret (values and scope encrypted) for the wax controller',
    options: [
      { flags: '--scope <scope>', description: 'where it may be decrypted; strict (the default) binds namespace and name', choices: ['strict', 'namespace', 'cluster'], default: 'strict' },
      { flags: '-i, --in-place', description: 'write the EncryptedSecret over the plain manifest' },
      { flags: '--output <path>', description: 'write the EncryptedSecret to this file' },
      THRESHOLD,
      ...KEY_FLAGS,
      { flags: '--indent <n>', description: 'indentation of the output' },
      { flags: '--config <path>', description: 'the .sops.yaml to use (env SOPS_CONFIG)' },
    ],
    example:
      '  $ kubectl create secret generic db -n payments --from-literal=password=… --dry-run=client -o yaml > db.yaml\n' +
      '  $ wax seal --age age1… -i db.yaml          # only data, stringData and the scope are encrypted\n' +
      '  $ wax decrypt --as-secret db.yaml          # the Secret it will become',
    load: async () => (await import('./commands/seal.js')).sealCommand,
  },
  {
    name: 'edit',
    args: ['<file>'],
    description: 'open the decrypted file in $SOPS_EDITOR or $EDITOR and encrypt it again',
    options: [IGNORE_MAC, DECRYPTION_ORDER, THRESHOLD, ...KEY_FLAGS, ...RULE_FLAGS, ...FORMAT_FLAGS],
    example: '  $ EDITOR=vim wax edit secret.yaml   # exits 200 if you change nothing',
    load: async () => (await import('./commands/edit.js')).editCommand,
  },
  {
    name: 'set',
    args: ['<args...>'],
    usage: 'FILE... PATH [VALUE]',
    description: 'set one value (JSON) without opening an editor, in one file or many',
    options: [
      { flags: '--value-stdin', description: 'read the value from standard input' },
      { flags: '--value-file', description: 'treat VALUE as a file name to read the value from' },
      { flags: '--idempotent', description: 'do not rewrite the file if the value is already set' },
      IGNORE_MAC,
      ...FORMAT_FLAGS,
      ...BULK_FLAGS,
    ],
    example: '  $ wax set secret.yaml \'["stringData"]["password"]\' \'"s3cret"\'\n  $ wax set -r clusters/ \'["metadata"]["labels"]["team"]\' \'"payments"\'',
    load: async () => (await import('./commands/set.js')).setCommand,
  },
  {
    name: 'unset',
    args: ['<args...>'],
    usage: 'FILE... PATH',
    description: 'remove one key or list element, in one file or many',
    options: [{ flags: '--idempotent', description: 'succeed if the key is already absent' }, IGNORE_MAC, ...FORMAT_FLAGS, ...BULK_FLAGS],
    example: '  $ wax unset secret.yaml \'["stringData"]["old"]\'',
    load: async () => (await import('./commands/set.js')).unsetCommand,
  },
  {
    name: 'rotate',
    args: ['[files...]'],
    description: 're-encrypt with a new data key, optionally adding or removing master keys',
    options: [
      { flags: '-i, --in-place', description: 'write the result over the file (needed for several files)' },
      { flags: '--output <path>', description: 'write the result to this file' },
      ...rotateKeyFlags,
      IGNORE_MAC,
      DECRYPTION_ORDER,
      ...FORMAT_FLAGS,
      ...BULK_FLAGS,
    ],
    example: '  $ wax rotate -i --add-age age1new… --rm-age age1old… secret.yaml\n  $ wax rotate -i -r clusters/',
    load: async () => (await import('./commands/rotate.js')).rotateCommand,
  },
  {
    name: 'updatekeys',
    args: ['[files...]'],
    description: "make each file's master keys match its .sops.yaml creation rule",
    options: [{ flags: '-y, --yes', description: 'apply without asking' }, THRESHOLD, DECRYPTION_ORDER, ...FORMAT_FLAGS, ...BULK_FLAGS],
    example: '  $ wax updatekeys -y -r clusters/',
    load: async () => (await import('./commands/updatekeys.js')).updatekeysCommand,
  },
  {
    name: 'filestatus',
    args: ['<files...>'],
    description: 'print {"encrypted":true|false} for each file',
    options: FORMAT_FLAGS,
    example: '  $ wax filestatus secret.yaml\n  {"encrypted":true}',
    load: async () => (await import('./commands/filestatus.js')).filestatusCommand,
  },
  {
    name: 'exec-env',
    args: ['<file>', '<command>'],
    description: "run a command with the file's top-level values in its environment",
    options: [{ flags: '--pristine', description: 'start from an empty environment' }, IGNORE_MAC, ...FORMAT_FLAGS],
    example: "  $ wax exec-env secrets.env 'psql \"$DATABASE_URL\"'",
    load: async () => (await import('./commands/exec.js')).execEnvCommand,
  },
  {
    name: 'exec-file',
    args: ['<file>', '<command>'],
    description: 'run a command with {} replaced by the path of a private FIFO (or file) holding the plaintext',
    options: [
      { flags: '--no-fifo', description: 'use a private temporary file instead of a FIFO' },
      { flags: '--filename <name>', description: 'name of the temporary file', default: 'tmp-file' },
      IGNORE_MAC,
      ...FORMAT_FLAGS,
    ],
    example: "  $ wax exec-file kubeconfig.yaml 'kubectl --kubeconfig {} get pods'",
    load: async () => (await import('./commands/exec.js')).execFileCommand,
  },
  {
    name: 'scan',
    args: ['[paths...]'],
    description: 'find plaintext secrets before they reach git (exit 1: findings, 0: clean, 2: error)',
    options: [
      { flags: '--staged', description: "scan git's index: the content the next commit will hold (for pre-commit hooks)" },
      { flags: '--all', description: 'scan every file git tracks' },
      { flags: '--since <rev>', description: 'scan the files changed since a commit (for CI)' },
      { flags: '--stdin-filename <name>', description: 'the file name to scan standard input (-) as' },
      { flags: '--format <format>', description: 'report format', choices: ['text', 'json', 'sarif'], default: 'text' },
      { flags: '--baseline <file>', description: 'leave out the accepted findings listed in this file' },
      { flags: '--write-baseline <file>', description: 'accept the current findings: write them to this file (fingerprints only) and exit 0' },
      { flags: '--entropy', description: 'also report high-entropy strings (noisy, off by default)' },
    ],
    example:
      '  $ wax scan                      # the current directory\n' +
      '  $ wax scan --staged             # what the next commit holds\n' +
      '  $ wax scan --since origin/main --format sarif > wax.sarif\n' +
      '  $ kubectl get secret db -o yaml | wax scan - --stdin-filename db.yaml\n' +
      '  Accept a finding with a `wax:allow` comment on its line (or alone on the line above),\n' +
      '  a path in .waxignore (gitignore syntax), or a --baseline file.',
    load: async () => (await import('./commands/scan.js')).scanCommand,
    // A hook and CI read 1 as "findings": any failure of the scan itself is 2.
    failureExitCode: 2,
  },
  {
    name: 'hook',
    args: ['<action>'],
    usage: 'install|uninstall',
    description: 'install (or remove) a git pre-commit hook that runs `wax scan --staged`',
    options: [{ flags: '--force', description: 'replace an existing pre-commit hook instead of running it first' }],
    example:
      '  $ wax hook install       # honours core.hooksPath; an existing hook is kept and runs first\n' +
      '  $ WAX_SKIP_HOOK=1 git commit …   # skip the scan once (git commit --no-verify skips every hook)\n' +
      '  $ wax hook uninstall     # puts back the hook it chained',
    load: async () => (await import('./commands/hook.js')).hookCommand,
  },
  {
    name: 'keygen',
    args: [],
    description: 'generate a new age identity (private key) and print its recipient',
    options: [
      { flags: '-o, --output <path>', description: 'write the identity to this file (created 0600) instead of stdout' },
      { flags: '--pq', description: 'generate a post-quantum hybrid (ML-KEM-768 + X25519) identity' },
    ],
    example: '  $ wax keygen -o ~/.config/sops/age/keys.txt',
    load: async () => (await import('./commands/keygen.js')).keygenCommand,
  },
  {
    name: 'status',
    args: ['[names...]'],
    description: 'show the EncryptedSecrets in a namespace or the cluster: Ready, reason, Secret, last decryption',
    options: [
      { flags: '-n, --namespace <namespace>', description: "the namespace (default: the context's, else default)" },
      { flags: '-A, --all-namespaces', description: 'every namespace' },
      { flags: '--kubeconfig <path>', description: 'the kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)' },
      { flags: '--context <name>', description: 'the kubeconfig context to use' },
      { flags: '-o, --output <format>', description: 'output format', choices: ['table', 'json'], default: 'table' },
    ],
    example: '  $ wax status -A\n  $ wax status -n payments db -o json   # exits 0 whatever the status; use `wax wait` as a gate',
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  {
    name: 'wait',
    args: ['<names...>'],
    description: 'wait until the named EncryptedSecrets are Ready at their current generation (exit 211: failed, 212: timed out)',
    options: [
      { flags: '-n, --namespace <namespace>', description: "the namespace (default: the context's, else default)" },
      { flags: '--timeout <duration>', description: 'give up after this long (90s, 2m, 1h)', default: '2m' },
      { flags: '--kubeconfig <path>', description: 'the kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)' },
      { flags: '--context <name>', description: 'the kubeconfig context to use' },
    ],
    example: '  $ kubectl apply -f db.yaml && wax wait -n payments db --timeout 2m',
    load: async () => (await import('./commands/status.js')).waitCommand,
  },
];

const SUMMARY = 'SOPS-compatible secrets for GitOps: encrypt values with age and cloud keys, commit them, decrypt in CI and the cluster.';

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(programHelp(COMMANDS, SUMMARY));
    return name === undefined ? 64 : 0;
  }
  if (name === '-V' || name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (!spec) {
    const guess = suggest(name, COMMANDS.map((c) => c.name));
    throw new UsageError(`unknown command '${name}'`, guess ? `did you mean \`wax ${guess}\`? see \`wax --help\`` : 'see `wax --help`');
  }
  const parsed = parseCommand(spec, rest);
  if (parsed.help) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  const run = (await spec.load()) as (...args: unknown[]) => Promise<number>;
  return run(...parsed.args);
}

// wax pins its AWS SDK version on purpose (package.json); the SDK's Node-version notice
// is eight lines on stderr that a user cannot act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** process.exit drops what a pipe has not taken yet: a slow reader of `wax decrypt` got 64 KB. */
function exitAfterOutput(code: number): void {
  if (process.stdout.writableLength === 0) process.exit(code);
  process.stdout.write('', () => process.exit(code));
}

main(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code),
  (error) => {
    const code = printError(error);
    exitAfterOutput(COMMANDS.find((c) => c.name === process.argv[2])?.failureExitCode ?? code);
  },
);

export type { CommandFunction };
