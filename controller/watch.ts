/**
 * The controller loop (design.md: list/watch/relist, per-object queue, retry policy by
 * error class): informers on EncryptedSecrets and on the Secrets wax manages feed a
 * WorkQueue of `namespace/name` keys; a worker reads both objects, asks the pure
 * `reconcile` what to do and carries it out with the fewest API writes.
 *
 * What client-node 1.4 does and does not do for us (learnt against test/fakes): an
 * informer relists by itself on 410 Gone and re-watches after a clean close, but it STOPS
 * after any other list/watch failure (connection refused, 5xx) and only emits `error`, so
 * every informer here is restarted after a capped exponential backoff. Its API clients
 * open a new connection per call, so the ones here come from api-client.ts (keep-alive).
 *
 * Logs are structured records with keys, actions, reasons and durations only: Secret
 * data, ciphertexts and API response bodies (which may echo an object) are never logged.
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { ProviderContext } from '../src/providers/index.js';
import { ENCRYPTED_SECRET_API_VERSION, ENCRYPTED_SECRET_KIND } from '../src/encrypted-secret.js';
import { ApiClients } from './api-client.js';
import { WorkQueue, type BackoffOptions, type WorkOutcome } from './queue.js';
import { classifyError, MANAGED_BY_LABEL, MANAGED_BY_VALUE, reconcile, type ReconcileResult } from './reconcile.js';
import { readyCondition, Reason } from './status.js';

type Plain = Record<string, any>;
type Cache = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
export type LogRecord = Record<string, unknown>;

const GROUP = 'wax.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'encryptedsecrets';
const CR = { group: GROUP, version: VERSION, plural: PLURAL };
const SECRET_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const COMPONENT = 'wax-controller';
// client-node sends JSON patches unless told otherwise; a merge patch is what we build.
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const DEFAULT_WATCH_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, jitter: 0.2 };
/**
 * Keys reconciled at once. 8 was measured too (bench/controller-scale.ts, 2,000 objects on
 * a shared 2-core machine): a median 10.5 s to Ready against 11.7 s with 4, but a peak RSS
 * above the 200 MB target in 2 of 10 runs (more garbage in flight grows V8's heap).
 */
export const DEFAULT_CONCURRENCY = 4;
/**
 * How long workers wait for the Secret caches to list before running without them. Each
 * key reconciled before its Secret is cached costs a create that fails 409 and a GET;
 * waiting forever, as client-go's WaitForCacheSync does, would stop every EncryptedSecret
 * when Secrets cannot be listed (RBAC, an API server fault), so the wait is bounded.
 */
export const DEFAULT_CACHE_SYNC_TIMEOUT_MS = 30_000;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  ctx: ProviderContext;
  /** Namespaces to watch; all namespaces when absent or empty. */
  namespaces?: string[];
  /** Period of the full resync; none when absent or 0. */
  resyncMs?: number;
  concurrency?: number;
  now?: () => Date;
  log?: (record: LogRecord) => void;
  /** Retry delays of the work queue (transient failures). */
  backoff?: Partial<BackoffOptions>;
  /** Delays before restarting an informer that stopped on an error. */
  watchBackoff?: Partial<BackoffOptions>;
  decryptionOrder?: string[];
  /** See DEFAULT_CACHE_SYNC_TIMEOUT_MS. */
  cacheSyncTimeoutMs?: number;
}

export interface RunningController {
  /** Stops the informers and the queue, waiting for the reconciles in flight. Idempotent. */
  stop(): Promise<void>;
  /** True once every informer has listed at least once, until stop(). */
  ready(): boolean;
  /** Keys queued or waiting on a retry. */
  queueDepth(): number;
}

/** One informer and its restart state. */
interface Watched {
  label: string;
  namespace?: string;
  informer: Cache;
  synced: boolean;
  failures: number;
  /** Set by an error during the current start attempt, so its success is not counted. */
  failedAttempt: boolean;
  timer?: NodeJS.Timeout;
}

export function startController(options: ControllerOptions): RunningController {
  const controller = new Controller(options);
  controller.start();
  return { stop: () => controller.stop(), ready: () => controller.ready(), queueDepth: () => controller.queue.depth };
}

/** The default sink: one JSON line per record on stderr, as log collectors expect. */
function stderrLog(record: LogRecord): void {
  process.stderr.write(`${JSON.stringify(record)}\n`);
}

class Controller {
  readonly queue: WorkQueue;
  private readonly clients: ApiClients;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly now: () => Date;
  private readonly sink: (record: LogRecord) => void;
  private readonly watchBackoff: BackoffOptions;
  private readonly esInformers: Watched[] = [];
  private readonly secretInformers: Watched[] = [];
  /** resourceVersions we wrote: their watch events are our own echo, not a change. */
  private readonly ownSecretVersions = new Map<string, string>();
  private readonly ownStatusVersions = new Map<string, string>();
  /** Generation at which a key last failed permanently: resync skips it until it changes. */
  private readonly permanentAt = new Map<string, number | undefined>();
  /**
   * Keys whose worker is running, with the watch events that came meanwhile. The echo of a
   * write often arrives before the write's own response (which is where its resourceVersion
   * is learnt), so these are judged when the worker ends, not on arrival: otherwise nearly
   * every first pass would run each key twice.
   */
  private readonly seenWhileRunning = new Map<string, Array<{ own: Map<string, string>; version?: string }>>();
  private stopped = false;
  private stopping?: Promise<void>;
  private cacheSyncTimer?: NodeJS.Timeout;

  constructor(private readonly options: ControllerOptions) {
    this.clients = new ApiClients(options.kubeConfig);
    this.core = this.clients.make(CoreV1Api);
    this.custom = this.clients.make(CustomObjectsApi);
    this.now = options.now ?? (() => new Date());
    this.sink = options.log ?? stderrLog;
    this.watchBackoff = { ...DEFAULT_WATCH_BACKOFF, ...options.watchBackoff };
    this.queue = new WorkQueue({
      handler: (key) => this.work(key),
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      backoff: options.backoff,
      classify: classifyError,
      resyncMs: options.resyncMs,
      onResync: () => this.resync(),
      // Until the managed Secrets are cached, a worker would take every Secret for missing.
      paused: true,
    });
  }

  start(): void {
    const namespaces = this.options.namespaces?.length ? this.options.namespaces : [undefined];
    for (const namespace of namespaces) {
      this.esInformers.push(this.watchEncryptedSecrets(namespace));
      this.secretInformers.push(this.watchSecrets(namespace));
    }
    for (const watched of [...this.esInformers, ...this.secretInformers]) this.launch(watched);
    const timeoutMs = this.options.cacheSyncTimeoutMs ?? DEFAULT_CACHE_SYNC_TIMEOUT_MS;
    this.cacheSyncTimer = setTimeout(() => this.startWorkers(false), timeoutMs);
    this.log('info', 'controller started', { namespaces: this.options.namespaces ?? 'all' });
  }

  /** Workers start once every Secret informer has listed, or when the wait times out. */
  private startWorkers(synced: boolean): void {
    if (this.stopped || !this.queue.isPaused) return;
    clearTimeout(this.cacheSyncTimer);
    if (synced) this.log('info', 'caches synced; workers started', {});
    else this.log('warn', 'Secret cache not synced; workers started without it', { informers: this.secretInformers.filter((w) => !w.synced).map((w) => w.label) });
    this.queue.resume();
  }

  ready(): boolean {
    return !this.stopped && [...this.esInformers, ...this.secretInformers].every((w) => w.synced);
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    // Flag first: stopping an informer aborts its watch, which client-node reports as an error.
    this.stopped = true;
    clearTimeout(this.cacheSyncTimer);
    const all = [...this.esInformers, ...this.secretInformers];
    for (const watched of all) clearTimeout(watched.timer);
    await Promise.all(all.map((watched) => watched.informer.stop()));
    await this.queue.shutdown();
    // Idle keep-alive sockets would otherwise hold the process (and the API server) open.
    this.clients.destroy();
    this.log('info', 'controller stopped', {});
  }

  // ------------------------------------------------------------------ informers

  private watchEncryptedSecrets(namespace?: string): Watched {
    const path = namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
    const list = namespace
      ? () => this.custom.listNamespacedCustomObject({ ...CR, namespace })
      : () => this.custom.listClusterCustomObject(CR);
    const informer = makeInformer(this.options.kubeConfig, path, list as () => Promise<any>) as Cache;
    const watched = this.watched(`${PLURAL}@${namespace ?? '*'}`, informer, namespace);
    informer.on('add', (object) => this.onChange(object, this.ownStatusVersions));
    informer.on('update', (object) => this.onChange(object, this.ownStatusVersions));
    // Nothing to clean up in the cluster (the Secret's ownerReference lets GC delete it),
    // but the worker must run to drop what we remember about the key.
    informer.on('delete', (object) => this.kick(keyOf(object)));
    return watched;
  }

  private watchSecrets(namespace?: string): Watched {
    const path = namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets';
    const list = namespace
      ? () => this.core.listNamespacedSecret({ namespace, labelSelector: SECRET_SELECTOR })
      : () => this.core.listSecretForAllNamespaces({ labelSelector: SECRET_SELECTOR });
    const informer = makeInformer(this.options.kubeConfig, path, list as () => Promise<any>, SECRET_SELECTOR) as Cache;
    const watched = this.watched(`secrets@${namespace ?? '*'}`, informer, namespace);
    informer.on('add', (object) => this.onChange(object, this.ownSecretVersions));
    informer.on('update', (object) => this.onChange(object, this.ownSecretVersions));
    informer.on('delete', (object) => this.kick(keyOf(object)));
    return watched;
  }

  private watched(label: string, informer: Cache, namespace?: string): Watched {
    const watched: Watched = { label, namespace, informer, synced: false, failures: 0, failedAttempt: false };
    informer.on('error', (error) => this.onInformerError(watched, error));
    return watched;
  }

  /** start() resolves after the list and the watch request; an error during it arrives first. */
  private launch(watched: Watched): void {
    if (this.stopped) return;
    watched.failedAttempt = false;
    watched.informer.start().then(
      () => {
        if (watched.failedAttempt || this.stopped) return;
        if (watched.failures > 0) this.log('info', 'informer recovered', { informer: watched.label, failures: watched.failures });
        watched.synced = true;
        watched.failures = 0;
        if (this.secretInformers.every((w) => w.synced)) this.startWorkers(true);
      },
      (error) => this.onInformerError(watched, error),
    );
  }

  private onInformerError(watched: Watched, error: unknown): void {
    if (this.stopped) return;
    watched.failedAttempt = true;
    if (watched.timer) return;
    watched.failures += 1;
    const delayMs = backoffDelay(watched.failures, this.watchBackoff);
    this.log('warn', 'informer stopped; restarting', { informer: watched.label, attempt: watched.failures, retryInMs: delayMs, error: describeError(error) });
    watched.timer = setTimeout(() => {
      watched.timer = undefined;
      this.launch(watched);
    }, delayMs);
  }

  /** A changed object: run now, past any backoff, unless it is the echo of our own write. */
  private onChange(object: KubernetesObject, ownVersions: Map<string, string>): void {
    const key = keyOf(object);
    const version = object.metadata?.resourceVersion;
    const seen = this.seenWhileRunning.get(key);
    if (seen) {
      seen.push({ own: ownVersions, version });
      return;
    }
    if (version !== undefined && ownVersions.get(key) === version) return;
    this.kick(key);
  }

  /** After a worker: any event seen while it ran that was not its own write runs the key again. */
  private settleSeen(key: string): void {
    const seen = this.seenWhileRunning.get(key) ?? [];
    this.seenWhileRunning.delete(key);
    if (seen.some(({ own, version }) => version === undefined || own.get(key) !== version)) this.kick(key);
  }

  private kick(key: string): void {
    this.queue.forget(key);
    this.queue.add(key);
  }

  private resync(): void {
    let enqueued = 0;
    let skipped = 0;
    for (const watched of this.esInformers) {
      for (const object of watched.informer.list()) {
        const key = keyOf(object);
        if (this.permanentAt.has(key) && this.permanentAt.get(key) === object.metadata?.generation) {
          skipped += 1;
          continue;
        }
        this.queue.add(key);
        enqueued += 1;
      }
    }
    this.log('debug', 'resync', { enqueued, skipped });
  }

  // ------------------------------------------------------------------ worker

  private cached(namespace: string, name: string): Plain | undefined {
    const watched = this.esInformers.find((w) => w.namespace === undefined || w.namespace === namespace);
    return watched?.informer.get(name, namespace) as Plain | undefined;
  }

  private async work(key: string): Promise<WorkOutcome> {
    // A resync is served from the caches with no I/O to wait on: without this turn of the
    // event loop, thousands of keys would run as one chain of microtasks, and health probes,
    // watch events and log lines would wait for all of them.
    await setImmediatePromise();
    this.seenWhileRunning.set(key, []);
    try {
      return await this.workOnce(key);
    } finally {
      this.settleSeen(key);
    }
  }

  private async workOnce(key: string): Promise<WorkOutcome> {
    const started = performance.now();
    const [namespace, name] = splitKey(key);
    const es = this.cached(namespace, name);
    if (!es) {
      this.forgetKey(key);
      this.log('info', 'reconcile skipped', { key, reason: 'EncryptedSecret deleted', durationMs: elapsed(started) });
      return 'success';
    }
    try {
      const result = await this.reconcileOnce(es, namespace, name);
      const outcome: WorkOutcome = result.errorClass ?? 'success';
      this.remember(key, es, result, outcome);
      // decryptedWith (key types and ids, never key material) and decryptMs feed controller/metrics.ts.
      this.log(outcome === 'success' ? 'info' : 'warn', 'reconciled', {
        key, action: result.action, replace: result.replace === true, reason: readyCondition(result.status)?.reason, outcome,
        statusWritten: result.statusChanged, durationMs: elapsed(started), decryptMs: result.decryptMs,
        ...(outcome === 'success' ? { decryptedWith: result.status.decryptedWith } : {}),
      });
      return outcome;
    } catch (error) {
      this.log('warn', 'reconcile failed', { key, outcome: classifyError(error), error: describeError(error), durationMs: elapsed(started) });
      throw error;
    }
  }

  /**
   * Secret write first, then status, then event: the status never claims a Secret that is
   * not there. The Secret comes from the informer cache of managed Secrets, which saves a
   * GET per object; a Secret the cache does not hold (not ours, unlabelled, or not synced
   * yet) makes the create fail with 409, and only then is it read and decided again.
   */
  private async reconcileOnce(es: Plain, namespace: string, name: string): Promise<ReconcileResult & { decryptMs: number }> {
    const decryptStarted = performance.now();
    let existingSecret = this.cachedSecret(namespace, name);
    let result = await this.decide(es, existingSecret);
    const decryptMs = elapsed(decryptStarted);
    try {
      await this.writeSecret(result, existingSecret);
    } catch (error) {
      if (!(statusCode(error) === 409 && result.action === 'create')) throw error;
      existingSecret = await this.readSecret(namespace, name);
      result = await this.decide(es, existingSecret);
      await this.writeSecret(result, existingSecret);
    }
    if (result.statusChanged) await this.writeStatus(es, result);
    if (result.event) await this.emitEvent(es, result.event);
    return { ...result, decryptMs };
  }

  /** The informer's own objects, uncopied: reconcile never writes to its inputs (reconcile.test.ts freezes them to prove it). */
  private decide(es: Plain, existingSecret: Plain | undefined): Promise<ReconcileResult> {
    return reconcile({ encryptedSecret: es, existingSecret, ctx: this.options.ctx, now: this.now(), decryptionOrder: this.options.decryptionOrder });
  }

  private cachedSecret(namespace: string, name: string): Plain | undefined {
    const watched = this.secretInformers.find((w) => w.namespace === undefined || w.namespace === namespace);
    return watched?.informer.get(name, namespace) as Plain | undefined;
  }

  private remember(key: string, es: Plain, result: ReconcileResult, outcome: WorkOutcome): void {
    // A SecretConflict waits on a Secret we do not watch (no managed-by label): resync must retry it.
    const reason = readyCondition(result.status)?.reason;
    if (outcome === 'permanent' && reason !== Reason.SecretConflict) this.permanentAt.set(key, es.metadata?.generation);
    else this.permanentAt.delete(key);
  }

  private forgetKey(key: string): void {
    this.permanentAt.delete(key);
    this.ownSecretVersions.delete(key);
    this.ownStatusVersions.delete(key);
  }

  private async readSecret(namespace: string, name: string): Promise<Plain | undefined> {
    try {
      return (await this.core.readNamespacedSecret({ namespace, name })) as Plain;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  private async writeSecret(result: ReconcileResult, existing: Plain | undefined): Promise<void> {
    if (!result.secret || (result.action !== 'create' && result.action !== 'update')) return;
    if (result.action === 'create') return this.createSecret(result.secret);
    if (result.replace) return this.recreateSecret(result.secret, existing);
    // resourceVersion in the body (set by reconcile): a concurrent edit gives 409 → transient retry.
    const written = await this.core.replaceNamespacedSecret({ namespace: result.secret.metadata.namespace, name: result.secret.metadata.name, body: result.secret });
    this.noteOwnWrite(this.ownSecretVersions, written);
  }

  private async createSecret(secret: Plain): Promise<void> {
    const written = await this.core.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret });
    this.noteOwnWrite(this.ownSecretVersions, written);
  }

  /** A type change or an immutable Secret: the API refuses the update, so delete and create. */
  private async recreateSecret(secret: Plain, existing: Plain | undefined): Promise<void> {
    const { namespace, name } = secret.metadata;
    const preconditions = existing?.metadata?.uid ? { uid: existing.metadata.uid } : undefined;
    try {
      await this.core.deleteNamespacedSecret({ namespace, name, body: { preconditions } });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
    const { resourceVersion: _rv, uid: _uid, ...metadata } = secret.metadata;
    await this.createSecret({ ...secret, metadata });
  }

  /**
   * A merge patch on the status subresource: both the fake and a real API server accept it
   * for custom resources, and it needs no resourceVersion (the controller owns .status).
   * Fields we no longer set are nulled so that the stored status equals what reconcile computed.
   */
  private async writeStatus(es: Plain, result: ReconcileResult): Promise<void> {
    const status: Plain = { ...result.status };
    for (const field of Object.keys(es.status ?? {})) if (!(field in status)) status[field] = null;
    try {
      const written = await this.custom.patchNamespacedCustomObjectStatus(
        { ...CR, namespace: es.metadata.namespace, name: es.metadata.name, body: { status } },
        MERGE_PATCH,
      );
      this.noteOwnWrite(this.ownStatusVersions, written as KubernetesObject);
    } catch (error) {
      // Deleted meanwhile: its delete event runs the key again and finds nothing to do.
      if (statusCode(error) !== 404) throw error;
    }
  }

  /** Events are best effort (as in client-go's recorder): a failed one never fails the reconcile. */
  private async emitEvent(es: Plain, event: NonNullable<ReconcileResult['event']>): Promise<void> {
    const { namespace, name, uid, resourceVersion } = es.metadata;
    const time = this.now();
    const body: Plain = {
      metadata: { name: `${name}.${time.getTime().toString(16)}${randomBytes(4).toString('hex')}`, namespace },
      involvedObject: { apiVersion: ENCRYPTED_SECRET_API_VERSION, kind: ENCRYPTED_SECRET_KIND, name, namespace, uid, resourceVersion },
      type: event.type, reason: event.reason, message: event.message,
      source: { component: COMPONENT }, reportingComponent: `${GROUP}/controller`, firstTimestamp: time, lastTimestamp: time, count: 1,
    };
    try {
      await this.core.createNamespacedEvent({ namespace, body: body as any });
    } catch (error) {
      this.log('warn', 'event not recorded', { key: `${namespace}/${name}`, reason: event.reason, error: describeError(error) });
    }
  }

  private noteOwnWrite(versions: Map<string, string>, written: KubernetesObject): void {
    const version = written?.metadata?.resourceVersion;
    if (version !== undefined) versions.set(keyOf(written), version);
  }

  private log(level: string, msg: string, fields: LogRecord): void {
    try {
      this.sink({ time: this.now().toISOString(), level, component: COMPONENT, msg, ...fields });
    } catch {
      // A broken log sink must not stop reconciling.
    }
  }
}

// ------------------------------------------------------------------ helpers

function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** base · 2^(n-1), capped, minus up to `jitter` of it so that restarts spread out. */
export function backoffDelay(failures: number, backoff: BackoffOptions, random = Math.random): number {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 52));
  return Math.round(exponential * (1 - backoff.jitter * random()));
}

/** HTTP status of an ApiException (`code`) or of a failed watch (`statusCode`). */
function statusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  return typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

/**
 * What may be logged of an error. An ApiException's message and body can echo the object
 * sent (a Secret), so only its code and the Status reason are kept.
 */
export function describeError(error: unknown): LogRecord {
  const e = error as { code?: unknown; body?: unknown; statusCode?: unknown; name?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'number' && e && 'body' in e) return { code: e.code, reason: statusReason(e.body) };
  if (typeof e?.statusCode === 'number') return { code: e.statusCode, message: String(e.message ?? '') };
  if (error instanceof Error) return { name: error.name, message: error.message.slice(0, 300) };
  return { message: String(error).slice(0, 300) };
}

function statusReason(body: unknown): string | undefined {
  try {
    const parsed = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof parsed?.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}
