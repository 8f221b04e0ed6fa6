import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxActiveKeysPerOwner } from '../../functions/core/auth/keys-service.js';
import { createKey, expectError, keyToken, relaxedLoginEnv, scanTable, startTwinWithEnv, userWithToken, moveToFreshRateWindow } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Issue 13, findings 3 and 7, as the hostile insider tried them, against a twin with the default principal
 * cache (10 s): administration routes read the principal fresh, so a deactivated or demoted admin's old token
 * cannot restore itself or plant a backdoor even inside the cache bound; nobody changes their own role or
 * active flag; a key cannot lift its owner's limit, keys per owner are capped, and keys share the owner's
 * budget. The owner limit here is 40 requests per minute.
 */

const ownerLimit = 40;
let t: TestTwin;
let api: Api;
let root: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: String(ownerLimit) });
  api = apiClient(t.url);
  root = await login(api);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

const backdoor = (token: string, username: string) => api('POST', '/api/v1/users', { token, body: { username, password: 'backdoor-password-1', role: 'admin' } });
const usernames = async () => (await scanTable(t, 'Users')).map((u) => u.username);

describe('a deactivated or demoted admin cannot restore itself with its old token', () => {
  it('deactivated: PATCH self active:true → 401, a backdoor admin → 401; nothing changed', async () => {
    const adam = await userWithToken(api, root, { username: 'adam', role: 'admin', plant: 'plant-a' });
    expect((await api('GET', '/api/v1/users', { token: adam.token })).status).toBe(200);
    expect((await api('PATCH', '/api/v1/users/adam', { token: root, body: { active: false } })).status).toBe(200);
    expectError(await api('PATCH', '/api/v1/users/adam', { token: adam.token, body: { active: true } }), 401, 'UNAUTHORIZED');
    expectError(await backdoor(adam.token, 'adam-backdoor'), 401, 'UNAUTHORIZED');
    expectError(await api('POST', '/api/v1/keys', { token: adam.token, body: { name: 'persist' } }), 401, 'UNAUTHORIZED');
    expect(await usernames()).not.toContain('adam-backdoor');
    expect((await scanTable(t, 'Users')).find((u) => u.username === 'adam')).toMatchObject({ active: false, role: 'admin' });
  });

  it('demoted: PATCH self role:admin → 403, a backdoor admin → 403; still an operator', async () => {
    const dora = await userWithToken(api, root, { username: 'dora', role: 'admin', plant: 'plant-a' });
    expect((await api('GET', '/api/v1/users', { token: dora.token })).status).toBe(200);
    expect((await api('PATCH', '/api/v1/users/dora', { token: root, body: { role: 'operator' } })).status).toBe(200);
    expectError(await api('PATCH', '/api/v1/users/dora', { token: dora.token, body: { role: 'admin' } }), 403, 'FORBIDDEN');
    expectError(await backdoor(dora.token, 'dora-backdoor'), 403, 'FORBIDDEN');
    expect(await usernames()).not.toContain('dora-backdoor');
    expect((await scanTable(t, 'Users')).find((u) => u.username === 'dora')).toMatchObject({ active: true, role: 'operator' });
  });

  it('a demoted admin loses model administration at once too (fresh), and its key tokens lose models:write', async () => {
    // A platform admin: reactor-yield is platform-wide, which only platform admins change (model tenancy).
    const mona = await userWithToken(api, root, { username: 'mona', role: 'admin' });
    const key = await createKey(api, mona.token, { name: 'ci', scopes: ['models:write', 'models:read'] });
    const keyBearer = await keyToken(api, key.key);
    const rollback = (token: string) => api('POST', '/api/v1/models/reactor-yield/rollback', { token });
    // Before: the route's scope is held (the answer is about the model's history, not about access).
    expect((await rollback(keyBearer)).status).not.toBe(403);
    expect((await api('PATCH', '/api/v1/users/mona', { token: root, body: { role: 'viewer' } })).status).toBe(200);
    expectError(await rollback(mona.token), 403, 'FORBIDDEN');
    expectError(await rollback(keyBearer), 403, 'FORBIDDEN');
  });
});

describe('nobody changes their own role or active flag (403 naming the rule)', () => {
  it.each([
    ['deactivate', { active: false }, ['active']],
    ['demote', { role: 'viewer' }, ['role']],
    ['both', { role: 'operator', active: false }, ['role', 'active']],
  ])('the platform admin cannot %s itself', async (_name, body, fields) => {
    const res = await api('PATCH', '/api/v1/users/admin', { token: root, body });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual(fields.map((field) => expect.objectContaining({ field, rule: 'not_self' })));
  });

  it('a plant admin cannot demote itself; the rule is named', async () => {
    const pat = await userWithToken(api, root, { username: 'pat', role: 'admin', plant: 'plant-a' });
    const res = await api('PATCH', '/api/v1/users/pat', { token: pat.token, body: { role: 'viewer' } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'role', rule: 'not_self' })]);
  });
});

describe('key limits', () => {
  it('rate_limit_per_minute above the owner’s limit → 400 naming the field and the rule; no key stored', async () => {
    const olga = await userWithToken(api, root, { username: 'olga', role: 'operator', plant: 'plant-a' });
    const res = await api('POST', '/api/v1/keys', { token: olga.token, body: { name: 'lift', rate_limit_per_minute: 1_000_000 } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'rate_limit_per_minute', rule: 'max_owner_limit' })]);
    expect((await scanTable(t, 'ApiKeys')).filter((k) => k.owner === 'olga')).toEqual([]);
    expect((await api('POST', '/api/v1/keys', { token: olga.token, body: { name: 'at-limit', rate_limit_per_minute: ownerLimit } })).status).toBe(201);
  });

  it(`at most ${maxActiveKeysPerOwner} active keys per owner: the next → 409 naming the rule; a revoked one frees a slot`, async () => {
    const kay = await userWithToken(api, root, { username: 'kay', role: 'operator', plant: 'plant-a' });
    const ids: string[] = [];
    for (let i = 0; i < maxActiveKeysPerOwner; i++) ids.push((await createKey(api, kay.token, { name: `k${i}` })).id);
    const res = await api('POST', '/api/v1/keys', { token: kay.token, body: { name: 'one-too-many' } });
    expectError(res, 409, 'CONFLICT');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ rule: 'max_keys_per_owner' })]);
    // An admin making keys for kay meets the same cap.
    expectError(await api('POST', '/api/v1/keys', { token: root, body: { name: 'for-kay', owner: 'kay' } }), 409, 'CONFLICT');
    expect((await api('DELETE', `/api/v1/keys/${ids[0]}`, { token: kay.token })).status).toBe(200);
    expect((await api('POST', '/api/v1/keys', { token: kay.token, body: { name: 'replacement' } })).status).toBe(201);
  });

  it('three keys of one owner share the owner’s budget: one window admits the owner’s limit in all, not three times it', async () => {
    const sam = await userWithToken(api, root, { username: 'sam', role: 'operator', plant: 'plant-a' });
    // Everything sam does below falls in one fixed window (see moveToFreshRateWindow).
    moveToFreshRateWindow(t);
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await createKey(api, sam.token, { name: `share-${i}`, scopes: ['twin:predict'], rate_limit_per_minute: ownerLimit }));
    const bearers = await Promise.all(keys.map((k) => keyToken(api, k.key)));
    const answers: ApiResponse[] = [];
    for (let i = 0; i < 3 * ownerLimit; i++) answers.push(await api('POST', '/api/v1/twin/predict', { token: bearers[i % 3]!, body: validRow }));
    const admitted = answers.filter((r) => r.status === 200).length;
    // sam's own three key-creating requests took from the same budget.
    expect(admitted).toBe(ownerLimit - 3);
    const refused = answers.filter((r) => r.status !== 200);
    expect(refused.length).toBe(3 * ownerLimit - admitted);
    for (const r of refused) expectError(r, 429, 'RATE_LIMITED');
    // And sam itself has nothing left in this window.
    expectError(await api('GET', '/api/v1/keys', { token: sam.token }), 429, 'RATE_LIMITED');
  });
});
