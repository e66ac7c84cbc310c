/**
 * The parts of a file's text that sops wrote, which therefore hold nothing a person typed
 * in plain text: every `ENC[AES256_GCM,…]` value and the sops metadata (the top-level
 * `sops:` block of each YAML document, the top-level `"sops"` object of a JSON file, the
 * `sops_*` lines of a dotenv file, the `[sops]` section of an INI file).
 *
 * Detectors drop a match that starts inside one of them: ciphertext is random text that
 * token patterns and entropy checks hit by chance, and the metadata carries wrapped data
 * keys and PGP/age armour (`enc: -----BEGIN PGP MESSAGE-----`) that are safe to commit.
 *
 * Offsets are indices into the JavaScript string (UTF-16 code units, what `indexOf` and
 * regular expressions report), not byte offsets of the encoded file.
 */

/** A half-open span `[start, end)` of a string. */
export interface TextRange {
  readonly start: number;
  readonly end: number;
}

// The cipher is the only one sops has ever written; the body is base64, `:` and `,`.
const ENC_VALUE = /ENC\[AES256_GCM,[^\]\r\n]*\]/g;
const YAML_SOPS_KEY = /^(?:sops|"sops"|'sops'):[ \t]*\r?$/gm;
const YAML_METADATA_KEY = /^[ \t]+(?:mac|lastmodified|version):/m;
const DOTENV_SOPS_LINE = /^sops_[A-Za-z0-9_]*=.*$/gm;
const DOTENV_METADATA_LINE = /^sops_(?:mac|lastmodified|version)=/m;
const INI_SOPS_HEADER = /^[ \t]*\[sops\][ \t]*\r?$/gm;
const INI_SECTION_HEADER = /^[ \t]*\[/gm;
const INI_METADATA_KEY = /^[ \t]*(?:mac|lastmodified|version)[ \t]*=/m;
const JSON_METADATA_KEY = /"(?:mac|lastmodified|version)"\s*:/;

/** Every region of `text` that sops wrote, sorted and merged. */
export function sopsRegions(text: string): TextRange[] {
  if (!text.includes('ENC[') && !text.includes('sops')) return [];
  return merge([
    ...encryptedValues(text),
    ...yamlMetadataBlocks(text),
    ...jsonMetadataObjects(text),
    ...dotenvMetadataLines(text),
    ...iniMetadataSections(text),
  ]);
}

/** Whether `offset` lies inside one of `regions` (sorted, as `sopsRegions` returns them). */
export function isInside(regions: readonly TextRange[], offset: number): boolean {
  let low = 0;
  let high = regions.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const region = regions[middle]!;
    if (offset < region.start) high = middle - 1;
    else if (offset >= region.end) low = middle + 1;
    else return true;
  }
  return false;
}

function encryptedValues(text: string): TextRange[] {
  if (!text.includes('ENC[')) return [];
  return Array.from(text.matchAll(ENC_VALUE), (m) => ({ start: m.index, end: m.index + m[0].length }));
}

/**
 * A `sops:` key at column 0 opens the block; it runs over indented and blank lines up to
 * the next line that starts at column 0 (a sibling key, a comment, `---` or `...`).
 * A block without sops's own keys is a user's `sops:` key and is not skipped.
 */
function yamlMetadataBlocks(text: string): TextRange[] {
  if (!/sops["']?:/.test(text)) return [];
  const blocks: TextRange[] = [];
  for (const m of text.matchAll(YAML_SOPS_KEY)) {
    const start = m.index;
    const end = endOfIndentedBlock(text, lineEnd(text, start));
    if (YAML_METADATA_KEY.test(text.slice(start, end))) blocks.push({ start, end });
  }
  return blocks;
}

function endOfIndentedBlock(text: string, from: number): number {
  let position = from;
  while (position < text.length) {
    const first = text[position];
    const next = lineEnd(text, position);
    const blank = text.slice(position, next).trim() === '';
    if (first !== ' ' && first !== '\t' && !blank) return position;
    position = next;
  }
  return text.length;
}

/** The offset just past the line that holds `offset` (past its `\n`, or the text's end). */
function lineEnd(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline < 0 ? text.length : newline + 1;
}

/**
 * The `"sops"` member of the top-level JSON object, found by a small tokenizer that
 * tracks strings and nesting, so a `"sops"` key deeper in the user's data is not skipped.
 */
function jsonMetadataObjects(text: string): TextRange[] {
  if (!/^\s*\{/.test(text) || !text.includes('"sops"')) return [];
  const objects: TextRange[] = [];
  let depth = 0;
  let pending: number | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const close = endOfJsonString(text, i);
      if (depth === 1 && text.slice(i, close) === '"sops"' && /^\s*:\s*\{/.test(text.slice(close, close + 64))) pending = i;
      i = close - 1;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 1 && pending !== undefined) {
        objects.push({ start: pending, end: i + 1 });
        pending = undefined;
      }
    }
  }
  return objects.filter((range) => JSON_METADATA_KEY.test(text.slice(range.start, range.end)));
}

/** The offset just past the closing quote of the JSON string that opens at `open`. */
function endOfJsonString(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}

function dotenvMetadataLines(text: string): TextRange[] {
  if (!text.includes('sops_') || !DOTENV_METADATA_LINE.test(text)) return [];
  return Array.from(text.matchAll(DOTENV_SOPS_LINE), (m) => ({ start: m.index, end: m.index + m[0].length }));
}

/** From a `[sops]` header to the next section header or the end of the file. */
function iniMetadataSections(text: string): TextRange[] {
  if (!text.includes('[sops]')) return [];
  const sections: TextRange[] = [];
  for (const m of text.matchAll(INI_SOPS_HEADER)) {
    const start = m.index;
    INI_SECTION_HEADER.lastIndex = lineEnd(text, start);
    const end = INI_SECTION_HEADER.exec(text)?.index ?? text.length;
    if (INI_METADATA_KEY.test(text.slice(start, end))) sections.push({ start, end });
  }
  return sections;
}

function merge(ranges: TextRange[]): TextRange[] {
  const sorted = ranges.sort((a, b) => a.start - b.start);
  const merged: TextRange[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, range.end) };
    else merged.push(range);
  }
  return merged;
}
