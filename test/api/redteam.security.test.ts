import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithToken } from '../support/identity.js';
import { modelName, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';

/**
 * What a hostile review of the running twin got through (as the lowest principals of another plant), each
 * now a test: a plant's feedback moving the interval every plant gets, numbers that broke the quality view,
 * feedback lookups costing the server more than the caller, the shared cache and container figures telling
 * one plant about another's traffic.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let north: string;
let south: string;
let southViewer: string;
const base = `/api/v1/models/${modelName}`;
const row = { temp: 352.5, pressure: 6.25, flow: 101.5 };

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  north = (await userWithToken(api, admin, { username: 'rt-north-op', role: 'operator', plant: 'north' })).token;
  south = (await userWithToken(api, admin, { username: 'rt-south-op', role: 'operator', plant: 'south' })).token;
  southViewer = (await userWithToken(api, admin, { username: 'rt-south-viewer', role: 'viewer', plant: 'south' })).token;
  // The platform-wide model gets a calibrated interval, so online recalibration applies to it.
  const rng = new Prng(7);
  const rows = Array.from({ length: 200 }, () => {
    const [a, b, c] = REACTOR_FEATURES.map((f) => rng.uniform(f.min, f.max)) as [number, number, number];
    return { inputs: { temp: a, pressure: b, flow: c }, value: reactorYield(a, b, c, rng) };
  });
  const calibrated = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: admin, body: { rows } });
  if (calibrated.status !== 200) throw new Error(`calibration answered ${calibrated.status}: ${calibrated.text}`);
});

afterAll(async () => {
  await t?.stop();
});

describe("a plant's feedback on a model it does not own", () => {
  it('counts in its own figures but never moves the interval other plants are served', async () => {
    // Prepare: north's interval before.
    const before = await api('POST', '/api/v1/twin/predict', { token: north, body: row });
    const width = (r: { json: { confidence_interval: [number, number] } }) => r.json.confidence_interval[1] - r.json.confidence_interval[0];
    // Act: south predicts 100 rows and reports values far outside every interval.
    const batch = await api('POST', '/api/v1/twin/batch', { token: south, body: { inputs: Array.from({ length: 100 }, (_, i) => ({ ...row, flow: 60 + i * 0.8 })) } });
    const requestId = batch.headers.get('x-request-id')!;
    const feedback = await api('POST', `${base}/feedback`, { token: south, body: { observations: Array.from({ length: 100 }, (_, i) => ({ request_id: requestId, index: i, value: 1000 })) } });
    // Assess
    expect(feedback.status, feedback.text).toBe(200);
    expect(feedback.json.accepted).toBe(100);
    const view = await api('GET', `${base}/quality`, { token: admin });
    expect(view.json.recalibration.find((r: { version: string }) => r.version === '1.0.0')).toMatchObject({ factor: 1, updates: 0 });
    // The same row: a moved factor would be a cache miss (the factor is in the key) with another width.
    const after = await api('POST', '/api/v1/twin/predict', { token: north, body: row });
    expect(width(after)).toBeCloseTo(width(before), 9);
    // South still sees its own figures.
    const southView = await api('GET', `${base}/quality`, { token: southViewer });
    expect(southView.json.plants).toEqual([expect.objectContaining({ plant: 'south' })]);
  });
});

describe('measured values', () => {
  it('are bounded (400 naming the field), and large ones never break the quality view', async () => {
    const batch = await api('POST', '/api/v1/twin/batch', { token: south, body: { inputs: [row, { ...row, flow: 102 }] } });
    const requestId = batch.headers.get('x-request-id')!;
    const huge = await api('POST', `${base}/feedback`, { token: south, body: { observations: [{ request_id: requestId, index: 0, value: 1e10 }] } });
    expect(huge.status).toBe(400);
    expect(huge.json.error.issues[0]).toMatchObject({ field: 'observations.0.value' });
    // Two calls of 9e7 (sums beyond a double's exact digits) — the view still answers for everyone.
    for (const index of [0, 1]) {
      const ok = await api('POST', `${base}/feedback`, { token: south, body: { observations: [{ request_id: requestId, index, value: 9e7 }] } });
      expect(ok.status, ok.text).toBe(200);
    }
    for (const token of [south, north, admin]) expect((await api('GET', `${base}/quality`, { token })).status).toBe(200);
    const calibration = await api('PUT', `${base}/versions/1.0.0/calibration`, { token: admin, body: { rows: Array.from({ length: 20 }, () => ({ inputs: row, value: 1e300 })) } });
    expect(calibration.status).toBe(400);
  });

  it('matched by inputs and time: at most 25 per call, so one call cannot run a thousand queries', async () => {
    const time = new Date().toISOString();
    const res = await api('POST', `${base}/feedback`, { token: south, body: { observations: Array.from({ length: 26 }, () => ({ inputs: row, time, value: 80 })) } });
    expect(res.status).toBe(400);
    expect(res.json.error.issues[0]).toMatchObject({ field: 'observations' });
  });
});

describe('what one plant can learn of another', () => {
  it("from_cache never says another plant sent the same inputs", async () => {
    const odd = { temp: 377.123, pressure: 7.321, flow: 111.77 };
    expect((await api('POST', '/api/v1/twin/predict', { token: north, body: odd })).json.from_cache).toBe(false);
    expect((await api('POST', '/api/v1/twin/predict', { token: north, body: odd })).json.from_cache).toBe(true);
    expect((await api('POST', '/api/v1/twin/predict', { token: south, body: odd })).json.from_cache).toBe(false);
  });

  it("/metrics shows a plant only its own figures, not the container's", async () => {
    const plant = await api('GET', '/metrics', { token: southViewer });
    expect(plant.status).toBe(200);
    expect(plant.json.container).toBeUndefined();
    expect((await api('GET', '/metrics', { token: admin })).json.container).toMatchObject({ predictions: expect.any(Number) });
  });
});
