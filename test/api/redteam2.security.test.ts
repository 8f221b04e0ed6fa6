import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { publishBody, referenceVariant, smallForestPackage, startModelTwin, type TestPackage } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';
import { sha256Hex } from '../../functions/core/manifest.js';
import { trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { REACTOR_FEATURES } from '../../models/tools/reactor.js';

/**
 * The second hostile review (as the lowest principals of another plant, a narrow key, a plant admin), after
 * Predictions became one item per served request: what got through is each a test here. Measured values
 * far from the prediction (a squared error past 2^53) answered 500 after their values were stored (so a
 * retry was a "duplicate" and the figures never had them); a lookup time in the far future answered 500
 * (DynamoDB refused the key range); a plant's manifest could state interval widths that overflow to
 * Infinity (answered as `null`); a plant's model predicting beyond 2^53 failed the group write of the
 * served rows it shared with other plants' requests, so their lab values found no prediction.
 */

let t: TestTwin;
let api: Api;
let admin: string;
const a = { admin: '', operator: '', feedback: '' };
const b = { operator: '', feedback: '' };
const model = 'line-a';
const base = `/api/v1/models/${model}`;
const row = { temp: 360, pressure: 6, flow: 100 };

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  a.admin = (await userWithToken(api, admin, { username: 'rt2-a-admin', role: 'admin', plant: 'plant-a' })).token;
  a.operator = (await userWithToken(api, admin, { username: 'rt2-a-op', role: 'operator', plant: 'plant-a' })).token;
  a.feedback = await keyToken(api, (await createKey(api, a.admin, { name: 'a lab', scopes: ['twin:feedback'] })).key);
  const bAdmin = (await userWithToken(api, admin, { username: 'rt2-b-admin', role: 'admin', plant: 'plant-b' })).token;
  b.operator = (await userWithToken(api, admin, { username: 'rt2-b-op', role: 'operator', plant: 'plant-b' })).token;
  b.feedback = await keyToken(api, (await createKey(api, bAdmin, { name: 'b lab', scopes: ['twin:feedback'] })).key);
  const pkg = await referenceVariant('1.0.0');
  expect((await api('POST', `${base}/versions`, { token: a.admin, body: publishBody({ manifest: { ...pkg.manifest, name: model }, bytes: pkg.bytes }) })).status).toBe(201);
  expect((await api('POST', `${base}/activate`, { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);
});

afterAll(async () => {
  await t?.stop();
});

async function batch(token: string, rows = 100): Promise<string> {
  const res = await api('POST', `${base}/batch`, { token, body: { inputs: Array.from({ length: rows }, () => row) } });
  expect(res.status, res.text).toBe(200);
  return res.headers.get('x-request-id')!;
}

describe('measured values far from the prediction', () => {
  it('at the bounds (±1e9: a squared error past 2^53) are accepted and counted, not a 500 that kept the values', async () => {
    // Prepare
    const requestId = await batch(a.operator, 2);
    const observations = [
      { request_id: requestId, index: 0, value: 1e9 },
      { request_id: requestId, index: 1, value: -1e9 },
    ];

    // Act
    const res = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations } });
    const again = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations } });
    const view = await api('GET', `${base}/quality`, { token: a.admin });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json.accepted).toBe(2);
    expect(again.json.duplicate).toBe(2);
    expect(view.status, view.text).toBe(200);
    expect(view.json.versions[0].windows.all.count).toBe(2);
  });

  it('a thousand in one call on ten 100-row batches, each error ~3e6 (the sum of squares past 2^53): all accepted', async () => {
    // Prepare
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await batch(a.operator));
    const observations = ids.flatMap((id) => Array.from({ length: 100 }, (_, index) => ({ request_id: id, index, value: 3e6 + index })));

    // Act
    const res = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations } });
    const replay = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations } });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ total: 1000, accepted: 1000 });
    expect(res.json.results.map((r: { index: number }) => r.index)).toEqual(observations.map((_, i) => i));
    expect(replay.json).toMatchObject({ total: 1000, duplicate: 1000 });
    expect((await api('GET', `${base}/quality`, { token: a.admin })).json.versions[0].windows.all.count).toBe(1002);
  });
});

describe('feedback by inputs and time', () => {
  it('a time in the future (up to year 9999) is a 400 naming the field, and nothing is stored', async () => {
    // Prepare
    await api('POST', `${base}/predict`, { token: a.operator, body: row });

    // Act
    const res = await api('POST', `${base}/feedback`, {
      token: a.feedback,
      body: { observations: [{ inputs: row, time: new Date().toISOString(), value: 84 }, { inputs: row, time: '9999-12-31T23:59:59Z', value: 1 }] },
    });
    const later = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations: [{ inputs: row, time: new Date().toISOString(), value: 84 }] } });

    // Assert
    expect(res.status, res.text).toBe(400);
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'observations.1.time', rule: 'max' })]);
    expect(later.json.accepted).toBe(1);
  });

  it('a time before anything is kept (year 1) is expired, answered without a lookup', async () => {
    // Act
    const res = await api('POST', `${base}/feedback`, { token: a.feedback, body: { observations: [{ inputs: row, time: '0001-01-01T00:00:00Z', value: 1 }] } });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json.results).toEqual([{ index: 0, status: 'expired' }]);
  });
});

describe('another plant', () => {
  it("cannot attach values to plant A's rows through a model both are served (request ids replayed, every index)", async () => {
    // Prepare: plant A predicts with the platform-wide model.
    const res = await api('POST', '/api/v1/models/reactor-yield/batch', { token: a.operator, body: { inputs: [row, row, row] } });
    const requestId = res.headers.get('x-request-id')!;

    // Act
    const attempt = await api('POST', '/api/v1/models/reactor-yield/feedback', { token: b.feedback, body: { observations: [0, 1, 2].map((index) => ({ request_id: requestId, index, value: 1 })) } });
    const own = await api('POST', '/api/v1/models/reactor-yield/feedback', { token: a.feedback, body: { observations: [0, 1, 2].map((index) => ({ request_id: requestId, index, value: 84 })) } });

    // Assert
    expect(attempt.json).toMatchObject({ accepted: 0, unknown: 3 });
    expect(JSON.stringify(attempt.json)).not.toContain('version');
    expect(own.json).toMatchObject({ accepted: 3 });
  });
});

describe("a plant admin's hostile package", () => {
  it('interval widths that overflow (scale 1e308, halfWidth 1.7e308) are refused at publish, naming the field', async () => {
    // Prepare
    const pkg = smallForestPackage('1.0.0');
    const intervals = [
      { interval: { method: 'conformal-normalized', level: 0.9, scale: 1e308, eps: 1 }, field: 'manifest.interval.scale' },
      { interval: { method: 'conformal-mondrian', level: 0.9, tree: [{ group: 0 }], halfWidth: [1.7e308] }, field: 'manifest.interval.halfWidth.0' },
      { interval: { method: 'conformal', level: 0.9, halfWidth: 1.7e308 }, field: 'manifest.interval.halfWidth' },
    ];

    for (const { interval, field } of intervals) {
      // Act
      const res = await api('POST', '/api/v1/models/wide-a/versions', { token: a.admin, body: publishBody({ manifest: { ...pkg.manifest, name: 'wide-a', interval }, bytes: pkg.bytes }) });

      // Assert
      expect(res.status, res.text).toBe(400);
      expect(res.json.error.issues).toContainEqual(expect.objectContaining({ field, rule: 'too_big', message: 'must be at most 1000000000000' }));
    }
  });

  it("a model predicting beyond 2^53 never costs another plant's concurrent predictions their lab values", async () => {
    // Prepare: plant A's forest predicts ~8e18 (an integer no store keeps exactly as a number).
    const x = latinHypercube(120, REACTOR_FEATURES, 11).map((r) => r.map(Math.fround));
    const forest = trainRandomForest(x, x.map((_, i) => (80 + (i % 7)) * 1e17), { nTrees: 3, maxDepth: 3, minSamplesLeaf: 3, maxFeatures: 3, seed: 3 });
    const bytes = exportForestOnnx(forest, { graphName: 'huge', docString: 'huge' });
    const huge: TestPackage = { manifest: { ...smallForestPackage('1.0.0').manifest, name: 'huge-a', alerts: { min: 0, max: 1e20 }, sha256: sha256Hex(bytes) }, bytes };
    expect((await api('POST', '/api/v1/models/huge-a/versions', { token: a.admin, body: publishBody(huge) })).status).toBe(201);
    expect((await api('POST', '/api/v1/models/huge-a/activate', { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);

    // Act: both plants predict at once, rounds of 20 each; then plant B reports its lab values.
    const bIds: string[] = [];
    for (let round = 0; round < 3; round++) {
      const calls = Array.from({ length: 40 }, (_, i) =>
        i % 2 ? api('POST', '/api/v1/models/huge-a/predict', { token: a.operator, body: { ...row, flow: 60 + i } }) : api('POST', '/api/v1/models/reactor-yield/predict', { token: b.operator, body: { ...row, flow: 60 + i + round / 10 } }),
      );
      const answers = await Promise.all(calls);
      answers.forEach((res, i) => {
        expect(res.status, res.text).toBe(200);
        if (i % 2 === 0) bIds.push(res.headers.get('x-request-id')!);
      });
    }
    const feedback = await api('POST', '/api/v1/models/reactor-yield/feedback', { token: b.feedback, body: { observations: bIds.map((id) => ({ request_id: id, value: 84 })) } });

    // Assert
    expect(feedback.json).toMatchObject({ total: 60, accepted: 60, unknown: 0 });
  });
});

describe('calibrating a wide ensemble', () => {
  it('rows × members is bounded (a 400 naming rows, before the graph runs), so a 600 kB body cannot hold a gigabyte', async () => {
    // Prepare: plant A's 2,000-member forest (depth 1: small and quick to build).
    const x = latinHypercube(120, REACTOR_FEATURES, 12).map((r) => r.map(Math.fround));
    const forest = trainRandomForest(x, x.map((_, i) => 80 + (i % 7)), { nTrees: 2000, maxDepth: 1, minSamplesLeaf: 3, maxFeatures: 3, seed: 4 });
    const bytes = exportForestOnnx(forest, { graphName: 'wide', docString: 'wide' });
    const wide: TestPackage = { manifest: { ...smallForestPackage('1.0.0').manifest, name: 'wide-b', output: { kind: 'ensemble', members: 2000 }, sha256: sha256Hex(bytes) }, bytes };
    expect((await api('POST', '/api/v1/models/wide-b/versions', { token: a.admin, body: publishBody(wide) })).status).toBe(201);
    expect((await api('POST', '/api/v1/models/wide-b/activate', { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);
    const rows = Array.from({ length: 5001 }, (_, i) => ({ inputs: { temp: 300 + (i % 100), pressure: 2 + (i % 7), flow: 50 + (i % 13) }, value: 70 + (i % 11) }));

    // Act
    const res = await api('PUT', '/api/v1/models/wide-b/versions/1.0.0/calibration', { token: a.admin, body: { rows } });

    // Assert
    expect(res.status, res.text.slice(0, 300)).toBe(400);
    expect(res.json.error.issues).toEqual([{ field: 'rows', rule: 'max', message: 'at most 5000 rows for a model of 2000 members (rows × members ≤ 10000000)' }]);
  });

  it('its rows are charged once per started 100 members: a 100 × 100 sweep is refused (429) before it runs, a 10 × 10 one is served', async () => {
    // Prepare: wide-b (2,000 members) was published and activated by the test above; a key limited to 1,000
    // units a minute (a 100 × 100 sweep of a narrow model costs 100 of them).
    const limited = await keyToken(api, (await createKey(api, a.admin, { name: 'a sweeps', scopes: ['twin:predict'], rate_limit_per_minute: 1000 })).key);
    const sweep = (n: number) => ({ x: { feature: 'temp', steps: n }, y: { feature: 'pressure', steps: n }, fixed: { flow: 100 } });

    // Act
    const big = await api('POST', '/api/v1/models/wide-b/sweep', { token: limited, body: sweep(100) });
    const small = await api('POST', '/api/v1/models/wide-b/sweep', { token: limited, body: sweep(10) });

    // Assert: 10,000 rows × 20 = 2,000 units, over the key's 1,000; 100 rows × 20 = 20 units.
    expect(big.status, big.text.slice(0, 300)).toBe(429);
    expect(big.json.error.code).toBe('RATE_LIMITED');
    expect(small.status, small.text.slice(0, 300)).toBe(200);
    expect(small.json.rows).toBe(100);
  });
});
