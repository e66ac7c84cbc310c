/**
 * The controller process: flags, cluster config, identities, leader election, the health
 * and metrics servers, JSON logs and signals. Everything else is in watch.ts (the loop),
 * leader.ts (the Lease) and metrics.ts (the exposition).
 *
 * Identities come from the environment exactly as the CLI reads them (SOPS_AGE_KEY_FILE
 * on a file mounted from a Secret, GNUPGHOME / WAX_PGP_KEY_FILE, AWS IRSA or Pod Identity,
 * Azure workload identity): the environment is passed as the providers' context, so there
 * is nothing controller-specific to configure and nothing to log.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CONCURRENCY, startController, type LogRecord, type RunningController } from './watch.js';
import { defaultIdentity, startLeaderElection, type LeaderElector } from './leader.js';
import { ControllerMetrics } from './metrics.js';

const COMPONENT = 'wax-controller';
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface ControllerConfig {
  namespaces: string[];
  resyncMs: number;
  concurrency: number;
  healthAddr: Address;
  metricsAddr: Address;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationMs: number;
  leaseRenewMs: number;
  leaseRetryMs: number;
  /** How long an unwrapped data key is reused before KMS / Key Vault is asked again. */
  dataKeyCacheTtlMs: number;
  kubeconfig?: string;
}

export interface Address {
  host?: string;
  port: number;
}

export interface ControllerHandle {
  readonly healthPort: number;
  readonly metricsPort: number;
  /** The Lease holder identity; undefined with leader election off. */
  readonly identity?: string;
  /** True while this process runs the reconcile loop. */
  isLeader(): boolean;
  /** What /readyz answers. */
  ready(): boolean;
  /** Graceful shutdown: controller (in-flight work), Lease, servers. Idempotent. */
  stop(): Promise<void>;
}

export interface RunOptions {
  /** Where JSON records go; one line each on stdout by default. */
  log?: (record: LogRecord) => void;
}

/** A command-line mistake: the entry point prints it and exits 2. */
export class UsageError extends Error {}

export async function runController(argv: string[], env: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<ControllerHandle> {
  const config = parseFlags(argv, env);
  const sink = options.log ?? stdoutLog;
  const runtime = new Runtime(config, env, sink);
  await runtime.start();
  return runtime.handle();
}

// ------------------------------------------------------------------ flags

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): ControllerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowNegative: true,
      options: {
        namespaces: { type: 'string', default: '' },
        resync: { type: 'string', default: '10m' },
        concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) },
        'health-addr': { type: 'string', default: ':8081' },
        'metrics-addr': { type: 'string', default: ':8080' },
        'leader-elect': { type: 'boolean', default: true },
        'lease-name': { type: 'string', default: 'wax-controller' },
        'lease-namespace': { type: 'string', default: env.POD_NAMESPACE || 'wax-system' },
        'lease-duration': { type: 'string', default: '15s' },
        'lease-renew-period': { type: 'string', default: '5s' },
        'lease-retry-period': { type: 'string', default: '2s' },
        'data-key-cache-ttl': { type: 'string', default: '1h' },
        kubeconfig: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const config: ControllerConfig = {
    namespaces: values.namespaces.split(',').map((n) => n.trim()).filter((n) => n !== ''),
    resyncMs: parseDuration(values.resync, '--resync'),
    concurrency: positiveInteger(values.concurrency, '--concurrency'),
    healthAddr: parseAddress(values['health-addr'], '--health-addr'),
    metricsAddr: parseAddress(values['metrics-addr'], '--metrics-addr'),
    leaderElect: values['leader-elect'],
    leaseName: values['lease-name'],
    leaseNamespace: values['lease-namespace'],
    leaseDurationMs: parseDuration(values['lease-duration'], '--lease-duration'),
    leaseRenewMs: parseDuration(values['lease-renew-period'], '--lease-renew-period'),
    leaseRetryMs: parseDuration(values['lease-retry-period'], '--lease-retry-period'),
    dataKeyCacheTtlMs: parseDuration(values['data-key-cache-ttl'], '--data-key-cache-ttl'),
    kubeconfig: values.kubeconfig,
  };
  checkLeaseTimings(config);
  return config;
}

/** Go-style durations as Kubernetes tools take them: 500ms, 30s, 10m, 1h30m; 0 means none. */
export function parseDuration(text: string, flag: string): number {
  if (text === '0') return 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new UsageError(`${flag}: not a duration: ${JSON.stringify(text)} (use e.g. 30s, 10m, 1h)`);
  return Math.round(parts.reduce((total, [, n, unit]) => total + Number(n) * units[unit], 0));
}

function positiveInteger(text: string, flag: string): number {
  if (!/^[1-9]\d*$/.test(text)) throw new UsageError(`${flag}: not a positive integer: ${JSON.stringify(text)}`);
  return Number(text);
}

/** `:8080` (every interface), `127.0.0.1:0` (an ephemeral port), `[::1]:8080`. */
export function parseAddress(text: string, flag: string): Address {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`${flag}: not an address: ${JSON.stringify(text)} (use e.g. :8080 or 127.0.0.1:8080)`);
  const host = match[1] ?? match[2];
  return host ? { host, port } : { port };
}

/** A renewal slower than the lease would let the Lease lapse under a healthy leader. */
function checkLeaseTimings(config: ControllerConfig): void {
  if (!config.leaderElect) return;
  if (config.leaseDurationMs < 1000 || config.leaseDurationMs % 1000 !== 0) throw new UsageError('--lease-duration: whole seconds, at least 1s (the Lease stores seconds)');
  if (config.leaseRenewMs <= 0 || config.leaseRenewMs >= config.leaseDurationMs) throw new UsageError('--lease-renew-period must be above 0 and below --lease-duration');
  if (config.leaseRetryMs <= 0) throw new UsageError('--lease-retry-period must be above 0');
}

// ------------------------------------------------------------------ cluster config

/** --kubeconfig, else the in-cluster service account, else KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path: string | undefined, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

// ------------------------------------------------------------------ the process

class Runtime {
  private readonly metrics = new ControllerMetrics();
  private readonly kubeConfig: KubeConfig;
  private controller?: RunningController;
  private elector?: LeaderElector;
  private healthServer?: Server;
  private metricsServer?: Server;
  private stopping?: Promise<void>;

  constructor(private readonly config: ControllerConfig, private readonly env: NodeJS.ProcessEnv, private readonly sink: (record: LogRecord) => void) {
    this.kubeConfig = loadKubeConfig(config.kubeconfig, env);
  }

  async start(): Promise<void> {
    // Servers first: the kubelet probes /healthz while the first list is still running.
    this.healthServer = await listen(this.config.healthAddr, (req, res) => this.serveHealth(req, res));
    this.metricsServer = await listen(this.config.metricsAddr, (req, res) => this.serveMetrics(req, res));
    this.log('info', 'servers listening', { healthPort: portOf(this.healthServer), metricsPort: portOf(this.metricsServer) });
    if (!this.config.leaderElect) return this.startReconciling();
    this.elector = startLeaderElection({
      kubeConfig: this.kubeConfig, namespace: this.config.leaseNamespace, name: this.config.leaseName, identity: defaultIdentity(this.env),
      leaseDurationMs: this.config.leaseDurationMs, renewIntervalMs: this.config.leaseRenewMs, retryIntervalMs: this.config.leaseRetryMs,
      onStartedLeading: () => this.startReconciling(),
      // A replica that lost the Lease stops writing at once and stands by to campaign again.
      onStoppedLeading: () => this.stopReconciling(),
      log: (level, msg, fields) => this.log(level, msg, fields),
    });
  }

  handle(): ControllerHandle {
    return {
      healthPort: portOf(this.healthServer!),
      metricsPort: portOf(this.metricsServer!),
      identity: this.elector?.identity,
      isLeader: () => this.controller !== undefined,
      ready: () => this.ready(),
      stop: () => this.stop(),
    };
  }

  private startReconciling(): void {
    this.controller = startController({
      kubeConfig: this.kubeConfig, ctx: { env: this.env, dataKeyCacheTtlMs: this.config.dataKeyCacheTtlMs }, namespaces: this.config.namespaces, resyncMs: this.config.resyncMs,
      concurrency: this.config.concurrency, log: (record) => this.record(record),
    });
  }

  private async stopReconciling(): Promise<void> {
    const controller = this.controller;
    this.controller = undefined;
    await controller?.stop();
    this.metrics.controllerStopped();
  }

  /** Informers listed, or (with leader election) a standby that can reach the Lease. */
  private ready(): boolean {
    if (this.stopping) return false;
    if (this.controller) return this.controller.ready();
    return this.elector !== undefined && this.elector.healthy();
  }

  private stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.log('info', 'shutting down', {});
    // The elector stops the controller (waiting for in-flight reconciles) before releasing the Lease.
    if (this.elector) await this.elector.stop();
    else await this.stopReconciling();
    await Promise.all([close(this.healthServer), close(this.metricsServer)]);
    this.log('info', 'shut down', {});
  }

  private serveHealth(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n');
    if (path === '/healthz') return reply(res, 200, 'ok\n');
    if (path === '/readyz') return this.ready() ? reply(res, 200, 'ok\n') : reply(res, 503, 'not ready\n');
    reply(res, 404, 'not found\n');
  }

  private serveMetrics(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n');
    if (path !== '/metrics') return reply(res, 404, 'not found\n');
    const text = this.metrics.render({ queueDepth: this.controller?.queueDepth() ?? 0, leader: this.controller !== undefined });
    reply(res, 200, text, 'text/plain; version=0.0.4; charset=utf-8');
  }

  /** Every controller record feeds the metrics, then the log. */
  private record(record: LogRecord): void {
    this.metrics.observe(record);
    this.sink(record);
  }

  private log(level: string, msg: string, fields: LogRecord): void {
    try {
      this.sink({ time: new Date().toISOString(), level, component: COMPONENT, msg, ...fields });
    } catch {
      // A broken log sink must not stop the process.
    }
  }
}

/**
 * One JSON line per record on stdout, written once per turn of the event loop: on Linux a
 * write to a pipe is a synchronous write(2) per call, and a first pass logs a record per
 * object. The 'exit' hook writes what is left, so process.exit and crashes lose nothing.
 */
const pendingLines: string[] = [];
let flushScheduled = false;
let exitHooked = false;

function stdoutLog(record: LogRecord): void {
  pendingLines.push(`${JSON.stringify(record)}\n`);
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushStdout);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', flushStdout);
  }
}

function flushStdout(): void {
  flushScheduled = false;
  if (pendingLines.length > 0) process.stdout.write(pendingLines.splice(0).join(''));
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function listen(address: Address, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, and drops idle keep-alive connections (probes and scrapers keep them open). */
async function close(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}

// ------------------------------------------------------------------ entry point

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  // The image pins its Node.js: the AWS SDK's notice about Node.js 22 is lines of log that
  // an operator cannot act on (the CLI silences it too).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let handle: ControllerHandle;
  try {
    handle = await runController(process.argv.slice(2), process.env);
  } catch (error) {
    const usage = error instanceof UsageError;
    stdoutLog({ time: new Date().toISOString(), level: 'error', component: COMPONENT, msg: usage ? 'invalid flags' : 'startup failed', error: (error as Error).message });
    process.exit(usage ? 2 : 1);
  }
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "now": the first shutdown is stuck (a key service that hangs).
    if (signalled) process.exit(1);
    signalled = true;
    stdoutLog({ time: new Date().toISOString(), level: 'info', component: COMPONENT, msg: 'signal received', signal });
    void handle.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (isEntryPoint()) void main();
