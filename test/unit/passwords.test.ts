import { describe, expect, it } from 'vitest';
import {
  defaultScryptParams,
  dummyPasswordHash,
  hashPassword,
  parsePasswordHash,
  verifyPassword,
  type ScryptParams,
} from '../../functions/core/auth/passwords.js';

// Cheap parameters for most cases: the stored hash carries them, so verification uses them too.
const fast: ScryptParams = { N: 2 ** 10, r: 8, p: 1, keyLength: 32 };
const b64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64url');

describe('hashPassword', () => {
  it('stores scrypt$N$r$p$salt$hash with the default parameters (N=2^15, r=8, p=1, 32-byte key)', async () => {
    // Act
    const stored = await hashPassword('correct horse battery staple');

    // Assess
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    const parts = stored.split('$');
    expect(parts).toHaveLength(6);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[5]!, 'base64url')).toHaveLength(defaultScryptParams.keyLength);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
  });

  it('records the parameters it was given', async () => {
    const stored = await hashPassword('pw', { N: 2 ** 11, r: 4, p: 2, keyLength: 24 });
    expect(stored.split('$').slice(0, 4)).toEqual(['scrypt', '2048', '4', '2']);
    expect(parsePasswordHash(stored)?.params).toEqual({ N: 2048, r: 4, p: 2, keyLength: 24 });
  });

  it('uses a fresh salt each time: the same password hashes differently', async () => {
    const [a, b] = await Promise.all([hashPassword('same password', fast), hashPassword('same password', fast)]);
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same password', b)).toBe(true);
  });
});

describe('verifyPassword', () => {
  it('is true for the right password and false for any other', async () => {
    const stored = await hashPassword('s3cret-Pass', fast);
    expect(await verifyPassword('s3cret-Pass', stored)).toBe(true);
    expect(await verifyPassword('s3cret-pass', stored)).toBe(false);
    expect(await verifyPassword('s3cret-Pass ', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('normalizes to NFKC, so composed and decomposed forms of a password match', async () => {
    const stored = await hashPassword('caf\u00e9', fast);
    expect(await verifyPassword('cafe\u0301', stored)).toBe(true);
  });

  it('is false when the stored key was altered', async () => {
    const stored = await hashPassword('pw', fast);
    const parts = stored.split('$');
    const key = Buffer.from(parts[5]!, 'base64url');
    key[0] = key[0]! ^ 0xff;
    parts[5] = key.toString('base64url');
    expect(await verifyPassword('pw', parts.join('$'))).toBe(false);
  });

  it.each([
    ['an empty string', ''],
    ['a bcrypt hash', '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234'],
    ['another scheme name', `pbkdf2$1024$8$1$${b64(16)}$${b64(32)}`],
    ['too few parts', `scrypt$1024$8$1$${b64(16)}`],
    ['too many parts', `scrypt$1024$8$1$${b64(16)}$${b64(32)}$x`],
    ['a non-numeric N', `scrypt$abc$8$1$${b64(16)}$${b64(32)}`],
    ['N of 0', `scrypt$0$8$1$${b64(16)}$${b64(32)}`],
    ['a negative r', `scrypt$1024$-8$1$${b64(16)}$${b64(32)}`],
    ['a fractional p', `scrypt$1024$8$1.5$${b64(16)}$${b64(32)}`],
    ['a salt shorter than 8 bytes', `scrypt$1024$8$1$${b64(4)}$${b64(32)}`],
    ['a key shorter than 16 bytes', `scrypt$1024$8$1$${b64(16)}$${b64(8)}`],
    ['an empty salt and key', 'scrypt$1024$8$1$$'],
    ['N not a power of two', `scrypt$1000$8$1$${b64(16)}$${b64(32)}`],
    ['N of 1', `scrypt$1$8$1$${b64(16)}$${b64(32)}`],
    ['r * p of 2^30 or more', `scrypt$1024$8$134217728$${b64(16)}$${b64(32)}`],
  ])('is false (does not throw) for a malformed hash: %s', async (_case, stored) => {
    await expect(verifyPassword('pw', stored)).resolves.toBe(false);
  });
});

describe('parsePasswordHash', () => {
  it('reads the parameters, salt and key back', async () => {
    const stored = await hashPassword('pw', fast);
    const parsed = parsePasswordHash(stored);
    expect(parsed?.params).toEqual(fast);
    expect(parsed?.salt).toHaveLength(16);
    expect(parsed?.key).toHaveLength(32);
  });
});

describe('dummyPasswordHash', () => {
  it('is one well-formed hash per process that no guess verifies against', async () => {
    const [a, b] = await Promise.all([dummyPasswordHash(), dummyPasswordHash()]);
    expect(a).toBe(b);
    expect(parsePasswordHash(a)?.params).toEqual(defaultScryptParams);
    expect(await verifyPassword('admin', a)).toBe(false);
  });
});
