import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, expectError, keyToken, requestIdOf, moveToFreshRateWindow } from '../support/identity.js';
import {
  activate,
  auditRecords,
  modelName,
  publishNew,
  referenceVariant,
  row,
  servingStats,
  startModelTwin,
  variantStats,
} from '../support/models.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

/** Every single prediction this file makes, per version: requests and cache hits (the cache is per container). */
const tally = new Map<string, { requests: number; hits: number }>();

async function predict(body: unknown, token = admin): Promise<ApiResponse> {
  const res = await api('POST', '/api/v1/twin/predict', { token, body });
  if (res.status === 200) {
    const entry = tally.get(res.json.model_version) ?? { requests: 0, hits: 0 };
    entry.requests++;
    if (res.json.from_cache) entry.hits++;
    tally.set(res.json.model_version, entry);
  }
  return res;
}

const X = row(352.5, 5.5, 110);

// The tests run in order: 1.0.0 serves first, then 1.1.0 and 1.2.0 are activated and rolled back.
describe('hits', () => {
  let first: ApiResponse;

  it('answers an identical request to the same version from the cache, with from_cache: true and the same answer', async () => {
    // Act
    first = await predict(X);
    const second = await predict(X);
    const third = await predict({ flow: 110, temp: 352.5, pressure: 5.5 }); // same values, other key order

    // Assess
    expect(first.status).toBe(200);
    expect(first.json.from_cache).toBe(false);
    for (const cached of [second, third]) {
      expect(cached.status).toBe(200);
      expect(cached.json.from_cache).toBe(true);
      expect(cached.json).toMatchObject({
        model_version: '1.0.0',
        prediction: first.json.prediction,
        confidence_interval: first.json.confidence_interval,
        extrapolation: first.json.extrapolation,
        user: 'admin',
      });
    }
  });

  it('misses for any other row', async () => {
    expect((await predict(row(352.5, 5.5, 111))).json.from_cache).toBe(false);
    expect((await predict(row(352.75, 5.5, 110))).json.from_cache).toBe(false);
  });

  it('serves /predict (the chapter route) from the same cache', async () => {
    const res = await api('POST', '/predict', { token: admin, body: X });
    expect(res.json.result).toMatchObject({ from_cache: true, prediction: first.json.prediction, model_version: '1.0.0' });
    const entry = tally.get('1.0.0')!;
    entry.requests++;
    entry.hits++;
  });

  it('reports the hit rate per variant in stats, and overall and per container in /metrics', async () => {
    // Prepare
    const mine = tally.get('1.0.0')!;
    expect(mine).toEqual({ requests: 6, hits: 3 });

    // Act
    const stats = servingStats(await variantStats(api, admin), '1.0.0');
    const metrics = await api('GET', '/metrics', { token: admin });

    // Assess
    expect(stats).toMatchObject({ requests: 6, rows: 6, cache_hit_rate: 3 / 6 });
    expect(metrics.status).toBe(200);
    expect(metrics.json).toMatchObject({ cache_hit_rate: 3 / 6, by_version: { '1.0.0': { requests: 6, rows: 6, cache_hits: 3 } } });
    expect(metrics.json.container.cache).toMatchObject({ hits: 3, misses: 3, hit_rate: 0.5, size: 3, capacity: 1000 });
  });

  it('never caches batches (one inference run for all rows)', async () => {
    const batch = await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: [X, X] } });
    expect(batch.json.results.map((r: { prediction: number }) => r.prediction)).toEqual([first.json.prediction, first.json.prediction]);
    const stats = servingStats(await variantStats(api, admin), '1.0.0');
    expect(stats).toMatchObject({ requests: 7, rows: 8, cache_hit_rate: 3 / 7 });
  });
});

describe('version isolation', () => {
  let original: ApiResponse;

  it('a newly activated version never serves an answer cached for the old one', async () => {
    // Prepare: 1.1.0 sees temp - 10, so its answer for X differs from 1.0.0's (cached above)
    original = await predict(X);
    expect(original.json.from_cache).toBe(true);
    await publishNew(api, admin, await referenceVariant('1.1.0', { tempShift: 10 }));
    await activate(api, admin, '1.1.0');

    // Act
    const fresh = await predict(X);
    const again = await predict(X);

    // Assess
    expect(fresh.json).toMatchObject({ model_version: '1.1.0', from_cache: false });
    expect(fresh.json.prediction).not.toBe(original.json.prediction);
    expect(again.json).toMatchObject({ model_version: '1.1.0', from_cache: true, prediction: fresh.json.prediction });
  });

  it('even a version with identical answers (same bytes, no scaler) gets its own entries', async () => {
    await publishNew(api, admin, await referenceVariant('1.2.0'));
    await activate(api, admin, '1.2.0');
    const res = await predict(X);
    expect(res.json).toMatchObject({ model_version: '1.2.0', from_cache: false, prediction: original.json.prediction });
  });

  it("after a rollback the old version's entries are valid again (packages are immutable)", async () => {
    // 1.2.0 -> 1.1.0 -> 1.0.0
    expect((await api('POST', `/api/v1/models/${modelName}/rollback`, { token: admin })).json.routing.active).toBe('1.1.0');
    expect((await predict(X)).json).toMatchObject({ model_version: '1.1.0', from_cache: true });
    expect((await api('POST', `/api/v1/models/${modelName}/rollback`, { token: admin })).json.routing.active).toBe('1.0.0');
    const back = await predict(X);
    expect(back.json).toMatchObject({ model_version: '1.0.0', from_cache: true, prediction: original.json.prediction });
  });

  it('stats count hits per version', async () => {
    const stats = await variantStats(api, admin);
    for (const version of ['1.1.0', '1.2.0']) {
      const mine = tally.get(version)!;
      expect(servingStats(stats, version), version).toMatchObject({ requests: mine.requests, cache_hit_rate: mine.hits / mine.requests });
    }
    expect(tally.get('1.1.0')).toEqual({ requests: 3, hits: 2 });
  });
});

describe('cached answers are still audited and rate-limited', () => {
  it('a cached answer carries the RateLimit headers and has its own audit record', async () => {
    // Act
    const cached = await predict(X);

    // Assess
    expect(cached.json.from_cache).toBe(true);
    expect(cached.headers.get('ratelimit-limit')).toBe('100000');
    expect(Number(cached.headers.get('ratelimit-remaining'))).toBeGreaterThan(0);
    expect(Number(cached.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const records = await auditRecords(api, admin, { principal: 'admin', action: 'twin.predict' });
    const record = records.find((r) => r.requestId === requestIdOf(cached));
    expect(record).toMatchObject({ principal: 'admin', action: 'twin.predict', outcome: 200, modelVersion: '1.0.0' });
  });

  it('a key limited to 5 requests per minute gets 429 on the 6th identical request although it would be a cache hit', async () => {
    // Prepare: all six requests in one fixed rate-limit window
    const key = await createKey(api, admin, { name: 'five per minute', scopes: ['twin:predict'], rate_limit_per_minute: 5 });
    const token = await keyToken(api, key.key);
    const Y = row(347.25, 6.5, 95); // not cached yet
    moveToFreshRateWindow(t);

    // Act
    const responses: ApiResponse[] = [];
    for (let i = 0; i < 6; i++) responses.push(await predict(Y, token));

    // Assess
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(responses.slice(0, 5).map((r) => r.json.from_cache)).toEqual([false, true, true, true, true]);
    expect(responses.map((r) => r.headers.get('ratelimit-limit'))).toEqual(['5', '5', '5', '5', '5', '5']);
    expect(responses.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0', '0']);
    const limited = responses[5]!;
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    // Every one of the six, cached or refused, has its audit record.
    const records = await auditRecords(api, admin, { principal: `key:${key.id}`, action: 'twin.predict' });
    const byId = new Map(records.map((r) => [r.requestId, r]));
    responses.forEach((res, i) => {
      const record = byId.get(requestIdOf(res));
      expect(record, `request ${i}`).toBeDefined();
      expect(record!.outcome).toBe(res.status);
    });
    expect(byId.get(requestIdOf(limited))).toMatchObject({ outcome: 429, errorCode: 'RATE_LIMITED' });
    expect(byId.get(requestIdOf(responses[4]!))).toMatchObject({ outcome: 200, modelVersion: '1.0.0' });
  }, 120_000);
});
