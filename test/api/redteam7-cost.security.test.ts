import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moveToFreshRateWindow, relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { publicBodyBytes } from '../../functions/contracts.js';
import { expectCleanRefusal, southPrincipals, type SouthPrincipals } from '../support/hostile.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The seventh hostile review, cost: the server's CPU per request against the units charged, for every route
 * that multiplies work (figures in the review's report, measured with process.cpuUsage of the in-process twin;
 * never asserted here). What got through: feedback matched by inputs and time ran up to 25 lookups of up to
 * 1,000 stored rows each for the gateway's one unit — 146 ms of CPU against a predict's 11 ms once a plant had
 * 1,000 rows in the window (25,000 rows read for one unit). Each such lookup is now charged one unit before any
 * runs (functions/core/quality/service.ts); observations by request id (keyed reads) are not. And the public
 * routes parsed bodies up to Lambda's 6 MB before any rate limit: a 5 MB object of 400,000 keys cost ~0.45 s of
 * CPU per anonymous login; login and token now refuse a body over 16 KB before decoding it (functions/contracts.ts).
 */

const limit = 50;
let t: TestTwin;
let api: Api;
let south: SouthPrincipals;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: String(limit) });
  api = apiClient(t.url);
  south = await southPrincipals(api, await login(api), 'rt7c');
});

afterAll(async () => {
  await t?.stop();
});

const feedback = (observations: unknown[]) => api('POST', '/api/v1/models/reactor-yield/feedback', { token: south.operator, body: { observations } });
const byInputs = (n: number, inputs: Record<string, number>) => Array.from({ length: n }, () => ({ inputs, time: new Date(t.clock.now()).toISOString(), value: 80 }));

describe('feedback by inputs and time (fixed: 25 lookups of up to 1,000 rows each for one unit)', () => {
  it(`costs one unit per lookup, charged before any runs: two calls of 25 fill a limit of ${limit}, after three keyed calls the second is a 429 and stores nothing`, async () => {
    // Arrange: a fresh window; a prediction to match (1 unit).
    moveToFreshRateWindow(t);
    const served = await api('POST', '/api/v1/twin/predict', { token: south.operator, body: validRow });
    expect(served.status).toBe(200);
    const unmatched = { temp: 301, pressure: 2, flow: 51 };

    // Act: three calls of 1,000 observations by request id (one unit each), then two of 25 by inputs.
    const keyed = [];
    for (let i = 0; i < 3; i++) keyed.push(await feedback(Array.from({ length: 1_000 }, (_, j) => ({ request_id: `none-${i}-${j}`, value: 1 }))));
    const first = await feedback(byInputs(25, unmatched));
    const second = await feedback([...byInputs(24, unmatched), ...byInputs(1, validRow)]);

    // Assert: 1 + 3 + 25 = 29 units; 25 more would be 54 > 50, refused whole before any lookup.
    expect(keyed.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(first.status, first.text.slice(0, 300)).toBe(200);
    expect(first.json.unknown).toBe(25);
    expect(second.status, second.text.slice(0, 300)).toBe(429);
    expect(second.json.error.code).toBe('RATE_LIMITED');
    // The refused call matched nothing: the prediction still takes its value, once.
    moveToFreshRateWindow(t);
    const later = await feedback([{ request_id: served.headers.get('x-request-id'), value: 80 }]);
    expect(later.status, later.text.slice(0, 300)).toBe(200);
    expect(later.json.accepted).toBe(1);
  });

  it(`exactly one unit per lookup: two calls of 25 are served in a fresh window of ${limit}, the predict after them is not`, async () => {
    moveToFreshRateWindow(t);

    const calls = [await feedback(byInputs(25, { temp: 302, pressure: 3, flow: 52 })), await feedback(byInputs(25, { temp: 303, pressure: 3, flow: 52 }))];
    const after = await api('POST', '/api/v1/twin/predict', { token: south.operator, body: validRow });

    expect(calls.map((r) => r.status)).toEqual([200, 200]);
    expect(after.status).toBe(429);
  });
});

describe('the public routes (fixed: anyone could have 6 MB of JSON parsed per request)', () => {
  const manyKeys = (bytes: number) => {
    const parts: string[] = ['"username":"x"'];
    for (let i = 0, size = 16; size <= bytes; i++) {
      const part = `"k${i}":0`;
      parts.push(part);
      size += part.length + 1;
    }
    return `{${parts.join(',')}}`;
  };

  it(`login and token refuse a body over ${publicBodyBytes} bytes (413 naming body/max_bytes) before parsing it, JSON or form`, async () => {
    const json = { 'content-type': 'application/json' };
    for (const [path, body, headers] of [
      ['/api/v1/auth/login', manyKeys(5_000_000), json],
      ['/api/v1/auth/token', manyKeys(publicBodyBytes), json],
      ['/api/v1/auth/token', `grant_type=password&username=x&password=${'p'.repeat(publicBodyBytes)}`, { 'content-type': 'application/x-www-form-urlencoded' }],
    ] as const) {
      const res = await api('POST', path, { rawBody: body, headers });
      expectCleanRefusal(res, `${path} with ${body.length} bytes`, { field: 'body', rule: 'max_bytes' });
      expect(res.status).toBe(413);
      expect(res.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    }
  });

  it('a body at the limit is read and judged as before (a 400 naming the fields, not a size refusal)', async () => {
    const atLimit = manyKeys(publicBodyBytes - 200);

    const res = await api('POST', '/api/v1/auth/login', { rawBody: atLimit, headers: { 'content-type': 'application/json' } });

    expect(Buffer.byteLength(atLimit)).toBeLessThanOrEqual(publicBodyBytes);
    expectCleanRefusal(res, 'a login body at the limit');
    expect(res.status).toBe(400);
    expect(res.json.error.issues[0].rule).not.toBe('max_bytes');
  });
});
