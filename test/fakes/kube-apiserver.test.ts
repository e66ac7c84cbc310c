// The fake API server, driven only through the real @kubernetes/client-node 1.4 clients, so
// that what passes here is what the controller will meet on the wire.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, V1MicroTime, Watch, makeInformer, setHeaderOptions,
  type KubeConfig, type KubernetesObject, type V1Secret,
} from '@kubernetes/client-node';
import { startFakeApiServer, type FakeApiServer } from './kube-apiserver.js';

const GROUP = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Runs `fn` and returns the HTTP status code of the ApiException it must throw. */
async function failure(fn: () => Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    assert.equal(typeof e.code, 'number', `expected an ApiException, got ${String(err)}`);
    return { code: e.code!, body: typeof e.body === 'string' && e.body ? JSON.parse(e.body) : {} };
  }
  assert.fail('the call succeeded but must fail');
}

/** Polls until `check` returns true, for asynchronous informer and watch deliveries. */
async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const encryptedSecret = (name: string, spec: Record<string, unknown> = { data: { a: 'ENC[x]' } }) => ({
  apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', metadata: { name }, spec,
});

describe('fake kube-apiserver via client-node', () => {
  let fake: FakeApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let coordination: CoordinationV1Api;

  before(async () => {
    fake = await startFakeApiServer({ historyLimit: 50 });
    kc = fake.client();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    coordination = kc.makeApiClient(CoordinationV1Api);
  });
  after(() => fake.close());

  it('creates, reads, replaces, patches and deletes Secrets, folding stringData into data', async () => {
    const created = await core.createNamespacedSecret({
      namespace: 'crud', body: { metadata: { name: 's1', labels: { app: 'x' } }, stringData: { password: 'hunter2' }, data: { user: b64('bob') } },
    });
    assert.equal(created.metadata?.namespace, 'crud');
    assert.ok(created.metadata?.uid && created.metadata.resourceVersion && created.metadata.creationTimestamp);
    assert.ok((created.metadata?.managedFields ?? []).length > 0, 'server-added managedFields');
    assert.deepEqual(created.data, { password: b64('hunter2'), user: b64('bob') });
    assert.equal(created.stringData, undefined);
    assert.equal(created.type, 'Opaque');

    const read = await core.readNamespacedSecret({ name: 's1', namespace: 'crud' });
    assert.deepEqual(Object.keys(read.data ?? {}), ['password', 'user'], 'map keys come back sorted');

    const replaced = await core.replaceNamespacedSecret({ name: 's1', namespace: 'crud', body: { ...read, stringData: { user: 'alice' } } });
    assert.equal(replaced.data?.user, b64('alice'));
    assert.ok(Number(replaced.metadata?.resourceVersion) > Number(read.metadata?.resourceVersion));

    const patched = await core.patchNamespacedSecret({ name: 's1', namespace: 'crud', body: { data: { password: null }, metadata: { labels: { tier: 'db' } } } }, mergePatch);
    assert.deepEqual(patched.data, { user: b64('alice') });
    assert.deepEqual(patched.metadata?.labels, { app: 'x', tier: 'db' });

    const jsonPatched = await core.patchNamespacedSecret({ name: 's1', namespace: 'crud', body: [{ op: 'add', path: '/data/extra', value: b64('1') }, { op: 'remove', path: '/metadata/labels/app' }] });
    assert.equal(jsonPatched.data?.extra, b64('1'));
    assert.deepEqual(jsonPatched.metadata?.labels, { tier: 'db' });
    const failedTest = await failure(() => core.patchNamespacedSecret({ name: 's1', namespace: 'crud', body: [{ op: 'test', path: '/data/extra', value: 'nope' }] }));
    assert.equal(failedTest.code, 422);

    await core.deleteNamespacedSecret({ name: 's1', namespace: 'crud' });
    const missing = await failure(() => core.readNamespacedSecret({ name: 's1', namespace: 'crud' }));
    assert.equal(missing.code, 404);
    assert.deepEqual(missing.body, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'secrets "s1" not found', reason: 'NotFound', details: { name: 's1', kind: 'secrets' }, code: 404,
    });
  });

  it('rejects duplicates, stale resourceVersions, bad base64 and bad names with the real codes', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'errs', body: { metadata: { name: 'dup' }, data: { k: b64('v') } } });
    const dup = await failure(() => core.createNamespacedSecret({ namespace: 'errs', body: { metadata: { name: 'dup' } } }));
    assert.equal(dup.code, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');

    await core.replaceNamespacedSecret({ name: 'dup', namespace: 'errs', body: { ...s, data: { k: b64('w') } } });
    const stale = await failure(() => core.replaceNamespacedSecret({ name: 'dup', namespace: 'errs', body: { ...s, data: { k: b64('z') } } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.body.reason, 'Conflict');
    const stalePatch = await failure(() => core.patchNamespacedSecret({ name: 'dup', namespace: 'errs', body: { metadata: { resourceVersion: s.metadata!.resourceVersion } } }, mergePatch));
    assert.equal(stalePatch.code, 409);

    const bad64 = await failure(() => core.createNamespacedSecret({ namespace: 'errs', body: { metadata: { name: 'b' }, data: { k: 'not base64!' } } }));
    assert.equal(bad64.code, 400);
    const badName = await failure(() => core.createNamespacedSecret({ namespace: 'errs', body: { metadata: { name: 'Bad_Name' } } }));
    assert.equal(badName.code, 422);
    assert.equal(badName.body.reason, 'Invalid');
    const missingReplace = await failure(() => core.replaceNamespacedSecret({ name: 'nope', namespace: 'errs', body: { metadata: { name: 'nope' } } }));
    assert.equal(missingReplace.code, 404);
  });

  it('keeps the custom resource status apart and bumps generation only on spec changes', async () => {
    const ns = 'cr';
    const created = (await custom.createNamespacedCustomObject({ ...GROUP, namespace: ns, body: { ...encryptedSecret('es1'), status: { bogus: true } } })) as KubernetesObject & { status?: unknown };
    assert.equal(created.metadata?.generation, 1);
    assert.equal(created.status, undefined, 'status is dropped on create');

    const withStatus = await custom.replaceNamespacedCustomObjectStatus({ ...GROUP, namespace: ns, name: 'es1', body: { ...created, spec: { changed: true }, status: { observedGeneration: 1 } } });
    assert.deepEqual(withStatus.status, { observedGeneration: 1 });
    assert.deepEqual(withStatus.spec, { data: { a: 'ENC[x]' } }, 'the status endpoint ignores spec');
    assert.equal(withStatus.metadata.generation, 1, 'a status write does not bump generation');

    const patchedStatus = await custom.patchNamespacedCustomObjectStatus({ ...GROUP, namespace: ns, name: 'es1', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, mergePatch);
    assert.equal(patchedStatus.status.observedGeneration, 1);
    assert.equal(patchedStatus.metadata.generation, 1);

    const specChanged = await custom.replaceNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1', body: { ...patchedStatus, spec: { data: { a: 'ENC[y]' } }, status: { wiped: true } } });
    assert.equal(specChanged.metadata.generation, 2);
    assert.equal(specChanged.status.observedGeneration, 1, 'the main endpoint ignores status');

    const labelsOnly = await custom.patchNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1', body: { metadata: { labels: { a: 'b' } } } }, mergePatch);
    assert.equal(labelsOnly.metadata.generation, 2, 'metadata changes do not bump generation');

    const stale = await failure(() => custom.replaceNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1', body: specChanged }));
    assert.equal(stale.code, 409);
    const noRv = await failure(() => custom.replaceNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1', body: encryptedSecret('es1') }));
    assert.equal(noRv.code, 422, 'custom resources refuse unconditional updates');
    const smp = await failure(() => custom.patchNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1', body: { spec: {} } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)));
    assert.equal(smp.code, 415, 'strategic merge patch is not supported for custom resources');

    const deleted = await custom.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1' });
    assert.equal(deleted.metadata.name, 'es1');
    assert.equal((await failure(() => custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'es1' }))).code, 404);
  });

  it('serves label and field selectors, namespaced and across namespaces', async () => {
    for (const [ns, name, tier] of [['sel-a', 'one', 'web'], ['sel-a', 'two', 'db'], ['sel-b', 'three', 'web']] as const) {
      await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name, labels: { sel: 'yes', tier } } } });
    }
    const names = (list: { items: V1Secret[] }) => list.items.map((s) => s.metadata?.name).sort();
    assert.deepEqual(names(await core.listSecretForAllNamespaces({ labelSelector: 'sel=yes,tier=web' })), ['one', 'three']);
    assert.deepEqual(names(await core.listNamespacedSecret({ namespace: 'sel-a', labelSelector: 'sel,tier in (db,cache)' })), ['two']);
    assert.deepEqual(names(await core.listNamespacedSecret({ namespace: 'sel-a', labelSelector: 'sel=yes,tier!=db' })), ['one']);
    assert.deepEqual(names(await core.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=three' })), ['three']);
    assert.deepEqual(names(await core.listSecretForAllNamespaces({ labelSelector: 'sel', fieldSelector: 'metadata.namespace=sel-b' })), ['three']);
    const badField = await failure(() => core.listSecretForAllNamespaces({ fieldSelector: 'spec.nope=1' }));
    assert.equal(badField.code, 400);
  });

  it('streams watch events after a list resourceVersion in order, and 410 for an expired one', async () => {
    const ns = 'watch';
    const list = await core.listNamespacedSecret({ namespace: ns });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'w1' } } });
    await core.patchNamespacedSecret({ name: 'w1', namespace: ns, body: { metadata: { labels: { x: '1' } } } }, mergePatch);
    const seen: string[] = [];
    const watch = new Watch(kc);
    const controller = await watch.watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, obj: V1Secret) => seen.push(`${type}:${obj.metadata?.name ?? ''}`), () => undefined);
    await core.deleteNamespacedSecret({ name: 'w1', namespace: ns });
    await eventually(() => seen.length === 4, 'four watch events');
    assert.deepEqual(seen, ['ADDED:w1', 'MODIFIED:w1', 'BOOKMARK:', 'DELETED:w1']);
    controller.abort();

    fake.expireHistory();
    const events: { type: string; obj: { code?: number; reason?: string } }[] = [];
    let ended = false;
    await watch.watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: list.metadata?.resourceVersion }, (type, obj) => events.push({ type, obj }), () => { ended = true; });
    await eventually(() => ended, 'the expired watch to end');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'ERROR');
    assert.equal(events[0]!.obj.code, 410);
    assert.equal(events[0]!.obj.reason, 'Expired');
  });

  it('an informer reconnects after dropped watches and relists after a 410', async () => {
    const ns = 'informer';
    const path = `/api/v1/namespaces/${ns}/secrets`;
    const informer = makeInformer(kc, path, () => core.listNamespacedSecret({ namespace: ns }));
    const errors: unknown[] = [];
    informer.on('error', (err) => errors.push(err));
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'i1' } } });
    await informer.start();
    await eventually(() => informer.list(ns).length === 1 && fake.openWatches > 0, 'the initial list');

    const listsBefore = fake.requests.filter((r) => r.path === path && r.verb === 'list').length;
    fake.dropWatches();
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'i2' } } });
    await eventually(() => informer.list(ns).length === 2, 'the informer to see i2 after a dropped watch');
    assert.equal(fake.requests.filter((r) => r.path === path && r.verb === 'list').length, listsBefore, 'a clean close re-watches without relisting');
    const rewatch = fake.requests.filter((r) => r.path === path && r.verb === 'watch').at(-1);
    assert.ok(rewatch?.query.resourceVersion, 'the re-watch passes the last seen resourceVersion');

    fake.expireHistory();
    await core.deleteNamespacedSecret({ name: 'i1', namespace: ns });
    await eventually(() => informer.list(ns).map((s) => s.metadata?.name).join() === 'i2', 'the informer to converge after a 410');
    assert.equal(fake.requests.filter((r) => r.path === path && r.verb === 'list').length, listsBefore + 1, 'a 410 forces exactly one relist');
    assert.deepEqual(errors, []);
    await informer.stop();
  });

  it('garbage-collects Secrets owned by a deleted EncryptedSecret', async () => {
    const ns = 'gc';
    const owner = (await custom.createNamespacedCustomObject({ ...GROUP, namespace: ns, body: encryptedSecret('owner') })) as KubernetesObject;
    const other = (await custom.createNamespacedCustomObject({ ...GROUP, namespace: ns, body: encryptedSecret('other') })) as KubernetesObject;
    const ref = (o: KubernetesObject) => ({ apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', name: o.metadata!.name!, uid: o.metadata!.uid!, controller: true });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'owned', ownerReferences: [ref(owner)] } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'shared', ownerReferences: [ref(owner), { ...ref(other), controller: false }] } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'free' } } });

    await custom.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name: 'owner' });
    assert.equal((await failure(() => core.readNamespacedSecret({ name: 'owned', namespace: ns }))).code, 404);
    const shared = await core.readNamespacedSecret({ name: 'shared', namespace: ns });
    assert.deepEqual(shared.metadata?.ownerReferences?.map((r) => r.name), ['other'], 'a live owner keeps the dependent');
    await core.readNamespacedSecret({ name: 'free', namespace: ns });
  });

  it('creates and updates Leases with conflicts, and creates Events', async () => {
    const ns = 'lease';
    const spec = { holderIdentity: 'a', leaseDurationSeconds: 15 };
    const lease = await coordination.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'wax-leader' }, spec } });
    const renewed = await coordination.replaceNamespacedLease({ name: 'wax-leader', namespace: ns, body: { ...lease, spec: { ...spec, renewTime: new V1MicroTime() } } });
    // client-node types renewTime as a Date but has no deserialiser for MicroTime: a string comes back.
    assert.match(String(renewed.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const stolen = await failure(() => coordination.replaceNamespacedLease({ name: 'wax-leader', namespace: ns, body: { ...lease, spec: { ...spec, holderIdentity: 'b' } } }));
    assert.equal(stolen.code, 409);
    assert.equal((await failure(() => coordination.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'wax-leader' }, spec } }))).code, 409);

    await core.createNamespacedEvent({ namespace: ns, body: {
      metadata: { name: 'es.1' }, involvedObject: { kind: 'EncryptedSecret', name: 'es', namespace: ns }, reason: 'Decrypted', message: 'ok', type: 'Normal',
    } });
    const events = await core.listNamespacedEvent({ namespace: ns });
    assert.deepEqual(events.items.map((e) => e.reason), ['Decrypted']);
  });

  it('injects failures and counts writes, none for reads', async () => {
    const ns = 'faults';
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'f' } } });
    fake.failNext('get', 'secrets', 500, 2);
    assert.equal((await failure(() => core.readNamespacedSecret({ name: 'f', namespace: ns }))).code, 500);
    assert.equal((await failure(() => core.readNamespacedSecret({ name: 'f', namespace: ns }))).code, 500);
    const s = await core.readNamespacedSecret({ name: 'f', namespace: ns });
    fake.failNext('update', 'secrets', 409);
    assert.equal((await failure(() => core.replaceNamespacedSecret({ name: 'f', namespace: ns, body: s }))).code, 409);

    fake.resetLog();
    await core.listNamespacedSecret({ namespace: ns });
    await core.readNamespacedSecret({ name: 'f', namespace: ns });
    assert.equal(fake.totalWrites(), 0, 'reads are not writes');
    const same = await core.replaceNamespacedSecret({ name: 'f', namespace: ns, body: s });
    assert.equal(same.metadata?.resourceVersion, s.metadata?.resourceVersion, 'a no-op update keeps resourceVersion');
    await custom.createNamespacedCustomObject({ ...GROUP, namespace: ns, body: encryptedSecret('w') });
    await custom.patchNamespacedCustomObjectStatus({ ...GROUP, namespace: ns, name: 'w', body: { status: { ok: true } } }, mergePatch);
    assert.deepEqual(fake.writes, { secrets: 1, encryptedsecrets: 1, 'encryptedsecrets/status': 1 });
    assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.status}`), ['GET 200', 'GET 200', 'PUT 200', 'POST 201', 'PATCH 200']);
  });

  it('keeps state across a restart', async () => {
    await core.createNamespacedSecret({ namespace: 'restart', body: { metadata: { name: 'r' } } });
    await fake.restart(50);
    const s = await core.readNamespacedSecret({ name: 'r', namespace: 'restart' });
    assert.equal(s.metadata?.name, 'r');
  });
});
