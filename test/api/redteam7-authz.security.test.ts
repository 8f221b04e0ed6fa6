import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole, type Scope } from '../../functions/core/auth/roles.js';
import { needsFreshPrincipal, refusesKeyTokens, routeKey, routes, type RouteDef } from '../../functions/routes.js';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { modelName as shared, modelTestEnv, publishBody, referencePackage, variantStats, type TestPackage } from '../support/models.js';
import { apiClient, claimsFor, login, nowSeconds, readSigningKeys, signToken, startTestTwin, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * The seventh hostile review: authorization and tenancy swept over EVERY route of functions/routes.ts (the
 * table is imported: a route added later is called here too, or the test fails naming it). Each route is
 * called with no token, a garbled and an expired token, plant south's viewer, operator, auditor and admin,
 * and south API keys of one scope each; where it takes a {name}/{id}/{username}, aimed at plant NORTH's
 * model, key and user. Expected: 401 without a valid token; 403 without one of the route's scopes (and for a
 * key token on user and key administration); north's resources answer exactly as ones that do not exist
 * (docs/security.md: 404 MODEL_NOT_FOUND, someone else's key 404); and no answer to south names anything of
 * north's. A user deactivated by an admin and a revoked key are refused on every route: administration
 * routes at once, the rest once the twin's clock passes the principal-cache bound (moved, not waited for).
 */

const bound = 10_000; // TWIN_PRINCIPAL_CACHE_SECONDS default (docs/security.md, "The bound")
const north = { model: 'rt7-n-line', viewer: 'rt7-n-viewer', operator: 'rt7-n-op', admin: 'rt7-n-admin', keyId: '', keyName: 'rt7 north historian' };
const unknown = { model: 'rt7-nowhere-line', user: 'rt7-nobody', keyId: 'aaaaaaaaaaaa' };
const row = { temp: 360, pressure: 6, flow: 100 };
const oipRow = { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [360, 6, 100] }] };

interface Caller {
  label: string;
  token: string;
  scopes: readonly Scope[];
  key: boolean;
}

let t: TestTwin;
let api: Api;
let root: string;
let northPackage: TestPackage;
const south: Record<string, Caller> = {};
const anonymous: { label: string; token?: string }[] = [];

/** A route's path aimed at north's resources (or at ones that do not exist). */
function fill(route: RouteDef, target: 'north' | 'unknown'): string {
  return route.path
    .replace('{name}', target === 'north' ? north.model : unknown.model)
    .replace('{version}', '1.0.0')
    .replace('{id}', target === 'north' ? north.keyId : unknown.keyId)
    .replace('{username}', target === 'north' ? north.viewer : unknown.user);
}

/** A body each route would accept, aimed at north where it names a plant or a principal. */
function bodyFor(route: RouteDef, target: 'north' | 'unknown'): unknown {
  const name = target === 'north' ? north.model : unknown.model;
  switch (route.action) {
    case 'twin.predict':
      return row;
    case 'twin.batch':
    case 'twin.explain':
      return { inputs: [row] };
    case 'twin.sweep':
      return { x: { feature: 'temp', steps: 5 }, fixed: { pressure: 6, flow: 100 } };
    case 'twin.optimize':
      return { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, max_evaluations: 100 };
    case 'twin.infer':
      return oipRow;
    case 'models.publish':
      return publishBody({ ...northPackage, manifest: { ...northPackage.manifest, name, version: '9.0.0' } });
    case 'models.activate':
      return { version: '1.0.0' };
    case 'models.routing':
      return { variants: [{ version: '1.0.0', weight: 1 }] };
    case 'models.feedback':
      return { observations: [{ inputs: row, time: new Date(t.clock.now()).toISOString(), value: 80 }] };
    case 'models.calibrate':
      return { rows: Array.from({ length: 20 }, (_, i) => ({ inputs: { ...row, temp: 340 + i }, value: 80 })) };
    case 'users.update':
      return { active: false };
    case 'users.password':
      return { password: 'rt7-a-new-password-0123', current_password: 'rt7-wrong-password-0123' };
    case 'users.create':
      return { username: 'rt7-planted', password: 'pw-rt7-planted-0123456789', role: 'admin', plant: 'north' };
    case 'keys.create':
      return { name: 'rt7 probe', owner: north.operator, scopes: ['twin:read'], expires_in_days: 1 };
    case 'audit.import':
      return { edge: 'rt7-box', audit: [{ time: new Date(t.clock.now() - 1000).toISOString(), requestId: 'rt7-req', principal: north.operator, principalType: 'user', plant: 'north', action: 'twin.predict', method: 'POST', resource: '/api/v1/twin/predict', outcome: 200 }] };
    default:
      return undefined;
  }
}

/** Queries that aim a route's list at north where it takes one. */
const queries: Record<string, string> = {
  'audit.query': `?principal=${north.operator}`,
  'alerts.list': `?model=${north.model}`,
};

function call(route: RouteDef, token: string | undefined, target: 'north' | 'unknown' = 'north'): Promise<ApiResponse> {
  const body = bodyFor(route, target);
  const query = target === 'north' ? (queries[route.action] ?? '') : '';
  return api(route.method, fill(route, target) + query, { ...(token !== undefined ? { token } : {}), ...(body !== undefined ? { body } : {}) });
}

const hasParam = (route: RouteDef) => /\{(name|id|username)\}/.test(route.path);
const needs = (route: RouteDef): readonly Scope[] => (route.auth === 'public' ? [] : route.auth.scopes);
const admitted = (route: RouteDef, c: Caller) => needs(route).some((s) => c.scopes.includes(s)) && !(c.key && refusesKeyTokens(route));

/** What south must never read: north's model, users, key and plant, unless the request itself named it. */
function expectNoLeak(res: ApiResponse, route: RouteDef, label: string): void {
  const sent = fill(route, 'north') + (queries[route.action] ?? '') + JSON.stringify(bodyFor(route, 'north') ?? '');
  for (const secret of [north.model, north.viewer, north.operator, north.admin, north.keyId, north.keyName, 'north']) {
    if (!sent.includes(secret)) expect(res.text, `${label} ${routeKey(route)} leaks ${secret}`).not.toContain(secret);
  }
}

/** The error code of an envelope or of the gateway's `{message}`. */
const codeOf = (res: ApiResponse): string | undefined => (typeof res.json?.error === 'string' ? res.json.code : (res.json?.error?.code ?? res.json?.message));
const withoutRequestId = (res: ApiResponse): string => res.text.replace(/"requestId":"[^"]*"/g, '').replaceAll(unknown.model, north.model).replaceAll(unknown.user, north.viewer).replaceAll(unknown.keyId, north.keyId);

const authenticated = routes.filter((r) => r.auth !== 'public');

/**
 * What a south caller holding the scope gets from each route that takes no {name}/{id}/{username}, with the
 * body and query above (aimed at north where they name a plant, a principal or a model). A route added to the
 * table without a line here fails the sweep, naming it.
 */
const servedStatus: Record<string, number> = {
  'twin.predict': 200,
  'twin.batch': 200,
  'twin.status': 200,
  'model.info': 200,
  'metrics.read': 200,
  'keys.create': 403, // a key for north's operator
  'keys.list': 200,
  'users.create': 403, // a user of plant north, by south's admin
  'users.list': 200,
  'audit.query': 200, // north's operator's records: none for south
  'audit.import': 403, // a record of north's operator, by south's admin
  'models.list': 200,
  'alerts.list': 404, // ?model= north's model: as unknown
  'server.metadata': 200,
};

beforeAll(async () => {
  t = await startTestTwin({ env: modelTestEnv });
  api = apiClient(t.url);
  root = await login(api);
  const user = async (name: string, role: 'admin' | 'operator' | 'viewer' | 'auditor', plant: string) => (await userWithToken(api, root, { username: name, role, plant })).token;
  const northAdmin = await user(north.admin, 'admin', 'north');
  await user(north.viewer, 'viewer', 'north');
  const northOp = await user(north.operator, 'operator', 'north');
  north.keyId = (await createKey(api, northOp, { name: north.keyName, scopes: ['twin:predict'] })).id;
  northPackage = await referencePackage();
  const published = await api('POST', `/api/v1/models/${north.model}/versions`, { token: northAdmin, body: publishBody({ ...northPackage, manifest: { ...northPackage.manifest, name: north.model, version: '1.0.0' } }) });
  expect(published.status, published.text).toBe(201);
  expect((await api('POST', `/api/v1/models/${north.model}/activate`, { token: northAdmin, body: { version: '1.0.0' } })).status).toBe(200);
  for (const model of [north.model, shared, shared]) expect((await api('POST', `/api/v1/models/${model}/predict`, { token: northOp, body: row })).status).toBe(200);

  for (const role of ['viewer', 'operator', 'auditor', 'admin'] as const) {
    south[role] = { label: `south ${role}`, token: await user(`rt7-s-${role}`, role, 'south'), scopes: scopesForRole(role), key: false };
  }
  for (const scope of ['twin:read', 'models:read', 'twin:predict', 'twin:feedback', 'models:write', 'audit:read'] as const) {
    const owner = scope === 'models:write' || scope === 'audit:read' ? south.admin! : south.operator!;
    const key = await createKey(api, owner.token, { name: `rt7 ${scope}`, scopes: [scope] });
    south[scope] = { label: `south key ${scope}`, token: await keyToken(api, key.key), scopes: [scope], key: true };
  }
  const [signing] = await readSigningKeys(t.dataDir);
  const past = nowSeconds() - 3600;
  const expired = await signToken(claimsFor(t.url, { sub: 'rt7-s-admin', role: 'admin', plant: 'south', scope: scopesForRole('admin').join(' '), iat: past, nbf: past, exp: past + 600 }), signing!.key, { kid: signing!.kid });
  anonymous.push({ label: 'no token' }, { label: 'garbled token', token: 'rt7.garbled.token' }, { label: 'expired token', token: expired }, { label: 'admin token cut short', token: root.slice(0, -8) });
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('every route of the table, as every caller of plant south', () => {
  it('the sweep covers the whole table (a new route is called here or this names it)', () => {
    const known = new Set(['public-info', 'discovery', 'auth', 'docs']);
    const publicRoutes = routes.filter((r) => r.auth === 'public');
    // Public routes must be public by design: the probes, discovery, login and the API's description only.
    expect(publicRoutes.filter((r) => !known.has(r.function) && !r.path.startsWith('/v2/health/')).map(routeKey)).toEqual([]);
    expect(authenticated.length).toBeGreaterThanOrEqual(40);
  });

  it('public routes name nothing of north’s; south’s figures count none of north’s traffic on the shared model', async () => {
    for (const route of routes.filter((r) => r.auth === 'public' && r.method === 'GET')) {
      const res = await call(route, undefined);
      expect(res.status, `${routeKey(route)}: ${res.text.slice(0, 200)}`).toBe(200);
      expectNoLeak(res, route, 'anonymous');
    }
    for (const c of [south.viewer!, south['twin:read']!]) {
      const metrics = await api('GET', '/metrics', { token: c.token });
      expect([metrics.status, metrics.json.total_requests], `${c.label}: ${metrics.text}`).toEqual([200, 0]);
    }
    const stats = await variantStats(api, south.viewer!.token);
    expect(stats.reduce((n, v) => n + v.requests, 0)).toBe(0);
    expect((await variantStats(api, root)).reduce((n, v) => n + v.requests, 0)).toBe(2);
  });

  it('without a valid token every authenticated route answers 401 Unauthorized and nothing else', async () => {
    for (const route of authenticated) {
      for (const a of anonymous) {
        const res = await call(route, a.token);
        expect(res.status, `${a.label} ${routeKey(route)}: ${res.text}`).toBe(401);
        expect(res.json, `${a.label} ${routeKey(route)}`).toEqual({ message: 'Unauthorized' });
      }
    }
  });

  it('without one of the route’s scopes (or a key token on user and key administration): 403 before the function runs', async () => {
    for (const route of authenticated) {
      for (const c of Object.values(south)) {
        if (admitted(route, c)) continue;
        const res = await call(route, c.token);
        expect(res.status, `${c.label} ${routeKey(route)}: ${res.text}`).toBe(403);
        expect(res.text, `${c.label} ${routeKey(route)}`).not.toContain('rt7-n');
      }
    }
  });

  it('north’s model, key and user answer a south caller holding the scope exactly as ones that do not exist', async () => {
    const creates = new Set(['models.publish', 'models.upload']); // a free name is claimed (201): compared by code only
    for (const route of authenticated.filter(hasParam)) {
      for (const c of Object.values(south)) {
        if (!admitted(route, c)) continue;
        const label = `${c.label} ${routeKey(route)}`;
        const res = await call(route, c.token, 'north');
        expect(res.status, `${label}: ${res.text}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${label}: ${res.text}`).toBeLessThan(500);
        if (route.path.includes('{name}')) expect([res.status, codeOf(res)], `${label}: ${res.text}`).toEqual([404, 'MODEL_NOT_FOUND']);
        if (route.path.includes('{id}')) expect([res.status, codeOf(res)], `${label}: ${res.text}`).toEqual([404, 'NOT_FOUND']);
        if (!creates.has(route.action)) {
          const missing = await call(route, c.token, 'unknown');
          expect(withoutRequestId(res), label).toBe(withoutRequestId(missing));
        }
        expectNoLeak(res, route, c.label);
      }
    }
  });

  it('routes without a target: south callers holding the scope are served, and nothing of north’s is in the answer', async () => {
    for (const route of authenticated.filter((r) => !hasParam(r))) {
      for (const c of Object.values(south)) {
        if (!admitted(route, c)) continue;
        const res = await call(route, c.token);
        expect(res.status, `${c.label} ${routeKey(route)} (add it to servedStatus): ${res.text}`).toBe(servedStatus[route.action]);
        expectNoLeak(res, route, c.label);
      }
    }
  });

  it('north is unchanged by all of it: its user active, its key live, its model serving', async () => {
    const users = (await api('GET', '/api/v1/users', { token: root })).json.users as { username: string; active: boolean }[];
    expect(users.find((u) => u.username === north.viewer)?.active).toBe(true);
    expect(users.map((u) => u.username)).not.toContain('rt7-planted');
    const keys = (await api('GET', '/api/v1/keys', { token: root })).json.keys as { id: string; status: string }[];
    expect(keys.find((k) => k.id === north.keyId)?.status).toBe('active');
    const versions = await api('GET', `/api/v1/models/${north.model}/versions`, { token: root });
    expect(versions.json.active, versions.text).toBe('1.0.0');
  });
});

describe('a deactivated user and a revoked key lose every route', () => {
  it('PATCH active=false: administration routes refuse at once, every route once the clock passes the bound', async () => {
    const victim = await userWithToken(api, root, { username: 'rt7-s-leaver', role: 'admin', plant: 'south' });
    const c: Caller = { label: 'deactivated admin', token: victim.token, scopes: scopesForRole('admin'), key: false };
    expect((await api('GET', '/api/v1/twin/status', { token: c.token })).status).toBe(200);
    expect((await api('PATCH', '/api/v1/users/rt7-s-leaver', { token: root, body: { active: false } })).status).toBe(200);
    for (const route of authenticated.filter((r) => needsFreshPrincipal(r))) {
      const res = await call(route, c.token, 'unknown');
      expect([res.status, codeOf(res)], `at once: ${routeKey(route)}: ${res.text}`).toEqual([401, 'UNAUTHORIZED']);
    }
    t.clock.advance(bound + 1);
    for (const route of authenticated) {
      const res = await call(route, c.token, 'unknown');
      expect([res.status, codeOf(res)], `after the bound: ${routeKey(route)}: ${res.text}`).toEqual([401, 'UNAUTHORIZED']);
    }
  });

  it('a revoked key: model writes refuse at once, every route it held a scope for once the clock passes the bound, 403 elsewhere', async () => {
    const owner = await userWithToken(api, root, { username: 'rt7-s-keeper', role: 'admin', plant: 'south' });
    const key = await createKey(api, owner.token, { name: 'rt7 revoked' }); // every scope a key of an admin may carry
    const c: Caller = { label: 'revoked key', token: await keyToken(api, key.key), scopes: key.scopes as Scope[], key: true };
    expect(c.scopes).toContain('models:write');
    expect((await api('GET', '/api/v1/twin/status', { token: c.token })).status).toBe(200);
    expect((await api('DELETE', `/api/v1/keys/${key.id}`, { token: owner.token })).status).toBe(200);
    for (const route of authenticated.filter((r) => needsFreshPrincipal(r) && admitted(r, c))) {
      const res = await call(route, c.token, 'unknown');
      expect([res.status, codeOf(res)], `at once: ${routeKey(route)}: ${res.text}`).toEqual([401, 'KEY_REVOKED']);
    }
    t.clock.advance(bound + 1);
    for (const route of authenticated) {
      const res = await call(route, c.token, 'unknown');
      if (admitted(route, c)) expect([res.status, codeOf(res)], `${routeKey(route)}: ${res.text}`).toEqual([401, 'KEY_REVOKED']);
      else expect(res.status, `${routeKey(route)}: ${res.text}`).toBe(403);
    }
  });
});
