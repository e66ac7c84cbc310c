/**
 * `.sops.yaml` (sops-format.md §10): found from the working directory upwards,
 * `creation_rules` matched against the file path relative to the config file, first
 * match wins. Keys of every type are parsed and kept, including types whose provider
 * this build does not have, so nothing is dropped on the way to `updatekeys`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseYamlDocuments } from './document/stores/yaml.js';
import { toPlain } from './document/tree.js';
import { ConfigError, WaxError } from './errors.js';
import { compileRe2, pickRule, RULE_KINDS, type SelectionRule } from './document/rules.js';
import type { KeyType } from './document/metadata.js';

import type { KeySpec } from './providers/index.js';
export type { KeySpec };

export interface CreationRule {
  index: number;
  pathRegex?: string;
  keyGroups: KeySpec[][];
  shamirThreshold: number;
  rule?: SelectionRule;
  macOnlyEncrypted: boolean;
}

export interface StoreSettings {
  yaml?: { indent?: number };
  json?: { indent?: number };
  json_binary?: { indent?: number };
}

export interface SopsConfig {
  path: string;
  creationRules: CreationRule[];
  stores: StoreSettings;
}

const MAX_LEVELS = 100;

/** `--config` / `SOPS_CONFIG`, else the nearest `.sops.yaml` from `cwd` upwards. */
export function findConfigFile(cwd: string, explicit?: string): string | undefined {
  if (explicit) {
    if (!existsSync(explicit)) throw new ConfigError(`config file ${explicit} does not exist`, 'fix --config or SOPS_CONFIG');
    return resolve(explicit);
  }
  let dir = resolve(cwd);
  for (let level = 0; level < MAX_LEVELS; level++) {
    const candidate = join(dir, '.sops.yaml');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

export function loadConfig(path: string): SopsConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseConfig(text, path);
}

/**
 * A `.sops.yaml` from its text (e.g. git's staged copy). `path` anchors path_regex;
 * `name` is how messages call the file (the path, unless told otherwise).
 */
export function parseConfig(text: string, path: string, name = path): SopsConfig {
  let raw: unknown;
  try {
    raw = text.trim() === '' ? {} : toPlain(parseYamlDocuments(text)[0] ?? null);
  } catch (error) {
    // The store's messages carry a line number and never the offending text.
    if (!(error instanceof WaxError)) throw error;
    throw new ConfigError(`${name}: ${error.message}`, 'fix the syntax of .sops.yaml');
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${name}: the top level must be a mapping`);
  const doc = raw as Record<string, unknown>;
  const rules = doc.creation_rules ?? [];
  if (!Array.isArray(rules)) throw new ConfigError(`${name}: creation_rules must be a list`);
  return {
    path,
    creationRules: rules.map((rule, index) => parseCreationRule(rule, index, name)),
    stores: parseStores(doc.stores, name),
  };
}

function parseStores(raw: unknown, path: string): StoreSettings {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object') throw new ConfigError(`${path}: stores must be a mapping`);
  const out: StoreSettings = {};
  for (const name of ['yaml', 'json', 'json_binary'] as const) {
    const section = (raw as Record<string, unknown>)[name] as Record<string, unknown> | undefined;
    if (section && section.indent !== undefined) {
      const indent = Number(scalarSetting(section.indent, `${path}: stores.${name}.indent`));
      if (!Number.isInteger(indent) || indent < 0 || indent > 16) throw new ConfigError(`${path}: stores.${name}.indent must be a small whole number`);
      out[name] = { indent };
    }
  }
  return out;
}

/** Flat rule fields that hold master keys, and the metadata type each maps to. */
const FLAT_KEY_FIELDS: [string, KeyType][] = [
  ['pgp', 'pgp'],
  ['kms', 'kms'],
  ['gcp_kms', 'gcp_kms'],
  ['hckms', 'hckms'],
  ['azure_keyvault', 'azure_kv'],
  ['hc_vault_transit_uri', 'hc_vault'],
  ['age', 'age'],
];

/** Fields inside `key_groups` entries. */
const GROUP_KEY_FIELDS: [string, KeyType][] = [
  ['pgp', 'pgp'],
  ['kms', 'kms'],
  ['gcp_kms', 'gcp_kms'],
  ['hckms', 'hckms'],
  ['azure_keyvault', 'azure_kv'],
  ['hc_vault', 'hc_vault'],
  ['age', 'age'],
];

function parseCreationRule(raw: unknown, index: number, path: string): CreationRule {
  const where = `${path}: creation_rules[${index}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where} must be a mapping`);
  const rule = raw as Record<string, unknown>;
  const selection: Record<string, string | undefined> = {};
  for (const kind of RULE_KINDS) if (rule[kind] !== undefined && rule[kind] !== null) selection[kind] = scalarSetting(rule[kind], `${where}.${kind}`);
  const threshold = rule.shamir_threshold === undefined ? 0 : Number(scalarSetting(rule.shamir_threshold, `${where}.shamir_threshold`));
  if (!Number.isInteger(threshold) || threshold < 0) throw new ConfigError(`${where}.shamir_threshold must be a whole number`);
  const keyGroups = rule.key_groups !== undefined ? parseKeyGroups(rule.key_groups, where) : [parseFlatKeys(rule, where)];
  return {
    index,
    pathRegex: rule.path_regex === undefined || rule.path_regex === null ? undefined : scalarSetting(rule.path_regex, `${where}.path_regex`),
    keyGroups,
    shamirThreshold: threshold,
    rule: pickRule(selection),
    macOnlyEncrypted: rule.mac_only_encrypted === true,
  };
}

/**
 * A single-valued setting as text. sops reads these into string fields, which refuse a
 * mapping or a list (`String()` of one is "[object Object]", or a TypeError).
 */
function scalarSetting(value: unknown, where: string): string {
  if (value !== null && typeof value === 'object') throw new ConfigError(`${where} must be a single value, not a mapping or a list`);
  return String(value);
}

/** Strings may be comma-separated lists (sops' flat form) or YAML lists (3.11+). */
function splitList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.flatMap((v) => splitList(v, where));
  if (typeof value !== 'string') throw new ConfigError(`${where} must be a string or a list of strings`);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function parseFlatKeys(rule: Record<string, unknown>, where: string): KeySpec[] {
  const specs: KeySpec[] = [];
  for (const [field, type] of FLAT_KEY_FIELDS) {
    for (const text of splitList(rule[field], `${where}.${field}`)) {
      // A flat kms entry takes the rule's aws_profile, as sops does.
      if (type === 'kms' && typeof rule.aws_profile === 'string') specs.push({ type, value: { arn: text, aws_profile: rule.aws_profile } });
      else specs.push({ type, value: text });
    }
  }
  return specs;
}

function parseKeyGroups(raw: unknown, where: string): KeySpec[][] {
  if (!Array.isArray(raw)) throw new ConfigError(`${where}.key_groups must be a list`);
  return raw.map((group, i) => dedupe(parseGroup(group, `${where}.key_groups[${i}]`)));
}

function parseGroup(raw: unknown, where: string): KeySpec[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where} must be a mapping`);
  const group = raw as Record<string, unknown>;
  const specs: KeySpec[] = [];
  for (const [field, type] of GROUP_KEY_FIELDS) {
    const list = group[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ConfigError(`${where}.${field} must be a list`);
    for (const item of list) {
      if (typeof item === 'string') specs.push({ type, value: item.trim() });
      else if (item && typeof item === 'object' && !Array.isArray(item)) specs.push({ type, value: item as Record<string, unknown> });
      else throw new ConfigError(`${where}.${field} entries must be strings or mappings`);
    }
  }
  // 3.9: `merge` lists nested groups whose keys join this one.
  if (group.merge !== undefined) {
    if (!Array.isArray(group.merge)) throw new ConfigError(`${where}.merge must be a list`);
    group.merge.forEach((nested, i) => specs.push(...parseGroup(nested, `${where}.merge[${i}]`)));
  }
  return specs;
}

function dedupe(specs: KeySpec[]): KeySpec[] {
  const seen = new Set<string>();
  return specs.filter((spec) => {
    const id = `${spec.type}\u0000${JSON.stringify(spec.value)}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * The first creation rule whose `path_regex` matches the file path relative to the
 * config file's directory (forward slashes, as sops sees them on Unix).
 */
export async function matchCreationRule(config: SopsConfig, filePath: string): Promise<CreationRule> {
  const rel = relative(dirname(config.path), resolve(filePath)).split(sep).join('/');
  for (const rule of config.creationRules) {
    if (rule.pathRegex === undefined) return rule;
    const matches = await compileRe2(rule.pathRegex, 'path_regex');
    if (matches(rel)) return rule;
  }
  throw new ConfigError(`no matching creation rules found for ${rel} in ${config.path}`, 'add a creation rule whose path_regex matches, or pass the keys on the command line');
}
