import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `tw_<keyId>_<secret>`. The key id is 12 base32 characters (60 random bits), public and
 * the primary key of the record; the secret is 32 random bytes in base64url (43 characters). Only the
 * SHA-256 of the whole key is stored: a fast hash is right here because the secret has 256 bits of
 * entropy (no dictionary to try), unlike a password.
 */
export const apiKeyPattern = /^tw_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;

const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function newKeyId(random: (n: number) => Buffer = randomBytes): string {
  const bytes = random(12);
  let id = '';
  for (let i = 0; i < 12; i++) id += base32[bytes[i]! & 31];
  return id;
}

export function newApiKey(keyId: string, random: (n: number) => Buffer = randomBytes): string {
  return `tw_${keyId}_${random(32).toString('base64url')}`;
}

export function parseApiKey(key: string): { keyId: string } | undefined {
  const m = apiKeyPattern.exec(key);
  return m ? { keyId: m[1]! } : undefined;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented key's hash with a stored one. */
export function keyHashMatches(presentedHash: string, storedHash: string | undefined): boolean {
  if (!storedHash || storedHash.length !== presentedHash.length || !/^[0-9a-f]*$/i.test(storedHash + presentedHash)) return false;
  return timingSafeEqual(Buffer.from(presentedHash, 'hex'), Buffer.from(storedHash, 'hex'));
}
