import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Declared-shape abuse on every route that takes a tensor or a row count (issue 13, finding 2). A shape is
 * checked against the model before anything is sized by it: rank 2, N in 1..100, width = the model's
 * feature count, every dimension > 0, data no longer than the shape, FP32/FP64. The original attack (88 bytes,
 * shape [300000000, 0], a twin:predict-only key) killed the process with a heap OOM.
 */

let t: TestTwin;
let api: Api;
let predictKey: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  const admin = await login(api);
  predictKey = await keyToken(api, (await createKey(api, admin, { name: 'predict only', scopes: ['twin:predict'] })).key);
});

afterAll(async () => {
  await t?.stop();
});

const tensorRoutes = ['/v2/models/reactor-yield/infer', '/v2/models/reactor-yield/versions/1.0.0/infer'];

function tensor(shape: number[], data: unknown[] = [], datatype = 'FP32') {
  return { inputs: [{ name: 'input', shape, datatype, data }] };
}

// [case, body, rule named in issues]
const abuse: [string, unknown, string][] = [
  ['the original attack: [300000000, 0] with no data', tensor([300_000_000, 0]), 'min'],
  ['no rows: [0, 3]', tensor([0, 3]), 'min'],
  ['zero width: [5, 0]', tensor([5, 0]), 'min'],
  ['101 rows', tensor([101, 3], Array(303).fill(360)), 'max_items'],
  ['10^15 rows', tensor([1e15, 3]), 'max_items'],
  ['a width other than the model\'s 3', tensor([1, 1_000_000]), 'shape'],
  ['rank 3', tensor([1, 3, 1], [360, 6, 100]), 'shape'],
  ['rank 1', tensor([3], [360, 6, 100]), 'shape'],
  ['a negative dimension', tensor([-1, 3]), 'min'],
  ['a fractional dimension', tensor([1.5, 3]), 'type'],
  ['more data than the shape holds', tensor([1, 3], Array(300).fill(1)), 'shape'],
  ['more data than any shape holds (25,601 elements)', tensor([1, 3], Array(25_601).fill(1)), 'max'],
  ['an integer datatype', tensor([1, 3], [360, 6, 100], 'INT64'), 'datatype'],
  ['BYTES', tensor([1, 3], ['a', 'b', 'c'], 'BYTES'), 'datatype'],
  ['nine dimensions', tensor([1, 1, 1, 1, 1, 1, 1, 1, 3], [360, 6, 100]), 'max'],
  ['a thousand input tensors', { inputs: Array.from({ length: 1000 }, () => tensor([1, 3], [360, 6, 100]).inputs[0]) }, 'max'],
];

function expectShapeRefusal(res: ApiResponse, rule: string): void {
  expect(res.status, res.text).toBe(400);
  expect(typeof res.json.error).toBe('string');
  expect(res.json.issues.map((i: { rule: string }) => i.rule), res.text).toContain(rule);
  expect(res.text.length).toBeLessThan(4096);
}

describe.each(tensorRoutes)('%s: declared shapes are checked before allocation', (route) => {
  it.each(abuse)('%s → 400', async (_name, body, rule) => {
    const res = await api('POST', route, { token: predictKey, body });
    expectShapeRefusal(res, rule);
  });

  it('the 88-byte attack body, sent raw, twenty at once beside /health: all 400, health answers, the process lives', async () => {
    // Prepare
    const raw = '{"inputs":[{"name":"input","shape":[300000000,0],"datatype":"FP32","data":[]}]}';
    expect(raw.length).toBeLessThanOrEqual(88);

    // Act
    const [health, ...attacks] = await Promise.all([
      api('GET', '/health'),
      ...Array.from({ length: 20 }, () => api('POST', route, { token: predictKey, rawBody: raw })),
    ]);

    // Assess
    expect(attacks.map((r) => r.status)).toEqual(Array(20).fill(400));
    expect(health.status, health.text).toBe(200);
    const after = await api('POST', route, { token: predictKey, body: tensor([1, 3], [360, 6, 100]) });
    expect(after.status, after.text).toBe(200);
    expect((await api('GET', '/health')).json.status).toBe('healthy');
  });
});

describe('/api/v1/twin/batch: the row count is checked before anything is allocated', () => {
  it('101 rows → 400 BATCH_TOO_LARGE', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token: predictKey, body: { inputs: Array(101).fill(validRow) } });
    expect(res.status, res.text).toBe(400);
    expect(res.json.error.code).toBe('BATCH_TOO_LARGE');
  });

  it('200,000 rows → 400 BATCH_TOO_LARGE with a small answer, and the process serves on', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token: predictKey, rawBody: `{"inputs":[${Array(200_000).fill('0').join(',')}]}` });
    expect(res.status, res.text.slice(0, 200)).toBe(400);
    expect(res.json.error.code).toBe('BATCH_TOO_LARGE');
    expect(res.text.length).toBeLessThan(1024);
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('200,000 empty objects are refused before parsing (400 body/containers), with a small answer', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token: predictKey, rawBody: `{"inputs":[${Array(200_000).fill('{}').join(',')}]}` });
    expect(res.status, res.text.slice(0, 200)).toBe(400);
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'body', rule: 'containers' })]);
    expect(res.text.length).toBeLessThan(1024);
    expect((await api('GET', '/health')).status).toBe(200);
  });
});
