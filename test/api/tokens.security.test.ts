import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  createUser,
  envelopeWithoutRequestId,
  exchangeKey,
  expectError,
  keyToken,
  relaxedLoginEnv,
  requestIdOf,
  roleScope,
  scanTable,
  secretsFoundIn,
  splitKey,
  startTwinWithEnv,
  type CreatedUser,
} from '../support/identity.js';
import { adminPassword, apiClient, login, payloadOf, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
let vera: CreatedUser;
let ivan: CreatedUser; // deactivated
const secrets: string[] = [adminPassword];

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  admin = await login(api);
  vera = await createUser(api, admin, { username: 'vera', role: 'viewer', plant: 'plant-a' });
  ivan = await createUser(api, admin, { username: 'ivan', role: 'operator', plant: 'plant-a' });
  expect((await api('PATCH', '/api/v1/users/ivan', { token: admin, body: { active: false } })).status).toBe(200);
  secrets.push(admin, vera.password, ivan.password);
});

afterAll(async () => {
  await t?.stop();
});

/** Header names and values that do not vary per request (date and request ids do). */
function stableHeaders(res: ApiResponse): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!['date', 'x-request-id', 'apigw-requestid', 'keep-alive', 'connection'].includes(name)) out[name] = value;
  });
  return out;
}

describe('login failures are uniform (no user enumeration)', () => {
  const attempts = {
    'wrong password': { username: 'vera', password: 'definitely-not-vera' },
    'unknown user': { username: 'nobody-at-all', password: 'whatever-password' },
    'inactive user, right password': { username: 'ivan', password: '' },
  };

  async function attempt(route: 'login' | 'token', which: keyof typeof attempts): Promise<ApiResponse> {
    const creds = { ...attempts[which] };
    if (which === 'inactive user, right password') creds.password = ivan.password;
    return route === 'login'
      ? api('POST', '/api/v1/auth/login', { body: creds })
      : api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', ...creds } });
  }

  it.each(['login', 'token'] as const)('POST /api/v1/auth/%s: same status, body and headers for every cause', async (route) => {
    const responses = await Promise.all((Object.keys(attempts) as (keyof typeof attempts)[]).map((w) => attempt(route, w)));
    for (const res of responses) expectError(res, 401, 'INVALID_CREDENTIALS');
    const [first, ...rest] = responses;
    for (const res of rest) {
      expect(envelopeWithoutRequestId(res)).toEqual(envelopeWithoutRequestId(first!));
      expect(stableHeaders(res)).toEqual(stableHeaders(first!));
    }
    expect(envelopeWithoutRequestId(first!)).toEqual({ error: { code: 'INVALID_CREDENTIALS', message: 'Invalid credentials' }, message: 'Invalid credentials' });
  });

  it('the failure never echoes the username or the password', async () => {
    const res = await attempt('login', 'wrong password');
    expect(res.text).not.toContain('vera');
    expect(res.text).not.toContain('definitely-not-vera');
  });
});

describe('the token request cannot choose its own claims', () => {
  it('extra fields (role, plant, scope-like keys) in a password grant are ignored', async () => {
    const res = await api('POST', '/api/v1/auth/token', {
      body: { grant_type: 'password', username: 'vera', password: vera.password, role: 'admin', plant: 'plant-b', scp: 'users:manage', typ: 'key', sub: 'admin' },
    });
    expect(res.status).toBe(200);
    const claims = payloadOf(res.json.access_token);
    secrets.push(res.json.access_token);
    expect(claims).toMatchObject({ sub: 'vera', role: 'viewer', plant: 'plant-a', typ: 'user', scope: roleScope('viewer') });
    expect(claims).not.toHaveProperty('scp');
  });

  it('a form body with a repeated scope field does not widen the grant (the last value is the one checked)', async () => {
    const res = await api('POST', '/api/v1/auth/token', {
      rawBody: `grant_type=password&username=vera&password=${encodeURIComponent(vera.password)}&scope=twin%3Aread&scope=users%3Amanage`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json).not.toHaveProperty('access_token');
  });

  it('a client_credentials request with a username and password is still a key exchange', async () => {
    const res = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'client_credentials', client_secret: 'x', username: 'admin', password: adminPassword } });
    expectError(res, 401, 'KEY_MALFORMED');
  });
});

describe('tokens and keys are not interchangeable', () => {
  it('an access token as client_secret is KEY_MALFORMED; a key as a Bearer token is refused at the gateway', async () => {
    const key = await createKey(api, admin, { name: 'swap' });
    const token = await keyToken(api, key.key);
    secrets.push(key.key, splitKey(key.key).secret, token);
    expectError(await exchangeKey(api, token.slice(0, 256)), 401, 'KEY_MALFORMED');
    const res = await api('POST', '/api/v1/twin/predict', { token: key.key, body: { temp: 360, pressure: 6, flow: 100 } });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ message: 'Unauthorized' });
  });

  it('a password as client_secret is malformed and never recorded', async () => {
    const res = await exchangeKey(api, vera.password);
    expectError(res, 401, 'KEY_MALFORMED');
    const record = (await scanTable(t, 'AuditLog')).find((r) => r.requestId === requestIdOf(res));
    expect(record).toBeDefined();
    expect(JSON.stringify(record)).not.toContain(vera.password);
  });
});

describe('the audit trail of authentication', () => {
  it('failed and successful logins are recorded with the claimed username as subject, never the password or token', async () => {
    const ok = await api('POST', '/api/v1/auth/login', { body: { username: 'vera', password: vera.password }, headers: { 'user-agent': 'tokens-security/1.0' } });
    const bad = await api('POST', '/api/v1/auth/login', { body: { username: 'vera', password: 'guess-1-for-vera' }, headers: { 'user-agent': 'tokens-security/1.0' } });
    secrets.push(ok.json.token, 'guess-1-for-vera');
    const records = await scanTable(t, 'AuditLog');
    const okRecord = records.find((r) => r.requestId === requestIdOf(ok));
    const badRecord = records.find((r) => r.requestId === requestIdOf(bad));
    expect(okRecord).toMatchObject({ action: 'auth.login', principal: 'anonymous', subject: 'vera', outcome: 200, sourceIp: '127.0.0.1', userAgent: 'tokens-security/1.0' });
    expect(badRecord).toMatchObject({ action: 'auth.login', principal: 'anonymous', subject: 'vera', outcome: 401, errorCode: 'INVALID_CREDENTIALS' });
  });

  it('no password, key or token used in this file is in the AuditLog table', async () => {
    const items = await scanTable(t, 'AuditLog');
    expect(items.length).toBeGreaterThan(10);
    expect(secretsFoundIn(items, [...secrets, 'definitely-not-vera', 'whatever-password'])).toEqual([]);
  });
});
