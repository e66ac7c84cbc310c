/**
 * `.sops.yaml` creation rules, key groups with Shamir, rotate, updatekeys, filestatus and
 * keygen, through the real CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ExitCode } from '../../src/errors.js';
import { ageKeypair, makeTempDir, removeTempDir, runWax, type AgeKeypair } from '../support/cli.js';

interface Repo {
  dir: string;
  keys: Record<'alice' | 'bob' | 'carol', AgeKeypair>;
}

function withRepo(body: (repo: Repo) => void | Promise<void>) {
  return async () => {
    const dir = makeTempDir('wax-config-');
    try {
      const keys = {} as Repo['keys'];
      for (const name of ['alice', 'bob', 'carol'] as const) {
        mkdirSync(join(dir, '.keys', name), { recursive: true });
        keys[name] = ageKeypair(join(dir, '.keys', name));
      }
      await body({ dir, keys });
    } finally {
      removeTempDir(dir);
    }
  };
}

const env = (keyFile: string) => ({ SOPS_AGE_KEY_FILE: keyFile, XDG_CONFIG_HOME: '/nonexistent' });

function recipientsOf(file: string): string[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { sops: { age?: { recipient: string }[] } };
  return (doc.sops.age ?? []).map((e) => e.recipient);
}

function write(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

test('creation rules: found upwards, path_regex relative to the config, first match wins', withRepo(({ dir, keys }) => {
  write(join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: ^prod/.*\\.yaml$\n    age: ${keys.alice.recipient}\n  - age: >-\n      ${keys.bob.recipient},${keys.carol.recipient}\n`);
  const prod = write(join(dir, 'prod', 'app', 'secret.yaml'), 'password: p\n');
  const dev = write(join(dir, 'dev', 'secret.yaml'), 'password: d\n');
  // Run from a subdirectory: the config is found upwards, the regex sees "prod/app/secret.yaml".
  assert.equal(runWax(['encrypt', '-i', 'secret.yaml'], { cwd: join(dir, 'prod', 'app') }).code, 0);
  assert.equal(runWax(['encrypt', '-i', dev], { cwd: dir }).code, 0);
  assert.deepEqual(recipientsOf(prod), [keys.alice.recipient]);
  assert.deepEqual(recipientsOf(dev), [keys.bob.recipient, keys.carol.recipient]);
}));

test('creation rules: selection rule, mac_only_encrypted and stores indent come from .sops.yaml', withRepo(({ dir, keys }) => {
  write(
    join(dir, '.sops.yaml'),
    `creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n    age: [${keys.alice.recipient}]\nstores:\n  yaml:\n    indent: 2\n`,
  );
  const file = write(join(dir, 's.yaml'), 'kind: Secret\nmetadata:\n  name: x\nstringData:\n  password: p\n');
  assert.equal(runWax(['encrypt', '-i', file], { cwd: dir }).code, 0);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^kind: Secret$/m);
  assert.match(text, /^ {2}name: x$/m, 'indented with 2 spaces');
  assert.match(text, /^ {2}password: ENC\[/m);
  assert.match(text, /encrypted_regex: \^\(data\|stringData\)\$/);
  assert.match(text, /mac_only_encrypted: true/);
}));

test('no matching creation rule: exit 5 with a hint', withRepo(({ dir, keys }) => {
  write(join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: ^only-here/\n    age: ${keys.alice.recipient}\n`);
  const file = write(join(dir, 'elsewhere.yaml'), 'a: b\n');
  const result = runWax(['encrypt', file], { cwd: dir });
  assert.equal(result.code, ExitCode.ErrorReadingConfig);
  assert.match(result.stderr, /no matching creation rules found for elsewhere\.yaml/);
}));

test('key groups with shamir_threshold 2 of 3: any two identities decrypt, one does not', withRepo(({ dir, keys }) => {
  write(
    join(dir, '.sops.yaml'),
    `creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [${keys.alice.recipient}]\n      - age: [${keys.bob.recipient}]\n      - age: [${keys.carol.recipient}]\n`,
  );
  const file = write(join(dir, 'critical.yaml'), 'root_token: t0p-secret\n');
  assert.equal(runWax(['encrypt', '-i', file], { cwd: dir }).code, 0);
  const meta = (parseYaml(readFileSync(file, 'utf8')) as { sops: Record<string, unknown> }).sops;
  assert.equal(meta.shamir_threshold, 2);
  assert.equal((meta.key_groups as unknown[]).length, 3);
  assert.equal(meta.age, undefined, 'no flat list when there are several groups');
  const identity = (k: AgeKeypair) => readFileSync(k.keyFile, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY'))!;
  for (const [a, b] of [['alice', 'bob'], ['bob', 'carol'], ['alice', 'carol']] as const) {
    const result = runWax(['decrypt', file], { env: { SOPS_AGE_KEY: `${identity(keys[a])}\n${identity(keys[b])}`, XDG_CONFIG_HOME: '/nonexistent' } });
    assert.equal(result.code, 0, `${a}+${b}: ${result.stderr}`);
    assert.equal(result.stdout, 'root_token: t0p-secret\n');
  }
  const one = runWax(['decrypt', file], { env: env(keys.bob.keyFile) });
  assert.equal(one.code, ExitCode.CouldNotRetrieveKey);
  assert.match(one.stderr, /1 of the 2 key groups needed/);
  assert.match(one.stderr, /group 0: age .*no matching identity/);
  assert.match(one.stderr, /group 2: age .*no matching identity/);
  assert.ok(!one.stderr.includes('t0p-secret'));
}));

test('rotate: new data key, --add-age and --rm-age in the same step', withRepo(({ dir, keys }) => {
  const file = write(join(dir, 's.yaml'), 'password: hunter2\nuser: app\n');
  assert.equal(runWax(['encrypt', '-i', '--age', `${keys.alice.recipient},${keys.bob.recipient}`, file]).code, 0);
  const before = readFileSync(file, 'utf8');
  const result = runWax(['rotate', '-i', '--add-age', keys.carol.recipient, '--rm-age', keys.bob.recipient, file], { env: env(keys.alice.keyFile) });
  assert.equal(result.code, 0, result.stderr);
  const after = readFileSync(file, 'utf8');
  assert.deepEqual(recipientsOf(file), [keys.alice.recipient, keys.carol.recipient]);
  const valueLine = (text: string) => text.split('\n').find((l) => l.startsWith('password:'));
  assert.notEqual(valueLine(after), valueLine(before), 'every value is re-encrypted under the new data key');
  assert.equal(runWax(['decrypt', file], { env: env(keys.carol.keyFile) }).stdout, 'password: hunter2\nuser: app\n');
  assert.equal(runWax(['decrypt', file], { env: env(keys.bob.keyFile) }).code, ExitCode.CouldNotRetrieveKey);
}));

test('updatekeys -y: keys follow .sops.yaml, values keep their ciphertext, a second run changes nothing', withRepo(({ dir, keys }) => {
  const config = join(dir, '.sops.yaml');
  write(config, `creation_rules:\n  - age: ${keys.alice.recipient}\n`);
  const file = write(join(dir, 's.yaml'), 'password: hunter2\n');
  assert.equal(runWax(['encrypt', '-i', file], { cwd: dir }).code, 0);
  const before = readFileSync(file, 'utf8');
  write(config, `creation_rules:\n  - age: ${keys.alice.recipient},${keys.carol.recipient}\n`);
  const noYes = runWax(['updatekeys', file], { cwd: dir, env: env(keys.alice.keyFile) });
  assert.equal(noYes.code, ExitCode.Usage, 'asks for -y when it cannot prompt');
  const result = runWax(['updatekeys', '-y', file], { cwd: dir, env: env(keys.alice.keyFile) });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`\\+ age ${keys.carol.recipient}`));
  const after = readFileSync(file, 'utf8');
  assert.deepEqual(recipientsOf(file), [keys.alice.recipient, keys.carol.recipient]);
  const line = (text: string, key: string) => text.split('\n').find((l) => l.trimStart().startsWith(`${key}:`));
  assert.equal(line(after, 'password'), line(before, 'password'));
  assert.equal(line(after, 'mac'), line(before, 'mac'));
  assert.equal(runWax(['decrypt', file], { env: env(keys.carol.keyFile) }).stdout, 'password: hunter2\n');
  const again = runWax(['updatekeys', '-y', file], { cwd: dir, env: env(keys.alice.keyFile) });
  assert.equal(again.code, 0);
  assert.match(again.stderr, /already up to date/);
  assert.equal(readFileSync(file, 'utf8'), after);
}));

test('filestatus reports encrypted and plain files', withRepo(({ dir, keys }) => {
  const plain = write(join(dir, 'p.yaml'), 'a: b\n');
  const enc = write(join(dir, 'e.yaml'), 'a: b\n');
  assert.equal(runWax(['encrypt', '-i', '--age', keys.alice.recipient, enc]).code, 0);
  assert.equal(runWax(['filestatus', enc]).stdout, '{"encrypted":true}\n');
  assert.equal(runWax(['filestatus', plain]).stdout, '{"encrypted":false}\n');
}));

test('keygen -o writes a 0600 identity with its public key and never overwrites', withRepo(({ dir }) => {
  const path = join(dir, 'new', 'keys.txt');
  const result = runWax(['keygen', '-o', path]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.match(readFileSync(path, 'utf8'), /^# created: .*\n# public key: age1[0-9a-z]+\nAGE-SECRET-KEY-1[0-9A-Z]+\n$/);
  assert.match(result.stderr, /public key: age1/);
  assert.equal(runWax(['keygen', '-o', path]).code, ExitCode.Usage);
  const pq = runWax(['keygen', '--pq']);
  assert.match(pq.stdout, /# public key: age1pq1[0-9a-z]+\nAGE-SECRET-KEY-PQ-1/);
}));

test('post-quantum recipients: encrypt to age1pq1 and decrypt with the hybrid identity', withRepo(({ dir }) => {
  const keyFile = join(dir, 'pq.txt');
  assert.equal(runWax(['keygen', '--pq', '-o', keyFile]).code, 0);
  const recipient = /public key: (age1pq1[0-9a-z]+)/.exec(readFileSync(keyFile, 'utf8'))![1];
  const file = write(join(dir, 's.yaml'), 'token: quantum-safe\n');
  assert.equal(runWax(['encrypt', '-i', '--age', recipient, file]).code, 0);
  assert.equal(runWax(['decrypt', file], { env: env(keyFile) }).stdout, 'token: quantum-safe\n');
}));
