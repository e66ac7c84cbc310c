/**
 * Decrypted leftovers: a plaintext copy of an encrypted file, committed beside it
 * (`secret.dec.yaml` or `secret.yaml.dec` next to the encrypted `secret.yaml`, or a
 * plaintext `secret.yaml` next to the encrypted `secret.enc.yaml`).
 *
 * Names are matched first and only names whose twin exists are read, so a scan of a
 * large tree costs a few set lookups per file.
 */
import { formatFromPath } from '../document/stores/index.js';
import type { Format } from '../document/stores/types.js';
import { firstSelectedValue, FILE_POSITION, hasSopsMetadata, loadForScan } from './documents.js';
import type { Detector, RawFinding, ScanContext, ScanTarget } from './types.js';

export const DECRYPTED_TWIN_RULE = 'decrypted-twin';

/** What people and tools call the decrypted copy (`sops -d secret.yaml > secret.dec.yaml`). */
const DECRYPTED_MARKERS = ['.dec', '.decrypted', '.plain', '.plaintext', '.cleartext'];
/** What they call the encrypted one when the plaintext keeps the plain name. */
const ENCRYPTED_MARKERS = ['.enc', '.sops'];

export const decryptedTwinDetector: Detector = {
  id: 'decrypted-twin',
  mayFind: (target, context) => !surelyWithoutTwin(target.path, context),
  // detect needs no such shortcut: the scan asks mayFind first, and the names give the same answer.
  async detect(target: ScanTarget, text: string, context: ScanContext): Promise<RawFinding[]> {
    const slash = target.path.lastIndexOf('/') + 1;
    const dir = target.path.slice(0, slash);
    const twins = twinNames(target.path.slice(slash)).filter((twin) => context.exists(dir + twin.name));
    // An empty copy leaks nothing.
    if (twins.length === 0 || text.trim() === '') return [];
    const formats: Format[] = [formatFromPath(target.path), ...twins.map((twin) => formatFromPath(twin.name))];
    if (hasSopsMetadata(target.content, formats)) return [];
    for (const twin of twins) {
      const encryptedPath = dir + twin.name;
      const content = await context.read(encryptedPath);
      if (content && hasSopsMetadata(content, [formatFromPath(encryptedPath), formatFromPath(target.path)])) {
        return [twinFinding(target, text, encryptedPath, twin.ignorePattern ?? target.path)];
      }
    }
    return [];
  },
};

function twinFinding(target: ScanTarget, text: string, encryptedPath: string, ignorePattern: string): RawFinding {
  return {
    ruleId: DECRYPTED_TWIN_RULE,
    ...FILE_POSITION,
    value: firstValue(target, text) ?? target.path,
    message: `plaintext twin of encrypted ${encryptedPath}`,
    hint: `delete it and add the pattern to .gitignore (e.g. ${ignorePattern})`,
  };
}

/** The first value of the plaintext, masked and fingerprinted by the engine, never shown. */
function firstValue(target: ScanTarget, text: string): string | undefined {
  const format = formatFromPath(target.path);
  if (format === 'binary') return text.trim();
  const file = loadForScan(target.path, target.content, format);
  return file ? firstSelectedValue(file.documents) : undefined;
}

interface TwinName {
  name: string;
  /** A .gitignore pattern for every file named like this one, when the name has a marker. */
  ignorePattern?: string;
}

/**
 * Most names carry no marker, and where the source lists its files, one lookup says
 * whether an encrypted twin of this one is among them.
 */
function surelyWithoutTwin(path: string, context: ScanContext): boolean {
  return context.knownPaths !== undefined && !hasDecryptedMarker(path.slice(path.lastIndexOf('/') + 1)) && !plainPathsWithTwin(context).has(path);
}

function hasDecryptedMarker(base: string): boolean {
  return DECRYPTED_MARKERS.some((marker) => base.includes(marker));
}

/** Per scan: the paths without a decrypted marker that a known file is the encrypted twin of. */
const plainPathsByScan = new WeakMap<ScanContext, ReadonlySet<string>>();

function plainPathsWithTwin(context: ScanContext): ReadonlySet<string> {
  let plain = plainPathsByScan.get(context);
  if (!plain) {
    const found = new Set<string>();
    for (const path of context.knownPaths!()) {
      if (!ENCRYPTED_MARKERS.some((marker) => path.includes(marker))) continue;
      const slash = path.lastIndexOf('/') + 1;
      for (const name of plainNamesOf(path.slice(slash))) found.add(path.slice(0, slash) + name);
    }
    plainPathsByScan.set(context, (plain = found));
  }
  return plain;
}

/** The names whose encrypted twins (`withEncryptedMarker`) include `encrypted`: the inverse, checked against it. */
function plainNamesOf(encrypted: string): string[] {
  const dot = encrypted.lastIndexOf('.');
  const candidates = ENCRYPTED_MARKERS.flatMap((marker) => [
    ...(encrypted.endsWith(marker) ? [encrypted.slice(0, -marker.length)] : []),
    ...(dot > 0 && encrypted.slice(0, dot).endsWith(marker) ? [encrypted.slice(0, dot - marker.length) + encrypted.slice(dot)] : []),
  ]);
  return candidates.filter((name) => name !== '' && !hasDecryptedMarker(name) && withEncryptedMarker(name).includes(encrypted));
}

/** Names the encrypted original could have, given the name of a possible plaintext copy. */
export function twinNames(base: string): TwinName[] {
  // Most names carry no marker at all: their only twins are the encrypted names.
  if (!hasDecryptedMarker(base)) {
    return ENCRYPTED_MARKERS.some((marker) => base.endsWith(marker) || base.includes(`${marker}.`)) ? [] : withEncryptedMarker(base).map((name) => ({ name }));
  }
  const names = new Map<string, TwinName>();
  for (const marker of DECRYPTED_MARKERS) {
    for (const { stripped, ignorePattern } of withoutMarker(base, marker)) {
      for (const name of [stripped, ...withEncryptedMarker(stripped)]) names.set(name, { name, ignorePattern });
    }
  }
  const alreadyEncryptedName = ENCRYPTED_MARKERS.some((marker) => base.endsWith(marker) || base.includes(`${marker}.`));
  if (names.size === 0 && !alreadyEncryptedName) for (const name of withEncryptedMarker(base)) names.set(name, { name });
  return [...names.values()];
}

/** `secret.dec.yaml` → `secret.yaml`, `secret.yaml.dec` → `secret.yaml`. */
function withoutMarker(base: string, marker: string): { stripped: string; ignorePattern: string }[] {
  const out: { stripped: string; ignorePattern: string }[] = [];
  if (base.length > marker.length && base.endsWith(marker)) out.push({ stripped: base.slice(0, -marker.length), ignorePattern: `*${marker}` });
  const infix = base.indexOf(`${marker}.`);
  if (infix > 0) out.push({ stripped: base.slice(0, infix) + base.slice(infix + marker.length), ignorePattern: `*${base.slice(infix)}` });
  return out;
}

/** `secret.yaml` → `secret.enc.yaml`, `secret.yaml.enc` (and the same with `.sops`). */
function withEncryptedMarker(name: string): string[] {
  const dot = name.lastIndexOf('.');
  return ENCRYPTED_MARKERS.flatMap((marker) => (dot > 0 ? [name.slice(0, dot) + marker + name.slice(dot), name + marker] : [name + marker]));
}
