/**
 * The end-to-end suite of issue 4's acceptance list (`npm run e2e`): real sealed
 * EncryptedSecrets, the real @kubernetes/client-node and the in-process controller
 * (startController), against the wire-level fake API server (test/fakes/kube-apiserver.ts)
 * or, when WAX_E2E_KUBECONFIG names a kubeconfig, against that cluster. In the cluster
 * mode every test gets its own namespaces (deleted afterwards), the CRD is installed from
 * controller/deploy/crd.yaml when missing, and the fault injections only the fake can do
 * (409, 410, KMS outage) are skipped with the reason shown.
 *
 * Named *.e2e.ts, not *.test.ts, so that `npm test` (scripts/test.mjs) does not run it.
 * E2E_KMS_OUTAGE_MS sets how long the KMS fake is down (default 30000).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer as createNetServer, connect, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type KeySpec, type ProviderContext } from '../../src/providers/index.js';
import { startController, type ControllerOptions, type LogRecord, type RunningController } from '../../controller/watch.js';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';
import { startFakeKms } from '../fakes/aws-kms.js';
import { repoRoot } from '../support/paths.js';

type Plain = Record<string, any>;

const KUBECONFIG = process.env.WAX_E2E_KUBECONFIG || undefined;
const REAL = KUBECONFIG !== undefined;
const OUTAGE_MS = Number(process.env.E2E_KMS_OUTAGE_MS ?? 30_000);
const TIMEOUT_MS = REAL ? 90_000 : 10_000;
const FAKE_ONLY = REAL ? 'needs fault injection that only the fake API server and the KMS fake can do (WAX_E2E_KUBECONFIG is set)' : false;

const CR = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NAME = 'db';
const PASSWORD = 'hunter2-first-password';
const SECOND_PASSWORD = 'correct-horse-second';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ cluster-mode setup

/** Why the whole suite is skipped in the cluster mode (the CRD could not be installed), if it is. */
const suiteSkip: string | false = REAL ? await ensureCrd() : false;

async function ensureCrd(): Promise<string | false> {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG!);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = 'encryptedsecrets.wax.dev';
  try {
    await api.readCustomResourceDefinition({ name });
    return false;
  } catch (e) {
    if ((e as Plain).code !== 404) return `cannot read the CRD ${name} in the cluster: ${(e as Error).message}`;
  }
  try {
    const body = parseYaml(readFileSync(path.join(repoRoot(), 'controller/deploy/crd.yaml'), 'utf8')) as V1CustomResourceDefinition;
    await api.createCustomResourceDefinition({ body });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
      if (Date.now() > deadline) return `the CRD ${name} was created but is not Established after 60 s`;
      await sleep(250);
    }
  } catch (e) {
    return `the CRD ${name} is missing and could not be installed from controller/deploy/crd.yaml: ${(e as Error).message}`;
  }
}

// ------------------------------------------------------------------ keys and objects

const ageKeys = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } };
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], ctx);
  return { ctx, keyGroups };
})();

type KeyGroups = Awaited<ReturnType<typeof resolveKeyGroups>>;

/** An EncryptedSecret for namespace/NAME, one value in `data` and one in `stringData`. */
async function sealed(namespace: string, password = PASSWORD, keyGroups?: KeyGroups): Promise<Plain> {
  const manifest = {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: NAME, namespace, labels: { app: 'db' } },
    type: 'Opaque', data: { user: b64('app') }, stringData: { password },
  };
  const groups = keyGroups ?? (await ageKeys).keyGroups;
  return parseYaml((await sealSecret(manifest, { keyGroups: groups, scope: 'strict' })).toString()) as Plain;
}

function flipCiphertext(enc: string): string {
  return enc.replace(/data:([^,]+),/, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `data:${bytes.toString('base64')},`;
  });
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeysDeep((value as Plain)[k])]));
}

// ------------------------------------------------------------------ harness

interface Harness {
  ns: string;
  /** A second namespace, for the copy that must not decrypt. */
  other: string;
  fake?: FakeApiServer;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  controller: RunningController;
  logs: LogRecord[];
}

/** Fresh namespaces (and, against the fake, a fresh API server) and a controller per test. */
async function harness(t: TestContext, options: Partial<ControllerOptions> = {}): Promise<Harness> {
  const suffix = randomBytes(4).toString('hex');
  const ns = `wax-e2e-${suffix}`;
  const other = `wax-e2e-${suffix}-other`;
  let fake: FakeApiServer | undefined;
  let kc: KubeConfig;
  if (REAL) {
    kc = new KubeConfig();
    kc.loadFromFile(KUBECONFIG!);
  } else {
    fake = await startFakeApiServer({ historyLimit: 100 });
    kc = fake.client();
  }
  const core = kc.makeApiClient(CoreV1Api);
  if (REAL) {
    for (const name of [ns, other]) await core.createNamespace({ body: { metadata: { name, labels: { 'app.kubernetes.io/part-of': 'wax-e2e' } } } });
  }
  const logs: LogRecord[] = [];
  const controller = startController({
    kubeConfig: kc,
    ctx: (await ageKeys).ctx,
    namespaces: REAL ? [ns, other] : undefined,
    log: (record) => { logs.push(record); if (process.env.WATCH_DEBUG) console.log(JSON.stringify(record)); },
    backoff: { baseMs: 20, maxMs: 500 },
    watchBackoff: { baseMs: 20, maxMs: 500 },
    ...options,
  });
  t.after(async () => {
    await controller.stop();
    if (fake) await fake.close();
    if (REAL) {
      for (const name of [ns, other]) await core.deleteNamespace({ name }).catch(() => undefined);
    }
    const text = JSON.stringify(logs);
    for (const secret of [PASSWORD, SECOND_PASSWORD]) {
      assert.ok(!text.includes(secret) && !text.includes(b64(secret)), 'the logs leak secret material');
    }
  });
  await eventually(async () => controller.ready(), 'the informers to sync');
  return { ns, other, fake, core, custom: kc.makeApiClient(CustomObjectsApi), controller, logs };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(REAL ? 250 : 20);
  }
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (e) {
    if ((e as Plain).code === 404) return undefined;
    throw e;
  }
}

async function apply(h: Harness, object: Plain, namespace = h.ns): Promise<Plain> {
  const body = { ...object, metadata: { ...object.metadata, namespace } };
  return (await h.custom.createNamespacedCustomObject({ ...CR, namespace, body })) as Plain;
}

const esOf = (h: Harness, namespace = h.ns) => orUndefined(h.custom.getNamespacedCustomObject({ ...CR, namespace, name: NAME }) as Promise<Plain>);
const secretOf = async (h: Harness, namespace = h.ns) => (await orUndefined(h.core.readNamespacedSecret({ namespace, name: NAME }))) as Plain | undefined;
const ready = (object: Plain | undefined) => (object?.status?.conditions ?? []).find((c: Plain) => c.type === 'Ready');

/** Waits until the EncryptedSecret's Ready condition has `reason` at its current generation. */
async function readyWith(h: Harness, reason: string, namespace = h.ns, timeoutMs = TIMEOUT_MS): Promise<Plain> {
  let last: Plain | undefined;
  await eventually(async () => {
    last = await esOf(h, namespace);
    return ready(last)?.reason === reason && last?.status?.observedGeneration === last?.metadata.generation;
  }, `Ready reason ${reason} in ${namespace}`, timeoutMs);
  return last!;
}

const expectedData = (password: string) => ({ password: b64(password), user: b64('app') });
const sorted = (map: Plain | undefined) => JSON.stringify(Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
const dataIs = (h: Harness, password: string) => async () => sorted((await secretOf(h))?.data) === sorted(expectedData(password));

/** The EncryptedSecret replaced by `next` (spec and sops), PUT with its resourceVersion. */
async function replaceWith(h: Harness, next: Plain): Promise<void> {
  const current = (await h.custom.getNamespacedCustomObject({ ...CR, namespace: h.ns, name: NAME })) as Plain;
  await h.custom.replaceNamespacedCustomObject({ ...CR, namespace: h.ns, name: NAME, body: { ...current, spec: next.spec, sops: next.sops } });
}

/** A TCP relay in front of the KMS fake that can go down (connection refused) and come back on the same port. */
async function startRelay(targetPort: number) {
  const sockets = new Set<Socket>();
  let server: NetServer | undefined;
  let port = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      const s = createNetServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        port = (s.address() as AddressInfo).port;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      server!.close(() => resolve());
    });
  await up();
  return { endpoint: `http://127.0.0.1:${port}`, up, down };
}

/** The fake's variables on a clean environment (none of the developer's AWS_ or SOPS_ variables), `undefined` meaning removed. */
function kmsEnv(fakeEnv: Record<string, string | undefined>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('SOPS_')) env[k] = v;
  for (const [k, v] of Object.entries({ XDG_CONFIG_HOME: '/nonexistent', ...fakeEnv, ...extra })) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

// ------------------------------------------------------------------ the acceptance list

const skip = suiteSkip;

test('apply: the Secret appears with exactly the decrypted data and Ready=True', { skip }, async (t) => {
  const h = await harness(t);
  const created = await apply(h, await sealed(h.ns));
  const es = await readyWith(h, 'Decrypted');
  await eventually(dataIs(h, PASSWORD), 'the Secret');
  const secret = (await secretOf(h))!;
  assert.deepEqual(Object.keys(secret.data).sort(), ['password', 'user']);
  assert.deepEqual(secret.data, expectedData(PASSWORD));
  assert.equal(secret.type, 'Opaque');
  assert.deepEqual(secret.metadata.ownerReferences.map((r: Plain) => [r.kind, r.name, r.uid, r.controller]), [['EncryptedSecret', NAME, created.metadata.uid, true]]);
  assert.equal(ready(es).status, 'True');
  assert.equal(es.status.observedGeneration, es.metadata.generation);
  assert.equal(es.status.secretName, NAME);
});

test('edit the owned Secret: it is put back', { skip }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns));
  await readyWith(h, 'Decrypted');
  await eventually(dataIs(h, PASSWORD), 'the Secret');
  await h.core.patchNamespacedSecret({ namespace: h.ns, name: NAME, body: { data: { password: b64('tampered'), extra: b64('x') } } }, MERGE_PATCH);
  await eventually(dataIs(h, PASSWORD), 'the Secret to be put back');
  assert.equal(ready(await esOf(h)).reason, 'Decrypted');
});

test('update the EncryptedSecret: the Secret follows and observedGeneration advances', { skip }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns));
  const first = await readyWith(h, 'Decrypted');
  await replaceWith(h, await sealed(h.ns, SECOND_PASSWORD));
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow');
  const es = await readyWith(h, 'Decrypted');
  assert.ok(es.metadata.generation > first.metadata.generation, 'the update bumped the generation');
  assert.ok(es.status.observedGeneration > first.status.observedGeneration, 'observedGeneration advanced');
  assert.equal(es.status.observedGeneration, es.metadata.generation);
});

test('delete the EncryptedSecret: the Secret goes', { skip }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns));
  await readyWith(h, 'Decrypted');
  await eventually(async () => (await secretOf(h)) !== undefined, 'the Secret');
  await h.custom.deleteNamespacedCustomObject({ ...CR, namespace: h.ns, name: NAME });
  await eventually(async () => (await secretOf(h)) === undefined, 'the Secret to be collected');
  await sleep(REAL ? 2000 : 200);
  assert.equal(await secretOf(h), undefined, 'the Secret was not recreated');
});

test('a copy in another namespace: ScopeMismatch and no Secret', { skip }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns), h.other);
  const es = await readyWith(h, 'ScopeMismatch', h.other);
  assert.equal(ready(es).status, 'False');
  assert.match(ready(es).message, new RegExp(`sealed for namespace ${h.ns}, name db, found in namespace ${h.other}`));
  assert.equal(await secretOf(h, h.other), undefined);
});

test('a flipped ciphertext byte: IntegrityError and no Secret', { skip }, async (t) => {
  const h = await harness(t);
  const object = await sealed(h.ns);
  object.spec.stringData.password = flipCiphertext(object.spec.stringData.password);
  await apply(h, object);
  const es = await readyWith(h, 'IntegrityError');
  assert.equal(ready(es).status, 'False');
  assert.equal(await secretOf(h), undefined);
});

test('an existing Secret it does not own: SecretConflict, untouched', { skip }, async (t) => {
  const h = await harness(t);
  const theirs = await h.core.createNamespacedSecret({ namespace: h.ns, body: { metadata: { name: NAME, labels: { team: 'other' } }, data: { password: b64('theirs') } } });
  await apply(h, await sealed(h.ns));
  const es = await readyWith(h, 'SecretConflict');
  assert.equal(ready(es).status, 'False');
  const after = (await secretOf(h))!;
  assert.equal(after.metadata.resourceVersion, theirs.metadata?.resourceVersion);
  assert.deepEqual(after.data, { password: b64('theirs') });
  assert.equal(after.metadata.ownerReferences, undefined);
});

test(`the KMS fake down for ${OUTAGE_MS} ms: the Secret stays, KeyUnavailable, and it recovers with no action`, { skip: skip || FAKE_ONLY }, async (t) => {
  const kms = await startFakeKms();
  t.after(() => kms.close());
  const arn = kms.createKey();
  const relay = await startRelay(Number(new URL(kms.endpoint).port));
  t.after(() => relay.down().catch(() => undefined));
  // Sealed straight against the fake, with a KMS key only; the controller goes through the relay.
  const sealCtx: ProviderContext = { env: kmsEnv(kms.env) };
  const keyGroups = await resolveKeyGroups([[{ type: 'kms', value: arn } satisfies KeySpec]], sealCtx);
  const controllerCtx: ProviderContext = { env: kmsEnv(kms.env, { AWS_ENDPOINT_URL_KMS: relay.endpoint, AWS_ENDPOINT_URL_STS: relay.endpoint }) };
  const h = await harness(t, { ctx: controllerCtx, backoff: { baseMs: 50, maxMs: 1000 } });
  const first = await sealed(h.ns, PASSWORD, keyGroups);
  const second = await sealed(h.ns, SECOND_PASSWORD, keyGroups); // a new data key: no cache can serve it
  await apply(h, first);
  await readyWith(h, 'Decrypted');
  await eventually(dataIs(h, PASSWORD), 'the first Secret');
  const decryptsBefore = kms.calls.filter((c) => c.operation === 'Decrypt' && c.outcome === 'ok').length;

  await relay.down();
  const downAt = Date.now();
  await replaceWith(h, second);
  const es = await readyWith(h, 'KeyUnavailable', h.ns, Math.max(TIMEOUT_MS, OUTAGE_MS));
  assert.equal(ready(es).status, 'False');
  while (Date.now() - downAt < OUTAGE_MS) {
    assert.ok(await dataIs(h, PASSWORD)(), 'the existing Secret stays during the outage');
    assert.equal(ready(await esOf(h)).reason, 'KeyUnavailable');
    await sleep(Math.min(1000, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
  }
  assert.equal(kms.calls.filter((c) => c.operation === 'Decrypt' && c.outcome === 'ok').length, decryptsBefore, 'no KMS call got through');
  assert.ok(h.logs.some((r) => r.msg === 'reconcile failed' || r.reason === 'KeyUnavailable'), 'the failure was seen by the worker');

  await relay.up();
  const upAt = Date.now();
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow after the outage', 15_000);
  const recovered = await readyWith(h, 'Decrypted');
  assert.equal(ready(recovered).status, 'True');
  t.diagnostic(`recovered ${Date.now() - upAt} ms after the KMS fake came back`);
});

test('a 409 on the Secret update is retried and converges', { skip: skip || FAKE_ONLY }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns));
  await readyWith(h, 'Decrypted');
  h.fake!.failNext('update', 'secrets', 409);
  await h.core.patchNamespacedSecret({ namespace: h.ns, name: NAME, body: { data: { password: b64('drifted') } } }, MERGE_PATCH);
  await eventually(dataIs(h, PASSWORD), 'the Secret to be put back after the conflict');
  const puts = h.fake!.requests.filter((r) => r.method === 'PUT' && r.resource === 'secrets').map((r) => r.status);
  assert.deepEqual(puts, [409, 200]);
});

test('a 410 on the watch forces a relist, and later changes are still seen', { skip: skip || FAKE_ONLY }, async (t) => {
  const h = await harness(t);
  await apply(h, await sealed(h.ns));
  await readyWith(h, 'Decrypted');
  const lists = () => h.fake!.requests.filter((r) => r.verb === 'list' && r.resource === 'encryptedsecrets').length;
  const before = lists();
  h.fake!.expireHistory();
  await eventually(async () => lists() > before, 'the informer to relist');
  await replaceWith(h, await sealed(h.ns, SECOND_PASSWORD));
  await eventually(dataIs(h, SECOND_PASSWORD), 'the Secret to follow after the relist');
  await readyWith(h, 'Decrypted');
});

test('the object round-tripped through JSON with sorted keys and server fields still verifies', { skip }, async (t) => {
  const h = await harness(t);
  const roundTripped = JSON.parse(JSON.stringify(sortKeysDeep(await sealed(h.ns)))) as Plain;
  assert.deepEqual(Object.keys(roundTripped), [...Object.keys(roundTripped)].sort());
  await apply(h, roundTripped);
  const es = await readyWith(h, 'Decrypted');
  for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'generation']) assert.ok(es.metadata[field] !== undefined, `the server added metadata.${field}`);
  await eventually(dataIs(h, PASSWORD), 'the Secret');
  // The object exactly as the server returned it, keys sorted again, PUT back with a label change.
  const asServed = JSON.parse(JSON.stringify(sortKeysDeep(es))) as Plain;
  asServed.metadata.labels = { ...asServed.metadata.labels, touched: 'yes' };
  delete asServed.status;
  await h.custom.replaceNamespacedCustomObject({ ...CR, namespace: h.ns, name: NAME, body: asServed });
  await eventually(async () => (await esOf(h))?.metadata.labels?.touched === 'yes', 'the label');
  assert.equal(ready(await readyWith(h, 'Decrypted')).status, 'True');
});
