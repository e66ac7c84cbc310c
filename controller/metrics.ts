/**
 * Prometheus metrics in the text exposition format (0.0.4), written by hand: six series
 * do not justify a dependency. They are fed from the controller's structured log records
 * (watch.ts logs every exit of a reconcile), so the loop has one reporting path and the
 * metrics cannot disagree with the logs.
 *
 * - `wax_reconcile_total{result,reason}`: reconciles by outcome. result is `success`
 *   (Ready=True), `failure` (a Ready=False verdict; reason is the condition reason),
 *   `error` (the reconcile threw, e.g. an API error; reason is the API Status reason or
 *   `HTTP<code>`, else `Unexpected`) or `skipped` (the object was gone; reason `NotFound`).
 * - `wax_decrypt_duration_seconds`: time in reconcile's decryption step (verify, unwrap,
 *   decrypt), for successes and failures alike.
 * - `wax_master_key_calls_total{type}`: successful reconciles, by the type of each master
 *   key that unwrapped the data key (from status.decryptedWith). The in-process unwrap
 *   cache may have served the data key without calling the key service, so this is an
 *   upper bound on calls to KMS, Key Vault, age or PGP, not an exact count.
 * - `wax_queue_depth`, `wax_leader` (1 when this replica reconciles: leading, or leader
 *   election off), read at scrape time.
 * - `wax_encryptedsecrets{condition,reason}`: EncryptedSecrets by the Ready condition
 *   this replica last set (`True`/`False`) and its reason; emptied when this replica stops
 *   reconciling, since a standby knows nothing current.
 */
import type { LogRecord } from './watch.js';

export const DECRYPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface Gauges {
  queueDepth: number;
  leader: boolean;
}

export class ControllerMetrics {
  private readonly reconciles = new Map<string, number>();
  private readonly keyCalls = new Map<string, number>();
  private readonly bucketCounts = DECRYPT_BUCKETS.map(() => 0);
  private decryptSum = 0;
  private decryptCount = 0;
  /** key → "condition\u0000reason" */
  private readonly objects = new Map<string, string>();
  /** Every combination ever reported, so that one dropping to zero shows 0 rather than vanishing. */
  private readonly seenConditions = new Set<string>();

  /** Takes one controller log record; records that are not about a reconcile are ignored. */
  observe(record: LogRecord): void {
    const key = typeof record.key === 'string' ? record.key : undefined;
    if (record.msg === 'reconciled') this.onReconciled(record, key);
    else if (record.msg === 'reconcile failed') this.count(this.reconciles, labels({ result: 'error', reason: errorReason(record.error) }));
    else if (record.msg === 'reconcile skipped') {
      this.count(this.reconciles, labels({ result: 'skipped', reason: 'NotFound' }));
      if (key) this.objects.delete(key);
    }
  }

  /** This replica stopped reconciling: its view of the objects is no longer maintained. */
  controllerStopped(): void {
    this.objects.clear();
  }

  render(gauges: Gauges): string {
    const out: string[] = [];
    family(out, 'wax_reconcile_total', 'counter', 'Reconciles of EncryptedSecrets by result and reason.', this.reconciles);
    this.renderHistogram(out);
    family(out, 'wax_master_key_calls_total', 'counter', 'Successful reconciles by type of the master key that unwrapped the data key (an upper bound on key service calls: the unwrap cache may serve it).', this.keyCalls);
    family(out, 'wax_queue_depth', 'gauge', 'Keys queued or waiting on a retry.', new Map([['', gauges.queueDepth]]));
    family(out, 'wax_encryptedsecrets', 'gauge', 'EncryptedSecrets by Ready condition status and reason, as last reconciled by this replica.', this.conditionCounts());
    family(out, 'wax_leader', 'gauge', '1 when this replica runs the controller (leader, or leader election off), else 0.', new Map([['', gauges.leader ? 1 : 0]]));
    return `${out.join('\n')}\n`;
  }

  private onReconciled(record: LogRecord, key: string | undefined): void {
    const reason = typeof record.reason === 'string' ? record.reason : 'Unknown';
    const success = record.outcome === 'success';
    this.count(this.reconciles, labels({ result: success ? 'success' : 'failure', reason }));
    if (typeof record.decryptMs === 'number') this.observeDecrypt(record.decryptMs / 1000);
    if (success && typeof record.decryptedWith === 'string') {
      for (const type of keyTypes(record.decryptedWith)) this.count(this.keyCalls, labels({ type }));
    }
    if (key) this.objects.set(key, `${success ? 'True' : 'False'}\u0000${reason}`);
  }

  private observeDecrypt(seconds: number): void {
    DECRYPT_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.bucketCounts[i] += 1;
    });
    this.decryptSum += seconds;
    this.decryptCount += 1;
  }

  private renderHistogram(out: string[]): void {
    const name = 'wax_decrypt_duration_seconds';
    out.push(`# HELP ${name} Time spent verifying and decrypting an EncryptedSecret in a reconcile.`, `# TYPE ${name} histogram`);
    DECRYPT_BUCKETS.forEach((bound, i) => out.push(`${name}_bucket{le="${bound}"} ${this.bucketCounts[i]}`));
    out.push(`${name}_bucket{le="+Inf"} ${this.decryptCount}`, `${name}_sum ${this.decryptSum}`, `${name}_count ${this.decryptCount}`);
  }

  private conditionCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const value of this.objects.values()) this.seenConditions.add(value);
    for (const seen of this.seenConditions) counts.set(conditionLabels(seen), 0);
    for (const value of this.objects.values()) this.count(counts, conditionLabels(value));
    return counts;
  }

  private count(map: Map<string, number>, labelText: string): void {
    map.set(labelText, (map.get(labelText) ?? 0) + 1);
  }
}

function conditionLabels(value: string): string {
  const [condition, reason] = value.split('\u0000');
  return labels({ condition, reason });
}

/** `age age1…, kms arn:…` → ['age', 'kms']: the type is the first word of each entry. */
function keyTypes(decryptedWith: string): string[] {
  return decryptedWith.split(', ').map((entry) => entry.split(' ')[0]).filter((type) => type !== '');
}

/** A bounded label value for a thrown error, from the record describeError() made. */
function errorReason(error: unknown): string {
  const e = error as { code?: unknown; reason?: unknown } | undefined;
  if (typeof e?.reason === 'string' && e.reason !== '') return e.reason;
  if (typeof e?.code === 'number') return `HTTP${e.code}`;
  return 'Unexpected';
}

function family(out: string[], name: string, type: string, help: string, series: Map<string, number>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labelText, value] of [...series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out.push(`${name}${labelText} ${value}`);
}

function labels(values: Record<string, string>): string {
  return `{${Object.entries(values).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

/** The exposition format escapes backslash, double quote and newline in label values. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
