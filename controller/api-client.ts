/**
 * API clients that reuse their connections. client-node 1.4 builds a new http(s).Agent for
 * every request (KubeConfig.applySecurityAuthentication → createAgent), so every call
 * opened a new TCP connection, and against a real API server paid a new TLS handshake:
 * three per EncryptedSecret on a first pass (Secret, status, Event). Here the clients made
 * from one `ApiClients` share keep-alive agents, one per TLS identity (CA, client
 * certificate and key, server name, verification), so that credentials an exec plugin
 * rotates still get an agent of their own.
 *
 * maxSockets stays unlimited on purpose: node-fetch 2, which client-node sends with,
 * reports a false "Premature close" on a chunked response when a request has to wait for a
 * busy keep-alive socket (node-fetch#1767; a limit of 4 sockets failed nearly every one of
 * 20,000 chunked responses here, none failed without a limit).
 * The work queue's concurrency bounds the sockets instead.
 *
 * Proxy agents (socks, HTTP CONNECT) are left exactly as client-node makes them.
 *
 * A kept-alive socket can be closed by the server just as a request is sent on it (the
 * race every HTTP/1.1 client meets; under load it shows as "socket hang up"). Such a
 * request, which got no response at all, is sent once more (the dead socket has left the
 * pool). That is safe for every call the controller makes: a repeated create answers 409
 * AlreadyExists (handled like any conflict), the status merge patch is idempotent, and an
 * Event keeps the name it was given, so it is never recorded twice.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  ServerConfiguration,
  wrapHttpLibrary,
  type ApiType,
  type Configuration,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';

/** What makes two agents interchangeable: the options client-node copies into each one. */
const IDENTITY_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;
/** Rotated credentials leave old agents behind; a handful covers any real rotation. */
const MAX_AGENTS = 4;
/**
 * An idle socket is closed by us first: kube-apiserver closes HTTP/1.1 connections left
 * idle for its IdleTimeout (90 s), and a request sent on a socket the server is closing
 * fails. (Node servers announce a shorter `Keep-Alive: timeout=`, which the agent honours.)
 */
const IDLE_SOCKET_MS = 30_000;

type AnyAgent = http.Agent | https.Agent;

export class ApiClients implements SecurityAuthentication {
  private readonly agents = new Map<string, AnyAgent>();
  private readonly configuration: Configuration;

  constructor(private readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    const fetchLibrary = new IsomorphicFetchHttpLibrary();
    this.configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: this },
      httpApi: wrapHttpLibrary({ send: (request) => sendOnceMoreAfterReset(fetchLibrary, request) }),
    });
  }

  /** Like `KubeConfig.makeApiClient`, with pooled connections. */
  make<T extends ApiType>(apiType: new (config: Configuration) => T): T {
    return new apiType(this.configuration);
  }

  getName(): string {
    return 'wax-pooled-kubeconfig';
  }

  /** client-node's own authentication (token, exec plugin, client certificate), then a shared agent. */
  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.kubeConfig.applySecurityAuthentication(context);
    const agent = context.getAgent();
    if (agent) context.setAgent(this.pooled(agent));
  }

  /** Closes every pooled connection (the controller is stopping). */
  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  /** Sockets open or idle in the pool, for tests. */
  openSockets(): number {
    let count = 0;
    for (const agent of this.agents.values()) {
      for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) count += list?.length ?? 0;
    }
    return count;
  }

  private pooled(fresh: AnyAgent): AnyAgent {
    const Agent = fresh.constructor;
    if (Agent !== http.Agent && Agent !== https.Agent) return fresh;
    const options = (fresh as AnyAgent & { options: Record<string, unknown> }).options;
    const key = identityKey(Agent.name, options);
    const existing = this.agents.get(key);
    if (existing) return existing;
    const pooledOptions = { ...options, keepAlive: true, timeout: IDLE_SOCKET_MS };
    const pooled: AnyAgent = Agent === https.Agent ? new https.Agent(pooledOptions as https.AgentOptions) : new http.Agent(pooledOptions as http.AgentOptions);
    if (this.agents.size >= MAX_AGENTS) {
      const [oldestKey, oldest] = this.agents.entries().next().value!;
      this.agents.delete(oldestKey);
      oldest.destroy();
    }
    this.agents.set(key, pooled);
    return pooled;
  }
}

/** The request once more when the first got no response because its socket was reset. */
async function sendOnceMoreAfterReset(library: IsomorphicFetchHttpLibrary, request: RequestContext): Promise<ResponseContext> {
  try {
    return await library.send(request).toPromise();
  } catch (error) {
    if (!isConnectionReset(error) || request.getSignal()?.aborted) throw error;
    return library.send(request).toPromise();
  }
}

/** node-fetch's FetchError carries the socket's error code. */
function isConnectionReset(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** A digest, so that no copy of a client key is kept as a map key. */
function identityKey(kind: string, options: Record<string, unknown>): string {
  const hash = createHash('sha256').update(kind);
  for (const name of IDENTITY_OPTIONS) {
    const value = options[name];
    const parts = Array.isArray(value) ? value : [value];
    hash.update(`\u0000${name}:`);
    for (const part of parts) hash.update(Buffer.isBuffer(part) ? part : `${typeof part}:${String(part)}\u0001`);
  }
  return hash.digest('hex');
}
