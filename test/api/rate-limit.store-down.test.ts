import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, relaxedLoginEnv, requestIdOf, roleScope, scanTable, startTwinWithEnv } from '../support/identity.js';
import { adminPassword, apiClient, claimsFor, readSigningKeys, signToken, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The counter store is down: the rate-counter table the functions are told to use does not exist (the
 * twin creates its tables under their own names, so `missing-table` is never created). Login must fail
 * closed (503: no unlimited password guessing); every other route fails open (served, no RateLimit headers).
 * Nobody can log in, so the tokens here are minted with the twin's own signing key, as login would.
 */
let t: TestTwin;
let api: Api;
let adminToken: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_COUNTERS_TABLE: 'missing-table' });
  api = apiClient(t.url);
  const signing = (await readSigningKeys(t.dataDir))[0]!;
  adminToken = await signToken(
    claimsFor(t.url, { scope: roleScope('admin') }),
    signing.key,
    { kid: signing.kid },
  );
});

afterAll(async () => {
  await t?.stop();
});

describe('login fails closed', () => {
  it('the right password → 503 SERVICE_UNAVAILABLE, no token', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: adminPassword } });
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
    expect(res.json).not.toHaveProperty('token');
    expect(res.text).not.toContain('missing-table');
  });

  it('a wrong password and an unknown user answer the same 503 (no oracle while the store is down)', async () => {
    const wrong = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong-password' } });
    const unknown = await api('POST', '/api/v1/auth/login', { body: { username: 'nobody', password: 'wrong-password' } });
    expectError(wrong, 503, 'SERVICE_UNAVAILABLE');
    expectError(unknown, 503, 'SERVICE_UNAVAILABLE');
    expect(wrong.json.message).toBe(unknown.json.message);
  });

  it('the token endpoint’s password grant → 503 too', async () => {
    const res = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', username: 'admin', password: adminPassword } });
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
    expect(res.json).not.toHaveProperty('access_token');
  });

  it('each refusal is audited', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: adminPassword } });
    const record = (await scanTable(t, 'AuditLog')).find((r) => r.requestId === requestIdOf(res));
    expect(record).toMatchObject({ action: 'auth.login', outcome: 503, errorCode: 'SERVICE_UNAVAILABLE', subject: 'admin' });
  });
});

describe('everything else fails open', () => {
  it('predict answers 200, without RateLimit headers (no decision was made)', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token: adminToken, body: validRow });
    expect(res.status, res.text).toBe(200);
    expect(typeof res.json.prediction).toBe('number');
    expect(res.headers.get('ratelimit-limit')).toBeNull();
    expect(res.headers.get('ratelimit-remaining')).toBeNull();
  });

  it('many predicts keep being served (no limit can be enforced)', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => api('POST', '/api/v1/twin/predict', { token: adminToken, body: validRow })));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
  });

  it('other authenticated routes are served too, and audited', async () => {
    const status = await api('GET', '/api/v1/twin/status', { token: adminToken });
    expect(status.status).toBe(200);
    const users = await api('GET', '/api/v1/users', { token: adminToken });
    expect(users.status).toBe(200);
    const records = await scanTable(t, 'AuditLog');
    expect(records.filter((r) => r.requestId === requestIdOf(status))).toHaveLength(1);
  });
});
