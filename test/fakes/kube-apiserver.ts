/**
 * A wire-level fake of the Kubernetes API server for tests (design.md §6: never mock the
 * client, fake the service). One node:http server on 127.0.0.1 speaks the REST protocol
 * that the real `@kubernetes/client-node` speaks, for the resources the controller uses:
 *
 * - core v1 `secrets` and `events`, `coordination.k8s.io/v1` `leases`, and the custom
 *   resource `wax.dev/v1alpha1` `encryptedsecrets` with its `status` subresource;
 * - get, list (namespaced and all-namespaces, label and field selectors), create, update
 *   with optimistic concurrency, patch (merge, strategic as merge for core types, JSON
 *   patch), delete with ownerReference garbage collection, and watch with a bounded
 *   history replayed from a resourceVersion (410 Expired when it is older);
 * - errors as the `Status` objects the real server sends, and responses with sorted map
 *   keys plus server-set metadata so that callers are tested against re-ordered objects.
 *
 * Faults (expired history, dropped watches, failing requests, a restart) are switched on
 * by tests, and every request is logged with write counters per resource.
 *
 * Every write still stores, versions and watch-notifies like the real server. Stored objects
 * are deep-frozen when committed and never changed afterwards (a write commits a new
 * object), so the history and the watchers share them without copies, and each object is
 * serialised once for every response, list and watch event that carries it (kube-apiserver's
 * watch cache does the same with its cachingObject).
 *
 * The fake answers from this process's event loop: drive it with async clients only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

// ---------------------------------------------------------------------------- types

// Objects are arbitrary JSON from the wire; `any` keeps the patch and merge code readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KObject = Record<string, any>;

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  /** Custom resources: generation on spec changes, resourceVersion required on PUT, no SMP. */
  custom: boolean;
  /** The status subresource: main endpoints ignore status, /status changes only status. */
  statusSubresource: boolean;
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'secrets', singular: 'secret', kind: 'Secret', custom: false, statusSubresource: false },
  { group: '', version: 'v1', plural: 'events', singular: 'event', kind: 'Event', custom: false, statusSubresource: false },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', singular: 'lease', kind: 'Lease', custom: false, statusSubresource: false },
  { group: 'wax.dev', version: 'v1alpha1', plural: 'encryptedsecrets', singular: 'encryptedsecret', kind: 'EncryptedSecret', custom: true, statusSubresource: true },
];

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface RequestLogEntry {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  verb?: Verb;
  /** `plural` or `plural/status`. */
  resource?: string;
  /** HTTP status of the response (200 for a watch, whatever it then streams). */
  status: number;
}

export interface FakeApiServerOptions {
  /** Watch events retained for replay; older resourceVersions get 410 Expired. */
  historyLimit?: number;
  /** Bearer token the kubeconfig user sends; other tokens get 401. */
  token?: string;
}

const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);
const qualified = (t: ResourceType) => (t.group ? `${t.plural}.${t.group}` : t.plural);
const clone = <T>(value: T): T => structuredClone(value);
const isObject = (v: unknown): v is KObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const nowRfc3339 = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---------------------------------------------------------------------------- errors

const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

/** An error answered as a Kubernetes `Status` object. */
export class ApiError extends Error {
  constructor(readonly code: number, message: string, readonly reason = REASONS[code] ?? 'Unknown', readonly details?: KObject) {
    super(message);
  }

  /** Field order as Go's metav1.Status struct marshals it, not sorted. */
  toStatus(): KObject {
    const status: KObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason };
    if (this.details) status.details = this.details;
    status.code = this.code;
    return status;
  }
}

const resourceDetails = (t: ResourceType, name: string) => (t.group ? { name, group: t.group, kind: t.plural } : { name, kind: t.plural });
const notFound = (t: ResourceType, name: string) => new ApiError(404, `${qualified(t)} "${name}" not found`, 'NotFound', resourceDetails(t, name));
const alreadyExists = (t: ResourceType, name: string) => new ApiError(409, `${qualified(t)} "${name}" already exists`, 'AlreadyExists', resourceDetails(t, name));
const conflict = (t: ResourceType, name: string) =>
  new ApiError(409, `Operation cannot be fulfilled on ${qualified(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, 'Conflict', resourceDetails(t, name));
const badRequest = (message: string) => new ApiError(400, message, 'BadRequest');

function invalid(t: ResourceType, name: string, field: string, message: string): ApiError {
  const details: KObject = { name, kind: t.kind, causes: [{ reason: 'FieldValueInvalid', message, field }] };
  if (t.group) details.group = t.group;
  return new ApiError(422, `${t.kind}${t.group ? `.${t.group}` : ''} "${name}" is invalid: ${field}: ${message}`, 'Invalid', details);
}

// ---------------------------------------------------------------------------- JSON helpers

/** Go marshals maps with sorted keys; sorting everything re-orders objects as a real server may. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const out: KObject = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out;
}

const deepEqual = (a: unknown, b: unknown) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));

/** Frozen all the way down; returns its argument. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Sorted-key JSON of committed (frozen, so unchanging) objects, computed once each. */
const wireCache = new WeakMap<KObject, string>();

function wire(obj: KObject): string {
  let text = wireCache.get(obj);
  if (text === undefined) {
    text = JSON.stringify(sortKeys(obj));
    if (Object.isFrozen(obj)) wireCache.set(obj, text);
  }
  return text;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: KObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** RFC 6901 pointer to its unescaped tokens. */
function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw new Error(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path === '' ? [] : path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: unknown, tokens: string[]): unknown {
  let node = doc;
  for (const token of tokens) {
    if (Array.isArray(node) && /^\d+$/.test(token) && Number(token) < node.length) node = node[Number(token)];
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw new Error(`path /${tokens.join('/')} does not exist`);
  }
  return node;
}

/** Sets (add: inserts into arrays) or removes at a pointer, in place; returns the new root. */
function editAt(doc: unknown, tokens: string[], mode: 'add' | 'replace' | 'remove', value?: unknown): unknown {
  if (tokens.length === 0) return mode === 'remove' ? null : value;
  const parent = getAt(doc, tokens.slice(0, -1));
  const key = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const index = key === '-' && mode === 'add' ? parent.length : Number(key);
    if (!/^\d+$/.test(key) && key !== '-') throw new Error(`invalid array index ${key}`);
    if (index > parent.length || (mode !== 'add' && index >= parent.length)) throw new Error(`array index ${key} out of range`);
    if (mode === 'add') parent.splice(index, 0, value);
    else if (mode === 'replace') parent[index] = value;
    else parent.splice(index, 1);
  } else if (isObject(parent)) {
    if (mode !== 'add' && !Object.hasOwn(parent, key)) throw new Error(`${mode} operation does not apply: doc is missing key /${tokens.join('/')}`);
    if (mode === 'remove') delete parent[key];
    else parent[key] = value;
  } else {
    throw new Error(`path /${tokens.join('/')} has no parent object`);
  }
  return doc;
}

/** RFC 6902 JSON patch; throws on a failed test or a missing path (the server answers 422). */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
  let root = clone(doc);
  for (const op of ops as KObject[]) {
    const path = pointer(op.path);
    switch (op.op) {
      case 'add': root = editAt(root, path, 'add', clone(op.value)); break;
      case 'replace': root = editAt(root, path, 'replace', clone(op.value)); break;
      case 'remove': root = editAt(root, path, 'remove'); break;
      case 'copy': root = editAt(root, path, 'add', clone(getAt(root, pointer(op.from)))); break;
      case 'move': {
        const value = getAt(root, pointer(op.from));
        root = editAt(editAt(root, pointer(op.from), 'remove'), path, 'add', value);
        break;
      }
      case 'test':
        if (!deepEqual(getAt(root, path), op.value)) throw new Error(`testing value /${path.join('/')} failed`);
        break;
      default: throw new Error(`unexpected JSON patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return root;
}

// ---------------------------------------------------------------------------- selectors

type Predicate = (obj: KObject) => boolean;

/** Splits on commas outside `in (...)` sets. */
function selectorTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { terms.push(current.trim()); current = ''; } else current += ch;
  }
  if (current.trim()) terms.push(current.trim());
  return terms;
}

function labelTerm(term: string): (labels: Record<string, string>) => boolean {
  let m = /^([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = list.split(',').map((v) => v.trim());
    return op === 'in' ? (l) => key in l && values.includes(l[key]!) : (l) => !(key in l) || !values.includes(l[key]!);
  }
  if ((m = /^!([^\s!=,()]+)$/.exec(term))) { const key = m[1]!; return (l) => !(key in l); }
  if ((m = /^([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)$/.exec(term))) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  if ((m = /^([^\s!=,()]+)$/.exec(term))) { const key = m[1]!; return (l) => key in l; }
  throw badRequest(`unable to parse requirement: invalid label selector term ${JSON.stringify(term)}`);
}

export function labelSelector(selector: string | undefined): Predicate {
  const tests = selectorTerms(selector ?? '').map(labelTerm);
  return (obj) => tests.every((test) => test(obj.metadata?.labels ?? {}));
}

/** The fields the real server indexes for these types; anything else is a 400 as there. */
function fieldValue(t: ResourceType, obj: KObject, field: string): string {
  if (field === 'metadata.name') return obj.metadata?.name ?? '';
  if (field === 'metadata.namespace') return obj.metadata?.namespace ?? '';
  if (t.plural === 'secrets' && field === 'type') return obj.type ?? '';
  throw badRequest(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
}

export function fieldSelector(t: ResourceType, selector: string | undefined): Predicate {
  const tests = selectorTerms(selector ?? '').map((term) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector term ${JSON.stringify(term)}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    fieldValue(t, { metadata: {} }, field); // rejects unknown fields up front
    return op === '!=' ? (o: KObject) => fieldValue(t, o, field) !== value : (o: KObject) => fieldValue(t, o, field) === value;
  });
  return (obj) => tests.every((test) => test(obj));
}

// ---------------------------------------------------------------------------- validation

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function validateName(t: ResourceType, name: string): void {
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw invalid(t, name, 'metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
  }
}

/** stringData is folded into data on write and never stored, as the real API server does. */
function normaliseSecret(t: ResourceType, obj: KObject, old: KObject | undefined): void {
  const data: KObject = { ...(obj.data ?? {}) };
  for (const [key, value] of Object.entries(obj.stringData ?? {})) data[key] = Buffer.from(String(value), 'utf8').toString('base64');
  delete obj.stringData;
  const name = obj.metadata.name as string;
  for (const [key, value] of Object.entries(data)) {
    // The real server fails to decode []byte before validation: a 400, not a 422.
    if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) {
      throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0`);
    }
    if (!SECRET_KEY.test(key) || key === '.' || key === '..') {
      throw invalid(t, name, `data[${key}]`, `Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
    }
  }
  if (Object.keys(data).length > 0) obj.data = data;
  else delete obj.data;
  obj.type ??= 'Opaque';
  if (old && old.type !== obj.type) throw invalid(t, name, 'type', 'field is immutable');
  if (old?.immutable === true && (!deepEqual(old.data, obj.data) || obj.immutable !== true)) {
    throw invalid(t, name, 'data', 'field is immutable when `immutable` is set');
  }
}

/** Everything but metadata and status: what bumps a custom resource's generation. */
const specOf = (obj: KObject) => {
  const { metadata: _m, status: _s, kind: _k, apiVersion: _a, ...rest } = obj;
  return rest;
};

// ---------------------------------------------------------------------------- routing

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

type Discovery = { discovery: string[] };

/** `/api/v1/...` or `/apis/{group}/{version}/...` to a resource route or a discovery path. */
function parsePath(path: string): Route | Discovery | undefined {
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (segments[0] === 'api') { group = ''; rest = segments.slice(2); }
  else if (segments[0] === 'apis' && segments.length >= 3) { group = segments[1]!; rest = segments.slice(3); }
  else return segments.length <= 2 ? { discovery: segments } : undefined;
  const version = group ? segments[2] : segments[1];
  if (rest.length === 0) return { discovery: segments };
  const namespaced = rest[0] === 'namespaces' && rest.length >= 3;
  const [plural, name, subresource, extra] = namespaced ? rest.slice(2) : rest;
  const type = RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
  // Namespaced types are only listed or watched across namespaces, never fetched by name there.
  if (!type || extra !== undefined || (!namespaced && name !== undefined)) return undefined;
  if (subresource !== undefined && !(subresource === 'status' && type.statusSubresource)) return undefined;
  return { type, namespace: namespaced ? rest[1] : undefined, name, subresource };
}

function verbOf(method: string, route: Route, query: URLSearchParams): Verb | undefined {
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  if (method === 'GET') return route.name ? 'get' : watch ? 'watch' : 'list';
  if (!route.namespace) return undefined;
  if (method === 'POST' && !route.name) return 'create';
  if (!route.name) return undefined;
  return ({ PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, Verb>)[method];
}

function discoveryBody(segments: string[]): KObject | undefined {
  const key = segments.join('/');
  if (key === 'api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  if (key === 'apis') {
    const groups = [...new Set(RESOURCE_TYPES.filter((t) => t.group).map(apiVersionOf))].map((gv) => {
      const version = { groupVersion: gv, version: gv.split('/')[1] };
      return { name: gv.split('/')[0], versions: [version], preferredVersion: version };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const groupVersion = segments[0] === 'api' ? segments[1] : `${segments[1]}/${segments[2]}`;
  const types = RESOURCE_TYPES.filter((t) => apiVersionOf(t) === groupVersion);
  if (types.length === 0) return undefined;
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  const resources = types.flatMap((t) => [
    { name: t.plural, singularName: t.singular, namespaced: true, kind: t.kind, verbs },
    ...(t.statusSubresource ? [{ name: `${t.plural}/status`, singularName: '', namespaced: true, kind: t.kind, verbs: ['get', 'patch', 'update'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

// ---------------------------------------------------------------------------- the server

interface HistoryEvent { rv: number; type: ResourceType; event: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KObject }

interface Watcher { type: ResourceType; matches: Predicate; res: ServerResponse; bookmarks: boolean }

interface Fault { verb: Verb | '*'; resource: string; status: number; remaining: number }

export class FakeApiServer {
  readonly token: string;
  /** Every request answered, in order. */
  readonly requests: RequestLogEntry[] = [];
  /** Successful writes (create, update, patch, delete) per `plural` or `plural/status`. */
  readonly writes: Record<string, number> = {};

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** TCP connections accepted since the start: a client that pools its connections opens few. */
  connectionsAccepted = 0;
  private readonly stores = new Map<string, Map<string, KObject>>(RESOURCE_TYPES.map((t) => [t.plural, new Map()]));
  private readonly uids = new Map<string, { type: ResourceType; key: string }>();
  private readonly watchers = new Set<Watcher>();
  private history: HistoryEvent[] = [];
  /** Watches from a resourceVersion below this get 410: their events are gone. */
  private historyFloor = 0;
  private rv = 100;
  private faults: Fault[] = [];
  private writeResponseDelayMs = 0;
  private port = 0;
  private readonly historyLimit: number;

  constructor(options: FakeApiServerOptions = {}) {
    this.historyLimit = options.historyLimit ?? 1000;
    this.token = options.token ?? `fake-${randomBytes(8).toString('hex')}`;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.connectionsAccepted += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  /** The newest resourceVersion handed out. */
  get resourceVersion(): string { return String(this.rv); }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // -------------------------------------------------------------- client config

  /** A kubeconfig (as an object in kubeconfig's YAML shape) pointing at the server. */
  kubeconfig(namespace = 'default'): KObject {
    return {
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
    };
  }

  /** The same kubeconfig as YAML text (JSON is YAML), to write to a file for a subprocess. */
  kubeconfigYaml(namespace = 'default'): string { return JSON.stringify(this.kubeconfig(namespace), null, 2); }

  /** A client-node KubeConfig loaded from `kubeconfig()`. */
  client(namespace = 'default'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml(namespace));
    return kc;
  }

  // -------------------------------------------------------------- faults and inspection

  /** Forgets the watch history: a watch from any earlier resourceVersion gets 410, and open
   * watches are told so and closed, as when etcd compacts past a lagging watcher. */
  expireHistory(): void {
    this.history = [];
    this.historyFloor = this.rv;
    const expired = this.expiredStatus(this.rv - 1);
    for (const watcher of this.watchers) {
      writeEvent(watcher.res, 'ERROR', expired);
      watcher.res.end();
    }
  }

  /** Ends every open watch cleanly, as an API server does at its watch timeout. */
  dropWatches(): void {
    for (const watcher of this.watchers) watcher.res.end();
  }

  /** The next `count` requests for `verb` on `resource` (`plural`, `plural/status` or `*`) fail with `status`. */
  failNext(verb: Verb | '*', resource: string, status: number, count = 1): void {
    this.faults.push({ verb, resource, status, remaining: count });
  }

  /**
   * Answers each write `ms` after committing it, so that its watch events reach watchers
   * before the response reaches the writer (a busy API server); 0 turns it off.
   */
  delayWriteResponses(ms: number): void {
    this.writeResponseDelayMs = ms;
  }

  /** Drops every connection and refuses new ones for `downMs`, keeping all state. */
  async restart(downMs = 100): Promise<void> {
    await this.close();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.listen();
  }

  /** Sends a BOOKMARK with the current resourceVersion on every open watch that asked for them. */
  sendBookmarks(): void {
    for (const watcher of this.watchers) {
      if (watcher.bookmarks) writeEvent(watcher.res, 'BOOKMARK', this.bookmark(watcher.type));
    }
  }

  /** Number of open watch connections. */
  get openWatches(): number { return this.watchers.size; }

  /** A copy of a stored object, for assertions that bypass the wire. */
  peek(plural: string, namespace: string, name: string): KObject | undefined {
    const obj = this.stores.get(plural)?.get(`${namespace}/${name}`);
    return obj && clone(obj);
  }

  /** The stored object itself, deep-frozen (no copy): for polling loops that only read. */
  view(plural: string, namespace: string, name: string): Readonly<KObject> | undefined {
    return this.stores.get(plural)?.get(`${namespace}/${name}`);
  }

  totalWrites(): number { return Object.values(this.writes).reduce((a, b) => a + b, 0); }

  resetLog(): void {
    this.requests.length = 0;
    for (const key of Object.keys(this.writes)) delete this.writes[key];
  }

  // -------------------------------------------------------------- request handling

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry: RequestLogEntry = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0 };
    this.requests.push(entry);
    res.on('finish', () => { if (!entry.status) entry.status = res.statusCode; });
    try {
      const body = await readBody(req);
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'Unauthorized');
      this.route(req, res, url, body, entry);
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(500, String((err as Error)?.message ?? err));
      entry.status = error.code;
      sendJson(res, error.code, error.toStatus(), false);
    }
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, entry: RequestLogEntry): void {
    const parsed = parsePath(url.pathname);
    if (parsed && 'discovery' in parsed) {
      const doc = req.method === 'GET' ? discoveryBody(parsed.discovery) : undefined;
      if (!doc) throw new ApiError(404, 'the server could not find the requested resource');
      return sendJson(res, 200, doc);
    }
    const verb = parsed && verbOf(req.method ?? 'GET', parsed, url.searchParams);
    if (!parsed || !verb) throw new ApiError(404, 'the server could not find the requested resource');
    entry.verb = verb;
    entry.resource = parsed.subresource ? `${parsed.type.plural}/${parsed.subresource}` : parsed.type.plural;
    this.injectFault(verb, entry.resource);
    if (verb === 'watch') return this.watch(res, parsed, url.searchParams);
    const [code, result] = this.dispatch(verb, parsed, url.searchParams, body, req.headers['content-type'] ?? '', req.headers['user-agent']);
    if (verb === 'list') return sendText(res, code, listJson(result));
    if (verb === 'get') return sendText(res, code, wire(result));
    this.writes[entry.resource] = (this.writes[entry.resource] ?? 0) + 1;
    const text = result.kind === 'Status' ? JSON.stringify(result) : wire(result);
    if (this.writeResponseDelayMs > 0) setTimeout(() => sendText(res, code, text), this.writeResponseDelayMs);
    else sendText(res, code, text);
  }

  private injectFault(verb: Verb, resource: string): void {
    const fault = this.faults.find((f) => (f.verb === '*' || f.verb === verb) && (f.resource === '*' || f.resource === resource));
    if (!fault) return;
    if (--fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    throw new ApiError(fault.status, `injected ${fault.status} for ${verb} ${resource}`);
  }

  private dispatch(verb: Verb, route: Route, query: URLSearchParams, body: Buffer, contentType: string, userAgent?: string): [number, KObject] {
    const manager = query.get('fieldManager') ?? userAgent?.split('/')[0] ?? 'unknown';
    const { type, namespace = '', name = '' } = route;
    switch (verb) {
      case 'get': return [200, this.mustGet(type, namespace, name)];
      case 'list': return [200, this.list(type, route.namespace, query)];
      case 'create': return [201, this.create(type, namespace, parseJson(body), manager)];
      case 'update': return [200, this.update(route, parseJson(body), manager, false, true)];
      case 'patch': return [200, this.patch(route, body, contentType, manager)];
      default: return this.delete(type, namespace, name, body.length ? parseJson(body) : {});
    }
  }

  // -------------------------------------------------------------- storage verbs

  private store(type: ResourceType): Map<string, KObject> { return this.stores.get(type.plural)!; }

  private mustGet(type: ResourceType, namespace: string, name: string): KObject {
    const obj = this.store(type).get(`${namespace}/${name}`);
    if (!obj) throw notFound(type, name);
    return obj;
  }

  private selected(type: ResourceType, namespace: string | undefined, query: URLSearchParams): Predicate {
    const labels = labelSelector(query.get('labelSelector') ?? undefined);
    const fields = fieldSelector(type, query.get('fieldSelector') ?? undefined);
    return (obj) => (namespace === undefined || obj.metadata.namespace === namespace) && labels(obj) && fields(obj);
  }

  private list(type: ResourceType, namespace: string | undefined, query: URLSearchParams): KObject {
    const matches = this.selected(type, namespace, query);
    const items = [...this.store(type).values()].filter(matches);
    return { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: this.resourceVersion }, items };
  }

  private create(type: ResourceType, namespace: string, body: KObject, manager: string): KObject {
    const obj = this.checkShape(type, body, namespace, true);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    validateName(type, meta.name ?? '');
    if (this.store(type).has(`${namespace}/${meta.name}`)) throw alreadyExists(type, meta.name);
    for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'deletionTimestamp']) delete meta[key];
    // With a status subresource the server drops status on create; it is written via /status.
    if (type.statusSubresource) delete obj.status;
    if (type.plural === 'secrets') normaliseSecret(type, obj, undefined);
    Object.assign(meta, { namespace, uid: randomUUID(), creationTimestamp: nowRfc3339() });
    if (type.custom) meta.generation = 1;
    meta.managedFields = [managedEntry(type, obj, manager, 'Update')];
    return this.commit(type, obj, 'ADDED');
  }

  /** `fresh`: the body was parsed for this request alone, so it is changed in place. */
  private update(route: Route, body: KObject, manager: string, patched: boolean, fresh = false): KObject {
    const { type, namespace = '', name = '' } = route;
    const old = this.mustGet(type, namespace, name);
    const incoming = this.checkShape(type, body, namespace, fresh);
    if (incoming.metadata.name !== name) throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    this.checkResourceVersion(type, old, incoming.metadata.resourceVersion, patched);
    // The frozen old object's other fields are shared, not copied; only metadata is written to.
    const next = route.subresource === 'status' ? { ...old, metadata: { ...old.metadata }, status: incoming.status } : this.mainUpdate(type, old, incoming);
    if (JSON.stringify(sortKeys(next)) === wire(old)) return old; // a no-op write changes nothing, not even resourceVersion
    next.metadata.managedFields = upsertManaged(old.metadata.managedFields, managedEntry(type, next, manager, 'Update', route.subresource));
    return this.commit(type, next, 'MODIFIED');
  }

  /** A PUT or PATCH on the main endpoint: server-owned metadata and (with the subresource) status stay. */
  private mainUpdate(type: ResourceType, old: KObject, incoming: KObject): KObject {
    const next = clone(incoming);
    for (const key of ['uid', 'creationTimestamp', 'namespace', 'generation', 'resourceVersion', 'managedFields']) {
      if (old.metadata[key] === undefined) delete next.metadata[key];
      else next.metadata[key] = old.metadata[key];
    }
    if (type.statusSubresource) {
      if (old.status === undefined) delete next.status;
      else next.status = clone(old.status);
    }
    if (type.plural === 'secrets') normaliseSecret(type, next, old);
    if (type.custom && !deepEqual(specOf(old), specOf(next))) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    return next;
  }

  private checkResourceVersion(type: ResourceType, old: KObject, rv: unknown, patched: boolean): void {
    if (rv === undefined || rv === '') {
      // Custom resources refuse unconditional updates (AllowUnconditionalUpdate is false for them).
      if (type.custom && !patched) throw invalid(type, old.metadata.name, 'metadata.resourceVersion', 'Invalid value: 0x0: must be specified for an update');
      return;
    }
    if (String(rv) !== old.metadata.resourceVersion) throw conflict(type, old.metadata.name);
  }

  private patch(route: Route, body: Buffer, contentType: string, manager: string): KObject {
    const { type, namespace = '', name = '' } = route;
    const old = this.mustGet(type, namespace, name);
    const mediaType = contentType.split(';')[0]!.trim();
    const patch = parseJson(body);
    let result: unknown;
    try {
      if (mediaType === 'application/json-patch+json') result = applyJsonPatch(old, patch);
      else if (mediaType === 'application/merge-patch+json' || (mediaType === 'application/strategic-merge-patch+json' && !type.custom)) result = mergePatch(old, patch);
      else throw new ApiError(415, `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${type.custom ? '' : ', application/strategic-merge-patch+json'}`);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(422, `the server rejected our request due to an error in our request: ${(err as Error).message}`, 'Invalid');
    }
    if (!isObject(result)) throw new ApiError(422, 'the patched object is not a JSON object', 'Invalid');
    // A resourceVersion in the patch is a precondition; without one the patch always applies.
    const rv = isObject(result.metadata) ? result.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== old.metadata.resourceVersion) throw conflict(type, name);
    return this.update(route, result, manager, true);
  }

  private delete(type: ResourceType, namespace: string, name: string, options: KObject): [number, KObject] {
    const old = this.mustGet(type, namespace, name);
    const pre = options.preconditions ?? {};
    if (pre.uid !== undefined && pre.uid !== old.metadata.uid) {
      throw new ApiError(409, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`, 'Conflict', resourceDetails(type, name));
    }
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== old.metadata.resourceVersion) throw conflict(type, name);
    const gone = this.remove(type, old);
    if (options.propagationPolicy !== 'Orphan') this.collectGarbage(old.metadata.uid);
    // Custom resources return the deleted object; built-in types here answer with a Status.
    if (type.custom) return [200, gone];
    return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...resourceDetails(type, name), uid: old.metadata.uid } }];
  }

  private remove(type: ResourceType, obj: KObject): KObject {
    this.store(type).delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
    this.uids.delete(obj.metadata.uid);
    // The DELETED event carries the object at the deletion's own resourceVersion, as etcd does.
    const gone = clone(obj);
    gone.metadata.resourceVersion = String(++this.rv);
    this.publish(type, 'DELETED', deepFreeze(gone));
    return gone;
  }

  /** The garbage collector: dependents with no remaining live owner go; others lose the dangling reference. */
  private collectGarbage(ownerUid: string): void {
    for (const type of RESOURCE_TYPES) {
      for (const obj of [...this.store(type).values()]) {
        const refs: KObject[] = obj.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === ownerUid)) continue;
        const remaining = refs.filter((r) => r.uid !== ownerUid);
        if (remaining.some((r) => this.uids.has(r.uid))) {
          const next = clone(obj);
          next.metadata.ownerReferences = remaining;
          this.commit(type, next, 'MODIFIED');
        } else {
          this.remove(type, obj);
          this.collectGarbage(obj.metadata.uid);
        }
      }
    }
  }

  /** Kind, apiVersion and namespace as the URL says; metadata an object. A copy unless `fresh`. */
  private checkShape(type: ResourceType, body: KObject, namespace: string, fresh = false): KObject {
    if (!isObject(body)) throw badRequest('the request body must be a JSON object');
    const obj = fresh ? body : clone(body);
    if (obj.kind !== undefined && obj.kind !== type.kind) throw badRequest(`the kind of the object (${obj.kind}) does not match the kind of the request (${type.kind})`);
    obj.kind = type.kind;
    obj.apiVersion = apiVersionOf(type);
    obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    obj.metadata.namespace = namespace;
    return obj;
  }

  private commit(type: ResourceType, obj: KObject, event: 'ADDED' | 'MODIFIED'): KObject {
    obj.metadata.resourceVersion = String(++this.rv);
    deepFreeze(obj);
    this.store(type).set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
    this.uids.set(obj.metadata.uid, { type, key: `${obj.metadata.namespace}/${obj.metadata.name}` });
    this.publish(type, event, obj);
    return obj;
  }

  // -------------------------------------------------------------- watch

  /** `obj` is committed (frozen): the history keeps it as it is, and every watcher gets the same line. */
  private publish(type: ResourceType, event: HistoryEvent['event'], obj: KObject): void {
    this.history.push({ rv: this.rv, type, event, object: obj });
    while (this.history.length > this.historyLimit) this.historyFloor = this.history.shift()!.rv;
    let line: string | undefined;
    for (const watcher of this.watchers) {
      if (watcher.type !== type || !watcher.matches(obj)) continue;
      line ??= eventLine(event, obj);
      writeLine(watcher.res, line);
    }
  }

  private expiredStatus(rv: number): KObject {
    return new ApiError(410, `too old resource version: ${rv} (${this.historyFloor + 1})`, 'Expired').toStatus();
  }

  private bookmark(type: ResourceType): KObject {
    return { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: this.resourceVersion } };
  }

  /** Replays history after the asked resourceVersion (or the current state when none), then streams. */
  private watch(res: ServerResponse, route: Route, query: URLSearchParams): void {
    const matches = this.selected(route.type, route.namespace, query);
    const rvParam = query.get('resourceVersion') ?? '';
    const since = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (since !== undefined && !Number.isSafeInteger(since)) throw badRequest(`invalid resource version "${rvParam}"`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // Clients resolve the watch request on headers; without a flush a quiet watch never starts.
    res.flushHeaders();
    if (since !== undefined && since < this.historyFloor) {
      // The real server answers 200 and then an ERROR event with the 410 Status.
      writeEvent(res, 'ERROR', this.expiredStatus(since));
      res.end();
      return;
    }
    if (since === undefined) for (const obj of [...this.store(route.type).values()].filter(matches)) writeEvent(res, 'ADDED', obj);
    else for (const e of this.history) if (e.rv > since && e.type === route.type && matches(e.object)) writeEvent(res, e.event, e.object);
    const watcher: Watcher = { type: route.type, matches, res, bookmarks: query.get('allowWatchBookmarks') === 'true' };
    if (watcher.bookmarks) writeEvent(res, 'BOOKMARK', this.bookmark(route.type));
    this.watchers.add(watcher);
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => { this.watchers.delete(watcher); clearTimeout(timer); });
  }
}

// ---------------------------------------------------------------------------- wire helpers

function eventLine(type: WatchEventType, object: KObject): string {
  return `{"type":${JSON.stringify(type)},"object":${object.kind === 'Status' ? JSON.stringify(object) : wire(object)}}\n`;
}

function writeLine(res: ServerResponse, line: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.write(line);
}

function writeEvent(res: ServerResponse, type: WatchEventType, object: KObject): void {
  writeLine(res, eventLine(type, object));
}

/** A list with sorted keys (apiVersion, items, kind, metadata), from its items' cached JSON. */
function listJson(list: KObject): string {
  const items = (list.items as KObject[]).map(wire).join(',');
  return `{"apiVersion":${JSON.stringify(list.apiVersion)},"items":[${items}],"kind":${JSON.stringify(list.kind)},"metadata":${JSON.stringify(sortKeys(list.metadata))}}`;
}

function sendJson(res: ServerResponse, code: number, body: KObject, sort = true): void {
  sendText(res, code, JSON.stringify(sort ? sortKeys(body) : body));
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): KObject {
  try {
    return JSON.parse(body.toString('utf8')) as KObject;
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

/** Top-level field names as FieldsV1 keys: plausible, and enough for tests to see server fields. */
function managedEntry(type: ResourceType, obj: KObject, manager: string, operation: string, subresource?: string): KObject {
  const fields: KObject = {};
  const source = subresource === 'status' ? { status: obj.status } : specOf(obj);
  for (const [key, value] of Object.entries(source)) {
    fields[`f:${key}`] = isObject(value) ? Object.fromEntries(Object.keys(value).map((k) => [`f:${k}`, {}])) : {};
  }
  const entry: KObject = { manager, operation, apiVersion: apiVersionOf(type), time: nowRfc3339(), fieldsType: 'FieldsV1', fieldsV1: fields };
  if (subresource) entry.subresource = subresource;
  return entry;
}

function upsertManaged(existing: KObject[] | undefined, entry: KObject): KObject[] {
  const others = (existing ?? []).filter((e) => !(e.manager === entry.manager && e.operation === entry.operation && e.subresource === entry.subresource));
  return [...others, entry];
}

export async function startFakeApiServer(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const fake = new FakeApiServer(options);
  await fake.listen();
  return fake;
}
