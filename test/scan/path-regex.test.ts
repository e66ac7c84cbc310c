/**
 * `path_regex` patterns translated to JavaScript answer exactly as RE2 (re2js, the engine
 * wax uses elsewhere) answers, on generated patterns and paths; what is not translated
 * is left to RE2, invalid patterns included, so sops and wax still refuse the same ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { translatePathRegex } from '../../src/scan/path-regex.js';

function re2(pattern: string): ((path: string) => boolean) | undefined {
  try {
    const re = RE2JS.compile(pattern);
    return (path) => re.matcher(path).find();
  } catch {
    return undefined;
  }
}

const PATHS = [
  'clusters/prod/secrets/db.yaml',
  'clusters/prod/secrets/db.yml',
  'clusters/prod/apps/web.yaml',
  'clusters//secrets/x.yaml',
  'config/secrets/app.enc.json',
  'config/secrets/app.json',
  'secrets.enc.yaml',
  'a/b/c.sops.yaml',
  '.sops.yaml',
  'dir with space/ümlaut-😀.env',
  'line\nbreak/secrets/x.yaml',
  'cr\r/secrets/x.yaml',
  'sep\u2028/secrets/x.yaml',
  '',
  'a-b_c.d/e+f',
  '[brackets]/x{1}/y',
];

test('common path_regex patterns are translated, and answer as RE2', () => {
  const common = [
    String.raw`^clusters/[^/]+/secrets/.*\.yaml$`,
    String.raw`^config/secrets/.*\.(yaml|json|env)$`,
    String.raw`\.enc\.(ya?ml|json)$`,
    String.raw`.*\.sops\.yaml$`,
    String.raw`secrets/`,
    String.raw`^(dev|prod)/.*$`,
    String.raw`(?:^|/)\.env$`,
    String.raw`^[a-z0-9_-]+/x\{1\}/`,
    '',
  ];
  for (const pattern of common) {
    const fast = translatePathRegex(pattern);
    const slow = re2(pattern);
    assert.ok(fast, `not translated: ${pattern}`);
    assert.ok(slow, `not RE2: ${pattern}`);
    for (const path of PATHS) assert.equal(fast(path), slow(path), `${pattern} on ${JSON.stringify(path)}`);
  }
});

test('what JavaScript would run differently, slowly or not at all is left to RE2', () => {
  const refused = [
    String.raw`(?i)secrets`, // flags
    String.raw`\d+\.yaml$`, // class escapes
    String.raw`(a+)+$`, // quantified group
    String.raw`[]a]`, // RE2 reads ] as a literal here
    String.raw`[[:alpha:]]`, // POSIX class
    String.raw`a**`, // invalid in RE2
    String.raw`a{2,1}`, // invalid in RE2
    String.raw`a{1001}`, // too large for RE2
    String.raw`.*a.*b.*c`, // backtracking cost
    String.raw`(?P<name>x)`, // named group
    String.raw`\Qa.b\E`, // quoting
    'é', // non-ASCII
    String.raw`(unclosed`,
    String.raw`x{,3}`, // a literal in RE2
  ];
  for (const pattern of refused) assert.equal(translatePathRegex(pattern), undefined, pattern);
});

/** Patterns from the translated subset and a little beyond it. */
const atom = fc.oneof(
  fc.constantFrom('a', 'b', 'secrets', '/', '-', '_', ' ', 'x', 'y', 'ü'),
  fc.constantFrom(String.raw`\.`, String.raw`\-`, String.raw`\/`, String.raw`\+`, String.raw`\[`, String.raw`\]`, String.raw`\\`, String.raw`\d`, String.raw`\n`),
  fc.constantFrom('.', '[^/]', '[a-z]', '[a-c-e]', '[-a]', '[a-]', String.raw`[\]a]`, '[^a-z0-9]', '[z-a]', '[]a]', '[^]'),
);
const quantifier = fc.constantFrom('', '', '', '*', '+', '?', '*?', '{2}', '{1,3}', '{2,}', '**', '{,2}');
const piece = fc.tuple(atom, quantifier).map(([a, q]) => a + q);
const branch = fc.array(fc.oneof({ weight: 4, arbitrary: piece }, { weight: 1, arbitrary: fc.array(piece, { maxLength: 3 }).map((p) => `(${p.join('')})`) }), { maxLength: 5 }).map((p) => p.join(''));
const pattern = fc
  .tuple(fc.boolean(), fc.array(branch, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([start, branches, end]) => `${start ? '^' : ''}${branches.join('|')}${end ? '$' : ''}`);
const path = fc.oneof(fc.constantFrom(...PATHS), fc.array(fc.constantFrom('a', 'b', '/', '.', '-', 'x', 'secrets', '\n', 'ü', ' ', '😀', ']'), { maxLength: 12 }).map((parts) => parts.join('')));

test('translated patterns answer as RE2 on generated patterns and paths (property)', () => {
  let translated = 0;
  fc.assert(
    fc.property(pattern, fc.array(path, { minLength: 1, maxLength: 8 }), (source, paths) => {
      const fast = translatePathRegex(source);
      if (!fast) return;
      translated++;
      const slow = re2(source);
      assert.ok(slow, `translated, but RE2 refuses ${JSON.stringify(source)}`);
      for (const p of paths) assert.equal(fast(p), slow(p), `${JSON.stringify(source)} on ${JSON.stringify(p)}`);
    }),
    { numRuns: 3000, seed: 20251122 },
  );
  assert.ok(translated > 500, `only ${translated} patterns were translated`);
});
