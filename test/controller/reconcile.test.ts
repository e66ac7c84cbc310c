/**
 * The controller's decision logic against real sealed EncryptedSecrets and a throwaway
 * age key: each rule of the reconcile, and each failure with its exact reason and class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { sealSecret } from '../../src/encrypted-secret.js';
import { MacMismatchError, MasterKeyError, ScopeMismatchError, DataKeyUnavailableError } from '../../src/errors.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type ProviderContext } from '../../src/providers/index.js';
import { ADOPT_ANNOTATION, classifyError, MANAGED_BY_LABEL, reconcile, type ReconcileResult } from '../../controller/reconcile.js';
import { isPermanentReason, Reason } from '../../controller/status.js';

type Plain = Record<string, any>;

const PLAINTEXT = 'hunter2-secret';
const UID = '6c1f3f0e-1111-4c2b-9a57-7a0b1d2c3e4f';
const T0 = new Date('2026-05-22T20:00:00Z');
const T1 = new Date('2026-05-22T20:10:00Z');
const T2 = new Date('2026-05-22T20:20:00Z');

const SECRET = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'payments', labels: { app: 'db' }, annotations: { owner: 'team-payments' } },
  type: 'Opaque',
  stringData: { password: PLAINTEXT },
};

const keys = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } };
  const noKeyCtx: ProviderContext = { env: { XDG_CONFIG_HOME: '/nonexistent' } };
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], ctx);
  const sealed = parseYaml((await sealSecret(structuredClone(SECRET), { keyGroups, scope: 'strict' })).toString()) as Plain;
  return { recipient, ctx, noKeyCtx, sealed };
})();

/** The sealed object as the API server returns it: uid, generation, maybe a status. */
async function encryptedSecret(generation = 1, status?: Plain): Promise<Plain> {
  const object = structuredClone((await keys).sealed);
  object.metadata = { ...object.metadata, uid: UID, generation, resourceVersion: '100', creationTimestamp: '2026-05-22T19:00:00Z' };
  if (status) object.status = status;
  return object;
}

/** What the API server holds after the controller created `secret`. */
function stored(secret: Plain): Plain {
  return { ...structuredClone(secret), metadata: { ...structuredClone(secret.metadata), uid: 'secret-uid', resourceVersion: '7', creationTimestamp: '2026-05-22T20:00:01Z' } };
}

function assertNoPlaintext(result: ReconcileResult): void {
  const text = JSON.stringify({ status: result.status, event: result.event });
  assert.ok(!text.includes(PLAINTEXT), 'status or event leaks the plaintext');
  assert.ok(!text.includes(Buffer.from(PLAINTEXT).toString('base64')), 'status or event leaks the base64 plaintext');
}

async function run(es: Plain, existingSecret?: Plain, now = T0, ctx?: ProviderContext): Promise<ReconcileResult> {
  const result = await reconcile({ encryptedSecret: es, existingSecret, ctx: ctx ?? (await keys).ctx, now });
  assertNoPlaintext(result);
  return result;
}

function ready(result: ReconcileResult): Plain {
  assert.equal(result.status.conditions.length, 1);
  return result.status.conditions[0];
}

test('create: the Secret with exactly the decrypted data, owner reference, managed-by label; Ready=True', async () => {
  const result = await run(await encryptedSecret(1));
  assert.equal(result.action, 'create');
  assert.deepEqual(result.secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'db',
      namespace: 'payments',
      labels: { app: 'db', [MANAGED_BY_LABEL]: 'wax' },
      annotations: { owner: 'team-payments' },
      ownerReferences: [{ apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', name: 'db', uid: UID, controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    data: { password: Buffer.from(PLAINTEXT).toString('base64') },
  });
  assert.deepEqual(ready(result), { type: 'Ready', status: 'True', reason: Reason.Decrypted, message: 'decrypted into Secret payments/db', lastTransitionTime: '2026-05-22T20:00:00Z', observedGeneration: 1 });
  assert.equal(result.status.observedGeneration, 1);
  assert.equal(result.status.secretName, 'db');
  assert.equal(result.status.decryptedWith, `age ${(await keys).recipient}`);
  assert.equal(result.status.lastDecryptedAt, '2026-05-22T20:00:00Z');
  assert.equal(result.statusChanged, true);
  assert.equal(result.errorClass, undefined);
  assert.deepEqual(result.event, { type: 'Normal', reason: Reason.Decrypted, message: 'created Secret payments/db' });
});

test('no-op when identical: action none, no Secret, identical status (no status write), no event', async () => {
  const first = await run(await encryptedSecret(1));
  const second = await run(await encryptedSecret(1, first.status), stored(first.secret!), T1);
  assert.equal(second.action, 'none');
  assert.equal(second.secret, undefined);
  assert.equal(second.statusChanged, false);
  assert.equal(second.event, undefined);
  assert.equal(second.status.lastDecryptedAt, '2026-05-22T20:00:00Z');
  assert.equal(ready(second).lastTransitionTime, '2026-05-22T20:00:00Z');
});

test('an edited owned Secret is put back (data, labels, annotations, type), optimistic on resourceVersion', async () => {
  const first = await run(await encryptedSecret(1));
  const edits: Array<(s: Plain) => void> = [
    (s) => (s.data.password = Buffer.from('changed').toString('base64')),
    (s) => (s.data.extra = 'eA=='),
    (s) => (s.metadata.labels.app = 'other'),
    (s) => (s.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] = '{}'),
    (s) => delete s.metadata.labels[MANAGED_BY_LABEL],
  ];
  for (const edit of edits) {
    const existing = stored(first.secret!);
    edit(existing);
    const result = await run(await encryptedSecret(1, first.status), existing, T1);
    assert.equal(result.action, 'update', `edit ${edit} not put back`);
    assert.equal(result.replace, undefined);
    assert.deepEqual(result.secret!.data, first.secret!.data);
    assert.deepEqual(result.secret!.metadata.labels, first.secret!.metadata.labels);
    assert.deepEqual(result.secret!.metadata.annotations, first.secret!.metadata.annotations);
    assert.equal(result.secret!.metadata.resourceVersion, '7');
    assert.equal(ready(result).reason, Reason.Decrypted);
    assert.equal(ready(result).lastTransitionTime, '2026-05-22T20:00:00Z');
    assert.equal(result.status.lastDecryptedAt, '2026-05-22T20:10:00Z');
    assert.deepEqual(result.event, { type: 'Normal', reason: Reason.Decrypted, message: 'put back Secret payments/db' });
  }
});

test('a changed type cannot be updated in place: update with replace', async () => {
  const first = await run(await encryptedSecret(1));
  const existing = stored(first.secret!);
  existing.type = 'kubernetes.io/tls';
  const result = await run(await encryptedSecret(1, first.status), existing, T1);
  assert.equal(result.action, 'update');
  assert.equal(result.replace, true);
  assert.equal(result.secret!.type, 'Opaque');
});

test('SecretConflict for an existing Secret it does not own: action conflict, no Secret, permanent', async () => {
  const unowned = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments', uid: 'x', resourceVersion: '3' }, type: 'Opaque', data: { password: 'b3RoZXI=' } };
  const otherOwner = structuredClone(unowned) as Plain;
  otherOwner.metadata.ownerReferences = [{ apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', name: 'db', uid: 'another-uid', controller: true }];
  for (const existing of [unowned, otherOwner]) {
    const before = structuredClone(existing);
    const result = await run(await encryptedSecret(1), existing);
    assert.equal(result.action, 'conflict');
    assert.equal(result.secret, undefined);
    assert.deepEqual(existing, before, 'the unowned Secret was modified');
    assert.equal(ready(result).status, 'False');
    assert.equal(ready(result).reason, Reason.SecretConflict);
    assert.equal(result.errorClass, 'permanent');
    assert.deepEqual(result.event, { type: 'Warning', reason: Reason.SecretConflict, message: ready(result).message });
  }
});

test('another controller\'s Secret is refused even with the adopt annotation', async () => {
  const existing = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments', annotations: { [ADOPT_ANNOTATION]: 'true' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: 'd', controller: true }] }, type: 'Opaque' };
  const result = await run(await encryptedSecret(1), existing);
  assert.equal(result.action, 'conflict');
  assert.equal(ready(result).reason, Reason.SecretConflict);
});

test('adoption: an unowned Secret with wax.dev/adopt="true" is taken over (owner reference added, content put back)', async () => {
  const nonController = { apiVersion: 'v1', kind: 'ConfigMap', name: 'keep', uid: 'cm' };
  const existing = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments', uid: 'x', resourceVersion: '3', annotations: { [ADOPT_ANNOTATION]: 'true' }, ownerReferences: [nonController] }, type: 'Opaque', data: { password: 'b3RoZXI=' } };
  const result = await run(await encryptedSecret(1), existing);
  assert.equal(result.action, 'update');
  assert.equal(result.secret!.metadata.resourceVersion, '3');
  assert.deepEqual(result.secret!.metadata.ownerReferences, [nonController, { apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', name: 'db', uid: UID, controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(result.secret!.data, { password: Buffer.from(PLAINTEXT).toString('base64') });
  assert.equal(ready(result).reason, Reason.Decrypted);
  assert.equal(result.event?.message, 'adopted Secret payments/db');
  // Once adopted, the next pass sees its own Secret: nothing to write.
  const after = stored(result.secret!);
  const next = await run(await encryptedSecret(1, result.status), after, T1);
  assert.equal(next.action, 'none');
});

test('ScopeMismatch for a copy applied in another namespace: no Secret, permanent', async () => {
  const copy = await encryptedSecret(1);
  copy.metadata.namespace = 'elsewhere';
  const result = await run(copy);
  assert.equal(result.action, 'none');
  assert.equal(result.secret, undefined);
  assert.equal(ready(result).status, 'False');
  assert.equal(ready(result).reason, Reason.ScopeMismatch);
  assert.match(ready(result).message, /sealed for namespace payments, name db, found in namespace elsewhere, name db/);
  assert.equal(result.errorClass, 'permanent');
  assert.equal(result.status.decryptedWith, undefined);
  assert.equal(result.event?.type, 'Warning');
  assert.equal(result.event?.reason, Reason.ScopeMismatch);
});

function flipCiphertext(enc: string): string {
  return enc.replace(/data:([^,]+),/, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `data:${bytes.toString('base64')},`;
  });
}

test('IntegrityError for a flipped ciphertext byte and for a removed value; the owned Secret is kept', async () => {
  const first = await run(await encryptedSecret(1));
  const flipped = await encryptedSecret(2, first.status);
  flipped.spec.stringData.password = flipCiphertext(flipped.spec.stringData.password);
  const removedScope = await encryptedSecret(2, first.status);
  delete removedScope.spec.scope;
  for (const object of [flipped, removedScope]) {
    const result = await run(object, stored(first.secret!), T1);
    assert.equal(result.action, 'none');
    assert.equal(result.secret, undefined);
    assert.equal(ready(result).reason, Reason.IntegrityError);
    assert.equal(ready(result).status, 'False');
    assert.equal(ready(result).lastTransitionTime, '2026-05-22T20:10:00Z');
    assert.equal(result.errorClass, 'permanent');
    assert.equal(result.status.observedGeneration, 2);
  }
});

test('KeyUnavailable keeps the existing Secret (action none), is transient, and recovers', async () => {
  const first = await run(await encryptedSecret(1));
  const existing = stored(first.secret!);
  const down = await run(await encryptedSecret(1, first.status), existing, T1, (await keys).noKeyCtx);
  assert.equal(down.action, 'none');
  assert.equal(down.secret, undefined);
  assert.equal(ready(down).status, 'False');
  assert.equal(ready(down).reason, Reason.KeyUnavailable);
  assert.equal(down.errorClass, 'transient');
  assert.equal(isPermanentReason(ready(down).reason), false);
  // The last good decryption stays on record during the outage.
  assert.equal(down.status.decryptedWith, first.status.decryptedWith);
  assert.equal(down.status.lastDecryptedAt, '2026-05-22T20:00:00Z');
  assert.equal(down.event?.reason, Reason.KeyUnavailable);
  // A second retry during the outage: same status, no new event.
  const again = await run(await encryptedSecret(1, down.status), existing, T2, (await keys).noKeyCtx);
  assert.equal(again.statusChanged, false);
  assert.equal(again.event, undefined);
  assert.equal(ready(again).lastTransitionTime, '2026-05-22T20:10:00Z');
  // Back: Ready again with no Secret write, a Normal event for the recovery.
  const back = await run(await encryptedSecret(1, again.status), existing, T2);
  assert.equal(back.action, 'none');
  assert.equal(ready(back).reason, Reason.Decrypted);
  assert.equal(ready(back).lastTransitionTime, '2026-05-22T20:20:00Z');
  assert.equal(back.event?.type, 'Normal');
});

test('InvalidSpec: not an EncryptedSecret body, no sops block, no uid; permanent', async () => {
  const noSops = await encryptedSecret(1);
  delete noSops.sops;
  const noSpec = await encryptedSecret(1);
  delete noSpec.spec;
  const noUid = await encryptedSecret(1);
  delete noUid.metadata.uid;
  for (const object of [noSops, noSpec, noUid]) {
    const result = await run(object);
    assert.equal(result.action, 'none');
    assert.equal(ready(result).reason, Reason.InvalidSpec, JSON.stringify(ready(result)));
    assert.equal(result.errorClass, 'permanent');
  }
});

test('status transitions: lastTransitionTime moves only on status/reason change; observedGeneration follows generation', async () => {
  const first = await run(await encryptedSecret(1));
  const existing = stored(first.secret!);
  const gen2 = await run(await encryptedSecret(2, first.status), existing, T1);
  assert.equal(gen2.action, 'none');
  assert.equal(gen2.status.observedGeneration, 2);
  assert.equal(ready(gen2).observedGeneration, 2);
  assert.equal(ready(gen2).lastTransitionTime, '2026-05-22T20:00:00Z');
  assert.equal(gen2.statusChanged, true);
  const conflict = await run(await encryptedSecret(3, gen2.status), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments' } }, T2);
  assert.equal(ready(conflict).lastTransitionTime, '2026-05-22T20:20:00Z');
  assert.equal(conflict.status.observedGeneration, 3);
});

test('classifyError: integrity and scope permanent; key and API failures transient; 400/422 permanent', () => {
  assert.equal(classifyError(new ScopeMismatchError('a', 'b')), 'permanent');
  assert.equal(classifyError(new MacMismatchError('x')), 'permanent');
  assert.equal(classifyError(new DataKeyUnavailableError([], 'none')), 'transient');
  assert.equal(classifyError(new MasterKeyError('kms down')), 'transient');
  assert.equal(classifyError(Object.assign(new Error('conflict'), { code: 409 })), 'transient');
  assert.equal(classifyError(Object.assign(new Error('gone'), { code: 500 })), 'transient');
  assert.equal(classifyError(Object.assign(new Error('invalid'), { code: 422 })), 'permanent');
  assert.equal(classifyError(new TypeError('bug')), 'transient');
});

/** Frozen all the way down: any write to it throws a TypeError (ES modules are strict). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

test('reconcile never writes to its inputs: the worker passes the informer cache objects uncopied', async () => {
  const first = await run(await encryptedSecret(1));
  const es = deepFreeze(await encryptedSecret(2, first.status));
  const edited = stored(first.secret!);
  edited.data.password = Buffer.from('changed').toString('base64');
  edited.metadata.ownerReferences.unshift({ apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: 'other-uid' });
  const flipped = await encryptedSecret(2, first.status);
  flipped.spec.stringData.password = flipCiphertext(flipped.spec.stringData.password);
  const retyped = { ...stored(first.secret!), type: 'kubernetes.io/basic-auth' };
  const cases: Array<[Plain, Plain | undefined, string]> = [
    [es, undefined, 'create'],
    [es, deepFreeze(stored(first.secret!)), 'none'],
    [es, deepFreeze(edited), 'update'],
    [es, deepFreeze(retyped), 'update'],
    [deepFreeze(flipped), deepFreeze(stored(first.secret!)), 'none'],
  ];
  for (const [object, existing, action] of cases) {
    const result = await run(object, existing, T1);
    assert.equal(result.action, action);
  }
  // What reconcile returns is its own: writing to it leaves the frozen inputs as they were.
  const update = await run(es, deepFreeze(edited), T1);
  update.secret!.metadata.ownerReferences.push({ uid: 'x' });
  update.status.conditions[0].message = 'changed';
  assert.equal(edited.metadata.ownerReferences.length, 2);
  assert.notEqual(es.status.conditions[0].message, 'changed');
});
