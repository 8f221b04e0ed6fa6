import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithToken } from '../support/identity.js';
import { modelTestEnv } from '../support/models.js';
import { apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

/** The model-addressed routes take the same tokens and scopes as /api/v1/twin/*. */

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startTestTwin({ env: modelTestEnv });
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const routes = [
  ['/api/v1/models/reactor-yield/predict', validRow],
  ['/api/v1/models/reactor-yield/versions/1.0.0/predict', validRow],
  ['/api/v1/models/reactor-yield/batch', { inputs: [validRow] }],
] as const;

describe('authorization', () => {
  it.each(routes)('%s without a token answers 401 and predicts nothing', async (path, body) => {
    // Act
    const res = await api('POST', path, { body });

    // Assess
    expect(res.status).toBe(401);
    expect(res.text).not.toMatch(/prediction/);
  });

  it.each(routes)('%s with a viewer token (no twin:predict) answers 403', async (path, body) => {
    // Prepare
    const viewer = await userWithToken(api, token, { username: `viewer-${path.length}-${path.split('/').length}`, role: 'viewer' });

    // Act
    const res = await api('POST', path, { token: viewer.token, body });

    // Assess
    expect(res.status).toBe(403);
  });

  it('an operator may predict with any platform model by name', async () => {
    // Prepare
    const operator = await userWithToken(api, token, { username: 'operator-1', role: 'operator' });

    // Act
    const res = await api('POST', '/api/v1/models/reactor-yield/predict', { token: operator.token, body: validRow });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json.user).toBe('operator-1');
  });
});
