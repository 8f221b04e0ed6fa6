import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelTestEnv } from '../support/models.js';
import { apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

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

const cases: [string, string, unknown, number, string, string][] = [
  ['predict', '/api/v1/twin/predict', { ...validRow, explain: 'yes' }, 400, 'explain', 'type'],
  ['explain', '/api/v1/models/reactor-yield/explain', { inputs: [] }, 400, 'inputs', 'min'],
  ['explain', '/api/v1/models/reactor-yield/explain', { inputs: Array(101).fill(validRow) }, 400, 'inputs', 'max'],
  ['explain', '/api/v1/models/reactor-yield/explain', { inputs: [validRow, { ...validRow, temp: 500 }] }, 400, 'inputs.1.temp', 'range'],
  ['explain', '/api/v1/models/reactor-yield/explain', { inputs: [{ ...validRow, heat: 1 }] }, 400, 'inputs.0.heat', 'unknown_field'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'heat' }, fixed: {} }, 400, 'x.feature', 'unknown_feature'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp', steps: 1000 }, fixed: {} }, 400, 'x.steps', 'max'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp', max: 401 }, fixed: { pressure: 6, flow: 100 } }, 400, 'x', 'range'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp' }, y: { feature: 'temp' }, fixed: {} }, 400, 'y.feature', 'distinct'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp' }, fixed: { pressure: 6 } }, 400, 'fixed.flow', 'required'],
  ['sweep', '/api/v1/models/reactor-yield/sweep', { x: { feature: 'temp' } }, 400, 'fixed', 'required'],
  ['optimize', '/api/v1/models/reactor-yield/optimize', { vary: {}, fixed: {} }, 400, 'vary', 'required'],
  ['optimize', '/api/v1/models/reactor-yield/optimize', { vary: { temp: { min: 390, max: 310 } }, fixed: { pressure: 6, flow: 100 } }, 400, 'vary.temp', 'range'],
  ['optimize', '/api/v1/models/reactor-yield/optimize', { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, max_evaluations: 1e9 }, 400, 'max_evaluations', 'max'],
  ['optimize', '/api/v1/models/reactor-yield/optimize', { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, constraints: [{ target: 'median', op: '>=', value: 1 }] }, 400, 'constraints.0.target', 'enum'],
  ['optimize', '/api/v1/models/reactor-yield/optimize', { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, goal: 'up' }, 400, 'goal', 'enum'],
];

describe('bad requests get a 400 naming the field and the rule', () => {
  it.each(cases.map(([what, path, body, status, field, rule]) => [what, status, field, rule, path, body] as const))('%s -> %i %s (%s)', async (_what, status, field, rule, path, body) => {
    const res = await api('POST', path, { token, body });
    expect(res.status, res.text).toBe(status);
    expect(res.json.error.issues).toContainEqual(expect.objectContaining({ field, rule }));
    expect(res.text).not.toMatch(/\/work\/|at .*\.ts:/);
  });

  it('an unknown model is 404 MODEL_NOT_FOUND on every insight route', async () => {
    for (const route of ['explain', 'sweep', 'optimize']) {
      const res = await api('POST', `/api/v1/models/no-such-model/${route}`, {
        token,
        body: route === 'explain' ? { inputs: [validRow] } : route === 'sweep' ? { x: { feature: 'temp' }, fixed: {} } : { vary: { temp: {} }, fixed: {} },
      });
      expect(res.status, res.text).toBe(404);
      expect(res.json.error.code).toBe('MODEL_NOT_FOUND');
    }
  });

  it('a malformed model name is 400 before any lookup', async () => {
    const res = await api('POST', '/api/v1/models/NOT_A_NAME/sweep', { token, body: { x: { feature: 'temp' }, fixed: {} } });
    expect(res.status, res.text).toBe(400);
  });
});
