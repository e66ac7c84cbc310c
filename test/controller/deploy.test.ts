/**
 * The deployment manifests (controller/deploy/, its Helm chart, the Dockerfile) checked
 * as data: the CRD accepts what `wax seal` writes without pruning a field (a pruned
 * encrypted value would be an IntegrityError in the cluster), RBAC is exactly the least
 * privilege the controller needs, the pod is locked down, and every flag it passes is
 * one the controller takes. `kubectl kustomize` renders the kustomization when kubectl
 * is on PATH.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { sealSecret } from '../../src/encrypted-secret.js';
import { generateAgeIdentity } from '../../src/providers/age.js';
import { resolveKeyGroups, type ProviderContext } from '../../src/providers/index.js';
import { nextStatus, Reason } from '../../controller/status.js';
import { repoRoot } from '../support/paths.js';

type Plain = Record<string, any>;

const ROOT = repoRoot();
const DEPLOY = path.join(ROOT, 'controller/deploy');
const CHART = path.join(DEPLOY, 'helm/wax-controller');

/** The controller's command line (controller/main.ts), without the leading dashes. */
const CONTROLLER_FLAGS = new Set(['namespaces', 'resync', 'concurrency', 'health-addr', 'metrics-addr', 'leader-elect', 'no-leader-elect', 'lease-name', 'lease-namespace', 'kubeconfig']);

function readDocs(file: string): Plain[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const doc of docs) assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
  return docs.map((doc) => doc.toJS() as Plain).filter((doc) => doc !== null);
}

/** Every object of the kustomization, by `Kind/name`. */
function kustomizeObjects(): Map<string, Plain> {
  const kustomization = readDocs(path.join(DEPLOY, 'kustomization.yaml'))[0];
  const objects = new Map<string, Plain>();
  for (const resource of kustomization.resources as string[]) {
    for (const doc of readDocs(path.join(DEPLOY, resource))) objects.set(`${doc.kind}/${doc.metadata.name}`, doc);
  }
  return objects;
}

function get(objects: Map<string, Plain>, key: string): Plain {
  const object = objects.get(key);
  assert.ok(object, `${key} is missing from controller/deploy`);
  return object;
}

// ---------------------------------------------------------------------------------------
// A structural validator for the subset of OpenAPI v3 the CRD uses. Unknown fields are
// errors where the API server would prune them, so "valid" here means "kept whole".

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function validate(schema: Plain, value: unknown, where: string, errors: string[], root = true): void {
  const type = schema.type as string | undefined;
  const isMap = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (type === 'object') {
    if (!isMap) return void errors.push(`${where}: expected an object`);
    const object = value as Plain;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in object)) errors.push(`${where}.${key}: required`);
    if (schema['x-kubernetes-preserve-unknown-fields'] === true) return;
    for (const [key, child] of Object.entries(object)) {
      const childSchema = schema.properties?.[key] ?? schema.additionalProperties;
      // The root's metadata is ObjectMeta, validated by the API server itself.
      if (root && key === 'metadata') continue;
      if (!childSchema || childSchema === false) errors.push(`${where}.${key}: not in the schema (would be pruned)`);
      else if (childSchema !== true) validate(childSchema, child, `${where}.${key}`, errors, false);
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return void errors.push(`${where}: expected an array`);
    value.forEach((item, i) => validate(schema.items ?? {}, item, `${where}[${i}]`, errors, false));
  } else if (type === 'string') {
    if (typeof value !== 'string') return void errors.push(`${where}: expected a string`);
    if (schema.format === 'date-time' && !DATE_TIME.test(value)) errors.push(`${where}: not a date-time`);
  } else if (type === 'integer') {
    if (!Number.isInteger(value)) errors.push(`${where}: expected an integer`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${where}: expected a boolean`);
  } else if (type !== undefined) {
    errors.push(`${where}: the test validator does not know type ${type}`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${where}: not one of ${schema.enum.join(', ')}`);
}

function errorsOf(schema: Plain, value: unknown): string[] {
  const errors: string[] = [];
  validate(schema, value, '', errors);
  return errors;
}

const sealed = (async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const ctx: ProviderContext = { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } };
  const keyGroups = await resolveKeyGroups([[{ type: 'age', value: recipient }]], ctx);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'payments', labels: { app: 'db' }, annotations: { owner: 'team-payments' } },
    type: 'kubernetes.io/basic-auth',
    immutable: true,
    data: { token: Buffer.from('t0ken').toString('base64') },
    stringData: { username: 'admin', password: 'hunter2' },
  };
  return parseYaml((await sealSecret(secret, { keyGroups, scope: 'strict' })).toString()) as Plain;
})();

function crdSchema(crd: Plain): Plain {
  return crd.spec.versions[0].schema.openAPIV3Schema;
}

// ---------------------------------------------------------------------------------------

test('every YAML file under controller/deploy parses, and the kustomization lists every manifest', () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(name) && !full.includes(`${path.sep}templates${path.sep}`)) files.push(full);
    }
  };
  walk(DEPLOY);
  assert.ok(files.length >= 9, `found only ${files.length} YAML files`);
  for (const file of files) assert.ok(readDocs(file).length > 0, `${file} is empty`);

  const kustomization = readDocs(path.join(DEPLOY, 'kustomization.yaml'))[0];
  assert.equal(kustomization.namespace, 'wax-system');
  const labels = kustomization.labels?.[0]?.pairs ?? kustomization.commonLabels;
  assert.equal(labels['app.kubernetes.io/name'], 'wax-controller');
  const top = readdirSync(DEPLOY).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml').sort();
  assert.deepEqual([...kustomization.resources].sort(), top);
});

test('the CRD: group, version, names, scope, status subresource and printer columns', () => {
  const crd = get(kustomizeObjects(), 'CustomResourceDefinition/encryptedsecrets.wax.dev');
  assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
  assert.equal(crd.spec.group, 'wax.dev');
  assert.equal(crd.spec.scope, 'Namespaced');
  assert.equal(crd.spec.names.kind, 'EncryptedSecret');
  assert.equal(crd.spec.names.plural, 'encryptedsecrets');
  assert.equal(crd.spec.names.singular, 'encryptedsecret');
  assert.equal(crd.spec.names.listKind, 'EncryptedSecretList');
  assert.equal(crd.spec.versions.length, 1);
  const [version] = crd.spec.versions;
  assert.equal(version.name, 'v1alpha1');
  assert.equal(version.served, true);
  assert.equal(version.storage, true);
  assert.deepEqual(version.subresources, { status: {} });
  const columns = version.additionalPrinterColumns.map((c: Plain) => [c.name.toUpperCase(), c.type, c.jsonPath]);
  assert.deepEqual(columns, [
    ['READY', 'string', '.status.conditions[?(@.type=="Ready")].status'],
    ['REASON', 'string', '.status.conditions[?(@.type=="Ready")].reason'],
    ['SECRET', 'string', '.status.secretName'],
    ['AGE', 'date', '.metadata.creationTimestamp'],
  ]);
  const schema = crdSchema(crd);
  assert.equal(schema.properties.sops['x-kubernetes-preserve-unknown-fields'], true);
  // Structural schemas need a type on every node but the preserved ones.
  const untyped: string[] = [];
  const walk = (node: Plain, where: string): void => {
    if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) untyped.push(where);
    for (const [key, child] of Object.entries(node.properties ?? {})) walk(child as Plain, `${where}.${key}`);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${where}.*`);
    if (node.items) walk(node.items, `${where}[]`);
  };
  walk(schema, '');
  assert.deepEqual(untyped, []);
});

test('a sealed EncryptedSecret validates against the CRD schema with nothing pruned', async () => {
  const schema = crdSchema(get(kustomizeObjects(), 'CustomResourceDefinition/encryptedsecrets.wax.dev'));
  const object = structuredClone(await sealed);
  assert.equal(object.apiVersion, 'wax.dev/v1alpha1');
  assert.equal(object.kind, 'EncryptedSecret');
  // Every spec field wax seal writes is there, so the test covers the whole shape.
  assert.deepEqual(Object.keys(object.spec).sort(), ['data', 'scope', 'stringData', 'template']);
  assert.deepEqual(Object.keys(object.spec.template).sort(), ['immutable', 'metadata', 'type']);
  assert.deepEqual(errorsOf(schema, object), []);

  // As the API server returns it: server metadata and a status the controller wrote.
  object.metadata = { ...object.metadata, uid: 'u', generation: 3, resourceVersion: '9', creationTimestamp: '2026-05-22T19:00:00Z' };
  object.status = nextStatus(undefined, { generation: 3, secretName: 'db', ready: 'True', reason: Reason.Decrypted, message: 'decrypted', decryptedWith: 'age age1x' }, new Date('2026-05-22T20:00:00Z'));
  assert.deepEqual(errorsOf(schema, object), []);
  const failed = nextStatus(object.status, { generation: 4, secretName: 'db', ready: 'False', reason: Reason.KeyUnavailable, message: 'kms down' }, new Date('2026-05-22T20:10:00Z'));
  assert.deepEqual(errorsOf(schema, { ...object, status: failed }), []);
});

test('the schema validator rejects what the API server would prune or refuse (must-fail cases)', async () => {
  const schema = crdSchema(get(kustomizeObjects(), 'CustomResourceDefinition/encryptedsecrets.wax.dev'));
  const base = await sealed;
  const cases: Array<[string, (o: Plain) => void, RegExp]> = [
    ['unknown spec field', (o) => (o.spec.extra = 'x'), /\.spec\.extra: not in the schema/],
    ['non-string data value', (o) => (o.spec.data.token = 5), /\.spec\.data\.token: expected a string/],
    ['non-boolean immutable', (o) => (o.spec.template.immutable = 'yes'), /immutable: expected a boolean/],
    ['unknown template field', (o) => (o.spec.template.metadata.finalizers = ['x']), /finalizers: not in the schema/],
    ['bad condition status', (o) => (o.status = { conditions: [{ type: 'Ready', status: 'Maybe' }] }), /status: not one of/],
    ['condition without status', (o) => (o.status = { conditions: [{ type: 'Ready' }] }), /conditions\[0\]\.status: required/],
    ['bad lastDecryptedAt', (o) => (o.status = { conditions: [], lastDecryptedAt: 'yesterday' }), /lastDecryptedAt: not a date-time/],
  ];
  for (const [label, mutate, expected] of cases) {
    const object = structuredClone(base);
    mutate(object);
    const errors = errorsOf(schema, object);
    assert.ok(errors.some((e) => expected.test(e)), `${label}: expected an error matching ${expected}, got ${JSON.stringify(errors)}`);
  }
});

test('RBAC: no wildcard, and exactly the rules the controller needs', () => {
  const objects = kustomizeObjects();
  for (const [key, object] of objects) {
    for (const rule of object.rules ?? []) {
      for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs']) {
        assert.ok(!(rule[field] ?? []).some((v: string) => v.includes('*')), `${key} has a wildcard in ${field}`);
      }
    }
  }
  const normalise = (rules: Plain[]): string[] =>
    rules.flatMap((r) => r.apiGroups.flatMap((g: string) => r.resources.map((res: string) => `${g}|${res}|${[...r.verbs].sort().join(',')}`))).sort();

  const clusterRole = get(objects, 'ClusterRole/wax-controller');
  assert.deepEqual(normalise(clusterRole.rules), [
    '|events|create,patch',
    '|secrets|create,delete,get,list,patch,update,watch',
    'wax.dev|encryptedsecrets/finalizers|update',
    'wax.dev|encryptedsecrets/status|get,patch,update',
    'wax.dev|encryptedsecrets|get,list,watch',
  ].sort());
  const role = get(objects, 'Role/wax-controller-leader-election');
  assert.equal(role.metadata.namespace, 'wax-system');
  assert.deepEqual(normalise(role.rules), ['coordination.k8s.io|leases|create,get,update']);

  const sa = get(objects, 'ServiceAccount/wax-controller');
  assert.equal(sa.metadata.namespace, 'wax-system');
  const subject = [{ kind: 'ServiceAccount', name: 'wax-controller', namespace: 'wax-system' }];
  const crb = get(objects, 'ClusterRoleBinding/wax-controller');
  assert.deepEqual(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'wax-controller' });
  assert.deepEqual(crb.subjects, subject);
  const rb = get(objects, 'RoleBinding/wax-controller-leader-election');
  assert.equal(rb.metadata.namespace, 'wax-system');
  assert.deepEqual(rb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'wax-controller-leader-election' });
  assert.deepEqual(rb.subjects, subject);

  // The cloud identity annotations are documented next to the ServiceAccount.
  const rbacText = readFileSync(path.join(DEPLOY, 'rbac.yaml'), 'utf8');
  for (const annotation of ['eks.amazonaws.com/role-arn', 'azure.workload.identity/client-id']) assert.ok(rbacText.includes(annotation), `rbac.yaml does not document ${annotation}`);
});

function flagName(arg: string): string {
  const match = /^--([a-z-]+)(=.*)?$/.exec(arg);
  assert.ok(match, `argument ${JSON.stringify(arg)} is not --flag or --flag=value`);
  return match[1];
}

test('the Deployment: locked-down pod, probes, keys, downward API, flags the controller takes', () => {
  const objects = kustomizeObjects();
  const deployment = get(objects, 'Deployment/wax-controller');
  const pod = deployment.spec.template.spec;
  assert.equal(deployment.spec.replicas, 2);
  assert.equal(pod.serviceAccountName, 'wax-controller');
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.containers.length, 1);
  const [container] = pod.containers;
  const sc = container.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.runAsUser, 65532);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
  assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
  assert.ok(!sc.privileged, 'privileged');

  const ports = new Map<string, number>(container.ports.map((p: Plain) => [p.name, p.containerPort]));
  const portOf = (port: string | number): number => (typeof port === 'number' ? port : ports.get(port)!);
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.equal(portOf(container.livenessProbe.httpGet.port), 8081);
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(portOf(container.readinessProbe.httpGet.port), 8081);
  assert.equal(ports.get('metrics'), 8080);

  const args = container.args as string[];
  for (const arg of args) assert.ok(CONTROLLER_FLAGS.has(flagName(arg)), `${arg} is not a controller flag`);
  const value = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  assert.equal(value('health-addr'), ':8081');
  assert.equal(value('metrics-addr'), ':8080');
  assert.ok(args.includes('--leader-elect'));
  assert.equal(value('lease-name'), 'wax-controller');
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);

  const env = new Map<string, Plain>(container.env.map((e: Plain) => [e.name, e]));
  assert.equal(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  assert.equal(env.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  assert.equal(env.get('SOPS_AGE_KEY_FILE')?.value, '/etc/wax/keys/keys.txt');

  const mounts = new Map<string, Plain>(container.volumeMounts.map((m: Plain) => [m.mountPath, m]));
  const volumes = new Map<string, Plain>(pod.volumes.map((v: Plain) => [v.name, v]));
  const keys = mounts.get('/etc/wax/keys');
  assert.ok(keys, 'no mount at /etc/wax/keys');
  assert.equal(keys.readOnly, true);
  assert.deepEqual({ name: volumes.get(keys.name)?.secret?.secretName, optional: volumes.get(keys.name)?.secret?.optional }, { name: 'wax-keys', optional: true });
  const tmp = mounts.get('/tmp');
  assert.ok(tmp && volumes.get(tmp.name)?.emptyDir, 'no emptyDir at /tmp');

  const service = get(objects, 'Service/wax-controller-metrics');
  assert.equal(service.spec.ports[0].port, 8080);
  assert.equal(portOf(service.spec.ports[0].targetPort), 8080);
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[k], v, `the Service selects ${k}=${v}, which the pods lack`);
});

test('kubectl kustomize controller/deploy renders', (t) => {
  const run = spawnSync('kubectl', ['kustomize', DEPLOY], { encoding: 'utf8', timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    t.skip('kubectl is not on PATH: the kustomization was not rendered');
    return;
  }
  assert.equal(run.status, 0, `kubectl kustomize failed: ${run.stderr}`);
  const rendered = parseAllDocuments(run.stdout).map((d) => d.toJS() as Plain);
  const kinds = rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ClusterRole/wax-controller',
    'ClusterRoleBinding/wax-controller',
    'CustomResourceDefinition/encryptedsecrets.wax.dev',
    'Deployment/wax-controller',
    'Namespace/wax-system',
    'Role/wax-controller-leader-election',
    'RoleBinding/wax-controller-leader-election',
    'Service/wax-controller-metrics',
    'ServiceAccount/wax-controller',
  ]);
  for (const object of rendered) {
    assert.equal(object.metadata.labels?.['app.kubernetes.io/name'], 'wax-controller', `${object.kind} lacks the common label`);
    const clusterScoped = ['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind);
    assert.equal(object.metadata.namespace, clusterScoped ? undefined : 'wax-system', `${object.kind}/${object.metadata.name} namespace`);
  }
  const deployment = rendered.find((o) => o.kind === 'Deployment')!;
  assert.match(deployment.spec.template.spec.containers[0].image, /^[^:]+\/wax-controller:\S+$/);
  // The selector got the common label, and the pods carry it.
  const selector = deployment.spec.selector.matchLabels;
  for (const [k, v] of Object.entries(selector)) assert.equal(deployment.spec.template.metadata.labels[k], v);
});

test('the Helm chart: Chart.yaml and values.yaml parse, templates exist, values referenced exist', () => {
  const chart = readDocs(path.join(CHART, 'Chart.yaml'))[0];
  assert.equal(chart.apiVersion, 'v2');
  assert.equal(chart.name, 'wax-controller');
  assert.match(chart.version, /^\d+\.\d+\.\d+/);
  const values = readDocs(path.join(CHART, 'values.yaml'))[0];
  assert.equal(values.replicas, 2);
  assert.deepEqual(values.namespaces, []);
  assert.equal(values.keysSecret.name, 'wax-keys');
  for (const key of ['image', 'resources', 'serviceAccount', 'extraEnv', 'podLabels']) assert.ok(key in values, `values.yaml has no ${key}`);

  const templates = ['_helpers.tpl', 'serviceaccount.yaml', 'clusterrole.yaml', 'clusterrolebinding.yaml', 'leader-election-rbac.yaml', 'deployment.yaml', 'service.yaml', 'NOTES.txt'];
  const present = readdirSync(path.join(CHART, 'templates')).sort();
  assert.deepEqual(present, [...templates].sort());

  // The chart's CRD is the kustomization's CRD.
  const crd = readDocs(path.join(CHART, 'crds/encryptedsecrets.wax.dev.yaml'));
  assert.deepEqual(crd, readDocs(path.join(DEPLOY, 'crd.yaml')));

  const lookup = (dotted: string): unknown => dotted.split('.').reduce<any>((node, key) => (node === undefined || node === null ? undefined : node[key]), values);
  for (const name of templates) {
    const text = readFileSync(path.join(CHART, 'templates', name), 'utf8');
    // Actions are balanced: an unclosed `{{` would only fail at `helm install`.
    assert.equal((text.match(/\{\{/g) ?? []).length, (text.match(/\}\}/g) ?? []).length, `${name}: unbalanced {{ }}`);
    for (const [, ref] of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) assert.notEqual(lookup(ref), undefined, `${name} uses .Values.${ref}, which values.yaml lacks`);
    if (name.endsWith('.yaml')) assert.ok(!/\bapiGroups:.*\*|\bverbs:.*\*|\bresources:.*\*/.test(text), `${name} has a wildcard`);
  }
  const deployment = readFileSync(path.join(CHART, 'templates/deployment.yaml'), 'utf8');
  for (const [, flag] of deployment.matchAll(/^\s*- --([a-z-]+)/gm)) assert.ok(CONTROLLER_FLAGS.has(flag), `the chart passes --${flag}`);
  for (const needle of ['/healthz', '/readyz', 'readOnlyRootFilesystem: true', 'runAsUser: 65532', 'allowPrivilegeEscalation: false', 'optional: true', 'fieldPath: metadata.namespace']) {
    assert.ok(deployment.includes(needle), `the chart's Deployment lacks ${needle}`);
  }
  // The chart's ClusterRole grants what the kustomization's grants.
  const chartRules = readFileSync(path.join(CHART, 'templates/clusterrole.yaml'), 'utf8').split('rules:')[1];
  assert.deepEqual(parseYaml(chartRules), get(kustomizeObjects(), 'ClusterRole/wax-controller').rules);
});

test('the Dockerfile: multi-stage, non-root, the controller entrypoint; .dockerignore keeps secrets and builds out', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const from = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(from.length >= 2, 'not multi-stage');
  assert.ok(from.every((image) => /^(node:20-bookworm-slim|gcr\.io\/distroless\/nodejs20)/.test(image)), `unexpected base images ${from.join(', ')}`);
  for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev', 'WORKDIR /app']) assert.ok(dockerfile.includes(step), `no ${step}`);
  const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.equal(users.at(-1), '65532:65532');
  assert.match(dockerfile, /^ENTRYPOINT \["node", "build\/controller\/main\.js"\]$/m);
  // Debian slim needs gpg installed for PGP master keys.
  if (from.at(-1)!.startsWith('node:')) assert.match(dockerfile, /apt-get install[^\n]*gnupg/);
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', 'build', 'dist', '.git']) assert.ok(ignore.includes(entry), `.dockerignore lacks ${entry}`);
  assert.ok(existsSync(path.join(ROOT, 'package-lock.json')), 'npm ci needs package-lock.json');
});
