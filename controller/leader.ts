/**
 * Leader election with a `coordination.k8s.io/v1` Lease, so that several replicas can run
 * and exactly one reconciles (two writers would race on every Secret and status).
 *
 * The protocol is client-go's: a replica takes the Lease when it has no holder or its
 * holder stopped renewing (renewTime + leaseDurationSeconds < now), then renews it; every
 * write carries the resourceVersion it read, so of two replicas racing for the same Lease
 * the API server lets one win and answers the other 409. A leader that cannot renew for
 * `renewDeadlineMs` steps down before its Lease can expire under it, so two leaders never
 * overlap by more than clock skew. On stop the Lease is released (holder cleared) so a
 * standby takes over at its next retry instead of waiting out the Lease.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import { ApiClients } from './api-client.js';
import { describeError, type LogRecord } from './watch.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  /** How long a Lease stays valid without renewal. Whole seconds on the wire. Default 15 s. */
  leaseDurationMs?: number;
  /** Renewal period while leading. Default 5 s. */
  renewIntervalMs?: number;
  /** Period of acquisition attempts while standing by, and of retries after a failed renewal. Default 2 s. */
  retryIntervalMs?: number;
  /** A leader that could not renew for this long steps down. Default 2/3 of the lease. */
  renewDeadlineMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  now?: () => Date;
  log?: (level: string, msg: string, fields: LogRecord) => void;
}

export interface LeaderElector {
  readonly identity: string;
  isLeader(): boolean;
  /** The Lease was read or written successfully within the last lease duration. */
  healthy(): boolean;
  /** Stops campaigning; a leader first runs onStoppedLeading, then releases the Lease. Idempotent. */
  stop(): Promise<void>;
}

/** The pod name (the Downward API's POD_NAME, else the hostname) plus a random suffix, so a restarted pod is a new holder. */
export function defaultIdentity(env: NodeJS.ProcessEnv): string {
  return `${env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
}

export function startLeaderElection(options: LeaderElectionOptions): LeaderElector {
  const elector = new Elector(options);
  elector.start();
  return { identity: options.identity, isLeader: () => elector.leading, healthy: () => elector.healthy(), stop: () => elector.stop() };
}

class Elector {
  leading = false;
  /** Pooled: a renewal every few seconds would otherwise open a connection (and a TLS handshake) each time. */
  private readonly clients: ApiClients;
  private readonly api: CoordinationV1Api;
  private readonly now: () => Date;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly deadlineMs: number;
  private stopped = false;
  private stopping?: Promise<void>;
  private loop?: Promise<void>;
  private wake?: () => void;
  private timer?: NodeJS.Timeout;
  private renewedAt = 0;
  private contactAt = 0;
  private observedHolder?: string;

  constructor(private readonly options: LeaderElectionOptions) {
    this.clients = new ApiClients(options.kubeConfig);
    this.api = this.clients.make(CoordinationV1Api);
    this.now = options.now ?? (() => new Date());
    this.leaseMs = Math.max(1000, options.leaseDurationMs ?? 15_000);
    this.renewMs = options.renewIntervalMs ?? 5_000;
    this.retryMs = options.retryIntervalMs ?? 2_000;
    this.deadlineMs = options.renewDeadlineMs ?? Math.round((this.leaseMs * 2) / 3);
  }

  start(): void {
    this.loop = this.run();
  }

  healthy(): boolean {
    return this.contactAt > 0 && this.now().getTime() - this.contactAt <= this.leaseMs;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    // The controller stops (in-flight work done) before the Lease goes, so leaders never overlap.
    if (this.leading) await this.stepDown('stopping');
    // Also when an attempt won the Lease while stop() was pending; release() checks the holder.
    await this.release();
    this.clients.destroy();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const held = await this.step();
      if (this.stopped) return;
      await this.sleep(held ? this.renewMs : this.retryMs);
    }
  }

  /** One acquire-or-renew attempt and the leadership change it implies; true if the Lease is ours. */
  private async step(): Promise<boolean> {
    let held: boolean | undefined;
    try {
      held = await this.tryAcquireOrRenew();
      this.contactAt = this.now().getTime();
    } catch (error) {
      this.log('warn', 'lease request failed', { error: describeError(error) });
    }
    if (held === true) {
      this.renewedAt = this.now().getTime();
      if (!this.leading && !this.stopped) await this.startLeading();
    } else if (this.leading && (held === false || this.now().getTime() - this.renewedAt > this.deadlineMs)) {
      await this.stepDown(held === false ? 'lease lost' : 'renew deadline exceeded');
    }
    return held === true;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      return this.write(() => this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(undefined) } }));
    }
    const holder = lease.spec?.holderIdentity || undefined;
    this.noteHolder(holder);
    if (holder && holder !== identity && !this.expired(lease.spec)) return false;
    // resourceVersion from the read makes this a compare-and-swap.
    return this.write(() => this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(lease.spec) } }));
  }

  /** A create or replace of the Lease: 409 means another replica wrote first. */
  private async write(request: () => Promise<V1Lease>): Promise<boolean> {
    try {
      await request();
      return true;
    } catch (error) {
      if (statusCode(error) === 409) return false;
      throw error;
    }
  }

  private spec(previous: V1LeaseSpec | undefined): V1LeaseSpec {
    const now = new V1MicroTime(this.now().getTime());
    const acquiring = previous?.holderIdentity !== this.options.identity;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      renewTime: now,
      // The API returns MicroTime as a string (no deserialiser in client-node): re-wrap it to send it back.
      acquireTime: acquiring || !previous?.acquireTime ? now : new V1MicroTime(Date.parse(String(previous.acquireTime))),
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (acquiring && previous ? 1 : 0),
    };
  }

  private expired(spec: V1LeaseSpec | undefined): boolean {
    const renewed = Date.parse(String(spec?.renewTime ?? ''));
    if (Number.isNaN(renewed)) return true;
    return renewed + (spec?.leaseDurationSeconds ?? 0) * 1000 < this.now().getTime();
  }

  private noteHolder(holder: string | undefined): void {
    if (holder === this.observedHolder) return;
    this.observedHolder = holder;
    if (holder !== this.options.identity) this.log('info', 'lease holder observed', { lease: this.label(), holder: holder ?? null });
  }

  private async startLeading(): Promise<void> {
    this.leading = true;
    this.log('info', 'became leader', { lease: this.label(), identity: this.options.identity });
    await this.callback(this.options.onStartedLeading, 'onStartedLeading');
  }

  private async stepDown(why: string): Promise<void> {
    this.leading = false;
    this.log(why === 'stopping' ? 'info' : 'warn', 'stopped leading', { lease: this.label(), identity: this.options.identity, why });
    await this.callback(this.options.onStoppedLeading, 'onStoppedLeading');
  }

  /** Clears the holder and shortens the Lease, as client-go's ReleaseOnCancel does. Best effort. */
  private async release(): Promise<void> {
    const { name, namespace, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const { holderIdentity: _holder, ...rest } = lease.spec;
      const spec: V1LeaseSpec = { ...rest, leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.now().getTime()) };
      if (rest.acquireTime) spec.acquireTime = new V1MicroTime(Date.parse(String(rest.acquireTime)));
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
      this.log('info', 'lease released', { lease: this.label(), identity });
    } catch (error) {
      this.log('warn', 'lease not released; a standby takes over when it expires', { lease: this.label(), error: describeError(error) });
    }
  }

  private async callback(fn: () => void | Promise<void>, label: string): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.log('error', 'leader election callback failed', { callback: label, error: describeError(error) });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private label(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  private log(level: string, msg: string, fields: LogRecord): void {
    this.options.log?.(level, msg, fields);
  }
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
