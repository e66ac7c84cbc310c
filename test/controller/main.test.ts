/**
 * The controller process in-process (runController) and as a real subprocess, against the
 * wire-level fake API server: health and readiness, /metrics after a reconcile, leader
 * election between two replicas, and graceful shutdown releasing the Lease.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, V1MicroTime } from '@kubernetes/client-node';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups } from '../../src/providers/index.js';
import { parseAddress, parseDuration, parseFlags, runController, UsageError, type ControllerHandle } from '../../controller/main.js';
import { startLeaderElection } from '../../controller/leader.js';
import type { LogRecord } from '../../controller/watch.js';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';

type Plain = Record<string, any>;

const CR = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const NS = 'shop';
const LEASE_NS = 'wax-system';
const LEASE = 'wax-controller';
const PASSWORD = 'main-test-password-7f3a';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const MAIN_JS = fileURLToPath(new URL('../../controller/main.js', import.meta.url));
/** Short timings so that takeover happens within the test: 2 s lease, fast renew and retry. */
const FAST_LEASE = ['--lease-duration', '2s', '--lease-renew-period', '300ms', '--lease-retry-period', '100ms'];

const keys = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], { env: {} });
  return { identity, keyGroups };
})();

async function sealed(name: string): Promise<Plain> {
  const manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, type: 'Opaque', stringData: { password: PASSWORD } };
  return parseYaml((await sealSecret(manifest, { keyGroups: (await keys).keyGroups, scope: 'strict' })).toString()) as Plain;
}

interface Setup {
  fake: FakeApiServer;
  kubeconfigPath: string;
  env: NodeJS.ProcessEnv;
}

/** A fake API server, a kubeconfig file for it and an environment holding the age identity. */
async function setup(t: TestContext): Promise<Setup> {
  const fake = await startFakeApiServer();
  const dir = mkdtempSync(join(tmpdir(), 'wax-main-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, fake.kubeconfigYaml());
  t.after(() => fake.close());
  return { fake, kubeconfigPath, env: { SOPS_AGE_KEY: (await keys).identity, XDG_CONFIG_HOME: '/nonexistent', POD_NAME: 'wax-test' } };
}

interface Running {
  handle: ControllerHandle;
  logs: LogRecord[];
}

/** runController on ephemeral ports; stopped and its logs checked for the secret at the end. */
async function run(t: TestContext, s: Setup, extra: string[]): Promise<Running> {
  const logs: LogRecord[] = [];
  const argv = ['--kubeconfig', s.kubeconfigPath, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--lease-namespace', LEASE_NS, ...extra];
  const handle = await runController(argv, s.env, { log: (record) => logs.push(record) });
  t.after(async () => {
    await handle.stop();
    const text = JSON.stringify(logs);
    assert.ok(!text.includes(PASSWORD) && !text.includes(b64(PASSWORD)), 'the logs leak secret material');
    assert.ok(!text.includes((await keys).identity), 'the logs leak the age identity');
  });
  return { handle, logs };
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function applyEncryptedSecret(s: Setup, name: string): Promise<void> {
  await s.fake.client().makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...CR, namespace: NS, body: await sealed(name) });
}

function secretExists(s: Setup, name: string): boolean {
  return s.fake.peek('secrets', NS, name) !== undefined;
}

/** The value of one series in an exposition, or undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function metric(handle: ControllerHandle, series: string): Promise<number | undefined> {
  return sample((await get(handle.metricsPort, '/metrics')).body, series);
}

function lease(s: Setup): Plain | undefined {
  return s.fake.peek('leases', LEASE_NS, LEASE);
}

// ------------------------------------------------------------------ flags

test('flags: defaults, durations, addresses and exact usage errors', () => {
  const config = parseFlags([], { POD_NAMESPACE: 'ops' });
  assert.deepEqual(
    { ...config, kubeconfig: config.kubeconfig ?? null },
    {
      namespaces: [], resyncMs: 600_000, concurrency: 4, healthAddr: { port: 8081 }, metricsAddr: { port: 8080 }, leaderElect: true,
      leaseName: 'wax-controller', leaseNamespace: 'ops', leaseDurationMs: 15_000, leaseRenewMs: 5_000, leaseRetryMs: 2_000, dataKeyCacheTtlMs: 3_600_000, kubeconfig: null,
    },
  );
  assert.equal(parseFlags([], {}).leaseNamespace, 'wax-system');
  const custom = parseFlags(['--namespaces', 'a, b', '--resync', '30s', '--concurrency', '8', '--no-leader-elect', '--health-addr', '[::1]:9000'], {});
  assert.deepEqual([custom.namespaces, custom.resyncMs, custom.concurrency, custom.leaderElect, custom.healthAddr], [['a', 'b'], 30_000, 8, false, { host: '::1', port: 9000 }]);
  assert.equal(parseDuration('1h30m', 'x'), 5_400_000);
  assert.equal(parseDuration('250ms', 'x'), 250);
  assert.deepEqual(parseAddress('127.0.0.1:0', 'x'), { host: '127.0.0.1', port: 0 });
  for (const argv of [['--resync', '10'], ['--resync', '10 m'], ['--concurrency', '0'], ['--metrics-addr', '8080'], ['--health-addr', ':70000'], ['--bogus'], ['--lease-duration', '1500ms'], ['--lease-renew-period', '20s']]) {
    assert.throws(() => parseFlags(argv, {}), UsageError, argv.join(' '));
  }
});

// ------------------------------------------------------------------ health, readiness, metrics

test('/healthz is 200 at once; /readyz is 503 until the informers list, then 200', async (t) => {
  const s = await setup(t);
  // The first two lists fail: the informer restarts after its backoff, so readiness lags.
  s.fake.failNext('list', 'encryptedsecrets', 500, 2);
  const { handle } = await run(t, s, ['--no-leader-elect']);
  assert.deepEqual(await get(handle.healthPort, '/healthz'), { status: 200, body: 'ok\n' });
  assert.equal((await get(handle.healthPort, '/readyz')).status, 503);
  await eventually(async () => (await get(handle.healthPort, '/readyz')).status === 200, '/readyz 200');
  assert.equal((await get(handle.healthPort, '/nope')).status, 404);
  assert.equal((await fetch(`http://127.0.0.1:${handle.healthPort}/healthz`, { method: 'POST' })).status, 405);
  assert.equal((await get(handle.metricsPort, '/other')).status, 404);
});

test('/metrics exposes every series after one EncryptedSecret reconciles', async (t) => {
  const s = await setup(t);
  const { handle } = await run(t, s, ['--no-leader-elect', '--namespaces', NS]);
  await eventually(() => handle.ready(), 'readiness');
  await applyEncryptedSecret(s, 'db');
  await eventually(() => secretExists(s, 'db'), 'the Secret');
  assert.equal(Buffer.from(s.fake.peek('secrets', NS, 'db')!.data.password, 'base64').toString(), PASSWORD);
  await eventually(async () => ((await metric(handle, 'wax_reconcile_total{result="success",reason="Decrypted"}')) ?? 0) >= 1, 'the reconcile counter');

  const res = await fetch(`http://127.0.0.1:${handle.metricsPort}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const successes = sample(text, 'wax_reconcile_total{result="success",reason="Decrypted"}')!;
  assert.equal(sample(text, 'wax_master_key_calls_total{type="age"}'), successes, 'one data key recovery per successful reconcile');
  assert.equal(sample(text, 'wax_decrypt_duration_seconds_count'), successes);
  assert.equal(sample(text, 'wax_decrypt_duration_seconds_bucket{le="+Inf"}'), successes);
  assert.equal(sample(text, 'wax_decrypt_duration_seconds_bucket{le="10"}'), successes);
  assert.ok(sample(text, 'wax_decrypt_duration_seconds_sum')! > 0);
  assert.equal(sample(text, 'wax_queue_depth'), 0);
  assert.equal(sample(text, 'wax_encryptedsecrets{condition="True",reason="Decrypted"}'), 1);
  assert.equal(sample(text, 'wax_leader'), 1, 'without leader election this replica reconciles');
  for (const family of ['wax_reconcile_total counter', 'wax_decrypt_duration_seconds histogram', 'wax_master_key_calls_total counter', 'wax_queue_depth gauge', 'wax_encryptedsecrets gauge', 'wax_leader gauge']) {
    assert.ok(text.includes(`# TYPE ${family}\n`), family);
  }
  assert.ok(!text.includes(PASSWORD));
});

test('a failing EncryptedSecret is counted by reason and by condition', async (t) => {
  const s = await setup(t);
  const { handle } = await run(t, s, ['--no-leader-elect']);
  await eventually(() => handle.ready(), 'readiness');
  // Applied under another name: the strict scope refuses it.
  const copy = await sealed('original');
  copy.metadata.name = 'copy';
  await s.fake.client().makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...CR, namespace: NS, body: copy });
  await eventually(async () => (await metric(handle, 'wax_encryptedsecrets{condition="False",reason="ScopeMismatch"}')) === 1, 'the ScopeMismatch gauge');
  assert.ok((await metric(handle, 'wax_reconcile_total{result="failure",reason="ScopeMismatch"}'))! >= 1);
  assert.equal(await metric(handle, 'wax_master_key_calls_total{type="age"}'), undefined, 'a refused object recovers no data key');
  assert.equal(secretExists(s, 'copy'), false);
});

// ------------------------------------------------------------------ leader election

test('two replicas: exactly one leads and writes; stopping it hands over within the lease time', async (t) => {
  const s = await setup(t);
  const a = await run(t, s, FAST_LEASE);
  await eventually(() => a.handle.isLeader(), 'a to lead');
  const b = await run(t, s, FAST_LEASE);
  await eventually(async () => (await get(b.handle.healthPort, '/readyz')).status === 200, 'b to be a ready standby');
  assert.equal(b.handle.isLeader(), false);
  assert.equal(lease(s)?.spec.holderIdentity, a.handle.identity);
  assert.match(a.handle.identity!, /^wax-test_[0-9a-f]{8}$/);
  assert.notEqual(a.handle.identity, b.handle.identity);

  await applyEncryptedSecret(s, 'api');
  await eventually(() => secretExists(s, 'api'), 'the Secret');
  assert.equal(s.fake.writes.secrets, 1);
  assert.equal(await metric(a.handle, 'wax_leader'), 1);
  assert.equal(await metric(b.handle, 'wax_leader'), 0);
  assert.equal(b.logs.filter((r) => r.msg === 'reconciled' || r.msg === 'controller started').length, 0, 'the standby never reconciles');

  const stoppedAt = Date.now();
  await a.handle.stop();
  await eventually(() => b.handle.isLeader(), 'b to take over', 2000);
  assert.ok(Date.now() - stoppedAt < 2000, 'takeover within the lease duration');
  assert.equal(lease(s)?.spec.holderIdentity, b.handle.identity);
  assert.equal(lease(s)?.spec.leaseTransitions, 1, 'one change of holder since creation: a to b');
  await eventually(async () => (await get(b.handle.healthPort, '/readyz')).status === 200, 'b ready as leader');
  assert.equal(await metric(b.handle, 'wax_leader'), 1);
  await eventually(() => b.logs.some((r) => r.msg === 'reconciled' && r.key === `${NS}/api`), 'b to reconcile the object');
  assert.equal(s.fake.writes.secrets, 1, 'the new leader finds the Secret up to date and writes nothing');
});

test('lease renewals reuse one connection instead of opening one each (a TLS handshake on a real cluster)', async (t) => {
  const s = await setup(t);
  const before = s.fake.connectionsAccepted;
  let led = 0;
  const elector = startLeaderElection({
    kubeConfig: s.fake.client(), namespace: LEASE_NS, name: LEASE, identity: 'pooled-test', leaseDurationMs: 2000, renewIntervalMs: 40, retryIntervalMs: 40,
    onStartedLeading: () => { led += 1; }, onStoppedLeading: () => undefined,
  });
  t.after(() => elector.stop());
  await eventually(() => elector.isLeader(), 'leadership');
  const renewTime = () => String(lease(s)?.spec.renewTime);
  const renewals: string[] = [];
  await eventually(() => {
    if (!renewals.includes(renewTime())) renewals.push(renewTime());
    return renewals.length >= 8;
  }, 'eight renewals', 5000);
  await elector.stop();
  assert.equal(led, 1);
  assert.equal(lease(s)?.spec.holderIdentity, undefined, 'released on stop');
  const opened = s.fake.connectionsAccepted - before;
  assert.ok(opened <= 2, `${opened} connections for ${renewals.length} renewals (and the reads before them)`);
});

test('a Lease held by another live holder is taken only once it expires', async (t) => {
  const s = await setup(t);
  const coordination = s.fake.client().makeApiClient(CoordinationV1Api);
  const now = new V1MicroTime();
  await coordination.createNamespacedLease({
    namespace: LEASE_NS, body: { metadata: { name: LEASE }, spec: { holderIdentity: 'ghost', leaseDurationSeconds: 2, renewTime: now, acquireTime: now } },
  });
  const started = Date.now();
  const { handle } = await run(t, s, FAST_LEASE);
  await eventually(async () => (await get(handle.healthPort, '/readyz')).status === 200, 'a ready standby');
  assert.equal(handle.isLeader(), false);
  await eventually(() => handle.isLeader(), 'the takeover', 4000);
  assert.ok(Date.now() - started >= 1900, `took over after ${Date.now() - started} ms, before the ghost's lease expired`);
  assert.equal(lease(s)?.spec.holderIdentity, handle.identity);
  assert.equal(lease(s)?.spec.leaseTransitions, 1);
});

test('stop() is graceful: the controller stops, the Lease is released, the servers close', async (t) => {
  const s = await setup(t);
  const { handle, logs } = await run(t, s, FAST_LEASE);
  await eventually(() => handle.isLeader(), 'leadership');
  await eventually(() => handle.ready(), 'readiness');
  await Promise.all([handle.stop(), handle.stop()]);
  const spec = lease(s)!.spec;
  assert.equal(spec.holderIdentity, undefined, 'holderIdentity cleared');
  assert.equal(spec.leaseDurationSeconds, 1);
  assert.equal(handle.isLeader(), false);
  const order = logs.map((r) => r.msg).filter((m) => ['controller stopped', 'lease released', 'shut down'].includes(m as string));
  assert.deepEqual(order, ['controller stopped', 'lease released', 'shut down']);
  await assert.rejects(fetch(`http://127.0.0.1:${handle.healthPort}/healthz`), 'the health server is closed');
});

test('the entry point exits 0 on SIGTERM and releases the Lease', async (t) => {
  const s = await setup(t);
  const child = spawn(process.execPath, [MAIN_JS, '--kubeconfig', s.kubeconfigPath, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--lease-namespace', LEASE_NS, ...FAST_LEASE], {
    env: { ...s.env, PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(() => stdout.includes('"msg":"controller started"'), 'the child to lead', 10_000);
  assert.ok(lease(s)?.spec.holderIdentity?.startsWith('wax-test_'));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(lease(s)!.spec.holderIdentity, undefined);
  const records = stdout.trim().split('\n').map((line) => JSON.parse(line) as LogRecord);
  assert.ok(records.every((r) => typeof r.time === 'string' && typeof r.level === 'string' && typeof r.msg === 'string'), 'one JSON record per line');
  const order = records.map((r) => r.msg).filter((m) => ['signal received', 'controller stopped', 'lease released', 'shut down'].includes(m as string));
  assert.deepEqual(order, ['signal received', 'controller stopped', 'lease released', 'shut down']);
  assert.ok(records.some((r) => r.msg === 'signal received' && r.signal === 'SIGTERM'));
  assert.equal(records.at(-1)?.msg, 'shut down');
});
