/**
 * controller/api-client.ts against plain node:http servers that count connections: the
 * generated client-node APIs reuse one keep-alive connection, parallel chunked responses
 * never fail with node-fetch's false "Premature close", a request that meets a reset
 * kept-alive socket is sent once more, destroy() closes the pool, and over HTTPS the pooled
 * agent keeps the kubeconfig's CA and certificate verification.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApiClients } from '../../controller/api-client.js';

const TOKEN = 'api-client-test-token';

interface CountingServer {
  url: string;
  connections: number;
  requests: string[];
}

/**
 * A server that answers every GET of a Secret with a JSON body, chunked (no Content-Length)
 * and written in two parts, as a real API server streams a larger object.
 * `onRequest` may take the request over (return true) to misbehave.
 */
async function countingServer(t: TestContext, onRequest?: (req: http.IncomingMessage, res: http.ServerResponse, nthOnSocket: number) => boolean): Promise<CountingServer> {
  const state: CountingServer = { url: '', connections: 0, requests: [] };
  const perSocket = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    const nth = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, nth);
    state.requests.push(`${req.method} ${req.url} ${req.headers.authorization === `Bearer ${TOKEN}` ? 'authorised' : 'anonymous'}`);
    if (onRequest?.(req, res, nth)) return;
    const name = decodeURIComponent(req.url!.split('/').pop()!);
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns', annotations: { padding: 'x'.repeat(3000) } }, data: {} });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(body.slice(0, 1000));
    setImmediate(() => res.end(body.slice(1000)));
  });
  server.on('connection', () => { state.connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return state;
}

function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: TOKEN }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

test('sequential calls share one keep-alive connection and keep the kubeconfig credentials', async (t) => {
  const server = await countingServer(t);
  const clients = new ApiClients(kubeConfigFor(server.url));
  t.after(() => clients.destroy());
  const core = clients.make(CoreV1Api);
  for (let i = 0; i < 20; i++) assert.equal((await core.readNamespacedSecret({ namespace: 'ns', name: `s${i}` })).metadata?.name, `s${i}`);
  assert.equal(server.connections, 1);
  assert.equal(server.requests.length, 20);
  assert.ok(server.requests.every((r) => r.endsWith('authorised')), 'every request carries the token');
  // client-node's own client, for contrast: a new connection per call.
  const plain = kubeConfigFor(server.url).makeApiClient(CoreV1Api);
  for (let i = 0; i < 3; i++) await plain.readNamespacedSecret({ namespace: 'ns', name: 'p' });
  assert.equal(server.connections, 4);
});

test('parallel calls with chunked responses all succeed: no false "Premature close", one socket per call in flight', async (t) => {
  const server = await countingServer(t);
  const clients = new ApiClients(kubeConfigFor(server.url));
  t.after(() => clients.destroy());
  const core = clients.make(CoreV1Api);
  const inFlight = 8;
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < 400) {
      const name = `s${next++}`;
      assert.equal((await core.readNamespacedSecret({ namespace: 'ns', name })).metadata?.name, name);
    }
  }));
  assert.equal(server.requests.length, 400);
  assert.ok(server.connections <= inFlight, `${server.connections} connections for ${inFlight} callers`);
  assert.ok(clients.openSockets() >= 1 && clients.openSockets() <= inFlight);
});

test('a request that meets a kept-alive socket reset by the server is sent once more', async (t) => {
  // The second request on the first connection is dropped unanswered: the keep-alive race.
  const server = await countingServer(t, (req, _res, nth) => {
    if (server.connections === 1 && nth === 2) {
      req.socket.destroy();
      return true;
    }
    return false;
  });
  const clients = new ApiClients(kubeConfigFor(server.url));
  t.after(() => clients.destroy());
  const core = clients.make(CoreV1Api);
  await core.readNamespacedSecret({ namespace: 'ns', name: 'first' });
  const second = await core.readNamespacedSecret({ namespace: 'ns', name: 'second' });
  assert.equal(second.metadata?.name, 'second');
  assert.deepEqual(server.requests.map((r) => r.split(' ')[1]), ['/api/v1/namespaces/ns/secrets/first', '/api/v1/namespaces/ns/secrets/second', '/api/v1/namespaces/ns/secrets/second']);
  assert.equal(server.connections, 2);
});

test('only once: a server that keeps resetting fails the call with the reset', async (t) => {
  const server = await countingServer(t, (req) => {
    req.socket.destroy();
    return true;
  });
  const clients = new ApiClients(kubeConfigFor(server.url));
  t.after(() => clients.destroy());
  const core = clients.make(CoreV1Api);
  await assert.rejects(core.readNamespacedSecret({ namespace: 'ns', name: 'x' }), (error: Error & { code?: string }) => error.code === 'ECONNRESET');
  assert.equal(server.requests.length, 2);
});

test('destroy() closes the pooled connections', async (t) => {
  const server = await countingServer(t);
  const clients = new ApiClients(kubeConfigFor(server.url));
  const core = clients.make(CoreV1Api);
  await core.readNamespacedSecret({ namespace: 'ns', name: 'a' });
  assert.equal(clients.openSockets(), 1);
  clients.destroy();
  assert.equal(clients.openSockets(), 0);
  await core.readNamespacedSecret({ namespace: 'ns', name: 'b' });
  assert.equal(server.connections, 2, 'a call after destroy() opens a new pool');
  clients.destroy();
});

/** A self-signed certificate for 127.0.0.1 from the openssl CLI, as the Key Vault fake makes its own. */
function selfSigned(t: TestContext): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wax-api-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '2', '-subj', '/CN=wax-api-client-test', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

test('HTTPS: the pooled agent keeps the kubeconfig CA (one connection), and still refuses a server it cannot verify', async (t) => {
  const { key, cert } = selfSigned(t);
  let connections = 0;
  const server = https.createServer({ key, cert }, (req, res) => {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls', namespace: 'ns' } });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('secureConnection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeConfig = (caData?: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, skipTLSVerify: false, ...(caData ? { caData } : {}) }],
      users: [{ name: 'u', token: TOKEN }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const trusted = new ApiClients(kubeConfig(Buffer.from(cert).toString('base64')));
  t.after(() => trusted.destroy());
  const core = trusted.make(CoreV1Api);
  for (let i = 0; i < 5; i++) assert.equal((await core.readNamespacedSecret({ namespace: 'ns', name: 'tls' })).metadata?.name, 'tls');
  assert.equal(connections, 1, 'one TLS handshake for five calls');
  const untrusted = new ApiClients(kubeConfig());
  t.after(() => untrusted.destroy());
  await assert.rejects(untrusted.make(CoreV1Api).readNamespacedSecret({ namespace: 'ns', name: 'tls' }), (error: Error & { code?: string }) => error.code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.equal(connections, 1, 'the unverified server got no request');
});
