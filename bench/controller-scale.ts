/**
 * Controller at scale (issue 4): N EncryptedSecrets (default 2,000) to Ready against the
 * wire-level fake API server, with the controller as a real child process
 * (build/controller/main.js --no-leader-elect) so that its peak RSS is its own. The fakes
 * (API server, AWS KMS) run in this process and are reached over loopback.
 *
 * Most objects are sealed with an age key (fast to seal, no KMS traffic); a subset is
 * sealed with the fake KMS key only, so each of them carries its own KMS-wrapped data key:
 * the controller should need at most one Decrypt per distinct wrapped key.
 *
 * Readiness is read from the fake's store (view), not over HTTP, so that measuring adds no
 * load on the API path the controller uses. After everything is Ready and the writes have
 * settled, one resync cycle is awaited and the API writes it caused are counted.
 *
 * Env, for looking into a run: BENCH_CONTROLLER_CONCURRENCY (the controller's --concurrency),
 * BENCH_CONTROLLER_NODE_ARGS (node flags for the controller, e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof`), BENCH_CONTROLLER_LOG (a file that receives its log lines).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { sealSecret } from '../src/encrypted-secret.js';
import { generateAgeIdentity } from '../src/providers/age.js';
import { resolveKeyGroups } from '../src/providers/index.js';
import { startFakeApiServer, type FakeApiServer, type KObject } from '../test/fakes/kube-apiserver.js';
import { startFakeKms } from '../test/fakes/aws-kms.js';
import { BenchError } from './measure.js';

export interface ControllerScaleOptions {
  /** Repository root: build/controller/main.js is run from there. */
  root: string;
  objects: number;
  /** Objects sealed with the KMS key (each a distinct wrapped data key). */
  kmsObjects: number;
  namespaces: number;
}

export interface ControllerScaleResult {
  objects: number;
  namespaces: number;
  ageObjects: number;
  kmsObjects: number;
  distinctKmsWrappedKeys: number;
  sealMs: number;
  loadMs: number;
  resyncPeriodMs: number;
  /** From spawning the controller until the last object showed Ready=True in the store. */
  readyMs: number;
  ready: number;
  allReady: boolean;
  /** From the controller's first reconcile record to the last object Ready. */
  reconcileSpanMs: number | null;
  /**
   * CPU time (user + system) until everything was Ready: the controller process (from
   * /proc, Linux only) and this process (the fakes and the harness). Other work on a shared
   * machine stretches wall time far more than CPU time, so these compare runs better.
   */
  cpuMsAtReady: { controller: number | null; fakes: number };
  writes: { secretCreates: number; secretOther: number; statusWrites: number; events: number; other: number; total: number };
  /** decrypt: the whole run (first pass and resync); the target counts all of it. */
  kms: { decrypt: number; decryptFirstPass: number; decryptDuringResync: number; decryptFailed: number; otherCalls: number };
  resync: { observed: boolean; enqueued: number; reconciled: number; writes: number; writesByResource: Record<string, number>; durationMs: number | null };
  peakRssMiB: number | null;
  /** process.memoryUsage() of the controller as it exits (after the resync), in MiB. */
  memoryAtExitMiB: Record<string, number> | null;
  peakRssVia: string;
  controllerErrors: number;
  /** Warning records by message (failed reconciles, unrecorded events, informer restarts). */
  controllerWarnings: Record<string, number>;
  wallMs: number;
}

type Plain = Record<string, any>;

const CR = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const since = (t: number) => performance.now() - t;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** utime + stime of a live process in ms, from /proc/PID/stat; null where there is no /proc. */
function processCpuMs(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    // Clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

/** Defined values only: the fake's env marks variables to remove with undefined. */
function definedEnv(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function isReady(obj: Readonly<KObject> | undefined): boolean {
  const conditions = obj?.status?.conditions;
  return Array.isArray(conditions) && conditions.some((c: Plain) => c?.type === 'Ready' && c?.status === 'True');
}

function writesSnapshot(fake: FakeApiServer): Record<string, number> {
  return { ...fake.writes };
}

function diffWrites(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Waits until the fake's write counters have not moved for `quietMs` (at most `maxMs`). */
async function settle(fake: FakeApiServer, quietMs: number, maxMs: number): Promise<void> {
  const start = performance.now();
  let last = fake.totalWrites();
  let stableSince = performance.now();
  while (since(start) < maxMs) {
    await sleep(50);
    const now = fake.totalWrites();
    if (now !== last) {
      last = now;
      stableSince = performance.now();
    } else if (since(stableSince) >= quietMs) return;
  }
}

export async function benchControllerScale(options: ControllerScaleOptions): Promise<ControllerScaleResult> {
  // The harness seals with the AWS SDK in this process: its notice about Node.js 22 would
  // land in the report (the CLI and the controller silence it the same way).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const wallStart = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'wax-bench-controller-'));
  const fake = await startFakeApiServer();
  const kms = await startFakeKms();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const n = options.objects;
    const kmsObjects = Math.min(options.kmsObjects, n);
    const nsCount = Math.max(1, Math.min(options.namespaces, n));
    const kmsEnv = definedEnv(kms.env);

    // --- seal: age for most, the KMS key alone for a subset ---
    const sealStart = performance.now();
    const age = await generateAgeIdentity();
    const keyArn = kms.createKey({ alias: 'wax-bench' });
    const ctx = { env: { ...kmsEnv, XDG_CONFIG_HOME: '/nonexistent', HOME: dir } };
    const ageGroups = await resolveKeyGroups([[{ type: 'age', value: age.recipient }]], ctx);
    const kmsGroups = await resolveKeyGroups([[{ type: 'kms', value: keyArn }]], ctx);
    const objects: { namespace: string; name: string }[] = Array.from({ length: n }, (_, i) => ({ namespace: `team-${String(i % nsCount).padStart(2, '0')}`, name: `app-${i}` }));
    const sealed: Plain[] = new Array(n);
    await pool(objects, 16, async ({ namespace, name }, i) => {
      const manifest = {
        apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque',
        stringData: { username: `svc-${i}`, password: `bench-password-${i}-c0rrect-h0rse`, url: `postgres://svc-${i}@db.${namespace}.svc:5432/app` },
      };
      const text = await sealSecret(manifest, { keyGroups: i < kmsObjects ? kmsGroups : ageGroups, scope: 'strict' });
      sealed[i] = parseYaml(text.toString()) as Plain;
    });
    const sealMs = since(sealStart);
    const wrapped = new Set<string>();
    for (const doc of sealed) for (const entry of doc.sops?.kms ?? []) wrapped.add(String(entry.enc));
    if (wrapped.size !== kmsObjects) throw new BenchError(`controller scale: expected ${kmsObjects} KMS-wrapped data keys, sealed ${wrapped.size}`);

    // --- load into the fake API server over the wire ---
    const loadStart = performance.now();
    const api = fake.client().makeApiClient(CustomObjectsApi);
    await pool(sealed, 32, async (body, i) => {
      await api.createNamespacedCustomObject({ ...CR, namespace: objects[i].namespace, body });
    });
    const loadMs = since(loadStart);
    fake.resetLog();
    const kmsBefore = kms.calls.length;

    // --- the controller, as a child process ---
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, fake.kubeconfigYaml());
    const rssOut = path.join(dir, 'rss.out');
    const rssPreload = path.join(dir, 'rss.mjs');
    writeFileSync(rssPreload, `import { writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(process.env.BENCH_RSS_OUT, JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, memory: process.memoryUsage() })));
`);
    // The first resync must come after everything is Ready (target 10 s) and writes settle.
    // (2,000 objects: 25 s, so that a slow first pass is not overlapped by a resync either.)
    const resyncPeriodMs = Math.max(5_000, Math.min(25_000, Math.round(n * 12.5)));
    const mainJs = path.join(options.root, 'build/controller/main.js');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: '/nonexistent', POD_NAME: 'wax-bench', POD_NAMESPACE: 'wax-system',
      SOPS_AGE_KEY: age.identity, BENCH_RSS_OUT: rssOut, ...kmsEnv,
    };
    const records: { at: number; record: Plain }[] = [];
    let controllerErrors = 0;
    const controllerWarnings: Record<string, number> = {};
    let stderr = '';
    const spawnedAt = performance.now();
    const cpuAtSpawn = process.cpuUsage();
    // BENCH_CONTROLLER_NODE_ARGS: extra node flags for the controller (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    child = spawn(process.execPath, [...nodeArgs, '--import', pathToFileURL(rssPreload).href, mainJs,
      '--kubeconfig', kubeconfig, '--no-leader-elect', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--resync', `${resyncPeriodMs}ms`, ...(process.env.BENCH_CONTROLLER_CONCURRENCY ? ['--concurrency', process.env.BENCH_CONTROLLER_CONCURRENCY] : []),
    ], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((code) => { exitCode = code; });
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    // BENCH_CONTROLLER_LOG: a file that receives the controller's log lines as they come.
    const logCopy = process.env.BENCH_CONTROLLER_LOG;
    if (logCopy) writeFileSync(logCopy, '');
    child.stdout!.on('data', (chunk: string) => {
      if (logCopy) appendFileSync(logCopy, chunk);
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        try {
          const record = JSON.parse(line) as Plain;
          records.push({ at: performance.now(), record });
          if (record.level === 'error') controllerErrors += 1;
          if (record.level === 'warn') controllerWarnings[String(record.msg)] = (controllerWarnings[String(record.msg)] ?? 0) + 1;
        } catch {
          // Not a log record: ignore.
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-2000); });

    // --- wait for every object Ready=True, read from the store ---
    // view() reads the stored (frozen) object without a copy, so a scan of what is still
    // pending costs next to nothing on the CPU the fake shares with this loop.
    const pending = new Map(objects.map((o) => [`${o.namespace}/${o.name}`, o]));
    while (pending.size > 0 && since(spawnedAt) < READY_TIMEOUT_MS && exitCode === undefined) {
      await sleep(POLL_MS);
      for (const [key, o] of pending) if (isReady(fake.view(CR.plural, o.namespace, o.name))) pending.delete(key);
    }
    if (exitCode !== undefined) throw new BenchError(`controller exited with ${exitCode} before all objects were Ready: ${stderr.trim().slice(-500)}`);
    const readyAt = performance.now();
    const readyMs = readyAt - spawnedAt;
    const fakesCpu = process.cpuUsage(cpuAtSpawn);
    const cpuMsAtReady = { controller: processCpuMs(child.pid), fakes: (fakesCpu.user + fakesCpu.system) / 1000 };
    const firstReconcile = records.find((r) => r.record.msg === 'reconciled');
    const reconcileSpanMs = firstReconcile ? readyAt - firstReconcile.at : null;

    // Events land after the last status, and a worker logs `reconciled` only once its Event
    // is written: wait for one record per object (a loaded machine can stall a worker for
    // longer than any quiet window), then let the writes settle.
    const firstPassDeadline = performance.now() + 10_000;
    while (records.filter((r) => r.record.msg === 'reconciled').length < n && performance.now() < firstPassDeadline && exitCode === undefined) await sleep(POLL_MS);
    await settle(fake, 500, 5_000);
    const initialWrites = writesSnapshot(fake);
    const creates = fake.requests.filter((r) => r.resource === 'secrets' && r.verb === 'create' && r.status >= 200 && r.status < 300).length;
    const kmsAfterInitial = kms.calls.length;

    // --- one resync cycle with nothing changed ---
    const resync: ControllerScaleResult['resync'] = { observed: false, enqueued: 0, reconciled: 0, writes: 0, writesByResource: {}, durationMs: null };
    const snapshotIndex = records.length;
    const resyncDeadline = performance.now() + resyncPeriodMs + 15_000;
    let resyncAt = -1;
    while (performance.now() < resyncDeadline && exitCode === undefined) {
      await sleep(POLL_MS);
      if (resyncAt < 0) {
        const i = records.findIndex((r, j) => j >= snapshotIndex && r.record.msg === 'resync');
        if (i < 0) continue;
        resyncAt = i;
        resync.observed = true;
        resync.enqueued = Number(records[i].record.enqueued ?? 0);
      }
      const done = records.slice(resyncAt + 1).filter((r) => ['reconciled', 'reconcile failed', 'reconcile skipped'].includes(r.record.msg)).length;
      resync.reconciled = done;
      if (done >= resync.enqueued) {
        resync.durationMs = records[records.length - 1].at - records[resyncAt].at;
        break;
      }
    }
    // Writes caused by the cycle would follow its reconciles closely.
    await settle(fake, 300, 3_000);
    resync.writesByResource = diffWrites(writesSnapshot(fake), initialWrites);
    resync.writes = Object.values(resync.writesByResource).reduce((a, b) => a + b, 0);
    const decryptDuringResync = kms.calls.slice(kmsAfterInitial).filter((c) => c.operation === 'Decrypt').length;

    // --- stop: SIGTERM, the preload writes maxRSS on exit ---
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    if (stopped === 'timeout') child.kill('SIGKILL');
    let peakRssMiB: number | null = null;
    let memoryAtExitMiB: Record<string, number> | null = null;
    try {
      const exitStats = JSON.parse(readFileSync(rssOut, 'utf8')) as { maxRSS: number; memory: Record<string, number> };
      peakRssMiB = exitStats.maxRSS / 1024;
      memoryAtExitMiB = Object.fromEntries(Object.entries(exitStats.memory).map(([k, v]) => [k, Math.round((v / 1048576) * 10) / 10]));
    } catch {
      peakRssMiB = null;
    }

    const controllerCalls = kms.calls.slice(kmsBefore);
    const decrypt = controllerCalls.filter((c) => c.operation === 'Decrypt').length;
    const w = initialWrites;
    const secretsTotal = w.secrets ?? 0;
    const statusWrites = w['encryptedsecrets/status'] ?? 0;
    const events = w.events ?? 0;
    const total = Object.values(w).reduce((a, b) => a + b, 0);
    return {
      objects: n, namespaces: nsCount, ageObjects: n - kmsObjects, kmsObjects, distinctKmsWrappedKeys: wrapped.size,
      sealMs, loadMs, resyncPeriodMs, readyMs, ready: n - pending.size, allReady: pending.size === 0, reconcileSpanMs, cpuMsAtReady,
      writes: { secretCreates: creates, secretOther: secretsTotal - creates, statusWrites, events, other: total - secretsTotal - statusWrites - events, total },
      kms: { decrypt, decryptFirstPass: decrypt - decryptDuringResync, decryptDuringResync, decryptFailed: controllerCalls.filter((c) => c.operation === 'Decrypt' && c.outcome !== 'ok').length, otherCalls: controllerCalls.length - decrypt },
      resync, peakRssMiB, memoryAtExitMiB, peakRssVia: 'process.resourceUsage().maxRSS of the controller process (--import preload)',
      controllerErrors, controllerWarnings, wallMs: since(wallStart),
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.allSettled([fake.close(), kms.close()]);
    // The directory holds an age identity: never leave it behind.
    rmSync(dir, { recursive: true, force: true });
  }
}
