import { exportJWK, exportSPKI, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteDef } from '../../functions/routes.js';
import {
  apiClient,
  claimsFor,
  foreignRsaKey,
  login,
  nowSeconds,
  payloadOf,
  rawToken,
  readSigningKeys,
  signToken,
  startTestTwin,
  validRow,
  withPayload,
  type Api,
  type ApiResponse,
  type SigningKey,
  type TestTwin,
} from '../support/twin.js';

let t: TestTwin;
let api: Api;
let token: string;
let signing: SigningKey;
let foreign: { privateKey: CryptoKey; publicKey: CryptoKey };

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  token = await login(api);
  const keys = await readSigningKeys(t.dataDir);
  signing = keys[0]!;
  foreign = await foreignRsaKey();
});

afterAll(async () => {
  await t?.stop();
});

/** A token signed with the twin's own key and kid: valid unless `overrides` break a claim. */
function realToken(overrides: Record<string, unknown> = {}): Promise<string> {
  return signToken(claimsFor(t.url, overrides), signing.key, { kid: signing.kid });
}

const predict = (bearer: string) => api('POST', '/api/v1/twin/predict', { token: bearer, body: validRow });

function expectUnauthorized(res: ApiResponse): void {
  expect(res.status, res.text).toBe(401);
  expect(res.json).toEqual({ message: 'Unauthorized' });
}

function expectForbidden(res: ApiResponse): void {
  expect(res.status, res.text).toBe(403);
  expect(res.json).toEqual({ message: 'Forbidden' });
}

describe('the token forgery kit is sound', () => {
  it('a token minted with the real key and valid claims is accepted', async () => {
    const res = await predict(await realToken());
    expect(res.status).toBe(200);
    expect(res.json.user).toBe('admin');
  });

  it('the login token is accepted', async () => {
    expect((await predict(token)).status).toBe(200);
  });

  it('an audience array that includes ours is accepted (as API Gateway does)', async () => {
    expect((await predict(await realToken({ aud: ['someone-else', 'twinserve-local'] }))).status).toBe(200);
  });
});

describe('401 {"message":"Unauthorized"} from the authorizer', () => {
  it('no Authorization header', async () => {
    expectUnauthorized(await api('POST', '/api/v1/twin/predict', { body: validRow }));
  });

  it.each([
    ['an empty bearer', 'Bearer '],
    ['garbage', 'Bearer not-a-jwt'],
    ['three garbage segments', 'Bearer aaa.bbb.ccc'],
    ['a Basic credential', `Basic ${Buffer.from('admin:test-admin-password-1').toString('base64')}`],
  ])('%s', async (_case, authorization) => {
    expectUnauthorized(await api('POST', '/api/v1/twin/predict', { body: validRow, headers: { authorization } }));
  });

  it('an expired token (validly signed, exp in the past)', async () => {
    const now = nowSeconds();
    expectUnauthorized(await predict(await realToken({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })));
  });

  it('a token without exp', async () => {
    expectUnauthorized(await predict(await realToken({ exp: undefined })));
  });

  it('nbf in the future', async () => {
    expectUnauthorized(await predict(await realToken({ nbf: nowSeconds() + 3600 })));
  });

  it('iat in the future', async () => {
    const now = nowSeconds();
    expectUnauthorized(await predict(await realToken({ iat: now + 3600, nbf: now - 60 })));
  });

  it('signed by another RSA key with the real kid', async () => {
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), foreign.privateKey, { kid: signing.kid })));
  });

  it('signed by another RSA key with an unknown kid', async () => {
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), foreign.privateKey, { kid: 'attacker-key-1' })));
  });

  it('HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const pem = await exportSPKI(await publishedPublicKey());
    const hs = await signToken(claimsFor(t.url), new TextEncoder().encode(pem), { alg: 'HS256', kid: signing.kid });
    expectUnauthorized(await predict(hs));
  });

  it('signed by another RSA key that the header embeds as jwk', async () => {
    const jwk = { ...(await exportJWK(foreign.publicKey)), kid: signing.kid, alg: 'RS256', use: 'sig' };
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), foreign.privateKey, { kid: signing.kid, jwk })));
  });

  it('signed by another RSA key that the header points to with jku', async () => {
    const jku = `${t.url}/.well-known/attacker-jwks.json`;
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), foreign.privateKey, { kid: 'attacker-key-2', jku })));
  });

  it('alg none', async () => {
    expectUnauthorized(await predict(rawToken({ alg: 'none', typ: 'JWT', kid: signing.kid }, claimsFor(t.url) as Record<string, unknown>)));
  });

  it('alg none with a signature left on', async () => {
    const signature = (await realToken()).split('.')[2];
    expectUnauthorized(await predict(rawToken({ alg: 'none', kid: signing.kid }, claimsFor(t.url) as Record<string, unknown>, signature)));
  });

  it('an EC (ES256) token: the authorizer takes RSA only', async () => {
    const ec = await generateKeyPair('ES256');
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), ec.privateKey, { alg: 'ES256', kid: signing.kid })));
  });

  it('RS256 header with the real key but no kid', async () => {
    expectUnauthorized(await predict(await signToken(claimsFor(t.url), signing.key)));
  });

  it.each([
    ['another audience', { aud: 'someone-else' }],
    ['no audience', { aud: undefined }],
    ['an audience array without ours', { aud: ['someone-else', 'twinserve'] }],
  ])('wrong audience: %s', async (_case, overrides) => {
    expectUnauthorized(await predict(await realToken(overrides)));
  });

  it.each([
    ['another issuer', () => ({ iss: 'https://evil.example' })],
    ['the issuer with a trailing slash', () => ({ iss: `${t.url}/` })],
    ['the issuer over https', () => ({ iss: t.url.replace('http:', 'https:') })],
    ['localhost instead of 127.0.0.1', () => ({ iss: t.url.replace('127.0.0.1', 'localhost') })],
    ['no issuer', () => ({ iss: undefined })],
  ])('wrong issuer: %s', async (_case, overrides) => {
    expectUnauthorized(await predict(await realToken(overrides())));
  });

  it('a tampered payload (scope widened, signature kept)', async () => {
    const narrow = await realToken({ scope: 'twin:read' });
    expect((await predict(narrow)).status).toBe(403);
    expectUnauthorized(await predict(withPayload(narrow, { ...payloadOf(narrow), scope: 'twin:predict twin:read' })));
  });

  it('a tampered login token (sub changed, signature kept)', async () => {
    expectUnauthorized(await predict(withPayload(token, { ...payloadOf(token), sub: 'someone-else' })));
  });

  it('a token with its signature stripped', async () => {
    const [header, payload] = token.split('.');
    expectUnauthorized(await predict(`${header}.${payload}.`));
  });
});

describe('claims the authorizer accepts but the function refuses', () => {
  it.each([
    ['an unknown role', { role: 'root' }],
    ['no role', { role: undefined }],
    ['no sub', { sub: undefined }],
  ])('%s is 401', async (_case, overrides) => {
    const res = await predict(await realToken(overrides));
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('UNAUTHORIZED');
  });
});

describe('403 {"message":"Forbidden"} for a valid token without the route scope', () => {
  it('scope twin:read on predict', async () => {
    expectForbidden(await predict(await realToken({ scope: 'twin:read' })));
  });

  it('scope twin:read on batch and on the microservice predict', async () => {
    const readOnly = await realToken({ scope: 'twin:read' });
    expectForbidden(await api('POST', '/api/v1/twin/batch', { token: readOnly, body: { inputs: [validRow] } }));
    expectForbidden(await api('POST', '/predict', { token: readOnly, body: validRow }));
  });

  it('scope twin:predict on the read routes', async () => {
    const predictOnly = await realToken({ scope: 'twin:predict' });
    for (const path of ['/api/v1/twin/status', '/model/info', '/metrics']) {
      expectForbidden(await api('GET', path, { token: predictOnly }));
    }
    expect((await predict(predictOnly)).status).toBe(200);
  });

  it('a scope that only looks like twin:predict', async () => {
    expectForbidden(await predict(await realToken({ scope: 'twin:predictx twin:* TWIN:PREDICT' })));
  });

  it('no scope claim', async () => {
    expectForbidden(await predict(await realToken({ scope: undefined })));
  });
});

describe('the route table', () => {
  const isPublic = (r: RouteDef) => r.auth === 'public';
  const protectedRoutes = routes.filter((r) => !isPublic(r));
  const publicRoutes = routes.filter(isPublic);
  const concrete = (path: string) => path.replace(/\{(\w+)\+?\}/g, (_, name: string) => `test-${name}`);
  const label = (r: RouteDef) => `${r.method} ${r.path}`;

  it('makes public only /health, /.well-known/*, the auth routes (login among them), the API description and the inference-protocol probes', () => {
    // The OpenAPI document and its page hold no data; /v2/health/{live,ready} are Kubernetes-style probes (Open Inference Protocol).
    publicRoutes.forEach((r) =>
      expect(label(r)).toMatch(/^(GET \/health|GET \/\.well-known\/.+|POST \/api\/v1\/auth\/[a-z]+|GET \/openapi\.json|GET \/docs|GET \/v2\/health\/(live|ready))$/),
    );
    expect(publicRoutes.map(label)).toEqual(
      expect.arrayContaining(['GET /health', 'GET /.well-known/openid-configuration', 'GET /.well-known/jwks.json', 'POST /api/v1/auth/login']),
    );
    expect(protectedRoutes.map(label)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/twin/predict',
        'POST /api/v1/twin/batch',
        'GET /api/v1/twin/status',
        'POST /predict',
        'GET /model/info',
        'GET /metrics',
      ]),
    );
    protectedRoutes.forEach((r) => expect(r.auth !== 'public' && r.auth.scopes.length).toBeGreaterThan(0));
  });

  it.each(protectedRoutes.map((r) => [label(r), r] as const))('%s rejects a request without a token: 401', async (_label, route) => {
    const res = await api(route.method, concrete(route.path), route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} });
    expectUnauthorized(res);
  });

  it.each(protectedRoutes.map((r) => [label(r), r] as const))('%s rejects a forged token: 401', async (_label, route) => {
    const forged = await signToken(claimsFor(t.url, { scope: route.auth === 'public' ? '' : route.auth.scopes.join(' ') }), foreign.privateKey, {
      kid: signing.kid,
    });
    const res = await api(route.method, concrete(route.path), route.method === 'GET' || route.method === 'DELETE' ? { token: forged } : { token: forged, body: {} });
    expectUnauthorized(res);
  });

  it.each(protectedRoutes.map((r) => [label(r), r] as const))('%s rejects a valid token without scopes: 403', async (_label, route) => {
    const noScopes = await realToken({ scope: '' });
    const res = await api(route.method, concrete(route.path), route.method === 'GET' || route.method === 'DELETE' ? { token: noScopes } : { token: noScopes, body: {} });
    expectForbidden(res);
  });

  it.each(publicRoutes.map((r) => [label(r), r] as const))('%s answers without a token (reaches its function)', async (_label, route) => {
    const res = await api(route.method, concrete(route.path), route.method === 'POST' ? { body: {} } : {});
    expect(res.status).not.toBe(403);
    expect(res.json).not.toEqual({ message: 'Unauthorized' });
    expect(res.headers.get('x-request-id')).toBeTruthy(); // set by the function, not by the gateway
  });

  it('the public routes give their real answers without a token', async () => {
    expect((await api('GET', '/health')).status).toBe(200);
    expect((await api('GET', '/.well-known/openid-configuration')).status).toBe(200);
    expect((await api('GET', '/.well-known/jwks.json')).status).toBe(200);
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'test-admin-password-1' } });
    expect(res.status).toBe(200);
    expect(typeof res.json.token).toBe('string');
  });
});

/** The twin's public signing key, as its JWKS publishes it. */
async function publishedPublicKey(): Promise<CryptoKey> {
  const jwks = (await api('GET', '/.well-known/jwks.json')).json as { keys: JWK[] };
  const jwk = jwks.keys.find((k) => k.kid === signing.kid);
  expect(jwk).toBeDefined();
  return (await importJWK(jwk!, 'RS256')) as CryptoKey;
}
