import { describe, expect, it } from 'vitest';
import { apiKeyPattern, hashApiKey, keyHashMatches, newApiKey, newKeyId, parseApiKey } from '../../functions/core/auth/api-keys.js';

/**
 * Golden vectors for the API-key format and hash. The expected values were computed once, independently of
 * the code under test, with node:crypto (`createHash('sha256').update(key, 'utf8').digest('hex')`) and by
 * hand from the base32 alphabet `a-z2-7`; they are hard-coded so that a change of format or hash shows up.
 */

/** Bytes (i * 37 + 5) & 255 for the id, (i * 53 + 7) & 255 for the secret: deterministic "randomness". */
function fixedRandom(multiplier: number, offset: number): (n: number) => Buffer {
  return (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * multiplier + offset) & 255));
}

// The key newKeyId/newApiKey build from the fixed bytes below; its secret contains an `_`, which must not confuse parsing.
const goldenKeyId = 'fkpuz6dinsx4';
const goldenSecret = 'BzxxptsQRXqv5BlOg7jtIleMwfYrYJXK_zRpntMIPXI';
const goldenKey = `tw_${goldenKeyId}_${goldenSecret}`;
const goldenHash = '68bad9b87fc672db888aa5bb473b353402d36797eb91cf84a340eeec80543f96';
const simpleKey = `tw_abcdefghijkl_${'a'.repeat(43)}`;
const simpleHash = '47d7a33944d59b7544bce451e18ebcd62889eef6930a67313a9459086aa496ff';

describe('hashApiKey (golden vectors)', () => {
  it.each([
    [goldenKey, goldenHash],
    [simpleKey, simpleHash],
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ])('sha256(%j) is fixed', (key, hex) => {
    expect(hashApiKey(key)).toBe(hex);
  });

  it('is 64 lower-case hex characters and differs for a one-character change', () => {
    const other = `${goldenKey.slice(0, -1)}Y`;
    expect(hashApiKey(goldenKey)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(other)).not.toBe(goldenHash);
  });
});

describe('newKeyId / newApiKey with a deterministic random source', () => {
  it('newKeyId maps 12 bytes to 12 base32 characters (low 5 bits of each byte)', () => {
    expect(newKeyId(fixedRandom(37, 5))).toBe(goldenKeyId);
    expect(newKeyId(() => Buffer.alloc(12, 0))).toBe('aaaaaaaaaaaa');
    expect(newKeyId(() => Buffer.alloc(12, 0xff))).toBe('777777777777');
  });

  it('newKeyId asks for exactly 12 bytes, newApiKey for exactly 32', () => {
    const asked: number[] = [];
    const spy = (n: number) => {
      asked.push(n);
      return Buffer.alloc(n, 1);
    };
    newApiKey(newKeyId(spy), spy);
    expect(asked).toEqual([12, 32]);
  });

  it('newApiKey is tw_<id>_<32 bytes base64url>, a fixed string for fixed bytes', () => {
    const key = newApiKey(goldenKeyId, fixedRandom(53, 7));
    expect(key).toBe(goldenKey);
    expect(key).toMatch(apiKeyPattern);
    expect(hashApiKey(key)).toBe(goldenHash);
  });

  it('the real random source gives well-formed, distinct keys', () => {
    const keys = new Set(Array.from({ length: 50 }, () => newApiKey(newKeyId())));
    expect(keys.size).toBe(50);
    for (const key of keys) expect(parseApiKey(key)).toBeDefined();
  });
});

describe('parseApiKey', () => {
  it('accepts exactly the format and returns the id', () => {
    expect(parseApiKey(goldenKey)).toEqual({ keyId: goldenKeyId });
    expect(parseApiKey(simpleKey)).toEqual({ keyId: 'abcdefghijkl' });
    expect(parseApiKey(`tw_234567234567_${'-'.repeat(43)}`)).toEqual({ keyId: '234567234567' });
  });

  const id = 'abcdefghijkl';
  const secret = 'a'.repeat(43);
  it.each([
    ['empty', ''],
    ['wrong prefix tk_', `tk_${id}_${secret}`],
    ['upper-case prefix TW_', `TW_${id}_${secret}`],
    ['no prefix', `${id}_${secret}`],
    ['11 id characters', `tw_${id.slice(1)}_${secret}`],
    ['13 id characters', `tw_${id}m_${secret}`],
    ['upper-case id', `tw_ABCDEFGHIJKL_${secret}`],
    ['id with a base32-illegal digit 1', `tw_abcdefghijk1_${secret}`],
    ['id with a base32-illegal digit 8', `tw_abcdefghijk8_${secret}`],
    ['42 secret characters', `tw_${id}_${secret.slice(1)}`],
    ['44 secret characters', `tw_${id}_${secret}a`],
    ['secret with +', `tw_${id}_${secret.slice(1)}+`],
    ['secret with /', `tw_${id}_${secret.slice(1)}/`],
    ['secret with =', `tw_${id}_${secret.slice(1)}=`],
    ['secret with a space', `tw_${id}_${secret.slice(1)} `],
    ['leading space', ` tw_${id}_${secret}`],
    ['trailing newline', `tw_${id}_${secret}\n`],
    ['a second separator instead of the secret', `tw_${id}__${secret.slice(1)}`.slice(0, -1)],
    ['missing separator', `tw_${id}${secret}`],
    ['non-ASCII letter in the secret', `tw_${id}_${secret.slice(1)}é`],
  ])('rejects %s', (_name, key) => {
    expect(parseApiKey(key)).toBeUndefined();
  });
});

describe('keyHashMatches', () => {
  const other = hashApiKey(simpleKey);

  it('matches the same hash', () => {
    expect(keyHashMatches(goldenHash, goldenHash)).toBe(true);
    // A copy, not the same string object.
    expect(keyHashMatches(goldenHash, `${goldenHash.slice(0, 32)}${goldenHash.slice(32)}`)).toBe(true);
  });

  it('does not match a different hash of the same length, including one differing only in the last nibble', () => {
    expect(keyHashMatches(goldenHash, other)).toBe(false);
    const lastNibble = `${goldenHash.slice(0, -1)}${goldenHash.endsWith('0') ? '1' : '0'}`;
    expect(keyHashMatches(goldenHash, lastNibble)).toBe(false);
  });

  it('is false, without throwing, when nothing is stored or the lengths differ', () => {
    expect(keyHashMatches(goldenHash, undefined)).toBe(false);
    expect(keyHashMatches(goldenHash, '')).toBe(false);
    expect(keyHashMatches(goldenHash, goldenHash.slice(0, 62))).toBe(false);
    expect(keyHashMatches(goldenHash.slice(0, 62), goldenHash)).toBe(false);
    expect(keyHashMatches(goldenHash, `${goldenHash}00`)).toBe(false);
  });

  it('is false, without throwing, when a stored value of the right length is not hex (a corrupt record)', () => {
    const corrupt = `zz${goldenHash.slice(2)}`;
    expect(() => keyHashMatches(goldenHash, corrupt)).not.toThrow();
    expect(keyHashMatches(goldenHash, corrupt)).toBe(false);
  });
});
