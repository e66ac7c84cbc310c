/**
 * The fast path in front of secretlint. The recommended preset runs some sixty regular
 * expressions over the whole text of every file it is given (about 1 ms per 30 KB), which
 * alone would spend the hook's budget for a 30 MB repository. But every pattern of the
 * preset contains a literal piece (`AKIA`, `ghp_`, `-----BEGIN`, `://` … `@`, the words of
 * `aws_secret_access_key = …`), so a scan of the text for those anchors tells which
 * lines can hold a match at all. A file without anchors never reaches secretlint; a file
 * with a few is linted only in windows of lines around them, each wide enough to hold
 * every match that the anchor's rule can produce there.
 *
 * The table must stay a superset of the preset: a rule whose matches contain none of its
 * anchors would be silently skipped. `test/scan/credentials.test.ts` fails when the preset
 * registers a rule that `PRESET_ANCHORS` does not know, and proves on a generated corpus
 * that the fast path and plain secretlint report the same findings. The preset is pinned
 * to an exact version in package.json for the same reason: re-derive the table (from
 * `node_modules/@secretlint/secretlint-rule-preset-recommend/module/index.js`) on upgrade.
 */
import { extname } from 'node:path';
import type { TextRange } from './sops-regions.js';

/** How far from its anchor a match of the rule can reach. */
export type Reach =
  /** The match lies on the anchor's line (its pattern cannot cross a newline). */
  | 'line'
  /** On the anchor's line, and only when an `@` follows the anchor there (`user:password@host`). */
  | 'url-credentials'
  /**
   * The match starts on the anchor's line, but `\s*` around its `:`/`=` separator lets the
   * separator and the value sit on the next non-blank lines: the window takes two of them.
   */
  | 'next-lines'
  /** From a `-----BEGIN … PRIVATE KEY` line through the next `-----END` line. */
  | 'pem-private-key'
  /** The rule looks at the whole file (parses it, or switches reporting on and off). */
  | 'file';

export interface Anchor {
  /** Literal text every match (or the file, for `file`) contains. */
  readonly literal?: string;
  /** A regular expression source instead of a literal, always matched ignoring case. */
  readonly pattern?: string;
  /**
   * The rule's pattern puts `(?<!\p{L})` or `\b` right before the literal, so a hit right
   * after an ASCII letter (`zAKIA` inside base64 or an identifier) cannot start a match
   * and opens no window.
   */
  readonly afterNonLetter?: boolean;
  readonly reach: Reach;
}

export interface RuleAnchors {
  readonly anchors: readonly Anchor[];
  /** The rule only ever looks at files for which this holds. */
  readonly appliesTo?: (path: string) => boolean;
}

/** Literals that a match holds on its own line, anywhere. */
const line = (...literals: string[]): Anchor[] => literals.map((literal) => ({ literal, reach: 'line' }));
/** Literals that start a token: on its line, and never right after a letter. */
const token = (...literals: string[]): Anchor[] => literals.map((literal) => ({ literal, reach: 'line', afterNonLetter: true }));

/** Keyed by the id each preset rule registers (`meta.id`); one entry per rule. */
export const PRESET_ANCHORS: Readonly<Record<string, RuleAnchors>> = {
  '@secretlint/secretlint-rule-aws': {
    anchors: [
      // AWSAccessKeyID (enableIDScanRule): \b(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}\b
      ...token('A3T', 'AKIA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'ASIA'),
      // AWSSecretAccessKey: ["']?(AWS)?_?SECRET_?ACCESS_?KEY["']?\s*(:|=>|=)\s*["']?[A-Za-z0-9/+=]{40}
      { pattern: String.raw`secret_?access_?key["']?\s*[:=]`, reach: 'next-lines' },
      // AWSAccountID (enableIDScanRule): ["']?(AWS)?_?ACCOUNT_?(ID)?["']?\s*(:|=>|=)\s*["']?\d{4}-?\d{4}-?\d{4}
      { pattern: String.raw`account_?(?:id)?["']?\s*[:=]`, reach: 'next-lines' },
    ],
  },
  '@secretlint/secretlint-rule-gcp': {
    // PrivateKeyJSON: JSON.parse(whole file) has `private_key_id` and a PEM `private_key`;
    // a key name may be spelt with \u escapes, which JSON.parse decodes. PrivateKeyP12
    // reads binary .p12 files, which never reach a detector.
    anchors: [{ literal: 'private_key_id', reach: 'file' }, { literal: '\\u', reach: 'file' }],
    appliesTo: (path) => extname(path) === '.json',
  },
  '@secretlint/secretlint-rule-privatekey': {
    // -----BEGIN[ ]?((RSA|DSA|EC|OPENSSH|PGP) )?PRIVATE KEY( BLOCK)?-----…-----END …
    anchors: [{ literal: '-----BEGIN', reach: 'pem-private-key' }],
  },
  '@secretlint/secretlint-rule-npm': {
    // NPM_ACCESS_TOKEN npm_…; Npmrc_authToken _authToken=… (.npmrc);
    // PackageJSON_xOauthToken https?://…:x-oauth-basic@github.com/ (package.json)
    anchors: [...token('npm_'), ...line('_authToken=', ':x-oauth-basic@')],
  },
  '@secretlint/secretlint-rule-basicauth': {
    // (https?|ftp|ftps)://user:password@host.tld
    anchors: [{ literal: '://', reach: 'url-credentials' }],
  },
  '@secretlint/secretlint-rule-slack': {
    // SLACK_TOKEN \b(xoxb|xoxp|xapp|xoxa|xoxo|xoxr)-…; IncomingWebhook https://hooks.slack.com/services/… (/i)
    anchors: [...token('xox', 'xapp-'), { pattern: String.raw`hooks\.slack\.com`, reach: 'line' }],
  },
  '@secretlint/secretlint-rule-sendgrid': { anchors: token('SG.') },
  '@secretlint/secretlint-rule-shopify': { anchors: token('shppa_', 'shpca_', 'shpat_', 'shpss_') },
  '@secretlint/secretlint-rule-stripe': { anchors: token('sk_live_', 'sk_test_', 'rk_live_', 'rk_test_') },
  '@secretlint/secretlint-rule-github': {
    // classic (ghp|gho|ghu|ghs|ghr)_…, fine-grained github_pat_…, app installation ghs_<id>_<jwt>
    anchors: token('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'),
  },
  '@secretlint/secretlint-rule-gitlab': { anchors: token('glpat-') },
  '@secretlint/secretlint-rule-grafana': { anchors: token('glc_', 'glsa_') },
  // Both alternatives of the pattern (sk-proj-…, sk-…) carry the base64 of "OpenAI".
  '@secretlint/secretlint-rule-openai': { anchors: line('T3BlbkFJ') },
  '@secretlint/secretlint-rule-anthropic': { anchors: token('sk-ant-api0') },
  '@secretlint/secretlint-rule-groq': { anchors: token('gsk_') },
  '@secretlint/secretlint-rule-huggingface': { anchors: token('hf_') },
  '@secretlint/secretlint-rule-linear': { anchors: token('lin_api_') },
  '@secretlint/secretlint-rule-notion': { anchors: token('ntn_') },
  '@secretlint/secretlint-rule-1password': { anchors: token('ops_ey') },
  '@secretlint/secretlint-rule-database-connection-string': {
    // mongodb(+srv)://, (jdbc:)mysql(x)://, postgres(ql):// (/i), reported only with user:password@
    anchors: [{ literal: '://', reach: 'url-credentials' }],
  },
  '@secretlint/secretlint-rule-hashicorp-vault': { anchors: token('hvs.', 'hvb.', 'hvr.') },
  '@secretlint/secretlint-rule-vercel': { anchors: token('vcp_', 'vci_', 'vca_', 'vcr_', 'vck_') },
  '@secretlint/secretlint-rule-databricks': { anchors: token('dapi') },
  '@secretlint/secretlint-rule-docker': { anchors: token('dckr_pat_') },
  '@secretlint/secretlint-rule-figma': { anchors: token('figd_') },
  '@secretlint/secretlint-rule-cloudflare': { anchors: token('cfk_', 'cfut_', 'cfat_') },
  '@secretlint/secretlint-rule-tailscale': { anchors: token('tskey-') },
  '@secretlint/secretlint-rule-filter-comments': {
    // secretlint-disable / -enable / -disable-line / -disable-next-line switch reporting
    // for the rest of the file, so a file that has one is linted whole.
    anchors: [{ literal: 'secretlint-', reach: 'file' }],
  },
};

/** What to hand to secretlint for one file. */
export type ScanPlan =
  | { readonly mode: 'skip' }
  | { readonly mode: 'whole' }
  | { readonly mode: 'windows'; readonly windows: readonly TextRange[] };

// One secretlint call costs about as much as linting 2 KB more text (measured on Node 20:
// some 50 µs to set up the preset's rules, some 40 µs per KB of text), so a file this
// small is linted whole, and a larger one whole once its windows would cost more.
const CALL_COST_IN_CHARS = 2048;

interface CompiledAnchor {
  readonly reach: Reach;
  readonly appliesTo?: (path: string) => boolean;
}

/** A literal anchor, found through its lead: its first character of `LEAD_CHARACTERS`. */
interface LiteralSpec {
  readonly literal: string;
  /** The index of the lead character in the literal. */
  readonly lead: number;
  readonly afterNonLetter: boolean;
  readonly anchors: readonly CompiledAnchor[];
}

interface CompiledTable {
  /** Matches at the lead character of every literal anchor (a superset: hits are checked). */
  readonly leads: RegExp;
  readonly specsByLead: ReadonlyMap<string, readonly LiteralSpec[]>;
  /** Case-insensitive patterns, one capture group each, in `byGroup` order. */
  readonly patterns: RegExp;
  readonly byGroup: readonly CompiledAnchor[];
}

/**
 * Characters that are rare in code and configuration compared with letters. Each literal
 * is scanned for at its first such character (or its first character when it has none),
 * with the rest checked around it, so that the alternatives start with a handful of
 * distinct characters: V8 then skips to the next of them instead of trying sixty literals
 * at every position (2-3x faster on code; leading with each literal's rarest letter
 * instead is slower again, as the set of first characters grows).
 */
const LEAD_CHARACTERS = /[_\-.:\\@=/]/;

let compiled: CompiledTable | undefined;

function table(): CompiledTable {
  return (compiled ??= compile(PRESET_ANCHORS));
}

function compile(rules: Readonly<Record<string, RuleAnchors>>): CompiledTable {
  const literals = new Map<string, { afterNonLetter: boolean; anchors: CompiledAnchor[] }>();
  const groups: string[] = [];
  const byGroup: CompiledAnchor[] = [];
  for (const rule of Object.values(rules)) {
    for (const anchor of rule.anchors) {
      const compiledAnchor = { reach: anchor.reach, appliesTo: rule.appliesTo };
      if (anchor.literal !== undefined) {
        const entry = literals.get(anchor.literal) ?? { afterNonLetter: true, anchors: [] };
        // A literal that one rule finds anywhere is looked for anywhere.
        entry.afterNonLetter &&= anchor.afterNonLetter === true;
        entry.anchors.push(compiledAnchor);
        literals.set(anchor.literal, entry);
      } else if (anchor.pattern !== undefined) {
        groups.push(`(${anchor.pattern})`);
        byGroup.push(compiledAnchor);
      }
    }
  }
  const specs = [...literals].map(([literal, entry]) => ({ literal, lead: leadIndex(literal), ...entry }));
  const specsByLead = new Map<string, LiteralSpec[]>();
  for (const spec of specs) {
    const lead = spec.literal[spec.lead]!;
    specsByLead.set(lead, [...(specsByLead.get(lead) ?? []), spec]);
  }
  return {
    leads: new RegExp(specs.map(leadPattern).join('|') || '(?!)', 'g'),
    specsByLead,
    patterns: new RegExp(groups.join('|') || '(?!)', 'gi'),
    byGroup,
  };
}

function leadIndex(literal: string): number {
  return Math.max(0, literal.search(LEAD_CHARACTERS));
}

/** `github_pat_` → `_(?<=(?<![A-Za-z])github_)(?=pat_)`: the lead, then what surrounds it. */
function leadPattern(spec: LiteralSpec): string {
  const before = spec.literal.slice(0, spec.lead + 1);
  const after = spec.literal.slice(spec.lead + 1);
  const boundary = spec.afterNonLetter ? '(?<![A-Za-z])' : '';
  const lookbehind = before.length > 1 || boundary ? `(?<=${boundary}${escapeRegExp(before)})` : '';
  return `${escapeRegExp(spec.literal[spec.lead]!)}${lookbehind}${after ? `(?=${escapeRegExp(after)})` : ''}`;
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Finds the anchors in `text` and turns them into what secretlint must see. */
export function planScan(text: string, path: string): ScanPlan {
  const windows: TextRange[] = [];
  for (const { offset, length, anchor } of anchorHits(text)) {
    if (anchor.appliesTo && !anchor.appliesTo(path)) continue;
    if (anchor.reach === 'file') return { mode: 'whole' };
    const window = windowFor(text, offset, offset + length, anchor.reach);
    if (window) windows.push(window);
  }
  if (windows.length === 0) return { mode: 'skip' };
  const merged = mergeWindows(windows);
  const windowed = merged.reduce((sum, w) => sum + (w.end - w.start), 0);
  const windowsCost = merged.length * CALL_COST_IN_CHARS + windowed;
  const wholeCost = CALL_COST_IN_CHARS + text.length;
  if (text.length <= CALL_COST_IN_CHARS || windowsCost >= wholeCost) return { mode: 'whole' };
  return { mode: 'windows', windows: merged };
}

interface AnchorHit {
  readonly offset: number;
  readonly length: number;
  readonly anchor: CompiledAnchor;
}

function* anchorHits(text: string): Generator<AnchorHit> {
  const { leads, specsByLead, patterns, byGroup } = table();
  for (const m of text.matchAll(leads)) {
    // Every literal with this lead is checked, so the order of the alternatives never hides one.
    for (const spec of specsByLead.get(m[0]) ?? []) {
      const offset = m.index - spec.lead;
      if (offset < 0 || !text.startsWith(spec.literal, offset)) continue;
      if (spec.afterNonLetter && isAsciiLetter(text.charCodeAt(offset - 1))) continue;
      for (const anchor of spec.anchors) yield { offset, length: spec.literal.length, anchor };
    }
  }
  for (const m of text.matchAll(patterns)) {
    const group = m.findIndex((captured, index) => index > 0 && captured !== undefined);
    yield { offset: m.index, length: m[0].length, anchor: byGroup[group - 1]! };
  }
}

function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function windowFor(text: string, start: number, end: number, reach: Reach): TextRange | undefined {
  const first = lineStartAt(text, start);
  const last = lineEndAt(text, start);
  switch (reach) {
    case 'line':
      return { start: first, end: last };
    case 'url-credentials':
      return text.slice(end, last).includes('@') ? { start: first, end: last } : undefined;
    case 'next-lines':
      return { start: first, end: endOfNonBlankLines(text, lineEndAt(text, end - 1), 2) };
    case 'pem-private-key': {
      if (!text.slice(end, last).includes('PRIVATE KEY')) return undefined;
      const close = text.indexOf('-----END', end);
      return { start: first, end: close < 0 ? last : lineEndAt(text, close) };
    }
    case 'file':
      return { start: 0, end: text.length };
  }
}

/** The offset past the `count`-th non-blank line that starts at or after `from`. */
function endOfNonBlankLines(text: string, from: number, count: number): number {
  let position = from;
  let seen = 0;
  while (seen < count && position < text.length) {
    const next = lineEndAt(text, position);
    // `\s` as the preset's patterns use it, so a line they would skip counts as blank here.
    if (/\S/.test(text.slice(position, next))) seen++;
    position = next;
  }
  return position;
}

function mergeWindows(windows: TextRange[]): TextRange[] {
  const sorted = windows.sort((a, b) => a.start - b.start);
  const merged: TextRange[] = [];
  for (const window of sorted) {
    const last = merged[merged.length - 1];
    if (last && window.start <= last.end) merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, window.end) };
    else merged.push(window);
  }
  return merged;
}

/** The offset where the line holding `offset` starts. */
export function lineStartAt(text: string, offset: number): number {
  // lastIndexOf clamps a negative start to 0 and would find a `\n` at offset 0 itself.
  return offset === 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
}

/** The offset just past the line holding `offset`: past its `\n`, or the end of the text. */
export function lineEndAt(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline < 0 ? text.length : newline + 1;
}

/** 1-based line and column (in UTF-16 code units) of `offset`. */
export function positionAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  for (let newline = text.indexOf('\n'); newline >= 0 && newline < offset; newline = text.indexOf('\n', newline + 1)) line++;
  return { line, column: offset - lineStartAt(text, offset) + 1 };
}
