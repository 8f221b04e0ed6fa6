import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, issueFields } from '../support/identity.js';
import { modelTestEnv } from '../support/models.js';
import { apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

/** Bad requests to /api/v1/models/{name}/predict|batch: a 4xx naming the parameter or field, never a 500. */

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

describe('path parameters', () => {
  it.each([
    ['POST', '/api/v1/models/Reactor_Yield/predict', 'name'],
    ['POST', '/api/v1/models/-x/batch', 'name'],
    ['POST', '/api/v1/models/reactor-yield/versions/1.0/predict', 'version'],
    ['POST', '/api/v1/models/reactor-yield/versions/latest/predict', 'version'],
  ] as const)('%s %s answers 400 naming %s', async (method, path, field) => {
    // Act
    const res = await api(method, path, { token, body: path.endsWith('batch') ? { inputs: [validRow] } : validRow });

    // Assess
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toEqual([field]);
  });

  it('an unknown model or version answers 404 MODEL_NOT_FOUND', async () => {
    // Act
    const unknown = await api('POST', '/api/v1/models/no-such-model/predict', { token, body: validRow });
    const unknownBatch = await api('POST', '/api/v1/models/no-such-model/batch', { token, body: { inputs: [validRow] } });
    const version = await api('POST', '/api/v1/models/reactor-yield/versions/9.9.9/predict', { token, body: validRow });

    // Assess
    expectError(unknown, 404, 'MODEL_NOT_FOUND');
    expectError(unknownBatch, 404, 'MODEL_NOT_FOUND');
    expectError(version, 404, 'MODEL_NOT_FOUND');
  });
});

describe('bodies are validated against the addressed model', () => {
  it('a value outside its range answers 400 INVALID_INPUT naming the field and the range', async () => {
    // Act
    const res = await api('POST', '/api/v1/models/reactor-yield/predict', { token, body: { ...validRow, temp: 460 } });

    // Assess
    expectError(res, 400, 'INVALID_INPUT');
    expect(issueFields(res)).toEqual(['temp']);
    expect(res.json.error.message).toMatch(/300.*400/);
  });

  it('a batch of more than 100 rows answers 400 BATCH_TOO_LARGE; bad rows are reported by index', async () => {
    // Act
    const tooMany = await api('POST', '/api/v1/models/reactor-yield/batch', { token, body: { inputs: Array.from({ length: 101 }, () => validRow) } });
    const mixed = await api('POST', '/api/v1/models/reactor-yield/batch', { token, body: { inputs: [validRow, { ...validRow, flow: 'x' }] } });
    const notArray = await api('POST', '/api/v1/models/reactor-yield/batch', { token, body: { inputs: 'rows' } });

    // Assess
    expectError(tooMany, 400, 'BATCH_TOO_LARGE');
    expect(mixed.status).toBe(200);
    expect(mixed.json).toMatchObject({ successful: 1, failed: 1, errors: [{ index: 1 }] });
    expectError(notArray, 400, 'INVALID_REQUEST');
  });
});

describe('publishing an unpackaged model', () => {
  it('a raw skl2onnx graph with its packager spec answers 400 with a hint to run the packager', async () => {
    // Prepare: what an engineer might send before reading docs/model-package.md.
    const { columnModel } = await import('../support/byom.js');
    const raw = columnModel();

    // Act
    const res = await api('POST', '/api/v1/models/column-purity/versions', { token, body: { manifest: raw.spec, model_base64: Buffer.from(raw.onnx).toString('base64') } });

    // Assess
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.message).toContain('twin models package --onnx');
    expect((await api('GET', '/api/v1/models/column-purity/versions', { token })).status).toBe(404);
  });
});
