import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, expectError, issueFields, relaxedLoginEnv, scanTable, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { adminPassword, apiClient, login, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
  await createUser(api, admin, { username: 'existing', role: 'viewer' });
});

afterAll(async () => {
  await t?.stop();
});

const valid = { username: 'someone', password: 'long-enough', role: 'viewer' };

describe('POST /api/v1/users validation', () => {
  it.each([
    ['an upper-case username', { ...valid, username: 'Someone' }, 'username'],
    ['a two-character username', { ...valid, username: 'ab' }, 'username'],
    ['a username starting with a dot', { ...valid, username: '.hidden' }, 'username'],
    ['a username with a slash', { ...valid, username: 'a/b/c' }, 'username'],
    ['a 65-character username', { ...valid, username: 'u'.repeat(65) }, 'username'],
    ['a 7-character password', { ...valid, password: 'short12' }, 'password'],
    ['a 257-character password', { ...valid, password: 'p'.repeat(257) }, 'password'],
    ['an unknown role', { ...valid, role: 'root' }, 'role'],
    ['no role', { username: 'someone', password: 'long-enough' }, 'role'],
    ['a plant with a space', { ...valid, plant: 'plant a' }, 'plant'],
    ['an unknown field', { ...valid, active: false }, 'active'],
    ['a passwordHash smuggled in', { ...valid, passwordHash: 'scrypt$2$1$1$x$y' }, 'passwordHash'],
  ])('%s → 400 naming the field', async (_name, body, field) => {
    const res = await api('POST', '/api/v1/users', { token: admin, body });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
  });

  it('nothing is stored for a refused user', async () => {
    const names = (await scanTable(t, 'Users')).map((u) => u.username);
    expect(names).not.toContain('someone');
    expect(names).not.toContain('Someone');
  });

  it('an existing username → 409 CONFLICT, and the existing user keeps its password', async () => {
    expectError(await api('POST', '/api/v1/users', { token: admin, body: { ...valid, username: 'existing', password: 'takeover-password' } }), 409, 'CONFLICT');
    expectError(await api('POST', '/api/v1/users', { token: admin, body: { ...valid, username: 'admin', role: 'admin' } }), 409, 'CONFLICT');
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: 'existing', password: 'takeover-password' } }), 401, 'INVALID_CREDENTIALS');
    expect(typeof (await login(api))).toBe('string');
  });

  it('no body → 400; text/plain → 415', async () => {
    expectError(await api('POST', '/api/v1/users', { token: admin }), 400, 'INVALID_REQUEST');
    expectError(await api('POST', '/api/v1/users', { token: admin, rawBody: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('PATCH /api/v1/users/{username} errors', () => {
  it.each([
    ['an empty body', {}, 'role'],
    ['an unknown role', { role: 'superuser' }, 'role'],
    ['active as a string', { active: 'no' }, 'active'],
    ['a password (not changeable here)', { password: 'new-password' }, 'password'],
    ['a plant (not changeable)', { plant: 'plant-z' }, 'plant'],
  ])('%s → 400', async (_name, body, field) => {
    const res = await api('PATCH', '/api/v1/users/existing', { token: admin, body });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
  });

  it('an unknown user → 404', async () => {
    expectError(await api('PATCH', '/api/v1/users/nobody-here', { token: admin, body: { role: 'viewer' } }), 404, 'NOT_FOUND');
  });

  it.each([
    ['demote itself to operator', { role: 'operator' }],
    ['demote itself to viewer', { role: 'viewer' }],
    ['deactivate itself', { active: false }],
    ['stay admin but deactivate', { role: 'admin', active: false }],
  ])('an admin cannot %s (403) and stays an active admin', async (_name, body) => {
    expectError(await api('PATCH', '/api/v1/users/admin', { token: admin, body }), 403, 'FORBIDDEN');
    const me = ((await api('GET', '/api/v1/users', { token: admin })).json.users as { username: string }[]).find((u) => u.username === 'admin');
    expect(me).toMatchObject({ role: 'admin', active: true });
  });

  it('a plant admin cannot demote itself either', async () => {
    const pam = await userWithToken(api, admin, { username: 'pam', role: 'admin', plant: 'plant-a' });
    expectError(await api('PATCH', '/api/v1/users/pam', { token: pam.token, body: { role: 'viewer' } }), 403, 'FORBIDDEN');
  });
});

describe('POST /api/v1/users/{username}/password errors', () => {
  it('self without current_password → 403 naming current_password', async () => {
    const v = await userWithToken(api, admin, { username: 'vic', role: 'viewer' });
    const res = await api('POST', '/api/v1/users/vic/password', { token: v.token, body: { password: 'vic-new-password' } });
    expectError(res, 403, 'FORBIDDEN');
    expect(issueFields(res)).toEqual(['current_password']);
    expect(typeof (await login(api, 'vic', v.password))).toBe('string');
  });

  it('self with a wrong current_password → 403, password unchanged', async () => {
    const w = await userWithToken(api, admin, { username: 'wes', role: 'operator' });
    const res = await api('POST', '/api/v1/users/wes/password', { token: w.token, body: { current_password: 'not-it-at-all', password: 'wes-new-password' } });
    expectError(res, 403, 'FORBIDDEN');
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: 'wes', password: 'wes-new-password' } }), 401, 'INVALID_CREDENTIALS');
  });

  it('an admin changing its own password also needs the current one', async () => {
    expectError(await api('POST', '/api/v1/users/admin/password', { token: admin, body: { password: 'admin-new-password' } }), 403, 'FORBIDDEN');
    expect(typeof (await login(api, 'admin', adminPassword))).toBe('string');
  });

  it('an unknown user → 404; a too-short new password → 400; an unknown field → 400', async () => {
    expectError(await api('POST', '/api/v1/users/nobody-here/password', { token: admin, body: { password: 'long-enough' } }), 404, 'NOT_FOUND');
    const short = await api('POST', '/api/v1/users/existing/password', { token: admin, body: { password: 'short' } });
    expectError(short, 400, 'INVALID_REQUEST');
    expect(issueFields(short)).toEqual(['password']);
    expectError(await api('POST', '/api/v1/users/existing/password', { token: admin, body: { password: 'long-enough', role: 'admin' } }), 400, 'INVALID_REQUEST');
  });
});
