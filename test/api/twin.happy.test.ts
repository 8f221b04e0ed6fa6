import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, audience, login, payloadOf, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const row = (temp: number, pressure = 6, flow = 100) => ({ temp, pressure, flow });

describe('login', () => {
  it('answers the chapter shape {token, expires_in} with an RS256 token for admin', async () => {
    // Act
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'test-admin-password-1' } });

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store'); // a token response is never cached (RFC 6749 §5.1)
    expect(res.json).toMatchObject({ token: expect.any(String), expires_in: 3600 });
    expect(res.json.token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(res.json.token)).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
    expect(payloadOf(res.json.token)).toMatchObject({ iss: t.url, aud: audience, sub: 'admin', role: 'admin' });
    expect(String(payloadOf(res.json.token).scope).split(' ')).toEqual(expect.arrayContaining(['twin:predict', 'twin:read']));
  });
});

describe('predict', () => {
  it('predicts the chapter example {temp: 360, pressure: 6, flow: 100} near the surface peak', async () => {
    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token, body: validRow });

    // Assess
    expect(res.status).toBe(200);
    const body = res.json;
    expect(body).toMatchObject({
      user: 'admin',
      prediction: expect.any(Number),
      confidence_interval: [expect.any(Number), expect.any(Number)],
      timestamp: expect.any(Number),
      inference_time_ms: expect.any(Number),
      model_version: '1.0.0',
      model: { name: 'reactor-yield', version: '1.0.0' },
    });
    expect(body.prediction).toBeGreaterThan(80);
    expect(body.prediction).toBeLessThan(90);
    const [lo, hi] = body.confidence_interval as [number, number];
    expect(lo).toBeLessThanOrEqual(body.prediction);
    expect(body.prediction).toBeLessThanOrEqual(hi);
    expect(body.inference_time_ms).toBeGreaterThanOrEqual(0);
    // Seconds since the epoch, as Python's time.time(): within a day of now, not milliseconds.
    expect(Math.abs(body.timestamp - Date.now() / 1000)).toBeLessThan(86_400);
  });

  it('responds to the inputs: predictions differ across the temperature range and peak near 360 °C', async () => {
    // Act
    const temps = [300, 330, 360, 390, 400];
    const predictions: number[] = [];
    for (const temp of temps) {
      const res = await api('POST', '/api/v1/twin/predict', { token, body: row(temp) });
      expect(res.status).toBe(200);
      predictions.push(res.json.prediction as number);
    }

    // Assess
    expect(new Set(predictions).size).toBe(temps.length);
    const peak = predictions[temps.indexOf(360)]!;
    expect(Math.max(...predictions)).toBe(peak);
    expect(peak - predictions[0]!).toBeGreaterThan(10);
    expect(peak - predictions.at(-1)!).toBeGreaterThan(10);
  });

  it('is deterministic: the same input gives the same prediction and interval', async () => {
    const a = await api('POST', '/api/v1/twin/predict', { token, body: row(345, 4.5, 80) });
    const b = await api('POST', '/api/v1/twin/predict', { token, body: row(345, 4.5, 80) });
    expect(b.json.prediction).toBe(a.json.prediction);
    expect(b.json.confidence_interval).toEqual(a.json.confidence_interval);
  });

  it('echoes the request id in x-request-id', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('batch', () => {
  it('predicts 100 valid rows in index order, each as the single predict would', async () => {
    // Prepare: 100 rows spread over the valid box
    const inputs = Array.from({ length: 100 }, (_, i) => ({ temp: 300 + i, pressure: 1 + (i % 10) * 0.9, flow: 50 + i }));

    // Act
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs } });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ user: 'admin', total: 100, successful: 100, failed: 0, errors: [], model_version: '1.0.0' });
    const results = res.json.results as { index: number; input: unknown; prediction: number; confidence_interval: [number, number] }[];
    expect(results.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
    results.forEach((r, i) => {
      expect(r.input).toEqual(inputs[i]);
      expect(r.confidence_interval[0]).toBeLessThanOrEqual(r.prediction);
      expect(r.prediction).toBeLessThanOrEqual(r.confidence_interval[1]);
    });
    const single = await api('POST', '/api/v1/twin/predict', { token, body: inputs[60] });
    expect(results[60]!.prediction).toBe(single.json.prediction);
    expect(results[60]!.confidence_interval).toEqual(single.json.confidence_interval);
  });

  it('reports per-row errors by index and counts only the valid rows as successful', async () => {
    // Prepare
    const inputs = [
      validRow, // 0 ok
      { ...validRow, temp: 250 }, // 1 range
      row(380, 8, 120), // 2 ok
      'not an object', // 3 type
      { temp: 360, pressure: 6 }, // 4 required
      { ...validRow, colour: 'red' }, // 5 unknown_field
      row(320, 2, 60), // 6 ok
    ];

    // Act
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs } });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ total: 7, successful: 3, failed: 4 });
    expect(res.json.results.map((r: { index: number }) => r.index)).toEqual([0, 2, 6]);
    expect(res.json.results.map((r: { input: unknown }) => r.input)).toEqual([inputs[0], inputs[2], inputs[6]]);
    const errors = res.json.errors as { index: number; error: string; issues: { field: string; rule: string }[] }[];
    expect(errors.map((e) => e.index)).toEqual([1, 3, 4, 5]);
    expect(errors.map((e) => e.issues.map((i) => [i.field, i.rule]))).toEqual([
      [['inputs.1.temp', 'range']],
      [['inputs.3', 'type']],
      [['inputs.4.flow', 'required']],
      [['inputs.5.colour', 'unknown_field']],
    ]);
    errors.forEach((e) => expect(e.error.length).toBeGreaterThan(0));
  });

  it('gives the valid rows of a mixed batch the predictions they get alone', async () => {
    const alone = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [row(380, 8, 120)] } });
    const mixed = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [{ temp: 1 }, row(380, 8, 120)] } });
    expect(mixed.json.results[0].index).toBe(1);
    expect(mixed.json.results[0].prediction).toBe(alone.json.results[0].prediction);
  });

  it('accepts an empty batch: total 0', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [] } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ user: 'admin', total: 0, successful: 0, failed: 0, results: [], errors: [] });
  });

  it('accepts exactly 100 rows of which none are valid: successful 0', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: Array.from({ length: 100 }, () => ({})) } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ total: 100, successful: 0, failed: 100, results: [] });
  });
});

describe('the microservice routes of the chapter', () => {
  it('POST /predict answers {success: true, result: {...}, request_id}', async () => {
    const res = await api('POST', '/predict', { token, body: validRow });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      success: true,
      result: {
        prediction: expect.any(Number),
        confidence_interval: [expect.any(Number), expect.any(Number)],
        inference_time_ms: expect.any(Number),
        timestamp: expect.any(Number),
        model_version: '1.0.0',
      },
      request_id: expect.any(String),
    });
    expect(res.json.request_id).toBe(res.headers.get('x-request-id'));
    const direct = await api('POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(res.json.result.prediction).toBe(direct.json.prediction);
  });

  it('GET /model/info answers {type, version, features, trained_date}', async () => {
    const res = await api('GET', '/model/info', { token });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      name: 'reactor-yield',
      type: 'RandomForestRegressor',
      version: '1.0.0',
      features: ['temp', 'pressure', 'flow'],
      trained_date: '2026-11-25',
    });
  });

  it('GET /metrics counts every predict and batch request, exactly', async () => {
    // Prepare
    const before = await api('GET', '/metrics', { token });
    expect(before.status).toBe(200);

    // Act: 2 predicts, 1 microservice predict, 2 batches (3 rows and 0 rows)
    const statuses = [
      (await api('POST', '/api/v1/twin/predict', { token, body: validRow })).status,
      (await api('POST', '/api/v1/twin/predict', { token, body: row(310) })).status,
      (await api('POST', '/predict', { token, body: row(320) })).status,
      (await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [validRow, row(330), row(340)] } })).status,
      (await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [] } })).status,
    ];
    const after = await api('GET', '/metrics', { token });

    // Assess
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(after.json).toMatchObject({
      total_requests: expect.any(Number),
      total_predictions: expect.any(Number),
      model_version: '1.0.0',
      uptime_seconds: expect.any(Number),
    });
    expect(after.json.total_requests - before.json.total_requests).toBe(5);
    expect(after.json.total_predictions - before.json.total_predictions).toBe(6);
    expect(after.json.total_requests).toBeGreaterThanOrEqual(5);
    expect(after.json.by_version['1.0.0'].requests).toBe(after.json.total_requests);
  });

  it('GET /metrics counts concurrent requests without losing any', async () => {
    const before = (await api('GET', '/metrics', { token })).json;
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api('POST', '/api/v1/twin/predict', { token, body: row(300 + i * 5) }).then((r) => r.status)),
    );
    const after = (await api('GET', '/metrics', { token })).json;
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(after.total_requests - before.total_requests).toBe(20);
    expect(after.total_predictions - before.total_predictions).toBe(20);
  });

  it('GET /api/v1/twin/status answers {status: operational, model_info, user}', async () => {
    const res = await api('GET', '/api/v1/twin/status', { token });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      status: 'operational',
      user: 'admin',
      model_info: { type: 'RandomForestRegressor', version: '1.0.0', features: ['temp', 'pressure', 'flow'], trained_date: '2026-11-25' },
    });
  });
});

describe('public routes', () => {
  it('GET /health answers without a token: {status: healthy, service, model_version, timestamp}', async () => {
    const res = await api('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'healthy', service: 'digital-twin', model_version: '1.0.0', timestamp: expect.any(String) });
    expect(Number.isNaN(Date.parse(res.json.timestamp))).toBe(false);
  });

  it('discovery names the twin URL as issuer and a JWKS that verifies the login token', async () => {
    // Act
    const discovery = await api('GET', '/.well-known/openid-configuration');
    const jwks = await fetch(discovery.json.jwks_uri as string);

    // Assess
    expect(discovery.status).toBe(200);
    expect(discovery.json.issuer).toBe(t.url);
    expect(discovery.json.id_token_signing_alg_values_supported).toEqual(['RS256']);
    expect(jwks.status).toBe(200);
    const keySet = (await jwks.json()) as JSONWebKeySet;
    expect(keySet.keys.length).toBeGreaterThanOrEqual(1);
    keySet.keys.forEach((k) => {
      expect(k.kty).toBe('RSA');
      expect('d' in k).toBe(false); // no private parts
    });
    expect(keySet.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(token).kid);
    const { payload } = await jwtVerify(token, createLocalJWKSet(keySet), { issuer: t.url, audience, algorithms: ['RS256'] });
    expect(payload.sub).toBe('admin');
  });
});
