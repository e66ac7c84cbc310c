/**
 * Store lookup by format, and the format of a path as sops chooses it (sops-format.md
 * §11): by suffix, case-sensitive, anything else binary.
 */
import { UsageError } from '../../errors.js';
import { binaryStore } from './binary.js';
import { dotenvStore } from './dotenv.js';
import { iniStore } from './ini.js';
import { jsonStore } from './json.js';
import type { Format, Store } from './types.js';
import { yamlStore } from './yaml.js';

const STORES: Record<Format, Store> = {
  yaml: yamlStore,
  json: jsonStore,
  dotenv: dotenvStore,
  ini: iniStore,
  binary: binaryStore,
};

/** Throws UsageError for a format name that is not one of the five (it may come from a flag). */
export function storeFor(format: Format): Store {
  const store = Object.hasOwn(STORES, format) ? STORES[format] : undefined;
  if (!store) throw new UsageError(`unknown file format ${JSON.stringify(format)}`, 'use one of yaml, json, dotenv, ini, binary');
  return store;
}

/**
 * sops tests `strings.HasSuffix(path, ".yaml")` etc., so `secrets.YAML` is binary and
 * a file named just `.env` is dotenv; matching that keeps both tools agreeing on a file.
 */
export function formatFromPath(path: string): Format {
  if (path.endsWith('.yaml') || path.endsWith('.yml')) return 'yaml';
  if (path.endsWith('.json')) return 'json';
  if (path.endsWith('.env')) return 'dotenv';
  if (path.endsWith('.ini')) return 'ini';
  return 'binary';
}
