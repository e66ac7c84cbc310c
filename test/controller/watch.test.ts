/**
 * The controller loop end to end, in-process: real sealed EncryptedSecrets (a throwaway
 * age key), the real @kubernetes/client-node, and the wire-level fake API server with its
 * faults (409, 410, a restart). Every state is awaited by polling with a deadline.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type ProviderContext } from '../../src/providers/index.js';
import { MANAGED_BY_LABEL } from '../../controller/reconcile.js';
import { startController, type ControllerOptions, type LogRecord, type RunningController } from '../../controller/watch.js';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';

type Plain = Record<string, any>;

const CR = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NS = 'payments';
const NAME = 'db';
const PASSWORD = 'hunter2-first-password';
const SECOND_PASSWORD = 'correct-horse-second';
const b64 = (text: string) => Buffer.from(text).toString('base64');

const keys = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } };
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], ctx);
  return { ctx, keyGroups };
})();

/** An EncryptedSecret for NS/`name`, one value in `data` and one in `stringData`. */
async function sealed(password = PASSWORD, name = NAME): Promise<Plain> {
  const manifest = {
    apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS, labels: { app: 'db' } },
    type: 'Opaque', data: { user: b64('app') }, stringData: { password },
  };
  return parseYaml((await sealSecret(manifest, { keyGroups: (await keys).keyGroups, scope: 'strict' })).toString()) as Plain;
}

function flipCiphertext(enc: string): string {
  return enc.replace(/data:([^,]+),/, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `data:${bytes.toString('base64')},`;
  });
}

interface Harness {
  fake: FakeApiServer;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  controller: RunningController;
  logs: LogRecord[];
}

/** A fresh fake and controller per test; stopped, and the logs checked for plaintext, at the end. */
async function harness(t: TestContext, options: Partial<ControllerOptions> = {}): Promise<Harness> {
  const fake = await startFakeApiServer({ historyLimit: 100 });
  const kc = fake.client();
  const logs: LogRecord[] = [];
  const controller = startController({
    kubeConfig: kc, ctx: (await keys).ctx, log: (record) => { logs.push(record); if (process.env.WATCH_DEBUG) console.log(JSON.stringify(record)); },
    backoff: { baseMs: 20, maxMs: 500 }, watchBackoff: { baseMs: 20, maxMs: 500 }, ...options,
  });
  t.after(async () => {
    await controller.stop();
    await fake.close();
    const text = JSON.stringify(logs);
    for (const secret of [PASSWORD, SECOND_PASSWORD]) {
      assert.ok(!text.includes(secret) && !text.includes(b64(secret)), 'the logs leak secret material');
    }
  });
  await eventually(() => controller.ready(), 'the informers to sync');
  return { fake, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi), controller, logs };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function apply(h: Harness, object: Plain, namespace = NS): Promise<Plain> {
  const body = { ...object, metadata: { ...object.metadata, namespace } };
  return (await h.custom.createNamespacedCustomObject({ ...CR, namespace, body })) as Plain;
}

const stored = (h: Harness, namespace = NS) => h.fake.peek('encryptedsecrets', namespace, NAME);
const secretOf = (h: Harness, namespace = NS) => h.fake.peek('secrets', namespace, NAME);
const ready = (object: Plain | undefined) => (object?.status?.conditions ?? []).find((c: Plain) => c.type === 'Ready');

/** Waits until the stored EncryptedSecret's Ready condition has `reason` at its current generation. */
async function readyWith(h: Harness, reason: string, namespace = NS): Promise<Plain> {
  await eventually(() => {
    const object = stored(h, namespace);
    return ready(object)?.reason === reason && object?.status?.observedGeneration === object?.metadata.generation;
  }, `Ready reason ${reason} in ${namespace}`);
  return stored(h, namespace)!;
}

/** Waits for the worker's own record: the status is visible before its event is written and logged. */
async function logged(h: Harness, what: string, match: (record: LogRecord) => boolean): Promise<void> {
  await eventually(() => h.logs.some(match), what);
}

const expectedData = (password: string) => ({ password: b64(password), user: b64('app') });
const sorted = (map: Plain | undefined) => JSON.stringify(Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
const dataIs = (h: Harness, password: string) => () => sorted(secretOf(h)?.data) === sorted(expectedData(password));

/** The EncryptedSecret re-sealed with another password, PUT with its resourceVersion. */
async function reseal(h: Harness, password: string): Promise<void> {
  const current = (await h.custom.getNamespacedCustomObject({ ...CR, namespace: NS, name: NAME })) as Plain;
  const next = await sealed(password);
  await h.custom.replaceNamespacedCustomObject({ ...CR, namespace: NS, name: NAME, body: { ...current, spec: next.spec, sops: next.sops } });
}

test('apply: the Secret appears with exactly the decrypted data and Ready=True Decrypted at the generation', async (t) => {
  const h = await harness(t);
  const created = await apply(h, await sealed());
  const es = await readyWith(h, 'Decrypted');
  const secret = secretOf(h)!;
  assert.deepEqual(secret.data, expectedData(PASSWORD));
  assert.equal(secret.type, 'Opaque');
  assert.equal(secret.metadata.labels[MANAGED_BY_LABEL], 'wax');
  assert.deepEqual(secret.metadata.ownerReferences.map((r: Plain) => [r.kind, r.name, r.uid, r.controller]), [['EncryptedSecret', NAME, created.metadata.uid, true]]);
  assert.equal(ready(es).status, 'True');
  assert.equal(es.status.observedGeneration, 1);
  assert.equal(ready(es).observedGeneration, 1);
  assert.equal(es.status.secretName, NAME);
  await logged(h, 'the reconcile to finish', (r) => r.msg === 'reconciled' && r.action === 'create');
  const events = await h.core.listNamespacedEvent({ namespace: NS });
  assert.deepEqual(events.items.map((e) => [e.type, e.reason, e.involvedObject.kind, e.involvedObject.name, e.involvedObject.uid]), [['Normal', 'Decrypted', 'EncryptedSecret', NAME, created.metadata.uid]]);
  assert.equal(h.fake.writes.secrets, 1, 'one create');
});

test('edit the owned Secret: it is put back', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await h.core.patchNamespacedSecret({ namespace: NS, name: NAME, body: { data: { password: b64('tampered'), extra: b64('x') } } }, MERGE_PATCH);
  await eventually(dataIs(h, PASSWORD), 'the Secret to be put back');
  assert.equal(ready(stored(h)).reason, 'Decrypted');
});

test('update the EncryptedSecret: the Secret follows and observedGeneration advances', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await reseal(h, SECOND_PASSWORD);
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow');
  const es = await readyWith(h, 'Decrypted');
  assert.equal(es.metadata.generation, 2);
  assert.equal(es.status.observedGeneration, 2);
});

test('delete the EncryptedSecret: the Secret goes and is not recreated', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  const mark = h.logs.length;
  await h.custom.deleteNamespacedCustomObject({ ...CR, namespace: NS, name: NAME });
  await eventually(() => secretOf(h) === undefined, 'the Secret to be collected');
  await eventually(() => h.logs.slice(mark).some((r) => r.msg === 'reconcile skipped' && r.key === `${NS}/${NAME}`), 'the worker to see the deletion');
  await eventually(() => h.controller.queueDepth() === 0, 'an empty queue');
  assert.equal(secretOf(h), undefined);
  assert.equal(h.fake.writes.secrets ?? 0, 1, 'only the first create: the Secret was not recreated');
});

test('a copy in another namespace: Ready=False ScopeMismatch and no Secret', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(), 'elsewhere');
  const es = await readyWith(h, 'ScopeMismatch', 'elsewhere');
  assert.equal(ready(es).status, 'False');
  assert.match(ready(es).message, /sealed for namespace payments, name db, found in namespace elsewhere/);
  assert.equal(secretOf(h, 'elsewhere'), undefined);
  assert.equal(h.fake.writes.secrets ?? 0, 0);
  await logged(h, 'the reconcile to finish', (r) => r.msg === 'reconciled' && r.reason === 'ScopeMismatch');
  const events = await h.core.listNamespacedEvent({ namespace: 'elsewhere' });
  assert.deepEqual(events.items.map((e) => [e.type, e.reason]), [['Warning', 'ScopeMismatch']]);
});

test('a flipped ciphertext byte: Ready=False IntegrityError and no Secret', async (t) => {
  const h = await harness(t);
  const object = await sealed();
  object.spec.stringData.password = flipCiphertext(object.spec.stringData.password);
  await apply(h, object);
  const es = await readyWith(h, 'IntegrityError');
  assert.equal(ready(es).status, 'False');
  assert.equal(secretOf(h), undefined);
});

test('an existing Secret it does not own: Ready=False SecretConflict, the Secret untouched', async (t) => {
  const h = await harness(t);
  const theirs = await h.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: NAME, labels: { team: 'other' } }, data: { password: b64('theirs') } } });
  await apply(h, await sealed());
  const es = await readyWith(h, 'SecretConflict');
  assert.equal(ready(es).status, 'False');
  const after = secretOf(h)!;
  assert.equal(after.metadata.resourceVersion, theirs.metadata?.resourceVersion);
  assert.deepEqual(after.data, { password: b64('theirs') });
  assert.equal(after.metadata.ownerReferences, undefined);
  assert.equal(h.fake.writes.secrets, 1, 'only our own test create');
});

test('after a restart, workers wait for the Secret cache: no create that fails 409, no extra write', async (t) => {
  const first = await harness(t);
  await apply(first, await sealed());
  await readyWith(first, 'Decrypted');
  await first.controller.stop();
  const writes = first.fake.writes.secrets;
  // The new controller's first list of Secrets fails: its Secret cache fills only on the retry.
  first.fake.failNext('list', 'secrets', 500, 1);
  const from = first.fake.requests.length;
  const logs: LogRecord[] = [];
  const second = startController({ kubeConfig: first.fake.client(), ctx: (await keys).ctx, log: (r) => void logs.push(r), backoff: { baseMs: 20, maxMs: 500 }, watchBackoff: { baseMs: 150, maxMs: 500 } });
  t.after(() => second.stop());
  await eventually(() => logs.some((r) => r.msg === 'reconciled' && r.key === `${NS}/${NAME}`), 'the key reconciled after the restart');
  const sinceRestart = first.fake.requests.slice(from);
  assert.ok(sinceRestart.some((r) => r.verb === 'list' && r.resource === 'secrets' && r.status === 500), 'the first Secret list failed');
  assert.deepEqual(sinceRestart.filter((r) => r.resource === 'secrets' && r.verb !== 'list' && r.verb !== 'watch').map((r) => `${r.method} ${r.status}`), [], 'no Secret request but list and watch');
  assert.equal(first.fake.writes.secrets, writes);
  assert.ok(logs.some((r) => r.msg === 'caches synced; workers started'));
});

test('workers start without the Secret cache when it cannot list within the timeout', async (t) => {
  const fake = await startFakeApiServer();
  t.after(() => fake.close());
  // Secrets cannot be listed at all (as under an RBAC mistake), from the first request on.
  fake.failNext('list', 'secrets', 403, 1_000_000);
  const logs: LogRecord[] = [];
  const controller = startController({ kubeConfig: fake.client(), ctx: (await keys).ctx, log: (r) => void logs.push(r), watchBackoff: { baseMs: 50, maxMs: 200 }, cacheSyncTimeoutMs: 300 });
  t.after(() => controller.stop());
  const custom = fake.client().makeApiClient(CustomObjectsApi);
  const es = await sealed();
  await custom.createNamespacedCustomObject({ ...CR, namespace: NS, body: { ...es, metadata: { ...es.metadata, namespace: NS } } });
  await eventually(() => fake.peek('secrets', NS, NAME) !== undefined, 'the Secret, created without the cache');
  assert.deepEqual(fake.peek('secrets', NS, NAME)?.data, expectedData(PASSWORD));
  assert.ok(logs.some((r) => r.msg === 'Secret cache not synced; workers started without it'));
  assert.equal(controller.ready(), false, 'not ready while an informer has never listed');
});

test('a 409 on the Secret update is retried and converges', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  h.fake.failNext('update', 'secrets', 409);
  await h.core.patchNamespacedSecret({ namespace: NS, name: NAME, body: { data: { password: b64('drifted') } } }, MERGE_PATCH);
  await eventually(dataIs(h, PASSWORD), 'the Secret to be put back after the conflict');
  const puts = h.fake.requests.filter((r) => r.method === 'PUT' && r.resource === 'secrets').map((r) => r.status);
  assert.deepEqual(puts, [409, 200]);
  assert.ok(h.logs.some((r) => r.msg === 'reconcile failed' && (r.error as Plain)?.code === 409 && r.outcome === 'transient'));
});

test('a 410 on the watch forces a relist, and later changes are still seen', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  const lists = () => h.fake.requests.filter((r) => r.verb === 'list' && r.resource === 'encryptedsecrets').length;
  const before = lists();
  h.fake.expireHistory();
  await eventually(() => lists() > before, 'the informer to relist');
  await reseal(h, SECOND_PASSWORD);
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow after the relist');
  assert.equal((await readyWith(h, 'Decrypted')).status.observedGeneration, 2);
});

test('an API server restart: the informers restart with backoff and converge', async (t) => {
  const h = await harness(t);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await h.fake.restart(150);
  await eventually(() => h.logs.some((r) => r.msg === 'informer stopped; restarting'), 'an informer restart');
  await eventually(() => h.controller.ready() && h.fake.openWatches === 2, 'both watches to be open again');
  await reseal(h, SECOND_PASSWORD);
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow after the restart');
  await h.core.patchNamespacedSecret({ namespace: NS, name: NAME, body: { data: { password: b64('drifted') } } }, MERGE_PATCH);
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret watch to work after the restart');
  const restarts = h.logs.filter((r) => r.msg === 'informer stopped; restarting');
  assert.ok(restarts.every((r) => typeof r.retryInMs === 'number' && (r.retryInMs as number) <= 500), 'restarts are capped');
});

test('one reconcile per change: the echoes of its own writes do not run the key again, even when they beat the responses', async (t) => {
  const h = await harness(t);
  // Each write is answered 50 ms after its watch event went out: the echo always comes first.
  h.fake.delayWriteResponses(50);
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await logged(h, 'the create to finish', (r) => r.msg === 'reconciled' && r.action === 'create');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await eventually(() => h.controller.queueDepth() === 0, 'an empty queue');
  assert.deepEqual(h.logs.filter((r) => r.msg === 'reconciled').map((r) => `${r.key} ${r.action}`), [`${NS}/${NAME} create`]);
  assert.deepEqual(h.fake.writes, { encryptedsecrets: 1, secrets: 1, 'encryptedsecrets/status': 1, events: 1 });
});

test('a change by someone else while the key runs is not mistaken for an echo: the key runs again', async (t) => {
  const h = await harness(t);
  h.fake.delayWriteResponses(400);
  void apply(h, await sealed());
  // The controller's create is committed and its worker waits for the response: edit now.
  await eventually(() => secretOf(h) !== undefined, 'the Secret to be created', 10_000);
  await h.core.patchNamespacedSecret({ namespace: NS, name: NAME, body: { data: { password: b64('tampered') } } }, MERGE_PATCH);
  h.fake.delayWriteResponses(0);
  await eventually(() => h.logs.some((r) => r.msg === 'reconciled' && r.action === 'update'), 'a second run that puts the Secret back', 10_000);
  await eventually(dataIs(h, PASSWORD), 'the Secret to be put back');
  assert.deepEqual(h.logs.filter((r) => r.msg === 'reconciled').map((r) => r.action), ['create', 'update']);
});

test('a resync with nothing changed makes zero API writes', async (t) => {
  const h = await harness(t, { resyncMs: 50 });
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await logged(h, 'the create to finish', (r) => r.msg === 'reconciled' && r.action === 'create');
  await eventually(() => h.controller.queueDepth() === 0, 'an empty queue');
  h.fake.resetLog();
  const mark = h.logs.length;
  const reconciled = () => h.logs.slice(mark).filter((r) => r.msg === 'reconciled' && r.key === `${NS}/${NAME}`);
  await eventually(() => reconciled().length >= 3, 'three resync reconciles');
  assert.equal(h.fake.totalWrites(), 0, `writes on resync: ${JSON.stringify(h.fake.writes)}`);
  assert.ok(reconciled().every((r) => r.action === 'none' && r.statusWritten === false));
  // The managed Secret comes from the informer cache: a resync does not even read it.
  assert.ok(!h.fake.requests.some((r) => r.verb === 'get' && r.resource === 'secrets'), 'a resync reads Secrets from the cache');
});

test('a resync served from the caches lets the event loop turn between keys (probes, watches, logs)', async (t) => {
  const h = await harness(t, { resyncMs: 300 });
  const names = Array.from({ length: 12 }, (_, i) => `db-${i}`);
  for (const name of names) await apply(h, await sealed(PASSWORD, name));
  await eventually(() => names.every((name) => ready(h.fake.peek('encryptedsecrets', NS, name))?.reason === 'Decrypted'), 'every object Ready', 10_000);
  // A 1 ms timer samples how far the next resync has got; a loop held for the whole
  // resync would only ever see none or all of its reconciles.
  const mark = h.logs.length;
  const samples: number[] = [];
  const resyncDone = () => {
    const start = h.logs.findIndex((r, i) => i >= mark && r.msg === 'resync');
    return start < 0 ? -1 : h.logs.slice(start).filter((r) => r.msg === 'reconciled').length;
  };
  const timer = setInterval(() => samples.push(resyncDone()), 1);
  t.after(() => clearInterval(timer));
  await eventually(() => resyncDone() >= names.length, 'a whole resync', 10_000);
  clearInterval(timer);
  assert.ok(samples.some((n) => n > 0 && n < names.length), `the timer saw no resync in progress: ${JSON.stringify([...new Set(samples)])}`);
});

test('a resync skips an object that failed permanently at the same generation', async (t) => {
  const h = await harness(t, { resyncMs: 50 });
  const object = await sealed();
  object.spec.stringData.password = flipCiphertext(object.spec.stringData.password);
  await apply(h, object);
  await readyWith(h, 'IntegrityError');
  await logged(h, 'the failure to be recorded', (r) => r.msg === 'reconciled' && r.reason === 'IntegrityError');
  const mark = h.logs.length;
  await eventually(() => h.logs.slice(mark).filter((r) => r.msg === 'resync').length >= 2, 'two resyncs');
  assert.ok(h.logs.slice(mark).filter((r) => r.msg === 'resync').every((r) => r.enqueued === 0 && r.skipped === 1));
  assert.ok(!h.logs.slice(mark).some((r) => r.msg === 'reconciled'));
});

test('stop() is graceful: watches closed, no request afterwards, not ready, idempotent', async (t) => {
  const h = await harness(t, { resyncMs: 30 });
  await apply(h, await sealed());
  await readyWith(h, 'Decrypted');
  await Promise.all([h.controller.stop(), h.controller.stop()]);
  assert.equal(h.controller.ready(), false);
  await eventually(() => h.fake.openWatches === 0, 'the watches to close');
  const requests = h.fake.requests.length;
  const logCount = h.logs.length;
  await new Promise((resolve) => setTimeout(resolve, 150)); // several resync periods
  assert.equal(h.fake.requests.length, requests, 'no request after stop');
  assert.deepEqual(h.logs.slice(logCount), [], 'nothing logged after stop');
  assert.ok(!h.logs.some((r) => r.level === 'warn'), 'stopping is not reported as an informer failure');
  assert.equal(h.logs.at(-1)?.msg, 'controller stopped');
});
