import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectError,
  relaxedLoginEnv,
  scanTable,
  secretsFoundIn,
  sleep,
  startTwinWithEnv,
  moveToFreshRateWindow,
  type CreatedKey,
} from '../support/identity.js';
import { adminPassword, apiClient, validRow, type Api, type ApiOptions, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * The audit log: exactly one record per request that reaches a function, none for requests the gateway's
 * authorizer refuses (in AWS those never reach Lambda), and the query API's filters, pagination and plant
 * isolation. Every request this file sends goes through `send`, which notes whether it should reach a
 * function, so the AuditLog table can be compared with what was sent, record by record (by request id).
 */
let t: TestTwin;
let raw: Api;
const userAgent = 'audit-test/1.0';

interface Sent {
  label: string;
  requestId: string;
  status: number;
  /** Whether the request should reach a function (and so have exactly one record). */
  reaches: boolean;
  /** Expected record fields when it does. */
  action?: string;
  principal?: string;
}
const sent: Sent[] = [];
const secrets: string[] = [adminPassword];

async function send(
  label: string,
  expected: { reaches: boolean; action?: string; principal?: string },
  method: string,
  path: string,
  options: ApiOptions = {},
): Promise<ApiResponse> {
  const res = await raw(method, path, { ...options, headers: { 'user-agent': userAgent, ...options.headers } });
  const requestId = res.headers.get('apigw-requestid');
  if (!requestId) throw new Error(`${label}: no apigw-requestid`);
  sent.push({ label, requestId, status: res.status, ...expected });
  return res;
}

async function login(username: string, password: string): Promise<string> {
  const res = await send(`login ${username}`, { reaches: true, action: 'auth.login', principal: 'anonymous' }, 'POST', '/api/v1/auth/login', {
    body: { username, password },
  });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${res.text}`);
  secrets.push(password, res.json.token);
  return res.json.token as string;
}

async function createUser(admin: string, username: string, role: string, plant?: string): Promise<string> {
  const password = `pw-${username}-audit-0`;
  const res = await send(`create ${username}`, { reaches: true, action: 'users.create', principal: 'admin' }, 'POST', '/api/v1/users', {
    token: admin,
    body: { username, password, role, ...(plant ? { plant } : {}) },
  });
  if (res.status !== 201) throw new Error(`create ${username}: ${res.status} ${res.text}`);
  return login(username, password);
}

type AuditItem = Record<string, unknown> & { requestId: string; time: string; principal: string; outcome: number; plant?: string; action: string };

let admin: string;
let opA: string; // operator, plant-a
let opB: string; // operator, plant-b
let audA: string; // auditor, plant-a
let audB: string; // auditor, plant-b
let aud: string; // auditor, platform-wide
let key: CreatedKey; // opA's, 3 requests a minute
let keyBearer: string;
let startedAt: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  raw = apiClient(t.url);
  startedAt = new Date(Date.now() - 1000).toISOString();
  admin = await login('admin', adminPassword);
  opA = await createUser(admin, 'op-a', 'operator', 'plant-a');
  opB = await createUser(admin, 'op-b', 'operator', 'plant-b');
  audA = await createUser(admin, 'aud-a', 'auditor', 'plant-a');
  audB = await createUser(admin, 'aud-b', 'auditor', 'plant-b');
  aud = await createUser(admin, 'aud', 'auditor');
  const created = await send('create key', { reaches: true, action: 'keys.create', principal: 'op-a' }, 'POST', '/api/v1/keys', {
    token: opA,
    body: { name: 'audit-key', scopes: ['twin:predict'], rate_limit_per_minute: 3 },
  });
  key = created.json as CreatedKey;
  secrets.push(key.key, key.key.slice(16));
  const exchanged = await send('exchange key', { reaches: true, action: 'auth.token', principal: 'anonymous' }, 'POST', '/api/v1/auth/token', {
    body: { grant_type: 'client_credentials', client_secret: key.key },
  });
  keyBearer = exchanged.json.access_token as string;
  secrets.push(keyBearer);
});

afterAll(async () => {
  await t?.stop();
});

async function scanAudit(): Promise<AuditItem[]> {
  return (await scanTable(t, 'AuditLog')) as AuditItem[];
}

/** Records the gateway's own key fetches produce (it reads discovery and JWKS from the twin's public routes). */
const isGatewayKeyFetch = (r: AuditItem) => (r.action === 'auth.discovery' || r.action === 'auth.jwks') && r.principal === 'anonymous';

describe('a burst of mixed requests: exactly one record per request that reached a function', () => {
  let burst: Sent[];

  beforeAll(async () => {
    // The key's 3-a-minute limit must see all 5 of its requests in one window.
    moveToFreshRateWindow(t);
    const keyId = key.id;
    const before = sent.length;
    const predictA = { reaches: true, action: 'twin.predict', principal: 'op-a' };
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => send(`opA predict ${i}`, predictA, 'POST', '/api/v1/twin/predict', { token: opA, body: validRow })),
      ...Array.from({ length: 3 }, (_, i) =>
        send(`opB predict ${i}`, { reaches: true, action: 'twin.predict', principal: 'op-b' }, 'POST', '/api/v1/twin/predict', { token: opB, body: validRow }),
      ),
      send('opA chapter predict', predictA, 'POST', '/predict', { token: opA, body: validRow }),
      send('opA batch', { reaches: true, action: 'twin.batch', principal: 'op-a' }, 'POST', '/api/v1/twin/batch', { token: opA, body: { inputs: [validRow, validRow] } }),
      ...Array.from({ length: 2 }, (_, i) => send(`opA invalid ${i}`, predictA, 'POST', '/api/v1/twin/predict', { token: opA, body: { ...validRow, temp: 9999 } })),
      send('opA text/plain', predictA, 'POST', '/api/v1/twin/predict', { token: opA, rawBody: 'temp=1', headers: { 'content-type': 'text/plain' } }),
      ...Array.from({ length: 5 }, (_, i) =>
        send(`key predict ${i}`, { reaches: true, action: 'twin.predict', principal: `key:${keyId}` }, 'POST', '/api/v1/twin/predict', { token: keyBearer, body: validRow }),
      ),
      send('wrong password', { reaches: true, action: 'auth.login', principal: 'anonymous' }, 'POST', '/api/v1/auth/login', { body: { username: 'op-a', password: 'guess-op-a-1' } }),
      send('unknown user', { reaches: true, action: 'auth.login', principal: 'anonymous' }, 'POST', '/api/v1/auth/login', { body: { username: 'ghost', password: 'guess-ghost-1' } }),
      send('good exchange', { reaches: true, action: 'auth.token', principal: 'anonymous' }, 'POST', '/api/v1/auth/token', {
        body: { grant_type: 'client_credentials', client_secret: key.key },
      }),
      send('unknown key', { reaches: true, action: 'auth.token', principal: 'anonymous' }, 'POST', '/api/v1/auth/token', {
        body: { grant_type: 'client_credentials', client_secret: `tw_aaaaaaaaaaaa_${'a'.repeat(43)}` },
      }),
      send('malformed key', { reaches: true, action: 'auth.token', principal: 'anonymous' }, 'POST', '/api/v1/auth/token', {
        body: { grant_type: 'client_credentials', client_secret: 'not-a-key' },
      }),
      send('function 403', { reaches: true, action: 'keys.create', principal: 'op-a' }, 'POST', '/api/v1/keys', { token: opA, body: { name: 'x', owner: 'op-b' } }),
      send('function 404', { reaches: true, action: 'keys.revoke', principal: 'op-a' }, 'DELETE', '/api/v1/keys/zzzzzzzzzzzz', { token: opA }),
      send('health', { reaches: true, action: 'health.read', principal: 'anonymous' }, 'GET', '/health'),
      // Refused by the authorizer: no function runs, so no record.
      send('no token', { reaches: false }, 'POST', '/api/v1/twin/predict', { body: validRow }),
      send('garbage token', { reaches: false }, 'POST', '/api/v1/twin/predict', { token: 'aaa.bbb.ccc', body: validRow }),
      send('auditor predicts', { reaches: false }, 'POST', '/api/v1/twin/predict', { token: audA, body: validRow }),
      send('operator reads audit', { reaches: false }, 'GET', '/api/v1/audit', { token: opA }),
      send('operator manages users', { reaches: false }, 'GET', '/api/v1/users', { token: opA }),
      send('unknown route', { reaches: false }, 'GET', '/api/v1/nothing-here', { token: admin }),
    ]);
    burst = sent.slice(before);
    secrets.push('guess-op-a-1', 'guess-ghost-1');
  });

  it('answers as expected (the statuses the records must show)', () => {
    const status = (label: string) => burst.find((s) => s.label === label)!.status;
    expect(burst.filter((s) => s.label.startsWith('opA predict')).map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    expect(burst.filter((s) => s.label.startsWith('key predict')).map((s) => s.status).sort()).toEqual([200, 200, 200, 429, 429]);
    expect([status('opA invalid 0'), status('opA text/plain'), status('wrong password'), status('unknown key'), status('malformed key')]).toEqual([400, 415, 401, 401, 401]);
    expect([status('function 403'), status('function 404'), status('good exchange')]).toEqual([403, 404, 200]);
    expect([status('no token'), status('garbage token'), status('auditor predicts'), status('operator reads audit'), status('unknown route')]).toEqual([401, 401, 403, 403, 404]);
  });

  it('every request that reached a function has exactly one record, with its status, action and principal', async () => {
    const records = await scanAudit();
    for (const s of burst.filter((b) => b.reaches)) {
      const mine = records.filter((r) => r.requestId === s.requestId);
      expect(mine, s.label).toHaveLength(1);
      expect(mine[0], s.label).toMatchObject({ outcome: s.status, action: s.action, principal: s.principal });
    }
  });

  it('requests the authorizer refused (401, 403) or the gateway did not route (404) have no record', async () => {
    const records = await scanAudit();
    const refused = burst.filter((b) => !b.reaches);
    expect(refused).toHaveLength(6);
    for (const s of refused) expect(records.filter((r) => r.requestId === s.requestId), s.label).toEqual([]);
  });

  it('records carry who, what, where from, and the model version of predictions', async () => {
    const records = await scanAudit();
    const of = (label: string) => records.find((r) => r.requestId === burst.find((s) => s.label === label)!.requestId)!;
    expect(of('opA predict 0')).toMatchObject({
      principal: 'op-a',
      principalType: 'user',
      role: 'operator',
      plant: 'plant-a',
      action: 'twin.predict',
      method: 'POST',
      resource: '/api/v1/twin/predict',
      outcome: 200,
      sourceIp: '127.0.0.1',
      userAgent,
      modelVersion: '1.0.0',
    });
    expect(Date.parse(of('opA predict 0').time)).not.toBeNaN();
    expect(of('opA batch')).toMatchObject({ action: 'twin.batch', modelVersion: '1.0.0' });
    expect(of('opA chapter predict')).toMatchObject({ action: 'twin.predict', resource: '/predict', outcome: 200, modelVersion: '1.0.0' });
    const keyRecords = burst.filter((s) => s.label.startsWith('key predict')).map((s) => records.find((r) => r.requestId === s.requestId)!);
    for (const r of keyRecords) expect(r).toMatchObject({ principal: `key:${key.id}`, principalType: 'key', keyId: key.id, role: 'operator', plant: 'plant-a' });
    expect(keyRecords.filter((r) => r.outcome === 429).map((r) => r.errorCode)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
    expect(of('opA invalid 0')).toMatchObject({ outcome: 400, errorCode: 'INVALID_INPUT' });
    expect(of('wrong password')).toMatchObject({ principal: 'anonymous', principalType: 'anonymous', subject: 'op-a', outcome: 401, errorCode: 'INVALID_CREDENTIALS' });
    expect(of('unknown key')).toMatchObject({ subject: 'aaaaaaaaaaaa', errorCode: 'KEY_INVALID' });
    expect(of('malformed key')).toMatchObject({ errorCode: 'KEY_MALFORMED' });
    expect(of('function 403')).toMatchObject({ outcome: 403, errorCode: 'FORBIDDEN' });
  });
});

describe('GET /api/v1/audit', () => {
  let from: string;
  let to: string;
  /** Every record of the window, straight from the table, newest first (time, then request id, descending). */
  let expected: AuditItem[];

  beforeAll(async () => {
    from = startedAt;
    to = new Date().toISOString();
    // Records of the queries below are stamped after `to`, so the window's contents stay fixed while we page.
    await sleep(20);
    // DynamoDB orders sort keys by bytes (code units here), not by locale: `Y` sorts before `u`.
    const sk = (r: AuditItem) => `${r.time}#${r.requestId}`;
    expected = (await scanAudit()).filter((r) => r.time >= from && r.time <= to).sort((a, b) => (sk(a) < sk(b) ? 1 : sk(a) > sk(b) ? -1 : 0));
    expect(expected.length).toBeGreaterThan(40);
    expect(expected.length).toBeLessThan(200);
  });

  const query = (token: string, params: Record<string, string>, label = 'audit query') =>
    send(label, { reaches: true, action: 'audit.query', principal: token === aud ? 'aud' : token === audA ? 'aud-a' : token === audB ? 'aud-b' : 'admin' }, 'GET', `/api/v1/audit?${new URLSearchParams(params)}`, { token });

  async function all(token: string, params: Record<string, string>): Promise<AuditItem[]> {
    const res = await query(token, { from, to, limit: '200', ...params });
    expect(res.status, res.text).toBe(200);
    expect(res.json.next_cursor).toBeNull();
    return res.json.items as AuditItem[];
  }

  it('a platform auditor gets every record of the window, newest first', async () => {
    const items = await all(aud, {});
    expect(items.map((r) => r.requestId)).toEqual(expected.map((r) => r.requestId));
    const times = items.map((r) => r.time);
    expect(times).toEqual([...times].sort().reverse());
    expect(items[0]).not.toHaveProperty('sk');
    expect(items[0]).not.toHaveProperty('ttl');
  });

  it('pagination: walking next_cursor with limit 7 yields the same records, no duplicates, no gaps', async () => {
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const res: ApiResponse = await query(aud, { from, to, limit: '7', ...(cursor ? { cursor } : {}) }, `audit page ${page}`);
      expect(res.status, res.text).toBe(200);
      const items = res.json.items as AuditItem[];
      seen.push(...items.map((r) => r.requestId));
      pageSizes.push(items.length);
      cursor = res.json.next_cursor as string | null;
      if (!cursor) break;
      expect(cursor).not.toContain('{');
    }
    expect(cursor).toBeNull();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expected.map((r) => r.requestId));
    expect(pageSizes.slice(0, -1).every((n) => n === 7)).toBe(true);
  });

  it('filter principal', async () => {
    const items = await all(aud, { principal: 'op-a' });
    expect(items.length).toBeGreaterThan(5);
    expect(items.map((r) => r.requestId)).toEqual(expected.filter((r) => r.principal === 'op-a').map((r) => r.requestId));
    const keyItems = await all(aud, { principal: `key:${key.id}` });
    expect(keyItems.map((r) => r.outcome).sort()).toEqual([200, 200, 200, 429, 429]);
  });

  it('filter action', async () => {
    const items = await all(aud, { action: 'auth.token' });
    expect(items.map((r) => r.requestId)).toEqual(expected.filter((r) => r.action === 'auth.token').map((r) => r.requestId));
    expect(items.length).toBe(4);
  });

  it.each([
    ['429', (r: AuditItem) => r.outcome === 429],
    ['401', (r: AuditItem) => r.outcome === 401],
    ['success', (r: AuditItem) => r.outcome < 400],
    ['failure', (r: AuditItem) => r.outcome >= 400],
  ])('filter outcome=%s', async (outcome, keep) => {
    const items = await all(aud, { outcome });
    expect(items.length).toBeGreaterThan(0);
    expect(items.map((r) => r.requestId)).toEqual(expected.filter(keep).map((r) => r.requestId));
  });

  it('filters combine: principal op-a, action twin.predict, failure', async () => {
    const items = await all(aud, { principal: 'op-a', action: 'twin.predict', outcome: 'failure' });
    expect(items.map((r) => r.outcome).sort()).toEqual([400, 400, 415]);
  });

  it('from/to narrow the window', async () => {
    const middle = expected[Math.floor(expected.length / 2)]!;
    const newer = await all(aud, { from: middle.time });
    expect(newer.map((r) => r.requestId)).toEqual(expected.filter((r) => r.time >= middle.time).map((r) => r.requestId));
    const res = await query(aud, { from, to: middle.time, limit: '200' });
    const older = res.json.items as AuditItem[];
    expect(older.map((r) => r.requestId)).toEqual(expected.filter((r) => r.time <= middle.time).map((r) => r.requestId));
  });

  it.each([
    ['a cursor it did not issue', { cursor: 'bm90LWEtY3Vyc29y' }],
    ['from after to', { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
    ['a range over 31 days', { from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }],
    ['a bad outcome', { outcome: 'bogus' }],
    ['outcome 600', { outcome: '600' }],
    ['limit 0', { limit: '0' }],
    ['limit 201', { limit: '201' }],
    ['an ill-formed action', { action: 'Twin Predict' }],
    ['a non-ISO from', { from: 'yesterday' }],
    ['an unknown parameter', { plant: 'plant-b' }],
  ])('%s → 400', async (_name, params) => {
    expectError(await query(aud, params, `bad audit query ${_name}`), 400, 'INVALID_REQUEST');
  });
});

describe('plant isolation', () => {
  it('an auditor of plant-a sees only plant-a records: op-a’s, never op-b’s, never anonymous ones', async () => {
    const res = await send('audA query', { reaches: true, action: 'audit.query', principal: 'aud-a' }, 'GET', '/api/v1/audit?limit=200', { token: audA });
    expect(res.status).toBe(200);
    const items = res.json.items as AuditItem[];
    expect(items.length).toBeGreaterThan(5);
    expect(items.every((r) => r.plant === 'plant-a')).toBe(true);
    expect(items.some((r) => r.principal === 'op-a')).toBe(true);
    expect(items.some((r) => r.principal === `key:${key.id}`)).toBe(true);
    const opBIds = new Set(sent.filter((s) => s.principal === 'op-b').map((s) => s.requestId));
    expect(items.filter((r) => opBIds.has(r.requestId))).toEqual([]);
  });

  it('naming another plant’s principal returns nothing, and the plant cannot be widened by a parameter', async () => {
    const res = await send('audA asks for op-b', { reaches: true, action: 'audit.query', principal: 'aud-a' }, 'GET', '/api/v1/audit?principal=op-b&limit=200', { token: audA });
    expect(res.status).toBe(200);
    expect(res.json.items).toEqual([]);
    const admins = await send('audA asks for admin', { reaches: true, action: 'audit.query', principal: 'aud-a' }, 'GET', '/api/v1/audit?principal=admin&limit=200', { token: audA });
    expect(admins.json.items).toEqual([]);
  });

  it('an auditor of plant-b sees op-b’s records and nothing of plant-a', async () => {
    const res = await send('audB query', { reaches: true, action: 'audit.query', principal: 'aud-b' }, 'GET', '/api/v1/audit?limit=200', { token: audB });
    const items = res.json.items as AuditItem[];
    expect(items.every((r) => r.plant === 'plant-b')).toBe(true);
    expect(items.filter((r) => r.principal === 'op-b' && r.action === 'twin.predict')).toHaveLength(3);
  });

  it('pages of a plant auditor stay in the plant', async () => {
    let cursor: string | null = null;
    const seen: AuditItem[] = [];
    for (let page = 0; page < 50; page++) {
      const res: ApiResponse = await send(`audA page ${page}`, { reaches: true, action: 'audit.query', principal: 'aud-a' }, 'GET', `/api/v1/audit?${new URLSearchParams({ limit: '3', ...(cursor ? { cursor } : {}) })}`, {
        token: audA,
      });
      seen.push(...(res.json.items as AuditItem[]));
      cursor = res.json.next_cursor as string | null;
      if (!cursor) break;
    }
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.every((r) => r.plant === 'plant-a')).toBe(true);
  });
});

describe('the whole table against everything this file sent', () => {
  it('one record per request that reached a function (including every audit query); nothing else but the gateway’s key fetches', async () => {
    const records = await scanAudit();
    const byId = new Map<string, AuditItem[]>();
    for (const r of records) byId.set(r.requestId, [...(byId.get(r.requestId) ?? []), r]);
    for (const s of sent) {
      const mine = byId.get(s.requestId) ?? [];
      if (s.reaches) {
        expect(mine, s.label).toHaveLength(1);
        expect(mine[0], s.label).toMatchObject({ outcome: s.status, ...(s.action ? { action: s.action } : {}), ...(s.principal ? { principal: s.principal } : {}) });
      } else {
        expect(mine, s.label).toHaveLength(0);
      }
    }
    const sentIds = new Set(sent.map((s) => s.requestId));
    const others = records.filter((r) => !sentIds.has(r.requestId));
    expect(others.filter((r) => !isGatewayKeyFetch(r))).toEqual([]);
    expect(records.length).toBe(sent.filter((s) => s.reaches).length + others.length);
    expect(sent.filter((s) => s.action === 'audit.query').length).toBeGreaterThan(20);
  });

  it('no password, key, secret or token is in any record', async () => {
    expect(secretsFoundIn(await scanAudit(), secrets)).toEqual([]);
  });
});
