import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moveToFreshRateWindow } from '../support/identity.js';
import { packagedSklearnForest } from '../support/insight.js';
import { modelTestEnv, publishBody } from '../support/models.js';
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

const sum = (r: Record<string, number>) => Object.values(r).reduce((s, v) => s + v, 0);

describe('explanations', () => {
  it('predict with explain: true adds TreeSHAP contributions that add up to the prediction', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token, body: { ...validRow, explain: true } });
    expect(res.status, res.text).toBe(200);
    const e = res.json.explanation;
    expect(e.method.method).toBe('tree-shap-interventional');
    expect(e.method.background.kind).toBe('uniform-box');
    expect(Object.keys(e.contributions)).toEqual(['temp', 'pressure', 'flow']);
    expect(Math.abs(e.expected_value + sum(e.contributions) - res.json.prediction)).toBeLessThan(1e-4);
    // Without the flag, the answer is the chapter's (no explanation), and the same prediction.
    const plain = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(plain.json.explanation).toBeUndefined();
    expect(plain.json.prediction).toBe(res.json.prediction);
  });

  it.each([`/api/v1/models/reactor-yield/predict`, `/api/v1/models/reactor-yield/versions/1.0.0/predict`])('%s takes explain: true too', async (path) => {
    const res = await api('POST', path, { token, body: { ...validRow, explain: true } });
    expect(res.status, res.text).toBe(200);
    const e = res.json.explanation;
    expect(e.method.method).toBe('tree-shap-interventional');
    expect(Math.abs(e.expected_value + sum(e.contributions) - res.json.prediction)).toBeLessThan(1e-4);
  });

  it('POST /api/v1/models/{name}/explain explains a batch, each row adding up to its prediction', async () => {
    const inputs = [validRow, { temp: 310, pressure: 2, flow: 60 }, { temp: 395, pressure: 9.5, flow: 140 }];
    const res = await api('POST', '/api/v1/models/reactor-yield/explain', { token, body: { inputs } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.model).toEqual({ name: 'reactor-yield', version: '1.0.0' });
    expect(res.json.results).toHaveLength(3);
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs } });
    res.json.results.forEach((r: { index: number; prediction: number; expected_value: number; contributions: Record<string, number> }, i: number) => {
      expect(r.index).toBe(i);
      expect(r.prediction).toBe(batch.json.results[i].prediction);
      expect(Math.abs(r.expected_value + sum(r.contributions) - r.prediction)).toBeLessThan(1e-4);
    });
  });
});

describe('sweeps', () => {
  it('a 2-D sweep answers the grid, which equals predictions at its points, with the alert band', async () => {
    const body = { x: { feature: 'temp', steps: 6 }, y: { feature: 'pressure', steps: 4 }, fixed: { flow: 100 } };
    const res = await api('POST', '/api/v1/models/reactor-yield/sweep', { token, body });
    expect(res.status, res.text).toBe(200);
    expect(res.json.prediction).toHaveLength(4);
    expect(res.json.prediction[0]).toHaveLength(6);
    expect(res.json.alert_band).toEqual({ min: 70, max: 95 });
    const inputs = res.json.y.values.flatMap((p: number) => res.json.x.values.map((temp: number) => ({ temp, pressure: p, flow: 100 })));
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs } });
    expect(res.json.prediction.flat()).toEqual(batch.json.results.map((r: { prediction: number }) => r.prediction));
    expect(res.json.lower.flat()).toEqual(batch.json.results.map((r: { confidence_interval: number[] }) => r.confidence_interval[0]));
  });

  it('a 100 × 100 sweep costs 100 units of the rate limit (RateLimit-Remaining drops by 100)', async () => {
    // The three requests in one rate window (they straddled a minute's end once in CI): the twin's clock moved, not waited.
    moveToFreshRateWindow(t);
    const before = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    const res = await api('POST', '/api/v1/models/reactor-yield/sweep', { token, body: { x: { feature: 'temp', steps: 100 }, y: { feature: 'flow', steps: 100 }, fixed: { pressure: 6 } } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.rows).toBe(10_000);
    const after = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    const remaining = (r: { headers: Headers }) => Number(r.headers.get('ratelimit-remaining'));
    expect(remaining(before) - remaining(after)).toBe(101);
  });
});

describe('optimizer', () => {
  it("maximises yield with the interval's lower bound >= 80 and answers setpoints that predict what it says", async () => {
    const res = await api('POST', '/api/v1/models/reactor-yield/optimize', {
      token,
      body: { vary: { temp: {}, pressure: {} }, fixed: { flow: 100 }, constraints: [{ target: 'lower', op: '>=', value: 80 }], seed: 3 },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.feasible).toBe(true);
    expect(res.json.confidence_interval[0]).toBeGreaterThanOrEqual(80);
    expect(res.json.search.grid.per_axis).toBeGreaterThan(10);
    const check = await api('POST', '/api/v1/twin/predict', { token, body: res.json.setpoints });
    expect(check.json.prediction).toBe(res.json.prediction);
  });

  it('works on a published scikit-learn-layout forest addressed by name', async () => {
    const pkg = await packagedSklearnForest('sk-forest');
    const published = await api('POST', '/api/v1/models/sk-forest/versions', { token, body: publishBody(pkg as never) });
    expect(published.status, published.text).toBe(201);
    const activated = await api('POST', '/api/v1/models/sk-forest/activate', { token, body: { version: '1.0.0' } });
    expect(activated.status, activated.text).toBe(200);
    const res = await api('POST', '/api/v1/models/sk-forest/optimize', { token, body: { goal: 'minimize', vary: { flow: {} }, fixed: { temp: 350, pressure: 5 }, max_evaluations: 500 } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.model).toEqual({ name: 'sk-forest', version: '1.0.0' });
    const explained = await api('POST', '/api/v1/models/sk-forest/explain', { token, body: { inputs: [{ ...res.json.setpoints }] } });
    expect(explained.json.method.method).toBe('tree-shap-interventional');
  });
});
