/**
 * wax's public library API. The CLI and the controller are thin shells over these.
 *
 * Every function throws only the typed errors of `./errors.js` for bad input or failed
 * integrity (each with a stable `exitCode`); messages never contain plaintext or keys.
 */

/**
 * File operations, bytes in and bytes out.
 * - `encryptBytes` @throws AlreadyEncryptedError, InvalidDocumentError, NoEncryptionKeyError, KeyFormatError
 * - `openBytes` / `decryptBytes` @throws NotEncryptedError, MetadataError, DataKeyUnavailableError,
 *   ValueAuthenticationError, MalformedValueError, MacMismatchError (all IntegrityError but the first three)
 * - `resealBytes`, `rotateOpened` (new data key), `rekeyBytes` (updatekeys: same data key, new master keys)
 */
export {
  encryptBytes,
  encryptTree,
  openBytes,
  decryptBytes,
  resealBytes,
  rotateOpened,
  rekeyBytes,
  loadEncrypted,
  sealTree,
  type EncryptOptions,
  type OpenOptions,
  type OpenedFile,
} from './sops-file.js';

export * from './errors.js';

/**
 * The `EncryptedSecret` resource (wax.dev/v1alpha1): a sops file that the MAC verifies as
 * the API server returns it, bound to a scope.
 * - `sealSecret` @throws InvalidDocumentError, AlreadyEncryptedError, NoEncryptionKeyError, MasterKeyError
 * - `openEncryptedSecret` @throws IntegrityError (ValueAuthenticationError, MalformedValueError,
 *   MacMismatchError, ScopeMismatchError, a missing or clear scope), InvalidDocumentError,
 *   MetadataError, NotEncryptedError, DataKeyUnavailableError
 */
export {
  sealSecret,
  openEncryptedSecret,
  canonicalEncryptedSecret,
  secretToYaml,
  ENCRYPTED_SECRET_API_VERSION,
  ENCRYPTED_SECRET_KIND,
  type SealSecretOptions,
  type DesiredSecret,
  type OpenedEncryptedSecret,
  type SecretScope,
  type ScopeKind,
} from './encrypted-secret.js';

/** The value tree the stores read into: ordered mappings, comments as items, Go-typed scalars. */
export { TreeBranch, Comment, SopsTime, fromPlain, toPlain, type TreeValue, type Scalar } from './document/tree.js';

/** Stores: YAML, JSON, dotenv, INI, binary. `formatFromPath` picks one by extension like sops. */
export { storeFor, formatFromPath } from './document/stores/index.js';
export type { Format, Store, EmitOptions } from './document/stores/types.js';

/** `["a"]["b"][0]` paths for extract/set/unset. @throws TreePathError */
export { parseTreePath, getAtPath, setAtPath, unsetAtPath } from './document/tree-path.js';

/** Selection rules (`encrypted_regex`, …) with RE2 semantics. @throws RegexError, ConflictingParametersError */
export { compileSelector, pickRule, DEFAULT_RULE, type SelectionRule, type RuleKind } from './document/rules.js';

/** The `sops` metadata block. @throws MetadataError */
export { parseMetadata, serializeMetadata, type Metadata, type MasterKeyEntry, type KeyGroup, type KeyType } from './document/metadata.js';

/** `.sops.yaml`. @throws ConfigError, RegexError */
export { findConfigFile, loadConfig, matchCreationRule, type SopsConfig, type CreationRule } from './config.js';

/** Master-key providers behind one contract, loaded lazily. @throws UnsupportedKeyTypeError, KeyFormatError */
export { loadProvider, resolveRecipient, resolveKeyGroups, recipientsFromEntries, type KeySpec, type Provider, type ProviderContext, type MasterKeyRecipient } from './providers/index.js';

/** age identities: generation and the sources sops reads (§9.1). */
export { generateAgeIdentity, loadIdentitySources, parseIdentityFile } from './providers/age.js';

/** Envelope and Shamir. @throws DataKeyUnavailableError, ShamirError */
export { unwrapDataKey, wrapDataKey, generateDataKey } from './crypto/envelope.js';
export { split as shamirSplit, combine as shamirCombine } from './crypto/shamir.js';

/** Atomic, private file writes. @throws WriteError */
export { writeFileAtomic, readInputFile } from './files.js';

/**
 * Read-modify-write without lost updates: `updateFile` holds the file's lock while it
 * changes it; `replaceIfUnchanged` writes only if the file still holds what was read;
 * `withFileLock` runs a function under the lock.
 * @throws ConcurrentModificationError (the file changed, or its lock stayed held), WriteError
 */
export { updateFile, replaceIfUnchanged, withFileLock } from './files.js';

/**
 * Plaintext-secret scanning (what `wax scan` and the pre-commit hook run): a source, the
 * detectors, and `scan`, which returns findings with masked values and fingerprints only.
 * - `scan` @throws ConfigError (a broken `.sops.yaml`), UsageError (a broken `.waxignore`),
 *   ReadError, GitError (from a git source), DetectorError (a detector crashed)
 * - `stagedSource`, `trackedSource`, `sinceSource` @throws GitError (no repository, bad revision), UsageError
 * - `pathsSource(...).list()` @throws FileNotFoundError
 * - `readBaseline` / `parseBaseline` @throws UsageError
 */
export {
  scan,
  DETECTORS,
  pathsSource,
  stdinSource,
  stagedSource,
  trackedSource,
  sinceSource,
  readBaseline,
  parseBaseline,
  buildBaseline,
  serializeBaseline,
  formatReport,
  formatSummary,
  fingerprint,
  maskSecret,
  encryptHint,
  MAX_FILE_BYTES,
  BASELINE_VERSION,
  REPORT_FORMATS,
  GitError,
  DetectorError,
  type ScanSource,
  type SideFile,
  type ScanSettings,
  type ScanResult,
  type ScanSummary,
  type Baseline,
  type BaselineEntry,
  type ReportFormat,
  type Detector,
  type RawFinding,
  type Finding,
  type ScanContext,
  type ScanOptions,
  type ScanTarget,
} from './scan/index.js';
