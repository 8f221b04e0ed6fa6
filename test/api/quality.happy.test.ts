import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithToken } from '../support/identity.js';
import { modelName, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';

let t: TestTwin;
let api: Api;
let admin: string;
let operator: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  operator = (await userWithToken(api, admin, { username: 'olga-operator', role: 'operator' })).token;
});

afterAll(async () => {
  await t?.stop();
});

const base = `/api/v1/models/${modelName}`;

async function predict(token: string, row: Record<string, number>) {
  const res = await api('POST', '/api/v1/twin/predict', { token, body: row });
  expect(res.status, res.text).toBe(200);
  return { requestId: res.headers.get('x-request-id')!, body: res.json };
}

describe('feedback and the quality view', () => {
  it('says the reference model interval is not calibrated (raw member percentiles)', async () => {
    const { body } = await predict(operator, { temp: 355, pressure: 6, flow: 100 });
    expect(body.interval_calibrated).toBe(false);
    expect(body.interval_level).toBeNull();
  });

  it('joins measured values by request_id, and reports duplicates and unknown ids per row', async () => {
    // Prepare: three predictions, one inside its interval, one outside.
    const a = await predict(operator, { temp: 361, pressure: 6, flow: 100 });
    const b = await predict(operator, { temp: 362, pressure: 6.5, flow: 110 });
    const [lo] = b.body.confidence_interval as [number, number];
    // Act
    const res = await api('POST', `${base}/feedback`, {
      token: operator,
      body: {
        observations: [
          { request_id: a.requestId, value: a.body.prediction + 0.1 },
          { request_id: b.requestId, value: lo - 5 },
          { request_id: a.requestId, value: 1 },
          { request_id: 'no-such-request', value: 1 },
        ],
      },
    });
    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ model: modelName, total: 4, accepted: 2, duplicate: 1, unknown: 1, expired: 0 });
    expect(res.json.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted', 'duplicate', 'unknown']);
    expect(res.json.results[0]).toMatchObject({ request_id: a.requestId, row: 0, version: '1.0.0' });
    // Sending the same again: every row is a duplicate now, nothing counted twice.
    const again = await api('POST', `${base}/feedback`, { token: operator, body: { observations: [{ request_id: a.requestId, value: 3 }] } });
    expect(again.json.results[0].status).toBe('duplicate');

    const q = await api('GET', `${base}/quality`, { token: operator });
    expect(q.status, q.text).toBe(200);
    const v = q.json.versions.find((x: { version: string }) => x.version === '1.0.0');
    expect(v.windows.all.count).toBe(2);
    expect(v.windows.hour.count).toBe(2);
    expect(v.windows.all.coverage).toBe(0.5);
    expect(v.windows.all.level).toBeCloseTo(0.9);
    const expectedMae = (0.1 + Math.abs(b.body.prediction - (lo - 5))) / 2;
    expect(v.windows.all.mae).toBeCloseTo(expectedMae, 6);
    expect(v.windows.all.bias).toBeCloseTo((-0.1 + (b.body.prediction - (lo - 5))) / 2, 6);
    expect(q.json.series.length).toBeGreaterThan(0);
    expect(q.json.drift[0].features.map((f: { feature: string }) => f.feature)).toEqual(['temp', 'pressure', 'flow']);
  });

  it('joins a batch row by request_id and index, and a prediction by its inputs and time', async () => {
    const batch = await api('POST', '/api/v1/twin/batch', { token: operator, body: { inputs: [{ temp: 340, pressure: 5, flow: 90 }, { temp: 341, pressure: 5, flow: 90 }] } });
    const requestId = batch.headers.get('x-request-id')!;
    const single = await predict(operator, { temp: 347, pressure: 4.5, flow: 95 });
    const time = new Date(single.body.timestamp * 1000).toISOString();
    const res = await api('POST', `${base}/feedback`, {
      token: operator,
      body: {
        observations: [
          { request_id: requestId, index: 1, value: 80 },
          { inputs: { temp: 347, pressure: 4.5, flow: 95 }, time, value: 81 },
          { inputs: { temp: 347, pressure: 4.5, flow: 96 }, time, value: 81 },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted', 'unknown']);
    expect(res.json.results[0]).toMatchObject({ request_id: requestId, row: 1 });
    expect(res.json.results[1]).toMatchObject({ request_id: single.requestId, row: 0 });
  });
});

describe('calibration added to a published version', () => {
  it('calibrates reactor-yield@1.0.0 on labelled rows: the answer says interval_calibrated and the level', async () => {
    // Prepare: 400 labelled rows from the reactor's own surface with noise.
    const rng = new Prng(21);
    const rows = Array.from({ length: 400 }, () => {
      const [t, p, f] = REACTOR_FEATURES.map((feature) => rng.uniform(feature.min, feature.max)) as [number, number, number];
      return { inputs: { temp: t, pressure: p, flow: f }, value: reactorYield(t, p, f, rng) };
    });
    // Act
    const res = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: admin, body: { level: 0.8, rows } });
    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json.interval).toMatchObject({ method: 'conformal-normalized', level: 0.8 });
    expect(res.json.calibration).toMatchObject({ method: 'normalized-conformal', level: 0.8, rows: 400, source: 'route' });
    expect(res.json.calibration.coverage).toBeGreaterThanOrEqual(0.8);
    // Model info shows it before any prediction applies it (a status container in Lambda never predicts).
    const before = await api('GET', '/model/info', { token: operator });
    expect(before.json).toMatchObject({ interval_calibrated: true, calibration: { source: 'route', level: 0.8 } });
    const { body } = await predict(operator, { temp: 359, pressure: 6, flow: 100 });
    expect(body.interval_calibrated).toBe(true);
    expect(body.interval_level).toBe(0.8);
    const info = await api('GET', '/model/info', { token: operator });
    expect(info.json).toMatchObject({ interval_calibrated: true, calibration: { source: 'route', level: 0.8 } });
    const q = await api('GET', `${base}/quality`, { token: operator });
    expect(q.json.versions.find((v: { version: string }) => v.version === '1.0.0').level).toBe(0.8);
    expect(q.json.recalibration.find((r: { version: string }) => r.version === '1.0.0')).toMatchObject({ enabled: true, factor: 1, updates: 0 });
  });

  it('refuses rows outside the valid range, naming the row and feature, and too few rows', async () => {
    const rows = Array.from({ length: 20 }, () => ({ inputs: { temp: 9999, pressure: 6, flow: 100 }, value: 80 }));
    const bad = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: admin, body: { rows } });
    expect(bad.status, bad.text).toBe(400);
    expect(bad.json.error.issues[0].field).toBe('rows.0.inputs.temp');
    const few = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: admin, body: { rows: rows.slice(0, 5) } });
    expect(few.status).toBe(400);
    expect(few.json.error.issues[0].field).toBe('rows');
    const operatorTry = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: operator, body: { rows } });
    expect(operatorTry.status).toBe(403);
  });
});
