/**
 * `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`: one value encrypted with the data key,
 * a 32-byte random nonce and the key path as associated data (sops-format.md §3).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MalformedValueError, ValueAuthenticationError } from '../errors.js';
import { Comment, type TreeValue } from '../document/tree.js';
import { bytesToStr, parseScalar, scalarToBytes, typeOf } from './scalars.js';

const NONCE_SIZE = 32;
const TAG_SIZE = 16;
const PREFIX = 'ENC[AES256_GCM,';

export interface EncryptedParts {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: string;
}

export function isEncryptedValue(text: unknown): text is string {
  return typeof text === 'string' && text.startsWith(PREFIX);
}

/** Splits an `ENC[...]` string on its literal markers; base64 cannot contain `,` or `]`. */
export function parseEncryptedValue(text: string, pathForErrors: string): EncryptedParts {
  const fail = (reason: string) => new MalformedValueError(pathForErrors, reason);
  if (!text.startsWith(PREFIX)) throw fail('does not start with ENC[AES256_GCM,');
  const end = text.indexOf(']');
  if (end < 0) throw fail('missing closing ]');
  const fields = text.slice(PREFIX.length, end).split(',');
  const map = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon < 0) throw fail('field without a name');
    map.set(field.slice(0, colon), field.slice(colon + 1));
  }
  const data = map.get('data');
  const iv = map.get('iv');
  const tag = map.get('tag');
  const type = map.get('type');
  if (data === undefined || iv === undefined || tag === undefined || type === undefined) throw fail('missing data, iv, tag or type');
  const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
  if (!base64.test(data) || !base64.test(iv) || !base64.test(tag)) throw fail('invalid base64');
  const parts = { data: Buffer.from(data, 'base64'), iv: Buffer.from(iv, 'base64'), tag: Buffer.from(tag, 'base64'), type };
  if (parts.iv.length === 0) throw fail('empty iv');
  if (parts.tag.length !== TAG_SIZE) throw fail('tag is not 16 bytes');
  return parts;
}

function formatEncryptedValue(ciphertext: Buffer, iv: Buffer, tag: Buffer, type: string): string {
  return `ENC[AES256_GCM,data:${ciphertext.toString('base64')},iv:${iv.toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
}

/** True for the values sops never encrypts: "", empty bytes and empty comments. */
export function isEmptyValue(value: TreeValue): boolean {
  return value === '' || (value instanceof Uint8Array && value.length === 0) || (value instanceof Comment && value.value === '');
}

/**
 * Encrypts and decrypts values under one data key. Like sops' cipher it remembers the
 * nonce of every value it decrypted (the "stash"), so re-encrypting an unchanged value
 * at the same path yields the identical string and a one-value edit is a one-line diff.
 * Reusing the nonce is safe only because key, nonce, plaintext and AAD are all equal.
 */
export class ValueCipher {
  private readonly stash = new Map<string, Buffer>();

  constructor(private readonly dataKey: Uint8Array) {
    if (dataKey.length !== 32) throw new RangeError('data key must be 32 bytes');
  }

  encrypt(value: TreeValue, aad: string): string {
    if (isEmptyValue(value)) return '';
    const type = typeOf(value);
    const plaintext = scalarToBytes(value);
    const iv = this.stash.get(stashKey(aad, type, plaintext)) ?? randomBytes(NONCE_SIZE);
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return formatEncryptedValue(ciphertext, iv, cipher.getAuthTag(), type);
  }

  /** Decrypts an `ENC[...]` string; "" stays "". Throws typed integrity errors. */
  decrypt(text: string, aad: string, pathForErrors: string): TreeValue {
    if (text === '') return '';
    const parts = parseEncryptedValue(text, pathForErrors);
    const plaintext = this.open(parts, aad, pathForErrors);
    const value = parts.type === 'str' || parts.type === 'bytes' ? bytesToStr(plaintext) : parseScalar(plaintext.toString('utf8'), parts.type);
    if (value === undefined) throw new MalformedValueError(pathForErrors, `cannot read a value of type ${JSON.stringify(parts.type)}`);
    this.stash.set(stashKey(aad, parts.type, plaintext), parts.iv);
    return value;
  }

  private open(parts: EncryptedParts, aad: string, pathForErrors: string): Buffer {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.dataKey, parts.iv, { authTagLength: TAG_SIZE });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(parts.tag);
      return Buffer.concat([decipher.update(parts.data), decipher.final()]);
    } catch {
      throw new ValueAuthenticationError(pathForErrors);
    }
  }
}

function stashKey(aad: string, type: string, plaintext: Buffer): string {
  return `${aad}\u0000${type}\u0000${plaintext.toString('base64')}`;
}
