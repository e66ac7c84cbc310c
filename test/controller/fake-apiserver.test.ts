/**
 * What the controller's tests and the scale bench rely on in test/fakes/kube-apiserver.ts,
 * driven through the real @kubernetes/client-node clients: committed objects are frozen and
 * shared (no copy per watch event or response, yet every write still stores, versions and
 * notifies), `view` reads them without a copy, and `delayWriteResponses` lets a watch event
 * reach watchers before the write's own response reaches the writer.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function fakeWithClient(t: TestContext): Promise<{ fake: FakeApiServer; core: CoreV1Api; watch: Watch }> {
  const fake = await startFakeApiServer();
  t.after(() => fake.close());
  const kc = fake.client();
  return { fake, core: kc.makeApiClient(CoreV1Api), watch: new Watch(kc) };
}

test('stored objects are frozen and shared: peek copies, view does not, and only writes change what is stored', async (t) => {
  const { fake, core, watch } = await fakeWithClient(t);
  const ns = 'frozen';
  const list = await core.listNamespacedSecret({ namespace: ns });
  const events: Array<{ type: string; labels: unknown; version: unknown }> = [];
  const request = await watch.watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: list.metadata?.resourceVersion }, (type, obj) => events.push({ type, labels: obj.metadata.labels, version: obj.metadata.resourceVersion }), () => {});
  t.after(() => request.abort());
  const created = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'z', labels: { a: '1' } }, data: { k: b64('v') } } });
  const view = fake.view('secrets', ns, 'z')!;
  assert.ok(Object.isFrozen(view) && Object.isFrozen(view.metadata) && Object.isFrozen(view.metadata.labels));
  assert.throws(() => { (view.metadata.labels as Record<string, string>).a = '2'; }, TypeError);
  const copy = fake.peek('secrets', ns, 'z')!;
  copy.metadata.labels.a = '2';
  assert.equal(fake.view('secrets', ns, 'z')!.metadata.labels.a, '1', 'a peeked copy is the caller\'s own');
  const patched = await core.patchNamespacedSecret({ namespace: ns, name: 'z', body: { metadata: { labels: { a: '3' } } } }, MERGE_PATCH);
  assert.notEqual(patched.metadata?.resourceVersion, created.metadata?.resourceVersion);
  assert.equal(view.metadata.labels.a, '1', 'the old object is left as it was; the write committed a new one');
  assert.equal(fake.view('secrets', ns, 'z')!.metadata.labels.a, '3');
  const listed = await core.listNamespacedSecret({ namespace: ns });
  assert.deepEqual(listed.items.map((i) => [i.metadata?.name, i.metadata?.labels?.a, i.metadata?.resourceVersion]), [['z', '3', patched.metadata?.resourceVersion]]);
  await eventually(() => events.length === 2, 'both watch events');
  assert.deepEqual(events, [
    { type: 'ADDED', labels: { a: '1' }, version: created.metadata?.resourceVersion },
    { type: 'MODIFIED', labels: { a: '3' }, version: patched.metadata?.resourceVersion },
  ]);
  // A no-op write stores nothing new: same object, same resourceVersion, no event.
  const same = await core.patchNamespacedSecret({ namespace: ns, name: 'z', body: { metadata: { labels: { a: '3' } } } }, MERGE_PATCH);
  assert.equal(same.metadata?.resourceVersion, patched.metadata?.resourceVersion);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(events.length, 2);
});

test('delayWriteResponses: watchers get a write before its writer gets the response; reads are not delayed', async (t) => {
  const { fake, core, watch } = await fakeWithClient(t);
  const ns = 'echo';
  const list = await core.listNamespacedSecret({ namespace: ns });
  const seen: string[] = [];
  const request = await watch.watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: list.metadata?.resourceVersion }, (type, obj) => seen.push(`${type} ${obj.metadata.resourceVersion}`), () => {});
  t.after(() => request.abort());
  fake.delayWriteResponses(500);
  let answered = false;
  const creating = core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'e' } } }).finally(() => { answered = true; });
  await eventually(() => seen.length === 1, 'the watch event');
  const read = await core.readNamespacedSecret({ namespace: ns, name: 'e' });
  assert.equal(answered, false, 'the read was answered while the write response was still held');
  const created = await creating;
  assert.deepEqual(seen, [`ADDED ${created.metadata?.resourceVersion}`]);
  assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
  fake.delayWriteResponses(0);
  const start = Date.now();
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'f' } } });
  assert.ok(Date.now() - start < 500, 'switched off again');
});
