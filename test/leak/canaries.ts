/**
 * Known secret values ("canaries") for the leak checks, and the search for them in any
 * text or bytes: the value itself, its base64 (Kubernetes Secret data), and its core (the
 * value without its first and last four characters), so that a value printed in part
 * (masked too little, cut by a line break, quoted in a parser message) is found too.
 *
 * A finding names the canary, never its value: the test output must not leak either.
 */
export interface Canary {
  name: string;
  value: string;
}

const AWS_SECRET = 'wAxLeAkCaNaRy/SeCrEt+KeY0123456789abcdEF';

export const CANARIES = {
  password: { name: 'password', value: 'wax-leak-canary-pw-3f9c1a7e' },
  token: { name: 'token', value: 'wax-leak-canary-token-8d2e7b55' },
  nested: { name: 'nested', value: 'wax-leak-canary-nested-c40f1d92' },
  listItem: { name: 'list item', value: 'wax-leak-canary-item-6a0b3e18' },
  dotenv: { name: 'dotenv value', value: 'wax-leak-canary-env-2b7f90c4' },
  json: { name: 'json value', value: 'wax-leak-canary-json-e15d6a03' },
  binary: { name: 'binary content', value: 'wax-leak-canary-binary-94c2e7f1' },
  awsKeyId: { name: 'AWS access key id', value: 'AKIAWAXLEAKCANARY27Q' },
  awsSecret: { name: 'AWS secret key', value: AWS_SECRET },
  stringData: { name: 'Secret stringData', value: 'wax-leak-canary-stringdata-7e3a0c55' },
  secretData: { name: 'Secret data', value: 'wax-leak-canary-data-1f8b4d26' },
} satisfies Record<string, Canary>;

export const ALL_CANARIES: Canary[] = Object.values(CANARIES);

/** The forms a value is searched in. */
function needles(canary: Canary): { form: string; text: string }[] {
  const forms = [
    { form: 'plain', text: canary.value },
    { form: 'base64', text: Buffer.from(canary.value).toString('base64') },
  ];
  if (canary.value.length >= 20) forms.push({ form: 'part', text: canary.value.slice(4, -4) });
  return forms;
}

/** `name (form)` for every canary found in `haystack`. */
export function findCanaries(haystack: string | Buffer, canaries: Canary[]): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  const found: string[] = [];
  for (const canary of canaries) {
    for (const needle of needles(canary)) {
      if (text.includes(needle.text)) {
        found.push(`${canary.name} (${needle.form})`);
        break;
      }
    }
  }
  return found;
}

/** The workspace's private age key, as a canary: no command may print it. */
export function identityCanary(keyFileText: string): Canary {
  const identity = /^AGE-SECRET-KEY-1[0-9A-Z]+$/m.exec(keyFileText)?.[0];
  if (!identity) throw new Error('no AGE-SECRET-KEY line in the key file');
  return { name: 'age identity', value: identity };
}
