/**
 * A file that a `.sops.yaml` creation rule covers (by an explicit `path_regex`) must be
 * sops-encrypted: it has the sops metadata, and every value that is selected for
 * encryption is in `ENC[…]` form.
 *
 * "Selected" is decided by the selection rule recorded in the file, which is what
 * `wax encrypt` or sops actually applied (from the creation rule or from flags), through
 * the same walk and selector that encryption uses; comments count for the comment-regex
 * rules. A clear value there was put in by hand and breaks decryption. When the creation
 * rule names a selection rule of its own, the values it selects must be encrypted too:
 * that is the repository's policy, even for a file encrypted with other flags.
 */
import { isEncryptedValue } from '../crypto/values.js';
import type { CreationRule } from '../config.js';
import { compileSelector, DEFAULT_RULE, pickRule, RULE_KINDS, type SelectionRule, type Selector } from '../document/rules.js';
import { formatFromPath } from '../document/stores/index.js';
import type { Format, PlainMetadata } from '../document/stores/types.js';
import { ENCRYPTED_SECRET_RULE } from '../encrypted-secret.js';
import { describeLocation, firstSelectedValue, forEachLeaf, isValueLeaf, leafText, loadForScan, ValueLocator, FILE_POSITION, type Leaf, type LoadedFile } from './documents.js';
import { encryptHint, type Detector, type RawFinding, type ScanContext, type ScanTarget } from './types.js';

export const SOPS_UNENCRYPTED_RULE = 'sops-unencrypted';
export const SOPS_PLAINTEXT_VALUE_RULE = 'sops-plaintext-value';

/** The config itself sits inside the directories its rules cover, and can never be encrypted. */
const CONFIG_NAMES = new Set(['.sops.yaml', '.sops.yml']);

export const sopsCoverageDetector: Detector = {
  id: 'sops-coverage',
  // Only a file a creation rule covers is looked at.
  mayFind: (target, context) => {
    if (CONFIG_NAMES.has(baseName(target.path))) return false;
    const rule = context.creationRuleFor(target.path);
    // The scan's own resolver answers at once; no microtask per file for it.
    return rule instanceof Promise ? rule.then((found) => found !== undefined) : rule !== undefined;
  },
  async detect(target: ScanTarget, text: string, context: ScanContext): Promise<RawFinding[]> {
    if (CONFIG_NAMES.has(baseName(target.path))) return [];
    const rule = await context.creationRuleFor(target.path);
    if (!rule) return [];
    // An empty file holds nothing to encrypt (a .gitkeep in a secrets directory).
    if (text.trim() === '') return [];
    const format = formatFromPath(target.path);
    const file = loadForScan(target.path, target.content, format);
    const encrypted = file?.metadata ? file : format === 'binary' ? encryptedWithInputType(target, text) : undefined;
    if (encrypted?.metadata) return plaintextValueFindings(target, text, encrypted, encrypted.metadata, rule);
    return [await unencryptedFinding(target, text, format, file, rule)];
  },
};

/**
 * `sops -e --input-type dotenv app.conf` writes a dotenv file under a name that means
 * binary; sops and wax read it back with the same flag. Only text that mentions sops
 * is parsed again.
 */
function encryptedWithInputType(target: ScanTarget, text: string): LoadedFile | undefined {
  if (!text.includes('sops')) return undefined;
  for (const format of STRUCTURED) {
    const file = loadForScan(target.path, target.content, format);
    if (file?.metadata) return file;
  }
  return undefined;
}

const STRUCTURED: Format[] = ['json', 'yaml', 'dotenv', 'ini'];

async function unencryptedFinding(target: ScanTarget, text: string, format: Format, file: LoadedFile | undefined, rule: CreationRule): Promise<RawFinding> {
  const unparsable = file === undefined ? ` (it does not parse as ${format})` : '';
  return {
    ruleId: SOPS_UNENCRYPTED_RULE,
    ...FILE_POSITION,
    value: (await firstValue(text, format, file, rule)) ?? target.path,
    message: `${describeRule(rule)} covers this file, but it is not sops-encrypted${unparsable}`,
    hint: encryptHint(target.path),
  };
}

/** What the finding fingerprints: the first value encryption would have hidden. */
async function firstValue(text: string, format: Format, file: LoadedFile | undefined, rule: CreationRule): Promise<string | undefined> {
  if (file === undefined) return undefined;
  // The binary store ignores selection rules: the whole content is the one value
  // (trimmed, so that a trailing newline is not what the masked value shows).
  if (format === 'binary') return text.trim();
  return firstSelectedValue(file.documents, await compileSelector(rule.rule ?? DEFAULT_RULE));
}

async function plaintextValueFindings(target: ScanTarget, text: string, file: LoadedFile, metadata: PlainMetadata, rule: CreationRule): Promise<RawFinding[]> {
  const selectors = await selectorsFor(file, metadata, rule);
  const found: { leaf: Leaf; byFileRule: boolean }[] = [];
  forEachLeaf(file.documents, (leaf) => {
    if (!isValueLeaf(leaf) || isEncryptedValue(leaf.value)) return;
    const byFileRule = selectors.file.shouldEncrypt(leaf.path, leaf.comments, false);
    if (byFileRule || selectors.policy?.shouldEncrypt(leaf.path, leaf.comments, false)) {
      found.push({ leaf: { ...leaf, comments: [] }, byFileRule });
    }
  });
  if (found.length === 0) return [];
  const locator = new ValueLocator(file.format, text);
  const several = file.documents.length > 1;
  return found.map(({ leaf, byFileRule }) => {
    const where = `${describeLocation(leaf.location)}${several ? ` (document ${leaf.document + 1})` : ''}`;
    return {
      ruleId: SOPS_PLAINTEXT_VALUE_RULE,
      ...locator.locate(leaf.document, leaf.location),
      value: leafText(leaf.value),
      ...(byFileRule ? handEdited(where, target.path) : outsidePolicy(where, target.path, rule, selectors.fileRule)),
    };
  });
}

function handEdited(where: string, path: string): Pick<RawFinding, 'message' | 'hint'> {
  return {
    message: `plaintext value at ${where} in a sops-encrypted file`,
    hint: `run: wax edit ${path} (or wax set) to put the value back encrypted`,
  };
}

/** wax edit keeps the file's own rule, so only encrypting again applies the creation rule's. */
function outsidePolicy(where: string, path: string, rule: CreationRule, fileRule: SelectionRule): Pick<RawFinding, 'message' | 'hint'> {
  return {
    message: `plaintext value at ${where}, which ${describeRule(rule)} selects (${describeSelection(rule.rule!)}); the file was encrypted with ${describeSelection(fileRule)}`,
    hint: `encrypt it again under the creation rule: run wax decrypt -i ${path}, then wax encrypt -i ${path}`,
  };
}

interface Selectors {
  fileRule: SelectionRule;
  file: Selector;
  /** The creation rule's own selection, when it names one that differs from the file's. */
  policy: Selector | undefined;
}

async function selectorsFor(file: LoadedFile, metadata: PlainMetadata, rule: CreationRule): Promise<Selectors> {
  // sops' binary store encrypts its one value whatever the rule says.
  const fileRule = file.format === 'binary' ? DEFAULT_RULE : recordedRule(metadata);
  const fileSelector = await compileRecorded(fileRule);
  const policyRule = file.format === 'binary' || isWaxSealed(metadata, fileRule) ? undefined : rule.rule;
  const differs = policyRule !== undefined && (policyRule.kind !== fileRule.kind || policyRule.value !== fileRule.value);
  return { fileRule, file: fileSelector, policy: differs ? await compileSelector(policyRule) : undefined };
}

/**
 * The rule in the file's metadata. Metadata that names several rules, or a regex RE2
 * rejects, cannot be decrypted by sops either; the default rule then selects the most.
 */
function recordedRule(metadata: PlainMetadata): SelectionRule {
  const candidates: Record<string, string> = {};
  for (const kind of RULE_KINDS) if (metadata[kind] !== undefined && metadata[kind] !== null) candidates[kind] = String(metadata[kind]);
  try {
    return pickRule(candidates) ?? DEFAULT_RULE;
  } catch {
    return DEFAULT_RULE;
  }
}

async function compileRecorded(rule: SelectionRule): Promise<Selector> {
  try {
    return await compileSelector(rule);
  } catch {
    return compileSelector(DEFAULT_RULE);
  }
}

/**
 * `wax seal` writes an EncryptedSecret with its own fixed rule whatever the creation
 * rule says, and keeps the template clear on purpose; the controller refuses any other.
 */
function isWaxSealed(metadata: PlainMetadata, fileRule: SelectionRule): boolean {
  const macOnly = metadata.mac_only_encrypted === true || metadata.mac_only_encrypted === 'true';
  return macOnly && fileRule.kind === ENCRYPTED_SECRET_RULE.kind && fileRule.value === ENCRYPTED_SECRET_RULE.value;
}

function describeRule(rule: CreationRule): string {
  return `.sops.yaml creation_rules[${rule.index}] (path_regex: ${rule.pathRegex ?? ''})`;
}

function describeSelection(rule: SelectionRule): string {
  return `${rule.kind}: ${rule.value}`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
