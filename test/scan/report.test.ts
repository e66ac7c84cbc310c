/** The three report formats: exact text lines, JSON that parses, SARIF 2.1.0 with its required fields. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatJson, formatReport, formatSarif, formatSummary, formatText } from '../../src/scan/report.js';
import type { ScanSummary } from '../../src/scan/scanner.js';
import type { Finding } from '../../src/scan/types.js';

const FINDINGS: Finding[] = [
  {
    path: 'deploy/db secret.yaml',
    line: 7,
    column: 13,
    ruleId: 'k8s-secret-plaintext',
    message: 'plaintext value in stringData.password of Secret default/db',
    masked: 'hu****************ry',
    hint: 'run: wax seal deploy/db secret.yaml',
    fingerprint: 'f'.repeat(64),
  },
  {
    path: 'app/.env',
    line: 2,
    column: 19,
    ruleId: 'credential/aws',
    message: 'AWS secret access key',
    masked: 'wJ****************EY',
    hint: 'move it into an encrypted file',
    fingerprint: 'e'.repeat(64),
  },
];

const SUMMARY: ScanSummary = {
  files: 12,
  scanned: 10,
  skipped: 2,
  binary: 1,
  tooLarge: ['big.log'],
  ignored: 0,
  findings: 2,
  filesWithFindings: 2,
  allowedInline: 0,
  baselined: 0,
};

test('text: one line per finding and an indented hint', () => {
  assert.equal(
    formatText(FINDINGS),
    'deploy/db secret.yaml:7:13: k8s-secret-plaintext: plaintext value in stringData.password of Secret default/db (value: hu****************ry)\n' +
      '  hint: run: wax seal deploy/db secret.yaml\n' +
      'app/.env:2:19: credential/aws: AWS secret access key (value: wJ****************EY)\n' +
      '  hint: move it into an encrypted file\n',
  );
  assert.equal(formatText([]), '');
});

test('summary: counts of findings, files, scanned and skipped', () => {
  assert.equal(formatSummary(SUMMARY), 'wax: scan: 2 findings in 2 files (10 scanned, 2 skipped)\n');
  assert.equal(formatSummary({ ...SUMMARY, findings: 1, filesWithFindings: 1 }), 'wax: scan: 1 finding in 1 file (10 scanned, 2 skipped)\n');
  assert.equal(formatSummary({ ...SUMMARY, findings: 0, filesWithFindings: 0, baselined: 3 }), 'wax: scan: 0 findings in 0 files (10 scanned, 2 skipped, 3 in the baseline)\n');
});

test('json: the findings and the summary', () => {
  const parsed = JSON.parse(formatJson(FINDINGS, SUMMARY)) as { version: number; findings: Finding[]; summary: ScanSummary };
  assert.equal(parsed.version, 1);
  assert.deepEqual(parsed.findings, FINDINGS);
  assert.deepEqual(parsed.summary, SUMMARY);
  assert.equal(formatReport('json', FINDINGS, SUMMARY, '1.2.3'), formatJson(FINDINGS, SUMMARY));
});

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string; shortDescription: { text: string } }[] } };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn: number } } }[];
      partialFingerprints: Record<string, string>;
    }[];
  }[];
}

test('sarif: version 2.1.0, the wax driver with its rules, one located result per finding', () => {
  const log = JSON.parse(formatSarif(FINDINGS, '1.2.3')) as SarifLog;
  assert.equal(log.version, '2.1.0');
  assert.match(log.$schema, /sarif-schema-2\.1\.0\.json$/);
  assert.equal(log.runs.length, 1);
  const [run] = log.runs;
  assert.equal(run.tool.driver.name, 'wax');
  assert.equal(run.tool.driver.version, '1.2.3');
  assert.deepEqual(run.tool.driver.rules.map((r) => r.id), ['credential/aws', 'k8s-secret-plaintext']);
  assert.ok(run.tool.driver.rules.every((r) => r.shortDescription.text.length > 0));
  assert.equal(run.results.length, 2);
  const [first, second] = run.results;
  assert.equal(first.ruleId, 'k8s-secret-plaintext');
  assert.equal(run.tool.driver.rules[first.ruleIndex].id, first.ruleId);
  assert.equal(run.tool.driver.rules[second.ruleIndex].id, second.ruleId);
  assert.equal(first.level, 'error');
  assert.match(first.message.text, /^plaintext value in stringData\.password of Secret default\/db \(value: hu\*+ry\)/);
  assert.deepEqual(first.locations[0].physicalLocation, { artifactLocation: { uri: 'deploy/db%20secret.yaml' }, region: { startLine: 7, startColumn: 13 } });
  assert.deepEqual(first.partialFingerprints, { 'waxFingerprint/v1': 'f'.repeat(64) });
  const empty = JSON.parse(formatReport('sarif', [], SUMMARY, '1.2.3')) as SarifLog;
  assert.deepEqual(empty.runs[0].results, []);
  assert.deepEqual(empty.runs[0].tool.driver.rules, []);
});
