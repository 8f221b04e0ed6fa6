import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, relaxedLoginEnv, startTwinWithEnv, userWithToken, moveToFreshRateWindow } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Open Inference Protocol (KServe V2) conformance, REST binding, with request bodies as KServe, Triton and
 * MLServer clients send them: server live/ready/metadata, model metadata and readiness, inference (flat and
 * nested row-major data, requested outputs, id echo), the protocol's `{error: string}` on failures, and the
 * same authorizer, scopes, rate limits, audit records, stats and alerts as /api/v1/twin/predict.
 */

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const model = '/v2/models/reactor-yield';

/** What the KServe Python SDK's InferRequest.to_rest() sends for a [N, 3] FP32 numpy array. */
function kserveBody(rows: number[][], id?: string) {
  return {
    ...(id ? { id } : {}),
    inputs: [{ name: 'input-0', shape: [rows.length, 3], datatype: 'FP32', data: rows.flat() }],
  };
}

/** The protocol's error: `error` is a string; we add code and request id beside it. */
function expectProtocolError(res: ApiResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(typeof res.json?.error, res.text).toBe('string');
  expect(res.json.error.length).toBeGreaterThan(0);
  expect(res.json.code, res.text).toBe(code);
  expect(res.json.requestId).toBe(res.headers.get('x-request-id'));
}

describe('health and server metadata', () => {
  it('GET /v2/health/live and /v2/health/ready answer {live: true} and {ready: true} without a token (Kubernetes probes)', async () => {
    // Act
    const live = await api('GET', '/v2/health/live');
    const ready = await api('GET', '/v2/health/ready');

    // Assess
    expect(live.status).toBe(200);
    expect(live.json).toEqual({ live: true });
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ ready: true });
  });

  it('GET /v2 answers the server metadata {name, version, extensions}', async () => {
    // Act
    const res = await api('GET', '/v2', { token });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ name: 'twinserve', version: expect.stringMatching(/^\d+\.\d+\.\d+$/), extensions: [] });
  });
});

describe('model metadata and readiness', () => {
  it('describes the model: versions, platform, one FP32 input [-1, 3] and its outputs', async () => {
    // Act
    const res = await api('GET', model, { token });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      name: 'reactor-yield',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [
        { name: 'prediction', datatype: 'FP64', shape: [-1] },
        { name: 'interval_lower', datatype: 'FP64', shape: [-1] },
        { name: 'interval_upper', datatype: 'FP64', shape: [-1] },
        { name: 'members', datatype: 'FP32', shape: [-1, 20] },
      ],
    });
  });

  it('describes one version under /versions/{v}, and answers readiness per model and version', async () => {
    // Act
    const version = await api('GET', `${model}/versions/1.0.0`, { token });
    const ready = await api('GET', `${model}/ready`, { token });
    const versionReady = await api('GET', `${model}/versions/1.0.0/ready`, { token });

    // Assess
    expect(version.status).toBe(200);
    expect(version.json.name).toBe('reactor-yield');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ name: 'reactor-yield', ready: true });
    expect(versionReady.json).toEqual({ name: 'reactor-yield', ready: true });
  });

  it('answers 404 with the protocol error for an unknown model or version, 400 for a malformed one', async () => {
    // Act
    const unknownModel = await api('GET', '/v2/models/no-such-model', { token });
    const unknownVersion = await api('GET', `${model}/versions/9.9.9`, { token });
    const unknownReady = await api('GET', '/v2/models/no-such-model/ready', { token });
    const malformed = await api('GET', `${model}/versions/latest`, { token });

    // Assess
    expectProtocolError(unknownModel, 404, 'MODEL_NOT_FOUND');
    expectProtocolError(unknownVersion, 404, 'MODEL_NOT_FOUND');
    expectProtocolError(unknownReady, 404, 'MODEL_NOT_FOUND');
    expectProtocolError(malformed, 400, 'INVALID_REQUEST');
  });
});

describe('inference', () => {
  it('answers a KServe client’s body with the same numbers as the batch route, row-major', async () => {
    // Prepare
    const rows = [
      [360, 6, 100],
      [340, 7, 90],
      [380, 4.5, 120],
    ];
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: rows.map(([temp, pressure, flow]) => ({ temp, pressure, flow })) } });

    // Act
    const res = await api('POST', `${model}/infer`, { token, body: kserveBody(rows, 'req-42') });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json).toMatchObject({ model_name: 'reactor-yield', model_version: '1.0.0', id: 'req-42' });
    const outputs = Object.fromEntries((res.json.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[]).map((o) => [o.name, o]));
    expect(Object.keys(outputs)).toEqual(['prediction', 'interval_lower', 'interval_upper', 'members']);
    expect(outputs.prediction).toEqual({ name: 'prediction', shape: [3], datatype: 'FP64', data: batch.json.results.map((r: { prediction: number }) => r.prediction) });
    expect(outputs.interval_lower!.data).toEqual(batch.json.results.map((r: { confidence_interval: number[] }) => r.confidence_interval[0]));
    expect(outputs.interval_upper!.data).toEqual(batch.json.results.map((r: { confidence_interval: number[] }) => r.confidence_interval[1]));
    expect(outputs.members!.shape).toEqual([3, 20]);
    expect(outputs.members!.datatype).toBe('FP32');
    expect(outputs.members!.data).toHaveLength(60);
    // Row-major: the mean of row r's members is row r's prediction.
    for (let r = 0; r < 3; r++) {
      const members = outputs.members!.data.slice(r * 20, (r + 1) * 20);
      expect(members.reduce((s, v) => s + v, 0) / 20).toBeCloseTo(outputs.prediction!.data[r]!, 4);
    }
  });

  it('accepts a Triton client’s body (requested outputs with binary_data false, parameters) and returns only those outputs', async () => {
    // Prepare: as tritonclient.http sends it for InferInput('input', [2, 3], 'FP32') with JSON data.
    const body = {
      inputs: [{ name: 'input', shape: [2, 3], datatype: 'FP32', parameters: {}, data: [360, 6, 100, 340, 7, 90] }],
      outputs: [
        { name: 'prediction', parameters: { binary_data: false } },
        { name: 'interval_upper', parameters: { binary_data: false } },
      ],
      parameters: { binary_data_output: false },
    };

    // Act
    const res = await api('POST', `${model}/infer`, { token, body });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json.outputs.map((o: { name: string }) => o.name)).toEqual(['prediction', 'interval_upper']);
    expect(res.json.outputs[0].shape).toEqual([2]);
  });

  it('accepts nested row-major data as MLServer’s and numpy-based clients send it, on an explicit version', async () => {
    // Act
    const flat = await api('POST', `${model}/versions/1.0.0/infer`, { token, body: kserveBody([[360, 6, 100], [340, 7, 90]]) });
    const nested = await api('POST', `${model}/versions/1.0.0/infer`, {
      token,
      body: { inputs: [{ name: 'input', shape: [2, 3], datatype: 'FP32', parameters: { content_type: 'np' }, data: [[360, 6, 100], [340, 7, 90]] }] },
    });

    // Assess
    expect(nested.status, nested.text).toBe(200);
    expect(nested.json.model_version).toBe('1.0.0');
    expect(nested.json.outputs).toEqual(flat.json.outputs);
  });

  it('answers the request id as id when the request has none (and in x-request-id)', async () => {
    // Act
    const res = await api('POST', `${model}/infer`, { token, body: kserveBody([[360, 6, 100]]) });

    // Assess
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(res.headers.get('x-request-id'));
  });
});

describe('errors, in the protocol’s shape', () => {
  it.each([
    ['a value out of range', kserveBody([[360, 6, 100], [460, 6, 100]]), 'INVALID_INPUT', /rows\.1\.temp.*460 out of range/],
    ['a non-number element', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: ['360', 6, 100] }] }, 'INVALID_INPUT', /temp must be a number/],
    ['a shape that is not [N, 3]', { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [360, 6] }] }, 'INVALID_INPUT', /the model takes 3/],
    ['a one-dimensional shape', { inputs: [{ name: 'input', shape: [3], datatype: 'FP32', data: [360, 6, 100] }] }, 'INVALID_REQUEST', /must be \[N, features\]/],
    ['data not matching the shape', { inputs: [{ name: 'input', shape: [2, 3], datatype: 'FP32', data: [360, 6, 100] }] }, 'INVALID_REQUEST', /needs 6 elements, data has 3/],
    ['a BYTES tensor', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'BYTES', data: ['a', 'b', 'c'] }] }, 'INVALID_REQUEST', /datatype BYTES/],
    ['two input tensors', { inputs: [kserveBody([[360, 6, 100]]).inputs[0], kserveBody([[360, 6, 100]]).inputs[0]] }, 'INVALID_REQUEST', /one input tensor/],
    ['no inputs', { inputs: [] }, 'INVALID_REQUEST', /inputs/],
    ['data nested deeper than the shape', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [[[360, 6, 100]]] }] }, 'INVALID_REQUEST', /nests deeper than its shape/],
    ['an unknown output', { ...kserveBody([[360, 6, 100]]), outputs: [{ name: 'nope' }] }, 'INVALID_REQUEST', /unknown output nope/],
    ['more than 100 rows', kserveBody(Array.from({ length: 101 }, () => [360, 6, 100])), 'BATCH_TOO_LARGE', /100/],
  ])('%s → 400 {error: string, code}', async (_name, body, code, message) => {
    // Act
    const res = await api('POST', `${model}/infer`, { token, body });

    // Assess
    expectProtocolError(res, 400, code);
    expect(res.json.error).toMatch(message);
  });

  it('a body that is not JSON → 400, a body of another media type → 415, both in the protocol’s shape', async () => {
    // Act
    const notJson = await api('POST', `${model}/infer`, { token, rawBody: '{"inputs": [' });
    const textPlain = await api('POST', `${model}/infer`, { token, rawBody: 'x', headers: { 'content-type': 'text/plain' } });

    // Assess
    expectProtocolError(notJson, 400, 'INVALID_REQUEST');
    expectProtocolError(textPlain, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('the same authorizer, scopes, rate limits, audit, stats and alerts as predict', () => {
  it('refuses a missing or foreign token at the gateway (401), and a token without the scope (403)', async () => {
    // Prepare
    const viewer = await userWithToken(api, token, { username: 'oip-viewer', role: 'viewer' });

    // Act
    const none = await api('POST', `${model}/infer`, { body: kserveBody([[360, 6, 100]]) });
    const bogus = await api('GET', model, { token: 'not-a-token' });
    const viewerInfer = await api('POST', `${model}/infer`, { token: viewer.token, body: kserveBody([[360, 6, 100]]) });
    const viewerMetadata = await api('GET', model, { token: viewer.token });

    // Assess
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ message: 'Unauthorized' });
    expect(bogus.status).toBe(401);
    expect(viewerInfer.status).toBe(403);
    expect(viewerMetadata.status).toBe(200);
  });

  it('an API key with twin:predict infers; its limit counts predict and infer together, then 429 with Retry-After', async () => {
    // Prepare
    const key = await createKey(api, token, { name: 'kserve client', scopes: ['twin:predict'], rate_limit_per_minute: 4 });
    const keyTok = await keyToken(api, key.key);
    moveToFreshRateWindow(t);

    // Act
    const first = await api('POST', `${model}/infer`, { token: keyTok, body: kserveBody([[360, 6, 100]]) });
    const predict = await api('POST', '/api/v1/twin/predict', { token: keyTok, body: validRow });
    const third = await api('POST', `${model}/infer`, { token: keyTok, body: kserveBody([[350, 6, 100]]) });
    const fourth = await api('POST', `${model}/infer`, { token: keyTok, body: kserveBody([[340, 6, 100]]) });
    const limited = await api('POST', `${model}/infer`, { token: keyTok, body: kserveBody([[330, 6, 100]]) });
    const metadata = await api('GET', model, { token: keyTok });

    // Assess
    expect([first.status, predict.status, third.status, fourth.status]).toEqual([200, 200, 200, 200]);
    expect(first.headers.get('ratelimit-limit')).toBe('4');
    expect(first.headers.get('ratelimit-remaining')).toBe('3');
    expectProtocolError(limited, 429, 'RATE_LIMITED');
    expect(limited.json.error).toBe('Rate limit exceeded');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(metadata.status).toBe(403); // the key holds twin:predict only, metadata needs twin:read
  });

  it('writes one audit record per call (action twin.infer, model version, error code), as predict does', async () => {
    // Prepare
    const ok = await api('POST', `${model}/infer`, { token, body: kserveBody([[360, 6, 100]], 'audited') });
    const bad = await api('POST', `${model}/infer`, { token, body: kserveBody([[460, 6, 100]]) });

    // Act
    const audit = await api('GET', '/api/v1/audit?action=twin.infer&limit=200', { token });

    // Assess
    expect(audit.status).toBe(200);
    const byId = (res: ApiResponse) => audit.json.items.find((i: { requestId: string }) => i.requestId === res.headers.get('x-request-id'));
    expect(byId(ok)).toMatchObject({ action: 'twin.infer', principal: 'admin', outcome: 200, modelVersion: '1.0.0', method: 'POST', resource: `${model}/infer` });
    expect(byId(bad)).toMatchObject({ action: 'twin.infer', outcome: 400, errorCode: 'INVALID_INPUT' });
  });

  it('counts inferred rows in the model’s stats and raises the same anomaly alerts', async () => {
    // Prepare: a principal of its own (alerts are once per cooldown window per principal).
    const operator = await userWithToken(api, token, { username: 'oip-alerts', role: 'operator' });
    const before = await api('GET', '/api/v1/models/reactor-yield/stats', { token });
    const rowsBefore = before.json.variants.find((v: { version: string }) => v.version === '1.0.0').rows as number;

    // Act: two rows, one far below the 70..95 % alert band (temp 300: ~10 %).
    const res = await api('POST', `${model}/infer`, { token: operator.token, body: kserveBody([[360, 6, 100], [300, 6, 100]]) });
    const after = await api('GET', '/api/v1/models/reactor-yield/stats', { token });
    const alerts = await api('GET', '/api/v1/alerts?limit=50', { token });

    // Assess
    expect(res.status).toBe(200);
    expect(after.json.variants.find((v: { version: string }) => v.version === '1.0.0').rows).toBe(rowsBefore + 2);
    const alert = alerts.json.alerts.find((a: { requestId: string }) => a.requestId === res.headers.get('x-request-id'));
    expect(alert).toMatchObject({ kind: 'alert', rule: 'below_min', principal: 'oip-alerts', inputs: { temp: 300, pressure: 6, flow: 100 } });
  });
});
