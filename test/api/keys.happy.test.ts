import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  exchangeKey,
  keyScopesFor,
  keyToken,
  scanTable,
  sha256Hex,
  splitKey,
  startTwinWithEnv,
  relaxedLoginEnv,
  userWithToken,
  type CreatedKey,
  type CreatedUser,
} from '../support/identity.js';
import { apiClient, login, payloadOf, validRow, type Api, type TestTwin } from '../support/twin.js';

// The default rotation grace (24 h): an old secret keeps working after a rotation. keys.error covers grace 0.
let t: TestTwin;
let api: Api;
let admin: string;
let olga: CreatedUser & { token: string };
let omar: CreatedUser & { token: string };
let alice: CreatedUser & { token: string };

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
  alice = await userWithToken(api, admin, { username: 'alice', role: 'admin', plant: 'plant-a' });
  olga = await userWithToken(api, admin, { username: 'olga', role: 'operator', plant: 'plant-a' });
  omar = await userWithToken(api, admin, { username: 'omar', role: 'operator', plant: 'plant-b' });
});

afterAll(async () => {
  await t?.stop();
});

const adminKeyScopes = keyScopesFor('admin');
const operatorKeyScopes = keyScopesFor('operator');

it('a key never carries keys:manage or users:manage, whatever its owner holds', () => {
  for (const scopes of [adminKeyScopes, operatorKeyScopes]) {
    expect(scopes).not.toContain('keys:manage');
    expect(scopes).not.toContain('users:manage');
  }
  expect(adminKeyScopes).toEqual(expect.arrayContaining(['twin:predict', 'twin:read', 'models:write', 'audit:read']));
  expect(operatorKeyScopes).toEqual(expect.arrayContaining(['twin:predict', 'twin:read']));
});

describe('POST /api/v1/keys shows the key once', () => {
  let created: CreatedKey;

  beforeAll(async () => {
    created = await createKey(api, admin, { name: 'historian' });
  });

  it('answers 201 with tw_<12 base32>_<43 base64url> and the key’s view', async () => {
    expect(created.key).toMatch(/^tw_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    const { keyId } = splitKey(created.key);
    expect(created).toMatchObject({
      id: keyId,
      prefix: `tw_${keyId}`,
      name: 'historian',
      owner: 'admin',
      plant: null,
      scopes: adminKeyScopes,
      status: 'active',
      last_used: null,
      revoked_at: null,
      rate_limit_per_minute: null,
      previous_secret_valid_until: null,
    });
    expect(Date.parse(created.expires_at) - Date.parse(created.created)).toBe(90 * 86_400_000);
    expect(Object.keys(created)).not.toContain('hash');
  });

  it('stores only the SHA-256 of the whole key: no item of ApiKeys holds the key or its secret', async () => {
    const items = await scanTable(t, 'ApiKeys');
    const item = items.find((i) => i.keyId === created.id);
    expect(item?.hash).toBe(sha256Hex(created.key));
    const { secret } = splitKey(created.key);
    const text = JSON.stringify(items);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(secret);
  });

  it('GET /api/v1/keys lists it without the key, secret or hash', async () => {
    const res = await api('GET', '/api/v1/keys', { token: admin });
    expect(res.status).toBe(200);
    const listed = (res.json.keys as CreatedKey[]).find((k) => k.id === created.id);
    expect(listed).toMatchObject({ id: created.id, name: 'historian', status: 'active' });
    expect(listed).not.toHaveProperty('key');
    expect(res.text).not.toContain(splitKey(created.key).secret);
    expect(res.text).not.toContain(sha256Hex(created.key));
  });

  it('the key exchanges (JSON) for a Bearer token that predicts', async () => {
    const res = await exchangeKey(api, created.key);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: adminKeyScopes.join(' ') });
    const claims = payloadOf(res.json.access_token);
    expect(claims).toMatchObject({ sub: `key:${created.id}`, typ: 'key', owner: 'admin', key_id: created.id, role: 'admin' });
    const predict = await api('POST', '/api/v1/twin/predict', { token: res.json.access_token, body: validRow });
    expect(predict.status).toBe(200);
    expect(predict.json.user).toBe('admin');
  });

  it('the key exchanges form-encoded too, and the exchange sets last_used', async () => {
    const res = await exchangeKey(api, created.key, {}, true);
    expect(res.status).toBe(200);
    expect(res.json.token_type).toBe('Bearer');
    const list = await api('GET', '/api/v1/keys', { token: admin });
    const listed = (list.json.keys as CreatedKey[]).find((k) => k.id === created.id)!;
    expect(typeof listed.last_used).toBe('string');
    expect(Date.parse(listed.last_used!)).toBeGreaterThanOrEqual(Date.parse(created.created));
  });
});

describe('scopes, expiry and limits of a new key', () => {
  it('an operator’s key defaults to its grantable scopes (never keys:manage)', async () => {
    const key = await createKey(api, olga.token, { name: 'olga-default' });
    expect(key).toMatchObject({ owner: 'olga', plant: 'plant-a', scopes: operatorKeyScopes });
    const res = await exchangeKey(api, key.key);
    expect(res.json.scope).toBe(operatorKeyScopes.join(' '));
  });

  it('a subset of scopes is honoured: a predict-only key cannot read status', async () => {
    const key = await createKey(api, olga.token, { name: 'predict-only', scopes: ['twin:predict'] });
    expect(key.scopes).toEqual(['twin:predict']);
    const token = await keyToken(api, key.key);
    expect(payloadOf(token).scope).toBe('twin:predict');
    expect((await api('POST', '/api/v1/twin/predict', { token, body: validRow })).status).toBe(200);
    expect((await api('GET', '/api/v1/twin/status', { token })).status).toBe(403);
  });

  it('expires_in_days and rate_limit_per_minute are kept, and the limit reaches the token and the headers', async () => {
    const key = await createKey(api, olga.token, { name: 'limited', expires_in_days: 1, rate_limit_per_minute: 50 });
    expect(Date.parse(key.expires_at) - Date.parse(key.created)).toBe(86_400_000);
    expect(key.rate_limit_per_minute).toBe(50);
    const token = await keyToken(api, key.key);
    expect(payloadOf(token).rl).toBe(50);
    const predict = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(predict.status).toBe(200);
    expect(predict.headers.get('ratelimit-limit')).toBe('50');
    expect(Number(predict.headers.get('ratelimit-remaining'))).toBe(49);
  });

  it('an admin creates a key for a user of its plant; the key belongs to that user and plant', async () => {
    const key = await createKey(api, alice.token, { name: 'for-olga', owner: 'olga' });
    expect(key).toMatchObject({ owner: 'olga', plant: 'plant-a', scopes: operatorKeyScopes });
    const token = await keyToken(api, key.key);
    expect(payloadOf(token)).toMatchObject({ owner: 'olga', plant: 'plant-a', role: 'operator' });
  });
});

describe('GET /api/v1/keys: own keys; a plant admin its plant; a platform admin all', () => {
  let olgaKey: CreatedKey;
  let omarKey: CreatedKey;
  let adminKey: CreatedKey;

  beforeAll(async () => {
    olgaKey = await createKey(api, olga.token, { name: 'olga-list' });
    omarKey = await createKey(api, omar.token, { name: 'omar-list' });
    adminKey = await createKey(api, admin, { name: 'admin-list' });
  });

  const ids = async (token: string) => ((await api('GET', '/api/v1/keys', { token })).json.keys as CreatedKey[]).map((k) => k.id);

  it('an operator sees only its own keys', async () => {
    const seen = await ids(olga.token);
    expect(seen).toContain(olgaKey.id);
    expect(seen).not.toContain(omarKey.id);
    expect(seen).not.toContain(adminKey.id);
    const all = (await api('GET', '/api/v1/keys', { token: olga.token })).json.keys as CreatedKey[];
    expect(all.every((k) => k.owner === 'olga')).toBe(true);
  });

  it('a plant admin sees its plant’s keys (its own and its operators’), not another plant’s', async () => {
    const keys = (await api('GET', '/api/v1/keys', { token: alice.token })).json.keys as CreatedKey[];
    expect(keys.map((k) => k.id)).toContain(olgaKey.id);
    expect(keys.every((k) => k.plant === 'plant-a')).toBe(true);
  });

  it('the platform admin sees every key, newest first', async () => {
    const keys = (await api('GET', '/api/v1/keys', { token: admin })).json.keys as CreatedKey[];
    const seen = keys.map((k) => k.id);
    for (const id of [olgaKey.id, omarKey.id, adminKey.id]) expect(seen).toContain(id);
    const created = keys.map((k) => k.created);
    expect(created).toEqual([...created].sort().reverse());
  });
});

describe('DELETE /api/v1/keys/{id} revokes', () => {
  it('the next exchange fails KEY_REVOKED; the list shows revoked; revoking again answers the same', async () => {
    const key = await createKey(api, olga.token, { name: 'to-revoke' });
    expect((await exchangeKey(api, key.key)).status).toBe(200);

    const revoked = await api('DELETE', `/api/v1/keys/${key.id}`, { token: olga.token });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ id: key.id, status: 'revoked' });
    expect(typeof revoked.json.revoked_at).toBe('string');
    expect(revoked.json).not.toHaveProperty('key');

    const exchange = await exchangeKey(api, key.key);
    expect(exchange.status).toBe(401);
    expect(exchange.json.error.code).toBe('KEY_REVOKED');

    const again = await api('DELETE', `/api/v1/keys/${key.id}`, { token: olga.token });
    expect(again.status).toBe(200);
    expect(again.json.revoked_at).toBe(revoked.json.revoked_at);

    const listed = ((await api('GET', '/api/v1/keys', { token: olga.token })).json.keys as CreatedKey[]).find((k) => k.id === key.id);
    expect(listed?.status).toBe('revoked');
  });

  it('a plant admin revokes a key of its plant', async () => {
    const key = await createKey(api, olga.token, { name: 'plant-revoke' });
    const res = await api('DELETE', `/api/v1/keys/${key.id}`, { token: alice.token });
    expect(res.status).toBe(200);
    expect((await exchangeKey(api, key.key)).json.error.code).toBe('KEY_REVOKED');
  });
});

describe('POST /api/v1/keys/{id}/rotate (grace 24 h)', () => {
  it('gives a new secret for the same id; old and new both exchange during the grace period', async () => {
    const key = await createKey(api, olga.token, { name: 'to-rotate' });
    const res = await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token });
    expect(res.status).toBe(200);
    const rotated = res.json as CreatedKey;
    expect(rotated.id).toBe(key.id);
    expect(splitKey(rotated.key).keyId).toBe(key.id);
    expect(rotated.key).not.toBe(key.key);

    expect((await exchangeKey(api, key.key)).status).toBe(200);
    expect((await exchangeKey(api, rotated.key)).status).toBe(200);

    const items = await scanTable(t, 'ApiKeys');
    const item = items.find((i) => i.keyId === key.id)!;
    expect(item.hash).toBe(sha256Hex(rotated.key));
    expect(item.previousHash).toBe(sha256Hex(key.key));
    // The grace period is exactly TWIN_KEY_ROTATION_GRACE_SECONDS (default 24 h) from the rotation.
    expect(item.previousHashExpiresAt).toBe(rotated.previous_secret_valid_until);
    expect(Date.parse(String(item.previousHashExpiresAt)) - Date.parse(String(item.rotatedAt))).toBe(86_400_000);
    const text = JSON.stringify(items);
    for (const secret of [key.key, rotated.key, splitKey(key.key).secret, splitKey(rotated.key).secret]) expect(text).not.toContain(secret);
  });

  it('a second rotation retires the first secret at once; the last two work', async () => {
    const key = await createKey(api, olga.token, { name: 'rotate-twice' });
    const second = (await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token })).json as CreatedKey;
    const third = (await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token })).json as CreatedKey;
    const first = await exchangeKey(api, key.key);
    expect(first.status).toBe(401);
    expect(first.json.error.code).toBe('KEY_INVALID');
    expect((await exchangeKey(api, second.key)).status).toBe(200);
    expect((await exchangeKey(api, third.key)).status).toBe(200);
  });
});
