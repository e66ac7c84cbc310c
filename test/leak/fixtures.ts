/**
 * The files the leak harness runs every command on, built once per test run in a
 * template directory and copied for each case: plaintext and encrypted files in every
 * store holding the canaries, a Secret manifest and its EncryptedSecret, broken and
 * tampered variants, a second identity that is the wrong key, and a `.sops.yaml` whose
 * rule adds a recipient (for updatekeys).
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ageKeypair, makeTempDir, runWax, type AgeKeypair } from '../support/cli.js';
import { CANARIES as C } from './canaries.js';

export interface Template {
  dir: string;
  key: AgeKeypair;
  wrongKey: AgeKeypair;
  /** Scripts (editors) kept outside the case directories, so they are not case output. */
  scripts: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

export const PLAIN_YAML = `# database settings
user: admin
password: ${C.password.value}
api:
    token: ${C.token.value}
    nested:
        deep: ${C.nested.value}
items:
    - ${C.listItem.value}
    - plain-item
aws_access_key_id: ${C.awsKeyId.value}
aws_secret_access_key: ${C.awsSecret.value}
`;

export const PLAIN_JSON = `{
  "json": "${C.json.value}",
  "password": "${C.password.value}"
}
`;

export const PLAIN_ENV = `DOTENV=${C.dotenv.value}\nPASSWORD=${C.password.value}\n`;

export const MANIFEST = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
type: Opaque
data:
  data-value: ${b64(C.secretData.value)}
stringData:
  password: ${C.stringData.value}
`;

/** Canaries held by each fixture, for the commands that exist to print a file's values. */
export const HELD = {
  yaml: [C.password, C.token, C.nested, C.listItem, C.awsKeyId, C.awsSecret],
  json: [C.json, C.password],
  env: [C.dotenv, C.password],
  binary: [C.binary],
  manifest: [C.secretData, C.stringData],
};

function wax(dir: string, args: string[], env: Record<string, string> = {}): string {
  const result = runWax(args, { cwd: dir, env: { TMPDIR: join(dir, 'tmp'), ...env } });
  assert.equal(result.code, 0, `fixture step wax ${args[0]} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * Flips one bit in the password's ciphertext: authentication must fail (exit 25). Not the
 * first ENC[] of the file: that is the encrypted comment, which sops (and wax) leave
 * encrypted when it does not decrypt, for files from older sops versions.
 */
function tamper(text: string): string {
  const out = text.replace(/^password: ENC\[AES256_GCM,data:([^,]+),/m, (_, data: string) => {
    const bytes = Buffer.from(data, 'base64');
    bytes[0] ^= 0x01;
    return `password: ENC[AES256_GCM,data:${bytes.toString('base64')},`;
  });
  assert.notEqual(out, text, 'no password value to tamper with');
  return out;
}

export function buildTemplate(): Template {
  const root = makeTempDir('wax-leak-');
  const dir = join(root, 'template');
  const scripts = join(root, 'scripts');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  mkdirSync(scripts);
  mkdirSync(join(root, 'wrong'));
  const key = ageKeypair(dir);
  const wrongKey = ageKeypair(join(root, 'wrong'));
  const env = { SOPS_AGE_KEY_FILE: key.keyFile };
  const age = ['--age', key.recipient];

  for (const [name, text] of [['secret.yaml', PLAIN_YAML], ['secret.json', PLAIN_JSON], ['secrets.env', PLAIN_ENV], ['blob.bin', `${C.binary.value}\n`]]) {
    writeFileSync(join(dir, name), text);
    wax(dir, ['encrypt', '-i', ...age, name], env);
  }
  for (const [name, text] of [['plain.yaml', PLAIN_YAML], ['plain.json', PLAIN_JSON], ['plain.env', PLAIN_ENV], ['plain.bin', `${C.binary.value}\n`], ['manifest.yaml', MANIFEST]]) {
    writeFileSync(join(dir, name), text);
  }
  // Invalid YAML with a canary on the broken line: parsers like to quote it.
  writeFileSync(join(dir, 'broken.yaml'), `password: ${C.password.value}\n  broken: [${C.token.value}\n`);
  writeFileSync(join(dir, 'configmap.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  password: ${C.password.value}\n`);

  const secretYaml = readFileSync(join(dir, 'secret.yaml'), 'utf8');
  writeFileSync(join(dir, 'tampered.yaml'), tamper(secretYaml));
  writeFileSync(join(dir, 'mac.yaml'), secretYaml.replace(/lastmodified: "?([^"\n]+)"?/, 'lastmodified: "2001-01-01T00:00:00Z"'));
  assert.notEqual(readFileSync(join(dir, 'mac.yaml'), 'utf8'), secretYaml, 'mac.yaml was not changed');

  wax(dir, ['seal', ...age, '--output', 'es.yaml', 'manifest.yaml'], env);
  const moved = parseYaml(readFileSync(join(dir, 'es.yaml'), 'utf8'));
  moved.metadata.namespace = 'elsewhere';
  writeFileSync(join(dir, 'es-moved.yaml'), stringifyYaml(moved));

  // updatekeys: encrypted for the workspace key, and a rule that adds the second recipient.
  mkdirSync(join(dir, 'upd'));
  writeFileSync(join(dir, 'upd', '.sops.yaml'), `creation_rules:\n  - age: ${key.recipient},${wrongKey.recipient}\n`);
  writeFileSync(join(dir, 'upd', 'secret.yaml'), PLAIN_YAML);
  wax(dir, ['encrypt', '-i', ...age, join('upd', 'secret.yaml')], env);

  writeFileSync(join(scripts, 'broken.yaml'), readFileSync(join(dir, 'broken.yaml')));
  return { dir, key, wrongKey, scripts };
}

/** A fresh copy of the template for one case, with its own empty TMPDIR. */
export function caseDirectory(template: Template, name: string): { dir: string; tmp: string } {
  const dir = join(template.dir, '..', name);
  cpSync(template.dir, dir, { recursive: true, preserveTimestamps: true });
  const tmp = join(dir, 'tmp');
  chmodSync(tmp, 0o700);
  return { dir, tmp };
}

/** An executable script in the scripts directory. */
export function script(template: Template, name: string, body: string): string {
  const path = join(template.scripts, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
