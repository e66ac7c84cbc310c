/**
 * The controller under faults, against the wire-level fakes: the API server restarted
 * (stopped and started on the same port, its store kept), watches dropped and expired
 * (410), injected 500s on status writes, and an AWS KMS that fails one call in three
 * (a relay in front of the KMS fake; AWS_MAX_ATTEMPTS=1, so the SDK does not hide the
 * failures and the controller's own retries must). Meanwhile EncryptedSecrets are
 * created, updated with new values, deleted, and a managed Secret is tampered with.
 *
 * Afterwards every Secret equals the decryption of its EncryptedSecret (the values that
 * were sealed last), every EncryptedSecret is Ready at its current generation, the
 * deleted one's Secret is gone, and no log line, Event or status holds a secret value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { CustomObjectsApi, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type ProviderContext } from '../../src/providers/index.js';
import { startController, type LogRecord } from '../../controller/watch.js';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';
import { startFakeKms } from '../fakes/aws-kms.js';

type Plain = Record<string, any>;
type KeyGroups = Awaited<ReturnType<typeof resolveKeyGroups>>;

const CR = { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets' };
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NAMESPACES = ['fault-a', 'fault-b', 'fault-c'];
const OBJECTS_PER_NAMESPACE = 4;
const FAULT_PHASE_MS = Number(process.env.WAX_FAULT_CONTROLLER_MS ?? 8_000);
const CONVERGE_MS = 60_000;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ a KMS that fails one call in three

interface FlakyRelay {
  endpoint: string;
  calls: number;
  failed: number;
  close(): Promise<void>;
}

/**
 * An HTTP relay to the KMS fake that answers every third request itself with a 500
 * KMSInternalException (alternating with a dropped connection), and passes the others
 * through untouched (the SigV4 signature covers the Host header, which stays the relay's).
 */
async function startFlakyRelay(target: string): Promise<FlakyRelay> {
  const upstream = new URL(target);
  const state = { calls: 0, failed: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.calls++;
    if (state.calls % 3 === 0) {
      state.failed++;
      req.resume();
      if (state.failed % 2 === 0) return void req.socket.destroy();
      const body = JSON.stringify({ __type: 'KMSInternalException', message: 'injected failure' });
      res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() { return state.calls; },
    get failed() { return state.failed; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The KMS fake's variables, on an environment without the developer's AWS_ or SOPS_ settings. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('SOPS_')) env[k] = v;
  for (const [k, v] of Object.entries({ XDG_CONFIG_HOME: '/nonexistent', ...extra })) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

// ------------------------------------------------------------------ the objects

interface Desired {
  namespace: string;
  name: string;
  /** The values sealed last: what the Secret must hold. */
  values: Record<string, string>;
  deleted: boolean;
}

async function sealedObject(d: Desired, keyGroups: KeyGroups): Promise<Plain> {
  const manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: d.name, namespace: d.namespace }, type: 'Opaque', stringData: d.values };
  return parseYaml((await sealSecret(manifest, { keyGroups, scope: 'strict' })).toString()) as Plain;
}

/** Retries a test-side API call through restarts; `done` says which errors mean "already happened". */
async function persist<T>(call: () => Promise<T>, done: (code: number) => boolean = () => false): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const code = (error as Plain).code;
      if (typeof code === 'number' && done(code)) return undefined;
      if (attempt > 200) throw error;
      await sleep(50);
    }
  }
}

async function createObject(custom: CustomObjectsApi, body: Plain): Promise<void> {
  await persist(() => custom.createNamespacedCustomObject({ ...CR, namespace: body.metadata.namespace, body }), (code) => code === 409);
}

/** Replaces spec and sops, re-reading on a conflict (which a retried earlier PUT may cause). */
async function replaceObject(custom: CustomObjectsApi, next: Plain): Promise<void> {
  const { namespace, name } = next.metadata;
  await persist(async () => {
    const current = (await custom.getNamespacedCustomObject({ ...CR, namespace, name })) as Plain;
    return custom.replaceNamespacedCustomObject({ ...CR, namespace, name, body: { ...current, spec: next.spec, sops: next.sops } });
  });
}

// ------------------------------------------------------------------ the faults

/** Restarts, watch drops, history expiry and injected 500s, one every 150–500 ms until stopped. */
function injectFaults(fake: FakeApiServer, counts: Record<string, number>): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await sleep(150 + Math.floor(Math.random() * 350));
      const kind = ['restart', 'dropWatches', 'restart', 'expireHistory', 'fail500'][i % 5];
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (kind === 'restart') await fake.restart(100 + Math.floor(Math.random() * 300));
      else if (kind === 'dropWatches') fake.dropWatches();
      else if (kind === 'expireHistory') fake.expireHistory();
      else fake.failNext('*', i % 2 ? 'encryptedsecrets/status' : 'secrets', 500, 2);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

// ------------------------------------------------------------------ the test

test('the controller keeps every Secret correct through API-server restarts, watch drops and a KMS failing one call in three', { timeout: 180_000 }, async (t) => {
  const kms = await startFakeKms();
  t.after(() => kms.close());
  const relay = await startFlakyRelay(kms.endpoint);
  t.after(() => relay.close());
  const fake = await startFakeApiServer({ historyLimit: 50 });
  t.after(() => fake.close());

  const { identity, recipient } = await generateAgeIdentity();
  const sealCtx: ProviderContext = { env: cleanEnv(kms.env) };
  const arn = kms.createKey();
  const kmsGroups = await resolveKeyGroups([[{ type: 'kms', value: arn }]], sealCtx);
  const ageGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], sealCtx);
  // The controller reaches KMS only through the relay, retries nothing in the SDK and caches no data key.
  const controllerCtx: ProviderContext = {
    env: cleanEnv({ ...kms.env, AWS_ENDPOINT_URL_KMS: relay.endpoint, AWS_ENDPOINT_URL_STS: relay.endpoint, AWS_MAX_ATTEMPTS: '1', SOPS_AGE_KEY: identity }),
    dataKeyCacheTtlMs: 0,
  };

  const kc: KubeConfig = fake.client();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const desired: Desired[] = NAMESPACES.flatMap((namespace) =>
    Array.from({ length: OBJECTS_PER_NAMESPACE }, (_, i) => ({ namespace, name: `db-${i}`, values: { password: `fault-pw-${namespace}-${i}-v1`, token: `fault-token-${namespace}-${i}` }, deleted: false })),
  );
  const groupsOf = (d: Desired) => (d.name.endsWith('0') || d.name.endsWith('2') ? kmsGroups : ageGroups);
  const everyValue = () => desired.flatMap((d) => Object.values(d.values));
  const historicValues: string[] = [];

  const logs: LogRecord[] = [];
  const controller = startController({
    kubeConfig: kc,
    ctx: controllerCtx,
    log: (record) => logs.push(record),
    backoff: { baseMs: 20, maxMs: 400 },
    watchBackoff: { baseMs: 20, maxMs: 400 },
    resyncMs: 2_000,
  });
  t.after(() => controller.stop());

  // Half the objects before the faults, the rest during them.
  for (const d of desired.slice(0, desired.length / 2)) await createObject(custom, await sealedObject(d, groupsOf(d)));
  const faultCounts: Record<string, number> = {};
  const stopFaults = injectFaults(fake, faultCounts);
  const faultsEnd = Date.now() + FAULT_PHASE_MS;
  for (const d of desired.slice(desired.length / 2)) await createObject(custom, await sealedObject(d, groupsOf(d)));
  let round = 0;
  while (Date.now() < faultsEnd) {
    round++;
    // New values for two objects (one KMS, one age), each round.
    for (const d of [desired[(round * 2) % desired.length], desired[(round * 2 + 1) % desired.length]]) {
      if (d.deleted) continue;
      historicValues.push(...Object.values(d.values));
      d.values = { ...d.values, password: d.values.password.replace(/-v\d+$/, `-v${round + 1}`) };
      await replaceObject(custom, await sealedObject(d, groupsOf(d)));
    }
    if (round === 3) {
      const gone = desired[desired.length - 1];
      await persist(() => custom.deleteNamespacedCustomObject({ ...CR, namespace: gone.namespace, name: gone.name }), (code) => code === 404);
      gone.deleted = true;
    }
    if (round === 4) {
      const target = desired[1];
      await persist(() => core.patchNamespacedSecret({ namespace: target.namespace, name: target.name, body: { data: { password: b64('tampered'), extra: b64('x') } } }, MERGE_PATCH), (code) => code === 404);
    }
    await sleep(400);
  }
  await stopFaults();

  // Convergence, read from the fake's store directly: no wire, no client cache.
  const problems = () => {
    const out: string[] = [];
    for (const d of desired) {
      const secret = fake.peek('secrets', d.namespace, d.name);
      if (d.deleted) {
        if (fake.peek('encryptedsecrets', d.namespace, d.name) || secret) out.push(`${d.namespace}/${d.name}: still present after delete`);
        continue;
      }
      const es = fake.peek('encryptedsecrets', d.namespace, d.name);
      const ready = (es?.status?.conditions ?? []).find((c: Plain) => c.type === 'Ready');
      if (ready?.status !== 'True' || es?.status?.observedGeneration !== es?.metadata.generation) out.push(`${d.namespace}/${d.name}: Ready=${ready?.status}/${ready?.reason} at ${es?.status?.observedGeneration} of ${es?.metadata.generation}`);
      const expected = Object.fromEntries(Object.entries(d.values).map(([k, v]) => [k, b64(v)]));
      if (JSON.stringify(sortedEntries(secret?.data)) !== JSON.stringify(sortedEntries(expected))) out.push(`${d.namespace}/${d.name}: Secret data differs`);
    }
    return out;
  };
  // The fake collects garbage only when an owner is deleted; a Secret created by a reconcile
  // that raced with the delete keeps a dangling ownerReference, which a real cluster's
  // garbage collector removes. This does the same, and counts how often it was needed.
  let collected = 0;
  const collectDanglingDependents = async () => {
    for (const d of desired.filter((x) => x.deleted)) {
      const secret = fake.peek('secrets', d.namespace, d.name);
      const refs: Plain[] = secret?.metadata.ownerReferences ?? [];
      const owner = fake.peek('encryptedsecrets', d.namespace, d.name);
      if (!secret || refs.length === 0 || refs.some((r) => r.uid === owner?.metadata.uid)) continue;
      await persist(() => core.deleteNamespacedSecret({ namespace: d.namespace, name: d.name }), (code) => code === 404);
      collected++;
    }
  };
  const deadline = Date.now() + CONVERGE_MS;
  let left = problems();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    await collectDanglingDependents();
    left = problems();
  }
  // Stable, not just passing through: nothing changes over more than one resync period.
  if (left.length === 0) {
    await sleep(2_500);
    left = problems();
  }
  if (left.length > 0) {
    const keys = new Set(left.map((line) => line.split(':')[0]));
    const related = logs.filter((r) => typeof r.key !== 'string' || keys.has(r.key)).slice(-40);
    assert.fail(`the controller did not converge: ${left.join('; ')}\nlast records:\n${related.map((r) => JSON.stringify(r)).join('\n')}`);
  }

  // The faults really happened, and the controller really saw them.
  assert.ok(relay.failed >= 3 && relay.failed >= Math.floor(relay.calls / 3), `the KMS relay failed ${relay.failed} of ${relay.calls} calls`);
  assert.ok((faultCounts.restart ?? 0) >= 2, 'the API server was not restarted');
  assert.ok(logs.some((r) => r.reason === 'KeyUnavailable' || r.msg === 'reconcile failed'), 'no KMS failure reached the controller');
  assert.ok(logs.some((r) => r.msg === 'informer stopped; restarting'), 'no informer had to restart');

  // Secret values only in the Secrets: not in logs, Events, or any EncryptedSecret status.
  const secrets = [...everyValue(), ...historicValues];
  const forbidden = [...secrets, ...secrets.map(b64), identity];
  const logText = JSON.stringify(logs);
  const events = (await core.listEventForAllNamespaces()).items;
  const statuses = desired.map((d) => fake.peek('encryptedsecrets', d.namespace, d.name)?.status ?? {});
  for (const [channel, text] of [['logs', logText], ['events', JSON.stringify(events)], ['status', JSON.stringify(statuses)]] as const) {
    for (const value of forbidden) assert.ok(!text.includes(value), `a secret value appears in the ${channel}`);
  }
  t.diagnostic(
    `faults: ${JSON.stringify(faultCounts)}; KMS calls ${relay.calls}, failed ${relay.failed}; ` +
      `${logs.filter((r) => r.msg === 'reconcile failed').length} failed reconciles, ` +
      `${logs.filter((r) => r.msg === 'informer stopped; restarting').length} informer restarts, ${round} update rounds, ` +
      `${collected} orphaned Secret${collected === 1 ? '' : 's'} garbage-collected for the fake, converged`,
  );
});

function sortedEntries(map: Plain | undefined): [string, unknown][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
}
