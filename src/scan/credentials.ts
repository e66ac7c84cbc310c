/**
 * Credentials in any text file (cloud keys, private keys, tokens, connection strings with
 * passwords), found by secretlint's maintained recommended preset rather than by patterns
 * of our own, with the AWS rule's access key id and account id checks switched on.
 *
 * secretlint's own `message` quotes the secret, so it is never used: a finding is built
 * from the rule id, the message id (turned into words here) and the reported range, and
 * the value is cut from the scanned text. secretlint is imported on first use, because a
 * scan whose files hold no anchor of the fast path (`prefilter.ts`) never needs it.
 */
import { isAscii } from 'node:buffer';
import { extname } from 'node:path';
import { mayHaveAnchors, planScan, type ScanPlan } from './prefilter.js';
import { TextIndex } from './text-index.js';
import { privateKeyBlocks } from './private-keys.js';
import { isInside, sopsRegions, type TextRange } from './sops-regions.js';
import type { Detector, RawFinding } from './types.js';

type SecretlintCore = typeof import('@secretlint/core');
type LintMessage = Awaited<ReturnType<SecretlintCore['lintSource']>>['messages'][number];

const PRESET_ID = '@secretlint/secretlint-rule-preset-recommend';
const AWS_RULE_ID = '@secretlint/secretlint-rule-aws';
const RULE_PREFIX = '@secretlint/secretlint-rule-';

export const CREDENTIAL_HINT = 'move it into an encrypted file (wax encrypt -i FILE) or a secret store; rotate it if it was ever committed';

/** One match of a preset rule, located at its value in the scanned text. */
export interface CredentialHit {
  /** The preset rule's id, e.g. `@secretlint/secretlint-rule-aws`. */
  readonly rule: string;
  readonly messageId: string;
  /** `[start, end)` of the secret value in the text. */
  readonly start: number;
  readonly end: number;
}

export const credentialDetector: Detector = {
  id: 'credential',
  // An ASCII file without an anchor that can open a window is never linted (see planScan).
  mayFind: (target) => !isAscii(target.content) || mayHaveAnchors(target.content, target.path),
  detect(target, text) {
    const body = withoutByteOrderMark(text);
    // Planning, the private-key check and the findings' positions share one index of lines and markers.
    const index = new TextIndex(body);
    // ASCII bytes are the text's own, offset for index: the byte search can read them.
    const plan = planScan(body, target.path, index, isAscii(target.content) ? target.content : undefined);
    // No anchor, no possible match: answer at once, without loading secretlint. A private
    // key's `-----BEGIN` is an anchor, so no key block is skipped here either.
    if (plan.mode === 'skip') return [];
    return runPlan(body, target.path, plan).then((hits) => toFindings(body, index, withKeysThePresetMisses(body, index, hits)));
  },
};

const PRIVATE_KEY_RULE = '@secretlint/secretlint-rule-privatekey';

/**
 * The preset's hits, and the private keys its rule cannot see (`private-keys.ts`),
 * reported under the same rule id so that baselines and `wax:allow` treat every private
 * key alike. A block the preset reported already is not reported twice.
 */
function withKeysThePresetMisses(text: string, index: TextIndex, hits: CredentialHit[]): CredentialHit[] {
  if (!text.includes('PRIVATE KEY')) return hits;
  const reported = new Set(hits.filter((hit) => hit.rule === PRIVATE_KEY_RULE).map((hit) => hit.start));
  const missed = privateKeyBlocks(text, index).filter((block) => !reported.has(block.start));
  return missed.length === 0 ? hits : [...hits, ...missed.map((block) => ({ rule: PRIVATE_KEY_RULE, messageId: 'PrivateKey', ...block }))];
}

/**
 * Every match of the preset in `text`, sorted by position. `fastPath: false` lints the
 * whole text as plain secretlint would; the tests compare the two, and the fast path's
 * two searches (`byteSearch`: the text's bytes, where they are ASCII).
 */
export async function findCredentials(text: string, path: string, options: { fastPath: boolean; byteSearch?: boolean } = { fastPath: true }): Promise<CredentialHit[]> {
  const body = withoutByteOrderMark(text);
  const bytes = options.byteSearch ? Buffer.from(body, 'utf8') : undefined;
  const plan: ScanPlan = options.fastPath ? planScan(body, path, undefined, bytes !== undefined && isAscii(bytes) ? bytes : undefined) : { mode: 'whole' };
  return plan.mode === 'skip' ? [] : runPlan(body, path, plan);
}

async function runPlan(text: string, path: string, plan: Exclude<ScanPlan, { mode: 'skip' }>): Promise<CredentialHit[]> {
  const whole = (rules: readonly string[] | undefined) => ({ start: 0, end: text.length, rules });
  const windows: readonly (TextRange & { rules?: readonly string[] })[] =
    plan.mode === 'whole' ? [whole(plan.rules)] : plan.wholeFileRules ? [...plan.windows, whole(plan.wholeFileRules)] : plan.windows;
  const hits: CredentialHit[] = [];
  for (const window of windows) hits.push(...(await lintWindow(text, path, window, window.rules)));
  return hits.sort((a, b) => a.start - b.start || a.end - b.end || compareCodeUnits(a.rule, b.rule) || compareCodeUnits(a.messageId, b.messageId));
}

/** A stable order for ids; not `localeCompare`, whose first call loads ICU's collator (~7 ms of a cold scan). */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Lints one part of the text with `rules` of the preset (every rule when undefined). */
async function lintWindow(text: string, path: string, window: TextRange, rules: readonly string[] | undefined): Promise<CredentialHit[]> {
  const content = window.start === 0 && window.end === text.length ? text : text.slice(window.start, window.end);
  const messages = await (await secretlint()).lint(content, path, rules);
  // secretlint drops a leading byte order mark and counts its ranges without it.
  const offset = window.start + (content.charCodeAt(0) === 0xfeff ? 1 : 0);
  return messages.map((message) => locateValue(text, message, offset));
}

function toFindings(text: string, index: TextIndex, hits: readonly CredentialHit[]): RawFinding[] {
  if (hits.length === 0) return [];
  const regions = sopsRegions(text);
  return hits.filter((hit) => !isInside(regions, hit.start)).map((hit) => toFinding(text, index, hit));
}

function toFinding(text: string, index: TextIndex, hit: CredentialHit): RawFinding {
  const { line, column } = index.position(hit.start);
  return {
    ruleId: `credential/${shortRuleName(hit.rule)}`,
    line,
    column,
    value: text.slice(hit.start, hit.end),
    message: `plaintext ${describeMessage(hit.messageId)}`,
    hint: CREDENTIAL_HINT,
  };
}

/** `@secretlint/secretlint-rule-database-connection-string` → `database-connection-string`. */
export function shortRuleName(ruleId: string): string {
  return ruleId.startsWith(RULE_PREFIX) ? ruleId.slice(RULE_PREFIX.length) : ruleId.replace(/^@[^/]+\//, '');
}

/**
 * Where the secret itself lies. Most rules report the range of their match, which is
 * the secret; a few (the AWS secret access key, npm's `_authToken=`, a token in a git
 * URL) report a range that starts at the key name, with the secret in the message data,
 * so the value is looked up from there. Data is read for its position only.
 */
function locateValue(text: string, message: LintMessage, offset: number): CredentialHit {
  const reported = { start: message.range[0] + offset, end: message.range[1] + offset };
  return { rule: message.ruleId, messageId: message.messageId, ...withoutTrailingSpace(text, valueSpan(text, message, reported)) };
}

/**
 * npm's `_authToken=(.*)` takes the `\r` of a CRLF line with it; the fingerprint of a
 * baselined value must not change with the checkout's line endings.
 */
function withoutTrailingSpace(text: string, span: TextRange): TextRange {
  let end = span.end;
  while (end > span.start + 1 && /\s/.test(text[end - 1]!)) end--;
  return { start: span.start, end };
}

function valueSpan(text: string, message: LintMessage, reported: TextRange): TextRange {
  switch (message.messageId) {
    case 'PrivateKeyJSON':
      return jsonPrivateKeySpan(text) ?? reported;
    case 'AWSAccountID':
      return trailingAccountId(text, reported) ?? reported;
  }
  const value = reportedValue(message.data);
  const at = value === undefined ? -1 : text.indexOf(value, reported.start);
  return at >= 0 ? { start: at, end: at + value!.length } : reported;
}

// The data keys the preset's messages fill with the secret (others name a file or a type).
const VALUE_DATA_KEYS = ['KEY', 'TOKEN', 'ID', 'URI', 'URL', 'CREDENTIAL'];

function reportedValue(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  const key = VALUE_DATA_KEYS.find((name) => typeof record[name] === 'string' && record[name] !== '');
  return key ? (record[key] as string) : undefined;
}

/** A GCP service-account key file is reported as a whole; point at its `private_key`. */
function jsonPrivateKeySpan(text: string): TextRange | undefined {
  const m = /"private_key"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
  if (!m) return undefined;
  const start = m.index + m[0].length - m[1]!.length - 1;
  return { start, end: start + m[1]!.length };
}

/** The account id rule reports `aws_account_id = 1234-5678-9012` as a whole; keep the number. */
function trailingAccountId(text: string, reported: TextRange): TextRange | undefined {
  const m = /(\d{4}-?\d{4}-?\d{4})["']?$/.exec(text.slice(reported.start, reported.end));
  return m ? { start: reported.start + m.index, end: reported.start + m.index + m[1]!.length } : undefined;
}

function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Each message id of the preset in words: what was found, never the value. */
export const MESSAGE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  AWSAccessKeyID: 'AWS access key id',
  AWSSecretAccessKey: 'AWS secret access key',
  AWSAccountID: 'AWS account id',
  PrivateKeyJSON: 'GCP service account private key (JSON key file)',
  PrivateKeyP12: 'GCP service account private key (p12 key file)',
  PrivateKey: 'private key',
  NPM_ACCESS_TOKEN: 'npm access token',
  Npmrc_authToken: 'npm auth token in .npmrc',
  PackageJSON_xOauthToken: 'GitHub token in a git URL',
  BasicAuth: 'user name and password in a URL',
  SLACK_TOKEN: 'Slack token',
  IncomingWebhook: 'Slack incoming webhook URL',
  SENDGRID_KEY: 'SendGrid API key',
  SHOPIFY_KEY: 'Shopify access token',
  STRIPE_SECRET_KEY_LIVE: 'Stripe live secret key',
  STRIPE_SECRET_KEY_TEST: 'Stripe test secret key',
  STRIPE_RESTRICTED_KEY_LIVE: 'Stripe live restricted key',
  STRIPE_RESTRICTED_KEY_TEST: 'Stripe test restricted key',
  GITHUB_TOKEN: 'GitHub token',
  GITLAB_PERSONAL_ACCESS_TOKEN: 'GitLab personal access token',
  GRAFANA_CLOUD_API_TOKEN: 'Grafana Cloud API token',
  GRAFANA_SERVICE_ACCOUNT_TOKEN: 'Grafana service account token',
  OPENAI_TOKEN: 'OpenAI API key',
  ANTHROPIC_API_KEY: 'Anthropic API key',
  GROQ_API_KEY: 'Groq API key',
  HUGGINGFACE_USER_ACCESS_TOKEN: 'Hugging Face access token',
  LINEAR_API_TOKEN: 'Linear API key',
  NOTION_INTEGRATION_TOKEN: 'Notion integration token',
  OPS_TOKEN: '1Password service account token',
  MongoDBConnection: 'MongoDB connection string with a password',
  MySQLConnection: 'MySQL connection string with a password',
  PostgreSQLConnection: 'PostgreSQL connection string with a password',
  HASHICORP_VAULT_SERVICE_TOKEN: 'HashiCorp Vault service token',
  HASHICORP_VAULT_BATCH_TOKEN: 'HashiCorp Vault batch token',
  HASHICORP_VAULT_RECOVERY_TOKEN: 'HashiCorp Vault recovery token',
  VERCEL_PERSONAL_ACCESS_TOKEN: 'Vercel personal access token',
  VERCEL_INTEGRATION_TOKEN: 'Vercel integration token',
  VERCEL_APP_ACCESS_TOKEN: 'Vercel app access token',
  VERCEL_APP_REFRESH_TOKEN: 'Vercel app refresh token',
  VERCEL_AI_GATEWAY_API_KEY: 'Vercel AI Gateway API key',
  DATABRICKS_PERSONAL_ACCESS_TOKEN: 'Databricks personal access token',
  DOCKER_PERSONAL_ACCESS_TOKEN: 'Docker personal access token',
  FIGMA_PERSONAL_ACCESS_TOKEN: 'Figma personal access token',
  CLOUDFLARE_GLOBAL_API_KEY: 'Cloudflare global API key',
  CLOUDFLARE_USER_API_TOKEN: 'Cloudflare user API token',
  CLOUDFLARE_ACCOUNT_API_TOKEN: 'Cloudflare account API token',
  TAILSCALE_API_KEY: 'Tailscale API access token',
  TAILSCALE_AUTH_KEY: 'Tailscale auth key',
  TAILSCALE_CLIENT_KEY: 'Tailscale OAuth client secret',
  TAILSCALE_SCIM_KEY: 'Tailscale SCIM key',
  TAILSCALE_WEBHOOK_KEY: 'Tailscale webhook key',
  TAILSCALE_KEY: 'Tailscale key',
};

/** A message id a newer preset added still reads as words: `FOO_API_TOKEN` → "foo api token". */
export function describeMessage(messageId: string): string {
  return MESSAGE_DESCRIPTIONS[messageId] ?? messageId.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase();
}

interface Secretlint {
  /** Lints with the preset's rules of these ids (the whole preset when undefined). */
  lint(content: string, path: string, rules?: readonly string[]): Promise<readonly LintMessage[]>;
  /** The ids of the rules the preset registers, for the table test. */
  readonly ruleIds: readonly string[];
  /** How long the import took, in milliseconds. */
  readonly loadMs: number;
}

let loading: Promise<Secretlint> | undefined;

/** secretlint's core and preset, imported once on first use (about 100 ms). */
export function secretlint(): Promise<Secretlint> {
  loading ??= importSecretlint().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

async function importSecretlint(): Promise<Secretlint> {
  const started = performance.now();
  const [{ lintSource }, preset, { secretLintProfiler }] = await Promise.all([
    import('@secretlint/core'),
    import('@secretlint/secretlint-rule-preset-recommend'),
    import('@secretlint/profiler'),
  ]);
  // On by default, the profiler puts a performance mark per rule per file into a
  // buffer that only grows: it costs time on every lint and ends in a memory warning
  // after some thousand files. secretlint's own CLI switches it off the same way.
  secretLintProfiler.setEnabled(false);
  const loadMs = performance.now() - started;
  const options = (id: string) => (id === AWS_RULE_ID ? AWS_OPTIONS : undefined);
  const presetConfig: Config = { rules: [{ id: PRESET_ID, rule: preset.creator, rules: [{ id: AWS_RULE_ID, options: AWS_OPTIONS }] }] };
  // A rule configured on its own runs exactly as the preset runs it (the preset registers
  // each rule with no defaults of its own, and the same options), and reports under the
  // same rule id; the other rules of the preset are not set up for nothing on every call.
  const configs = new Map<string, Config>();
  const configFor = (rules: readonly string[] | undefined): Config => {
    if (rules === undefined) return presetConfig;
    const key = rules.join('\n');
    let config = configs.get(key);
    if (!config) {
      const wanted = new Set(rules);
      config = { rules: preset.rules.filter((rule) => wanted.has(rule.meta.id)).map((rule) => ({ id: rule.meta.id, rule, options: options(rule.meta.id) })) };
      configs.set(key, config);
    }
    return config;
  };
  const lint = async (content: string, path: string, rules?: readonly string[]): Promise<readonly LintMessage[]> => {
    const result = await lintSource({
      // The core insists on a path or an extension; standard input may come without a name.
      source: { content, filePath: path || 'stdin', ext: secretlintExtension(path), contentType: 'text' },
      options: { config: configFor(rules), noPhysicFilePath: true },
    });
    return result.messages;
  };
  return { lint, ruleIds: preset.rules.map((rule) => rule.meta.id), loadMs };
}

type Config = Parameters<SecretlintCore['lintSource']>[0]['options']['config'];
const AWS_OPTIONS = { enableIDScanRule: true };

/**
 * The gcp rule reads a `.p12` file from disk by its path, which would scan the working
 * tree instead of the content given (the index for `--staged`); binary key files never
 * reach a detector anyway, so a text file named `.p12` is linted as extension-less.
 */
function secretlintExtension(path: string): string {
  const extension = extname(path);
  return extension === '.p12' ? '' : extension;
}
