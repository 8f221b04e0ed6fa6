import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiFrom,
  createKey,
  createUser,
  expectError,
  keyToken,
  requestIdOf,
  scanTable,
  startTwinWithEnv,
  moveToFreshRateWindow,
  type CreatedKey,
  type CreatedUser,
} from '../support/identity.js';
import { adminPassword, apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Per-principal limits and the login throttle, with the deployment's default login limits (10 per username,
 * 30 per source a minute) and a default principal limit of 50 a minute, so that a key's own limit (20) and
 * the default are told apart (a key's limit may not exceed its owner's: docs/security.md, "Key limits").
 *
 * Windows are fixed 60 s windows aligned to the epoch minute of the twin's clock. Every test that needs its
 * requests to fall in one window first moves that clock to the start of a fresh window (moveToFreshRateWindow:
 * no wait, whatever the time of day); the counts asserted are then exact whatever the machine's speed. No
 * assertion depends on how long anything took.
 */
const defaultLimit = 50;
const keyLimit = 20;

let t: TestTwin;
let api: Api;
let admin: string;
let key: CreatedKey;
let dee: CreatedUser & { token: string };
let thrott: CreatedUser;
let fresh: CreatedUser;

beforeAll(async () => {
  t = await startTwinWithEnv({ TWIN_RATE_LIMIT_PER_MINUTE: String(defaultLimit) });
  api = apiClient(t.url);
  admin = await login(api);
  key = await createKey(api, admin, { name: 'burst', scopes: ['twin:predict'], rate_limit_per_minute: keyLimit });
  const d = await createUser(api, admin, { username: 'dee', role: 'operator' });
  dee = { ...d, token: await login(api, d.username, d.password) };
  thrott = await createUser(api, admin, { username: 'thrott', role: 'viewer' });
  fresh = await createUser(api, admin, { username: 'fresh', role: 'viewer' });
});

afterAll(async () => {
  await t?.stop();
});

const predict = (token: string) => api('POST', '/api/v1/twin/predict', { token, body: validRow });

function expectRateLimited(res: ApiResponse, limit: number): void {
  expectError(res, 429, 'RATE_LIMITED');
  expect(res.json.message).toBe('Rate limit exceeded');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(res.json.error.retry_after_seconds).toBe(retryAfter);
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
}

function countBy<T>(items: readonly T[], key: (item: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[String(key(item))] = (out[String(key(item))] ?? 0) + 1;
  return out;
}

describe('per-principal limit under concurrency', () => {
  it(`an API key limited to ${keyLimit}/min firing 200 concurrent predicts gets exactly ${keyLimit} × 200 and ${200 - keyLimit} × 429`, async () => {
    // Prepare
    const token = await keyToken(api, key.key);
    // The burst and its checks must fall inside one fixed window (see the file comment).
    moveToFreshRateWindow(t);

    // Act
    const responses = await Promise.all(Array.from({ length: 200 }, () => predict(token)));

    // Assess
    expect(countBy(responses, (r) => r.status)).toEqual({ 200: keyLimit, 429: 200 - keyLimit });
    const allowed = responses.filter((r) => r.status === 200);
    for (const res of allowed) {
      expect(res.headers.get('ratelimit-limit')).toBe(String(keyLimit));
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }
    // One atomic ADD per request: every allowed request saw its own count, so the remainders are 19..0, each once.
    const remaining = allowed.map((r) => Number(r.headers.get('ratelimit-remaining'))).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: keyLimit }, (_, i) => i));
    for (const res of responses.filter((r) => r.status === 429)) expectRateLimited(res, keyLimit);

    // The counter item holds exactly the limit: refused requests never incremented it.
    const counters = (await scanTable(t, 'RateCounters')).filter((c) => String(c.pk).startsWith(`p:key:${key.id}#`));
    expect(counters).toHaveLength(1);
    expect(Number(counters[0]!.count)).toBe(keyLimit);
    expect(Number(String(counters[0]!.pk).split('#')[1]) % 60).toBe(0);
  });

  it(`a user without a key limit gets the deployment default (${defaultLimit}): ${defaultLimit + 5} concurrent → ${defaultLimit} × 200, 5 × 429`, async () => {
    moveToFreshRateWindow(t);
    const responses = await Promise.all(Array.from({ length: defaultLimit + 5 }, () => predict(dee.token)));
    expect(countBy(responses, (r) => r.status)).toEqual({ 200: defaultLimit, 429: 5 });
    for (const res of responses.filter((r) => r.status === 200)) expect(res.headers.get('ratelimit-limit')).toBe(String(defaultLimit));
    for (const res of responses.filter((r) => r.status === 429)) expectRateLimited(res, defaultLimit);
  });

  it('the windows follow the twin’s clock: a minute on (moved, not waited), the exhausted user has a whole window again', async () => {
    expectRateLimited(await predict(dee.token), defaultLimit);
    t.clock.advance(60_000);
    const res = await predict(dee.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe(String(defaultLimit - 1));
  });

  it('limits are per principal: other principals are unaffected by an exhausted bucket', async () => {
    const res = await api('GET', '/api/v1/twin/status', { token: admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe(String(defaultLimit));
    expect(Number(res.headers.get('ratelimit-remaining'))).toBeLessThan(defaultLimit);
  });

  it('every authenticated answer carries RateLimit-Limit/Remaining/Reset, including errors', async () => {
    const bad = await api('POST', '/api/v1/twin/predict', { token: admin, body: { ...validRow, temp: 9999 } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('ratelimit-limit')).toBe(String(defaultLimit));
    expect(bad.headers.get('ratelimit-remaining')).not.toBeNull();
    expect(bad.headers.get('ratelimit-reset')).not.toBeNull();
  });
});

describe('login throttle (fails with 429 + Retry-After)', () => {
  it('per username: the 11th attempt in a window is refused, even with the right password and from another source', async () => {
    moveToFreshRateWindow(t);
    const attempts = await Promise.all(
      Array.from({ length: 10 }, () => api('POST', '/api/v1/auth/login', { body: { username: 'thrott', password: 'wrong-password' } })),
    );
    for (const res of attempts) expectError(res, 401, 'INVALID_CREDENTIALS');

    const eleventh = await apiFrom(t.url, '127.0.0.3')('POST', '/api/v1/auth/login', { body: { username: 'thrott', password: thrott.password } });
    expectRateLimited(eleventh, 10);
    // The token endpoint's password grant shares the throttle.
    const viaToken = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', username: 'thrott', password: thrott.password } });
    expectRateLimited(viaToken, 10);
    // Another username from the same source is not throttled.
    expect((await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: adminPassword } })).status).toBe(200);
  });

  it('per source: the 31st attempt from one address is refused; another address and X-Forwarded-For spoofing change nothing', async () => {
    moveToFreshRateWindow(t);
    const fromTwo = apiFrom(t.url, '127.0.0.2');
    const attempts = await Promise.all(
      Array.from({ length: 30 }, (_, i) => fromTwo('POST', '/api/v1/auth/login', { body: { username: `ghost-${i}`, password: 'whatever-password' } })),
    );
    for (const res of attempts) expectError(res, 401, 'INVALID_CREDENTIALS');

    const thirtyFirst = await fromTwo('POST', '/api/v1/auth/login', { body: { username: 'fresh', password: fresh.password } });
    expectRateLimited(thirtyFirst, 30);
    const spoofed = await fromTwo('POST', '/api/v1/auth/login', {
      body: { username: 'fresh', password: fresh.password },
      headers: { 'x-forwarded-for': '10.9.8.7', 'x-real-ip': '10.9.8.7', forwarded: 'for=10.9.8.7' },
    });
    expectRateLimited(spoofed, 30);

    const elsewhere = await apiFrom(t.url, '127.0.0.4')('POST', '/api/v1/auth/login', { body: { username: 'fresh', password: fresh.password } });
    expect(elsewhere.status).toBe(200);

    // The refusals are audited with the real source address.
    const records = await scanTable(t, 'AuditLog');
    const record = records.find((r) => r.requestId === requestIdOf(spoofed));
    expect(record).toMatchObject({ action: 'auth.login', outcome: 429, errorCode: 'RATE_LIMITED', sourceIp: '127.0.0.2', subject: 'fresh' });
  });
});
