/**
 * The `sops` metadata block (sops-format.md §7): read from every layout sops has
 * written (struct order with empty lists, 3.10's omitted lists, 3.13's sorted keys,
 * dotenv's weakly typed strings), written in the 3.13 layout.
 */
import { MetadataError } from '../errors.js';
import { DEFAULT_RULE, RULE_KINDS, pickRule, type SelectionRule } from './rules.js';
import type { PlainMetadata } from './stores/types.js';
import { setOwn } from './tree.js';

/** Master key types in the order sops' key-group struct lists them. */
export const KEY_TYPES = ['pgp', 'kms', 'gcp_kms', 'hckms', 'azure_kv', 'hc_vault', 'age'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * One master key as stored: its type and its fields (`recipient`, `arn`, `fp`, ... and
 * `enc`, the wrapped data key or share). Fields a provider does not know are kept.
 */
export interface MasterKeyEntry {
  type: KeyType;
  fields: Record<string, unknown>;
}

export type KeyGroup = MasterKeyEntry[];

export interface Metadata {
  keyGroups: KeyGroup[];
  /** 0 when unset (one group, or all groups required). */
  shamirThreshold: number;
  /** RFC 3339 text as stored; the MAC's associated data after re-formatting. */
  lastModified: string;
  mac: string;
  rule: SelectionRule;
  /** False when the file names no rule and the `_unencrypted` default applies. */
  ruleExplicit: boolean;
  macOnlyEncrypted: boolean;
  version: string;
  /** Top-level fields wax does not know, kept on rewrite. */
  unknown: Record<string, unknown>;
}

/** The sops release whose layout wax writes. */
export const SOPS_VERSION = '3.13.2';

const KNOWN_FIELDS = new Set<string>([
  ...KEY_TYPES,
  ...RULE_KINDS,
  'key_groups',
  'shamir_threshold',
  'lastmodified',
  'mac',
  'mac_only_encrypted',
  'version',
]);

/** Parses plain metadata (from any store) into a Metadata object. */
export function parseMetadata(raw: PlainMetadata): Metadata {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new MetadataError('the sops metadata is not a mapping');
  const keyGroups = readKeyGroups(raw);
  if (keyGroups.every((group) => group.length === 0)) {
    throw new MetadataError('the sops metadata lists no master keys', 'the file is damaged; restore it from version control');
  }
  const lastModified = readString(raw, 'lastmodified');
  if (parseRfc3339(lastModified) === undefined) throw new MetadataError(`sops.lastmodified is not an RFC 3339 time`);
  const candidates: Record<string, string | undefined> = {};
  for (const kind of RULE_KINDS) if (raw[kind] !== undefined && raw[kind] !== null) candidates[kind] = scalarText(raw[kind], kind);
  const rule = pickRule(candidates);
  const unknown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) if (!KNOWN_FIELDS.has(key)) setOwn(unknown, key, value);
  return {
    keyGroups,
    shamirThreshold: readInt(raw.shamir_threshold, 'shamir_threshold'),
    lastModified,
    mac: raw.mac === undefined || raw.mac === null ? '' : scalarText(raw.mac, 'mac'),
    rule: rule ?? DEFAULT_RULE,
    ruleExplicit: rule !== undefined,
    macOnlyEncrypted: readBool(raw.mac_only_encrypted),
    version: raw.version === undefined || raw.version === null ? '' : scalarText(raw.version, 'version'),
    unknown,
  };
}

function readKeyGroups(raw: PlainMetadata): KeyGroup[] {
  const flat = readGroup(raw, 'sops');
  // sops ignores key_groups when flat key lists are present.
  if (flat.length > 0) return [flat];
  const groups = raw.key_groups;
  if (groups === undefined || groups === null) return [flat];
  if (!Array.isArray(groups)) throw new MetadataError('sops.key_groups is not a list');
  return groups.map((group, i) => {
    if (group === null || typeof group !== 'object') throw new MetadataError(`sops.key_groups[${i}] is not a mapping`);
    return readGroup(group as Record<string, unknown>, `sops.key_groups[${i}]`);
  });
}

function readGroup(raw: Record<string, unknown>, where: string): KeyGroup {
  const group: KeyGroup = [];
  for (const type of KEY_TYPES) {
    const list = raw[type];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new MetadataError(`${where}.${type} is not a list`);
    list.forEach((entry, i) => {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new MetadataError(`${where}.${type}[${i}] is not a mapping`);
      const fields = { ...(entry as Record<string, unknown>) };
      for (const [name, value] of Object.entries(fields)) {
        // sops reads every field into a string, except KMS's encryption context (a mapping).
        if (name !== 'context' && value !== null && typeof value === 'object') throw new MetadataError(`${where}.${type}[${i}].${name} is not a scalar`, DAMAGED);
      }
      if (fields.created_at !== undefined && parseRfc3339(String(fields.created_at)) === undefined) {
        throw new MetadataError(`${where}.${type}[${i}].created_at is not an RFC 3339 time`);
      }
      group.push({ type, fields });
    });
  }
  return group;
}

function readString(raw: PlainMetadata, key: string): string {
  const value = raw[key];
  if (value === undefined || value === null) throw new MetadataError(`sops.${key} is missing`, 'the file is damaged; restore it from version control');
  if (value instanceof Date) return value.toISOString().replace(/\.000Z$/, 'Z');
  return scalarText(value, key);
}

const DAMAGED = 'the file is damaged; restore it from version control';

/**
 * A metadata scalar as text. sops decodes into string fields, which take any scalar but
 * refuse a mapping or a list; `String()` of such a value is "[object Object]", or a
 * TypeError for one with a `toString` key.
 */
function scalarText(value: unknown, key: string): string {
  assertScalar(value, key);
  return String(value);
}

function assertScalar(value: unknown, key: string): void {
  if (value !== null && typeof value === 'object') throw new MetadataError(`sops.${key} is not a scalar`, DAMAGED);
}

/** mapstructure's weak typing: dotenv and INI metadata arrive as strings. */
function readInt(value: unknown, key: string): number {
  if (value === undefined || value === null || value === '') return 0;
  assertScalar(value, key);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new MetadataError(`sops.${key} is not a whole number`);
  return n;
}

function readBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value);
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value) !== 0;
  return false;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** RFC 3339 fields as Go's `time.Parse` accepts them (ranges checked), with the offset in minutes. */
function parseFields(text: string): { date: string; time: string; offset: number; ms: number } | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, , , sign, zh, zm] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > daysIn(+mo, +y) || +h > 23 || +mi > 59 || +s > 59) return undefined;
  // Go's general parser allows offsets up to 24:60.
  if (sign !== undefined && (+zh > 24 || +zm > 60)) return undefined;
  const offset = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (+zh * 60 + +zm);
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) - offset * 60_000;
  return { date: `${y}-${mo}-${d}`, time: `${h}:${mi}:${s}`, offset, ms };
}

/** Parses RFC 3339 to epoch milliseconds (seconds precision suffices for the MAC AAD). */
export function parseRfc3339(text: string): number | undefined {
  return parseFields(text)?.ms;
}

/**
 * The MAC's associated data: sops parses lastmodified and formats it again with Go's
 * `time.RFC3339`, which keeps the zone offset (`Z` for any zero offset, `-00:00` too) and
 * drops fractional seconds.
 */
export function lastModifiedAad(text: string): string {
  const t = parseFields(text);
  if (!t) return text;
  if (t.offset === 0) return `${t.date}T${t.time}Z`;
  const abs = Math.abs(t.offset);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${t.date}T${t.time}${t.offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Now, as sops writes lastmodified: UTC, second precision. */
export function nowRfc3339(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Serialises metadata in the sops 3.13 layout: keys sorted, empty key lists omitted. */
export function serializeMetadata(meta: Metadata): PlainMetadata {
  const out: PlainMetadata = {};
  if (meta.keyGroups.length > 1) {
    out.key_groups = meta.keyGroups.map((group) => {
      const g = groupToPlain(group);
      // sops 3.13: age and hc_vault lists have no omitempty inside key_groups.
      g.age ??= [];
      g.hc_vault ??= [];
      return g;
    });
  } else {
    Object.assign(out, groupToPlain(meta.keyGroups[0] ?? []));
  }
  if (meta.shamirThreshold > 0 && meta.keyGroups.length > 1) out.shamir_threshold = meta.shamirThreshold;
  out.lastmodified = meta.lastModified;
  out.mac = meta.mac;
  if (meta.ruleExplicit) out[meta.rule.kind] = meta.rule.value;
  if (meta.macOnlyEncrypted) out.mac_only_encrypted = true;
  out.version = meta.version || SOPS_VERSION;
  for (const [key, value] of Object.entries(meta.unknown)) if (!Object.hasOwn(out, key)) setOwn(out, key, value);
  return sortKeysDeep(out) as PlainMetadata;
}

function groupToPlain(group: KeyGroup): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const entry of group) {
    const list = (out[entry.type] ??= []) as unknown[];
    list.push({ ...entry.fields });
  }
  return out;
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) setOwn(out, key, sortKeysDeep((value as Record<string, unknown>)[key]));
    return out;
  }
  return value;
}

/** The file counts as encrypted (filestatus) when its metadata has a version and a MAC. */
export function looksEncrypted(raw: PlainMetadata | undefined): boolean {
  return raw !== undefined && raw.version !== undefined && raw.version !== null && raw.mac !== undefined && raw.mac !== null && raw.mac !== '';
}
