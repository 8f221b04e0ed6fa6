import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultBodyBytes } from '../../functions/contracts.js';
import { maxJsonKeys } from '../../functions/core/json-body.js';
import { createKey, keyToken, relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { modelName, referencePackage } from '../support/models.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Error amplification (issue 13, finding 8): a 1.7 MB predict body of unknown keys got a 32.9 MB answer
 * (every key an issue repeating the expected list, all joined into the message). Every validation path now
 * keeps at most 20 issues (issues_total counts them all, issues_truncated says so), clips fields and
 * messages, and says the expected features once. Asserted on sizes and counts, never on time. Since the
 * routes' own body limits (functions/body-limits.ts: 64 KB unless a route takes rows or a model) and the
 * distinct-key limit (functions/core/json-body.ts), the largest bodies are refused before parsing; the bodies
 * here are the largest each route still reads.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let predictKey: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  admin = await login(api);
  predictKey = await keyToken(api, (await createKey(api, admin, { name: 'predict only', scopes: ['twin:predict'] })).key);
});

afterAll(async () => {
  await t?.stop();
});

/** `{"k0":0,"k1":0,…}` of about `bytes` bytes, plus `extra` keys. */
function unknownKeys(bytes: number, extra: Record<string, unknown> = {}): { text: string; count: number } {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const part = `"k${i}":0`;
    parts.push(part);
    size += part.length + 1;
  }
  const extras = Object.entries(extra).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return { text: `{${[...extras, ...parts].join(',')}}`, count: parts.length };
}

function expectCapped(res: ApiResponse, total: number, maxBytes = 4096): void {
  expect(res.status, res.text.slice(0, 300)).toBe(400);
  expect(res.text.length).toBeLessThan(maxBytes);
  const error = res.json.error;
  expect(error.issues.length).toBeLessThanOrEqual(20);
  expect(error.issues_total).toBe(total);
  expect(error.issues_truncated).toBe(true);
  expect(error.message.length).toBeLessThanOrEqual(512);
}

describe('predict: a body of 2,000 unknown keys gets a small answer', () => {
  it.each(['/api/v1/twin/predict', '/predict'])('%s → 400, < 4 KB, 20 issues, all counted, the expected features said once', async (route) => {
    // Prepare
    const body = unknownKeys(18_000, validRow);
    expect(body.count).toBeGreaterThan(1_900);
    expect(body.count + 3).toBeLessThanOrEqual(maxJsonKeys);

    // Act
    const res = await api('POST', route, { token: predictKey, rawBody: body.text });

    // Assess
    expectCapped(res, body.count);
    expect(res.json.error.issues.every((i: { rule: string }) => i.rule === 'unknown_field')).toBe(true);
    expect(res.text.split('temp, pressure, flow').length - 1).toBeLessThanOrEqual(2); // error.message and message
  });

  it('one 60,000-character key is clipped in the field and the message', async () => {
    const key = 'x'.repeat(60_000);
    const res = await api('POST', '/api/v1/twin/predict', { token: predictKey, body: { ...validRow, [key]: 1 } });
    expect(res.status).toBe(400);
    expect(res.text.length).toBeLessThan(2048);
  });
});

describe('batch: the answer is bounded whatever the rows hold', () => {
  it('100 rows of 2,000 unknown keys each → 200, every row reported, at most 120 issues in all, < 64 KB', async () => {
    // Prepare
    const row = unknownKeys(18_000, validRow).text;
    const text = `{"inputs":[${Array(100).fill(row).join(',')}]}`;

    // Act
    const res = await api('POST', '/api/v1/twin/batch', { token: predictKey, rawBody: text });

    // Assess
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.json.failed).toBe(100);
    const errors = res.json.errors as { index: number; issues: unknown[]; issues_total?: number }[];
    expect(errors.map((e) => e.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(errors.every((e) => e.issues.length >= 1 && (e.issues_total ?? 0) > e.issues.length)).toBe(true);
    expect(errors.reduce((s, e) => s + e.issues.length, 0)).toBeLessThanOrEqual(120);
    expect(res.text.length).toBeLessThan(64 * 1024);
  });

  it('a body that is not a batch → 400 with one issue', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token: predictKey, rawBody: unknownKeys(500_000).text });
    expect(res.status).toBe(400);
    expect(res.text.length).toBeLessThan(1024);
  });
});

describe('Open Inference Protocol: a tensor of bad values gets a small answer', () => {
  it.each(['/v2/models/reactor-yield/infer', '/v2/models/reactor-yield/versions/1.0.0/infer'])('%s: 100 rows × 3 bad values → 400, 20 issues of 300', async (route) => {
    const res = await api('POST', route, { token: predictKey, body: { inputs: [{ name: 'input', shape: [100, 3], datatype: 'FP32', data: Array(300).fill('x'.repeat(200)) }] } });
    expect(res.status, res.text.slice(0, 300)).toBe(400);
    expect(res.json.issues.length).toBe(20);
    expect(res.json.issues_total).toBe(300);
    expect(res.json.issues_truncated).toBe(true);
    expect(res.text.length).toBeLessThan(8192);
  });
});

describe('the shared body validation (zod) on every other route', () => {
  it.each([
    ['POST /api/v1/keys', '/api/v1/keys', { name: 'k', scopes: ['twin:read'] }],
    ['POST /api/v1/users', '/api/v1/users', { username: 'someone', password: 'long-enough-password', role: 'viewer' }],
    ['POST /api/v1/models/{name}/activate', `/api/v1/models/${modelName}/activate`, { version: '1.0.0' }],
  ] as const)('%s with 2,000 unknown keys → 400 < 4 KB, 20 issues, all counted', async (_name, path, valid) => {
    const body = unknownKeys(18_000, valid);
    expect(body.text.length).toBeLessThan(defaultBodyBytes);
    const res = await api('POST', path, { token: admin, rawBody: body.text });
    expectCapped(res, body.count);
  });

  it('publish with a manifest of 256 broken features → 400 < 8 KB, 20 issues, all counted', async () => {
    const ref = await referencePackage();
    const features = Array.from({ length: 256 }, (_, i) => ({ name: `f${i}`, unit: '-', min: 1, max: 0 }));
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, {
      token: admin,
      body: { manifest: { ...ref.manifest, version: '9.0.0', features }, model_base64: Buffer.from(ref.bytes).toString('base64') },
    });
    expect(res.status, res.text.slice(0, 300)).toBe(400);
    expect(res.json.error.issues.length).toBe(20);
    expect(res.json.error.issues_total).toBeGreaterThan(20);
    expect(res.text.length).toBeLessThan(8192);
  });

  it('a 60 KB body that is not JSON → 400 with a clipped message', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token: predictKey, rawBody: `{"temp": ${'9'.repeat(10)}${'x'.repeat(60_000)}` });
    expect(res.status).toBe(400);
    expect(res.text.length).toBeLessThan(2048);
  });
});
