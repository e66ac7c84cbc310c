/**
 * `.sops.yaml` `path_regex` patterns as JavaScript regular expressions, where that is
 * exactly the same test. sops compiles them as Go RE2; wax does too (`re2js`), but a scan
 * asks every creation rule about every file, and loading and running the RE2 engine in
 * JavaScript costs a cold scan of 2,000 files some 40 ms of CPU, while the patterns people
 * write (`^clusters/[^/]+/secrets/.*\.yaml$`, `\.enc\.json$`) mean the same in both.
 *
 * Only a subset is translated, and only into what behaves the same: literals, escaped
 * punctuation, `.`, bracket classes of literals and ranges, `^` and `$` (which in RE2, as
 * in JavaScript without the `m` flag, match only at the ends of the text), groups,
 * alternation, and quantifiers on single atoms. The expression runs with the `u` flag,
 * so that `.` and negated classes take one code point, as RE2 does, and `.` is written
 * `[^\n]` (JavaScript's own `.` also refuses `\r`, U+2028 and U+2029). A quantified
 * group, a `\d`-like escape, flags, or too many unbounded quantifiers (backtracking cost)
 * all send the pattern to RE2. Every pattern translated is valid RE2, so sops accepts it.
 * `test/scan/path-regex.test.ts` compares both engines on generated patterns and paths.
 */

/** Characters that JavaScript's `u` mode lets (and needs) a backslash before, outside classes. */
const SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
/** RE2 refuses repeat counts above 1000 (and programs that grow too large): counted repeats stay small here. */
const MAX_REPEAT = 100;
/**
 * A backtracking engine can take polynomial time of high degree on several unbounded
 * quantifiers; an unanchored search counts as one more (it is tried at every start).
 */
const MAX_UNBOUNDED = 2;

class Untranslatable extends Error {}
const refuse = (): never => {
  throw new Untranslatable();
};

/** A test equivalent to RE2's unanchored search for `pattern`, or undefined when only RE2 will do. */
export function translatePathRegex(pattern: string): ((path: string) => boolean) | undefined {
  let source: string;
  try {
    source = new Translator(pattern).translate();
  } catch (error) {
    if (error instanceof Untranslatable) return undefined;
    throw error;
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, 'u');
  } catch {
    return undefined; // RE2 gives the error message sops users know
  }
  return (path) => regex.test(path);
}

class Translator {
  private at = 0;
  private out = '';
  private unbounded = 0;
  /** Whether the last thing written can take a quantifier: a literal, `.`, or a class. */
  private quantifiable = false;
  private depth = 0;

  constructor(private readonly pattern: string) {}

  translate(): string {
    if (!this.pattern.startsWith('^')) this.unbounded++;
    while (this.at < this.pattern.length) this.step();
    if (this.depth !== 0) refuse();
    return this.out;
  }

  private step(): void {
    const c = this.pattern[this.at]!;
    if (c.charCodeAt(0) > 0x7e || c.charCodeAt(0) < 0x20) refuse();
    switch (c) {
      case '\\':
        return this.escape();
      case '.':
        return this.atom('[^\\n]', 1);
      case '[':
        return this.bracket();
      case '^':
      case '$':
        return this.write(c, 1, false);
      case '(':
        return this.open();
      case ')':
        if (this.depth === 0) refuse();
        this.depth--;
        // A quantified group can backtrack exponentially: leave that to RE2.
        return this.write(')', 1, false);
      case '|':
        return this.write('|', 1, false);
      case '*':
      case '+':
      case '?':
      case '{':
        return this.quantifier();
      case ']':
      case '}':
        return refuse(); // literal in RE2, an error or a literal in JavaScript: not worth telling apart
      default:
        return this.atom(c, 1);
    }
  }

  private write(text: string, consumed: number, quantifiable: boolean): void {
    this.out += text;
    this.at += consumed;
    this.quantifiable = quantifiable;
  }

  private atom(text: string, consumed: number): void {
    this.write(text, consumed, true);
  }

  /** `\.` and the like; `\d`, `\b`, `\pN`, `\Q`… are left to RE2. */
  private escape(): void {
    const next = this.pattern[this.at + 1];
    if (next === undefined || !/^[!-/:-@[-`{-~]$/.test(next)) refuse();
    this.atom(SYNTAX.has(next!) ? `\\${next}` : next!, 2);
  }

  /** `(` or `(?:`; flags and named groups are left to RE2. */
  private open(): void {
    this.depth++;
    if (this.pattern[this.at + 1] !== '?') return this.write('(', 1, false);
    if (this.pattern[this.at + 2] !== ':') refuse();
    this.write('(?:', 3, false);
  }

  private quantifier(): void {
    if (!this.quantifiable) refuse(); // nothing to repeat, a repeated repeat, or a group
    const m = /^(?:[*+?]|\{(\d+)(,(\d*))?\})\??/.exec(this.pattern.slice(this.at));
    if (!m) refuse();
    const [text, min, comma, max] = m!;
    if (min !== undefined && (Number(min) > MAX_REPEAT || (max !== undefined && max !== '' && (Number(max) > MAX_REPEAT || Number(max) < Number(min))))) refuse();
    const unbounded = text[0] === '*' || text[0] === '+' || (comma !== undefined && max === '');
    if (unbounded && ++this.unbounded > MAX_UNBOUNDED) refuse();
    this.write(text, text.length, false);
  }

  /** `[a-z_./-]`, `[^/]`: literals, escaped punctuation and ranges of them. */
  private bracket(): void {
    let i = this.at + 1;
    let out = '[';
    if (this.pattern[i] === '^') {
      out += '^';
      i++;
    }
    // RE2 reads a `]` right after `[` or `[^` as a literal, JavaScript as the end.
    if (this.pattern[i] === ']') refuse();
    let previous: string | undefined;
    for (;;) {
      const c = this.pattern[i];
      if (c === undefined || c === '[') refuse(); // unterminated, or `[[:alpha:]]`
      if (c === ']') break;
      let literal: string;
      if (c === '\\') {
        const next = this.pattern[i + 1];
        if (next === undefined || !/^[!-/:-@[-`{-~]$/.test(next)) refuse();
        literal = next!;
        i += 2;
      } else if (c === '-' && previous !== undefined && this.pattern[i + 1] !== ']') {
        const end = this.pattern[i + 1]!;
        if (end === '\\' || end === '[' || end < previous) refuse();
        out += `-${classLiteral(end)}`;
        previous = undefined;
        i += 2;
        continue;
      } else {
        literal = c!;
        i++;
      }
      if (literal.charCodeAt(0) > 0x7e || literal.charCodeAt(0) < 0x20) refuse();
      out += classLiteral(literal);
      previous = literal;
    }
    this.atom(`${out}]`, i + 1 - this.at);
  }
}

function classLiteral(c: string): string {
  return c === '\\' || c === ']' || c === '[' || c === '^' || c === '-' ? `\\${c}` : c;
}
