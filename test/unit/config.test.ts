import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findConfigFile, loadConfig, matchCreationRule } from '../../src/config.js';
import { ConfigError, ConflictingParametersError, RegexError } from '../../src/errors.js';

const AGE_A = 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29';
const AGE_B = 'age1pnmp2nq5qx9z4lpmachyn2ld07xjumn98hpeq77e4glddu96zvms9nn7c8';

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withDir(fn: (dir: string) => unknown): Promise<void> {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'wax-config-')));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeConfig(dir: string, text: string): string {
  const file = path.join(dir, '.sops.yaml');
  writeFileSync(file, text);
  return file;
}

test('discovery: the nearest .sops.yaml from the directory upwards', () =>
  withDir((dir) => {
    const deep = path.join(dir, 'a', 'b', 'c');
    mkdirSync(deep, { recursive: true });
    const top = writeConfig(dir, 'creation_rules: []\n');
    assert.equal(findConfigFile(deep), top);
    const middle = writeConfig(path.join(dir, 'a'), 'creation_rules: []\n');
    assert.equal(findConfigFile(deep), middle);
    assert.equal(findConfigFile(path.join(dir, 'a')), middle);
    assert.equal(findConfigFile(dir), top);
    // .sops.yml is not a config file for sops.
    const other = path.join(dir, 'other');
    mkdirSync(other);
    writeFileSync(path.join(other, '.sops.yml'), 'creation_rules: []\n');
    assert.equal(findConfigFile(other), top);
  }));

test('discovery: none found → undefined', (t) => {
  const stray = ancestorsOf(tmpdir()).find((file) => existsSync(file));
  if (stray) {
    t.skip(`${stray} exists above the temp directory`);
    return;
  }
  return withDir((dir) => {
    mkdirSync(path.join(dir, 'sub'));
    assert.equal(findConfigFile(path.join(dir, 'sub')), undefined);
    assert.equal(findConfigFile(dir), undefined);
  });
});

function ancestorsOf(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    out.push(path.join(d, '.sops.yaml'));
    if (path.dirname(d) === d) return out;
  }
}

test('discovery: an explicit path wins; a missing explicit path → ConfigError', () =>
  withDir((dir) => {
    writeConfig(dir, 'creation_rules: []\n');
    const explicit = path.join(dir, 'custom.yaml');
    writeFileSync(explicit, 'creation_rules: []\n');
    assert.equal(findConfigFile(dir, explicit), explicit);
    assert.throws(() => findConfigFile(dir, path.join(dir, 'nope.yaml')), ConfigError);
  }));

test('rules: path_regex is matched against the path relative to the config directory', () =>
  withDir(async (dir) => {
    const file = writeConfig(
      dir,
      ['creation_rules:', `  - path_regex: ^secrets/prod\\.yaml$`, `    age: ${AGE_A}`, `  - path_regex: ^/`, `    age: ${AGE_B}`, ''].join('\n'),
    );
    const config = loadConfig(file);
    const rule = await matchCreationRule(config, path.join(dir, 'secrets', 'prod.yaml'));
    assert.equal(rule.index, 0);
    // An absolute-path regex does not match: the path is relative.
    await assert.rejects(matchCreationRule(config, path.join(dir, 'other.yaml')), ConfigError);
  }));

test('rules: relative file paths resolve against the working directory', () =>
  withDir(async (dir) => {
    const file = writeConfig(dir, ['creation_rules:', '  - path_regex: \\.enc\\.yaml$', `    age: ${AGE_A}`, ''].join('\n'));
    const config = loadConfig(file);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal((await matchCreationRule(config, 'x.enc.yaml')).index, 0);
    } finally {
      process.chdir(cwd);
    }
  }));

test('rules: the first match wins, unanchored search, and a rule without path_regex matches everything', () =>
  withDir(async (dir) => {
    const file = writeConfig(
      dir,
      [
        'creation_rules:',
        '  - path_regex: prod',
        `    age: ${AGE_A}`,
        '  - path_regex: \\.yaml$',
        `    age: ${AGE_B}`,
        '  - age: ' + AGE_A,
        '    encrypted_regex: ^data$',
        '',
      ].join('\n'),
    );
    const config = loadConfig(file);
    assert.equal((await matchCreationRule(config, path.join(dir, 'deploy', 'prod', 'x.yaml'))).index, 0);
    assert.equal((await matchCreationRule(config, path.join(dir, 'dev.yaml'))).index, 1);
    const fallback = await matchCreationRule(config, path.join(dir, 'notes.txt'));
    assert.equal(fallback.index, 2);
    assert.equal(fallback.pathRegex, undefined);
    assert.deepEqual(fallback.rule, { kind: 'encrypted_regex', value: '^data$' });
  }));

test('rules: no matching rule → ConfigError; an invalid path_regex → RegexError', () =>
  withDir(async (dir) => {
    const none = loadConfig(writeConfig(dir, ['creation_rules:', '  - path_regex: ^only-this$', `    age: ${AGE_A}`, ''].join('\n')));
    await assert.rejects(matchCreationRule(none, path.join(dir, 'other.yaml')), ConfigError);
    const empty = loadConfig(writeConfig(dir, ''));
    assert.deepEqual(empty.creationRules, []);
    await assert.rejects(matchCreationRule(empty, path.join(dir, 'x.yaml')), ConfigError);
    const bad = loadConfig(writeConfig(dir, ['creation_rules:', '  - path_regex: (?=x)', `    age: ${AGE_A}`, ''].join('\n')));
    await assert.rejects(matchCreationRule(bad, path.join(dir, 'x.yaml')), RegexError);
  }));

test('keys: flat age as a comma-separated string and as a YAML list', () =>
  withDir((dir) => {
    const asString = loadConfig(writeConfig(dir, `creation_rules:\n  - age: ${AGE_A}, ${AGE_B}\n`));
    assert.deepEqual(asString.creationRules[0].keyGroups, [
      [
        { type: 'age', value: AGE_A },
        { type: 'age', value: AGE_B },
      ],
    ]);
    const asList = loadConfig(writeConfig(dir, `creation_rules:\n  - age:\n      - ${AGE_A}\n      - ${AGE_B}\n`));
    assert.deepEqual(asList.creationRules[0].keyGroups, asString.creationRules[0].keyGroups);
  }));

test('keys: every flat key field maps to its metadata type; flat kms takes aws_profile', () =>
  withDir((dir) => {
    const config = loadConfig(
      writeConfig(
        dir,
        [
          'creation_rules:',
          '  - pgp: FP1,FP2',
          '    kms: arn:aws:kms:eu-west-1:1:key/k',
          '    aws_profile: prod',
          '    gcp_kms: projects/p/locations/l/keyRings/r/cryptoKeys/k',
          '    azure_keyvault: https://v.vault.azure.net/keys/k/ver',
          '    hc_vault_transit_uri: https://vault:8200/v1/transit/keys/k',
          '    hckms: [eu-west-101:uuid]',
          `    age: ${AGE_A}`,
          '',
        ].join('\n'),
      ),
    );
    assert.deepEqual(config.creationRules[0].keyGroups, [
      [
        { type: 'pgp', value: 'FP1' },
        { type: 'pgp', value: 'FP2' },
        { type: 'kms', value: { arn: 'arn:aws:kms:eu-west-1:1:key/k', aws_profile: 'prod' } },
        { type: 'gcp_kms', value: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' },
        { type: 'hckms', value: 'eu-west-101:uuid' },
        { type: 'azure_kv', value: 'https://v.vault.azure.net/keys/k/ver' },
        { type: 'hc_vault', value: 'https://vault:8200/v1/transit/keys/k' },
        { type: 'age', value: AGE_A },
      ],
    ]);
  }));

test('keys: key_groups with objects (kms, azure_keyvault) kept as KeySpec values, merge, dedupe, threshold', () =>
  withDir((dir) => {
    const config = loadConfig(
      writeConfig(
        dir,
        [
          'creation_rules:',
          '  - path_regex: critical/.*',
          '    shamir_threshold: 2',
          `    age: ${AGE_B}`,
          '    key_groups:',
          `      - age: [${AGE_A}, ${AGE_A}]`,
          '        kms:',
          '          - arn: arn:aws:kms:eu-west-1:1:key/k',
          '            role: arn:aws:iam::1:role/r',
          '            context: {app: x}',
          '            aws_profile: ""',
          '        azure_keyvault:',
          '          - {vaultUrl: "https://v.vault.azure.net", key: k, version: ""}',
          '        hc_vault: [https://vault:8200/v1/transit/keys/k]',
          '      - pgp: [FP]',
          '        merge:',
          `          - age: [${AGE_B}]`,
          '          - gcp_kms: [{resource_id: projects/p}]',
          '',
        ].join('\n'),
      ),
    );
    const rule = config.creationRules[0];
    assert.equal(rule.shamirThreshold, 2);
    // key_groups override the flat lists.
    assert.deepEqual(rule.keyGroups, [
      [
        { type: 'kms', value: { arn: 'arn:aws:kms:eu-west-1:1:key/k', role: 'arn:aws:iam::1:role/r', context: { app: 'x' }, aws_profile: '' } },
        { type: 'azure_kv', value: { vaultUrl: 'https://v.vault.azure.net', key: 'k', version: '' } },
        { type: 'hc_vault', value: 'https://vault:8200/v1/transit/keys/k' },
        { type: 'age', value: AGE_A },
      ],
      [
        { type: 'pgp', value: 'FP' },
        { type: 'age', value: AGE_B },
        { type: 'gcp_kms', value: { resource_id: 'projects/p' } },
      ],
    ]);
  }));

test('rules: selection rule and mac_only_encrypted; two selection rules → ConflictingParametersError', () =>
  withDir((dir) => {
    const config = loadConfig(writeConfig(dir, `creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n    age: ${AGE_A}\n  - age: ${AGE_A}\n`));
    assert.deepEqual(config.creationRules[0].rule, { kind: 'encrypted_regex', value: '^(data|stringData)$' });
    assert.equal(config.creationRules[0].macOnlyEncrypted, true);
    assert.equal(config.creationRules[1].rule, undefined);
    assert.equal(config.creationRules[1].macOnlyEncrypted, false);
    assert.equal(config.creationRules[1].shamirThreshold, 0);
    assert.throws(
      () => loadConfig(writeConfig(dir, `creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: _u\n    age: ${AGE_A}\n`)),
      ConflictingParametersError,
    );
  }));

test('stores: indents per format', () =>
  withDir((dir) => {
    const config = loadConfig(writeConfig(dir, 'stores:\n  yaml: {indent: 2}\n  json: {indent: 4}\n  json_binary: {indent: 1}\ncreation_rules: []\n'));
    assert.deepEqual(config.stores, { yaml: { indent: 2 }, json: { indent: 4 }, json_binary: { indent: 1 } });
    assert.deepEqual(loadConfig(writeConfig(dir, 'creation_rules: []\n')).stores, {});
    assert.throws(() => loadConfig(writeConfig(dir, 'stores:\n  yaml: {indent: many}\n')), ConfigError);
    assert.throws(() => loadConfig(writeConfig(dir, 'stores:\n  yaml: {indent: -2}\n')), ConfigError);
  }));

test('invalid YAML → ConfigError with a line number', () =>
  withDir((dir) => {
    const cases: [string, number][] = [
      [`creation_rules:\n  - path_regex: a\n    age: [x\n  - b: c\n`, 4],
      [`creation_rules:\n  - path_regex: a\n    age: x\n    age: y\n`, 4],
      [`creation_rules:\n  - path_regex: a\n   bad: x\n`, 3],
    ];
    for (const [text, line] of cases) {
      const file = writeConfig(dir, text);
      assert.throws(() => loadConfig(file), ConfigError);
      try {
        loadConfig(file);
      } catch (error) {
        assert.match((error as Error).message, new RegExp(`(invalid YAML.*|duplicate mapping key) at line ${line}$`), text);
      }
    }
  }));

test('malformed structure → ConfigError', () =>
  withDir((dir) => {
    const bad = [
      '- just a list\n',
      'creation_rules: not-a-list\n',
      'creation_rules:\n  - just a string\n',
      'creation_rules:\n  - key_groups: {age: [x]}\n',
      'creation_rules:\n  - key_groups:\n      - age: x\n',
      'creation_rules:\n  - key_groups:\n      - age: [[x]]\n',
      'creation_rules:\n  - key_groups:\n      - merge: {age: [x]}\n',
      'creation_rules:\n  - age: {a: b}\n',
      'creation_rules:\n  - shamir_threshold: two\n    age: x\n',
    ];
    for (const text of bad) assert.throws(() => loadConfig(writeConfig(dir, text)), ConfigError, text);
    assert.throws(() => loadConfig(path.join(dir, 'missing.yaml')), ConfigError);
  }));
