/**
 * Findings as people and tools read them: text for a terminal or a hook, JSON for scripts,
 * SARIF 2.1.0 for code-scanning services. Every format is built from `Finding`s, which
 * hold masked values and fingerprints only, so no report can print a secret.
 */
import type { ScanSummary } from './scanner.js';
import type { Finding } from './types.js';

export const REPORT_FORMATS = ['text', 'json', 'sarif'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const REPORT_VERSION = 1;

/** `path:line:col: rule: message (value: ab****yz)` and the hint on the next line, per finding. */
export function formatText(findings: readonly Finding[]): string {
  return findings
    .map((f) => `${f.path}:${f.line}:${f.column}: ${f.ruleId}: ${f.message} (value: ${f.masked})\n  hint: ${f.hint}\n`)
    .join('');
}

/** The line for stderr, whatever the format: `wax: scan: 2 findings in 1 file (40 scanned, 3 skipped)`. */
export function formatSummary(summary: ScanSummary): string {
  const findings = `${summary.findings} ${summary.findings === 1 ? 'finding' : 'findings'}`;
  const files = `${summary.filesWithFindings} ${summary.filesWithFindings === 1 ? 'file' : 'files'}`;
  const accepted = summary.baselined > 0 ? `, ${summary.baselined} in the baseline` : '';
  return `wax: scan: ${findings} in ${files} (${summary.scanned} scanned, ${summary.skipped} skipped${accepted})\n`;
}

export function formatJson(findings: readonly Finding[], summary: ScanSummary): string {
  return `${JSON.stringify({ version: REPORT_VERSION, findings, summary }, null, 2)}\n`;
}

const SARIF_SCHEMA = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

/** What each family of rules is about, for the SARIF rule list. */
function describeRule(ruleId: string): string {
  if (ruleId === 'k8s-secret-plaintext') return 'Kubernetes Secret with a plaintext value';
  if (ruleId === 'encryptedsecret-plaintext') return 'EncryptedSecret with a plaintext value';
  if (ruleId === 'sops-unencrypted') return 'file covered by a .sops.yaml creation rule is not encrypted';
  if (ruleId === 'sops-plaintext-value') return 'plaintext value in a sops-encrypted file';
  if (ruleId === 'decrypted-twin') return 'plaintext copy of an encrypted file';
  if (ruleId === 'high-entropy') return 'high-entropy string that may be a secret';
  if (ruleId.startsWith('credential/')) return `credential (${ruleId.slice('credential/'.length)})`;
  return ruleId;
}

/** A relative path as a URI reference: each segment percent-encoded, the slashes kept. */
function toUri(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** SARIF 2.1.0: one run, the rules that fired, one result per finding with our fingerprint. */
export function formatSarif(findings: readonly Finding[], version: string): string {
  const ruleIds = [...new Set(findings.map((f) => f.ruleId))].sort();
  const ruleIndex = new Map(ruleIds.map((id, index) => [id, index]));
  const sarif = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'wax',
            version,
            rules: ruleIds.map((id) => ({
              id,
              shortDescription: { text: describeRule(id) },
              help: { text: 'encrypt the value (wax encrypt -i FILE, or wax seal for a Secret), or accept it: a wax:allow comment, .waxignore, or a baseline' },
              defaultConfiguration: { level: 'error' },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.ruleId,
          ruleIndex: ruleIndex.get(f.ruleId),
          level: 'error',
          message: { text: `${f.message} (value: ${f.masked}); ${f.hint}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: toUri(f.path) }, region: { startLine: f.line, startColumn: f.column } } }],
          partialFingerprints: { 'waxFingerprint/v1': f.fingerprint },
        })),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

/** The report for stdout in the chosen format. */
export function formatReport(format: ReportFormat, findings: readonly Finding[], summary: ScanSummary, version: string): string {
  if (format === 'json') return formatJson(findings, summary);
  if (format === 'sarif') return formatSarif(findings, version);
  return formatText(findings);
}
