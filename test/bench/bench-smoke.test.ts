// Only the benchmark's input generator is tested here: timings depend on the machine and
// are never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocument, visit } from 'yaml';
import { generateValuesYaml } from '../../bench/generate.js';

test('bench generator: 10,000 values, the same bytes every time', () => {
  const first = generateValuesYaml({ values: 10_000, seed: 1 });
  assert.equal(first.text, generateValuesYaml({ values: 10_000, seed: 1 }).text);
  assert.notEqual(first.text, generateValuesYaml({ values: 10_000, seed: 2 }).text);

  const doc = parseDocument(first.text);
  assert.deepEqual(doc.errors, []);
  let values = 0;
  visit(doc, {
    Scalar(key) {
      if (key !== 'key') values++;
    },
  });
  assert.equal(values, 10_000);
  assert.equal(first.values, 10_000);
  // "About 1 MB", so that the big-file figures stay comparable between runs and machines.
  assert.ok(first.text.length > 800_000 && first.text.length < 1_300_000, `size ${first.text.length}`);
});
