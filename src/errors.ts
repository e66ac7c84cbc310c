/**
 * Every failure wax reports is one of these classes. Each carries a stable exit code
 * (sops' own code where sops has one, see `cmd/sops/codes/codes.go`) and an optional
 * hint. Messages never contain plaintext, key material or a whole ciphertext: callers
 * build them from paths, key identifiers and reasons only.
 */
export const ExitCode = {
  Generic: 1,
  CouldNotReadInputFile: 2,
  CouldNotWriteOutputFile: 3,
  ErrorDumpingTree: 4,
  ErrorReadingConfig: 5,
  InvalidSetFormat: 7,
  ConflictingParameters: 8,
  ErrorEncryptingTree: 23,
  ErrorDecryptingTree: 25,
  InvalidInputDocument: 26,
  MacMismatch: 51,
  ConfigFileNotFound: 61,
  Usage: 64,
  KeyboardInterrupt: 85,
  InvalidTreePathFormat: 91,
  NoFileSpecified: 100,
  NoEncryptionKeyFound: 111,
  CouldNotRetrieveKey: 128,
  FileHasNotBeenModified: 200,
  NoEditorFound: 201,
  FileAlreadyEncrypted: 203,
  FileNotEncrypted: 204,
  SomeFilesFailed: 205,
  // wax's own codes for the cluster commands (`wax status`, `wax wait`); sops has none.
  KubernetesApiError: 210,
  EncryptedSecretFailed: 211,
  WaitTimeout: 212,
  // wax's own: a file changed by another process while wax worked on it (or still locked).
  ConcurrentModification: 213,
} as const;

export class WaxError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, exitCode: number = ExitCode.Generic, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Wrong flags or arguments. */
export class UsageError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Usage, hint);
  }
}

/** Two options that cannot be used together (for example two selection rules). */
export class ConflictingParametersError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.ConflictingParameters, hint);
  }
}

/** The input file does not exist. */
export class FileNotFoundError extends WaxError {
  constructor(path: string) {
    super(`${path}: no such file`, ExitCode.NoFileSpecified, 'check the path, or use `wax edit` to create a new file');
  }
}

/** The input exists but cannot be read (permissions, a directory without -r, ...). */
export class ReadError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotReadInputFile, hint);
  }
}

/** The output could not be written; the original file is untouched. */
export class WriteError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotWriteOutputFile, hint);
  }
}

/** The document cannot be parsed or is not a shape sops supports. */
export class InvalidDocumentError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.InvalidInputDocument, hint);
  }
}

/** The `sops` metadata block is missing or malformed. */
export class MetadataError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotReadInputFile, hint);
  }
}

/** `.sops.yaml` is malformed, or no creation rule matches. */
export class ConfigError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.ErrorReadingConfig, hint);
  }
}

/** A regular expression uses RE2 syntax that cannot be honoured. */
export class RegexError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.ErrorReadingConfig, hint);
  }
}

/** The file already carries sops metadata and cannot be encrypted again. */
export class AlreadyEncryptedError extends WaxError {
  constructor(path: string) {
    super(`${path}: file is already encrypted`, ExitCode.FileAlreadyEncrypted, 'use `wax edit` or `wax rotate` on an encrypted file');
  }
}

/** The file has no sops metadata where an encrypted file is required. */
export class NotEncryptedError extends WaxError {
  constructor(path: string) {
    super(`${path}: file is not encrypted (no sops metadata)`, ExitCode.FileNotEncrypted, 'encrypt it first with `wax encrypt -i`');
  }
}

/**
 * Integrity failures: the file was tampered with or corrupted. Subclasses keep sops'
 * exit codes; callers that only care "was this an integrity failure" catch this class.
 */
export class IntegrityError extends WaxError {}

/** A value failed AES-GCM authentication (wrong data key, tampered or moved value). */
export class ValueAuthenticationError extends IntegrityError {
  constructor(path: string, hint?: string) {
    super(
      `value at ${path} failed authentication: it was tampered with, moved from another key, or encrypted with another data key`,
      ExitCode.ErrorDecryptingTree,
      hint ?? 'restore the file from version control',
    );
  }
}

/** An `ENC[...]` value is not in sops' format. */
export class MalformedValueError extends IntegrityError {
  constructor(path: string, reason: string) {
    super(`value at ${path} is not a valid sops value: ${reason}`, ExitCode.ErrorDecryptingTree, 'restore the file from version control');
  }
}

/** The MAC over the values does not match the stored MAC. */
export class MacMismatchError extends IntegrityError {
  constructor(reason: string) {
    super(
      `MAC mismatch: ${reason}`,
      ExitCode.MacMismatch,
      'the file was modified outside wax/sops; restore it, or use --ignore-mac if you trust the change',
    );
  }
}

/**
 * An EncryptedSecret is not where its sealed scope allows (a copy applied to another
 * namespace or name). An integrity failure: the ciphertext is authentic but misplaced.
 */
export class ScopeMismatchError extends IntegrityError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string) {
    super(
      `scope mismatch: sealed for ${expected}, found in ${actual}`,
      ExitCode.ErrorDecryptingTree,
      'seal the Secret again for its new place with `wax seal` (or with --scope namespace / cluster if it is meant to move)',
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** One attempt of one master key to unwrap the data key (or its share). */
export interface KeyAttempt {
  group: number;
  key: string;
  reason: string;
  /** The provider's advice for this failure, if it had one. */
  hint?: string;
}

/** No master key (or not enough key groups) could unwrap the data key. */
export class DataKeyUnavailableError extends WaxError {
  readonly attempts: KeyAttempt[];
  constructor(attempts: KeyAttempt[], summary: string, hint?: string) {
    super(
      `could not get the data key: ${summary}${formatAttempts(attempts)}`,
      ExitCode.CouldNotRetrieveKey,
      hint ??
        attempts.find((a) => a.hint)?.hint ??
        'make a key available: age (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt), PGP (GNUPGHOME, WAX_PGP_KEY_FILE), or cloud credentials for KMS / Key Vault',
    );
    this.attempts = attempts;
  }
}

function formatAttempts(attempts: KeyAttempt[]): string {
  if (attempts.length === 0) return '';
  // Indented continuation lines keep the first line readable while listing every attempt.
  return attempts.map((a) => `\n  group ${a.group}: ${a.key}: ${a.reason}`).join('');
}

/**
 * A master key could not wrap or unwrap: access denied, key disabled or missing, wrong
 * region, throttled past the retries, network down, expired credentials. The message
 * names the key (ARN, vault URL, fingerprint) and the reason, never a secret.
 */
export class MasterKeyError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotRetrieveKey, hint);
  }
}

/** No master key was given for encryption. */
export class NoEncryptionKeyError extends WaxError {
  constructor(hint?: string) {
    super(
      'no master keys to encrypt with',
      ExitCode.NoEncryptionKeyFound,
      hint ?? 'pass --age, --pgp, --kms or --azure-kv (or SOPS_AGE_RECIPIENTS, SOPS_PGP_FP, SOPS_KMS_ARN, SOPS_AZURE_KEYVAULT_URLS), or add a creation rule to .sops.yaml',
    );
  }
}

/** A tree path such as `["a"][0]` is malformed or does not exist. */
export class TreePathError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.InvalidTreePathFormat, hint ?? 'paths look like \'["key"]["nested"][0]\'');
  }
}

/** A key (recipient or identity string) is malformed. */
export class KeyFormatError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Generic, hint);
  }
}

/** `wax edit` finished and the file content did not change. */
export class NotModifiedError extends WaxError {
  constructor(path: string) {
    super(`${path}: file has not been modified`, ExitCode.FileHasNotBeenModified);
  }
}

/** No editor could be started. */
export class NoEditorError extends WaxError {
  constructor(message: string) {
    super(message, ExitCode.NoEditorFound, 'set $SOPS_EDITOR or $EDITOR');
  }
}

/**
 * The Kubernetes API could not answer: unreachable, unauthorized, forbidden, the
 * EncryptedSecret resource not installed. The message names the server and the HTTP
 * status or socket error, never a token or a response body.
 */
export class KubernetesApiError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.KubernetesApiError, hint);
  }
}

/** `wax wait`: an EncryptedSecret reports a reason that waiting will not clear (ScopeMismatch, ...). */
export class EncryptedSecretFailedError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.EncryptedSecretFailed, hint);
  }
}

/** `wax wait`: --timeout passed before every named EncryptedSecret was Ready. */
export class WaitTimeoutError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.WaitTimeout, hint);
  }
}

/**
 * Another process changed the file while wax was working on it, or another wax process
 * held its lock for too long. Nothing was written: wax refuses rather than silently
 * overwrite someone else's update.
 */
export class ConcurrentModificationError extends WaxError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.ConcurrentModification, hint);
  }
}
