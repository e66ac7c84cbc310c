/**
 * A per-object work queue (client-go's workqueue, reduced to what the controller needs):
 *
 * - keys are `namespace/name`; a key queued twice runs once;
 * - one worker per key at a time: a key added while it runs is marked dirty and runs
 *   again afterwards, so the last change is always seen and never raced;
 * - at most `concurrency` keys run at once;
 * - a transient failure re-queues the key after an exponential, jittered, capped delay;
 *   a key waiting on its backoff ignores `add` (our own status writes come back as watch
 *   events and must not turn a KMS outage into a hot loop); `forget` resets it;
 * - a permanent failure is not retried: the object has to change (watch → forget + add);
 * - an optional periodic resync; `shutdown()` stops intake and waits for running work;
 * - it may start paused, taking keys in, until the caches it reads from are synced.
 *
 * Timers come from an injectable clock so that backoff is testable without waiting.
 */

export type WorkOutcome = 'success' | 'permanent' | 'transient';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay removed at random (0.2: the delay is in [0.8 d, d]). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, maxMs: 5 * 60_000, jitter: 0.2 };

export interface WorkQueueOptions {
  /** Returns the outcome; a throw is classified by `classify` (default: transient). */
  handler: (key: string) => Promise<WorkOutcome | void>;
  concurrency?: number;
  backoff?: Partial<BackoffOptions>;
  classify?: (error: unknown) => 'permanent' | 'transient';
  /** Called with every thrown error, for logs and metrics. */
  onError?: (key: string, error: unknown) => void;
  /** Periodic resync: `onResync` is called every `resyncMs` (it usually adds every key). */
  resyncMs?: number;
  onResync?: () => void;
  clock?: Clock;
  random?: () => number;
  /** Keys are taken in but none runs until `resume()` (client-go: WaitForCacheSync). */
  paused?: boolean;
}

export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly waiting = new Map<string, unknown>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly options: WorkQueueOptions;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly concurrency: number;
  private resyncHandle: unknown;
  private closed = false;
  private paused: boolean;

  constructor(options: WorkQueueOptions) {
    this.options = options;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.clock = options.clock ?? realClock;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.paused = options.paused === true;
    if (options.resyncMs && options.onResync) this.scheduleResync(options.resyncMs, options.onResync);
  }

  /** Queue a key to run; no-op while it is queued, waiting on backoff, or after shutdown. */
  add(key: string): void {
    if (this.closed || this.waiting.has(key)) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.enqueue(key);
  }

  /** Lets the keys taken in while paused run; no-op when not paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Reset a key's backoff and cancel its pending retry (on success, or when the object changed). */
  forget(key: string): void {
    this.failures.delete(key);
    const handle = this.waiting.get(key);
    if (handle !== undefined) this.clock.clearTimeout(handle);
    this.waiting.delete(key);
  }

  /** Consecutive transient failures of a key (0 after success or forget). */
  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys queued or waiting on backoff, for the queue-depth metric. */
  get depth(): number {
    return this.pending.length + this.waiting.size;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** The delay before retry number `failures` (1-based): base · 2^(n-1), capped, minus jitter. */
  delayFor(failures: number): number {
    const { baseMs, maxMs, jitter } = this.backoff;
    const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 52));
    const random = this.options.random ?? Math.random;
    return Math.round(exponential * (1 - jitter * random()));
  }

  /** Resolves when nothing is queued or running (keys waiting on backoff do not count). */
  onIdle(): Promise<void> {
    if (this.pending.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops intake, retries and resync; waits for the keys that are running. Queued keys are dropped. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.resyncHandle !== undefined) this.clock.clearTimeout(this.resyncHandle);
    for (const handle of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    this.pending.length = 0;
    this.queued.clear();
    this.dirty.clear();
    await Promise.all([...this.running.values()]);
    this.notifyIdle();
  }

  private enqueue(key: string): void {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push(key);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && !this.paused && this.running.size < this.concurrency) {
      const key = this.nextRunnable();
      if (key === undefined) break;
      this.running.set(key, this.run(key));
    }
    this.notifyIdle();
  }

  /** The first queued key not already running (a dirty key re-queued while running waits its turn). */
  private nextRunnable(): string | undefined {
    const index = this.pending.findIndex((key) => !this.running.has(key));
    if (index < 0) return undefined;
    const [key] = this.pending.splice(index, 1);
    this.queued.delete(key);
    return key;
  }

  private async run(key: string): Promise<void> {
    const outcome = await this.invoke(key);
    this.running.delete(key);
    this.settle(key, outcome);
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  private async invoke(key: string): Promise<WorkOutcome> {
    try {
      return (await this.options.handler(key)) ?? 'success';
    } catch (error) {
      this.options.onError?.(key, error);
      return this.options.classify?.(error) ?? 'transient';
    }
  }

  private settle(key: string, outcome: WorkOutcome): void {
    if (outcome !== 'transient') {
      this.forget(key);
      return;
    }
    const failures = this.failureCount(key) + 1;
    this.failures.set(key, failures);
    if (this.closed) return;
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      if (!this.closed) this.enqueue(key);
    }, this.delayFor(failures));
    this.waiting.set(key, handle);
  }

  private scheduleResync(ms: number, onResync: () => void): void {
    this.resyncHandle = this.clock.setTimeout(() => {
      if (this.closed) return;
      onResync();
      this.scheduleResync(ms, onResync);
    }, ms);
  }

  private notifyIdle(): void {
    if (this.pending.length > 0 || this.running.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
