import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../models/tools/package-model.js';
import { columnModel, columnModelName, columnRows, type ColumnModel } from '../support/byom.js';
import { userWithToken } from '../support/identity.js';
import { modelTestEnv, referenceVariant } from '../support/models.js';
import { apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * Models addressed by name (issue 15): a 4-feature forest in skl2onnx layout is packaged, published and
 * activated beside the seeded reactor-yield, then served by /api/v1/models/{name}/predict|batch (and a pinned
 * version), with the forest's own mean as the expected answer; status, model info and metrics list both; the
 * chapter's routes keep serving the default model, or the plant's default.
 */

let t: TestTwin;
let api: Api;
let token: string;
let column: ColumnModel;

beforeAll(async () => {
  t = await startTestTwin({ env: { ...modelTestEnv, TWIN_PLANT_DEFAULT_MODELS: JSON.stringify({ 'plant-b': columnModelName }) } });
  api = apiClient(t.url);
  token = await login(api);
  column = columnModel();
  const built = await buildPackage({ onnx: column.onnx, spec: column.spec, created: '2026-12-01' }); // date-inert: a package's created date
  const res = await api('POST', `/api/v1/models/${columnModelName}/versions`, { token, body: { manifest: built.manifest, model_base64: Buffer.from(built.model).toString('base64') } });
  expect(res.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe('a published model before activation', () => {
  it('is listed with active: null and is not served yet', async () => {
    // Act
    const list = await api('GET', '/api/v1/models', { token });
    const predict = await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: columnRows(1)[0] });

    // Assess
    expect(list.status).toBe(200);
    expect(list.json.models).toEqual(expect.arrayContaining([expect.objectContaining({ name: columnModelName, active: null, versions: ['1.0.0'] })]));
    expect(predict.status).toBe(404);
    expect(predict.json.error.code).toBe('MODEL_NOT_FOUND');
  });
});

describe('after activation', () => {
  beforeAll(async () => {
    const res = await api('POST', `/api/v1/models/${columnModelName}/activate`, { token, body: { version: '1.0.0' } });
    expect(res.status).toBe(200);
  });

  it("POST /api/v1/models/{name}/predict answers the chapter's shape with the forest's mean", async () => {
    // Prepare
    const row = columnRows(1, 9)[0]!;

    // Act
    const res = await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: row });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ user: 'admin', model: { name: columnModelName, version: '1.0.0' }, model_version: '1.0.0', from_cache: false });
    expect(Math.abs(res.json.prediction - column.mean(row))).toBeLessThan(1e-4);
    const [lo, hi] = res.json.confidence_interval as [number, number];
    expect(lo).toBeLessThanOrEqual(res.json.prediction);
    expect(hi).toBeGreaterThanOrEqual(res.json.prediction);
  });

  it('the same row again comes from the cache of that model', async () => {
    // Prepare
    const row = columnRows(1, 10)[0]!;
    await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: row });

    // Act
    const again = await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: row });

    // Assess
    expect(again.json.from_cache).toBe(true);
    expect(Math.abs(again.json.prediction - column.mean(row))).toBeLessThan(1e-4);
  });

  it('POST /api/v1/models/{name}/batch predicts every row with that model', async () => {
    // Prepare
    const rows = columnRows(25, 11);

    // Act
    const res = await api('POST', `/api/v1/models/${columnModelName}/batch`, { token, body: { inputs: rows } });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ total: 25, successful: 25, failed: 0, model: { name: columnModelName, version: '1.0.0' } });
    res.json.results.forEach((r: { index: number; prediction: number }) => expect(Math.abs(r.prediction - column.mean(rows[r.index]!))).toBeLessThan(1e-4));
  });

  it('POST /api/v1/models/{name}/versions/{version}/predict pins the version, ignoring the A/B split', async () => {
    // Prepare: reactor-yield 1.1.0 answers differently (its scaler shifts temp); all traffic stays on 1.0.0.
    const variant = await referenceVariant('1.1.0', { tempShift: 20 });
    expect((await api('POST', '/api/v1/models/reactor-yield/versions', { token, body: { manifest: variant.manifest, model_base64: Buffer.from(variant.bytes).toString('base64') } })).status).toBe(201);

    // Act
    const pinned = await api('POST', '/api/v1/models/reactor-yield/versions/1.1.0/predict', { token, body: validRow });
    const routed = await api('POST', '/api/v1/models/reactor-yield/predict', { token, body: validRow });

    // Assess
    expect(pinned.status).toBe(200);
    expect(pinned.json.model).toEqual({ name: 'reactor-yield', version: '1.1.0' });
    expect(routed.json.model).toEqual({ name: 'reactor-yield', version: '1.0.0' });
    expect(pinned.json.prediction).not.toBeCloseTo(routed.json.prediction, 3);
  });

  it("the chapter's routes keep serving the deployment's default model", async () => {
    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    const micro = await api('POST', '/predict', { token, body: validRow });

    // Assess
    expect(res.json.model.name).toBe('reactor-yield');
    expect(micro.json.result.model.name).toBe('reactor-yield');
  });

  it("a plant with its own default gets it on the chapter's routes", async () => {
    // Prepare
    const operator = await userWithToken(api, token, { username: 'op-b', role: 'operator', plant: 'plant-b' });
    const row = columnRows(1, 12)[0]!;

    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token: operator.token, body: row });
    const info = await api('GET', '/model/info', { token: operator.token });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json.model.name).toBe(columnModelName);
    expect(Math.abs(res.json.prediction - column.mean(row))).toBeLessThan(1e-4);
    expect(info.json.name).toBe(columnModelName);
  });

  it('status, model info and metrics list every model the principal may use', async () => {
    // Act
    const status = await api('GET', '/api/v1/twin/status', { token });
    const info = await api('GET', '/model/info', { token });
    const metrics = await api('GET', '/metrics', { token });

    // Assess
    expect(status.json.model_info.name).toBe('reactor-yield');
    expect(status.json.models.map((m: { name: string }) => m.name)).toEqual([columnModelName, 'reactor-yield']);
    const columnInfo = status.json.models.find((m: { name: string }) => m.name === columnModelName);
    expect(columnInfo.feature_specs.map((f: { name: string }) => f.name)).toEqual(['feed_rate', 'reflux_ratio', 'reboiler_duty', 'top_pressure']);
    expect(info.json.models.map((m: { name: string }) => m.name)).toEqual([columnModelName, 'reactor-yield']);
    expect(metrics.json.model_version).toBe('1.0.0');
    expect(metrics.json.models[columnModelName]).toMatchObject({ model_version: '1.0.0', total_requests: expect.any(Number) });
    expect(metrics.json.models[columnModelName].total_predictions).toBeGreaterThanOrEqual(28);
  });

  it('predictions by name are audited as twin.predict / twin.batch with the model version', async () => {
    // Act
    const res = await api('GET', '/api/v1/audit?principal=admin&action=twin.batch', { token });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json.items.some((r: { resource: string; modelVersion?: string }) => r.resource === `/api/v1/models/${columnModelName}/batch` && r.modelVersion === '1.0.0')).toBe(true);
  });
});
