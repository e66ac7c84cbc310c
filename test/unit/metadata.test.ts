import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  lastModifiedAad,
  looksEncrypted,
  nowRfc3339,
  parseMetadata,
  parseRfc3339,
  serializeMetadata,
  SOPS_VERSION,
  type Metadata,
} from '../../src/document/metadata.js';
import { ConflictingParametersError, MetadataError } from '../../src/errors.js';

const AGE1 = 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29';
const AGE2 = 'age1pnmp2nq5qx9z4lpmachyn2ld07xjumn98hpeq77e4glddu96zvms9nn7c8';
const ENC_AGE = '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n';
const MAC = 'ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]';

/** Recursively lists the keys of plain data in their insertion order. */
function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (value !== null && typeof value === 'object') return Object.entries(value).map(([k, v]) => [k, keyOrder(v)]);
  return null;
}

test('parse: sops 3.9 layout (struct order, empty lists written out)', () => {
  const meta = parseMetadata({
    kms: [],
    gcp_kms: [],
    azure_kv: [],
    hc_vault: [],
    age: [{ recipient: AGE1, enc: ENC_AGE }],
    lastmodified: '2024-11-12T13:33:42Z',
    mac: MAC,
    pgp: [],
    encrypted_regex: '^(data|stringData)$',
    version: '3.9.0',
  });
  assert.deepEqual(meta.keyGroups, [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }]]);
  assert.equal(meta.shamirThreshold, 0);
  assert.equal(meta.lastModified, '2024-11-12T13:33:42Z');
  assert.equal(meta.mac, MAC);
  assert.deepEqual(meta.rule, { kind: 'encrypted_regex', value: '^(data|stringData)$' });
  assert.equal(meta.ruleExplicit, true);
  assert.equal(meta.macOnlyEncrypted, false);
  assert.equal(meta.version, '3.9.0');
  assert.deepEqual(meta.unknown, {});
});

test('parse: sops 3.10–3.12 layout (empty lists omitted) and 3.13 (sorted) read the same', () => {
  const v310 = parseMetadata({
    age: [{ recipient: AGE1, enc: ENC_AGE }],
    lastmodified: '2025-01-01T00:00:00Z',
    mac: MAC,
    unencrypted_suffix: '_unencrypted',
    version: '3.10.2',
  });
  const v313 = parseMetadata({
    age: [{ enc: ENC_AGE, recipient: AGE1 }],
    lastmodified: '2025-01-01T00:00:00Z',
    mac: MAC,
    unencrypted_suffix: '_unencrypted',
    version: '3.10.2',
  });
  assert.deepEqual(v310, v313);
  assert.deepEqual(v310.rule, { kind: 'unencrypted_suffix', value: '_unencrypted' });
  assert.equal(v310.ruleExplicit, true);
});

test('parse: 3.13 mac_only_encrypted with encrypted_suffix', () => {
  const meta = parseMetadata({
    age: [{ enc: ENC_AGE, recipient: AGE2 }],
    encrypted_suffix: 'Templates',
    lastmodified: '2026-06-20T08:09:02Z',
    mac: MAC,
    mac_only_encrypted: true,
    version: '3.13.1',
  });
  assert.equal(meta.macOnlyEncrypted, true);
  assert.deepEqual(meta.rule, { kind: 'encrypted_suffix', value: 'Templates' });
});

test('parse: no rule named → the _unencrypted default, not explicit', () => {
  const meta = parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-01-01T00:00:00Z', mac: MAC, version: '3.7.3' });
  assert.deepEqual(meta.rule, { kind: 'unencrypted_suffix', value: '_unencrypted' });
  assert.equal(meta.ruleExplicit, false);
});

test('parse: dotenv/INI metadata arrives as strings and is weakly typed', () => {
  const meta = parseMetadata({
    key_groups: [{ age: [{ recipient: AGE1, enc: ENC_AGE }] }, { age: [{ recipient: AGE2, enc: ENC_AGE }] }],
    shamir_threshold: '2',
    mac_only_encrypted: 'true',
    lastmodified: '2024-11-12T13:33:42Z',
    mac: MAC,
    version: '3.9.0',
  });
  assert.equal(meta.shamirThreshold, 2);
  assert.equal(meta.macOnlyEncrypted, true);
  assert.equal(meta.keyGroups.length, 2);
  assert.equal(parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-11-12T13:33:42Z', mac_only_encrypted: 'false' }).macOnlyEncrypted, false);
  assert.equal(parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-11-12T13:33:42Z', shamir_threshold: 3n }).shamirThreshold, 3);
  assert.throws(() => parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-11-12T13:33:42Z', shamir_threshold: 'two' }), MetadataError);
  assert.throws(() => parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-11-12T13:33:42Z', shamir_threshold: -1 }), MetadataError);
});

test('parse: key_groups with shamir_threshold, every key type kept in group order', () => {
  const kms = { arn: 'arn:aws:kms:eu-west-1:111122223333:key/abc', aws_profile: '', created_at: '2026-01-01T00:00:00Z', enc: 'AQICAH', context: { app: 'x' } };
  const meta = parseMetadata({
    key_groups: [
      { age: [{ recipient: AGE1, enc: ENC_AGE }], hc_vault: [] },
      { age: [], hc_vault: [], kms: [kms], pgp: [{ fp: 'FBC7', created_at: '2026-01-01T00:00:00Z', enc: 'x' }] },
    ],
    shamir_threshold: 2,
    lastmodified: '2026-01-01T00:00:00Z',
    mac: MAC,
    version: '3.13.2',
  });
  assert.equal(meta.shamirThreshold, 2);
  assert.deepEqual(meta.keyGroups[0], [{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }]);
  assert.deepEqual(
    meta.keyGroups[1].map((e) => e.type),
    ['pgp', 'kms'],
  );
  assert.deepEqual(meta.keyGroups[1][1].fields, kms);
});

test('parse: flat key lists win over key_groups', () => {
  const meta = parseMetadata({
    age: [{ recipient: AGE1, enc: ENC_AGE }],
    key_groups: [{ age: [{ recipient: AGE2, enc: ENC_AGE }] }, { age: [{ recipient: AGE2, enc: ENC_AGE }] }],
    lastmodified: '2024-01-01T00:00:00Z',
    mac: MAC,
  });
  assert.deepEqual(meta.keyGroups, [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }]]);
});

test('parse: unknown top-level fields are kept', () => {
  const meta = parseMetadata({
    age: [{ recipient: AGE1, enc: ENC_AGE }],
    lastmodified: '2024-01-01T00:00:00Z',
    mac: MAC,
    attention: 'This section contains key material that should only be modified with extra care.',
    future_field: { nested: [1] },
  });
  assert.deepEqual(meta.unknown, {
    attention: 'This section contains key material that should only be modified with extra care.',
    future_field: { nested: [1] },
  });
});

test('parse: a missing mac reads as "" and a missing version as ""', () => {
  const meta = parseMetadata({ age: [{ recipient: AGE1, enc: ENC_AGE }], lastmodified: '2024-01-01T00:00:00Z' });
  assert.equal(meta.mac, '');
  assert.equal(meta.version, '');
});

test('parse: must-fail cases → MetadataError', () => {
  const age = [{ recipient: AGE1, enc: ENC_AGE }];
  const bad: Record<string, unknown>[] = [
    { age, mac: MAC }, // no lastmodified
    { age, lastmodified: null },
    { age, lastmodified: 'yesterday' },
    { age, lastmodified: '2024-01-01 00:00:00' },
    { age, lastmodified: '2024-02-30T00:00:00Z' }, // no such day: Go's time.Parse refuses it
    { age, lastmodified: '2024-01-01T24:00:00Z' },
    { lastmodified: '2024-01-01T00:00:00Z', mac: MAC }, // no keys
    { age: [], kms: [], pgp: [], lastmodified: '2024-01-01T00:00:00Z' },
    { key_groups: [], lastmodified: '2024-01-01T00:00:00Z' },
    { key_groups: [{ age: [] }, { age: [] }], lastmodified: '2024-01-01T00:00:00Z' },
    { key_groups: 'age1', lastmodified: '2024-01-01T00:00:00Z' },
    { key_groups: [null], lastmodified: '2024-01-01T00:00:00Z' },
    { age: AGE1, lastmodified: '2024-01-01T00:00:00Z' }, // not a list
    { age: ['not a mapping'], lastmodified: '2024-01-01T00:00:00Z' },
    { pgp: [{ fp: 'X', enc: 'x', created_at: 'last tuesday' }], lastmodified: '2024-01-01T00:00:00Z' },
    { kms: [{ arn: 'a', enc: 'x', created_at: '2024-13-01T00:00:00Z' }], lastmodified: '2024-01-01T00:00:00Z' },
  ];
  for (const raw of bad) assert.throws(() => parseMetadata(raw), MetadataError, JSON.stringify(raw).slice(0, 120));
  assert.throws(() => parseMetadata([] as unknown as Record<string, unknown>), MetadataError);
  assert.throws(() => parseMetadata(null as unknown as Record<string, unknown>), MetadataError);
});

test('parse: two selection rules → ConflictingParametersError', () => {
  assert.throws(
    () =>
      parseMetadata({
        age: [{ recipient: AGE1, enc: ENC_AGE }],
        lastmodified: '2024-01-01T00:00:00Z',
        encrypted_regex: '^data$',
        unencrypted_suffix: '_unencrypted',
      }),
    ConflictingParametersError,
  );
});

function baseMeta(overrides: Partial<Metadata> = {}): Metadata {
  return {
    keyGroups: [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }]],
    shamirThreshold: 0,
    lastModified: '2026-01-01T00:00:00Z',
    mac: MAC,
    rule: { kind: 'unencrypted_suffix', value: '_unencrypted' },
    ruleExplicit: true,
    macOnlyEncrypted: false,
    version: '3.13.2',
    unknown: {},
    ...overrides,
  };
}

test('serialize: 3.13 layout, keys sorted alphabetically at every level', () => {
  const kms = { role: 'arn:aws:iam::1:role/r', enc: 'AQ', created_at: '2026-01-01T00:00:00Z', context: { zeta: '1', alpha: '2' }, aws_profile: '', arn: 'arn:aws:kms:eu-west-1:1:key/k' };
  const out = serializeMetadata(
    baseMeta({
      keyGroups: [[{ type: 'kms', fields: kms }, { type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }]],
      rule: { kind: 'encrypted_suffix', value: 'Templates' },
      macOnlyEncrypted: true,
    }),
  );
  assert.deepEqual(keyOrder(out), [
    ['age', [[['enc', null], ['recipient', null]]]],
    ['encrypted_suffix', null],
    [
      'kms',
      [
        [
          ['arn', null],
          ['aws_profile', null],
          ['context', [['alpha', null], ['zeta', null]]],
          ['created_at', null],
          ['enc', null],
          ['role', null],
        ],
      ],
    ],
    ['lastmodified', null],
    ['mac', null],
    ['mac_only_encrypted', null],
    ['version', null],
  ]);
  assert.equal(out.mac_only_encrypted, true);
  assert.equal(out.encrypted_suffix, 'Templates');
});

test('serialize: one group → flat lists, no key_groups, no shamir_threshold, empty lists omitted', () => {
  const out = serializeMetadata(baseMeta({ shamirThreshold: 2 }));
  assert.deepEqual(Object.keys(out), ['age', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);
  assert.deepEqual(out.age, [{ enc: ENC_AGE, recipient: AGE1 }]);
});

test('serialize: ≥2 groups → key_groups with age and hc_vault always present, shamir_threshold only then', () => {
  const kms = { arn: 'arn:aws:kms:eu-west-1:1:key/k', aws_profile: '', created_at: '2026-01-01T00:00:00Z', enc: 'AQ' };
  const out = serializeMetadata(
    baseMeta({
      keyGroups: [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }], [{ type: 'kms', fields: kms }]],
      shamirThreshold: 2,
    }),
  );
  assert.deepEqual(Object.keys(out), ['key_groups', 'lastmodified', 'mac', 'shamir_threshold', 'unencrypted_suffix', 'version']);
  assert.equal(out.age, undefined);
  assert.deepEqual(out.key_groups, [
    { age: [{ enc: ENC_AGE, recipient: AGE1 }], hc_vault: [] },
    { age: [], hc_vault: [], kms: [kms] },
  ]);
  assert.equal(out.shamir_threshold, 2);
  const noThreshold = serializeMetadata(baseMeta({ keyGroups: [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }], [{ type: 'kms', fields: kms }]] }));
  assert.equal('shamir_threshold' in noThreshold, false);
});

test('serialize: mac_only_encrypted only when true, the rule only when explicit', () => {
  const out = serializeMetadata(baseMeta({ ruleExplicit: false, macOnlyEncrypted: false }));
  assert.equal('mac_only_encrypted' in out, false);
  assert.equal('unencrypted_suffix' in out, false);
  assert.deepEqual(Object.keys(out), ['age', 'lastmodified', 'mac', 'version']);
});

test('serialize: version defaults to the release wax writes; unknown fields are kept', () => {
  const out = serializeMetadata(baseMeta({ version: '', unknown: { attention: 'careful', zz: { b: 1, a: 2 } } }));
  assert.equal(out.version, SOPS_VERSION);
  assert.equal(out.attention, 'careful');
  assert.deepEqual(Object.keys(out.zz as object), ['a', 'b']);
  assert.deepEqual(Object.keys(out), ['age', 'attention', 'lastmodified', 'mac', 'unencrypted_suffix', 'version', 'zz']);
});

test('serialize then parse gives the same metadata', () => {
  const meta = baseMeta({
    keyGroups: [[{ type: 'age', fields: { recipient: AGE1, enc: ENC_AGE } }], [{ type: 'age', fields: { recipient: AGE2, enc: ENC_AGE } }]],
    shamirThreshold: 2,
    macOnlyEncrypted: true,
    rule: { kind: 'encrypted_regex', value: '^data$' },
    unknown: { attention: 'x' },
  });
  assert.deepEqual(parseMetadata(serializeMetadata(meta)), meta);
});

test('lastModifiedAad: Go RFC3339 re-formatting', () => {
  assert.equal(lastModifiedAad('2024-01-02T03:04:05Z'), '2024-01-02T03:04:05Z');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05.123456Z'), '2024-01-02T03:04:05Z');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05+05:30'), '2024-01-02T03:04:05+05:30');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05.9-07:00'), '2024-01-02T03:04:05-07:00');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05z'), '2024-01-02T03:04:05Z');
  assert.equal(lastModifiedAad('2024-01-02t03:04:05Z'), '2024-01-02T03:04:05Z');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05+00:00'), '2024-01-02T03:04:05Z');
  assert.equal(lastModifiedAad('2024-01-02T03:04:05-00:00'), '2024-01-02T03:04:05Z');
});

test('parseRfc3339: epoch milliseconds, offsets applied, out-of-range fields refused', () => {
  assert.equal(parseRfc3339('2024-01-02T03:04:05Z'), Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(parseRfc3339('2024-01-02T03:04:05+01:00'), Date.UTC(2024, 0, 2, 2, 4, 5));
  assert.equal(parseRfc3339('2024-01-02T03:04:05.999-00:30'), Date.UTC(2024, 0, 2, 3, 34, 5));
  assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
  for (const bad of ['2023-02-29T00:00:00Z', '2024-00-01T00:00:00Z', '2024-01-32T00:00:00Z', '2024-01-01T23:60:00Z', '2024-01-01T23:00:60Z', '2024-01-01T00:00:00', '2024-01-01', '2024-01-01T00:00:00+0100']) {
    assert.equal(parseRfc3339(bad), undefined, bad);
  }
});

test('nowRfc3339: UTC, second precision', () => {
  assert.equal(nowRfc3339(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))), '2024-01-02T03:04:05Z');
  assert.match(nowRfc3339(), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
});

test('looksEncrypted: needs a version and a non-empty mac', () => {
  assert.equal(looksEncrypted({ version: '3.9.0', mac: MAC }), true);
  assert.equal(looksEncrypted({ version: '3.9.0', mac: '' }), false);
  assert.equal(looksEncrypted({ mac: MAC }), false);
  assert.equal(looksEncrypted({ version: '3.9.0' }), false);
  assert.equal(looksEncrypted(undefined), false);
});
