import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../support/identity.js';
import {
  corruptModel,
  inBandRow,
  modelKey,
  modelName,
  publishNew,
  putObject,
  referenceVariant,
  startModelTwin,
  writeRoutingObject,
} from '../support/models.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Fail-safe serving, through the fault proxy in front of S3 and packages corrupted in the bucket behind the
 * API's back. Routing is re-read on every request (TWIN_ROUTING_CACHE_SECONDS=0), so every request meets the
 * fault. The describes run in order on one twin: first with nothing loaded yet, then with a last good version.
 */

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startModelTwin({ faults: true });
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  if (t?.twin.faults) t.twin.faults.s3.mode = { kind: 'ok' };
  await t?.stop();
});

const predict = () => api('POST', '/api/v1/twin/predict', { token, body: inBandRow });
const health = () => api('GET', '/health');
const status = () => api('GET', '/api/v1/twin/status', { token });

function s3(mode: 'ok' | 'down'): void {
  t.twin.faults!.s3.mode = { kind: mode };
}

/** Every prediction route answers 503 MODEL_UNAVAILABLE (never a 500), and health says unhealthy with 503. */
async function expectUnavailable(): Promise<void> {
  expectError(await predict(), 503, 'MODEL_UNAVAILABLE');
  expectError(await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [inBandRow] } }), 503, 'MODEL_UNAVAILABLE');
  expectError(await api('POST', '/predict', { token, body: inBandRow }), 503, 'MODEL_UNAVAILABLE');
  expectError(await status(), 503, 'MODEL_UNAVAILABLE');
  const h = await health();
  expect(h.status, h.text).toBe(503);
  expect(h.json).toMatchObject({ status: 'unhealthy', model_version: 'unknown' });
}

function expectDegraded(res: ApiResponse, wanted: string, serving: string): void {
  expect(res.status, res.text).toBe(200);
  expect(res.json.degraded).toEqual([{ model: modelName, wanted, serving, reason: expect.any(String), since: expect.any(String) }]);
}

describe('no usable version at all (nothing loaded yet in this container)', () => {
  it('S3 down before any model was loaded → 503 MODEL_UNAVAILABLE and /health 503', async () => {
    s3('down');
    try {
      await expectUnavailable();
    } finally {
      s3('ok');
    }
  });

  it('the only active package corrupt (digest mismatch) → 503 MODEL_UNAVAILABLE and /health 503', async () => {
    const original = await corruptModel(t, '1.0.0');
    try {
      await expectUnavailable();
      expect((await predict()).json.error.message).toMatch(/No usable version of reactor-yield/);
    } finally {
      await putObject(t, modelKey('1.0.0'), original);
    }
  });

  it('serves again, healthy, once the fault clears', async () => {
    const res = await predict();
    expect(res.status, res.text).toBe(200);
    expect(res.json.model_version).toBe('1.0.0');
    const h = await health();
    expect(h.status).toBe(200);
    expect(h.json).toMatchObject({ status: 'healthy', model_version: '1.0.0' });
    expect((await status()).json.status).toBe('operational');
  });
});

describe('corrupt active version with a last good version loaded', () => {
  let lastGood: ApiResponse;

  it('keeps serving the last good version; /health 200 degraded; status and metrics degraded', async () => {
    // Prepare: 1.0.0 is loaded (above). 1.1.0 is published, then its model.onnx is overwritten in the bucket
    // and routing.json is pointed at it directly (as another container's activation would before the damage).
    lastGood = await predict();
    await publishNew(api, token, await referenceVariant('1.1.0', { tempShift: 10 }));
    await corruptModel(t, '1.1.0');
    await writeRoutingObject(t, { schemaVersion: 1, active: '1.1.0', updated: new Date().toISOString(), history: ['1.0.0'] });

    // Act
    const res = await predict();

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ model_version: '1.0.0', prediction: lastGood.json.prediction });
    const h = await health();
    expect(h.json).toMatchObject({ status: 'degraded', model_version: '1.0.0' });
    expectDegraded(h, '1.1.0', '1.0.0');
    expect(h.json.degraded[0].reason).toMatch(/digest mismatch/);
    const s = await status();
    expect(s.json.status).toBe('degraded');
    expectDegraded(s, '1.1.0', '1.0.0');
    const metrics = await api('GET', '/metrics', { token });
    expect(metrics.json.degraded).toEqual(h.json.degraded);
  });

  it('refuses to activate the corrupt version through the API (it cannot be loaded)', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/activate`, { token, body: { version: '1.1.0' } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.message).toMatch(/cannot be served/);
  });

  it('recovers when the operator rolls back: the routed version serves and health is back to healthy', async () => {
    // Act: back to 1.0.0 (the history written above)
    const rollback = await api('POST', `/api/v1/models/${modelName}/rollback`, { token });
    const res = await predict();

    // Assess: nothing is degraded any more; routing wants what is served
    expect(rollback.status, rollback.text).toBe(200);
    expect(res.json.model_version).toBe('1.0.0');
    const h = await health();
    expect(h.json).toMatchObject({ status: 'healthy', model_version: '1.0.0' });
    expect(h.json.degraded).toBeUndefined();
    expect((await status()).json.status).toBe('operational');
  });

  it('is degraded again when routing points at the corrupt version once more', async () => {
    await writeRoutingObject(t, { schemaVersion: 1, active: '1.1.0', updated: new Date().toISOString(), history: ['1.0.0'] });
    const res = await predict();
    expect(res.json.model_version).toBe('1.0.0');
    const h = await health();
    expect(h.json.status).toBe('degraded');
    expectDegraded(h, '1.1.0', '1.0.0');
  });

  it('recovers when the package is repaired: the routed version serves and health is back to healthy', async () => {
    // Prepare: the bytes that were published
    const pkg = await referenceVariant('1.1.0', { tempShift: 10 });
    await putObject(t, modelKey('1.1.0'), pkg.bytes);

    // Act
    const res = await predict();

    // Assess
    expect(res.json.model_version).toBe('1.1.0');
    expect(res.json.prediction).not.toBe(lastGood.json.prediction);
    const h = await health();
    expect(h.json).toMatchObject({ status: 'healthy', model_version: '1.1.0' });
    expect(h.json.degraded).toBeUndefined();
    expect((await status()).json.status).toBe('operational');
  });
});

describe('S3 down after a model was loaded', () => {
  it('keeps answering predictions (200) from the loaded version with the stale routing; /health degraded', async () => {
    s3('down');
    try {
      // Act
      const res = await predict();
      const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [inBandRow] } });
      const h = await health();
      const s = await status();

      // Assess
      expect(res.status, res.text).toBe(200);
      expect(res.json.model_version).toBe('1.1.0');
      expect(batch.status).toBe(200);
      expect(h.json).toMatchObject({ status: 'degraded', model_version: '1.1.0' });
      expectDegraded(h, 'routing', '1.1.0');
      expect(s.json.status).toBe('degraded');
    } finally {
      s3('ok');
    }
  });

  it('is healthy again on a later request once S3 is back', async () => {
    const res = await predict();
    expect(res.status).toBe(200);
    const h = await health();
    expect(h.status).toBe(200);
    expect(h.json.status).toBe('healthy');
    expect(h.json.degraded).toBeUndefined();
    expect((await status()).json.status).toBe('operational');
  });
});
