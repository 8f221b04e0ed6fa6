import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  createUser,
  envelopeWithoutRequestId,
  exchangeKey,
  expectError,
  keyToken,
  relaxedLoginEnv,
  scanTable,
  secretsFoundIn,
  startTwinWithEnv,
  userWithToken,
  type CreatedUser,
} from '../support/identity.js';
import { adminPassword, apiClient, claimsFor, login, readSigningKeys, signToken, type Api, type SigningKey, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
let signing: SigningKey;
let alice: CreatedUser & { token: string }; // admin, plant-a
let olga: CreatedUser & { token: string }; // operator, plant-a
let vera: CreatedUser & { token: string }; // viewer, plant-a
let ada: CreatedUser & { token: string }; // auditor, plant-a
let bert: CreatedUser; // viewer, plant-b
let paula: CreatedUser; // operator, platform-wide
const secrets: string[] = [adminPassword];

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
  signing = (await readSigningKeys(t.dataDir))[0]!;
  alice = await userWithToken(api, admin, { username: 'alice', role: 'admin', plant: 'plant-a' });
  olga = await userWithToken(api, admin, { username: 'olga', role: 'operator', plant: 'plant-a' });
  vera = await userWithToken(api, admin, { username: 'vera', role: 'viewer', plant: 'plant-a' });
  ada = await userWithToken(api, admin, { username: 'ada', role: 'auditor', plant: 'plant-a' });
  bert = await createUser(api, admin, { username: 'bert', role: 'viewer', plant: 'plant-b' });
  paula = await createUser(api, admin, { username: 'paula', role: 'operator' });
  for (const u of [alice, olga, vera, ada]) secrets.push(u.password, u.token);
  secrets.push(bert.password, paula.password, admin);
});

afterAll(async () => {
  await t?.stop();
});

describe('only admins manage users', () => {
  it.each([
    ['operator', () => olga.token],
    ['viewer', () => vera.token],
    ['auditor', () => ada.token],
  ])('a %s is refused at the gateway for create, list and update', async (_role, token) => {
    for (const [method, path, body] of [
      ['POST', '/api/v1/users', { username: 'mallory', password: 'mallory-password', role: 'admin' }],
      ['GET', '/api/v1/users', undefined],
      ['PATCH', '/api/v1/users/olga', { role: 'admin' }],
    ] as const) {
      const res = await api(method, path, { token: token(), ...(body ? { body } : {}) });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ message: 'Forbidden' });
    }
    expect((await scanTable(t, 'Users')).map((u) => u.username)).not.toContain('mallory');
  });

  it('a token claiming users:manage with a non-admin role is refused by the function', async () => {
    const forged = await signToken(claimsFor(t.url, { sub: 'olga', role: 'operator', plant: 'plant-a', scope: 'users:manage' }), signing.key, { kid: signing.kid });
    expectError(await api('GET', '/api/v1/users', { token: forged }), 403, 'FORBIDDEN');
    expectError(await api('PATCH', '/api/v1/users/olga', { token: forged, body: { role: 'admin' } }), 403, 'FORBIDDEN');
    expectError(await api('POST', '/api/v1/users', { token: forged, body: { username: 'mallory', password: 'mallory-password', role: 'admin' } }), 403, 'FORBIDDEN');
  });

  it('a key-typed token of an admin is not the admin: no user management', async () => {
    const forged = await signToken(
      claimsFor(t.url, { sub: 'key:abcdefghijkl', typ: 'key', owner: 'admin', key_id: 'abcdefghijkl', role: 'admin', scope: 'users:manage twin:read' }),
      signing.key,
      { kid: signing.kid },
    );
    expectError(await api('GET', '/api/v1/users', { token: forged }), 403, 'FORBIDDEN');
    expectError(await api('POST', '/api/v1/users/admin/password', { token: forged, body: { password: 'stolen-admin', current_password: adminPassword } }), 403, 'FORBIDDEN');
  });
});

describe('passwords', () => {
  it('a viewer cannot set another user’s password (the route admits twin:read; the function refuses)', async () => {
    const res = await api('POST', '/api/v1/users/olga/password', { token: vera.token, body: { password: 'hijacked-password' } });
    expectError(res, 403, 'FORBIDDEN');
    expect(typeof (await login(api, 'olga', olga.password))).toBe('string');
  });

  it('an API key of a user cannot change that user’s password', async () => {
    const key = await createKey(api, olga.token, { name: 'olga-machine' });
    const token = await keyToken(api, key.key);
    secrets.push(key.key, token);
    const res = await api('POST', '/api/v1/users/olga/password', { token, body: { current_password: olga.password, password: 'changed-by-key' } });
    expectError(res, 403, 'FORBIDDEN');
    expect(typeof (await login(api, 'olga', olga.password))).toBe('string');
  });

  it('a plant admin cannot reset the password of another plant’s user or of a platform user (404, as unknown)', async () => {
    for (const name of ['bert', 'paula', 'admin']) {
      const res = await api('POST', `/api/v1/users/${name}/password`, { token: alice.token, body: { password: 'taken-over-pw' } });
      const unknown = await api('POST', '/api/v1/users/no-such-user/password', { token: alice.token, body: { password: 'taken-over-pw' } });
      expectError(res, 404, 'NOT_FOUND');
      expect(JSON.stringify(envelopeWithoutRequestId(res)).replaceAll(name, 'X')).toBe(JSON.stringify(envelopeWithoutRequestId(unknown)).replaceAll('no-such-user', 'X'));
    }
    expect(typeof (await login(api, 'bert', bert.password))).toBe('string');
    expect(typeof (await login(api, 'admin', adminPassword))).toBe('string');
  });
});

describe('plant isolation for a plant admin', () => {
  it('the list holds only its plant (no other plant, no platform users)', async () => {
    const users = (await api('GET', '/api/v1/users', { token: alice.token })).json.users as { username: string; plant: string | null }[];
    expect(users.map((u) => u.username)).toEqual(['ada', 'alice', 'olga', 'vera']);
  });

  it('updating another plant’s user or a platform user is 404, and changes nothing', async () => {
    for (const name of ['bert', 'paula', 'admin']) {
      expectError(await api('PATCH', `/api/v1/users/${name}`, { token: alice.token, body: { active: false } }), 404, 'NOT_FOUND');
    }
    const all = await scanTable(t, 'Users');
    for (const name of ['bert', 'paula', 'admin']) expect(all.find((u) => u.username === name)?.active).toBe(true);
  });

  it('it cannot create a user in another plant (403); without a plant the user joins its own', async () => {
    expectError(await api('POST', '/api/v1/users', { token: alice.token, body: { username: 'mole', password: 'mole-password', role: 'admin', plant: 'plant-b' } }), 403, 'FORBIDDEN');
    const res = await api('POST', '/api/v1/users', { token: alice.token, body: { username: 'newcomer', password: 'newcomer-pw', role: 'viewer' } });
    expect(res.status).toBe(201);
    expect(res.json.plant).toBe('plant-a');
    secrets.push('mole-password', 'newcomer-pw');
  });
});

describe('deactivation', () => {
  it('a deactivated user cannot log in (same answer as a wrong password) and its keys stop exchanging', async () => {
    const dan = await userWithToken(api, admin, { username: 'dan', role: 'operator', plant: 'plant-a' });
    const key = await createKey(api, dan.token, { name: 'dan-key' });
    secrets.push(dan.password, dan.token, key.key);
    expect((await api('PATCH', '/api/v1/users/dan', { token: alice.token, body: { active: false } })).status).toBe(200);
    const inactive = await api('POST', '/api/v1/auth/login', { body: { username: 'dan', password: dan.password } });
    const wrong = await api('POST', '/api/v1/auth/login', { body: { username: 'dan', password: 'not-dans-password' } });
    expectError(inactive, 401, 'INVALID_CREDENTIALS');
    expect(envelopeWithoutRequestId(inactive)).toEqual(envelopeWithoutRequestId(wrong));
    expectError(await exchangeKey(api, key.key), 401, 'KEY_REVOKED');
  });
});

describe('no password is stored or logged in clear', () => {
  it('the Users table holds scrypt hashes only', async () => {
    const items = await scanTable(t, 'Users');
    expect(secretsFoundIn(items, secrets)).toEqual([]);
    for (const item of items) expect(item.passwordHash).toMatch(/^scrypt\$/);
  });

  it('the AuditLog table holds none of the passwords or tokens', async () => {
    const items = await scanTable(t, 'AuditLog');
    expect(items.length).toBeGreaterThan(20);
    expect(secretsFoundIn(items, [...secrets, 'hijacked-password', 'changed-by-key', 'taken-over-pw', 'stolen-admin', 'mallory-password'])).toEqual([]);
  });
});
