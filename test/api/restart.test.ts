import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, apiClient, login, startTestTwin, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The local twin keeps its state in its data dir: users, stats and the signing key in the embedded stores
 * and the key file, the model packages in the embedded S3. Stop it and start it again on the same dir.
 *
 * The issuer is the gateway's URL, so the second start listens on the first one's port (as `npm start`
 * does on PORT): a token carries its issuer, and the authorizer checks it exactly. The embedded DynamoDB
 * and S3 servers get new ports.
 */

let dataDir: string;
let first: TestTwin | undefined;
let second: TestTwin | undefined;

// What the first run leaves behind.
let tokenBefore: string;
let kidBefore: string;
let jwksKidsBefore: string[];
let metricsBefore: { total_requests: number; total_predictions: number };
let predictionBefore: number;
let firstSeed: TestTwin['twin']['seed'];
// What the second run sees before any request reaches it.
let metricsAfterRestart: { total_requests: number; total_predictions: number };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'twinserve-restart-'));

  first = await startTestTwin({ dataDir });
  firstSeed = first.twin.seed;
  const api = apiClient(first.url);
  tokenBefore = await login(api);
  kidBefore = String(decodeProtectedHeader(tokenBefore).kid);
  jwksKidsBefore = ((await api('GET', '/.well-known/jwks.json')).json as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  predictionBefore = (await api('POST', '/api/v1/twin/predict', { token: tokenBefore, body: validRow })).json.prediction;
  await api('POST', '/api/v1/twin/batch', { token: tokenBefore, body: { inputs: [validRow, { ...validRow, temp: 320 }] } });
  await api('POST', '/predict', { token: tokenBefore, body: validRow });
  metricsBefore = (await api('GET', '/metrics', { token: tokenBefore })).json;
  const port = Number(new URL(first.url).port);
  await first.stop({ keepDir: true });
  first = undefined;

  second = await startTestTwin({ dataDir, port });
  metricsAfterRestart = (await apiClient(second.url)('GET', '/metrics', { token: tokenBefore })).json;
});

afterAll(async () => {
  await first?.stop({ keepDir: true });
  await second?.stop({ keepDir: true });
  await rm(dataDir, { recursive: true, force: true });
});

describe('the first start', () => {
  it('seeded everything and recorded requests', () => {
    expect(firstSeed).toMatchObject({ adminCreated: true, keyFileCreated: true, published: ['reactor-yield@1.0.0'] });
    expect(metricsBefore.total_requests).toBe(3);
    expect(metricsBefore.total_predictions).toBe(4);
    expect(jwksKidsBefore).toEqual([kidBefore]);
  });
});

describe('after a restart on the same data dir', () => {
  let api: Api;

  beforeAll(() => {
    api = apiClient(second!.url);
  });

  it('does not seed again: admin, key and model are found, not re-created', () => {
    expect(second!.twin.seed).toMatchObject({ adminCreated: false, keyFileCreated: false, published: [] });
    expect(second!.twin.seed.generatedAdminPassword).toBeUndefined();
  });

  it('admin still logs in with the password of the first start', async () => {
    const token = await login(api, 'admin', adminPassword);
    expect(decodeProtectedHeader(token).kid).toBe(kidBefore);
  });

  it('publishes the same signing key', async () => {
    const jwks = (await api('GET', '/.well-known/jwks.json')).json as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(jwksKidsBefore);
  });

  it('accepts a token issued before the restart', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token: tokenBefore, body: validRow });
    expect(res.status).toBe(200);
    expect(res.json.user).toBe('admin');
  });

  it('still serves the published model, with the same predictions', async () => {
    const health = await api('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'healthy', model_version: '1.0.0' });
    const res = await api('POST', '/api/v1/twin/predict', { token: tokenBefore, body: validRow });
    expect(res.json.prediction).toBe(predictionBefore);
  });

  it('keeps the request counts of the first run exactly', () => {
    expect(metricsAfterRestart.total_requests).toBe(metricsBefore.total_requests);
    expect(metricsAfterRestart.total_predictions).toBe(metricsBefore.total_predictions);
  });

  it('counts on from them', async () => {
    const before = (await api('GET', '/metrics', { token: tokenBefore })).json;
    await api('POST', '/api/v1/twin/predict', { token: tokenBefore, body: validRow });
    await api('POST', '/api/v1/twin/batch', { token: tokenBefore, body: { inputs: [validRow, validRow] } });
    const after = (await api('GET', '/metrics', { token: tokenBefore })).json;
    expect(after.total_requests).toBe(before.total_requests + 2);
    expect(after.total_predictions).toBe(before.total_predictions + 3);
    expect(after.total_requests).toBeGreaterThan(metricsBefore.total_requests);
  });
});
