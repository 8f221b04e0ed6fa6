import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, expectError, issueFields, relaxedLoginEnv, roleScope, startTwinWithEnv, type CreatedUser } from '../support/identity.js';
import { adminPassword, apiClient, login, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let vera: CreatedUser;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  vera = await createUser(api, await login(api), { username: 'vera', role: 'viewer' });
});

afterAll(async () => {
  await t?.stop();
});

const token = (body: unknown) => api('POST', '/api/v1/auth/token', { body });

describe('POST /api/v1/auth/token: malformed requests are 400 INVALID_REQUEST', () => {
  it.each([
    ['no grant_type', { username: 'vera', password: 'x' }, 'grant_type'],
    ['an unsupported grant_type', { grant_type: 'authorization_code', code: 'abc' }, 'grant_type'],
    ['refresh_token (not offered)', { grant_type: 'refresh_token', refresh_token: 'abc' }, 'grant_type'],
    ['password grant without password', { grant_type: 'password', username: 'vera' }, 'password'],
    ['password grant without username', { grant_type: 'password', password: 'x' }, 'username'],
    ['password grant with an empty password', { grant_type: 'password', username: 'vera', password: '' }, 'password'],
    ['a password longer than 1024 characters', { grant_type: 'password', username: 'vera', password: 'p'.repeat(1025) }, 'password'],
    ['a username longer than 128 characters', { grant_type: 'password', username: 'u'.repeat(129), password: 'x' }, 'username'],
    ['a scope longer than 512 characters', { grant_type: 'password', username: 'vera', password: 'x', scope: 's'.repeat(513) }, 'scope'],
    ['a number as username', { grant_type: 'password', username: 42, password: 'x' }, 'username'],
  ])('%s', async (_name, body, field) => {
    const res = await token(body);
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
    expect(res.json).not.toHaveProperty('access_token');
  });

  it('no body, invalid JSON, and a JSON array', async () => {
    expectError(await api('POST', '/api/v1/auth/token'), 400, 'INVALID_REQUEST');
    expectError(await api('POST', '/api/v1/auth/token', { rawBody: '{"grant_type":' }), 400, 'INVALID_REQUEST');
    expectError(await api('POST', '/api/v1/auth/token', { body: [] }), 400, 'INVALID_REQUEST');
  });

  it('a content type other than JSON or form → 415', async () => {
    const res = await api('POST', '/api/v1/auth/token', { rawBody: 'grant_type=password', headers: { 'content-type': 'text/plain' } });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(res.json.error.message).toContain('x-www-form-urlencoded');
  });

  it('a form body without grant_type → 400', async () => {
    const res = await api('POST', '/api/v1/auth/token', {
      rawBody: new URLSearchParams({ username: 'vera', password: vera.password }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(res, 400, 'INVALID_REQUEST');
  });
});

describe('scope beyond what is held: 400 naming scope', () => {
  it.each([
    ['a scope the role lacks', 'twin:predict'],
    ['a held and a missing scope', 'twin:read audit:read'],
    ['an unknown scope', 'twin:read admin'],
    ['a scope with different case', 'TWIN:READ'],
  ])('%s', async (_name, scope) => {
    const res = await token({ grant_type: 'password', username: 'vera', password: vera.password, scope });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toEqual(['scope']);
    expect(res.json.error.issues[0].message).toContain(roleScope('viewer'));
  });
});

describe('credentials', () => {
  it('a wrong password → 401 INVALID_CREDENTIALS on both routes', async () => {
    expectError(await token({ grant_type: 'password', username: 'vera', password: 'wrong-password' }), 401, 'INVALID_CREDENTIALS');
    expectError(await api('POST', '/api/v1/auth/login', { body: { username: 'vera', password: 'wrong-password' } }), 401, 'INVALID_CREDENTIALS');
  });

  it('the right password with a different-case username is not a login', async () => {
    expectError(await token({ grant_type: 'password', username: 'VERA', password: vera.password }), 401, 'INVALID_CREDENTIALS');
  });

  it('the login alias accepts JSON only (a form body → 415) and needs both fields (400)', async () => {
    const res = await api('POST', '/api/v1/auth/login', {
      rawBody: new URLSearchParams({ username: 'admin', password: adminPassword }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const missing = await api('POST', '/api/v1/auth/login', { body: { username: 'admin' } });
    expectError(missing, 400, 'INVALID_REQUEST');
    expect(issueFields(missing)).toEqual(['password']);
  });
});
