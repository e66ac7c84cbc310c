// The main job on an embedded default: a throwaway age key, an example Kubernetes Secret
// encrypted, shown as it would be committed, and decrypted again. Nothing outside a
// private temporary directory is touched, and the directory is removed at the end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const wax = join(process.cwd(), 'dist', 'wax.cjs');
const dir = mkdtempSync(join(tmpdir(), 'wax-demo-'));
const env = { ...process.env, SOPS_AGE_KEY_FILE: join(dir, 'keys.txt') };
const run = (...args) => execFileSync(process.execPath, [wax, ...args], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const section = (title) => console.log(`\n\x1b[1m== ${title}\x1b[0m`);

try {
  run('keygen', '-o', env.SOPS_AGE_KEY_FILE);
  const recipient = /public key: (age1\w+)/.exec(readFileSync(env.SOPS_AGE_KEY_FILE, 'utf8'))[1];
  section(`a throwaway age key (public part): ${recipient}`);

  writeFileSync(
    join(dir, '.sops.yaml'),
    `creation_rules:\n  - path_regex: \\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: ${recipient}\n`,
  );
  const secret = `apiVersion: v1
kind: Secret
metadata:
  name: database
  namespace: payments
type: Opaque
stringData:
  # rotated every quarter
  username: app
  password: correct-horse-battery-staple
  port: 5432
`;
  writeFileSync(join(dir, 'secret.yaml'), secret);
  section('secret.yaml, as you write it');
  process.stdout.write(secret);

  run('encrypt', '-i', 'secret.yaml');
  section('wax encrypt -i secret.yaml: what you commit (structure readable, values sealed)');
  process.stdout.write(readFileSync(join(dir, 'secret.yaml'), 'utf8'));

  section('wax decrypt secret.yaml: what CI or the cluster sees');
  process.stdout.write(run('decrypt', 'secret.yaml'));

  section("wax decrypt --extract '[\"stringData\"][\"password\"]' secret.yaml");
  console.log(run('decrypt', '--extract', '["stringData"]["password"]', 'secret.yaml'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
