import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFromPath, storeFor } from '../../src/document/stores/index.js';
import type { Format } from '../../src/document/stores/types.js';
import { UsageError } from '../../src/errors.js';

test('formatFromPath: by suffix, as sops decides', () => {
  const cases: [string, Format][] = [
    ['secrets.yaml', 'yaml'],
    ['dir.d/secrets.yml', 'yaml'],
    ['config.json', 'json'],
    ['.env', 'dotenv'],
    ['app/prod.env', 'dotenv'],
    ['settings.ini', 'ini'],
    ['notes.txt', 'binary'],
    ['id_rsa', 'binary'],
    ['secrets.yaml.enc', 'binary'],
    ['secrets.env.example', 'binary'],
    // sops compares suffixes case-sensitively.
    ['SECRETS.YAML', 'binary'],
    ['config.Json', 'binary'],
  ];
  for (const [file, format] of cases) assert.equal(formatFromPath(file), format, file);
});

test('storeFor: one store per format', () => {
  for (const format of ['yaml', 'json', 'dotenv', 'ini', 'binary'] as const) assert.equal(storeFor(format).format, format);
});

test('storeFor: an unknown format name is a usage error', () => {
  assert.throws(() => storeFor('toml' as Format), UsageError);
  assert.throws(() => storeFor('toString' as Format), UsageError);
});
