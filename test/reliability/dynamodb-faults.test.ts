import { ConfiguredRetryStrategy, DEFAULT_MAX_ATTEMPTS } from '@smithy/core/retry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../functions/observability.js';
import { createKey, createUser, exchangeKey, expectError, keyToken, relaxedLoginEnv, scanTable, type CreatedKey, type TableId } from '../support/identity.js';
import {
  auditFallbackMessage,
  capturingLog,
  dropTable,
  expectGeneric5xx,
  expectNoInternals,
  recreateTable,
  scriptFaults,
  startFaultTwin,
  type LogCapture,
} from '../support/reliability.js';
import { adminPassword, apiClient, login, validRow, type Api, type ApiResponse } from '../support/twin.js';

/**
 * DynamoDB faults on the local twin (fault proxy in front of dynalite; single tables dropped for the
 * documented per-store cases), against docs/security.md:
 * - the rate-counter store unavailable: login, the password grant and API key exchange fail closed (503),
 *   other routes fail open (served, warning logged);
 * - the audit table unavailable: the answer stands, the full record goes to the function's log;
 * - DynamoDB down or throttling: no stack traces, writes answer a generic 5xx and leave nothing partial, the
 *   SDK retries throttling, every audit record survives in the log; normal again once the fault clears;
 * - SNS down: the prediction is served, the failed alert is retried at the next breach.
 * The S3 and model fail-safe cases are in test/api/failsafe.test.ts.
 */

type FaultTwin = Awaited<ReturnType<typeof startFaultTwin>>;
let t: FaultTwin;
let api: Api;
let admin: string;

const failOpenWarning = 'rate-limit store unavailable; request allowed (fail open)';
const adminLogin = { username: 'admin', password: adminPassword };
/** A row inside the valid ranges whose predicted yield (~10 %) is far below the alert band [70, 95]. */
const lowYieldRow = { temp: 300, pressure: 1, flow: 50 };

let logLevel: string;

beforeAll(async () => {
  // vitest.config.ts sets POWERTOOLS_LOG_LEVEL=ERROR; the documented fail-open warning is a WARN line.
  logLevel = logger.getLevelName();
  logger.setLogLevel('WARN');
  // The SDK's own retry decisions, attempt count and retry quota, without the exponential wait between tries
  // (500 ms and up on a throttle): what is retried and what it ends as is tested here, not how long the SDK
  // sleeps, which would cost the persistent-throttle case ~14 s. Production keeps the SDK's default strategy.
  // No takes reserved ahead (as in Lambda): a request served from a reserve made before a fault would never
  // reach the store-failure paths these tests are about (the reserve is test/stores/rate-limiter-group-commit).
  t = await startFaultTwin({ ...relaxedLoginEnv, TWIN_RATE_RESERVE_AHEAD: '0' }, { dynamoDbRetryStrategy: new ConfiguredRetryStrategy(DEFAULT_MAX_ATTEMPTS, 0) });
  api = apiClient(t.url);
  admin = await login(api);
  // Warms the authorizer's discovery and JWKS cache: afterwards a request touches DynamoDB only for itself.
  expect((await api('POST', '/api/v1/twin/predict', { token: admin, body: validRow })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await t?.stop();
  logger.setLogLevel(logLevel as Parameters<typeof logger.setLogLevel>[0]);
});

const predict = (token = admin, body: unknown = validRow) => api('POST', '/api/v1/twin/predict', { token, body });

/** Sets the DynamoDB fault for the duration of `fn` and clears it however `fn` ends. */
async function whileDynamoDb<T>(mode: FaultTwin['faults']['dynamodb']['mode'], fn: () => Promise<T>): Promise<T> {
  t.faults.dynamodb.mode = mode;
  try {
    return await fn();
  } finally {
    t.faults.dynamodb.mode = { kind: 'ok' };
  }
}

function requestId(res: ApiResponse): string {
  const id = res.headers.get('x-request-id');
  if (!id) throw new Error(`no x-request-id (the request did not reach a function): ${res.status} ${res.text}`);
  return id;
}

/** The one audit record the log holds for this response, checked against what the client saw. */
function expectAuditedInLog(log: LogCapture, res: ApiResponse, expected: { action: string; principal: string; method: string; resource: string }): Record<string, unknown> {
  const id = requestId(res);
  const records = log.auditFallbacks().filter((r) => r.requestId === id);
  expect(records, `exactly one logged audit record for ${expected.method} ${expected.resource} (${id})`).toHaveLength(1);
  const record = records[0]!;
  expect(record).toMatchObject({ ...expected, requestId: id, outcome: res.status });
  expect(typeof record.time).toBe('string');
  if (res.status >= 400) expect(record.errorCode).toBe(res.json?.error?.code ?? res.json?.code);
  return record;
}

async function snapshot(...ids: TableId[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const id of ids) {
    const items = await scanTable(t, id);
    out[id] = items.map((i) => JSON.stringify(i, Object.keys(i).sort())).sort();
  }
  return out;
}

/** Audit records in the table for these request ids (all pages of a query over the last hour). */
async function auditedInTable(ids: readonly string[]): Promise<string[]> {
  const wanted = new Set(ids);
  const found: string[] = [];
  let cursor: string | null = null;
  const from = new Date(Date.now() - 3_600_000).toISOString();
  do {
    const query: string = `/api/v1/audit?limit=200&from=${encodeURIComponent(from)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await api('GET', query, { token: admin });
    expect(res.status, res.text).toBe(200);
    for (const item of res.json.items as { requestId: string }[]) if (wanted.has(item.requestId)) found.push(item.requestId);
    cursor = res.json.next_cursor as string | null;
  } while (cursor);
  return found;
}

// ---------------------------------------------------------------------------------------------------------
describe('the rate-counter table unavailable (docs/security.md: login fails closed, other routes fail open)', () => {
  let key: CreatedKey;
  let keyBearer: string;

  beforeAll(async () => {
    key = await createKey(api, admin, { name: 'counter-outage', scopes: ['twin:predict'] });
    keyBearer = await keyToken(api, key.key);
    await dropTable(t.twin, 'RateCounters');
  });

  afterAll(async () => {
    await recreateTable(t.twin, 'RateCounters').catch(() => undefined);
  });

  it('login and the password grant answer 503 SERVICE_UNAVAILABLE; no token is issued', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: adminLogin });
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
    expectNoInternals(res);
    expect(res.json).not.toHaveProperty('token');
    const grant = await api('POST', '/api/v1/auth/token', { body: { grant_type: 'password', ...adminLogin } });
    expectError(grant, 503, 'SERVICE_UNAVAILABLE');
    expect(grant.json).not.toHaveProperty('access_token');
  });

  it('a wrong password answers the same 503: nothing is checked while attempts cannot be counted', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'not-the-password' } });
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
  });

  it('predict, batch and status are served, without RateLimit headers, and each fail-open is logged', async () => {
    const { result, log } = await capturingLog(async () => [
      await predict(),
      await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: [validRow, validRow] } }),
      await api('GET', '/api/v1/twin/status', { token: admin }),
    ]);
    for (const res of result) {
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBeNull();
    }
    expect(log.withMessage(failOpenWarning).length).toBeGreaterThanOrEqual(result.length);
  });

  it('an API key exchange fails closed too (503), and a token it issued earlier is still served (fail open)', async () => {
    const res = await exchangeKey(api, key.key);
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
    expect(res.json).not.toHaveProperty('access_token');
    expect((await predict(keyBearer)).status).toBe(200);
  });

  it('recovers: with the table back, login works and responses carry RateLimit headers again', async () => {
    await recreateTable(t.twin, 'RateCounters');
    expect((await api('POST', '/api/v1/auth/login', { body: adminLogin })).status).toBe(200);
    const res = await predict();
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('600');
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('the audit table unavailable: the answer stands and the full record is in the log', () => {
  it('every request that reaches a function has exactly one record in the log, and none is lost', async () => {
    await dropTable(t.twin, 'AuditLog');
    let responses: { res: ApiResponse; expect: { status: number; action: string; principal: string; method: string; resource: string } }[];
    let log: LogCapture;
    try {
      ({ result: responses, log } = await capturingLog(async () => {
        const out: typeof responses = [];
        const call = async (status: number, action: string, principal: string, method: string, resource: string, send: () => Promise<ApiResponse>) =>
          out.push({ res: await send(), expect: { status, action, principal, method, resource } });
        await call(200, 'twin.predict', 'admin', 'POST', '/api/v1/twin/predict', () => predict());
        await call(400, 'twin.predict', 'admin', 'POST', '/api/v1/twin/predict', () => predict(admin, { ...validRow, temp: 999 }));
        await call(200, 'twin.batch', 'admin', 'POST', '/api/v1/twin/batch', () => api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: [validRow, { temp: 1 }] } }));
        await call(200, 'auth.login', 'anonymous', 'POST', '/api/v1/auth/login', () => api('POST', '/api/v1/auth/login', { body: adminLogin }));
        await call(401, 'auth.login', 'anonymous', 'POST', '/api/v1/auth/login', () => api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong-password' } }));
        await call(201, 'users.create', 'admin', 'POST', '/api/v1/users', () =>
          api('POST', '/api/v1/users', { token: admin, body: { username: 'audrey', password: 'audrey-password-1', role: 'viewer' } }),
        );
        await call(200, 'health.read', 'anonymous', 'GET', '/health', () => api('GET', '/health'));
        // The audit query itself cannot be served: its table is gone.
        await call(500, 'audit.query', 'admin', 'GET', '/api/v1/audit', () => api('GET', '/api/v1/audit', { token: admin }));
        return out;
      }));
    } finally {
      await recreateTable(t.twin, 'AuditLog');
    }
    for (const { res, expect: want } of responses) {
      expect(res.status, `${want.method} ${want.resource}: ${res.text}`).toBe(want.status);
      if (res.status >= 500) expectGeneric5xx(res);
      const { status: _status, ...fields } = want;
      const record = expectAuditedInLog(log, res, fields);
      // Never bodies, passwords or tokens.
      const text = JSON.stringify(record);
      for (const secret of [adminPassword, 'wrong-password', 'audrey-password-1', admin]) expect(text).not.toContain(secret);
    }
    expect(responses.find((r) => r.expect.action === 'auth.login')?.res.json).toHaveProperty('token');
    // The answers stood: the user exists.
    expect((await api('GET', '/api/v1/users', { token: admin })).json.users.map((u: { username: string }) => u.username)).toContain('audrey');
    // The log is where these records are: the table (back, empty) has none of them.
    expect(await auditedInTable(responses.map((r) => requestId(r.res)))).toEqual([]);
  });

  it('with the table back, records are written to it again', async () => {
    const res = await predict();
    expect(await auditedInTable([requestId(res)])).toEqual([requestId(res)]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Before the outage tests: the SDK's retry quota (a token bucket shared by the container's client) is spent by
// long outages and refilled by successes; the retry assertions here must not depend on what came before.
describe('DynamoDB throttling', () => {
  it('a transient throttle is retried by the SDK: login succeeds, with exactly one extra request per throttled call', async () => {
    const baseline = scriptFaults(t.faults.dynamodb, () => ({ kind: 'ok' }));
    try {
      expect((await api('POST', '/api/v1/auth/login', { body: adminLogin })).status).toBe(200);
    } finally {
      baseline.restore();
    }
    // The first two DynamoDB requests (the two throttle counters, sent together) are throttled once each.
    const script = scriptFaults(t.faults.dynamodb, (n) => (n < 2 ? { kind: 'throttle' } : { kind: 'ok' }));
    let res: ApiResponse;
    try {
      res = await api('POST', '/api/v1/auth/login', { body: adminLogin });
    } finally {
      script.restore();
    }
    expect(res.status, res.text).toBe(200);
    expect(script.requests()).toBe(baseline.requests() + 2);
  });

  it('a persistent throttle: login 503 after the SDK has retried; a write answers a generic 5xx and leaves nothing behind', async () => {
    const baseline = scriptFaults(t.faults.dynamodb, () => ({ kind: 'ok' }));
    try {
      await api('POST', '/api/v1/auth/login', { body: adminLogin });
    } finally {
      baseline.restore();
    }
    const script = scriptFaults(t.faults.dynamodb, () => ({ kind: 'throttle' }));
    let loginRes: ApiResponse;
    let loginRequests: number;
    let createRes: ApiResponse;
    let log: LogCapture;
    try {
      ({ result: [loginRes, loginRequests, createRes], log } = await capturingLog(async () => {
        const login = await api('POST', '/api/v1/auth/login', { body: adminLogin });
        const sent = script.requests();
        return [login, sent, await api('POST', '/api/v1/users', { token: admin, body: { username: 'throttled', password: 'throttled-password-1', role: 'viewer' } })] as const;
      }));
    } finally {
      script.restore();
    }
    expectError(loginRes, 503, 'SERVICE_UNAVAILABLE');
    expectNoInternals(loginRes);
    // Retried: each DynamoDB request of the refused login (the two throttle counters, sent together, then its
    // audit record) went out as often as the SDK's strategy allows, DEFAULT_MAX_ATTEMPTS times.
    expect(loginRequests).toBe(3 * DEFAULT_MAX_ATTEMPTS);
    expect(script.requests()).toBeGreaterThan(baseline.requests());
    expectGeneric5xx(createRes);
    expectAuditedInLog(log, loginRes, { action: 'auth.login', principal: 'anonymous', method: 'POST', resource: '/api/v1/auth/login' });
    expectAuditedInLog(log, createRes, { action: 'users.create', principal: 'admin', method: 'POST', resource: '/api/v1/users' });
    expect((await scanTable(t, 'Users')).map((u) => u.username)).not.toContain('throttled');
    expect((await api('POST', '/api/v1/users', { token: admin, body: { username: 'throttled', password: 'throttled-password-1', role: 'viewer' } })).status).toBe(201);
  });

  it('a slow DynamoDB only slows requests down: everything is served', async () => {
    const responses = await whileDynamoDb({ kind: 'slow', delayMs: 150 }, async () => [
      await api('POST', '/api/v1/auth/login', { body: adminLogin }),
      await predict(),
      await api('POST', '/api/v1/users', { token: admin, body: { username: 'slowpoke', password: 'slowpoke-password-1', role: 'viewer' } }),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 201]);
    expect(await auditedInTable(responses.map(requestId))).toHaveLength(3);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('DynamoDB down (every connection cut)', () => {
  let key: CreatedKey;

  beforeAll(async () => {
    await createUser(api, admin, { username: 'vic', role: 'viewer' });
    key = await createKey(api, admin, { name: 'outage-key', scopes: ['twin:predict'] });
  });

  it('login fails closed: 503 SERVICE_UNAVAILABLE with a message that names no internals', async () => {
    const { result: res, log } = await capturingLog(() => whileDynamoDb({ kind: 'down' }, () => api('POST', '/api/v1/auth/login', { body: adminLogin })));
    expectError(res, 503, 'SERVICE_UNAVAILABLE');
    expectNoInternals(res);
    expectAuditedInLog(log, res, { action: 'auth.login', principal: 'anonymous', method: 'POST', resource: '/api/v1/auth/login' });
  });

  it('writes answer a generic 5xx, leave no partial state, and succeed as new once DynamoDB is back', async () => {
    const before = await snapshot('Users', 'ApiKeys');
    const writes: [string, string, () => Promise<ApiResponse>][] = [
      ['users.create', '/api/v1/users', () => api('POST', '/api/v1/users', { token: admin, body: { username: 'newbie', password: 'newbie-password-1', role: 'operator' } })],
      ['users.update', '/api/v1/users/vic', () => api('PATCH', '/api/v1/users/vic', { token: admin, body: { role: 'operator' } })],
      ['users.password', '/api/v1/users/vic/password', () => api('POST', '/api/v1/users/vic/password', { token: admin, body: { password: 'vic-new-password-1' } })],
      ['keys.create', '/api/v1/keys', () => api('POST', '/api/v1/keys', { token: admin, body: { name: 'during-outage' } })],
      ['keys.rotate', `/api/v1/keys/${key.id}/rotate`, () => api('POST', `/api/v1/keys/${key.id}/rotate`, { token: admin })],
      ['keys.revoke', `/api/v1/keys/${key.id}`, () => api('DELETE', `/api/v1/keys/${key.id}`, { token: admin })],
      ['auth.token', '/api/v1/auth/token', () => exchangeKey(api, key.key)],
      ['users.list', '/api/v1/users', () => api('GET', '/api/v1/users', { token: admin })],
      ['keys.list', '/api/v1/keys', () => api('GET', '/api/v1/keys', { token: admin })],
      ['audit.query', '/api/v1/audit', () => api('GET', '/api/v1/audit', { token: admin })],
    ];
    const { result: responses, log } = await capturingLog(() =>
      whileDynamoDb({ kind: 'down' }, async () => {
        const out: ApiResponse[] = [];
        for (const [, , send] of writes) out.push(await send());
        return out;
      }),
    );
    responses.forEach((res, i) => {
      const [action, resource] = writes[i]!;
      expectGeneric5xx(res);
      expectAuditedInLog(log, res, {
        action,
        principal: action === 'auth.token' ? 'anonymous' : 'admin',
        method: action === 'keys.revoke' ? 'DELETE' : action.endsWith('.list') || action === 'audit.query' ? 'GET' : action === 'users.update' ? 'PATCH' : 'POST',
        resource,
      });
    });
    // Nothing half-written.
    expect(await snapshot('Users', 'ApiKeys')).toEqual(before);
    // The same writes now succeed as if the failed attempts had never happened.
    expect((await api('POST', '/api/v1/users', { token: admin, body: { username: 'newbie', password: 'newbie-password-1', role: 'operator' } })).status).toBe(201);
    expect((await api('PATCH', '/api/v1/users/vic', { token: admin, body: { role: 'operator' } })).json).toMatchObject({ username: 'vic', role: 'operator' });
    expect((await exchangeKey(api, key.key)).status).toBe(200);
    const rotated = await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: admin });
    expect(rotated.status, rotated.text).toBe(200);
    expect((await exchangeKey(api, rotated.json.key as string)).status).toBe(200);
  });

  it('a request that the authorizer refuses never reaches a function and is unaffected', async () => {
    const res = await whileDynamoDb({ kind: 'down' }, () => api('POST', '/api/v1/twin/predict', { body: validRow }));
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ message: 'Unauthorized' });
  });

  it('every answer during the outage is either served or a generic 5xx, and every request is audited in the log', async () => {
    const { result: responses, log } = await capturingLog(() =>
      whileDynamoDb({ kind: 'down' }, async () => [
        await predict(),
        await api('POST', '/predict', { token: admin, body: validRow }),
        await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: [validRow] } }),
        await api('GET', '/api/v1/twin/status', { token: admin }),
        await api('GET', '/model/info', { token: admin }),
        await api('GET', '/metrics', { token: admin }),
        await api('GET', '/health'),
        await api('GET', '/.well-known/jwks.json'),
      ]),
    );
    for (const res of responses) {
      expectNoInternals(res);
      if (res.status >= 500) expectGeneric5xx(res);
      else expect(res.status, res.text).toBe(200);
      expect(log.auditFallbacks().filter((r) => r.requestId === requestId(res))).toHaveLength(1);
    }
    // Whatever failed was logged with its details (for the operator, not the client).
    expect(log.json().filter((l) => l.level === 'ERROR').length).toBeGreaterThan(0);
  });

  it('recovers: login, predictions with RateLimit headers, and audit records in the table', async () => {
    const token = await login(api);
    const res = await predict(token);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('600');
    expect(await auditedInTable([requestId(res)])).toEqual([requestId(res)]);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('predictions while DynamoDB is unavailable (docs/security.md: the limiter fails open)', () => {
  // "every other route fails open (the request is served, a warning is logged): a plant's control loop should
  // not stop because a counter table throttled". A prediction needs nothing from DynamoDB to be answered.
  it.each([
    ['down', { kind: 'down' }],
    ['throttling', { kind: 'throttle' }],
  ] as const)('DynamoDB %s: predict, /predict and batch are still served', async (_label, mode) => {
    const { result: responses, log } = await capturingLog(() =>
      whileDynamoDb(mode, async () => [
        await predict(),
        await api('POST', '/predict', { token: admin, body: validRow }),
        await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: [validRow] } }),
      ]),
    );
    const failures = responses
      .map((res, i) => ({ route: ['POST /api/v1/twin/predict', 'POST /predict', 'POST /api/v1/twin/batch'][i], status: res.status, code: res.json?.error?.code }))
      .filter((r) => r.status !== 200);
    const causes = log
      .withMessage('unhandled error')
      .map((l) => `${String((l.error as { name?: string } | undefined)?.name)}: ${String((l.error as { message?: string } | undefined)?.message)}`);
    expect({ failures, causes: [...new Set(causes)] }).toEqual({ failures: [], causes: [] });
    for (const res of responses) expect(log.auditFallbacks().filter((r) => r.requestId === requestId(res))).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('SNS down: the prediction is served and the alert is retried at the next breach', () => {
  it('an alert that cannot be published is logged, given back, and published by the next breach', async () => {
    const sam = await createUser(api, admin, { username: 'sam', role: 'operator' });
    const token = await login(api, sam.username, sam.password);
    const alertsFor = async () => (await t.twin.sns.recent(1000)).filter((m) => (m.message as { principal?: string }).principal === 'sam');
    t.twin.sns.failing = true;
    let failed: ApiResponse;
    let log: LogCapture;
    try {
      ({ result: failed, log } = await capturingLog(() => predict(token, lowYieldRow)));
    } finally {
      t.twin.sns.failing = false;
    }
    expect(failed.status, failed.text).toBe(200);
    expect(failed.json.prediction).toBeLessThan(70);
    expect(log.json().some((l) => l.level === 'ERROR' && String(l.message).startsWith('alert publish failed'))).toBe(true);
    expect(await alertsFor()).toEqual([]);
    // Inside the cooldown, yet published: the failed claim was given back.
    const retried = await predict(token, lowYieldRow);
    expect(retried.status).toBe(200);
    const published = await alertsFor();
    expect(published).toHaveLength(1);
    expect(published[0]!.message).toMatchObject({ type: 'anomaly', kind: 'alert', rule: 'below_min', principal: 'sam', requestId: requestId(retried) });
    // And only once per cooldown.
    await predict(token, lowYieldRow);
    expect(await alertsFor()).toHaveLength(1);
  });
});

it('the fallback message is the one docs/security.md names', () => {
  expect(auditFallbackMessage).toBe('audit write failed; record kept in the log');
});
