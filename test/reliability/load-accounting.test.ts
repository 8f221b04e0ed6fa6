import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createUser, exchangeKey, keyToken, relaxedLoginEnv, scanTable, startTwinWithEnv, moveToFreshRateWindow, type CreatedKey } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Load with accounting: a bounded burst of ~300 mixed requests over 8 concurrent connections (predictions,
 * batches, invalid bodies, requests over a key's own rate limit, key exchanges, logins, requests the
 * authorizer refuses), then the books must balance exactly:
 * - the audit log (GET /api/v1/audit, all pages) holds exactly one record per request that reached a
 *   function (matched by x-request-id), with its outcome and principal, and none for the others;
 * - the rate counters (the RateCounters table, read directly) grew by exactly the number of each
 *   principal's admitted requests (a refused take does not count), and no window went over its limit;
 * - the model stats (GET /api/v1/models/reactor-yield/stats) and /metrics grew by exactly the predictions
 *   served: requests, errors, rows, prediction sum, cache hits, latency histogram.
 * Every expectation is derived from what the responses said, so window boundaries and scheduling cannot
 * change the outcome.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let olga: string;
let vera: string;
let key: CreatedKey;
let keyBearer: string;
let olgaPassword: string;
const keyLimit = 20;

beforeAll(async () => {
  // No rate-limit takes reserved ahead (as in Lambda), so each counter holds exactly its admitted requests;
  // with the local twin's reserve it also holds up to 64 unused takes (test/stores/rate-limiter-group-commit,
  // and test/api/rate-limit for exactly L of N through the twin as it runs).
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_RESERVE_AHEAD: '0' });
  api = apiClient(t.url);
  admin = await login(api);
  const o = await createUser(api, admin, { username: 'olga', role: 'operator' });
  olgaPassword = o.password;
  olga = await login(api, o.username, o.password);
  const v = await createUser(api, admin, { username: 'vera', role: 'viewer' });
  vera = await login(api, v.username, v.password);
  key = await createKey(api, olga, { name: 'historian', scopes: ['twin:predict'], rate_limit_per_minute: keyLimit });
  keyBearer = await keyToken(api, key.key);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32): the burst is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Principal = 'admin' | 'olga' | 'key' | 'anonymous' | 'none';

interface Job {
  kind: string;
  /** Whose token (or none); `anonymous` = a public route; `none` = refused by the authorizer. */
  principal: Principal;
  action: string;
  send: () => Promise<ApiResponse>;
}

interface Done {
  job: Job;
  res: ApiResponse;
}

function buildBurst(): Job[] {
  const random = prng(9);
  // Rows inside the valid ranges and inside the alert band (yield ~80-88 %), a few repeated for cache hits.
  const row = () => ({ temp: 350 + Math.round(random() * 20), pressure: 5 + Math.round(random() * 20) / 10, flow: 80 + Math.round(random() * 40) });
  const repeated = [row(), row(), row()];
  const pick = () => (random() < 0.3 ? repeated[Math.floor(random() * repeated.length)]! : row());
  const password = olgaPassword;
  const jobs: Job[] = [];
  const add = (n: number, job: Omit<Job, 'send'> & { send: () => () => Promise<ApiResponse> }) => {
    for (let i = 0; i < n; i++) jobs.push({ ...job, send: job.send() });
  };
  const predictAs = (token: string, body: () => unknown) => () => {
    const b = body();
    return () => api('POST', '/api/v1/twin/predict', { token, body: b });
  };
  add(90, { kind: 'predict', principal: 'olga', action: 'twin.predict', send: predictAs(olga, pick) });
  add(20, { kind: 'predict-invalid-input', principal: 'olga', action: 'twin.predict', send: predictAs(olga, () => ({ ...pick(), temp: 999 })) });
  add(20, {
    kind: 'micro-predict',
    principal: 'admin',
    action: 'twin.predict',
    send: () => {
      const b = pick();
      return () => api('POST', '/predict', { token: admin, body: b });
    },
  });
  add(30, {
    kind: 'batch',
    principal: 'olga',
    action: 'twin.batch',
    send: () => {
      const inputs = [pick(), pick(), ...(random() < 0.5 ? [{ ...pick(), flow: 1 }] : []), pick()];
      return () => api('POST', '/api/v1/twin/batch', { token: olga, body: { inputs } });
    },
  });
  add(10, {
    kind: 'batch-too-large',
    principal: 'admin',
    action: 'twin.batch',
    send: () => () => api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: Array.from({ length: 101 }, () => validRow) } }),
  });
  add(15, { kind: 'not-json', principal: 'admin', action: 'twin.predict', send: () => () => api('POST', '/api/v1/twin/predict', { token: admin, rawBody: '{"temp": 360,' }) });
  add(10, {
    kind: 'wrong-content-type',
    principal: 'olga',
    action: 'twin.predict',
    send: () => () => api('POST', '/api/v1/twin/predict', { token: olga, rawBody: JSON.stringify(validRow), headers: { 'content-type': 'text/plain' } }),
  });
  add(60, { kind: 'key-predict', principal: 'key', action: 'twin.predict', send: predictAs(keyBearer, pick) });
  add(20, { kind: 'key-exchange', principal: 'anonymous', action: 'auth.token', send: () => () => exchangeKey(api, key.key) });
  add(5, { kind: 'key-exchange-wrong', principal: 'anonymous', action: 'auth.token', send: () => () => exchangeKey(api, `${key.key.slice(0, -2)}xx`) });
  add(10, {
    kind: 'login',
    principal: 'anonymous',
    action: 'auth.login',
    send: () => () => api('POST', '/api/v1/auth/login', { body: { username: 'olga', password } }),
  });
  add(5, {
    kind: 'login-wrong',
    principal: 'anonymous',
    action: 'auth.login',
    send: () => () => api('POST', '/api/v1/auth/login', { body: { username: 'olga', password: 'not-olgas-password' } }),
  });
  add(10, { kind: 'no-token', principal: 'none', action: '-', send: () => () => api('POST', '/api/v1/twin/predict', { body: validRow }) });
  add(5, { kind: 'missing-scope', principal: 'none', action: '-', send: () => () => api('POST', '/api/v1/twin/predict', { token: vera, body: validRow }) });
  // Deterministic interleaving (Fisher-Yates).
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
  }
  return jobs;
}

async function runConcurrently(jobs: Job[], connections: number): Promise<Done[]> {
  const done: Done[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        done.push({ job, res: await job.send() });
      }
    }),
  );
  return done;
}

function counterSums(items: Record<string, unknown>[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const item of items) {
    const pk = String(item.pk);
    const bucket = pk.slice(0, pk.lastIndexOf('#'));
    sums.set(bucket, (sums.get(bucket) ?? 0) + Number(item.count ?? 0));
  }
  return sums;
}

interface VariantStats {
  version: string;
  role: string;
  requests: number;
  errors: number;
  rows: number;
  mean_prediction: number | null;
  cache_hit_rate: number;
  alerts: number;
  latency_histogram: { le_ms: number | null; count: number }[];
}

async function servingStats(): Promise<{ requests: number; errors: number; rows: number; predictionSum: number; cacheHits: number; histogram: number; alerts: number; metrics: { total_requests: number; total_predictions: number } }> {
  const res = await api('GET', '/api/v1/models/reactor-yield/stats', { token: admin });
  expect(res.status, res.text).toBe(200);
  const variants = (res.json.variants as VariantStats[]).filter((v) => v.role !== 'shadow');
  // No counters before the first prediction; one version serves.
  expect(variants.map((v) => v.version)).toEqual(variants.length ? ['1.0.0'] : []);
  const v: VariantStats = variants[0] ?? { version: '1.0.0', role: 'active', requests: 0, errors: 0, rows: 0, mean_prediction: null, cache_hit_rate: 0, alerts: 0, latency_histogram: [] };
  const metrics = await api('GET', '/metrics', { token: admin });
  expect(metrics.status).toBe(200);
  return {
    requests: v.requests,
    errors: v.errors,
    rows: v.rows,
    predictionSum: (v.mean_prediction ?? 0) * v.rows,
    cacheHits: Math.round(v.cache_hit_rate * v.requests),
    histogram: v.latency_histogram.reduce((s, b) => s + b.count, 0),
    alerts: v.alerts,
    metrics: { total_requests: metrics.json.total_requests as number, total_predictions: metrics.json.total_predictions as number },
  };
}

async function auditRecords(from: number, to: number): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `/api/v1/audit?limit=200&from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await api('GET', query, { token: admin });
    expect(res.status, res.text).toBe(200);
    items.push(...(res.json.items as Record<string, unknown>[]));
    cursor = res.json.next_cursor as string | null;
    pages += 1;
  } while (cursor && pages < 100);
  return items;
}

// ---------------------------------------------------------------------------------------------------------

describe('a burst of ~300 mixed requests over 8 connections', () => {
  let done: Done[];
  let burstStart: number;
  let burstEnd: number;
  let countersBefore: Map<string, number>;
  let countersAfter: Map<string, number>;
  let counterItemsAfter: Record<string, unknown>[];
  let statsBefore: Awaited<ReturnType<typeof servingStats>>;
  let statsAfter: Awaited<ReturnType<typeof servingStats>>;

  beforeAll(async () => {
    // Most likely all of the burst in one rate window (the books do not depend on it).
    moveToFreshRateWindow(t);
    statsBefore = await servingStats();
    countersBefore = counterSums(await scanTable(t, 'RateCounters'));
    const jobs = buildBurst();
    burstStart = Date.now();
    done = await runConcurrently(jobs, 8);
    burstEnd = Date.now();
    counterItemsAfter = await scanTable(t, 'RateCounters');
    countersAfter = counterSums(counterItemsAfter);
    statsAfter = await servingStats();
  }, 120_000);

  const reached = () => done.filter((d) => d.res.headers.get('x-request-id'));
  const byKind = (kind: string) => done.filter((d) => d.job.kind === kind);

  it('every request got its documented answer, and none was a 5xx', () => {
    expect(done.length).toBeGreaterThanOrEqual(300);
    const unexpected = done.filter(({ job, res }) => {
      const want: Record<string, number[]> = {
        predict: [200],
        'predict-invalid-input': [400],
        'micro-predict': [200],
        batch: [200],
        'batch-too-large': [400],
        'not-json': [400],
        'wrong-content-type': [415],
        'key-predict': [200, 429],
        'key-exchange': [200],
        'key-exchange-wrong': [401],
        login: [200],
        'login-wrong': [401],
        'no-token': [401],
        'missing-scope': [403],
      };
      return !want[job.kind]?.includes(res.status);
    });
    expect(unexpected.map(({ job, res }) => `${job.kind}: ${res.status} ${res.text.slice(0, 200)}`)).toEqual([]);
    const keyAllowed = byKind('key-predict').filter((d) => d.res.status === 200).length;
    // The key's own limit was reached: at most its limit per window it spanned, the rest refused with 429.
    const keyWindows = counterItemsAfter.filter((i) => String(i.pk).startsWith(`p:key:${key.id}#`)).length;
    expect(keyAllowed).toBeGreaterThanOrEqual(keyLimit);
    expect(keyAllowed).toBeLessThanOrEqual(keyLimit * keyWindows);
    expect(byKind('key-predict').filter((d) => d.res.status === 429).length).toBe(60 - keyAllowed);
    expect(60 - keyAllowed).toBeGreaterThan(0);
  });

  it('the audit log has exactly one record per request that reached a function, and none for the others', async () => {
    // Let the clock move past the burst, so the audit queries' own records fall outside [burstStart, burstEnd].
    await new Promise((resolve) => setTimeout(resolve, 5));
    const records = await auditRecords(burstStart, burstEnd);
    const ids = records.map((r) => String(r.requestId));
    const expected = reached().map((d) => d.res.headers.get('x-request-id')!);
    expect(new Set(expected).size).toBe(expected.length);
    // Exactly one each, and nothing else in the window.
    expect([...ids].sort()).toEqual([...expected].sort());
    const byId = new Map(records.map((r) => [String(r.requestId), r]));
    const principalId: Record<Principal, string> = { admin: 'admin', olga: 'olga', key: `key:${key.id}`, anonymous: 'anonymous', none: '-' };
    for (const { job, res } of reached()) {
      const record = byId.get(res.headers.get('x-request-id')!)!;
      expect(record, job.kind).toMatchObject({ outcome: res.status, principal: principalId[job.principal], action: job.action });
      if (res.status >= 400) expect(record.errorCode, job.kind).toBe(res.json?.error?.code);
      if (job.kind === 'predict') expect(record.modelVersion).toBe('1.0.0');
    }
    // The refused ones never reached a function: no request id, no record.
    const refused = done.filter((d) => !d.res.headers.get('x-request-id'));
    expect(refused.map((d) => d.job.kind).sort()).toEqual([...byKind('no-token'), ...byKind('missing-scope')].map((d) => d.job.kind).sort());
    for (const { res } of refused) expect(byId.has(res.headers.get('apigw-requestid') ?? '')).toBe(false);
  });

  it('the rate counters grew by exactly each principal’s admitted requests (a refused take counts nothing)', () => {
    const delta = (bucket: string) => (countersAfter.get(bucket) ?? 0) - (countersBefore.get(bucket) ?? 0);
    const admitted = (p: Principal) => reached().filter((d) => d.job.principal === p && d.res.status !== 429).length;
    // olga's key draws on olga's budget too (docs/security.md, "Key limits"): her bucket holds both.
    expect(delta('p:olga')).toBe(admitted('olga') + admitted('key'));
    expect(delta('p:admin')).toBe(admitted('admin'));
    expect(delta(`p:key:${key.id}`)).toBe(admitted('key'));
    // Password logins count per username, key exchanges per key id (right secret or wrong), both per source address.
    const logins = byKind('login').length + byKind('login-wrong').length;
    const exchanges = byKind('key-exchange').length + byKind('key-exchange-wrong').length;
    expect(delta('login:user:olga')).toBe(logins);
    expect(delta(`login:user:key:${key.id}`)).toBe(exchanges);
    expect([...countersAfter.keys()].filter((b) => b.startsWith('login:ip:')).reduce((s, b) => s + delta(b), 0)).toBe(logins + exchanges);
    // No window of the key went over its limit.
    for (const item of counterItemsAfter.filter((i) => String(i.pk).startsWith(`p:key:${key.id}#`))) expect(Number(item.count)).toBeLessThanOrEqual(keyLimit);
    // Nothing else was counted.
    const others = [...countersAfter.keys()].filter((b) => !['p:olga', 'p:admin', `p:key:${key.id}`, 'login:user:olga', `login:user:key:${key.id}`].includes(b) && !b.startsWith('login:ip:'));
    expect(others.filter((b) => delta(b) !== 0)).toEqual([]);
  });

  it('the model stats and /metrics grew by exactly the predictions served', () => {
    const ok = (kinds: string[]) => done.filter((d) => kinds.includes(d.job.kind) && d.res.status === 200);
    const singles = ok(['predict', 'micro-predict', 'key-predict']);
    const batches = ok(['batch']);
    const invalidInputs = done.filter((d) => d.job.kind === 'predict-invalid-input' && d.res.json?.error?.code === 'INVALID_INPUT');
    expect(invalidInputs).toHaveLength(20);
    const prediction = (d: Done): number => (d.job.kind === 'micro-predict' ? d.res.json.result.prediction : d.res.json.prediction) as number;
    const fromCache = (d: Done): boolean => (d.job.kind === 'micro-predict' ? d.res.json.result.from_cache : d.res.json.from_cache) === true;
    const batchRows = batches.reduce((s, d) => s + (d.res.json.successful as number), 0);
    const want = {
      requests: singles.length + batches.length + invalidInputs.length,
      errors: invalidInputs.length + batches.filter((d) => (d.res.json.failed as number) > 0).length,
      rows: singles.length + batchRows,
      cacheHits: singles.filter(fromCache).length,
    };
    const got = {
      requests: statsAfter.requests - statsBefore.requests,
      errors: statsAfter.errors - statsBefore.errors,
      rows: statsAfter.rows - statsBefore.rows,
      cacheHits: statsAfter.cacheHits - statsBefore.cacheHits,
    };
    expect(got).toEqual(want);
    expect(statsAfter.histogram - statsBefore.histogram).toBe(want.requests);
    expect(statsAfter.alerts - statsBefore.alerts).toBe(0);
    const served = singles.reduce((s, d) => s + prediction(d), 0) + batches.reduce((s, d) => s + (d.res.json.results as { prediction: number }[]).reduce((a, r) => a + r.prediction, 0), 0);
    expect(statsAfter.predictionSum - statsBefore.predictionSum).toBeCloseTo(served, 6);
    expect(statsAfter.metrics.total_requests - statsBefore.metrics.total_requests).toBe(want.requests);
    expect(statsAfter.metrics.total_predictions - statsBefore.metrics.total_predictions).toBe(want.rows);
  });
});
