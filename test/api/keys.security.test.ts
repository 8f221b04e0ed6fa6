import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  envelopeWithoutRequestId,
  exchangeKey,
  expectError,
  keyScopesFor,
  keyToken,
  relaxedLoginEnv,
  requestIdOf,
  scanTable,
  secretsFoundIn,
  splitKey,
  startTwinWithEnv,
  userWithToken,
  type CreatedKey,
  type CreatedUser,
} from '../support/identity.js';
import { apiClient, claimsFor, login, payloadOf, readSigningKeys, signToken, validRow, type Api, type SigningKey, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
let signing: SigningKey;
let alice: CreatedUser & { token: string }; // admin of plant-a
let bob: CreatedUser & { token: string }; // admin of plant-b
let olga: CreatedUser & { token: string }; // operator, plant-a
let omar: CreatedUser & { token: string }; // operator, plant-a
let oscar: CreatedUser & { token: string }; // operator, plant-b
/** Every secret this file handles; none may reach the AuditLog table. */
const secrets: string[] = [];

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
  signing = (await readSigningKeys(t.dataDir))[0]!;
  alice = await userWithToken(api, admin, { username: 'alice', role: 'admin', plant: 'plant-a' });
  bob = await userWithToken(api, admin, { username: 'bob', role: 'admin', plant: 'plant-b' });
  olga = await userWithToken(api, admin, { username: 'olga', role: 'operator', plant: 'plant-a' });
  omar = await userWithToken(api, admin, { username: 'omar', role: 'operator', plant: 'plant-a' });
  oscar = await userWithToken(api, admin, { username: 'oscar', role: 'operator', plant: 'plant-b' });
  for (const u of [alice, bob, olga, omar, oscar]) secrets.push(u.password, u.token);
  secrets.push(admin);
});

afterAll(async () => {
  await t?.stop();
});

/** Creates a key and remembers its secrets for the final audit scan. */
async function newKey(token: string, body: Record<string, unknown>): Promise<CreatedKey> {
  const key = await createKey(api, token, body);
  secrets.push(key.key, splitKey(key.key).secret);
  return key;
}

describe('someone else’s key answers exactly like an unknown id (no probing)', () => {
  let omarsKey: CreatedKey;
  let oscarsKey: CreatedKey;

  beforeAll(async () => {
    omarsKey = await newKey(omar.token, { name: 'omar-private' });
    oscarsKey = await newKey(oscar.token, { name: 'oscar-private' });
  });

  it.each([
    ['an operator, another operator’s key of the same plant', () => olga.token, () => omarsKey.id],
    ['a plant admin, a key of another plant', () => alice.token, () => oscarsKey.id],
    ['a plant admin, a key of another plant (the other way)', () => bob.token, () => omarsKey.id],
  ])('%s: revoke and rotate are 404 with the unknown-id body', async (_name, token, id) => {
    for (const [method, suffix] of [
      ['DELETE', ''],
      ['POST', '/rotate'],
    ] as const) {
      const res = await api(method, `/api/v1/keys/${id()}${suffix}`, { token: token() });
      const unknown = await api(method, `/api/v1/keys/zzzzzzzzzzzz${suffix}`, { token: token() });
      expectError(res, 404, 'NOT_FOUND');
      expect(envelopeWithoutRequestId(res)).toEqual(JSON.parse(JSON.stringify(envelopeWithoutRequestId(unknown)).replaceAll('zzzzzzzzzzzz', id())));
    }
    // Nothing happened to the key.
    expect((await exchangeKey(api, id() === omarsKey.id ? omarsKey.key : oscarsKey.key)).status).toBe(200);
  });

  it('lists never show another principal’s keys across plants', async () => {
    const byAlice = (await api('GET', '/api/v1/keys', { token: alice.token })).json.keys as CreatedKey[];
    expect(byAlice.map((k) => k.id)).not.toContain(oscarsKey.id);
    const byOlga = (await api('GET', '/api/v1/keys', { token: olga.token })).json.keys as CreatedKey[];
    expect(byOlga.map((k) => k.id)).not.toContain(omarsKey.id);
    const byBob = (await api('GET', '/api/v1/keys', { token: bob.token })).json.keys as CreatedKey[];
    expect(byBob.map((k) => k.id)).toEqual([oscarsKey.id]);
  });
});

describe('creating keys for others', () => {
  it('an operator cannot create a key owned by another user (403 naming owner)', async () => {
    const res = await api('POST', '/api/v1/keys', { token: olga.token, body: { name: 'sneaky', owner: 'omar' } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues[0].field).toBe('owner');
  });

  it('a plant admin cannot create a key for another plant’s user, nor for the platform admin', async () => {
    expectError(await api('POST', '/api/v1/keys', { token: alice.token, body: { name: 'x', owner: 'oscar' } }), 403, 'FORBIDDEN');
    expectError(await api('POST', '/api/v1/keys', { token: alice.token, body: { name: 'x', owner: 'admin' } }), 403, 'FORBIDDEN');
  });

  it('an admin creating a key for a user cannot exceed that user’s role (403 naming scopes)', async () => {
    const res = await api('POST', '/api/v1/keys', { token: alice.token, body: { name: 'x', owner: 'olga', scopes: ['models:write'] } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues[0].field).toBe('scopes');
  });
});

describe('a key cannot mint more access', () => {
  it('a key token carries no keys:manage, so key routes are refused at the gateway', async () => {
    const key = await newKey(admin, { name: 'machine' });
    const token = await keyToken(api, key.key);
    secrets.push(token);
    expect(String(payloadOf(token).scope)).not.toContain('keys:manage');
    const res = await api('POST', '/api/v1/keys', { token, body: { name: 'child' } });
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ message: 'Forbidden' });
    expect(res.headers.get('x-request-id')).toBeNull();
  });

  it('even a key-typed token that claims keys:manage is refused by the function (defence in depth)', async () => {
    const key = await newKey(admin, { name: 'forged-parent' });
    const forged = await signToken(
      claimsFor(t.url, { sub: `key:${key.id}`, typ: 'key', owner: 'admin', key_id: key.id, role: 'admin', scope: 'keys:manage twin:predict' }),
      signing.key,
      { kid: signing.kid },
    );
    for (const [method, path, body] of [
      ['POST', '/api/v1/keys', { name: 'child' }],
      ['POST', `/api/v1/keys/${key.id}/rotate`, undefined],
      ['DELETE', `/api/v1/keys/${key.id}`, undefined],
    ] as const) {
      const res = await api(method, path, { token: forged, ...(body ? { body } : {}) });
      expectError(res, 403, 'FORBIDDEN');
    }
    expect((await exchangeKey(api, key.key)).status).toBe(200);
  });

  it('demoting the owner narrows the key at the next exchange: no more predict, no more models:write', async () => {
    const pat = await userWithToken(api, admin, { username: 'pat', role: 'admin', plant: 'plant-a' });
    secrets.push(pat.password, pat.token);
    const key = await newKey(pat.token, { name: 'pat-full' });
    expect(key.scopes).toEqual(keyScopesFor('admin'));
    expect(key.scopes).toEqual(expect.arrayContaining(['twin:predict', 'models:write']));
    expect((await api('PATCH', '/api/v1/users/pat', { token: admin, body: { role: 'viewer' } })).status).toBe(200);
    const res = await exchangeKey(api, key.key);
    expect(res.status).toBe(200);
    // What is left: the key's scopes that a viewer holds.
    expect(res.json.scope).toBe(keyScopesFor('viewer').join(' '));
    expect(res.json.scope).not.toContain('twin:predict');
    expect(res.json.scope).not.toContain('models:write');
    const token = res.json.access_token as string;
    secrets.push(token);
    expect((await api('POST', '/api/v1/twin/predict', { token, body: validRow })).status).toBe(403);
    expect((await api('GET', '/api/v1/twin/status', { token })).status).toBe(200);
    expectError(await exchangeKey(api, key.key, { scope: 'twin:predict' }), 400, 'INVALID_REQUEST');
  });

  it('a scope parameter never widens a key beyond its own scopes', async () => {
    const key = await newKey(olga.token, { name: 'read-only', scopes: ['twin:read'] });
    const res = await exchangeKey(api, key.key, { scope: 'twin:predict' });
    expectError(res, 400, 'INVALID_REQUEST');
  });
});

describe('revocation and rotation are immediate (no cache keeps a key alive)', () => {
  it('revoke right after many successful exchanges: the very next one fails', async () => {
    const key = await newKey(olga.token, { name: 'hot' });
    const warm = await Promise.all(Array.from({ length: 10 }, () => exchangeKey(api, key.key)));
    expect(warm.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await api('DELETE', `/api/v1/keys/${key.id}`, { token: olga.token })).status).toBe(200);
    expectError(await exchangeKey(api, key.key), 401, 'KEY_REVOKED');
  });

  it('a secret with one character changed is KEY_INVALID (the whole key is hashed)', async () => {
    const key = await newKey(olga.token, { name: 'tamper' });
    const { keyId, secret } = splitKey(key.key);
    const flipped = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expectError(await exchangeKey(api, `tw_${keyId}_${flipped}`), 401, 'KEY_INVALID');
    const upper = secret.toUpperCase() === secret ? secret.toLowerCase() : secret.toUpperCase();
    expectError(await exchangeKey(api, `tw_${keyId}_${upper}`), 401, 'KEY_INVALID');
  });

  it('another key’s secret under this key’s id is KEY_INVALID', async () => {
    const a = await newKey(olga.token, { name: 'a' });
    const b = await newKey(olga.token, { name: 'b' });
    expectError(await exchangeKey(api, `tw_${a.id}_${splitKey(b.key).secret}`), 401, 'KEY_INVALID');
  });
});

describe('no key, secret or token is ever stored where it should not be', () => {
  it('a key sent without its tw_ prefix is malformed, and no part of its secret becomes the audit subject', async () => {
    // A fixed secret without `_` (so the whole of it would leak) and a real key's (random, may contain `_`).
    const fixed = { keyId: 'abcdefghijkl', secret: 'S3cretS3cretS3cretS3cretS3cretS3cretS3cretX' };
    const key = await newKey(olga.token, { name: 'prefixless' });
    secrets.push(fixed.secret);
    for (const { keyId, secret } of [fixed, splitKey(key.key)]) {
      const res = await exchangeKey(api, `${keyId}_${secret}`);
      expectError(res, 401, 'KEY_MALFORMED');
      const record = (await scanTable(t, 'AuditLog')).find((r) => r.requestId === requestIdOf(res));
      expect(record).toBeDefined();
      expect(JSON.stringify(record)).not.toContain(secret);
      if (typeof record?.subject === 'string' && record.subject.length > 0) expect(secret).not.toContain(record.subject);
    }
  });

  it('the ApiKeys table holds hashes only', async () => {
    const items = await scanTable(t, 'ApiKeys');
    expect(items.length).toBeGreaterThan(5);
    expect(secretsFoundIn(items, secrets)).toEqual([]);
    for (const item of items) expect(item.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the AuditLog table holds none of the passwords, keys, secrets or tokens used in this file', async () => {
    const items = await scanTable(t, 'AuditLog');
    expect(items.length).toBeGreaterThan(20);
    expect(secretsFoundIn(items, secrets)).toEqual([]);
  });
});
