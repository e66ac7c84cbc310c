/** The in-process data-key cache: reused within its TTL, forgotten after it, per environment. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { encryptBytes, openBytes } from '../../src/sops-file.js';
import { ageProvider, generateAgeIdentity } from '../../src/providers/age.js';
import { DataKeyUnavailableError } from '../../src/errors.js';
import { parseFlags } from '../../controller/main.js';

async function sealed() {
  const { identity, recipient } = await generateAgeIdentity();
  const file = await encryptBytes(Buffer.from('token: abc\n'), { format: 'yaml', keyGroups: [[ageProvider.parseRecipient(recipient, { env: {} })]] });
  return { identity, file };
}

test('a cached data key is reused within the TTL and forgotten after it', async () => {
  const { identity, file } = await sealed();
  const env: NodeJS.ProcessEnv = { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent', HOME: '/nonexistent' };
  const ctx = { env, dataKeyCacheTtlMs: 300 };
  await openBytes(file, { format: 'yaml', ctx });
  // Without identities, only the cache can answer.
  delete env.SOPS_AGE_KEY;
  const again = await openBytes(file, { format: 'yaml', ctx });
  assert.equal(again.dataKey.length, 32);
  await delay(350);
  await assert.rejects(openBytes(file, { format: 'yaml', ctx }), DataKeyUnavailableError);
});

test('another environment object never sees a cached key', async () => {
  const { identity, file } = await sealed();
  await openBytes(file, { format: 'yaml', ctx: { env: { SOPS_AGE_KEY: identity, XDG_CONFIG_HOME: '/nonexistent' } } });
  await assert.rejects(openBytes(file, { format: 'yaml', ctx: { env: { XDG_CONFIG_HOME: '/nonexistent', HOME: '/nonexistent' } } }), DataKeyUnavailableError);
});

test('the controller caches data keys for an hour by default, configurable', () => {
  assert.equal(parseFlags([], {}).dataKeyCacheTtlMs, 3_600_000);
  assert.equal(parseFlags(['--data-key-cache-ttl', '5m'], {}).dataKeyCacheTtlMs, 300_000);
});
