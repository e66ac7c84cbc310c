/**
 * The six selection rules that decide which values are encrypted (sops-format.md §4),
 * with sops' semantics: every component of the key path is tested, regexes are RE2 with
 * unanchored search. re2js is RE2 itself, so `(?i)` and friends mean what they mean to
 * sops, and what RE2 rejects (look-around, back-references) is rejected here too.
 */
import { ConflictingParametersError, RegexError } from '../errors.js';

export const RULE_KINDS = [
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'unencrypted_comment_regex',
  'encrypted_comment_regex',
] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export interface SelectionRule {
  kind: RuleKind;
  value: string;
}

/** The rule sops assumes when a file names none. */
export const DEFAULT_RULE: SelectionRule = { kind: 'unencrypted_suffix', value: '_unencrypted' };

export interface Selector {
  readonly rule: SelectionRule;
  /** `path` is the mapping keys down to the value; `comments` the active comment stack. */
  shouldEncrypt(path: readonly string[], comments: readonly string[][], isComment: boolean): boolean;
  /** Tests one comment string against the unencrypted comment regex, if that is the rule. */
  matchesUnencryptedComment(text: string): boolean;
}

/** Picks the single rule among candidates, or fails as sops does when there are several. */
export function pickRule(candidates: Partial<Record<RuleKind, string | undefined>>): SelectionRule | undefined {
  const set = RULE_KINDS.filter((kind) => candidates[kind] !== undefined && candidates[kind] !== '');
  if (set.length > 1) {
    throw new ConflictingParametersError(
      `cannot use more than one of ${RULE_KINDS.join(', ')} in the same file (got ${set.join(' and ')})`,
      'keep a single selection rule on the command line or in the creation rule',
    );
  }
  return set.length === 1 ? { kind: set[0], value: candidates[set[0]]! } : undefined;
}

type Matcher = (text: string) => boolean;

const compiled = new Map<string, Matcher>();
/** Patterns come from configs and files; bounded so that a long-running process cannot grow. */
const COMPILED_LIMIT = 256;

/**
 * `^(data|stringData)$`, the encrypted_regex of nearly every Kubernetes setup, and its
 * kin: an anchored alternation of plain words. RE2's `^` and `$` (without the `m` flag)
 * match only at the ends of the text, so the pattern matches exactly these words, and a
 * set answers the same without loading the RE2 engine (10-15 ms of a cold start).
 */
const WORD_ALTERNATION = /^\^(?:\((?:\?:)?([\w-]+(?:\|[\w-]+)*)\)|([\w-]+))\$$/;

function wordAlternation(pattern: string): Matcher | undefined {
  const words = WORD_ALTERNATION.exec(pattern);
  if (!words) return undefined;
  const set = new Set((words[1] ?? words[2]).split('|'));
  return (text) => set.has(text);
}

/** Compiles an RE2 pattern for unanchored search; loads re2js only when a regex is used. */
export async function compileRe2(pattern: string, what: string): Promise<Matcher> {
  // A bulk run opens every file with the same few patterns (rules, path_regex): compile once.
  const known = compiled.get(pattern);
  if (known) return known;
  const matcher = wordAlternation(pattern) ?? (await compileWithRe2js(pattern, what));
  if (compiled.size >= COMPILED_LIMIT) compiled.delete(compiled.keys().next().value!);
  compiled.set(pattern, matcher);
  return matcher;
}

async function compileWithRe2js(pattern: string, what: string): Promise<Matcher> {
  const { RE2JS } = await import('re2js');
  try {
    const re = RE2JS.compile(pattern);
    return (text: string) => re.matcher(text).find();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RegexError(`${what} ${JSON.stringify(pattern)} is not a valid RE2 expression: ${reason}`, 'sops uses Go RE2 syntax: no look-around or back-references');
  }
}

export async function compileSelector(rule: SelectionRule = DEFAULT_RULE): Promise<Selector> {
  const isRegex = rule.kind.endsWith('_regex');
  const matches: Matcher = isRegex ? await compileRe2(rule.value, rule.kind) : (key) => key.endsWith(rule.value);
  const anyComponent = (path: readonly string[]) => path.some(matches);
  const anyComment = (stack: readonly string[][], skipLast: boolean) => {
    for (let i = 0; i < stack.length; i++) {
      for (let j = 0; j < stack[i].length; j++) {
        // The comment line that matches is itself left clear; only what follows it is selected.
        if (skipLast && i === stack.length - 1 && j === stack[i].length - 1) continue;
        if (matches(stack[i][j])) return true;
      }
    }
    return false;
  };
  const shouldEncrypt = (path: readonly string[], comments: readonly string[][], isComment: boolean): boolean => {
    switch (rule.kind) {
      case 'unencrypted_suffix':
      case 'unencrypted_regex':
        return !anyComponent(path);
      case 'encrypted_suffix':
      case 'encrypted_regex':
        return anyComponent(path);
      case 'unencrypted_comment_regex':
        return !anyComment(comments, false);
      case 'encrypted_comment_regex':
        return anyComment(comments, isComment);
    }
  };
  return {
    rule,
    shouldEncrypt,
    matchesUnencryptedComment: (text) => rule.kind === 'unencrypted_comment_regex' && matches(text),
  };
}
