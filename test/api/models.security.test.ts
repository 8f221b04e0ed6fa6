import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { modelName, publishBody, referenceVariant, startModelTwin, type TestPackage } from '../support/models.js';
import { apiClient, claimsFor, foreignRsaKey, login, readSigningKeys, signToken, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
let viewer: string;
let operator: string;
let auditor: string;
let predictKey: string;
let readKey: string;
let pkg: TestPackage;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  viewer = (await userWithToken(api, admin, { username: 'vera-viewer', role: 'viewer' })).token;
  operator = (await userWithToken(api, admin, { username: 'otto-operator', role: 'operator' })).token;
  auditor = (await userWithToken(api, admin, { username: 'aud-auditor', role: 'auditor' })).token;
  predictKey = await keyToken(api, (await createKey(api, admin, { name: 'predict only', scopes: ['twin:predict'] })).key);
  readKey = await keyToken(api, (await createKey(api, admin, { name: 'models read', scopes: ['models:read'] })).key);
  pkg = await referenceVariant('1.1.0', { tempShift: 10 });
  // 1.1.0 published by the admin, so that activate/routing refusals are about scopes, not about the version.
  expect((await api('POST', `/api/v1/models/${modelName}/versions`, { token: admin, body: publishBody(pkg) })).status).toBe(201);
});

afterAll(async () => {
  await t?.stop();
});

const base = `/api/v1/models/${modelName}`;

/** Every model-lifecycle route with a valid request body (a thunk: the package exists only after beforeAll). */
function requests(): { name: string; method: string; path: string; body?: () => unknown; write: boolean }[] {
  return [
    { name: 'list', method: 'GET', path: '/api/v1/models', write: false },
    { name: 'versions', method: 'GET', path: `${base}/versions`, write: false },
    { name: 'stats', method: 'GET', path: `${base}/stats`, write: false },
    { name: 'publish', method: 'POST', path: `${base}/versions`, body: () => publishBody(pkg), write: true },
    { name: 'activate', method: 'POST', path: `${base}/activate`, body: () => ({ version: '1.1.0' }), write: true },
    { name: 'rollback', method: 'POST', path: `${base}/rollback`, write: true },
    { name: 'routing', method: 'PUT', path: `${base}/routing`, body: () => ({ variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }] }), write: true },
  ];
}

/** The authorizer's own refusal: API Gateway's body, no function ran. */
function expectGatewayForbidden(res: ApiResponse): void {
  expect(res.status, res.text).toBe(403);
  expect(res.json).toEqual({ message: 'Forbidden' });
}

async function routingUnchanged(): Promise<void> {
  const res = await api('GET', `${base}/versions`, { token: admin });
  expect(res.json.routing).toMatchObject({ active: '1.0.0' });
  expect(res.json.routing.variants).toBeUndefined();
  expect(res.json.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0', '1.1.0']);
}

describe('viewer', () => {
  it.each(requests().filter((r) => !r.write).map((r) => [r.name, r] as const))('may %s', async (_name, r) => {
    const res = await api(r.method, r.path, { token: viewer });
    expect(res.status, res.text).toBe(200);
  });

  it.each(requests().filter((r) => r.write).map((r) => [r.name, r] as const))('may not %s (403)', async (_name, r) => {
    expectGatewayForbidden(await api(r.method, r.path, { token: viewer, ...(r.body ? { body: r.body() } : {}) }));
    await routingUnchanged();
  });
});

describe('operator', () => {
  it('may list models and read stats', async () => {
    expect((await api('GET', '/api/v1/models', { token: operator })).status).toBe(200);
    expect((await api('GET', `${base}/stats`, { token: operator })).status).toBe(200);
  });

  it.each(requests().filter((r) => r.write).map((r) => [r.name, r] as const))('may not %s (403)', async (_name, r) => {
    expectGatewayForbidden(await api(r.method, r.path, { token: operator, ...(r.body ? { body: r.body() } : {}) }));
    await routingUnchanged();
  });

  it('cannot publish a new version either (nothing written)', async () => {
    const fresh = await referenceVariant('2.0.0');
    expectGatewayForbidden(await api('POST', `${base}/versions`, { token: operator, body: publishBody(fresh) }));
    const versions = await api('GET', `${base}/versions`, { token: admin });
    expect(versions.json.versions.map((v: { version: string }) => v.version)).not.toContain('2.0.0');
  });

  it('cannot mint itself a key with models:write (a key never exceeds its owner)', async () => {
    const res = await api('POST', '/api/v1/keys', { token: operator, body: { name: 'escalate', scopes: ['models:write'] } });
    expect(res.status, res.text).toBe(403);
  });
});

describe('auditor', () => {
  it('may read but not write', async () => {
    expect((await api('GET', '/api/v1/models', { token: auditor })).status).toBe(200);
    expectGatewayForbidden(await api('POST', `${base}/activate`, { token: auditor, body: { version: '1.1.0' } }));
  });
});

describe('API key with only twin:predict', () => {
  it('can predict', async () => {
    expect((await api('POST', '/api/v1/twin/predict', { token: predictKey, body: validRow })).status).toBe(200);
  });

  it.each(requests().map((r) => [r.name, r] as const))('cannot %s (403)', async (_name, r) => {
    expectGatewayForbidden(await api(r.method, r.path, { token: predictKey, ...(r.body ? { body: r.body() } : {}) }));
  });

  it('cannot read the alert history (twin:read)', async () => {
    expectGatewayForbidden(await api('GET', '/api/v1/alerts', { token: predictKey }));
  });

  it('routing is unchanged after all of it', routingUnchanged);
});

describe('API key with only models:read', () => {
  it('can list but not activate', async () => {
    expect((await api('GET', '/api/v1/models', { token: readKey })).status).toBe(200);
    expectGatewayForbidden(await api('POST', `${base}/activate`, { token: readKey, body: { version: '1.1.0' } }));
    expectGatewayForbidden(await api('POST', '/api/v1/twin/predict', { token: readKey, body: validRow }));
  });
});

describe('no or forged credentials', () => {
  it.each(requests().map((r) => [r.name, r] as const))('%s without a token → 401', async (_name, r) => {
    const res = await api(r.method, r.path, r.body ? { body: r.body() } : {});
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ message: 'Unauthorized' });
  });

  it('a token signed by a foreign key claiming models:write → 401, nothing activated', async () => {
    const { privateKey } = await foreignRsaKey();
    const [real] = await readSigningKeys(t.dataDir);
    const forged = await signToken(claimsFor(t.url, { scope: 'models:write models:read' }), privateKey, { kid: real!.kid });
    const res = await api('POST', `${base}/activate`, { token: forged, body: { version: '1.1.0' } });
    expect(res.status).toBe(401);
    await routingUnchanged();
  });

  it('a viewer token with its payload edited to add models:write → 401', async () => {
    const [header, payload, signature] = viewer.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const edited = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: `${String(claims.scope)} models:write` })).toString('base64url')}.${signature}`;
    const res = await api('POST', `${base}/activate`, { token: edited, body: { version: '1.1.0' } });
    expect(res.status).toBe(401);
    await routingUnchanged();
  });
});

describe('path handling', () => {
  it.each([
    ['a traversal attempt', '..%2F..%2Fusers'],
    ['an encoded slash', 'reactor-yield%2F1.0.0'],
    ['upper case', 'Reactor-Yield'],
    ['a leading dash', '-reactor'],
  ])('%s as the model name → 400, never a read outside models/', async (_name, raw) => {
    const res = await api('GET', `/api/v1/models/${raw}/versions`, { token: admin });
    expect(res.status, res.text).toBe(400);
    expect(res.json.error.code).toBe('INVALID_REQUEST');
  });
});
