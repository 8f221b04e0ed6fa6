import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, expectError, relaxedLoginEnv, roleScope, scanTable, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { apiClient, login, payloadOf, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const roleScopes = {
  admin: roleScope('admin'),
  operator: roleScope('operator'),
  viewer: roleScope('viewer'),
  auditor: roleScope('auditor'),
} as const;

describe('the role table behind the tokens', () => {
  it('only admins hold users:manage; viewers and auditors cannot predict or manage keys; only auditors and admins read the audit', () => {
    expect(roleScopes.admin.split(' ')).toEqual(expect.arrayContaining(['twin:predict', 'twin:read', 'keys:manage', 'users:manage', 'models:write', 'audit:read']));
    expect(roleScopes.operator.split(' ')).toEqual(expect.arrayContaining(['twin:predict', 'twin:read', 'keys:manage']));
    for (const role of ['operator', 'viewer', 'auditor'] as const) expect(roleScopes[role]).not.toContain('users:manage');
    for (const role of ['viewer', 'auditor'] as const) {
      expect(roleScopes[role]).not.toContain('twin:predict');
      expect(roleScopes[role]).not.toContain('keys:manage');
    }
    expect(roleScopes.auditor).toContain('audit:read');
    expect(roleScopes.operator).not.toContain('audit:read');
    expect(roleScopes.viewer).not.toContain('audit:read');
  });
});

describe('POST /api/v1/users', () => {
  it.each(Object.entries(roleScopes))('creates a platform %s who logs in with the role’s scopes', async (role, scope) => {
    const username = `new-${role}`;
    const password = `password-of-${role}`;
    const res = await api('POST', '/api/v1/users', { token: admin, body: { username, password, role } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.json).sort()).toEqual(['active', 'created', 'plant', 'role', 'username']);
    expect(res.json).toMatchObject({ username, role, plant: null, active: true });
    expect(Date.parse(res.json.created)).not.toBeNaN();

    const token = await login(api, username, password);
    const claims = payloadOf(token);
    expect(claims).toMatchObject({ sub: username, role, scope, typ: 'user' });
    expect(claims).not.toHaveProperty('plant');
  });

  it('creates a plant user whose token carries the plant', async () => {
    const res = await api('POST', '/api/v1/users', { token: admin, body: { username: 'plant-op', password: 'plant-op-password', role: 'operator', plant: 'plant-a' } });
    expect(res.status).toBe(201);
    expect(res.json.plant).toBe('plant-a');
    expect(payloadOf(await login(api, 'plant-op', 'plant-op-password')).plant).toBe('plant-a');
  });

  it('stores an scrypt hash, never the password', async () => {
    await createUser(api, admin, { username: 'hashed', role: 'viewer', password: 'a-very-particular-password' });
    const item = (await scanTable(t, 'Users')).find((u) => u.username === 'hashed')!;
    expect(item.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(item)).not.toContain('a-very-particular-password');
  });
});

describe('GET /api/v1/users', () => {
  it('lists users sorted by name, without password hashes', async () => {
    const res = await api('GET', '/api/v1/users', { token: admin });
    expect(res.status).toBe(200);
    const names = (res.json.users as { username: string }[]).map((u) => u.username);
    expect(names).toContain('admin');
    expect(names).toContain('new-viewer');
    expect(names).toEqual([...names].sort());
    expect(res.text).not.toContain('passwordHash');
    expect(res.text).not.toContain('scrypt$');
  });

  it('a plant admin lists its plant only', async () => {
    const alice = await userWithToken(api, admin, { username: 'alice', role: 'admin', plant: 'plant-a' });
    await createUser(api, admin, { username: 'bert', role: 'viewer', plant: 'plant-b' });
    const res = await api('GET', '/api/v1/users', { token: alice.token });
    expect(res.status).toBe(200);
    const users = res.json.users as { username: string; plant: string | null }[];
    expect(users.map((u) => u.username)).toEqual(['alice', 'plant-op']);
    expect(users.every((u) => u.plant === 'plant-a')).toBe(true);
  });
});

describe('PATCH /api/v1/users/{username}', () => {
  it('changes the role: the next login carries the new scopes', async () => {
    const u = await createUser(api, admin, { username: 'shifter', role: 'operator' });
    const res = await api('PATCH', '/api/v1/users/shifter', { token: admin, body: { role: 'viewer' } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ username: 'shifter', role: 'viewer', active: true });
    expect(payloadOf(await login(api, u.username, u.password)).scope).toBe(roleScopes.viewer);
  });

  it('deactivates (login refused) and reactivates (login works again)', async () => {
    const u = await createUser(api, admin, { username: 'sleeper', role: 'viewer' });
    const off = await api('PATCH', '/api/v1/users/sleeper', { token: admin, body: { active: false } });
    expect(off.json).toMatchObject({ username: 'sleeper', active: false });
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: u.username, password: u.password } }), 401, 'INVALID_CREDENTIALS');
    const on = await api('PATCH', '/api/v1/users/sleeper', { token: admin, body: { active: true } });
    expect(on.json.active).toBe(true);
    expect(typeof (await login(api, u.username, u.password))).toBe('string');
  });

  it('role and active together; an admin may set its own role to admin (no change)', async () => {
    await createUser(api, admin, { username: 'both', role: 'viewer' });
    const res = await api('PATCH', '/api/v1/users/both', { token: admin, body: { role: 'auditor', active: false } });
    expect(res.json).toMatchObject({ role: 'auditor', active: false });
    const self = await api('PATCH', '/api/v1/users/admin', { token: admin, body: { role: 'admin', active: true } });
    expect(self.status).toBe(200);
    expect(self.json).toMatchObject({ username: 'admin', role: 'admin', active: true });
  });

  it('one admin may demote another admin', async () => {
    await createUser(api, admin, { username: 'second-admin', role: 'admin' });
    const res = await api('PATCH', '/api/v1/users/second-admin', { token: admin, body: { role: 'operator' } });
    expect(res.status).toBe(200);
    expect(res.json.role).toBe('operator');
  });

  it('a plant admin manages its plant’s users', async () => {
    const pam = await userWithToken(api, admin, { username: 'pam', role: 'admin', plant: 'plant-c' });
    const created = await api('POST', '/api/v1/users', { token: pam.token, body: { username: 'carl', password: 'carl-password', role: 'operator' } });
    expect(created.status).toBe(201);
    expect(created.json.plant).toBe('plant-c');
    const res = await api('PATCH', '/api/v1/users/carl', { token: pam.token, body: { role: 'admin' } });
    expect(res.json).toMatchObject({ username: 'carl', role: 'admin', plant: 'plant-c' });
  });
});

describe('POST /api/v1/users/{username}/password', () => {
  it('a user changes its own password with the current one: old refused, new accepted', async () => {
    const v = await userWithToken(api, admin, { username: 'vic', role: 'viewer' });
    const res = await api('POST', '/api/v1/users/vic/password', { token: v.token, body: { current_password: v.password, password: 'vic-new-password' } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ username: 'vic', updated: true });
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: 'vic', password: v.password } }), 401, 'INVALID_CREDENTIALS');
    expect(typeof (await login(api, 'vic', 'vic-new-password'))).toBe('string');
  });

  it('an admin sets another user’s password without the current one', async () => {
    const u = await createUser(api, admin, { username: 'forgetful', role: 'operator' });
    const res = await api('POST', '/api/v1/users/forgetful/password', { token: admin, body: { password: 'reset-by-admin' } });
    expect(res.status).toBe(200);
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: u.username, password: u.password } }), 401, 'INVALID_CREDENTIALS');
    expect(typeof (await login(api, 'forgetful', 'reset-by-admin'))).toBe('string');
  });

  it('every role may change its own password (the route accepts twin:read)', async () => {
    const a = await userWithToken(api, admin, { username: 'audrey', role: 'auditor' });
    const res = await api('POST', '/api/v1/users/audrey/password', { token: a.token, body: { current_password: a.password, password: 'audrey-new-password' } });
    expect(res.status).toBe(200);
  });
});
