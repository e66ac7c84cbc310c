/**
 * The in-process data-key cache, measured against the fake KMS: a remote key is unwrapped
 * once and reused within its TTL, asked again after it, never shared across environment
 * objects; age keys, which unwrap locally, are not cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { encryptBytes, openBytes } from '../../src/sops-file.js';
import { resolveRecipient } from '../../src/providers/index.js';
import { ageProvider, generateAgeIdentity } from '../../src/providers/age.js';
import { DataKeyUnavailableError } from '../../src/errors.js';
import { parseFlags } from '../../controller/main.js';
import { startFakeKms, type FakeKms } from '../fakes/aws-kms.js';

function envOf(kms: FakeKms): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(kms.env)) if (v !== undefined) env[k] = v;
  return env;
}

const decrypts = (kms: FakeKms) => kms.calls.filter((c) => c.service === 'kms' && c.operation === 'Decrypt' && c.outcome === 'ok').length;

test('a KMS-wrapped data key is unwrapped once, reused within the TTL, and asked again after it', async () => {
  const kms = await startFakeKms();
  try {
    const env = envOf(kms);
    const recipient = await resolveRecipient({ type: 'kms', value: kms.createKey() }, { env });
    const file = await encryptBytes(Buffer.from('token: abc\n'), { format: 'yaml', keyGroups: [[recipient]] });
    const ctx = { env, dataKeyCacheTtlMs: 400 };
    await openBytes(file, { format: 'yaml', ctx });
    await openBytes(file, { format: 'yaml', ctx });
    assert.equal(decrypts(kms), 1, 'the second open is served from the cache');
    await openBytes(file, { format: 'yaml', ctx: { env: envOf(kms) } });
    assert.equal(decrypts(kms), 2, 'another environment object has its own cache');
    await delay(450);
    await openBytes(file, { format: 'yaml', ctx });
    assert.equal(decrypts(kms), 3, 'after the TTL KMS is asked again');
  } finally {
    await kms.close();
  }
});

test('age keys are not cached: without the identity, a second open fails', async () => {
  const { identity, recipient } = await generateAgeIdentity();
  const file = await encryptBytes(Buffer.from('token: abc\n'), { format: 'yaml', keyGroups: [[ageProvider.parseRecipient(recipient, { env: {} })]] });
  const env: NodeJS.ProcessEnv = { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent', HOME: '/nonexistent' };
  await openBytes(file, { format: 'yaml', ctx: { env } });
  delete env.SOPS_AGE_KEY;
  await assert.rejects(openBytes(file, { format: 'yaml', ctx: { env } }), DataKeyUnavailableError);
});

test('the controller caches data keys for an hour by default, configurable', () => {
  assert.equal(parseFlags([], {}).dataKeyCacheTtlMs, 3_600_000);
  assert.equal(parseFlags(['--data-key-cache-ttl', '5m'], {}).dataKeyCacheTtlMs, 300_000);
});
