/**
 * The WebAssembly byte search of the scan's prefilter (`src/scan/anchor-search.ts`): it
 * must report exactly the occurrences a plain search finds, wherever they lie (block
 * edges, the last bytes, next to non-ASCII bytes), for any set of literals; give up
 * cleanly on texts too dense with fingerprints; and leave the prefilter's plan unchanged.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { LiteralSearch } from '../../src/scan/anchor-search.js';
import { mayHaveAnchors, PRESET_ANCHORS, planScan, type ScanPlan } from '../../src/scan/prefilter.js';
import { label, params } from '../property/settings.js';

/** Every (literal, offset), sorted, found by indexOf: the reference. */
function plainSearch(literals: readonly string[], bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes).toString('latin1');
  const found: string[] = [];
  literals.forEach((literal, index) => {
    for (let at = text.indexOf(literal); at >= 0; at = text.indexOf(literal, at + 1)) found.push(`${index}@${at}`);
  });
  return found.sort();
}

function byteSearch(search: LiteralSearch, bytes: Uint8Array): string[] {
  const found: string[] = [];
  assert.equal(
    search.find(bytes, (literal, offset) => found.push(`${literal}@${offset}`)),
    true,
  );
  return found.sort();
}

function create(literals: readonly string[]): LiteralSearch {
  const search = LiteralSearch.create(literals);
  assert.ok(search, 'the WebAssembly kernel runs on this machine (Node 20, x86-64 or arm64)');
  return search;
}

/** A plan with its rule lists sorted: the two searches meet the anchors in another order. */
function normalised(plan: ScanPlan): unknown {
  const sorted = (rules?: readonly string[]) => (rules ? [...rules].sort() : rules);
  if (plan.mode === 'skip') return plan;
  if (plan.mode === 'whole') return { ...plan, rules: sorted(plan.rules) };
  return { ...plan, windows: plan.windows.map((w) => ({ ...w, rules: sorted(w.rules) })), wholeFileRules: sorted(plan.wholeFileRules) };
}

const PRESET_LITERALS = [
  ...new Set(Object.values(PRESET_ANCHORS).flatMap((entry) => entry.anchors.flatMap((a) => (a.literal !== undefined ? [a.literal] : (a.pattern?.probes ?? []))))),
];

test('each literal of the preset, at every offset of a short text and at its very end, is found once', () => {
  const search = create(PRESET_LITERALS);
  for (const [index, literal] of PRESET_LITERALS.entries()) {
    for (let before = 0; before <= 40; before++) {
      for (const after of [0, 1, 2, 17]) {
        const bytes = Buffer.from(`${'.'.repeat(before)}${literal}${'.'.repeat(after)}`, 'latin1');
        assert.deepEqual(byteSearch(search, bytes), [`${index}@${before}`], `${literal} after ${before} bytes, ${after} before the end`);
      }
    }
  }
});

test('an empty text and a text shorter than a fingerprint hold nothing', () => {
  const search = create(['AKIA', 'hf_', '\\u']);
  for (const text of ['', 'A', 'AK', 'hf', '\\']) assert.deepEqual(byteSearch(search, Buffer.from(text)), [], JSON.stringify(text));
});

test('bytes over 127 never hide a literal next to them, nor make one up', () => {
  const search = create(PRESET_LITERALS);
  const high = [0x80, 0xc3, 0xa9, 0xff, 0xe2];
  for (const literal of PRESET_LITERALS) {
    for (const byte of high) {
      const around = Buffer.concat([Buffer.from([byte, byte]), Buffer.from(literal, 'latin1'), Buffer.from([byte])]);
      assert.deepEqual(byteSearch(search, around), plainSearch(PRESET_LITERALS, around), `${literal} between 0x${byte.toString(16)} bytes`);
      // The literal with one byte turned high (7 bits the same): no longer the literal.
      const folded = Buffer.from(literal, 'latin1');
      folded[folded.length - 1]! |= 0x80;
      assert.deepEqual(byteSearch(search, folded), plainSearch(PRESET_LITERALS, folded), `${literal} with its last byte | 0x80`);
    }
  }
});

test(label('any literals in any bytes: the byte search finds what indexOf finds', 300), () => {
  const literal = fc.string({ unit: fc.constantFrom(...'aAbB_-.:/\\xyz019'), minLength: 2, maxLength: 9 });
  const piece = (literals: string[]) =>
    fc.oneof(
      fc.constantFrom(...literals),
      fc.string({ unit: fc.constantFrom(...'aAbB_-.:/\\xyz019 \n'), maxLength: 12 }),
      fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    );
  const scenario = fc.uniqueArray(literal, { minLength: 1, maxLength: 40 }).chain((literals) =>
    fc.tuple(fc.constant(literals), fc.array(piece(literals), { maxLength: 60 }).map((parts) => Buffer.from(parts.join(''), 'latin1'))),
  );
  fc.assert(
    fc.property(scenario, ([literals, bytes]) => {
      const search = LiteralSearch.create(literals)!;
      const found: string[] = [];
      // Too dense a text gives up: then nothing may have been reported.
      if (!search.find(bytes, (index, offset) => found.push(`${index}@${offset}`))) return found.length === 0;
      assert.deepEqual(found.sort(), plainSearch(literals, bytes));
      return true;
    }),
    params(300),
  );
});

test('a text with a fingerprint at more than one byte in eight is given up, with nothing reported', () => {
  const search = create(['AKIA']);
  let reported = 0;
  assert.equal(
    search.find(Buffer.from('AKIA'.repeat(10_000)), () => reported++),
    false,
  );
  assert.equal(reported, 0);
  // planScan then searches in JavaScript: the same plan as without the bytes.
  const text = `AKIA${'AKIAAKIAAKIAAKIA'.repeat(4000)}\n`;
  assert.deepEqual(normalised(planScan(text, 'ids.txt', undefined, Buffer.from(text))), normalised(planScan(text, 'ids.txt')));
});

test('literals that are not ASCII of two characters or more are refused', () => {
  for (const literal of ['a', '', 'é_', 'a\0b']) assert.throws(() => LiteralSearch.create([literal]), TypeError, JSON.stringify(literal));
});

test('without WebAssembly (node --jitless) the search is unavailable and the prefilter plans in JavaScript', () => {
  const moduleUrl = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    const { LiteralSearch } = await import(${moduleUrl('../../src/scan/anchor-search.js')});
    const { planScan } = await import(${moduleUrl('../../src/scan/prefilter.js')});
    const text = 'token: ghp_' + 'a1B2c3D4e5'.repeat(4) + '\\n';
    console.log(JSON.stringify({ search: LiteralSearch.create(['ghp_']) === undefined ? 'none' : 'some', plan: planScan(text, 'a.yaml', undefined, Buffer.from(text)).mode }));`;
  const run = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { search: 'none', plan: 'whole' });
});

test(label("a pattern anchor's byte condition holds wherever its pattern matches", 300), () => {
  const patterns = Object.values(PRESET_ANCHORS).flatMap((entry) => entry.anchors.flatMap((anchor) => (anchor.pattern ? [anchor.pattern] : [])));
  assert.equal(patterns.length, 3, 'the AWS secret and account patterns, the Slack webhook');
  // The patterns' grammar, each part with near misses: a match, or almost one.
  const oneOf = (...options: string[]) => fc.constantFrom(...options);
  const blanks = oneOf('', ' ', '\t', '\n  ', '\r\n');
  const quote = oneOf('', '"', "'");
  const value = fc.oneof(
    fc.string({ unit: oneOf(...'AbZz09/+='), minLength: 36, maxLength: 44 }),
    fc.tuple(fc.stringMatching(/^[0-9]{3,5}$/), oneOf('', '-', '--'), fc.stringMatching(/^[0-9]{4}$/), oneOf('', '-'), fc.stringMatching(/^[0-9]{3,4}$/)).map((p) => p.join('')),
  );
  const aws = fc
    .tuple(oneOf('', 'SECRET', 'secret_', 'Secret', 'AWS_'), oneOf('ACCESS', 'access', 'Access', 'ACCOUNT', 'account', 'Account', 'ACCESs'), oneOf('', '_', '__'))
    .chain((head) => fc.tuple(fc.constant(head.join('')), oneOf('', 'KEY', 'key', 'Key', 'ID', 'id', 'Id', 'Name', 'kEY'), quote, blanks, oneOf(':', '=', '=>', '-', ''), blanks, quote, value));
  const slack = fc.tuple(oneOf('https', 'HTTPS', 'http'), oneOf('://'), oneOf('hooks.slack.com', 'HOOKS.Slack.COM', 'hooks.slack.co', 'hooks-slack.com'), oneOf('/services/T0', ''));
  const piece = fc.oneof(aws.map((p) => p.join('')), slack.map((p) => p.join('')), oneOf(' ', '\n', 'x'));
  const matched = new Set<string>();
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 4 }), (pieces) => {
      const text = pieces.join('');
      const bytes = Buffer.from(text, 'latin1');
      for (const pattern of patterns) {
        const regex = new RegExp(pattern.source, pattern.ignoreCase ? 'iy' : 'y');
        for (const probe of pattern.probes) {
          for (let at = text.indexOf(probe); at >= 0; at = text.indexOf(probe, at + 1)) {
            regex.lastIndex = at - pattern.probeAt;
            if (at < pattern.probeAt || !regex.test(text)) continue;
            matched.add(pattern.source);
            assert.ok(pattern.followedBy(bytes, at + probe.length), `${pattern.source} matches ${JSON.stringify(text)} at ${at - pattern.probeAt}`);
          }
        }
      }
      return true;
    }),
    params(300),
  );
  assert.equal(matched.size, patterns.length, 'the generator makes each pattern match somewhere');
});

test(label('told from the bytes alone, an ASCII text has no anchor only where planScan skips it', 300), () => {
  // Near and full matches of what the byte checks decide: URLs with and without
  // user:password@, tokens after letters and not, the AWS and Slack patterns' tails.
  const url = fc
    .tuple(fc.constantFrom('https://', 'postgres://', 'x://', '://'), fc.constantFrom('', 'user', 'u s'), fc.constantFrom('', ':', '/'), fc.constantFrom('', 'p4ss', 'p/ss', 'p ss'), fc.constantFrom('', '@'), fc.constantFrom('host', ''))
    .map((parts) => parts.join(''));
  const word = fc.constantFrom(
    ...['https://', 'postgres://', '://', 'user', ':', 'p4ss', '@', '/', ' ', '\t', '\n', 'host.example', 'x'],
    ...['ghp_', 'AKIA', 'xoxb-', 'zAKIA', 'aws_account_id', '_ID', 'ccount', 'serviceAccount', ' = ', '"', '1234', '-', '5678', '9012'],
    ...['secret_access_key', 'SECRET_ACCESS_KEY=', 'Zx9vQ2mB7kL4pR8tY1wE5uI3oP6aS0dF2gH7jK9l', 'hooks.slack.com', 'HOOKS.SLACK.COM', '-----BEGIN'],
  );
  const piece = fc.oneof(word, url);
  let skipped = 0;
  let planned = 0;
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.constantFrom('a.txt', 'config.json', '.npmrc'), (pieces, path) => {
      const text = pieces.join('');
      const plan = planScan(text, path);
      const may = mayHaveAnchors(Buffer.from(text, 'latin1'), path);
      if (plan.mode === 'skip') skipped++;
      else planned++;
      assert.ok(may || plan.mode === 'skip', `${JSON.stringify(text)} in ${path}: planScan plans ${plan.mode}, mayHaveAnchors says no`);
      return true;
    }),
    params(300),
  );
  assert.ok(skipped > 0 && planned > 0, `both kinds of text are generated (${skipped} skipped, ${planned} planned)`);
});
