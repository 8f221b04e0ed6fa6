import { createPublicKey, generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKeyFile, KeyFileTokenSigner, rotateKeyFile } from '../../functions/adapters/key-file-signing-keys.js';
import { KmsTokenSigner } from '../../functions/adapters/kms-token-signer.js';
import { scopesForRole } from '../../functions/core/auth/roles.js';
import { principalFromClaims, TokenIssuer, type TokenSigner, type TokenSubject } from '../../functions/core/auth/tokens.js';
import { UnauthorizedError } from '../../functions/core/errors.js';

const issuer = 'https://twin.example.test';
const audience = 'twinserve-test';
const fixedNow = Date.UTC(2026, 10, 25, 12, 0, 0); // tokens are checked at this instant, not the wall clock
const fixedNowSeconds = fixedNow / 1000;
const verifyOptions = { issuer, audience, algorithms: ['RS256'], currentDate: new Date(fixedNow + 1000) };

const operator: TokenSubject = { sub: 'olivia', role: 'operator', scopes: scopesForRole('operator'), principalType: 'user', plant: 'plant-7' };

function issuerFor(signer: TokenSigner): TokenIssuer {
  return new TokenIssuer(signer, { issuer, audience, now: () => fixedNow });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'twinserve-tokens-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key file', () => {
  it('ensureKeyFile creates one RSA key with mode 0600, then leaves the file alone', async () => {
    // Prepare
    const path = join(dir, 'ensure', 'signing-keys.json');

    // Act
    const created = await ensureKeyFile(path);
    const text = await readFile(path, 'utf8');
    const again = await ensureKeyFile(path);

    // Assess
    expect(created).toBe(true);
    expect(again).toBe(false);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(text) as { keys: { kid: string; created: string; privateJwk: JWK }[] };
    expect(file.keys).toHaveLength(1);
    expect(file.keys[0]!.kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(file.keys[0]!.privateJwk).toMatchObject({ kty: 'RSA', e: 'AQAB' });
    expect(file.keys[0]!.privateJwk.d).toBeTruthy();
  });

  it('the JWKS publishes only the public half', async () => {
    const path = join(dir, 'public', 'signing-keys.json');
    await ensureKeyFile(path);
    const { keys } = await new KeyFileTokenSigner(path).jwks();
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
  });
});

describe('TokenIssuer with the key-file signer', () => {
  let path: string;
  let signer: KeyFileTokenSigner;

  beforeAll(async () => {
    path = join(dir, 'issuer', 'signing-keys.json');
    await ensureKeyFile(path);
    signer = new KeyFileTokenSigner(path);
  });

  it('issues an RS256 JWT with the signer kid that jose verifies against the signer JWKS', async () => {
    // Act
    const issued = await issuerFor(signer).issue(operator, 900);

    // Assess
    const header = decodeProtectedHeader(issued.token);
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: await signer.keyId() });
    const { payload, protectedHeader } = await jwtVerify(issued.token, createLocalJWKSet(await signer.jwks()), verifyOptions);
    expect(protectedHeader.kid).toBe(await signer.keyId());
    expect(payload).toMatchObject({
      iss: issuer,
      aud: audience,
      sub: 'olivia',
      role: 'operator',
      typ: 'user',
      plant: 'plant-7',
      scope: 'twin:predict twin:read keys:manage models:read twin:feedback',
      iat: fixedNowSeconds,
      nbf: fixedNowSeconds,
      exp: fixedNowSeconds + 900,
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(issued).toMatchObject({ expiresIn: 900, scope: 'twin:predict twin:read keys:manage models:read twin:feedback' });
  });

  it('gives every token its own jti and leaves out plant when there is none', async () => {
    const subject: TokenSubject = { sub: 'kiosk', role: 'viewer', scopes: ['twin:read'], principalType: 'key' };
    const [a, b] = await Promise.all([issuerFor(signer).issue(subject, 60), issuerFor(signer).issue(subject, 60)]);
    const keys = createLocalJWKSet(await signer.jwks());
    const pa = (await jwtVerify(a.token, keys, verifyOptions)).payload;
    const pb = (await jwtVerify(b.token, keys, verifyOptions)).payload;
    expect(pa.jti).not.toBe(pb.jti);
    expect(pa.typ).toBe('key');
    expect('plant' in pa).toBe(false);
  });

  it('a token fails verification once it has expired, and against another issuer or audience', async () => {
    const { token } = await issuerFor(signer).issue(operator, 60);
    const keys = createLocalJWKSet(await signer.jwks());
    await expect(jwtVerify(token, keys, { ...verifyOptions, currentDate: new Date(fixedNow + 61_000) })).rejects.toThrow(/exp/);
    await expect(jwtVerify(token, keys, { ...verifyOptions, issuer: `${issuer}/` })).rejects.toThrow(/iss/);
    await expect(jwtVerify(token, keys, { ...verifyOptions, audience: 'other' })).rejects.toThrow(/aud/);
  });

  it('a token does not verify against another key file', async () => {
    const otherPath = join(dir, 'other', 'signing-keys.json');
    await ensureKeyFile(otherPath);
    const { token } = await issuerFor(signer).issue(operator, 60);
    await expect(jwtVerify(token, createLocalJWKSet(await new KeyFileTokenSigner(otherPath).jwks()), verifyOptions)).rejects.toThrow();
  });
});

describe('rotateKeyFile', () => {
  it('puts a new key first, keeps the previous one published, and old tokens still verify', async () => {
    // Prepare
    const path = join(dir, 'rotate', 'signing-keys.json');
    await ensureKeyFile(path);
    const before = new KeyFileTokenSigner(path);
    const oldKid = await before.keyId();
    const { token: oldToken } = await issuerFor(before).issue(operator, 600);

    // Act
    const newKid = await rotateKeyFile(path);
    const after = new KeyFileTokenSigner(path); // running processes pick the key up on restart

    // Assess
    expect(newKid).not.toBe(oldKid);
    expect(await after.keyId()).toBe(newKid);
    const jwks = await after.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    const keys = createLocalJWKSet(jwks);
    expect((await jwtVerify(oldToken, keys, verifyOptions)).protectedHeader.kid).toBe(oldKid);
    const { token: newToken } = await issuerFor(after).issue(operator, 600);
    expect((await jwtVerify(newToken, keys, verifyOptions)).protectedHeader.kid).toBe(newKid);
  });

  it('drops keys older than `keep` rotations, and their tokens stop verifying', async () => {
    const path = join(dir, 'rotate-twice', 'signing-keys.json');
    await ensureKeyFile(path);
    const first = new KeyFileTokenSigner(path);
    const firstKid = await first.keyId();
    const { token } = await issuerFor(first).issue(operator, 600);

    const secondKid = await rotateKeyFile(path);
    const thirdKid = await rotateKeyFile(path);

    const jwks = await new KeyFileTokenSigner(path).jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([thirdKid, secondKid]);
    await expect(jwtVerify(token, createLocalJWKSet(jwks), verifyOptions)).rejects.toThrow();
    expect(firstKid).not.toBe(secondKid);
  });
});

describe('principalFromClaims', () => {
  it('builds the principal from API Gateway claims (all strings)', () => {
    const principal = principalFromClaims({ sub: 'olivia', role: 'operator', scope: 'twin:predict twin:read', typ: 'user', plant: 'p1', iat: '1' });
    expect(principal.id).toBe('olivia');
    expect(principal.role).toBe('operator');
    expect([...principal.scopes]).toEqual(['twin:predict', 'twin:read']);
    expect(principal.type).toBe('user');
    expect(principal.plant).toBe('p1');
  });

  it('ignores unknown scopes and defaults scope to none and typ to user', () => {
    expect([...principalFromClaims({ sub: 'a', role: 'viewer', scope: 'twin:read root:all  admin twin:predictx' }).scopes]).toEqual(['twin:read']);
    const bare = principalFromClaims({ sub: 'a', role: 'viewer' });
    expect(bare.scopes.size).toBe(0);
    expect(bare.type).toBe('user');
    expect('plant' in bare).toBe(false);
  });

  it.each([
    ['no claims', undefined],
    ['empty claims', {}],
    ['no sub', { role: 'admin', scope: 'twin:predict' }],
    ['an empty sub', { sub: '', role: 'admin' }],
    ['no role', { sub: 'a', scope: 'twin:predict' }],
    ['an unknown role', { sub: 'a', role: 'root' }],
    ['an unknown principal type', { sub: 'a', role: 'admin', typ: 'service' }],
  ])('rejects %s with UnauthorizedError', (_case, claims) => {
    expect(() => principalFromClaims(claims as Record<string, unknown> | undefined)).toThrow(UnauthorizedError);
  });
});

/** A stand-in for KMSClient: answers SignCommand and GetPublicKeyCommand with local RSA keys. */
class FakeKms {
  readonly calls: { command: string; keyId: string | undefined }[] = [];
  private readonly keys = new Map<string, KeyObject>();

  addKey(keyId: string): void {
    this.keys.set(keyId, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  }

  private key(keyId: string | undefined): KeyObject {
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (!key) throw new Error(`NotFoundException: ${keyId}`);
    return key;
  }

  async send(command: unknown): Promise<unknown> {
    if (command instanceof SignCommand) {
      const { KeyId, Message, MessageType, SigningAlgorithm } = command.input;
      this.calls.push({ command: 'Sign', keyId: KeyId });
      if (MessageType !== 'RAW' || SigningAlgorithm !== 'RSASSA_PKCS1_V1_5_SHA_256' || !Message) throw new Error('unexpected Sign input');
      return { KeyId, Signature: new Uint8Array(rsaSign('sha256', Message, this.key(KeyId))), SigningAlgorithm };
    }
    if (command instanceof GetPublicKeyCommand) {
      const { KeyId } = command.input;
      this.calls.push({ command: 'GetPublicKey', keyId: KeyId });
      const der = createPublicKey(this.key(KeyId)).export({ type: 'spki', format: 'der' });
      return { KeyId, PublicKey: new Uint8Array(der), KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' };
    }
    throw new Error(`unexpected command ${String(command)}`);
  }
}

describe('KmsTokenSigner', () => {
  const current = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const previous = '0987dcba-09fe-87dc-65ba-ab0987654321';
  let kms: FakeKms;
  let signer: KmsTokenSigner;

  beforeAll(() => {
    kms = new FakeKms();
    kms.addKey(current);
    kms.addKey(previous);
    signer = new KmsTokenSigner(kms as unknown as KMSClient, [current, previous]);
  });

  it('uses the key id (the last ARN segment) as kid', async () => {
    expect(await signer.keyId()).toBe('1234abcd-12ab-34cd-56ef-1234567890ab');
  });

  it('builds a JWKS of every key from GetPublicKey, once', async () => {
    const jwks = await signer.jwks();
    await signer.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual(['1234abcd-12ab-34cd-56ef-1234567890ab', previous]);
    jwks.keys.forEach((k) => expect(k).toMatchObject({ kty: 'RSA', e: 'AQAB', alg: 'RS256', use: 'sig' }));
    expect(kms.calls.filter((c) => c.command === 'GetPublicKey').map((c) => c.keyId)).toEqual([current, previous]);
  });

  it('signs with the first key through KMS, and the JWKS it builds verifies the token', async () => {
    // Act
    const { token } = await issuerFor(signer).issue(operator, 300);

    // Assess
    expect(kms.calls.filter((c) => c.command === 'Sign').at(-1)?.keyId).toBe(current);
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await signer.jwks()), verifyOptions);
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'JWT', kid: '1234abcd-12ab-34cd-56ef-1234567890ab' });
    expect(payload).toMatchObject({ sub: 'olivia', role: 'operator', exp: fixedNowSeconds + 300 });
  });

  it('tokens signed by the previous key verify against the same JWKS (rotation with overlap)', async () => {
    const old = new KmsTokenSigner(kms as unknown as KMSClient, [previous]);
    const { token } = await issuerFor(old).issue(operator, 300);
    const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(await signer.jwks()), verifyOptions);
    expect(protectedHeader.kid).toBe(previous);
  });

  it('needs at least one key id', () => {
    expect(() => new KmsTokenSigner(kms as unknown as KMSClient, [])).toThrow(/at least one key id/);
  });

  it('retries the JWKS after a failed GetPublicKey', async () => {
    const flaky = new FakeKms();
    const lazy = new KmsTokenSigner(flaky as unknown as KMSClient, ['later-key']);
    await expect(lazy.jwks()).rejects.toThrow(/NotFoundException/);
    flaky.addKey('later-key');
    expect((await lazy.jwks()).keys.map((k) => k.kid)).toEqual(['later-key']);
  });
});
