/**
 * The input of the scan benchmark: a git repository shaped like a GitOps monorepo (source
 * in four languages, docs, Kubernetes manifests, Helm values, JSON configs, lockfiles and a
 * few big logs and CSVs), holding files that must stay silent (sops-encrypted files under a
 * `.sops.yaml` creation rule, sealed EncryptedSecrets) and planted plaintext secrets of
 * every kind the hook must stop, each recorded with its path, line and kind.
 *
 * Everything but the ciphertext comes from the seed, so every run and every machine scans
 * the same plaintext at the same places. The planted values are fake but well-formed: the
 * prefixes, lengths and alphabets of the real credentials, never the documented example
 * strings that scanners allow-list. The plant records never hold the values themselves.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mulberry32 } from './generate.js';
import { encryptBytes, generateAgeIdentity, resolveKeyGroups, sealSecret, type MasterKeyRecipient } from '../src/index.js';

/** What a plant is; the benchmark reports recall per kind. */
export const PLANT_KINDS = [
  'k8s-secret',
  'encryptedsecret-plaintext',
  'sops-unencrypted',
  'decrypted-twin',
  'aws',
  'private-key',
  'github',
  'slack',
  'db-connection',
  'stripe',
  'npm',
  'openai',
] as const;
export type PlantKind = (typeof PLANT_KINDS)[number];

/** Kinds about a whole file: a finding anywhere in the file finds them. */
export const WHOLE_FILE_KINDS: ReadonlySet<PlantKind> = new Set<PlantKind>(['sops-unencrypted', 'decrypted-twin']);

export interface Plant {
  /** Repository-relative, forward slashes. */
  readonly path: string;
  /**
   * 1-based line of the value: of the key id for AWS, of the BEGIN line for private keys;
   * for whole-file kinds 1, or the line in clear where there is one.
   */
  readonly line: number;
  readonly kind: PlantKind;
  /** How it was planted, e.g. "stringData, multi-document YAML"; never the value. */
  readonly variant: string;
  /**
   * First and last line of the planted object (the Secret document, the key block, the
   * credential pair, the whole file): a finding there is about this plant, not noise, even
   * where it is too far from `line` to count for recall.
   */
  readonly region: readonly [number, number];
}

export interface CorpusOptions {
  /** Files in the repository, all tracked (default 2,000). */
  files?: number;
  /** Approximate total size in bytes (default 30 MB). */
  bytes?: number;
  /** Plants of each kind (default 10). */
  plantsPerKind?: number;
  seed?: number;
}

export interface Corpus {
  readonly dir: string;
  /** Every file written, sorted; all of them are committed. */
  readonly paths: string[];
  readonly bytes: number;
  readonly plants: Plant[];
  /** sops-encrypted files and sealed EncryptedSecrets: a finding in one of these is a false alarm. */
  readonly encrypted: string[];
  /** The big logs and CSVs. */
  readonly large: string[];
}

const DEFAULTS = { files: 2000, bytes: 30_000_000, plantsPerKind: 10, seed: 0x5ca7 };
/** Shares of the byte budget; the rest goes to the ordinary files. */
const LARGE_SHARE = 0.35;
const LOCKFILE_SHARE = 0.15;
/** Fixed so that the plaintext (and the metadata around the ciphertext) is the same every run. */
const FIXED_DATE = new Date('2025-03-14T09:26:53Z');
const GIT_DATE = '2025-03-14T09:26:53Z';

// --- randomness ---

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const BASE32 = UPPER + '234567';
const BASE64 = ALNUM + '+/';
const URLSAFE = ALNUM + '_-';
const HEX = '0123456789abcdef';

class Random {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Inclusive on both ends. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chars(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// --- fake credentials: the real shapes ---

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(text: string): number {
  let c = 0xffffffff;
  for (const byte of Buffer.from(text)) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function base62(n: number, width: number): string {
  let s = '';
  for (; n > 0; n = Math.floor(n / 62)) s = ALNUM[n % 62] + s;
  return s.padStart(width, '0');
}

/** The fake values. Each function draws from the corpus's own generator. */
const fake = {
  /** Base32 after the prefix, as AWS issues them (and as gitleaks expects). */
  awsKeyId: (r: Random) => `${r.pick(['AKIA', 'AKIA', 'ASIA'])}${r.chars(16, BASE32)}`,
  awsSecretKey: (r: Random) => r.chars(40, BASE64),
  /** Classic GitHub token: 30 random characters and a base62 CRC32 of them. */
  githubClassic: (r: Random, prefix: 'ghp' | 'gho' | 'ghs' | 'ghu') => {
    const body = r.chars(30, ALNUM);
    return `${prefix}_${body}${base62(crc32(body), 6)}`;
  },
  githubFineGrained: (r: Random) => `github_pat_${r.chars(22, ALNUM)}_${r.chars(59, ALNUM)}`,
  slackBot: (r: Random) => `xoxb-${r.chars(11, DIGITS)}-${r.chars(13, DIGITS)}-${r.chars(24, ALNUM)}`,
  slackUser: (r: Random) => `xoxp-${r.chars(11, DIGITS)}-${r.chars(11, DIGITS)}-${r.chars(13, DIGITS)}-${r.chars(32, HEX)}`,
  slackWebhook: (r: Random) => `https://hooks.slack.com/services/T${r.chars(10, UPPER + DIGITS)}/B${r.chars(10, UPPER + DIGITS)}/${r.chars(24, ALNUM)}`,
  stripe: (r: Random) => (r.chance(0.5) ? `sk_live_${r.chars(24, ALNUM)}` : `${r.pick(['sk', 'rk'])}_live_51${r.chars(97, ALNUM)}`),
  npm: (r: Random) => `npm_${r.chars(36, ALNUM)}`,
  /** Project keys end in an alphanumeric, as real ones do (the peers' patterns end in \b). */
  openai: (r: Random) => `sk-proj-${r.chars(74, URLSAFE)}T3BlbkFJ${r.chars(73, URLSAFE)}${r.chars(1, ALNUM)}`,
  password: (r: Random) => r.chars(r.between(16, 28), ALNUM),
};

/** Plausible DER: the real leading bytes of each key type, random after them. */
const KEY_SHAPES = {
  rsa: { label: 'RSA PRIVATE KEY', der: (r: Random) => Buffer.concat([Buffer.from('308204a40201000282010100', 'hex'), r.bytes(1180)]), width: 64 },
  pkcs8: { label: 'PRIVATE KEY', der: (r: Random) => Buffer.concat([Buffer.from('308204bd020100300d06092a864886f70d0101010500048204a7', 'hex'), r.bytes(1191)]), width: 64 },
  ecP256: {
    label: 'EC PRIVATE KEY',
    der: (r: Random) => Buffer.concat([Buffer.from('30770201010420', 'hex'), r.bytes(32), Buffer.from('a00a06082a8648ce3d030107a14403420004', 'hex'), r.bytes(64)]),
    width: 64,
  },
  ecP384: {
    label: 'EC PRIVATE KEY',
    der: (r: Random) => Buffer.concat([Buffer.from('3081a40201010430', 'hex'), r.bytes(48), Buffer.from('a00706052b81040022a16403620004', 'hex'), r.bytes(96)]),
    width: 64,
  },
  openssh: {
    label: 'OPENSSH PRIVATE KEY',
    der: (r: Random) => {
      const str = (s: string) => Buffer.concat([u32(s.length), Buffer.from(s)]);
      const pub = Buffer.concat([str('ssh-ed25519'), u32(32), r.bytes(32)]);
      return Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), u32(0), u32(1), u32(pub.length), pub, u32(136), r.bytes(136)]);
    },
    width: 70,
  },
} as const;
type KeyShape = keyof typeof KEY_SHAPES;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function pemLines(r: Random, shape: KeyShape): string[] {
  const { label, der, width } = KEY_SHAPES[shape];
  const b64 = der(r).toString('base64');
  const body: string[] = [];
  for (let i = 0; i < b64.length; i += width) body.push(b64.slice(i, i + width));
  return [`-----BEGIN ${label}-----`, ...body, `-----END ${label}-----`];
}

// --- vocabulary for the filler ---

const NOUNS = [
  'order', 'invoice', 'customer', 'payment', 'cart', 'shipment', 'account', 'session', 'catalog', 'product',
  'price', 'inventory', 'report', 'metric', 'event', 'queue', 'job', 'worker', 'tenant', 'billing', 'ledger',
  'refund', 'coupon', 'review', 'search', 'index', 'cache', 'email', 'audit', 'export', 'schedule', 'plan',
  'quota', 'region', 'cluster', 'release', 'build', 'artifact', 'feature', 'rollout', 'health', 'status',
  'warehouse', 'carrier', 'address', 'profile', 'team', 'project', 'webhook', 'batch', 'window', 'budget',
];
const VERBS = [
  'get', 'list', 'create', 'update', 'delete', 'load', 'save', 'parse', 'format', 'validate', 'sync', 'fetch',
  'build', 'apply', 'render', 'merge', 'resolve', 'compute', 'emit', 'handle', 'process', 'schedule', 'retry', 'flush',
];
const ADJECTIVES = ['pending', 'active', 'archived', 'remote', 'local', 'cached', 'stale', 'primary', 'shadow', 'partial', 'daily', 'nightly'];
const PROSE = [
  'the', 'service', 'reads', 'its', 'configuration', 'from', 'the', 'environment', 'and', 'falls', 'back', 'to',
  'defaults', 'when', 'a', 'value', 'is', 'missing', 'requests', 'are', 'retried', 'with', 'exponential', 'backoff',
  'each', 'deployment', 'runs', 'two', 'replicas', 'behind', 'an', 'ingress', 'metrics', 'exported', 'on', 'port',
  'rollouts', 'happen', 'through', 'flux', 'after', 'review', 'of', 'pull', 'request', 'changes', 'in', 'this',
  'repository', 'owners', 'approve', 'schema', 'migrations', 'before', 'release', 'background', 'jobs', 'drain',
  'queue', 'every', 'minute', 'logs', 'shipped', 'central', 'store', 'alerts', 'fire', 'latency', 'budget', 'exceeds',
];
const ENVS = ['dev', 'staging', 'prod'];
const TEAMS = ['platform', 'payments', 'growth', 'search', 'data', 'identity', 'logistics'];

const camel = (...words: string[]) => words.filter(Boolean).map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1))).join('');
const pascal = (...words: string[]) => words.filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
const snake = (...words: string[]) => words.join('_');
const kebab = (...words: string[]) => words.join('-');

function sentence(r: Random, min = 6, max = 16): string {
  const words = Array.from({ length: r.between(min, max) }, () => r.pick(PROSE));
  return words.join(' ').replace(/^./, (c) => c.toUpperCase()) + '.';
}

function semver(r: Random): string {
  return `${r.int(5)}.${r.int(30)}.${r.int(20)}`;
}

function uuid(r: Random): string {
  const h = r.chars(32, HEX);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

// --- files as blocks of lines, so that a plant can go between two blocks ---

interface PlantMark {
  kind: PlantKind;
  variant: string;
  /** Line within the block (0-based). */
  offset: number;
  /** The planted object is the whole file (a service-account JSON), not just this block. */
  wholeFile?: boolean;
}

interface Block {
  lines: string[];
  plant?: PlantMark;
}

type FillerType = 'ts' | 'js' | 'py' | 'go' | 'md' | 'manifest' | 'values' | 'json' | 'sh';

/** Whether the file's blocks are top-level JSON members (joined with commas, wrapped in braces). */
interface FileSpec {
  path: string;
  blocks: Block[];
  json?: boolean;
}

function blockBytes(b: Block): number {
  return b.lines.reduce((n, l) => n + l.length + 1, 0);
}

/** Joins the blocks and returns the text and where the plants landed. */
function assemble(spec: FileSpec): { text: string; plants: Plant[] } {
  const lines: string[] = [];
  const marks: { mark: PlantMark; first: number; last: number }[] = [];
  if (spec.json) lines.push('{');
  spec.blocks.forEach((block, i) => {
    if (block.plant) marks.push({ mark: block.plant, first: lines.length + 1, last: lines.length + block.lines.length });
    const last = i === spec.blocks.length - 1;
    if (spec.json && !last) lines.push(...block.lines.slice(0, -1), block.lines[block.lines.length - 1] + ',');
    else lines.push(...block.lines);
  });
  if (spec.json) lines.push('}');
  const whole = [1, lines.length] as const;
  const plants: Plant[] = marks.map(({ mark, first, last }) => ({
    path: spec.path,
    line: first + mark.offset,
    kind: mark.kind,
    variant: mark.variant,
    region: mark.wholeFile ? whole : [first, last],
  }));
  return { text: lines.join('\n') + '\n', plants };
}

// --- filler generators: each returns one block of an ordinary file ---

function tsBlock(r: Random): Block {
  const noun = r.pick(NOUNS);
  const other = r.pick(NOUNS);
  const type = pascal(noun);
  const fn = camel(r.pick(VERBS), noun, r.chance(0.4) ? r.pick(NOUNS) : '');
  const field = camel(r.pick(ADJECTIVES), other);
  switch (r.int(4)) {
    case 0:
      return {
        lines: [
          `export interface ${type}${pascal(r.pick(ADJECTIVES))} {`,
          ...Array.from({ length: r.between(3, 9) }, () => `  ${camel(r.pick(ADJECTIVES), r.pick(NOUNS))}${r.chance(0.3) ? '?' : ''}: ${r.pick(['string', 'number', 'boolean', `${pascal(r.pick(NOUNS))}[]`, 'Date', 'Record<string, string>'])};`),
          '}',
          '',
        ],
      };
    case 1:
      return {
        lines: [
          `/** ${sentence(r)} */`,
          `export async function ${fn}(${noun}: ${type}, options: { limit?: number; signal?: AbortSignal } = {}): Promise<${pascal(other)}[]> {`,
          `  const response = await client.${camel(r.pick(VERBS), other)}(${noun}.id, { limit: options.limit ?? ${r.between(10, 500)}, signal: options.signal });`,
          `  if (!response.ok) throw new ${type}Error(\`${r.pick(VERBS)} ${other} failed for \${${noun}.id}: \${response.status}\`);`,
          `  const items = response.items.filter((item) => item.${field} !== undefined);`,
          ...(r.chance(0.5) ? [`  logger.debug({ ${noun}: ${noun}.id, count: items.length }, '${r.pick(PROSE)} ${r.pick(PROSE)}');`] : []),
          `  return items.map((item) => ({ ...item, ${camel(r.pick(ADJECTIVES), noun)}: ${r.pick(['true', 'false', 'null', String(r.int(1000)), `'${r.pick(ADJECTIVES)}'`])} }));`,
          '}',
          '',
        ],
      };
    case 2:
      return {
        lines: [
          `export class ${type}${pascal(r.pick(['store', 'service', 'repository', 'client']))} {`,
          `  private readonly ${camel(other, 'cache')} = new Map<string, ${pascal(other)}>();`,
          '',
          `  constructor(private readonly db: Database, private readonly ttlMs = ${r.between(1, 60) * 1000}) {}`,
          '',
          `  async ${fn}(id: string): Promise<${pascal(other)} | undefined> {`,
          `    const cached = this.${camel(other, 'cache')}.get(id);`,
          '    if (cached) return cached;',
          `    const row = await this.db.query<${pascal(other)}>('SELECT * FROM ${snake(noun, other)}s WHERE id = $1', [id]);`,
          `    if (row) this.${camel(other, 'cache')}.set(id, row);`,
          '    return row;',
          '  }',
          '}',
          '',
        ],
      };
    default:
      return {
        lines: [
          `const ${snake(r.pick(ADJECTIVES), noun, 'limit').toUpperCase()} = ${r.between(1, 5000)};`,
          `const ${camel(noun, 'routes')} = [${Array.from({ length: r.between(2, 5) }, () => `'/${r.pick(NOUNS)}s/${r.pick(['list', 'detail', 'export', 'search'])}'`).join(', ')}];`,
          '',
        ],
      };
  }
}

function tsHeader(r: Random): Block {
  return {
    lines: [
      ...Array.from({ length: r.between(2, 6) }, () => `import { ${pascal(r.pick(NOUNS))}, ${camel(r.pick(VERBS), r.pick(NOUNS))} } from '${r.chance(0.5) ? '.' : '..'}/${kebab(r.pick(NOUNS), r.pick(['client', 'types', 'store', 'utils']))}.js';`),
      `import { logger } from '../logger.js';`,
      '',
    ],
  };
}

function jsBlock(r: Random): Block {
  const noun = r.pick(NOUNS);
  return {
    lines: [
      `// ${sentence(r)}`,
      `function ${camel(r.pick(VERBS), noun)}(${noun}, opts) {`,
      `  const settings = Object.assign({ retries: ${r.between(1, 6)}, timeout: ${r.between(1, 30) * 1000} }, opts);`,
      `  return fetch(\`\${baseUrl}/${noun}s/\${${noun}.id}\`, { method: '${r.pick(['GET', 'POST', 'PUT'])}', headers: { 'content-type': 'application/json' } })`,
      `    .then((res) => (res.ok ? res.json() : Promise.reject(new Error('${r.pick(PROSE)} ' + res.status))))`,
      `    .then((body) => body.${camel(r.pick(ADJECTIVES), r.pick(NOUNS))} ?? settings.retries);`,
      '}',
      `module.exports.${camel(r.pick(VERBS), noun)} = ${camel(r.pick(VERBS), noun)};`,
      '',
    ],
  };
}

function pyBlock(r: Random): Block {
  const noun = r.pick(NOUNS);
  const other = r.pick(NOUNS);
  if (r.chance(0.35)) {
    return {
      lines: [
        `class ${pascal(noun, r.pick(['repository', 'service', 'handler']))}:`,
        `    """${sentence(r)}"""`,
        '',
        `    def __init__(self, session, ttl_seconds=${r.between(10, 3600)}):`,
        '        self.session = session',
        '        self.ttl_seconds = ttl_seconds',
        `        self._${other}_cache = {}`,
        '',
        `    def ${snake(r.pick(VERBS), other)}(self, ${noun}_id):`,
        `        if ${noun}_id in self._${other}_cache:`,
        `            return self._${other}_cache[${noun}_id]`,
        `        row = self.session.execute("SELECT * FROM ${noun}_${other} WHERE id = :id", {"id": ${noun}_id}).fetchone()`,
        `        self._${other}_cache[${noun}_id] = row`,
        '        return row',
        '',
      ],
    };
  }
  return {
    lines: [
      `def ${snake(r.pick(VERBS), noun, other)}(${noun}, limit=${r.between(10, 1000)}):`,
      `    """${sentence(r)}"""`,
      `    result = [item for item in ${noun}.${other}s if item.${snake(r.pick(ADJECTIVES), 'at')} is not None]`,
      ...(r.chance(0.5) ? [`    logger.info("${r.pick(PROSE)} %s ${r.pick(PROSE)}", ${noun}.id)`] : []),
      `    return sorted(result, key=lambda item: item.${snake(r.pick(NOUNS), 'id')})[:limit]`,
      '',
      '',
    ],
  };
}

function goBlock(r: Random): Block {
  const noun = r.pick(NOUNS);
  const other = r.pick(NOUNS);
  if (r.chance(0.3)) {
    return {
      lines: [
        `// ${pascal(noun)} ${sentence(r).toLowerCase()}`,
        `type ${pascal(noun, r.pick(ADJECTIVES))} struct {`,
        ...Array.from({ length: r.between(3, 8) }, () => {
          const f = pascal(r.pick(ADJECTIVES), r.pick(NOUNS));
          return `\t${f} ${r.pick(['string', 'int64', 'bool', 'time.Time', '[]string', 'map[string]string'])} \`json:"${camel(f.toLowerCase())}"\``;
        }),
        '}',
        '',
      ],
    };
  }
  return {
    lines: [
      `// ${pascal(r.pick(VERBS), noun)} ${sentence(r).toLowerCase()}`,
      `func (s *${pascal(noun)}Service) ${pascal(r.pick(VERBS), noun, other)}(ctx context.Context, id string) (*${pascal(other)}, error) {`,
      `\tctx, cancel := context.WithTimeout(ctx, ${r.between(1, 30)}*time.Second)`,
      '\tdefer cancel()',
      `\trow, err := s.db.QueryContext(ctx, "SELECT * FROM ${noun}_${other} WHERE id = $1", id)`,
      '\tif err != nil {',
      `\t\treturn nil, fmt.Errorf("${r.pick(VERBS)} ${other} %s: %w", id, err)`,
      '\t}',
      `\treturn scan${pascal(other)}(row)`,
      '}',
      '',
    ],
  };
}

function goHeader(r: Random, pkg: string): Block {
  return { lines: [`package ${pkg}`, '', 'import (', '\t"context"', '\t"fmt"', '\t"time"', '', `\t"github.com/${r.pick(TEAMS)}/${r.pick(NOUNS)}/internal/${r.pick(NOUNS)}"`, ')', ''] };
}

function mdBlock(r: Random): Block {
  switch (r.int(4)) {
    case 0:
      return { lines: [`## ${pascal(r.pick(NOUNS))} ${r.pick(NOUNS)}s`, '', sentence(r, 12, 40), sentence(r, 8, 30), ''] };
    case 1:
      return { lines: Array.from({ length: r.between(3, 7) }, () => `- ${sentence(r, 4, 12)}`).concat('') };
    case 2:
      return {
        lines: ['```sh', `kubectl -n ${r.pick(TEAMS)} rollout status deploy/${kebab(r.pick(NOUNS), 'api')}`, `wax decrypt deploy/${r.pick(ENVS)}/${r.pick(NOUNS)}/values.yaml | less`, '```', ''],
      };
    default:
      return {
        lines: ['| setting | default | meaning |', '| --- | --- | --- |', ...Array.from({ length: r.between(3, 8) }, () => `| \`${camel(r.pick(ADJECTIVES), r.pick(NOUNS))}\` | ${r.int(100)} | ${sentence(r, 3, 8)} |`), ''],
      };
  }
}

function deploymentDoc(r: Random, name: string, ns: string): string[] {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${ns}`,
    '  labels:',
    `    app.kubernetes.io/name: ${name}`,
    `    app.kubernetes.io/part-of: ${r.pick(TEAMS)}`,
    'spec:',
    `  replicas: ${r.between(1, 6)}`,
    '  selector:',
    '    matchLabels:',
    `      app.kubernetes.io/name: ${name}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app.kubernetes.io/name: ${name}`,
    '    spec:',
    '      containers:',
    `        - name: ${name}`,
    `          image: registry.example.net/${r.pick(TEAMS)}/${name}:${semver(r)}`,
    '          ports:',
    `            - containerPort: ${r.pick([8080, 8443, 3000, 9000])}`,
    '          env:',
    ...Array.from({ length: r.between(2, 6) }, () => [`            - name: ${snake(r.pick(ADJECTIVES), r.pick(NOUNS)).toUpperCase()}`, `              value: "${r.pick([String(r.int(100)), r.pick(ADJECTIVES), 'true', 'false'])}"`]).flat(),
    '          resources:',
    `            requests: { cpu: ${r.between(50, 500)}m, memory: ${r.between(64, 512)}Mi }`,
    `            limits: { cpu: ${r.between(500, 2000)}m, memory: ${r.between(512, 2048)}Mi }`,
    '          readinessProbe:',
    '            httpGet: { path: /healthz, port: http }',
    `            periodSeconds: ${r.between(5, 30)}`,
  ];
}

function serviceDoc(r: Random, name: string, ns: string): string[] {
  return ['apiVersion: v1', 'kind: Service', 'metadata:', `  name: ${name}`, `  namespace: ${ns}`, 'spec:', '  selector:', `    app.kubernetes.io/name: ${name}`, '  ports:', `    - port: 80`, `      targetPort: ${r.pick([8080, 3000, 9000])}`];
}

function configMapDoc(r: Random, name: string, ns: string): string[] {
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${name}-config`,
    `  namespace: ${ns}`,
    'data:',
    `  LOG_LEVEL: ${r.pick(['debug', 'info', 'warn'])}`,
    `  ${snake(r.pick(NOUNS), 'batch', 'size').toUpperCase()}: "${r.between(10, 1000)}"`,
    '  application.properties: |',
    ...Array.from({ length: r.between(4, 14) }, () => `    ${r.pick(NOUNS)}.${r.pick(ADJECTIVES)}.${r.pick(NOUNS)}=${r.pick([String(r.int(10000)), r.pick(ADJECTIVES), 'true'])}`),
  ];
}

function manifestBlock(r: Random): Block {
  const name = kebab(r.pick(NOUNS), r.pick(['api', 'worker', 'web', 'cron']));
  const ns = r.pick(TEAMS);
  const doc = r.pick([deploymentDoc, deploymentDoc, serviceDoc, configMapDoc])(r, name, ns);
  return { lines: ['---', ...doc] };
}

function valuesBlock(r: Random): Block {
  const section = camel(r.pick(NOUNS), r.chance(0.5) ? r.pick(NOUNS) : '');
  return {
    lines: [
      `${section}:`,
      `  enabled: ${r.chance(0.7)}`,
      `  replicaCount: ${r.between(1, 5)}`,
      '  image:',
      `    repository: registry.example.net/${r.pick(TEAMS)}/${kebab(r.pick(NOUNS), 'svc')}`,
      `    tag: "${semver(r)}"`,
      '  resources:',
      `    requests: { cpu: ${r.between(50, 500)}m, memory: ${r.between(64, 512)}Mi }`,
      ...(r.chance(0.5)
        ? ['  ingress:', `    host: ${r.pick(NOUNS)}.${r.pick(ENVS)}.example.net`, `    paths: [/${r.pick(NOUNS)}, /${r.pick(NOUNS)}]`]
        : ['  settings:', ...Array.from({ length: r.between(2, 6) }, () => `    ${camel(r.pick(ADJECTIVES), r.pick(NOUNS))}: ${r.pick([String(r.int(1000)), r.pick(ADJECTIVES), 'true', 'false'])}`)]),
      '',
    ],
  };
}

/** A top-level JSON member; the assembler adds the commas and braces. */
function jsonBlock(r: Random): Block {
  const key = camel(r.pick(NOUNS), r.pick(['settings', 'limits', 'endpoints', 'features']));
  if (r.chance(0.3)) {
    const urls = Array.from({ length: r.between(2, 6) }, () => `    "https://${r.pick(NOUNS)}.${r.pick(ENVS)}.example.net/${r.pick(NOUNS)}"`);
    return { lines: [`  "${key}": [`, ...urls.map((u, i) => (i < urls.length - 1 ? u + ',' : u)), '  ]'] };
  }
  const members = Array.from({ length: r.between(2, 8) }, () => `    "${camel(r.pick(ADJECTIVES), r.pick(NOUNS))}": ${r.pick([String(r.int(10000)), `"${r.pick(ADJECTIVES)}"`, 'true', 'false', 'null'])}`);
  return { lines: [`  "${key}": {`, ...members.map((m, i) => (i < members.length - 1 ? m + ',' : m)), '  }'] };
}

function shBlock(r: Random): Block {
  const noun = r.pick(NOUNS);
  return {
    lines: [
      `# ${sentence(r)}`,
      `${snake(noun, 'dir')}="\${${snake(noun, 'dir').toUpperCase()}:-/var/lib/${noun}}"`,
      `for f in "$${snake(noun, 'dir')}"/*.json; do`,
      `  jq -r '.${camel(r.pick(ADJECTIVES), r.pick(NOUNS))}' "$f" >> "/tmp/${noun}-${r.pick(ADJECTIVES)}.txt"`,
      'done',
      '',
    ],
  };
}

const FILLERS: Record<FillerType, { block: (r: Random) => Block; header?: (r: Random, file: string) => Block; json?: boolean }> = {
  ts: { block: tsBlock, header: tsHeader },
  js: { block: jsBlock, header: () => ({ lines: ["'use strict';", '', "const baseUrl = process.env.API_URL || 'http://localhost:8080';", ''] }) },
  py: { block: pyBlock, header: () => ({ lines: ['import logging', 'from datetime import datetime, timezone', '', 'logger = logging.getLogger(__name__)', '', ''] }) },
  go: { block: goBlock, header: (r, file) => goHeader(r, path.basename(path.dirname(file)).replace(/[^a-z]/g, '') || 'main') },
  md: { block: mdBlock, header: (r) => ({ lines: [`# ${pascal(r.pick(NOUNS))} ${r.pick(NOUNS)}`, '', sentence(r, 10, 30), ''] }) },
  manifest: { block: manifestBlock },
  values: { block: valuesBlock, header: (r) => ({ lines: [`# Default values for ${kebab(r.pick(NOUNS), 'svc')}.`, `global:`, `  environment: ${r.pick(ENVS)}`, `  imagePullPolicy: IfNotPresent`, ''] }) },
  json: { block: jsonBlock, json: true, header: (r) => ({ lines: [`  "name": "${kebab(r.pick(NOUNS), r.pick(NOUNS))}"`] }) },
  sh: { block: shBlock, header: () => ({ lines: ['#!/usr/bin/env bash', 'set -euo pipefail', ''] }) },
};

const EXTENSIONS: Record<FillerType, string> = { ts: 'ts', js: 'js', py: 'py', go: 'go', md: 'md', manifest: 'yaml', values: 'yaml', json: 'json', sh: 'sh' };

/** Share of the ordinary files by type, roughly a product monorepo's. */
const FILLER_WEIGHTS: [FillerType, number][] = [
  ['ts', 24], ['js', 7], ['py', 12], ['go', 13], ['md', 10], ['manifest', 14], ['values', 6], ['json', 10], ['sh', 4],
];

function fillBlocks(r: Random, type: FillerType, file: string, targetBytes: number): Block[] {
  const filler = FILLERS[type];
  const blocks: Block[] = filler.header ? [filler.header(r, file)] : [];
  let bytes = blocks.reduce((n, b) => n + blockBytes(b), 0);
  while (bytes < targetBytes) {
    const b = filler.block(r);
    blocks.push(b);
    bytes += blockBytes(b);
  }
  return blocks;
}

// --- lockfiles and big files ---

function packageLock(r: Random, targetBytes: number): string {
  const lines = ['{', `  "name": "${kebab(r.pick(NOUNS), 'web')}",`, '  "lockfileVersion": 3,', '  "requires": true,', '  "packages": {'];
  let bytes = 0;
  const entries: string[] = [];
  while (bytes < targetBytes) {
    const name = r.chance(0.3) ? `@${r.pick(TEAMS)}/${kebab(r.pick(NOUNS), r.pick(VERBS))}` : kebab(r.pick(NOUNS), r.pick(VERBS), r.chars(3, LOWER));
    const version = semver(r);
    const entry = [
      `    "node_modules/${name}": {`,
      `      "version": "${version}",`,
      `      "resolved": "https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${version}.tgz",`,
      `      "integrity": "sha512-${r.bytes(64).toString('base64')}",`,
      `      "license": "${r.pick(['MIT', 'ISC', 'Apache-2.0', 'BSD-3-Clause'])}"`,
      '    }',
    ].join('\n');
    entries.push(entry);
    bytes += entry.length + 2;
  }
  lines.push(entries.join(',\n'), '  }', '}');
  return lines.join('\n') + '\n';
}

function goSum(r: Random, targetBytes: number): string {
  const lines: string[] = [];
  let bytes = 0;
  while (bytes < targetBytes) {
    const mod = `github.com/${r.pick(TEAMS)}-${r.chars(4, LOWER)}/${r.pick(NOUNS)}`;
    const v = `v${semver(r)}`;
    lines.push(`${mod} ${v} h1:${r.bytes(32).toString('base64')}`, `${mod} ${v}/go.mod h1:${r.bytes(32).toString('base64')}`);
    bytes += 2 * (mod.length + 60);
  }
  return lines.join('\n') + '\n';
}

function logFile(r: Random, targetBytes: number): string {
  const lines: string[] = [];
  let bytes = 0;
  let t = Date.parse('2025-03-01T00:00:00Z');
  while (bytes < targetBytes) {
    t += r.int(900);
    const line = `${new Date(t).toISOString()} ${r.pick(['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'])} [${kebab(r.pick(NOUNS), 'api')}] request_id=${uuid(r)} method=${r.pick(['GET', 'POST', 'PUT'])} path=/${r.pick(NOUNS)}s/${r.int(100000)} status=${r.pick([200, 200, 200, 201, 204, 404, 500])} duration_ms=${r.int(900)} ${sentence(r, 3, 9)}`;
    lines.push(line);
    bytes += line.length + 1;
  }
  return lines.join('\n') + '\n';
}

function csvFile(r: Random, targetBytes: number): string {
  const lines = ['id,created_at,customer,region,amount,currency,status,sku'];
  let bytes = 0;
  let t = Date.parse('2024-01-01T00:00:00Z');
  while (bytes < targetBytes) {
    t += r.int(60_000);
    const line = `${uuid(r)},${new Date(t).toISOString()},${pascal(r.pick(NOUNS))} ${pascal(r.pick(NOUNS))},${r.pick(['eu-west-1', 'us-east-1', 'ap-south-1'])},${(r.float() * 2000).toFixed(2)},${r.pick(['EUR', 'USD', 'INR'])},${r.pick(ADJECTIVES)},${r.chars(8, UPPER + DIGITS)}`;
    lines.push(line);
    bytes += line.length + 1;
  }
  return lines.join('\n') + '\n';
}

// --- planted secrets ---

type HostType = 'ts' | 'py' | 'go' | 'values' | 'json' | 'md';

/** A plant that goes between two blocks of an ordinary file of `host` type. */
interface HostedPlant {
  host: HostType;
  block: Block;
}

/** A plant that is a file of its own (`.env`, a key file, a workflow, …). */
interface OwnFilePlant {
  file: FileSpec;
}

type Planted = HostedPlant | OwnFilePlant;

const mark = (kind: PlantKind, variant: string, offset: number, wholeFile = false): PlantMark => ({ kind, variant, offset, wholeFile });

function envFile(r: Random, file: string, kind: PlantKind, variant: string, secretLines: string[]): OwnFilePlant {
  const before = [`# ${sentence(r, 4, 8)}`, `NODE_ENV=${r.pick(ENVS)}`, `PORT=${r.pick([3000, 8080])}`, `LOG_LEVEL=${r.pick(['info', 'debug'])}`];
  const after = [`FEATURE_${r.pick(NOUNS).toUpperCase()}=${r.chance(0.5)}`, `${r.pick(NOUNS).toUpperCase()}_URL=https://${r.pick(NOUNS)}.internal:${r.between(8000, 9000)}`];
  return { file: { path: file, blocks: [{ lines: before }, { lines: secretLines, plant: mark(kind, variant, 0) }, { lines: after }] } };
}

interface PlantContext {
  r: Random;
  /** A fresh path under `dir` with `name` (made unique). */
  newPath: (dir: string, name: string) => string;
  service: () => string;
}

/** One function per kind; the i-th plant of a kind uses variant i modulo the variants. */
const PLANTERS: Record<Exclude<PlantKind, 'k8s-secret' | 'encryptedsecret-plaintext' | 'sops-unencrypted' | 'decrypted-twin'>, ((c: PlantContext) => Planted)[]> = {
  aws: [
    ({ r, newPath, service }) => envFile(r, newPath(`services/${service()}`, '.env'), 'aws', 'dotenv', [`AWS_ACCESS_KEY_ID=${fake.awsKeyId(r)}`, `AWS_SECRET_ACCESS_KEY=${fake.awsSecretKey(r)}`, 'AWS_REGION=eu-west-1']),
    ({ r, newPath }) => ({
      file: { path: newPath('ops/aws', 'credentials'), blocks: [{ lines: ['[default]', 'region = eu-west-1', ''] }, { lines: [`[${r.pick(TEAMS)}-deployer]`, `aws_access_key_id = ${fake.awsKeyId(r)}`, `aws_secret_access_key = ${fake.awsSecretKey(r)}`], plant: mark('aws', 'credentials ini', 1) }] },
    }),
    ({ r }) => ({
      host: 'ts',
      block: { lines: ['const s3 = new S3Client({', "  region: 'eu-west-1',", `  credentials: { accessKeyId: '${fake.awsKeyId(r)}', secretAccessKey: '${fake.awsSecretKey(r)}' },`, '});', ''], plant: mark('aws', 'typescript', 2) },
    }),
    ({ r }) => ({
      host: 'py',
      block: { lines: ['session = boto3.session.Session(', `    aws_access_key_id="${fake.awsKeyId(r)}",`, `    aws_secret_access_key="${fake.awsSecretKey(r)}",`, ')', '', ''], plant: mark('aws', 'python', 1) },
    }),
    ({ r }) => ({
      host: 'values',
      block: { lines: ['backup:', '  s3:', '    bucket: backups-eu', `    accessKeyId: ${fake.awsKeyId(r)}`, `    secretAccessKey: ${fake.awsSecretKey(r)}`, ''], plant: mark('aws', 'helm values', 3) },
    }),
  ],
  'private-key': [
    ({ r, newPath }) => ({ file: { path: newPath('deploy/keys', `${r.pick(NOUNS)}-signing.pem`), blocks: [{ lines: pemLines(r, 'rsa'), plant: mark('private-key', 'RSA PEM file', 0) }] } }),
    ({ r, newPath }) => ({ file: { path: newPath('ops/ssh', `id_ed25519_${r.pick(TEAMS)}`), blocks: [{ lines: pemLines(r, 'openssh'), plant: mark('private-key', 'OpenSSH key file', 0) }] } }),
    ({ r, newPath }) => ({ file: { path: newPath('certs', `${r.pick(NOUNS)}-key.pem`), blocks: [{ lines: pemLines(r, 'ecP256'), plant: mark('private-key', 'EC P-256 PEM file', 0) }] } }),
    ({ r, newPath, service }) => {
      const name = service();
      const key = pemLines(r, 'pkcs8').map((l) => `    ${l}`);
      return {
        file: {
          path: newPath(`deploy/${r.pick(ENVS)}/${name}`, 'tls-configmap.yaml'),
          blocks: [{ lines: ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', `  name: ${name}-tls`, `  namespace: ${r.pick(TEAMS)}`, 'data:', `  tls.crt: |`, '    -----BEGIN CERTIFICATE-----', `    ${r.bytes(48).toString('base64')}`, '    -----END CERTIFICATE-----', '  tls.key: |'] }, { lines: key, plant: mark('private-key', 'PKCS#8 in a ConfigMap', 0) }],
        },
      };
    },
    ({ r, newPath }) => {
      const key = pemLines(r, 'pkcs8').join('\\n') + '\\n';
      const project = kebab(r.pick(NOUNS), r.chars(4, DIGITS));
      return {
        file: {
          path: newPath('ops/gcp', `${project}-sa.json`),
          json: true,
          blocks: [
            { lines: ['  "type": "service_account"'] },
            { lines: [`  "project_id": "${project}"`] },
            { lines: [`  "private_key_id": "${r.chars(40, HEX)}"`] },
            { lines: [`  "private_key": "${key}"`], plant: mark('private-key', 'GCP service account JSON', 0, true) },
            { lines: [`  "client_email": "deployer@${project}.iam.gserviceaccount.com"`] },
          ],
        },
      };
    },
    ({ r }) => ({ host: 'values', block: { lines: ['sftp:', '  hostKey: |', ...pemLines(r, 'ecP384').map((l) => `    ${l}`), ''], plant: mark('private-key', 'EC P-384 in Helm values', 2) } }),
  ],
  github: [
    ({ r, newPath }) => ({
      file: {
        path: newPath('.github/workflows', `${r.pick(['release', 'publish', 'sync'])}.yml`),
        blocks: [
          { lines: [`name: ${r.pick(['release', 'publish', 'sync'])}`, 'on:', '  push:', '    branches: [main]', 'jobs:', '  run:', '    runs-on: ubuntu-latest', '    env:'] },
          { lines: [`      GH_TOKEN: ${fake.githubClassic(r, 'ghp')}`], plant: mark('github', 'workflow env', 0) },
          { lines: ['    steps:', '      - uses: actions/checkout@v4', '      - run: gh release create "$GITHUB_REF_NAME" --generate-notes'] },
        ],
      },
    }),
    ({ r, newPath }) => ({
      file: {
        path: newPath('scripts', `mirror-${r.pick(NOUNS)}.sh`),
        blocks: [{ lines: ['#!/usr/bin/env bash', 'set -euo pipefail', ''] }, { lines: [`curl -fsS -H "Authorization: token ${fake.githubClassic(r, 'ghp')}" https://api.github.com/repos/${r.pick(TEAMS)}/${r.pick(NOUNS)}/tarball -o src.tgz`], plant: mark('github', 'shell script', 0) }],
      },
    }),
    ({ r }) => ({ host: 'ts', block: { lines: [`const octokit = new Octokit({ auth: '${fake.githubFineGrained(r)}' });`, ''], plant: mark('github', 'fine-grained token in typescript', 0) } }),
    ({ r }) => ({ host: 'go', block: { lines: [`const githubAppToken = "${fake.githubClassic(r, 'ghs')}"`, ''], plant: mark('github', 'go constant', 0) } }),
    ({ r }) => ({ host: 'md', block: { lines: ['```sh', `export GITHUB_TOKEN=${fake.githubClassic(r, r.pick(['ghp', 'gho'] as const))}`, '```', ''], plant: mark('github', 'markdown snippet', 1) } }),
  ],
  slack: [
    ({ r }) => ({ host: 'ts', block: { lines: [`const slack = new WebClient('${fake.slackBot(r)}');`, ''], plant: mark('slack', 'bot token in typescript', 0) } }),
    ({ r }) => ({ host: 'py', block: { lines: [`SLACK_TOKEN = "${fake.slackUser(r)}"`, ''], plant: mark('slack', 'user token in python', 0) } }),
    ({ r }) => ({ host: 'values', block: { lines: ['alerting:', '  slack:', `    webhookUrl: ${fake.slackWebhook(r)}`, `    channel: "#${r.pick(TEAMS)}-alerts"`, ''], plant: mark('slack', 'webhook in Helm values', 2) } }),
    ({ r }) => ({ host: 'json', block: { lines: ['  "notifications": {', `    "slackBotToken": "${fake.slackBot(r)}",`, '    "channel": "deploys"', '  }'], plant: mark('slack', 'bot token in JSON', 1) } }),
  ],
  'db-connection': [
    ({ r, newPath, service }) => envFile(r, newPath(`services/${service()}`, '.env'), 'db-connection', 'postgres in dotenv', [`DATABASE_URL=postgres://${r.pick(['app', 'svc_orders', 'reporting'])}:${fake.password(r)}@db-${r.int(9)}.${r.pick(TEAMS)}.svc.cluster.local:5432/${r.pick(NOUNS)}?sslmode=require`]),
    ({ r }) => ({ host: 'py', block: { lines: [`MONGO_URI = "mongodb+srv://${r.pick(['analytics', 'ingest'])}:${fake.password(r)}@cluster0.${r.chars(5, LOWER + DIGITS)}.mongodb.net/${r.pick(NOUNS)}?retryWrites=true"`, ''], plant: mark('db-connection', 'mongodb in python', 0) } }),
    ({ r }) => ({ host: 'values', block: { lines: ['database:', `  url: mysql://${r.pick(['shop', 'legacy'])}:${fake.password(r)}@${r.pick(NOUNS)}.cluster-${r.chars(12, LOWER + DIGITS)}.eu-west-1.rds.amazonaws.com:3306/${r.pick(NOUNS)}`, '  pool: 20', ''], plant: mark('db-connection', 'mysql in Helm values', 1) } }),
    ({ r, newPath, service }) => {
      const name = service();
      return {
        file: {
          path: newPath(`services/${name}`, 'docker-compose.yml'),
          blocks: [
            { lines: ['services:', '  app:', `    image: ${name}:dev`, '    environment:'] },
            { lines: [`      - DATABASE_URL=postgresql://app:${fake.password(r)}@postgres:5432/app`], plant: mark('db-connection', 'postgresql in docker-compose', 0) },
            { lines: ['  postgres:', '    image: postgres:16', '    ports: ["5432:5432"]'] },
          ],
        },
      };
    },
    ({ r }) => ({ host: 'ts', block: { lines: [`const pool = new Pool({ connectionString: 'postgres://billing:${fake.password(r)}@billing-db.internal:5432/billing' });`, ''], plant: mark('db-connection', 'postgres in typescript', 0) } }),
  ],
  stripe: [
    ({ r, newPath, service }) => envFile(r, newPath(`services/${service()}`, '.env'), 'stripe', 'dotenv', [`STRIPE_SECRET_KEY=${fake.stripe(r)}`]),
    ({ r }) => ({ host: 'ts', block: { lines: [`const stripe = new Stripe('${fake.stripe(r)}', { apiVersion: '2024-06-20' });`, ''], plant: mark('stripe', 'typescript', 0) } }),
    ({ r }) => ({ host: 'py', block: { lines: [`stripe.api_key = "${fake.stripe(r)}"`, ''], plant: mark('stripe', 'python', 0) } }),
    ({ r }) => ({ host: 'values', block: { lines: ['payments:', `  stripeKey: ${fake.stripe(r)}`, ''], plant: mark('stripe', 'Helm values', 1) } }),
  ],
  npm: [
    ({ r, newPath, service }) => ({ file: { path: newPath(`services/${service()}`, '.npmrc'), blocks: [{ lines: ['registry=https://registry.npmjs.org/'] }, { lines: [`//registry.npmjs.org/:_authToken=${fake.npm(r)}`], plant: mark('npm', '.npmrc', 0) }, { lines: ['save-exact=true'] }] } }),
    ({ r, newPath }) => ({
      file: {
        path: newPath('.github/workflows', 'npm-publish.yml'),
        blocks: [{ lines: ['name: npm-publish', 'on: { release: { types: [published] } }', 'jobs:', '  publish:', '    runs-on: ubuntu-latest', '    env:'] }, { lines: [`      NODE_AUTH_TOKEN: ${fake.npm(r)}`], plant: mark('npm', 'workflow env', 0) }, { lines: ['    steps:', '      - run: npm publish --provenance'] }],
      },
    }),
    ({ r, newPath, service }) => ({ file: { path: newPath(`services/${service()}`, 'Dockerfile'), blocks: [{ lines: ['FROM node:20-slim AS build', 'WORKDIR /app'] }, { lines: [`RUN echo "//registry.npmjs.org/:_authToken=${fake.npm(r)}" > .npmrc && npm ci`], plant: mark('npm', 'Dockerfile', 0) }, { lines: ['COPY . .', 'RUN npm run build'] }] } }),
  ],
  openai: [
    ({ r, newPath, service }) => envFile(r, newPath(`services/${service()}`, '.env'), 'openai', 'dotenv', [`OPENAI_API_KEY=${fake.openai(r)}`]),
    ({ r }) => ({ host: 'py', block: { lines: [`client = OpenAI(api_key="${fake.openai(r)}")`, ''], plant: mark('openai', 'python', 0) } }),
    ({ r }) => ({ host: 'ts', block: { lines: [`const openai = new OpenAI({ apiKey: '${fake.openai(r)}' });`, ''], plant: mark('openai', 'typescript', 0) } }),
    ({ r }) => ({ host: 'json', block: { lines: ['  "llm": {', '    "model": "gpt-4o-mini",', `    "apiKey": "${fake.openai(r)}"`, '  }'], plant: mark('openai', 'JSON config', 2) } }),
  ],
};

// --- Kubernetes Secrets, sops files and EncryptedSecrets ---

interface SecretManifest {
  lines: string[];
  /** Index in `lines` of the first secret value (a username is data, but not the secret). */
  firstSecret: number;
  secretKey: string;
  object: Record<string, unknown>;
}

function secretManifest(r: Random, name: string, ns: string, field: 'data' | 'stringData'): SecretManifest {
  const keys = r.pick([['username', 'password'], ['api-key'], ['DB_PASSWORD', 'DB_USER', 'REDIS_PASSWORD'], ['client-secret', 'client-id']]);
  const isName = (k: string) => /user|id$/i.test(k);
  const values = keys.map((k) => (isName(k) ? `${r.pick(NOUNS)}-${r.pick(['app', 'svc'])}` : fake.password(r)));
  const shown = values.map((v) => (field === 'data' ? Buffer.from(v).toString('base64') : v));
  const head = ['apiVersion: v1', 'kind: Secret', 'metadata:', `  name: ${name}`, `  namespace: ${ns}`, 'type: Opaque', `${field}:`];
  return {
    lines: [...head, ...keys.map((k, i) => `  ${k}: ${shown[i]}`)],
    firstSecret: head.length + keys.findIndex((k) => !isName(k)),
    secretKey: keys.find((k) => !isName(k))!,
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, type: 'Opaque', [field]: Object.fromEntries(keys.map((k, i) => [k, shown[i]])) },
  };
}

/** The first value of `data`/`stringData` in a sealed EncryptedSecret, put back in clear. */
function unsealOneValue(sealed: string, json: boolean, clear: string): { text: string; line: number } {
  const lines = sealed.split('\n');
  const inSpec = lines.findIndex((l) => (json ? /^\s*"(data|stringData)": \{$/ : /^\s+(data|stringData):$/).test(l));
  const at = inSpec + 1;
  if (inSpec < 0 || !/ENC\[/.test(lines[at] ?? '')) throw new Error('scan corpus: sealed EncryptedSecret has no data value where expected');
  lines[at] = lines[at].replace(/ENC\[[^\]]*\]/, clear);
  return { text: lines.join('\n'), line: at + 1 };
}

const DOTFILE_SUFFIXES = ['local', 'staging', 'production', 'ci', 'test'];

/** The n-th name for a taken one, as people name them: `.env.local`, `values-2.yaml`. */
function variantName(name: string, n: number): string {
  const dot = name.indexOf('.', 1);
  if (name.startsWith('.') && dot < 0) return `${name}.${DOTFILE_SUFFIXES[(n - 2) % DOTFILE_SUFFIXES.length]}${n - 2 >= DOTFILE_SUFFIXES.length ? n : ''}`;
  return dot > 0 ? `${name.slice(0, dot)}-${n}${name.slice(dot)}` : `${name}-${n}`;
}

/** A plant whose object is the whole file. */
function inFile(path: string, text: string, line: number, kind: PlantKind, variant: string): Plant {
  return { path, line, kind, variant, region: [1, text.split('\n').length - 1] };
}

interface Built {
  text: string | Buffer;
  plants: Plant[];
}

/** Sizes of the ordinary files: a long-tailed spread, scaled afterwards to the byte budget. */
function plannedSize(r: Random): number {
  const u = r.float();
  return u < 0.6 ? 1500 + r.int(6000) : u < 0.92 ? 6000 + r.int(14000) : 20000 + r.int(60000);
}

const K8S_RULE = { kind: 'encrypted_regex', value: '^(data|stringData)$' } as const;

/** The repository, in memory until `write`. Every random choice goes through `r`, in a fixed order. */
class CorpusBuilder {
  readonly r: Random;
  readonly encrypted: string[] = [];
  readonly large: string[] = [];
  /** Credentials waiting for an ordinary file to host them. */
  readonly hosted: HostedPlant[] = [];
  readonly services: string[];
  private readonly files = new Map<string, Built>();
  private readonly used = new Set<string>();
  private keyGroups: MasterKeyRecipient[][] = [];
  recipient = '';

  constructor(readonly options: Required<CorpusOptions>) {
    this.r = new Random(options.seed);
    this.services = Array.from({ length: Math.max(3, Math.round(options.files / 60)) }, (_, i) => `${this.r.pick(NOUNS)}-${this.r.pick(['api', 'worker', 'web', 'gateway'])}${i}`);
  }

  /** A throwaway age key: only the recipient is needed, the identity is never written. */
  async useThrowawayKey(): Promise<void> {
    this.recipient = (await generateAgeIdentity()).recipient;
    this.keyGroups = await resolveKeyGroups([[{ type: 'age', value: this.recipient }]], { env: {} });
  }

  get count(): number {
    return this.files.size;
  }

  get bytes(): number {
    return [...this.files.values()].reduce((n, b) => n + Buffer.byteLength(b.text), 0);
  }

  /** A path not taken yet: `dir/name`, or the next variant of the name. */
  newPath = (dir: string, name: string): string => {
    let candidate = `${dir}/${name}`;
    for (let n = 2; this.used.has(candidate); n++) candidate = `${dir}/${variantName(name, n)}`;
    this.used.add(candidate);
    return candidate;
  };

  service = (): string => this.r.pick(this.services);

  /** The variant of each plant of a kind: the i-th plant takes variant i mod n. */
  variants(n: number): number[] {
    return Array.from({ length: this.options.plantsPerKind }, (_, i) => i % n);
  }

  put(p: string, text: string | Buffer, plants: Plant[] = []): void {
    this.used.add(p);
    this.files.set(p, { text, plants });
  }

  putSpec(spec: FileSpec): void {
    const { text, plants } = assemble(spec);
    this.put(spec.path, text, plants);
  }

  putEncrypted(p: string, text: Buffer | string): void {
    this.put(p, text);
    this.encrypted.push(p);
  }

  encrypt(plain: string, format: 'yaml' | 'json' | 'dotenv', rule?: typeof K8S_RULE): Promise<Buffer> {
    return encryptBytes(Buffer.from(plain), { format, keyGroups: this.keyGroups, rule, now: FIXED_DATE });
  }

  /** What `wax seal` writes for this Secret manifest. */
  async seal(manifest: unknown, format: 'yaml' | 'json'): Promise<string> {
    return (await sealSecret(manifest, { keyGroups: this.keyGroups, scope: 'strict', format, now: FIXED_DATE })).toString();
  }

  write(dir: string): Corpus {
    const plants: Plant[] = [];
    for (const [p, built] of this.files) {
      const full = path.join(dir, p);
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, built.text);
      plants.push(...built.plants);
    }
    const byPlace = (a: Plant, b: Plant) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.line - b.line);
    return { dir, paths: [...this.files.keys()].sort(), bytes: this.bytes, plants: plants.sort(byPlace), encrypted: [...this.encrypted].sort(), large: [...this.large].sort() };
  }
}

export async function generateScanCorpus(dir: string, options: CorpusOptions = {}): Promise<Corpus> {
  const b = new CorpusBuilder({ ...DEFAULTS, ...options });
  await b.useThrowawayKey();
  addRepositoryConfig(b);
  await addEncryptedFiles(b);
  plantKubernetesSecrets(b);
  await plantEncryptedSecretValues(b);
  await plantUnencryptedUnderRules(b);
  await plantDecryptedTwins(b);
  plantCredentials(b);
  addLockfilesAndBigFiles(b);
  addOrdinaryFiles(b);
  const corpus = b.write(dir);
  commitAll(dir);
  return corpus;
}

function addRepositoryConfig(b: CorpusBuilder): void {
  b.put('.sops.yaml', [
    '# Secret manifests: only data and stringData are encrypted, so reviews still see the rest.',
    'creation_rules:',
    '  - path_regex: ^clusters/[^/]+/secrets/.*\\.yaml$',
    `    encrypted_regex: '${K8S_RULE.value}'`,
    `    age: ${b.recipient}`,
    '  - path_regex: ^config/secrets/.*\\.(yaml|json|env)$',
    `    age: ${b.recipient}`,
    `  - age: ${b.recipient}`,
    '',
  ].join('\n'));
  b.put('.gitignore', 'node_modules/\ndist/\n.DS_Store\n*.dec.tmp\n');
  b.put('.editorconfig', 'root = true\n\n[*]\nindent_style = space\nindent_size = 2\nend_of_line = lf\n');
}

/** Files that must stay silent: Secrets under the first rule, app configs under the second, sealed EncryptedSecrets. */
async function addEncryptedFiles(b: CorpusBuilder): Promise<void> {
  const { r } = b;
  const count = Math.max(3, Math.round(b.options.plantsPerKind * 1.5));
  for (let i = 0; i < count; i++) {
    const m = secretManifest(r, kebab(r.pick(NOUNS), 'credentials'), r.pick(TEAMS), r.chance(0.5) ? 'data' : 'stringData');
    b.putEncrypted(b.newPath(`clusters/${ENVS[i % ENVS.length]}/secrets`, `${r.pick(NOUNS)}.yaml`), await b.encrypt(m.lines.join('\n') + '\n', 'yaml', K8S_RULE));
  }
  for (let i = 0; i < count; i++) {
    const format = (['yaml', 'json', 'dotenv'] as const)[i % 3];
    const values = distinctEntries(r.between(3, 8), () => camel(r.pick(NOUNS), r.pick(['secret', 'password', 'key', 'token'])), () => fake.password(r));
    const plain =
      format === 'yaml' ? values.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n'
      : format === 'json' ? JSON.stringify(Object.fromEntries(values), null, 2) + '\n'
      : values.map(([k, v]) => `${snake(k).toUpperCase()}=${v}`).join('\n') + '\n';
    b.putEncrypted(b.newPath('config/secrets', `${r.pick(NOUNS)}.${format === 'dotenv' ? 'env' : format}`), await b.encrypt(plain, format));
  }
  for (let i = 0; i < count; i++) {
    const json = i % 4 === 3;
    const m = secretManifest(r, kebab(r.pick(NOUNS), 'credentials'), r.pick(TEAMS), 'data');
    b.putEncrypted(b.newPath(`deploy/${r.pick(ENVS)}/${b.service()}`, `encryptedsecret.${json ? 'json' : 'yaml'}`), await b.seal(m.object, json ? 'json' : 'yaml'));
  }
}

/**
 * `count` key-value pairs with different keys: a mapping with a key twice is no valid
 * YAML (or a lossy JSON), and the encrypt step refuses it. A repeated key is drawn again
 * before its value, so a seed that never repeats makes the same corpus as before.
 */
function distinctEntries(count: number, drawKey: () => string, drawValue: () => string): [string, string][] {
  const entries = new Map<string, string>();
  while (entries.size < count) {
    let key = drawKey();
    while (entries.has(key)) key = drawKey();
    entries.set(key, drawValue());
  }
  return [...entries];
}

/** Plaintext Kubernetes Secrets: data and stringData, alone, among other documents, in JSON. */
function plantKubernetesSecrets(b: CorpusBuilder): void {
  const { r } = b;
  for (const v of b.variants(5)) {
    const name = kebab(r.pick(NOUNS), 'secret');
    const ns = r.pick(TEAMS);
    const dir = `deploy/${r.pick(ENVS)}/${b.service()}`;
    if (v === 4) {
      const m = secretManifest(r, name, ns, 'data');
      const text = JSON.stringify(m.object, null, 2) + '\n';
      const line = text.split('\n').findIndex((l) => l.startsWith(`    ${JSON.stringify(m.secretKey)}: `)) + 1;
      const p = b.newPath(dir, 'secret.json');
      b.put(p, text, [inFile(p, text, line, 'k8s-secret', 'data, JSON')]);
      continue;
    }
    const field = v === 1 || v === 3 ? 'stringData' : 'data';
    const m = secretManifest(r, name, ns, field);
    if (v < 2) {
      const p = b.newPath(dir, 'secret.yaml');
      const text = m.lines.join('\n') + '\n';
      b.put(p, text, [inFile(p, text, m.firstSecret + 1, 'k8s-secret', `${field}, single document`)]);
    } else {
      const app = kebab(r.pick(NOUNS), 'api');
      const before = [...deploymentDoc(r, app, ns), '---'];
      const docs = [...before, ...m.lines, '---', ...serviceDoc(r, app, ns)];
      const p = b.newPath(dir, 'all.yaml');
      const region = [before.length + 1, before.length + m.lines.length] as const;
      b.put(p, docs.join('\n') + '\n', [{ path: p, line: before.length + m.firstSecret + 1, kind: 'k8s-secret', variant: `${field}, multi-document YAML`, region }]);
    }
  }
}

/** Sealed EncryptedSecrets with one value put back in clear. */
async function plantEncryptedSecretValues(b: CorpusBuilder): Promise<void> {
  const { r } = b;
  for (const v of b.variants(3)) {
    const json = v === 2;
    const m = secretManifest(r, kebab(r.pick(NOUNS), 'credentials'), r.pick(TEAMS), 'data');
    const sealed = await b.seal(m.object, json ? 'json' : 'yaml');
    const { text, line } = unsealOneValue(sealed, json, Buffer.from(fake.password(r)).toString('base64'));
    const p = b.newPath(`deploy/${r.pick(ENVS)}/${b.service()}`, `encryptedsecret.${json ? 'json' : 'yaml'}`);
    b.put(p, text, [inFile(p, text, line, 'encryptedsecret-plaintext', json ? 'JSON' : 'YAML')]);
  }
}

/** Files under a creation rule left plaintext, or with one value added in clear by hand. */
async function plantUnencryptedUnderRules(b: CorpusBuilder): Promise<void> {
  const { r } = b;
  for (const v of b.variants(3)) {
    if (v === 0) {
      const m = secretManifest(r, kebab(r.pick(NOUNS), 'credentials'), r.pick(TEAMS), r.chance(0.5) ? 'data' : 'stringData');
      const p = b.newPath(`clusters/${r.pick(ENVS)}/secrets`, `${r.pick(NOUNS)}.yaml`);
      const text = m.lines.join('\n') + '\n';
      b.put(p, text, [inFile(p, text, 1, 'sops-unencrypted', 'Secret manifest')]);
    } else if (v === 1) {
      // Values no credential pattern knows: only the creation rule says they are secret.
      const p = b.newPath('config/secrets', `${r.pick(NOUNS)}.yaml`);
      const text = [`${camel(r.pick(NOUNS), 'signing')}: ${fake.password(r)}`, `ldapBind: ${fake.password(r)}`, `webhookHmac: ${r.chars(40, HEX)}`, `retries: ${r.between(1, 5)}`].join('\n') + '\n';
      b.put(p, text, [inFile(p, text, 1, 'sops-unencrypted', 'app config')]);
    } else {
      const entries = distinctEntries(r.between(2, 5), () => camel(r.pick(NOUNS), r.pick(['secret', 'password', 'key'])), () => fake.password(r));
      const plain = entries.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n';
      const lines = (await b.encrypt(plain, 'yaml')).toString().split('\n');
      const metadata = lines.indexOf('sops:');
      if (metadata < 0) throw new Error('scan corpus: an encrypted YAML file without its sops block');
      lines.splice(metadata, 0, `${camel(r.pick(NOUNS), 'token')}: ${fake.password(r)}`);
      const p = b.newPath('config/secrets', `${r.pick(NOUNS)}.yaml`);
      const text = lines.join('\n');
      b.put(p, text, [inFile(p, text, metadata + 1, 'sops-unencrypted', 'one value in clear in an encrypted file')]);
    }
  }
}

/** Decrypted twins: `x.dec.yaml` committed beside the encrypted `x.yaml`. */
async function plantDecryptedTwins(b: CorpusBuilder): Promise<void> {
  const { r } = b;
  for (const v of b.variants(2)) {
    let plain: string;
    let encryptedPath: string;
    if (v === 0) {
      plain = secretManifest(r, kebab(r.pick(NOUNS), 'credentials'), r.pick(TEAMS), 'stringData').lines.join('\n') + '\n';
      encryptedPath = b.newPath(`clusters/${r.pick(ENVS)}/secrets`, `${r.pick(NOUNS)}.yaml`);
      b.putEncrypted(encryptedPath, await b.encrypt(plain, 'yaml', K8S_RULE));
    } else {
      plain = ['postgresql:', '  auth:', `    password: ${fake.password(r)}`, `    replicationPassword: ${fake.password(r)}`, 'redis:', `  password: ${fake.password(r)}`].join('\n') + '\n';
      encryptedPath = b.newPath(`charts/${b.service()}`, 'secrets.yaml');
      b.putEncrypted(encryptedPath, await b.encrypt(plain, 'yaml'));
    }
    const twin = encryptedPath.replace(/\.yaml$/, '.dec.yaml');
    b.put(twin, plain, [inFile(twin, plain, 1, 'decrypted-twin', v === 0 ? 'Secret manifest' : 'Helm secrets values')]);
  }
}

/** Credentials: some in files of their own, the rest waiting for an ordinary file to host them. */
function plantCredentials(b: CorpusBuilder): void {
  const ctx: PlantContext = { r: b.r, newPath: b.newPath, service: b.service };
  for (const variants of Object.values(PLANTERS)) {
    for (const v of b.variants(variants.length)) {
      const planted = variants[v](ctx);
      if ('file' in planted) b.putSpec(planted.file);
      else b.hosted.push(planted);
    }
  }
}

function addLockfilesAndBigFiles(b: CorpusBuilder): void {
  const { r } = b;
  const { files, bytes } = b.options;
  const lockCount = Math.max(1, Math.round(files / 100));
  const largeCount = Math.max(1, Math.round(files / 250));
  for (let i = 0; i < lockCount; i++) {
    const size = Math.round(((bytes * LOCKFILE_SHARE) / lockCount) * (0.6 + 0.8 * r.float()));
    if (i % 3 === 2) b.put(b.newPath(`cmd/${r.pick(NOUNS)}`, 'go.sum'), goSum(r, size));
    else b.put(b.newPath(`services/${b.service()}`, 'package-lock.json'), packageLock(r, size));
  }
  for (let i = 0; i < largeCount; i++) {
    const size = Math.round(((bytes * LARGE_SHARE) / largeCount) * (0.75 + 0.5 * r.float()));
    const log = i % 2 === 0;
    const p = log ? b.newPath('logs', `${r.pick(NOUNS)}-api-2025-03-${String(1 + i).padStart(2, '0')}.log`) : b.newPath('data/exports', `${r.pick(NOUNS)}s-2024-q${1 + (i % 4)}.csv`);
    b.put(p, log ? logFile(r, size) : csvFile(r, size));
    b.large.push(p);
  }
}

/** Ordinary files fill the rest of the count and of the byte budget; the hosted credentials go into them. */
function addOrdinaryFiles(b: CorpusBuilder): void {
  const { r } = b;
  const count = b.options.files - b.count;
  if (count < b.hosted.length) throw new Error(`scan corpus: ${b.options.files} files is too few for ${b.options.plantsPerKind} plants of each kind`);
  // The first files have the types the hosted plants need; the rest follow the weights.
  const types: FillerType[] = b.hosted.map((h) => h.host);
  const weightSum = FILLER_WEIGHTS.reduce((n, [, w]) => n + w, 0);
  while (types.length < count) {
    let left = r.float() * weightSum;
    types.push((FILLER_WEIGHTS.find(([, w]) => (left -= w) < 0) ?? FILLER_WEIGHTS[0])[0]);
  }
  const sizes = types.map(() => plannedSize(r));
  const scale = Math.max(0.05, (b.options.bytes - b.bytes) / sizes.reduce((a, c) => a + c, 0));
  const specs: FileSpec[] = types.map((type, i) => {
    const p = fillerPath(r, type, b.newPath, b.services);
    return { path: p, blocks: fillBlocks(r, type, p, sizes[i] * scale), json: FILLERS[type].json };
  });
  // The i-th hosted plant goes between two blocks of the i-th file, whose type was chosen for it.
  b.hosted.forEach((h, i) => specs[i].blocks.splice(1 + r.int(Math.max(1, specs[i].blocks.length - 1)), 0, h.block));
  for (const spec of specs) b.putSpec(spec);
}

function fillerPath(r: Random, type: FillerType, newPath: (d: string, n: string) => string, services: string[]): string {
  const svc = r.pick(services);
  const noun = r.pick(NOUNS);
  const ext = EXTENSIONS[type];
  switch (type) {
    case 'ts':
    case 'js':
      return newPath(`services/${svc}/src${r.chance(0.4) ? `/${r.pick(NOUNS)}` : ''}`, `${kebab(noun, r.pick(['service', 'store', 'client', 'routes', 'handler']))}${r.chance(0.15) ? '.test' : ''}.${ext}`);
    case 'py':
      return newPath(`tools/${r.pick(NOUNS)}_${r.pick(['etl', 'jobs', 'ops'])}`, `${snake(noun, r.pick(['jobs', 'models', 'client']))}.py`);
    case 'go':
      return newPath(r.chance(0.5) ? `pkg/${noun}` : `internal/${noun}`, `${r.pick(NOUNS)}.go`);
    case 'md':
      return newPath(r.chance(0.3) ? `services/${svc}` : `docs/${r.pick(NOUNS)}`, `${r.chance(0.3) ? 'README' : kebab(noun, r.pick(['guide', 'runbook', 'design']))}.md`);
    case 'manifest':
      return newPath(`deploy/${r.pick(ENVS)}/${svc}`, `${r.pick(['deployment', 'service', 'configmap', 'resources'])}.yaml`);
    case 'values':
      return newPath(`charts/${svc}`, r.chance(0.4) ? 'values.yaml' : `values-${r.pick(ENVS)}.yaml`);
    case 'json':
      return newPath(r.chance(0.5) ? `services/${svc}/config` : `config/${r.pick(ENVS)}`, `${noun}.json`);
    case 'sh':
      return newPath('scripts', `${kebab(r.pick(VERBS), noun)}.sh`);
  }
}

/** A reproducible commit: fixed identity and dates, no global or system config, no hooks. */
function commitAll(dir: string): void {
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'wax bench',
    GIT_AUTHOR_EMAIL: 'bench@wax.invalid',
    GIT_COMMITTER_NAME: 'wax bench',
    GIT_COMMITTER_EMAIL: 'bench@wax.invalid',
    GIT_AUTHOR_DATE: GIT_DATE,
    GIT_COMMITTER_DATE: GIT_DATE,
  };
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['-c', 'core.hooksPath=/dev/null', 'commit', '-q', '--no-gpg-sign', '-m', 'generated scan corpus']]) {
    const result = spawnSync('git', args, { cwd: dir, env, encoding: 'utf8' });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`scan corpus: git ${args.join(' ')} failed: ${result.stderr.trim()}`);
  }
}
