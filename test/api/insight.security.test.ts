import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, relaxedLoginEnv, scanTable, userWithToken } from '../support/identity.js';
import { apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startTestTwin({ env: { ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' } });
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const sweep100 = { x: { feature: 'temp', steps: 100 }, y: { feature: 'pressure', steps: 100 }, fixed: { flow: 100 } };
const routes = [
  ['/api/v1/models/reactor-yield/explain', { inputs: [validRow] }],
  ['/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp', steps: 3 }, fixed: { pressure: 6, flow: 100 } }],
  ['/api/v1/models/reactor-yield/optimize', { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, max_evaluations: 100 }],
] as const;

describe('insight routes need twin:predict', () => {
  it.each(routes)('%s: no token 401, a viewer 403, an operator 200', async (path, body) => {
    expect((await api('POST', path, { body })).status).toBe(401);
    const viewer = await userWithToken(api, admin, { username: `viewer-${path.split('/').pop()}`, role: 'viewer' });
    expect((await api('POST', path, { token: viewer.token, body })).status).toBe(403);
    const operator = await userWithToken(api, admin, { username: `operator-${path.split('/').pop()}`, role: 'operator' });
    const res = await api('POST', path, { token: operator.token, body });
    expect(res.status, res.text).toBe(200);
  });
});

describe('cost is charged to the caller before any inference', () => {
  it('a 100 × 100 sweep is refused (429) for a key whose limit cannot cover its 100 units, and the refusal is audited', async () => {
    const key = await createKey(api, admin, { name: 'small-limit', rate_limit_per_minute: 50 });
    const token = await keyToken(api, key.key);
    const res = await api('POST', '/api/v1/models/reactor-yield/sweep', { token, body: sweep100 });
    expect(res.status, res.text).toBe(429);
    expect(res.json.error.code).toBe('RATE_LIMITED');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    // A small sweep still fits.
    const small = await api('POST', '/api/v1/models/reactor-yield/sweep', { token, body: { ...sweep100, x: { feature: 'temp', steps: 10 }, y: { feature: 'pressure', steps: 10 } } });
    expect(small.status, small.text).toBe(200);
    const audit = await scanTable(t, 'AuditLog');
    const actions = audit.filter((r) => r.keyId === key.id).map((r) => [r.action, r.outcome]);
    expect(actions).toContainEqual(['twin.sweep', 429]);
    expect(actions).toContainEqual(['twin.sweep', 200]);
  });

  it('an optimizer budget above what the key has left is refused whole', async () => {
    const key = await createKey(api, admin, { name: 'optimizer-limit', rate_limit_per_minute: 20 });
    const token = await keyToken(api, key.key);
    const res = await api('POST', '/api/v1/models/reactor-yield/optimize', { token, body: { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, max_evaluations: 5000 } });
    expect(res.status, res.text).toBe(429);
  });

  it('answers never carry internals, and the explanation names only the model’s features', async () => {
    const res = await api('POST', '/api/v1/models/reactor-yield/explain', { token: admin, body: { inputs: [validRow] } });
    expect(res.text).not.toMatch(/\/work\/|\.onnx|sha256/);
    expect(Object.keys(res.json.results[0].contributions)).toEqual(['temp', 'pressure', 'flow']);
  });
});
