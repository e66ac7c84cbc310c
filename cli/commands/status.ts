/**
 * `wax status` and `wax wait`: the feedback loop GitOps lacks. Both read only the
 * EncryptedSecrets' status (controller/status.ts is the contract), never a Secret, so
 * nothing they print can hold a secret value.
 *
 * `@kubernetes/client-node` is imported inside the commands: it is large and kept out of
 * the bundle, and no other command should pay for loading it.
 */
import type { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { isPermanentReason, readStatus, readyCondition } from '../../controller/status.js';
import { ENCRYPTED_SECRET_API_VERSION } from '../../src/encrypted-secret.js';
import { importExternal } from '../../src/external-import.js';
import {
  ConfigError, ConflictingParametersError, EncryptedSecretFailedError, KubernetesApiError, UsageError, WaitTimeoutError,
} from '../../src/errors.js';
import { warn } from '../output.js';

const [GROUP, VERSION] = ENCRYPTED_SECRET_API_VERSION.split('/') as [string, string];
const PLURAL = 'encryptedsecrets';
const RESOURCE = `${PLURAL}.${GROUP}`;
const POLL_MS = 1000;

// Objects come from the wire; only the fields read below are typed.
interface KubeObject {
  metadata?: { name?: string; namespace?: string; generation?: number; creationTimestamp?: string | Date };
  status?: unknown;
}

export interface ClusterOptions {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
}

export interface StatusOptions extends ClusterOptions {
  allNamespaces?: boolean;
  output?: string;
}

export interface WaitOptions extends ClusterOptions {
  timeout?: string;
}

// ---------------------------------------------------------------------------- connecting

interface Cluster {
  api: CustomObjectsApi;
  namespace: string;
  server: string;
}

async function connect(options: ClusterOptions): Promise<Cluster> {
  const k8s = await importExternal<typeof import('@kubernetes/client-node')>('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  loadKubeconfig(kc, options);
  const context = kc.getContextObject(kc.getCurrentContext());
  return {
    api: kc.makeApiClient(k8s.CustomObjectsApi),
    namespace: options.namespace ?? context?.namespace ?? 'default',
    server: kc.getCurrentCluster()?.server ?? '(no server)',
  };
}

function loadKubeconfig(kc: KubeConfig, options: ClusterOptions): void {
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    const what = options.kubeconfig ?? 'the kubeconfig';
    const code = (error as NodeJS.ErrnoException).code;
    // The parser's own message may quote the file, which can hold a token: say only what failed.
    throw new ConfigError(code === 'ENOENT' ? `${what}: no such file` : `${what}: not a valid kubeconfig`, 'pass --kubeconfig PATH or set KUBECONFIG');
  }
  if (options.context === undefined) return;
  if (!kc.getContextObject(options.context)) {
    throw new UsageError(`no context '${options.context}' in the kubeconfig`, `contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`);
  }
  kc.setCurrentContext(options.context);
}

interface ApiFailure {
  /** HTTP status, or undefined when no answer came (connection refused, DNS, TLS). */
  code?: number;
  reason: string;
  /** Whether asking again later may succeed (network, 429, 5xx). */
  transient: boolean;
  /** 404 for this very object (not the resource type missing). */
  objectNotFound: boolean;
}

/**
 * What a client-node failure means. The ApiException's own message embeds the response
 * headers and body, so it is never shown; only the Status' reason, and its message for
 * 401/403 (it names the user and verb, which is what one needs to fix RBAC).
 */
function describeFailure(error: unknown, name?: string): ApiFailure {
  const e = error as { code?: unknown; body?: unknown; cause?: { code?: unknown }; errno?: unknown };
  if (typeof e.code !== 'number') {
    const socket = [e.code, e.cause?.code, e.errno].find((c) => typeof c === 'string') as string | undefined;
    return { reason: socket ?? (error instanceof Error ? error.constructor.name : 'no response'), transient: true, objectNotFound: false };
  }
  const status = parseStatus(e.body);
  const reason = e.code === 401 || e.code === 403 ? (status.message ?? status.reason ?? `HTTP ${e.code}`) : `HTTP ${e.code}${status.reason ? ` ${status.reason}` : ''}`;
  const transient = e.code === 429 || e.code >= 500;
  return { code: e.code, reason, transient, objectNotFound: e.code === 404 && name !== undefined && status.name === name };
}

function parseStatus(body: unknown): { reason?: string; message?: string; name?: string } {
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { reason?: unknown; message?: unknown; details?: { name?: unknown } };
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { reason: text(status?.reason), message: text(status?.message), name: text(status?.details?.name) };
  } catch {
    return {};
  }
}

function apiError(cluster: Cluster, failure: ApiFailure): KubernetesApiError {
  if (failure.code === undefined) {
    return new KubernetesApiError(`cannot reach the Kubernetes API server at ${cluster.server} (${failure.reason})`, 'check --kubeconfig, --context and that the cluster is up');
  }
  if (failure.code === 404) {
    return new KubernetesApiError(`the ${RESOURCE} resource is not served by ${cluster.server} (${failure.reason})`, 'install the wax CRD (kubectl apply -k controller/deploy)');
  }
  const hint = failure.code === 401 || failure.code === 403 ? `check the kubeconfig's credentials and RBAC: get and list on ${RESOURCE}` : undefined;
  return new KubernetesApiError(`Kubernetes API server ${cluster.server}: ${failure.reason}`, hint);
}

// ---------------------------------------------------------------------------- reading objects

async function getObject(cluster: Cluster, namespace: string, name: string): Promise<KubeObject | undefined> {
  try {
    return (await cluster.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as KubeObject;
  } catch (error) {
    const failure = describeFailure(error, name);
    if (failure.objectNotFound) return undefined;
    throw apiError(cluster, failure);
  }
}

async function listObjects(cluster: Cluster, namespace: string | undefined): Promise<KubeObject[]> {
  try {
    const list = (namespace === undefined
      ? await cluster.api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
      : await cluster.api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })) as { items?: KubeObject[] };
    return list.items ?? [];
  } catch (error) {
    throw apiError(cluster, describeFailure(error));
  }
}

// ---------------------------------------------------------------------------- what the status says

interface Summary {
  namespace: string;
  name: string;
  generation?: number;
  ready: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  secretName?: string;
  decryptedWith?: string;
  lastDecryptedAt?: string;
  createdAt?: string;
}

/**
 * The Ready condition, but only if it speaks of the object's current generation: a
 * condition about an older spec says nothing about what was just applied, so it reads
 * as Unknown / Progressing. A condition without its own observedGeneration is judged by
 * the status' one.
 */
export function summarize(object: KubeObject): Summary {
  const meta = object.metadata ?? {};
  const status = readStatus(object);
  const condition = readyCondition(status);
  const generation = meta.generation;
  const conditionGeneration = condition?.observedGeneration ?? status?.observedGeneration;
  const current = generation === undefined || (status?.observedGeneration === generation && conditionGeneration === generation);
  const base = {
    namespace: meta.namespace ?? '', name: meta.name ?? '', generation,
    secretName: status?.secretName, decryptedWith: status?.decryptedWith, lastDecryptedAt: status?.lastDecryptedAt,
    createdAt: meta.creationTimestamp === undefined ? undefined : new Date(meta.creationTimestamp).toISOString(),
  };
  if (!condition || !current) {
    const observed = status?.observedGeneration;
    const message = `the controller has not yet reported on generation ${generation ?? '?'}${observed === undefined ? '' : ` (last observed ${observed})`}`;
    return { ...base, ready: 'Unknown', reason: 'Progressing', message };
  }
  const ready = condition.status === 'True' || condition.status === 'False' ? condition.status : 'Unknown';
  return { ...base, ready, reason: condition.reason, message: oneLine(condition.message ?? '') };
}

/** Condition messages go to a terminal or a CI log: one line, bounded. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}

/** A kubectl-style age: 45s, 3m, 5h, 12d. */
export function age(since: string | undefined, now = Date.now()): string {
  if (!since) return '-';
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (Number.isNaN(seconds)) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

// ---------------------------------------------------------------------------- wax status

/** Prints the table (or JSON); exit 0 whatever the objects say: it is a report, `wax wait` is the gate. */
export async function statusCommand(names: string[], options: StatusOptions): Promise<number> {
  if (options.allNamespaces && options.namespace !== undefined) throw new ConflictingParametersError('-n and -A cannot be used together');
  if (options.allNamespaces && names.length > 0) throw new UsageError('names cannot be given with -A', 'name the namespace with -n instead');
  const cluster = await connect(options);
  const namespace = options.allNamespaces ? undefined : cluster.namespace;
  const objects = names.length > 0 ? await getNamed(cluster, cluster.namespace, names) : await listObjects(cluster, namespace);
  const rows = objects.map(summarize).sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  if (options.output === 'json') {
    process.stdout.write(`${JSON.stringify({ items: rows.map(jsonItem) }, null, 2)}\n`);
  } else if (rows.length === 0) {
    process.stderr.write(`No EncryptedSecrets found${namespace === undefined ? '' : ` in namespace ${namespace}`}.\n`);
  } else {
    process.stdout.write(table(rows));
  }
  return 0;
}

async function getNamed(cluster: Cluster, namespace: string, names: string[]): Promise<KubeObject[]> {
  const found = await Promise.all(unique(names).map((name) => getObject(cluster, namespace, name)));
  unique(names).forEach((name, i) => found[i] ?? warn(`${namespace}/${name}: no such EncryptedSecret`));
  return found.filter((o): o is KubeObject => o !== undefined);
}

function jsonItem(row: Summary): Record<string, unknown> {
  const { namespace, name, generation, ready, reason, message, secretName, decryptedWith, lastDecryptedAt } = row;
  return { namespace, name, generation, ready, reason, message, secretName, decryptedWith, lastDecryptedAt };
}

function table(rows: Summary[]): string {
  const now = Date.now();
  const header = ['NAMESPACE', 'NAME', 'READY', 'REASON', 'SECRET', 'DECRYPTED WITH', 'LAST DECRYPT', 'AGE'];
  const cells = rows.map((r) => [r.namespace, r.name, r.ready, r.reason, r.secretName ?? '-', r.decryptedWith ?? '-', age(r.lastDecryptedAt, now), age(r.createdAt, now)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `${c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]! + 3))).join('')}\n`;
  return [header, ...cells].map(line).join('');
}

const unique = (names: string[]) => [...new Set(names)];

// ---------------------------------------------------------------------------- wax wait

interface Pending {
  /** What the object said last: its reason, or `not found`, or the API failure. */
  last: string;
}

/**
 * Polls each pending object every second until it is Ready at its current generation.
 * Missing objects and transient API failures are waited through (a pipeline runs this
 * right after `kubectl apply`, maybe during a control-plane upgrade); a permanent reason
 * at the current generation, or an RBAC refusal, ends the wait at once.
 */
export async function waitCommand(names: string[], options: WaitOptions): Promise<number> {
  const timeoutMs = parseDuration(options.timeout ?? '2m');
  const cluster = await connect(options);
  const deadline = Date.now() + timeoutMs;
  const pending = new Map<string, Pending>(unique(names).map((name) => [name, { last: 'not found' }]));
  for (;;) {
    await withDeadline(pollOnce(cluster, pending), deadline);
    if (pending.size === 0) return 0;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut(cluster.namespace, pending, options.timeout ?? '2m');
    await sleep(Math.min(POLL_MS, remaining));
  }
}

async function pollOnce(cluster: Cluster, pending: Map<string, Pending>): Promise<void> {
  await Promise.all([...pending.keys()].map(async (name) => {
    const summary = await observe(cluster, name, pending.get(name)!);
    if (summary) settle(cluster.namespace, name, summary, pending);
  }));
}

/** The object's summary, or undefined (with `last` updated) when it cannot be read yet. */
async function observe(cluster: Cluster, name: string, state: Pending): Promise<Summary | undefined> {
  try {
    const object = await cluster.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: cluster.namespace, name });
    return summarize(object as KubeObject);
  } catch (error) {
    const failure = describeFailure(error, name);
    // A 404 for the resource type too: the CRD may be applied in the same pipeline step.
    if (failure.code === 404) state.last = 'not found';
    else if (failure.transient) state.last = `API: ${failure.code === undefined ? apiError(cluster, failure).message : failure.reason}`;
    else throw apiError(cluster, failure);
    return undefined;
  }
}

function settle(namespace: string, name: string, summary: Summary, pending: Map<string, Pending>): void {
  if (summary.ready === 'True') {
    pending.delete(name);
    process.stdout.write(`${namespace}/${name}: Ready (${summary.reason}, generation ${summary.generation ?? '?'})\n`);
    return;
  }
  // summarize() already turned a condition about an older generation into Progressing.
  if (isPermanentReason(summary.reason)) {
    throw new EncryptedSecretFailedError(
      `${namespace}/${name}: Ready=${summary.ready}, reason ${summary.reason}: ${summary.message || 'no message'}`,
      `see \`wax status -n ${namespace} ${name}\` and the controller's events (kubectl describe encryptedsecret -n ${namespace} ${name})`,
    );
  }
  pending.get(name)!.last = summary.reason;
}

function timedOut(namespace: string, pending: Map<string, Pending>, timeout: string): WaitTimeoutError {
  const list = [...pending].map(([name, state]) => `${namespace}/${name} (${state.last})`).join(', ');
  return new WaitTimeoutError(`timed out after ${timeout} waiting for ${list}`, 'see `wax status` and the controller logs; raise --timeout if the controller is just slow');
}

/** A request that hangs must not outlive --timeout; the poll it belongs to is abandoned. */
async function withDeadline(work: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  // An abandoned poll may still fail later; that must not surface as an unhandled rejection.
  work.catch(() => undefined);
  const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + POLL_MS)));
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Go-style durations as kubectl takes them: 90s, 2m, 1h30m, 500ms; a bare number is seconds. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new UsageError(`--timeout: '${text}' is not a duration`, 'use for example 90s, 2m or 1h30m');
  }
  return parts.reduce((total, p) => total + Number(p[1]) * units[p[2]!]!, 0);
}
