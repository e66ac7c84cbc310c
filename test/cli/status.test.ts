// `wax status` and `wax wait` against the wire-level fake API server: the CLI bundle runs
// as a subprocess (runWaxAsync, since the fake answers from this process's event loop)
// with a kubeconfig file pointing at the fake; the test plays the controller by writing
// the status subresource.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startFakeApiServer, type FakeApiServer } from '../fakes/kube-apiserver.js';
import { makeTempDir, removeTempDir, type RunResult } from '../support/cli.js';
import { runWaxAsync } from '../support/cli-async.js';

const EXIT = { apiError: 210, failed: 211, timeout: 212, conflicting: 8, usage: 64, config: 5 };

type Json = Record<string, unknown>;

describe('wax status and wax wait', () => {
  let fake: FakeApiServer;
  let dir: string;
  let kubeconfig: string;

  before(async () => {
    fake = await startFakeApiServer();
    dir = makeTempDir('wax-status-');
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, fake.kubeconfigYaml('payments'));
    await seed();
  });
  after(async () => {
    await fake.close();
    removeTempDir(dir);
  });

  // ------------------------------------------------------------------ helpers

  async function api(method: string, path: string, body: unknown, contentType = 'application/json'): Promise<Json> {
    const res = await fetch(`${fake.url}/apis/wax.dev/v1alpha1${path}`, {
      method, body: JSON.stringify(body), headers: { authorization: `Bearer ${fake.token}`, 'content-type': contentType },
    });
    const json = (await res.json()) as Json;
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  const path = (ns: string, name = '') => `/namespaces/${ns}/encryptedsecrets${name ? `/${name}` : ''}`;
  const create = (ns: string, name: string) =>
    api('POST', path(ns), { apiVersion: 'wax.dev/v1alpha1', kind: 'EncryptedSecret', metadata: { name }, spec: { data: { password: 'ENC[AES256_GCM,data:x]' } } });
  /** A spec change: the server moves metadata.generation on. */
  const editSpec = (ns: string, name: string, value: string) =>
    api('PATCH', path(ns, name), { spec: { data: { password: `ENC[AES256_GCM,data:${value}]` } } }, 'application/merge-patch+json');

  /** Writes the status as the controller would, for `generation`. */
  function setStatus(ns: string, name: string, generation: number, reason: string, ready = reason === 'Decrypted' ? 'True' : 'False', message = `reason ${reason}`) {
    const status: Json = {
      observedGeneration: generation, secretName: name,
      conditions: [{ type: 'Ready', status: ready, reason, message, lastTransitionTime: new Date().toISOString(), observedGeneration: generation }],
    };
    if (ready === 'True') Object.assign(status, { decryptedWith: 'age age1testrecipient', lastDecryptedAt: new Date(Date.now() - 180_000).toISOString() });
    return api('PATCH', `${path(ns, name)}/status`, { status }, 'application/merge-patch+json');
  }

  async function seed(): Promise<void> {
    await create('payments', 'db');
    await setStatus('payments', 'db', 1, 'Decrypted');
    await create('payments', 'cache');
    await setStatus('payments', 'cache', 1, 'SecretConflict');
    await create('web', 'tls');
    await setStatus('web', 'tls', 1, 'Decrypted');
    // Ready at generation 1, then edited: generation 2 has not been reconciled yet.
    await create('web', 'edited');
    await setStatus('web', 'edited', 1, 'Decrypted');
    await editSpec('web', 'edited', 'y');
  }

  const wax = (args: string[], timeout = 30_000) => runWaxAsync([...args, '--kubeconfig', kubeconfig], { timeout, env: { KUBECONFIG: undefined } });

  /** Rows of the table as cell arrays (columns are separated by 3+ spaces; DECRYPTED WITH holds one). */
  const rows = (stdout: string) => stdout.trimEnd().split('\n').map((line) => line.split(/ {3,}/));

  function assertClean(result: RunResult): void {
    assert.ok(!result.stdout.includes(fake.token) && !result.stderr.includes(fake.token), 'the bearer token leaked');
    assert.ok(!`${result.stdout}${result.stderr}`.includes('ENC['), 'a ciphertext leaked');
  }

  // ------------------------------------------------------------------ wax status

  it('shows the context namespace as a table with reason, Secret, key and ages', async () => {
    const result = await wax(['status']);
    assert.equal(result.code, 0, result.stderr);
    assertClean(result);
    const table = rows(result.stdout);
    assert.deepEqual(table[0], ['NAMESPACE', 'NAME', 'READY', 'REASON', 'SECRET', 'DECRYPTED WITH', 'LAST DECRYPT', 'AGE']);
    assert.deepEqual(table.slice(1).map((r) => r.slice(0, 6)), [
      ['payments', 'cache', 'False', 'SecretConflict', 'cache', '-'],
      ['payments', 'db', 'True', 'Decrypted', 'db', 'age age1testrecipient'],
    ]);
    assert.equal(table[2]![6], '3m', 'last decrypt as a relative age');
    assert.match(table[2]![7]!, /^\d+s$/);
  });

  it('-n picks another namespace, -A every namespace; exit 0 even when some are not Ready', async () => {
    const web = await wax(['status', '-n', 'web']);
    assert.equal(web.code, 0, web.stderr);
    assert.deepEqual(rows(web.stdout).slice(1).map((r) => r.slice(0, 4)), [['web', 'edited', 'Unknown', 'Progressing'], ['web', 'tls', 'True', 'Decrypted']]);
    const all = await wax(['status', '-A']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(rows(all.stdout).slice(1).map((r) => `${r[0]}/${r[1]}`), ['payments/cache', 'payments/db', 'web/edited', 'web/tls']);
  });

  it('-o json prints names and statuses; a lagging observedGeneration reads Progressing', async () => {
    const result = await wax(['status', '-n', 'web', '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const { items } = JSON.parse(result.stdout) as { items: Json[] };
    assert.deepEqual(items.map((i) => [i.name, i.generation, i.ready, i.reason]), [['edited', 2, 'Unknown', 'Progressing'], ['tls', 1, 'True', 'Decrypted']]);
    assert.match(String(items[0]!.message), /generation 2 \(last observed 1\)/);
    assert.equal(items[1]!.decryptedWith, 'age age1testrecipient');
  });

  it('named objects: the missing one is a warning, the report still exits 0', async () => {
    const result = await wax(['status', 'db', 'nope', '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((JSON.parse(result.stdout) as { items: Json[] }).items.map((i) => i.name), ['db']);
    assert.match(result.stderr, /payments\/nope: no such EncryptedSecret/);
  });

  it('an empty namespace says so', async () => {
    const result = await wax(['status', '-n', 'empty']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /No EncryptedSecrets found in namespace empty/);
  });

  it('rejects -n with -A, names with -A, an unknown context and a missing kubeconfig with their exit codes', async () => {
    assert.equal((await wax(['status', '-A', '-n', 'web'])).code, EXIT.conflicting);
    assert.equal((await wax(['status', '-A', 'db'])).code, EXIT.usage);
    const context = await wax(['status', '--context', 'elsewhere']);
    assert.equal(context.code, EXIT.usage);
    assert.match(context.stderr, /no context 'elsewhere'/);
    const missing = await runWaxAsync(['status', '--kubeconfig', join(dir, 'absent')]);
    assert.equal(missing.code, EXIT.config);
    assert.match(missing.stderr, /absent: no such file/);
  });

  it('an unreachable API server is one clear error line, exit 210', async () => {
    const port = await freePort();
    const unreachable = join(dir, 'unreachable');
    writeFileSync(unreachable, fake.kubeconfigYaml().replace(fake.url, `http://127.0.0.1:${port}`));
    const result = await runWaxAsync(['status', '--kubeconfig', unreachable]);
    assert.equal(result.code, EXIT.apiError, result.stderr);
    const [error, ...rest] = result.stderr.trimEnd().split('\n');
    assert.equal(error, `wax: error: cannot reach the Kubernetes API server at http://127.0.0.1:${port} (ECONNREFUSED)`);
    assert.ok(rest.every((line) => line.startsWith('wax: hint: ')), result.stderr);
    assertClean(result);
  });

  it('refused credentials end status and wait at once with exit 210, without the token', async () => {
    const badToken = join(dir, 'bad-token');
    writeFileSync(badToken, fake.kubeconfigYaml('payments').replace(fake.token, 'not-the-token'));
    for (const args of [['status'], ['wait', 'db', '--timeout', '30s']]) {
      const result = await runWaxAsync([...args, '--kubeconfig', badToken]);
      assert.equal(result.code, EXIT.apiError, result.stderr);
      assert.match(result.stderr, /wax: error: Kubernetes API server http:\/\/127\.0\.0\.1:\d+: HTTP 401/);
      assert.ok(!result.stderr.includes('not-the-token'), 'the token leaked');
    }
  });

  // ------------------------------------------------------------------ wax wait

  it('wait returns 0 at once for an object already Ready at its generation', async () => {
    const result = await wax(['wait', 'db', '--timeout', '10s']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'payments/db: Ready (Decrypted, generation 1)\n');
  });

  it('wait blocks until the status flips to Ready at the new generation (an older Ready does not count)', async () => {
    await create('ci', 'flip');
    await setStatus('ci', 'flip', 1, 'Decrypted');
    await editSpec('ci', 'flip', 'v2'); // generation 2: the Ready above is stale
    await create('ci', 'other');
    const started = Date.now();
    const waiting = wax(['wait', '-n', 'ci', 'flip', 'other', '--timeout', '20s']);
    await delay(1500);
    await setStatus('ci', 'flip', 2, 'KeyUnavailable'); // transient: keep waiting
    await delay(1200);
    await setStatus('ci', 'flip', 2, 'Decrypted');
    await setStatus('ci', 'other', 1, 'Decrypted');
    const result = await waiting;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Date.now() - started >= 2700, 'returned before the status flipped');
    assert.deepEqual(result.stdout.trimEnd().split('\n').sort(), ['ci/flip: Ready (Decrypted, generation 2)', 'ci/other: Ready (Decrypted, generation 1)']);
  });

  it('wait fails fast with exit 211 on a permanent reason, naming reason and message', async () => {
    await create('ci', 'moved');
    await setStatus('ci', 'moved', 1, 'ScopeMismatch', 'False', 'sealed for payments/moved, found in ci/moved');
    const started = Date.now();
    const result = await wax(['wait', '-n', 'ci', 'moved', '--timeout', '30s']);
    assert.equal(result.code, EXIT.failed, result.stderr);
    assert.ok(Date.now() - started < 10_000, 'did not fail fast');
    assert.match(result.stderr, /wax: error: ci\/moved: Ready=False, reason ScopeMismatch: sealed for payments\/moved, found in ci\/moved/);
    assertClean(result);
  });

  it('wait ignores a permanent reason about an older generation and times out with exit 212', async () => {
    await create('ci', 'fixed');
    await setStatus('ci', 'fixed', 1, 'IntegrityError');
    await editSpec('ci', 'fixed', 'repaired'); // the fix was applied; the controller has not looked yet
    const result = await wax(['wait', '-n', 'ci', 'fixed', '--timeout', '2s']);
    assert.equal(result.code, EXIT.timeout, result.stderr);
    assert.match(result.stderr, /wax: error: timed out after 2s waiting for ci\/fixed \(Progressing\)/);
  });

  it('wait times out with exit 212 naming each object not Ready and its last reason', async () => {
    await create('ci', 'kms-down');
    await setStatus('ci', 'kms-down', 1, 'KeyUnavailable');
    const started = Date.now();
    const result = await wax(['wait', '-n', 'ci', 'kms-down', 'never', '--timeout', '2s']);
    assert.equal(result.code, EXIT.timeout, result.stderr);
    assert.ok(Date.now() - started < 8000, 'overran --timeout');
    assert.match(result.stderr, /timed out after 2s waiting for ci\/kms-down \(KeyUnavailable\), ci\/never \(not found\)/);
  });

  it('wait waits for an object that does not exist yet (right after kubectl apply)', async () => {
    const waiting = wax(['wait', '-n', 'ci', 'late', '--timeout', '20s']);
    await delay(1500);
    await create('ci', 'late');
    await delay(500);
    await setStatus('ci', 'late', 1, 'Decrypted');
    const result = await waiting;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'ci/late: Ready (Decrypted, generation 1)\n');
  });

  it('wait through an unreachable API server ends with the timeout, naming the connection error', async () => {
    const port = await freePort();
    const unreachable = join(dir, 'unreachable-wait');
    writeFileSync(unreachable, fake.kubeconfigYaml().replace(fake.url, `http://127.0.0.1:${port}`));
    const result = await runWaxAsync(['wait', 'db', '--timeout', '1s', '--kubeconfig', unreachable]);
    assert.equal(result.code, EXIT.timeout, result.stderr);
    assert.match(result.stderr, /default\/db \(API: cannot reach the Kubernetes API server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\)/);
  });

  it('wait rejects a malformed --timeout with exit 64', async () => {
    const result = await wax(['wait', 'db', '--timeout', 'soon']);
    assert.equal(result.code, EXIT.usage);
    assert.match(result.stderr, /--timeout: 'soon' is not a duration/);
  });
});

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
