/**
 * The fast path in front of secretlint. The recommended preset runs some sixty regular
 * expressions over the whole text of every file it is given (about 1 ms per 30 KB), which
 * alone would spend the hook's budget for a 30 MB repository. But every pattern of the
 * preset contains a literal piece (`AKIA`, `ghp_`, `-----BEGIN`, `://` … `@`, the words of
 * `aws_secret_access_key = …`), so a search of the text for those anchors tells which
 * lines can hold a match at all, and which rules can match there. A file without anchors
 * never reaches secretlint; a file with a few is linted only in windows of lines around
 * them, each wide enough to hold every match that the anchor's rule can produce there,
 * and only by the rules whose anchors lie in the window.
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
import { LiteralSearch } from './anchor-search.js';
import { TextIndex } from './text-index.js';

/** How far from its anchor a match of the rule can reach. */
export type Reach =
  /**
   * The match lies on the lines the anchor spans: its pattern crosses a newline only
   * inside the anchor (one line for a literal; a pattern anchor may span several).
   */
  | 'line'
  /** On the anchor's line, and only when `user:password@` follows the anchor there. */
  | 'url-credentials'
  /** From a `-----BEGIN … PRIVATE KEY` line through the next `-----END` line. */
  | 'pem-private-key'
  /** The rule looks at the whole file (parses it, or switches reporting on and off). */
  | 'file';

/**
 * A regular expression that every match of the rule contains a match of. It is tried
 * only where one of its probes occurs, which is what keeps it cheap: searching a whole
 * text for a pattern that starts with common letters costs ten times a probe's search.
 */
export interface AnchorPattern {
  readonly source: string;
  readonly ignoreCase?: boolean;
  /** The characters a match can start with: a hit whose would-be start is another is not tried. */
  readonly startsWith: string;
  /** Literals of which every match of `source` holds one, `probeAt` characters from its start. */
  readonly probes: readonly string[];
  readonly probeAt: number;
  /**
   * What must follow the probe, in the bytes of an ASCII text, wherever the pattern can
   * match: a necessary condition, tested before a file is decoded (`mayHaveAnchors`), so
   * that the many `serviceAccount`s of a repository need no text at all.
   */
  readonly followedBy: (bytes: Uint8Array, at: number) => boolean;
}

export interface Anchor {
  /** Literal text every match (or the file, for `file`) contains. */
  readonly literal?: string;
  /** A regular expression instead of a literal. */
  readonly pattern?: AnchorPattern;
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
  /**
   * The rule reports nothing of its own: it only switches other rules' reports off, so
   * its anchor matters only in a file where another rule has one.
   */
  readonly filtersOthers?: boolean;
}

/** Literals that a match holds on its own line, anywhere. */
const line = (...literals: string[]): Anchor[] => literals.map((literal) => ({ literal, reach: 'line' }));
/** Literals that start a token: on its line, and never right after a letter. */
const token = (...literals: string[]): Anchor[] => literals.map((literal) => ({ literal, reach: 'line', afterNonLetter: true }));

/**
 * What follows `ACCESS` in the AWS secret rule, on ASCII bytes:
 * `_?(?:KEY|key|Key)["']?\s*(?::|=>|=)\s*["']?[A-Za-z0-9/+=]{40}`.
 */
function accessKeyFollows(bytes: Uint8Array, at: number): boolean {
  const i = at + (bytes[at] === 0x5f ? 1 : 0);
  if (!oneOf(bytes, i, ['KEY', 'key', 'Key'])) return false;
  const value = afterSeparator(bytes, i + 3);
  if (value < 0) return false;
  for (let k = 0; k < 40; k++) if (!isBase64Character(bytes[value + k] ?? 0)) return false;
  return true;
}

/** What follows `ACCOUNT` in the AWS account id rule: `_?(?:ID|id|Id)?["']?\s*(?::|=>|=)\s*["']?\d{4}-?\d{4}-?\d{4}`. */
function accountIdFollows(bytes: Uint8Array, at: number): boolean {
  let i = at + (bytes[at] === 0x5f ? 1 : 0);
  if (oneOf(bytes, i, ['ID', 'id', 'Id'])) i += 2;
  i = afterSeparator(bytes, i);
  for (let group = 0; group < 3 && i >= 0; group++) {
    if (group > 0 && bytes[i] === 0x2d) i++;
    for (let k = 0; k < 4 && i >= 0; k++) i = isDigit(bytes[i] ?? 0) ? i + 1 : -1;
  }
  return i >= 0;
}

/** Past `["']?\s*(?::|=>|=)\s*["']?`, or -1 where that is not what follows. */
function afterSeparator(bytes: Uint8Array, at: number): number {
  let i = skipBlanks(bytes, at + (isQuote(bytes[at] ?? 0) ? 1 : 0));
  if (bytes[i] === 0x3a) i++;
  else if (bytes[i] === 0x3d) i += bytes[i + 1] === 0x3e ? 2 : 1;
  else return -1;
  i = skipBlanks(bytes, i);
  return i + (isQuote(bytes[i] ?? 0) ? 1 : 0);
}

function skipBlanks(bytes: Uint8Array, at: number): number {
  let i = at;
  while (i < bytes.length && isAsciiSpace(bytes[i]!)) i++;
  return i;
}

const isQuote = (code: number) => code === 0x22 || code === 0x27;
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
const isBase64Character = (code: number) => isAsciiLetter(code) || isDigit(code) || code === 0x2f || code === 0x2b || code === 0x3d;

function oneOf(bytes: Uint8Array, at: number, words: readonly string[]): boolean {
  return words.some((word) => bytesAre(bytes, at, word));
}

function bytesAre(bytes: Uint8Array, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (bytes[at + k] !== word.charCodeAt(k)) return false;
  return true;
}

const SLACK_HOST = 'hooks.slack.com';

/** After the webhook's `://`: its host, in any case (the rule's pattern has the i flag). */
function slackHostFollows(bytes: Uint8Array, at: number): boolean {
  if (at + SLACK_HOST.length > bytes.length) return false;
  for (let i = 0; i < SLACK_HOST.length; i++) if ((bytes[at + i]! | 0x20) !== SLACK_HOST.charCodeAt(i)) return false;
  return true;
}

/** Keyed by the id each preset rule registers (`meta.id`); one entry per rule. */
export const PRESET_ANCHORS: Readonly<Record<string, RuleAnchors>> = {
  '@secretlint/secretlint-rule-aws': {
    anchors: [
      // AWSAccessKeyID (enableIDScanRule): \b(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}\b
      ...token('A3T', 'AKIA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'ASIA'),
      // AWSSecretAccessKey: ["']?(AWS)?_?SECRET_?ACCESS_?KEY["']?\s*(:|=>|=)\s*["']?[A-Za-z0-9/+=]{40}…,
      // each word in one of three spellings. The anchor runs from ACCESS to the value, so
      // the window holds the key, the separator and the value even on separate lines.
      {
        pattern: {
          source: String.raw`(?<=(?:SECRET|secret|Secret)_?)(?:ACCESS|access|Access)_?(?:KEY|key|Key)["']?\s*(?::|=>|=)\s*["']?[A-Za-z0-9/+=]{40}`,
          startsWith: 'aA',
          probes: ['ccess', 'CCESS'],
          probeAt: 1,
          followedBy: accessKeyFollows,
        },
        reach: 'line',
      },
      // AWSAccountID (enableIDScanRule): ("|')?(AWS)?_?(ACCOUNT)_?(ID)?("|')?\s*(:|=>|=)\s*("|')?\d{4}-?\d{4}-?\d{4}…
      {
        pattern: {
          source: String.raw`(?:ACCOUNT|account|Account)_?(?:ID|id|Id)?["']?\s*(?::|=>|=)\s*["']?[0-9]{4}-?[0-9]{4}-?[0-9]{4}`,
          startsWith: 'aA',
          probes: ['ccount', 'CCOUNT'],
          probeAt: 1,
          followedBy: accountIdFollows,
        },
        reach: 'line',
      },
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
    // The webhook's `https://` is part of the match, so its `://` finds it.
    anchors: [
      ...token('xox', 'xapp-'),
      {
        pattern: { source: String.raw`https:\/\/hooks\.slack\.com`, ignoreCase: true, startsWith: 'hH', probes: ['://'], probeAt: 5, followedBy: slackHostFollows },
        reach: 'line',
      },
    ],
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
    filtersOthers: true,
  },
};

/** A part of the text to lint, and the rules that can match in it. */
export interface PlannedWindow extends TextRange {
  /** Rule ids, in no particular order. */
  readonly rules: readonly string[];
}

/** What to hand to secretlint for one file. */
export type ScanPlan =
  | { readonly mode: 'skip' }
  /** `rules` undefined: every rule of the preset. */
  | { readonly mode: 'whole'; readonly rules?: readonly string[] }
  /**
   * `wholeFileRules`: rules that read the whole file (the GCP key file rule), linted on
   * the whole text by themselves while every other rule stays in its windows.
   */
  | { readonly mode: 'windows'; readonly windows: readonly PlannedWindow[]; readonly wholeFileRules?: readonly string[] };

// One secretlint call costs about as much as linting 2 KB more text (measured on Node 20:
// some 50 µs to set up the preset's rules, some 40 µs per KB of text), so a file this
// small is linted whole, and a larger one whole once its windows would cost more.
const CALL_COST_IN_CHARS = 2048;

/**
 * Characters rare in code and configuration, the rarest first. Each literal anchor is
 * searched for by one of these it contains, and its other characters are checked around
 * each hit; one `indexOf` pass per character serves every literal that shares it, so the
 * characters are picked to cover the most literals with the fewest passes. `indexOf`
 * finds a rare character at memory speed, so a dozen passes cost less than one regular
 * expression of every anchor, which tries each position of the text in turn.
 */
const PROBE_CHARACTERS = '\\@JKGA_k';
/**
 * Letters from the most to the least frequent in English text. A literal with none of
 * the probe characters is searched for by a prefix it shares with others (`hv` for `hvs.`,
 * `hvb.`, `hvr.`), else from its rarest letter on (`dapi` as `pi`): the search stops in
 * native code at each occurrence of the probe's first character.
 */
const LETTERS_BY_FREQUENCY = 'etaoinsrhldcumfpgwybvkxjqz';

/** What a hit of an anchor opens: a window of this reach, for these rules. */
interface CompiledAnchor {
  readonly rules: readonly string[];
  readonly reach: Reach;
}

/** A literal anchor, found through its probe. */
interface LiteralSpec {
  readonly literal: string;
  /** Where the probe sits in the literal. */
  readonly probeAt: number;
  /**
   * One more character of the literal checked before the whole literal is compared (code
   * -1: none), relative to the probe's hit: most hits of a probe have the right neighbour
   * by chance (`t_` in `request_id` for `shpat_`), few have two.
   */
  readonly confirmAt: number;
  readonly confirmCode: number;
  readonly afterNonLetter: boolean;
  readonly anchors: readonly CompiledAnchor[];
  /** Every anchor of the literal needs `user:password@` after it (`url-credentials`). */
  readonly onlyWithUserinfo: boolean;
}

interface PatternSpec {
  /** Sticky: tried exactly where a match would start. */
  readonly regex: RegExp;
  readonly followedBy: (bytes: Uint8Array, at: number) => boolean;
  readonly probeAt: number;
  /** Codes of the characters a match can start with. */
  readonly startCodes: readonly number[];
  readonly anchor: CompiledAnchor;
}

/** Literal specs by the code of an ASCII character next to the probe (anchors are ASCII). */
type ByCharacter = readonly (readonly LiteralSpec[] | undefined)[];

/** One `indexOf` pass, and what each hit may be. */
interface Probe {
  readonly text: string;
  /** Literals whose probe is preceded by a character of theirs, by that character. */
  readonly byCharBefore: ByCharacter;
  /** Literals that start with the probe, by the character after it. */
  readonly byCharAfter: ByCharacter;
  /** Literals that are the probe itself. */
  readonly whole: readonly LiteralSpec[];
  readonly patterns: readonly PatternSpec[];
}

interface CompiledTable {
  readonly probes: readonly Probe[];
  /** Searched for only once another rule has opened a window. */
  readonly filterProbes: readonly Probe[];
  /** The same anchors for the byte search: what a hit of each of `SEARCHED_LITERALS` may be, by its index. */
  readonly byLiteral: readonly (LiteralHandler | undefined)[];
}

/** What a hit of one literal of the byte search may be: that literal, and the patterns it is a probe of. */
interface LiteralHandler {
  readonly specs: readonly LiteralSpec[];
  readonly patterns: readonly PatternSpec[];
  /** An anchor of a rule that switches others off: looked at only once a window is open. */
  readonly filter: boolean;
}

/** The `appliesTo` tests of the table: which of them hold picks the compiled table for a path. */
const PATH_TESTS = [...new Set(Object.values(PRESET_ANCHORS).flatMap((entry) => (entry.appliesTo ? [entry.appliesTo] : [])))];
const compiled = new Map<string, CompiledTable>();

/** The table of the rules that apply to `path` (one for JSON files, one for the rest). */
function tableFor(path: string): CompiledTable {
  let key = '';
  for (const test of PATH_TESTS) key += test(path) ? '1' : '0';
  let table = compiled.get(key);
  if (!table) {
    table = compile(PRESET_ANCHORS, (entry) => !entry.appliesTo || entry.appliesTo(path));
    compiled.set(key, table);
  }
  return table;
}

interface ProbeBuilder {
  before: LiteralSpec[][];
  after: LiteralSpec[][];
  whole: LiteralSpec[];
  patterns: PatternSpec[];
}

interface LiteralEntry {
  afterNonLetter: boolean;
  /** Rules by reach: one window per reach and hit. */
  rules: Map<Reach, string[]>;
  filters: boolean;
}

function compile(table: Readonly<Record<string, RuleAnchors>>, applies: (entry: RuleAnchors) => boolean): CompiledTable {
  const groups = { probes: new Map<string, ProbeBuilder>(), filterProbes: new Map<string, ProbeBuilder>() };
  const literals = new Map<string, LiteralEntry>();
  for (const [rule, entry] of Object.entries(table)) {
    if (!applies(entry)) continue;
    for (const anchor of entry.anchors) {
      if (anchor.literal !== undefined) {
        const known = literals.get(anchor.literal) ?? { afterNonLetter: true, rules: new Map<Reach, string[]>(), filters: true };
        // A literal that one rule finds anywhere is looked for anywhere, and always when one rule reports.
        known.afterNonLetter &&= anchor.afterNonLetter === true;
        known.filters &&= entry.filtersOthers === true;
        known.rules.set(anchor.reach, [...(known.rules.get(anchor.reach) ?? []), rule]);
        literals.set(anchor.literal, known);
      } else if (anchor.pattern !== undefined) {
        const { source, ignoreCase, startsWith, probes, probeAt, followedBy } = anchor.pattern;
        const spec = {
          regex: new RegExp(source, ignoreCase ? 'iy' : 'y'),
          followedBy,
          probeAt,
          startCodes: Array.from(startsWith, (c) => c.charCodeAt(0)),
          anchor: { rules: [rule], reach: anchor.reach },
        };
        const target = entry.filtersOthers ? groups.filterProbes : groups.probes;
        for (const probe of probes) probeBuilder(target, probe).patterns.push(spec);
      }
    }
  }
  for (const [target, filters] of [[groups.probes, false], [groups.filterProbes, true]] as const) {
    const group = [...literals].filter(([, known]) => known.filters === filters);
    const probes = assignProbes(group.map(([literal]) => literal));
    for (const [literal, known] of group) addLiteralSpec(target, literal, probes.get(literal)!, known);
  }
  const probes = [...groups.probes].map(finishProbe);
  const filterProbes = [...groups.filterProbes].map(finishProbe);
  return { probes, filterProbes, byLiteral: handlersByLiteral(probes, filterProbes) };
}

/**
 * Every literal anchor and pattern probe of the table, whichever table applies to a
 * path: the byte search looks for all of them, and each table ignores the ones it lacks.
 */
const SEARCHED_LITERALS: readonly string[] = [
  ...new Set(
    Object.values(PRESET_ANCHORS).flatMap((entry) => entry.anchors.flatMap((anchor) => (anchor.literal !== undefined ? [anchor.literal] : (anchor.pattern?.probes ?? [])))),
  ),
];

/** The probes' specs regrouped by the literal a byte-search hit names. */
function handlersByLiteral(probes: readonly Probe[], filterProbes: readonly Probe[]): (LiteralHandler | undefined)[] {
  const handlers = new Map<string, { specs: LiteralSpec[]; patterns: PatternSpec[]; filter: boolean }>();
  const handler = (literal: string, filter: boolean) => {
    let found = handlers.get(literal);
    if (!found) handlers.set(literal, (found = { specs: [], patterns: [], filter }));
    else if (found.filter !== filter) throw new Error(`prefilter: ${literal} is an anchor of a filtering rule and of another`);
    return found;
  };
  for (const [group, filter] of [[probes, false], [filterProbes, true]] as const) {
    for (const probe of group) {
      for (const spec of [...probe.whole, ...probe.byCharBefore.flat(), ...probe.byCharAfter.flat()]) if (spec) handler(spec.literal, filter).specs.push(spec);
      // A pattern's probes are literals of the byte search, each a probe of its own here.
      if (probe.patterns.length > 0) handler(probe.text, filter).patterns.push(...probe.patterns);
    }
  }
  return SEARCHED_LITERALS.map((literal) => handlers.get(literal));
}

interface ProbePlace {
  readonly probe: string;
  /** Where the probe sits in the literal. */
  readonly probeAt: number;
}

/** The probe of each literal: see PROBE_CHARACTERS and LETTERS_BY_FREQUENCY. */
function assignProbes(literals: readonly string[]): Map<string, ProbePlace> {
  const places = new Map<string, ProbePlace>();
  let rest = [...literals];
  for (;;) {
    // The probe character that covers the most literals left; on a tie, the rarer one.
    let best: string | undefined;
    let covered = 0;
    for (const character of PROBE_CHARACTERS) {
      const count = rest.filter((literal) => literal.includes(character)).length;
      if (count > covered) [best, covered] = [character, count];
    }
    if (best === undefined) break;
    for (const literal of rest) if (literal.includes(best)) places.set(literal, { probe: best, probeAt: literal.indexOf(best) });
    rest = rest.filter((literal) => !places.has(literal));
  }
  for (const literal of rest) {
    const sharing = rest.filter((other) => other.slice(0, 2) === literal.slice(0, 2));
    if (sharing.length > 1) places.set(literal, { probe: commonPrefix(sharing), probeAt: 0 });
    else places.set(literal, { probe: literal.slice(rarestLetter(literal)), probeAt: rarestLetter(literal) });
  }
  return places;
}

function commonPrefix(strings: readonly string[]): string {
  let prefix = strings[0]!;
  for (const s of strings) while (!s.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

function rarestLetter(literal: string): number {
  let rarest = 0;
  let rank = -1;
  for (let i = 0; i < literal.length; i++) {
    const letterRank = LETTERS_BY_FREQUENCY.indexOf(literal[i]!.toLowerCase());
    if (letterRank > rank) [rarest, rank] = [i, letterRank];
  }
  return rarest;
}

function addLiteralSpec(probes: Map<string, ProbeBuilder>, literal: string, { probe, probeAt }: ProbePlace, known: LiteralEntry): void {
  const keyedBefore = probeAt > 0;
  // The neighbour the table is keyed by is checked by the lookup; confirm the next one out.
  const confirmAt = keyedBefore && probeAt >= 2 ? -2 : probe.length + (keyedBefore ? 0 : 1);
  const confirmCode = probeAt + confirmAt >= 0 && probeAt + confirmAt < literal.length ? literal.charCodeAt(probeAt + confirmAt) : -1;
  const anchors = [...known.rules].map(([reach, rules]) => ({ reach, rules }));
  const onlyWithUserinfo = anchors.every((anchor) => anchor.reach === 'url-credentials');
  const spec: LiteralSpec = { literal, probeAt, confirmAt, confirmCode, afterNonLetter: known.afterNonLetter, anchors, onlyWithUserinfo };
  const builder = probeBuilder(probes, probe);
  if (literal === probe) builder.whole.push(spec);
  else if (keyedBefore) (builder.before[literal.charCodeAt(probeAt - 1)] ??= []).push(spec);
  else (builder.after[literal.charCodeAt(probe.length)] ??= []).push(spec);
}

function probeBuilder(probes: Map<string, ProbeBuilder>, text: string): ProbeBuilder {
  let builder = probes.get(text);
  if (!builder) {
    builder = { before: [], after: [], whole: [], patterns: [] };
    probes.set(text, builder);
  }
  return builder;
}

function finishProbe([text, builder]: [string, ProbeBuilder]): Probe {
  // Dense arrays of 128 slots: a hit's neighbour is looked up without a hash.
  const dense = (sparse: LiteralSpec[][]) => Array.from({ length: 128 }, (_, code) => sparse[code]);
  return { text, byCharBefore: dense(builder.before), byCharAfter: dense(builder.after), whole: builder.whole, patterns: builder.patterns };
}

const SKIP: ScanPlan = { mode: 'skip' };

/**
 * Finds the anchors in `text` and turns them into what secretlint must see. The search
 * runs on every file; the planning only on the few with hits, in a function of its own,
 * so that the optimiser compiles the search alone (it recompiles whatever it inlines, at
 * a cost a short run never earns back).
 *
 * `bytes`, when given, are the text's own bytes, all ASCII (so that a byte's offset is
 * its character's index): the anchors are then found by the WebAssembly byte search,
 * where it can run, instead of a JavaScript pass per probe.
 */
export function planScan(text: string, path: string, index: TextIndex = new TextIndex(text), bytes?: Uint8Array): ScanPlan {
  const table = tableFor(path);
  const hits: AnchorHit[] = [];
  const filterHits: AnchorHit[] = [];
  if (bytes !== undefined && bytes.length === text.length && findAnchorsInBytes(text, bytes, table, hits, filterHits)) {
    return hits.length === 0 ? SKIP : planWindows(text, table, hits, index, () => filterHits);
  }
  for (const probe of table.probes) findAnchors(text, probe, hits);
  return hits.length === 0 ? SKIP : planWindows(text, table, hits, index, () => filterAnchors(text, table));
}

function filterAnchors(text: string, table: CompiledTable): AnchorHit[] {
  const hits: AnchorHit[] = [];
  for (const probe of table.filterProbes) findAnchors(text, probe, hits);
  return hits;
}

function planWindows(text: string, table: CompiledTable, hits: AnchorHit[], index: TextIndex, filterHits: () => AnchorHit[]): ScanPlan {
  const windows: PlannedWindow[] = [];
  let whole: Set<string> | undefined;
  const collect = ({ offset, length, anchor }: AnchorHit) => {
    if (anchor.reach === 'file') {
      whole ??= new Set();
      for (const rule of anchor.rules) whole.add(rule);
      return;
    }
    const window = windowFor(text, offset, offset + length, anchor.reach, index);
    if (window) windows.push({ ...window, rules: anchor.rules });
  };
  hits.forEach(collect);
  if (windows.length === 0 && whole === undefined) return SKIP;
  filterHits().forEach(collect);
  // A rule that switches others off (secretlint-disable comments) needs them all on the whole text.
  const wholeForAll = whole !== undefined && [...whole].some((rule) => PRESET_ANCHORS[rule]?.filtersOthers === true);
  if (wholeForAll || (whole !== undefined && windows.length === 0)) return { mode: 'whole', rules: [...unionOfRules(windows, whole!)] };
  const merged = mergeWindows(windows);
  const windowed = merged.reduce((sum, w) => sum + (w.end - w.start), 0);
  const windowsCost = merged.length * CALL_COST_IN_CHARS + windowed;
  const wholeCost = CALL_COST_IN_CHARS + text.length;
  const cheaperWhole = windowsCost >= wholeCost && text.length <= MAX_JOINED_CHARS;
  if (text.length <= CALL_COST_IN_CHARS || cheaperWhole) return { mode: 'whole', rules: [...unionOfRules(merged, whole ?? new Set())] };
  return whole === undefined ? { mode: 'windows', windows: merged } : { mode: 'windows', windows: merged, wholeFileRules: [...whole] };
}

function unionOfRules(windows: readonly PlannedWindow[], into: Set<string>): Set<string> {
  for (const window of windows) for (const rule of window.rules) into.add(rule);
  return into;
}

interface AnchorHit {
  readonly offset: number;
  readonly length: number;
  readonly anchor: CompiledAnchor;
}

/**
 * Every hit of one probe's anchors in `text`, in order. Written for the interpreter as
 * much as for the optimiser: a scan is one short run, and most of it happens before this
 * loop is optimised, so a hit that leads nowhere costs one lookup and nothing else.
 */
function findAnchors(text: string, probe: Probe, hits: AnchorHit[]): void {
  const { text: needle, byCharBefore, byCharAfter, whole, patterns } = probe;
  const afterOffset = needle.length;
  const checkWhole = whole.length > 0;
  const checkPatterns = patterns.length > 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    if (checkWhole) addLiterals(text, at, whole, hits);
    // At 0 the code is NaN, which no slot holds; past the ASCII range, none either.
    const before = byCharBefore[text.charCodeAt(at - 1)];
    if (before !== undefined) addLiterals(text, at, before, hits);
    const after = byCharAfter[text.charCodeAt(at + afterOffset)];
    if (after !== undefined) addLiterals(text, at, after, hits);
    if (checkPatterns) addPatterns(text, at, patterns, hits);
  }
}

function addLiterals(text: string, probeHit: number, specs: readonly LiteralSpec[], hits: AnchorHit[]): void {
  for (const spec of specs) {
    if (spec.confirmCode !== -1 && text.charCodeAt(probeHit + spec.confirmAt) !== spec.confirmCode) continue;
    const offset = probeHit - spec.probeAt;
    if (offset < 0 || !text.startsWith(spec.literal, offset)) continue;
    addLiteral(text, offset, spec, hits);
  }
}

/** A literal found at `offset`: the anchors it opens, unless its rules rule it out there. */
function addLiteral(text: string, offset: number, spec: LiteralSpec, hits: AnchorHit[]): void {
  if (spec.afterNonLetter && isAsciiLetter(text.charCodeAt(offset - 1))) return;
  const end = offset + spec.literal.length;
  for (const anchor of spec.anchors) {
    // Most URLs carry no credentials: such a hit opens nothing, so it is not even kept.
    if (anchor.reach === 'url-credentials' && !hasUserinfoAt(text, end)) continue;
    hits.push({ offset, length: spec.literal.length, anchor });
  }
}

/** The byte search for every table's literals, made on first use; null where it cannot run. */
let literalSearch: LiteralSearch | null | undefined;

/**
 * The byte search's hits in a file's bytes, as [literal, offset, literal, offset, …], or
 * null where it cannot run or gives up on the text. Kept per content, because the scan
 * asks `mayHaveAnchors` of the bytes before it decodes them and `planScan` after.
 */
const literalHitsOf = new WeakMap<Uint8Array, readonly number[] | null>();

function literalHits(bytes: Uint8Array): readonly number[] | null {
  let hits = literalHitsOf.get(bytes);
  if (hits === undefined) {
    if (literalSearch === undefined) literalSearch = LiteralSearch.create(SEARCHED_LITERALS) ?? null;
    const found: number[] = [];
    hits = literalSearch !== null && literalSearch.find(bytes, (literal, offset) => found.push(literal, offset)) ? found : null;
    literalHitsOf.set(bytes, hits);
  }
  return hits;
}

/**
 * Whether an anchor of the rules for `path` can open a window in this ASCII text, told
 * from its bytes alone: false means planScan would skip it, so the file need not even be
 * decoded for the credential rules. Every check here is one planScan makes too, or a
 * necessary condition of one (`followedBy`); where the byte search cannot run, true.
 */
export function mayHaveAnchors(bytes: Uint8Array, path: string): boolean {
  const hits = literalHits(bytes);
  if (hits === null) return true;
  const { byLiteral } = tableFor(path);
  for (let i = 0; i < hits.length; i += 2) {
    const handler = byLiteral[hits[i]!];
    // A filter's anchor (secretlint-disable) matters only beside another rule's.
    if (handler === undefined || handler.filter) continue;
    const offset = hits[i + 1]!;
    for (const spec of handler.specs) {
      if (spec.afterNonLetter && isAsciiLetter(bytes[offset - 1] ?? 0)) continue;
      if (!spec.onlyWithUserinfo || hasUserinfoInBytes(bytes, offset + spec.literal.length)) return true;
    }
    const probeEnd = offset + SEARCHED_LITERALS[hits[i]!]!.length;
    for (const pattern of handler.patterns) {
      const start = offset - pattern.probeAt;
      if (start >= 0 && pattern.startCodes.includes(bytes[start]!) && pattern.followedBy(bytes, probeEnd)) return true;
    }
  }
  return false;
}

/** `URL_USERINFO` (`hasUserinfoAt`) on ASCII bytes, where `\s` is the six ASCII blanks: keep the two alike. */
function hasUserinfoInBytes(bytes: Uint8Array, at: number): boolean {
  let i = at;
  while (i < bytes.length && bytes[i] !== 0x3a && bytes[i] !== 0x2f && !isAsciiSpace(bytes[i]!)) i++;
  if (i === at || bytes[i] !== 0x3a) return false;
  const password = ++i;
  while (i < bytes.length && bytes[i] !== 0x40 && bytes[i] !== 0x2f && !isAsciiSpace(bytes[i]!)) i++;
  return i > password && bytes[i] === 0x40;
}

function isAsciiSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/**
 * The anchors of `table` in `text`, from the byte search's hits in its bytes; false (and
 * nothing found) where that search cannot run or gives up on the text.
 */
function findAnchorsInBytes(text: string, bytes: Uint8Array, table: CompiledTable, hits: AnchorHit[], filterHits: AnchorHit[]): boolean {
  const found = literalHits(bytes);
  if (found === null) return false;
  const { byLiteral } = table;
  for (let i = 0; i < found.length; i += 2) {
    const handler = byLiteral[found[i]!];
    if (handler === undefined) continue;
    const offset = found[i + 1]!;
    const into = handler.filter ? filterHits : hits;
    for (const spec of handler.specs) addLiteral(text, offset, spec, into);
    if (handler.patterns.length > 0) addPatterns(text, offset, handler.patterns, into);
  }
  return true;
}

function addPatterns(text: string, probeHit: number, patterns: readonly PatternSpec[], hits: AnchorHit[]): void {
  for (const { regex, probeAt, startCodes, anchor } of patterns) {
    const start = probeHit - probeAt;
    if (start < 0 || !startCodes.includes(text.charCodeAt(start))) continue;
    regex.lastIndex = start;
    const m = regex.exec(text);
    if (m) hits.push({ offset: start, length: m[0].length, anchor });
  }
}

function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/**
 * What must follow `://` for either rule to report: a user name, `:`, a password, `@`,
 * with the character classes of the database rules (the basic-auth rule's are narrower).
 */
const URL_USERINFO = /[^:/\s]+:[^@/\s]+@/y; // and hasUserinfoInBytes, on bytes

function hasUserinfoAt(text: string, at: number): boolean {
  URL_USERINFO.lastIndex = at;
  return URL_USERINFO.test(text);
}

const PEM_END = '-----END';
/** `-----BEGIN` + ` OPENSSH ` + `PRIVATE KEY`, with room to spare. */
const PRIVATE_KEY_REACH = 32;

function windowFor(text: string, start: number, end: number, reach: Exclude<Reach, 'file'>, index: TextIndex): TextRange | undefined {
  switch (reach) {
    // A `://` hit is kept only with user:password@ after it (addLiterals): its line is the window.
    case 'line':
    case 'url-credentials':
      return { start: index.lineStart(start), end: index.lineEnd(end - 1) };
    case 'pem-private-key': {
      const last = index.lineEnd(start);
      // The preset's patterns put `PRIVATE KEY` within a space, a key type and a space of
      // BEGIN; looking no further keeps a long line of BEGINs from costing a pass each.
      if (!text.slice(end, Math.min(last, end + PRIVATE_KEY_REACH)).includes('PRIVATE KEY')) return undefined;
      const close = index.next(PEM_END, end);
      return { start: index.lineStart(start), end: close < 0 ? last : index.lineEnd(close) };
    }
  }
}

/**
 * Windows that only touch (one ends where the next starts) are joined up to this size,
 * and a text longer than it is never linted whole for cost alone: secretlint's core
 * drops duplicate messages by comparing every message with every later one, so a single
 * call over a file with thousands of hits (a list of 20,000 AWS key ids) would run for
 * minutes. Overlapping windows are always joined, whatever their size, since a match may
 * cross the overlap.
 */
const MAX_JOINED_CHARS = 16 * 1024;

function mergeWindows(windows: PlannedWindow[]): PlannedWindow[] {
  const sorted = windows.sort((a, b) => a.start - b.start);
  const merged: PlannedWindow[] = [];
  for (const window of sorted) {
    const last = merged[merged.length - 1];
    if (last && (window.start < last.end || (window.start === last.end && last.end - last.start < MAX_JOINED_CHARS))) {
      const rules = window.rules.every((rule) => last.rules.includes(rule)) ? last.rules : [...new Set([...last.rules, ...window.rules])];
      merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, window.end), rules };
    } else merged.push(window);
  }
  return merged;
}
