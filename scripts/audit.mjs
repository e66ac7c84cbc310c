// `npm audit` at the high level, with two differences that keep it honest in CI:
// an advisory accepted in audit/exceptions.json (with the reason it does not affect wax)
// does not fail the run, and a registry that cannot answer is reported as "not checked"
// rather than as clean or as a failure of wax.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LEVELS = ['info', 'low', 'moderate', 'high', 'critical'];
const threshold = LEVELS.indexOf(process.env.WAX_AUDIT_LEVEL ?? 'high');

const run = spawnSync('npm', ['audit', '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  report = undefined;
}
if (!report || report.error || !report.vulnerabilities) {
  const why = report?.error?.summary || report?.message || 'no answer';
  console.log(`audit: not checked: the advisory endpoint did not answer (${String(why).trim()})`);
  process.exit(process.env.WAX_AUDIT_REQUIRED === '1' ? 1 : 0);
}

const exceptions = JSON.parse(readFileSync(new URL('../audit/exceptions.json', import.meta.url), 'utf8'));
const accepted = new Map(exceptions.advisories.map((a) => [a.package, a.reason]));
const failing = [];
for (const [name, vuln] of Object.entries(report.vulnerabilities)) {
  if (LEVELS.indexOf(vuln.severity) < threshold) continue;
  if (accepted.has(name)) {
    console.log(`audit: ${name} (${vuln.severity}) accepted: ${accepted.get(name)}`);
    continue;
  }
  failing.push(`${name} (${vuln.severity})`);
}
const counts = report.metadata?.vulnerabilities ?? {};
console.log(`audit: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
if (failing.length > 0) {
  console.log(`audit: at or above ${LEVELS[threshold]}, not accepted: ${failing.join(', ')}`);
  console.log('audit: hint: update the dependency, or explain in audit/exceptions.json why wax is not affected');
  process.exit(1);
}
console.log(`audit: nothing at or above ${LEVELS[threshold]} left unexplained`);
