import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createUser, exchangeKey, keyScopesFor, relaxedLoginEnv, roleScope, startTwinWithEnv, type CreatedKey, type CreatedUser } from '../support/identity.js';
import { adminPassword, apiClient, audience, login, payloadOf, readSigningKeys, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

// Non-default lifetimes prove the configuration reaches the token endpoint.
const userTtl = 1800;
const keyTtl = 120;

let t: TestTwin;
let api: Api;
let admin: string;
let olga: CreatedUser;
let key: CreatedKey;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_USER_TOKEN_TTL_SECONDS: String(userTtl), TWIN_KEY_TOKEN_TTL_SECONDS: String(keyTtl) });
  api = apiClient(t.url);
  admin = await login(api);
  olga = await createUser(api, admin, { username: 'olga', role: 'operator', plant: 'plant-a' });
  key = await createKey(api, await login(api, olga.username, olga.password), { name: 'olga-key', rate_limit_per_minute: 77 });
});

afterAll(async () => {
  await t?.stop();
});

const operatorScope = roleScope('operator');

function form(fields: Record<string, string>): { rawBody: string; headers: Record<string, string> } {
  return { rawBody: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}

async function expectUsable(token: string): Promise<void> {
  const res = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
  expect(res.status, res.text).toBe(200);
}

describe('grant_type=password', () => {
  function expectUserToken(res: ApiResponse): void {
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: userTtl, scope: operatorScope });
    expect(res.headers.get('cache-control')).toBe('no-store');
  }

  it('JSON body → {access_token, token_type: Bearer, expires_in, scope}', async () => {
    const res = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', username: 'olga', password: olga.password } });
    expectUserToken(res);
    await expectUsable(res.json.access_token);
  });

  it('form body → the same', async () => {
    const res = await api('POST', '/api/v1/auth/token', form({ grant_type: 'password', username: 'olga', password: olga.password }));
    expectUserToken(res);
    await expectUsable(res.json.access_token);
  });

  it('form body with a charset parameter is still a form', async () => {
    const body = form({ grant_type: 'password', username: 'olga', password: olga.password });
    const res = await api('POST', '/api/v1/auth/token', { rawBody: body.rawBody, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' } });
    expectUserToken(res);
  });

  it('the token is an RS256 JWT of the twin: kid, iss, aud, sub, role, typ, plant, exp - iat = TTL', async () => {
    const res = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', username: 'olga', password: olga.password } });
    const header = decodeProtectedHeader(res.json.access_token);
    const kids = (await readSigningKeys(t.dataDir)).map((k) => k.kid);
    expect(header.alg).toBe('RS256');
    expect(kids).toContain(header.kid);
    const claims = payloadOf(res.json.access_token);
    expect(claims).toMatchObject({ iss: t.url, aud: audience, sub: 'olga', role: 'operator', typ: 'user', plant: 'plant-a', scope: operatorScope });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(userTtl);
    expect(typeof claims.jti).toBe('string');
  });
});

describe('POST /api/v1/auth/login (the chapter’s alias)', () => {
  it('{username, password} → {token, access_token, token_type, expires_in, scope}, token usable', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: adminPassword } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token', 'token_type']);
    expect(res.json.token).toBe(res.json.access_token);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: userTtl });
    expect(res.json.scope).toBe(roleScope('admin'));
    await expectUsable(res.json.token);
  });
});

describe('grant_type=client_credentials', () => {
  function expectKeyToken(res: ApiResponse): void {
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: keyTtl, scope: keyScopesFor('operator').join(' ') });
    const claims = payloadOf(res.json.access_token);
    expect(claims).toMatchObject({ sub: `key:${key.id}`, typ: 'key', owner: 'olga', key_id: key.id, role: 'operator', plant: 'plant-a', rl: 77 });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(keyTtl);
  }

  it('JSON body', async () => {
    const res = await exchangeKey(api, key.key);
    expectKeyToken(res);
    await expectUsable(res.json.access_token);
  });

  it('form body', async () => {
    expectKeyToken(await exchangeKey(api, key.key, {}, true));
  });

  it('an optional client_id is accepted', async () => {
    expectKeyToken(await exchangeKey(api, key.key, { client_id: key.id }));
  });
});

describe('scope narrows the token', () => {
  it.each([
    ['one scope', 'twin:predict', 'twin:predict'],
    // Granted in the role's order, whatever the request's order.
    ['two scopes in another order with extra spaces', '  models:read   twin:read ', operatorScope.split(' ').filter((s) => s === 'twin:read' || s === 'models:read').join(' ')],
    ['every held scope', operatorScope.split(' ').reverse().join(' '), operatorScope],
  ])('password grant, %s', async (_name, scope, granted) => {
    const res = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', username: 'olga', password: olga.password, scope } });
    expect(res.status).toBe(200);
    expect(res.json.scope).toBe(granted);
    expect(payloadOf(res.json.access_token).scope).toBe(granted);
  });

  it('a predict-only token predicts but cannot read status (gateway 403)', async () => {
    const res = await api('POST', '/api/v1/auth/token', form({ grant_type: 'password', username: 'olga', password: olga.password, scope: 'twin:predict' }));
    const token = res.json.access_token as string;
    await expectUsable(token);
    expect((await api('GET', '/api/v1/twin/status', { token })).status).toBe(403);
  });

  it('client credentials with scope', async () => {
    const res = await exchangeKey(api, key.key, { scope: 'twin:read' });
    expect(res.status).toBe(200);
    expect(res.json.scope).toBe('twin:read');
    expect((await api('GET', '/api/v1/twin/status', { token: res.json.access_token })).status).toBe(200);
    expect((await api('POST', '/api/v1/twin/predict', { token: res.json.access_token, body: validRow })).status).toBe(403);
  });
});
