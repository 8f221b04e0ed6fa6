import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertEvent } from '../support/alert-events.js';
import { createKey, expectError, keyToken, relaxedLoginEnv, scanTable, startTwinWithEnv, userWithToken, type CreatedUser } from '../support/identity.js';
import { outOfBandRow, publish, referenceVariant } from '../support/models.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The eighth hostile review, on the audit routes: `GET /api/v1/audit` and `POST /api/v1/audit/import` as plant
 * bravo's auditor and admin against plant alpha's records, with forged cursors, hostile limits and dates, and
 * import bodies that claim another plant or principal, repeat or collide with stored records, spell one instant
 * several ways, date records far ahead, carry fields the schema does not know or characters a terminal obeys.
 */

let t: TestTwin;
let api: Api;
let root: string;
type User = CreatedUser & { token: string };
let alphaAdmin: User;
let alphaOp: User;
let bravoAdmin: User;
let bravoAuditor: User;
let bravoOp: User;
let alphaKeyId: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  root = await login(api);
  alphaAdmin = await userWithToken(api, root, { username: 'rt8-alpha-admin', role: 'admin', plant: 'alpha' });
  alphaOp = await userWithToken(api, root, { username: 'rt8-alpha-op', role: 'operator', plant: 'alpha' });
  bravoAdmin = await userWithToken(api, root, { username: 'rt8-bravo-admin', role: 'admin', plant: 'bravo' });
  bravoAuditor = await userWithToken(api, root, { username: 'rt8-bravo-auditor', role: 'auditor', plant: 'bravo' });
  bravoOp = await userWithToken(api, root, { username: 'rt8-bravo-op', role: 'operator', plant: 'bravo' });
  const key = await createKey(api, alphaOp.token, { name: 'alpha-historian', scopes: ['twin:predict'] });
  alphaKeyId = key.id;
  // Traffic of both plants: alpha's (user and key), bravo's.
  for (let i = 0; i < 5; i++) expect((await api('POST', '/api/v1/twin/predict', { token: alphaOp.token, body: validRow })).status).toBe(200);
  expect((await api('POST', '/api/v1/twin/predict', { token: await keyToken(api, key.key), body: validRow })).status).toBe(200);
  expect((await api('POST', '/api/v1/twin/predict', { token: alphaOp.token, body: outOfBandRow })).status).toBe(200);
  for (let i = 0; i < 3; i++) expect((await api('POST', '/api/v1/twin/predict', { token: bravoOp.token, body: validRow })).status).toBe(200);
}, 90_000);

afterAll(async () => {
  await t?.stop();
});

interface Rec {
  time: string;
  requestId: string;
  principal: string;
  plant?: string;
  action: string;
  outcome: number;
  imported?: { by: string; edge: string; at: string };
}

const query = (token: string, q: string) => api('GET', `/api/v1/audit${q ? `?${q}` : ''}`, { token });

function record(overrides: Record<string, unknown> = {}) {
  return {
    time: new Date(Date.now() - 60_000).toISOString(),
    requestId: randomUUID(),
    principal: 'rt8-bravo-op',
    principalType: 'user',
    role: 'operator',
    plant: 'bravo',
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
    ...overrides,
  };
}

const bravoAlert = (overrides: Record<string, unknown> = {}) => alertEvent({ principal: 'rt8-bravo-op', plant: 'bravo', ...overrides });
const importAs = (token: string, body: unknown) => api('POST', '/api/v1/audit/import', { token, body });
const storedWith = async (requestId: string) => (await scanTable(t, 'AuditLog')).filter((r) => r.requestId === requestId);

describe('GET /api/v1/audit as plant bravo against plant alpha', () => {
  it('bravo’s auditor and admin see bravo’s records only, whatever principal they name', async () => {
    for (const who of [bravoAuditor, bravoAdmin]) {
      const all = await query(who.token, 'limit=200');
      expect(all.status, all.text).toBe(200);
      const items = all.json.items as Rec[];
      expect(items.length).toBeGreaterThan(0);
      expect(new Set(items.map((r) => r.plant))).toEqual(new Set(['bravo']));
      for (const principal of ['rt8-alpha-op', `key:${alphaKeyId}`, 'rt8-alpha-admin', 'admin']) {
        const named = await query(who.token, `principal=${encodeURIComponent(principal)}&limit=200`);
        expect([principal, named.status, named.json.items]).toEqual([principal, 200, []]);
      }
    }
  });

  it('a cursor the platform admin was given, handed to bravo’s auditor, still shows bravo’s records only', async () => {
    const page = await query(root, 'limit=1');
    expect(page.json.next_cursor).toEqual(expect.any(String));
    const next = await query(bravoAuditor.token, `limit=200&cursor=${encodeURIComponent(page.json.next_cursor)}`);
    expect(next.status, next.text).toBe(200);
    expect((next.json.items as Rec[]).every((r) => r.plant === 'bravo')).toBe(true);
    // By principal: alpha's operator's cursor (platform view) under bravo's auditor.
    const alphaPage = await query(root, 'principal=rt8-alpha-op&limit=1');
    const forged = await query(bravoAuditor.token, `principal=rt8-alpha-op&limit=200&cursor=${encodeURIComponent(alphaPage.json.next_cursor)}`);
    expect([forged.status, forged.json.items]).toEqual([200, []]);
  });

  it('forged cursors (other mode, other principal, out of range, malformed) → 400 naming cursor, never 500', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const now = new Date().toISOString();
    const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cursors: [string, string, string][] = [
      ['by principal, naming alpha', 'principal=rt8-bravo-op', enc({ d: null, k: { principal: 'rt8-alpha-op', sk: `${now}#x` } })],
      ['by day, without its day', '', enc({ d: day, k: { principal: 'rt8-alpha-op', sk: `${now}#x` } })],
      ['by day, a day out of range', '', enc({ d: '2001-01-01', k: { principal: 'x', sk: `${now}#x`, day: '2001-01-01' } })],
      ['sk before from', '', enc({ d: day, k: { principal: 'x', sk: '2001-01-01T00:00:00.000Z#x', day } })],
      ['an extra key', '', enc({ d: day, k: { principal: 'x', sk: `${now}#x`, day }, plant: 'alpha' })],
      ['a table key', '', enc({ d: day, k: { principal: 'x', sk: `${now}#x`, day, plant: 'alpha' } })],
      ['not JSON', '', Buffer.from('{"d":').toString('base64url')],
      ['not base64url', '', '!!!***'],
      ['an array', '', enc([1, 2])],
      ['__proto__', '', enc(JSON.parse('{"__proto__":{"d":null},"d":null,"k":{"principal":"x","sk":"y"}}'))],
      ['2049 characters', '', 'A'.repeat(2049)],
    ];
    for (const [label, filters, cursor] of cursors) {
      const res = await query(bravoAuditor.token, `${filters ? `${filters}&` : ''}cursor=${encodeURIComponent(cursor)}`);
      expect([label, res.status]).toEqual([label, 400]);
      expect([label, res.json.error.issues[0].field]).toEqual([label, expect.stringMatching(/^(query\.)?cursor$/)]);
    }
    // A well-formed cursor of another position in bravo's own range is a position, nothing more.
    const positional = await query(bravoAuditor.token, `cursor=${encodeURIComponent(enc({ d: day, k: { principal: 'rt8-alpha-op', sk: `${now}#\uffff`, day } }))}`);
    expect(positional.status, positional.text).toBe(200);
    expect((positional.json.items as Rec[]).every((r) => r.plant === 'bravo')).toBe(true);
  });

  it.each([
    ['limit=0', 'query.limit'],
    ['limit=201', 'query.limit'],
    ['limit=-1', 'query.limit'],
    ['limit=1e9', 'query.limit'],
    ['limit=1.5', 'query.limit'],
    ['limit=abc', 'query.limit'],
    ['limit=10&limit=20', 'query.limit'],
    ['from=2026-02-30T00:00:00Z', 'query.from'],
    ['from=yesterday', 'query.from'],
    ['to=1796428800000', 'query.to'],
    ['to=2026-12-04T24:00:00Z', 'query.to'],
    ['from=2026-12-04T10:00:00Z&to=2026-12-03T10:00:00Z', 'from'],
    ['from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z', 'from'],
    ['outcome=600', 'query.outcome'],
    ['action=twin.predict%0a', 'query.action'],
    ['plant=alpha', 'query.plant'],
  ])('%s → 400 naming %s', async (q, field) => {
    const res = await query(bravoAuditor.token, q);
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.issues[0].field).toBe(field);
  });

  it('far past and far future ranges answer 200 (empty), never 500', async () => {
    for (const q of ['from=0000-01-01T00:00:00Z&to=0000-01-02T00:00:00Z', 'from=9999-12-30T00:00:00Z&to=9999-12-31T23:59:59.999Z', 'to=0000-01-01T00:00:00Z']) {
      const res = await query(bravoAuditor.token, q);
      expect([q, res.status, res.json.items]).toEqual([q, 200, []]);
    }
  });
});

describe('POST /api/v1/audit/import by plant bravo', () => {
  it('bravo’s auditor and operator may not import (403 Forbidden, audit:write)', async () => {
    for (const who of [bravoAuditor, bravoOp]) {
      const res = await importAs(who.token, { audit: [record()] });
      expect([res.status, res.json]).toEqual([403, { message: 'Forbidden' }]);
    }
  });

  it.each([
    ['alpha’s plant', { plant: 'alpha', principal: 'rt8-alpha-op' }, 'audit.0.plant'],
    ['alpha’s operator, relabelled bravo', { principal: 'rt8-alpha-op' }, 'audit.0.principal'],
    ['alpha’s key, relabelled bravo', { principal: 'key:ALPHA', principalType: 'key' }, 'audit.0.principal'],
    ['the platform admin', { principal: 'admin', role: 'admin' }, 'audit.0.principal'],
    ['no plant', { plant: undefined }, 'audit.0.plant'],
  ])('a record claiming %s → 403 naming %s; nothing stored', async (_label, overrides, field) => {
    const forged = record(Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v === 'key:ALPHA' ? `key:${alphaKeyId}` : v])));
    if ((overrides as Record<string, unknown>).plant === undefined && 'plant' in overrides) delete (forged as Record<string, unknown>).plant;
    const res = await importAs(bravoAdmin.token, { edge: 'bravo-box', audit: [forged] });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues[0].field).toBe(field);
    expect(await storedWith(forged.requestId)).toEqual([]);
  });

  it('a record colliding with a stored native one (same principal, time, request id) changes nothing: duplicate', async () => {
    const native = ((await query(bravoAuditor.token, 'principal=rt8-bravo-op&origin=native&limit=1')).json.items as Rec[])[0]!;
    expect(native.imported).toBeUndefined();
    const res = await importAs(bravoAdmin.token, { audit: [record({ time: native.time, requestId: native.requestId, action: 'users.delete', outcome: 500 })] });
    expect(res.status, res.text).toBe(200);
    expect(res.json.audit).toEqual({ stored: 0, duplicate: 1, expired: 0 });
    const [item] = await storedWith(native.requestId);
    expect(item).toMatchObject({ action: native.action, outcome: native.outcome });
    expect(item!.imported).toBeUndefined();
  });

  it('the same record twice in one body, and again later: stored once', async () => {
    const r = record();
    expect((await importAs(bravoAdmin.token, { audit: [r, r] })).json.audit).toEqual({ stored: 1, duplicate: 1, expired: 0 });
    expect((await importAs(bravoAdmin.token, { audit: [r] })).json.audit).toEqual({ stored: 0, duplicate: 1, expired: 0 });
    expect(await storedWith(r.requestId)).toHaveLength(1);
  });

  it('one instant spelt several ways is one record (stored with its canonical time); before, each spelling was stored again', async () => {
    const requestId = randomUUID();
    const instant = new Date(Math.floor((Date.now() - 120_000) / 1000) * 1000);
    const z = instant.toISOString().replace('.000Z', 'Z');
    const plus14 = new Date(instant.getTime() + 14 * 3_600_000).toISOString().replace('.000Z', '+14:00');
    const spellings = [instant.toISOString(), z, z.replace('Z', '.0Z'), z.replace('Z', '+00:00'), plus14];
    const res = await importAs(bravoAdmin.token, { audit: spellings.map((time) => record({ time, requestId })) });
    expect(res.status, res.text).toBe(200);
    expect(res.json.audit).toEqual({ stored: 1, duplicate: spellings.length - 1, expired: 0 });
    const items = await storedWith(requestId);
    expect(items.map((i) => i.time)).toEqual([instant.toISOString()]);
  });

  it('a record dated +14:00 is found at its instant (before: filed under the day and hour it spelt)', async () => {
    // Late in the UTC day: +14:00 spells the next day.
    const instant = new Date(Date.now() - 3 * 3_600_000);
    const spelt = new Date(instant.getTime() + 14 * 3_600_000).toISOString().replace('Z', '+14:00');
    const r = record({ time: spelt });
    expect((await importAs(bravoAdmin.token, { audit: [r] })).json.audit).toEqual({ stored: 1, duplicate: 0, expired: 0 });
    const from = new Date(instant.getTime() - 60_000).toISOString();
    const to = new Date(instant.getTime() + 60_000).toISOString();
    const found = (await query(bravoAuditor.token, `from=${from}&to=${to}&origin=imported&limit=200`)).json.items as Rec[];
    expect(found.map((x) => x.requestId)).toContain(r.requestId);
  });

  it('records and alerts dated more than a day ahead → 400 naming the time; nothing stored (they would outlive retention)', async () => {
    const ahead = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const far = '9999-12-31T23:59:59.999Z';
    for (const [body, field] of [
      [{ audit: [record(), record({ time: far })] }, 'audit.1.time'],
      [{ audit: [record({ time: ahead })] }, 'audit.0.time'],
      [{ alerts: [bravoAlert({ time: far })] }, 'alerts.0.time'],
    ] as const) {
      const res = await importAs(bravoAdmin.token, body);
      expectError(res, 400, 'INVALID_REQUEST');
      expect(res.json.error.issues[0]).toMatchObject({ field, rule: 'not_future' });
    }
    // Within a day ahead (an edge box's clock running fast) is taken.
    const soon = record({ time: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await importAs(bravoAdmin.token, { audit: [soon] })).json.audit).toEqual({ stored: 1, duplicate: 0, expired: 0 });
  });

  it('records and alerts already past retention (audit 90 days, alerts 30) are counted expired and not written; younger ones are stored', async () => {
    // Before: counted stored, then unreadable (queries skip what is past its TTL) until the TTL deleted them.
    const day = 86_400_000;
    const old = record({ time: new Date(Date.now() - 91 * day).toISOString() });
    const young = record({ time: new Date(Date.now() - 89 * day).toISOString() });
    const oldAlert = bravoAlert({ time: new Date(Date.now() - 31 * day).toISOString() });
    const youngAlert = bravoAlert({ time: new Date(Date.now() - 29 * day).toISOString() });

    const res = await importAs(bravoAdmin.token, { audit: [old, young], alerts: [oldAlert, youngAlert] });

    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ audit: { stored: 1, duplicate: 0, expired: 1 }, alerts: { stored: 1, duplicate: 0, expired: 1 } });
    expect(await storedWith(old.requestId)).toEqual([]);
    expect(await storedWith(young.requestId)).toHaveLength(1);
  });

  it.each([
    ['resource', { resource: '/api/v1/twin/predict\n2026-12-04 10:00:00.000  admin  users.create' }],
    ['action', { action: 'twin.predict\u001b[2K' }],
    ['method', { method: 'POST\r' }],
    ['errorCode', { errorCode: 'X\u001b]52;c;ZWNobyBwd25lZA==\u0007' }],
    ['modelVersion', { modelVersion: '1.0.0\u009b2J' }],
    ['principal', { principal: 'rt8-bravo-op\u202e' }],
    ['requestId', { requestId: `${randomUUID()}\u2028` }],
  ])('a record whose %s holds control characters (a terminal obeys them in `twin audit`) → 400 naming it', async (field, overrides) => {
    const r = record(overrides);
    const res = await importAs(bravoAdmin.token, { audit: [r] });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.issues[0]).toMatchObject({ field: `audit.0.${field}`, rule: 'format' });
    expect(await storedWith(r.requestId)).toEqual([]);
  });

  it('what the CLI does not print keeps what this deployment writes itself: a failed login’s claimed name, a user agent with a tab', async () => {
    const r = record({ principal: 'anonymous', principalType: 'anonymous', action: 'auth.login', outcome: 401, subject: 'rt8\u001b[2J', userAgent: 'curl/8\tx' });
    expect((await importAs(bravoAdmin.token, { audit: [r] })).json.audit).toEqual({ stored: 1, duplicate: 0, expired: 0 });
    expect(await storedWith(r.requestId)).toEqual([expect.objectContaining({ subject: 'rt8\u001b[2J', userAgent: 'curl/8\tx' })]);
  });

  it('an alert whose version or input names hold control characters, or that has more inputs than a model may, → 400', async () => {
    for (const [overrides, field] of [
      [{ version: '1.0.0\u001b]0;owned\u0007' }, 'alerts.0.version'],
      [{ inputs: { 'temp\n': 1 } }, 'alerts.0.inputs'],
      [{ inputs: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`f${i}`, i])) }, 'alerts.0.inputs'],
      [{ inputs: { ['x'.repeat(300_000)]: 1 } }, 'alerts.0.inputs'],
      // Before: a 500 (more than the store keeps in one item); now refused before parsing, for its 30,000 distinct keys.
      [{ inputs: Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`feature_${i}`, i])) }, 'body'],
    ] as const) {
      const res = await importAs(bravoAdmin.token, { alerts: [bravoAlert(overrides)] });
      expectError(res, 400, 'INVALID_REQUEST');
      expect(res.json.error.issues[0].field.startsWith(field)).toBe(true);
    }
  });

  it.each([['ttl'], ['sk'], ['day'], ['success'], ['imported'], ['pk']])('a record carrying `%s` (a stored field, not the schema’s) → 400 unknown_field', async (name) => {
    const r = { ...record(), [name]: name === 'imported' ? { by: 'admin', edge: 'cloud', at: new Date().toISOString() } : name === 'ttl' ? 4_102_444_800 : 'x' };
    const res = await importAs(bravoAdmin.token, { audit: [r] });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: `audit.0.${name}`, rule: 'unknown_field' })]);
  });

  it('odd JSON: not arrays, 1,001 records, nesting past 64 → 400; nothing stored', async () => {
    const cases: [unknown, string][] = [
      [{ audit: record() }, 'audit'],
      [{ audit: Array.from({ length: 1001 }, () => record()) }, 'audit'],
      [{ audit: [], alerts: [] }, 'audit'],
    ];
    for (const [body, field] of cases) {
      const res = await importAs(bravoAdmin.token, body);
      expectError(res, 400, 'INVALID_REQUEST');
      expect(res.json.error.issues[0].field).toBe(field);
    }
    const deep = await api('POST', '/api/v1/audit/import', { token: bravoAdmin.token, rawBody: `{"audit":[${'['.repeat(100)}${']'.repeat(100)}]}` });
    expectError(deep, 400, 'INVALID_REQUEST');
    expect(deep.json.error.issues[0]).toMatchObject({ field: 'body', rule: 'depth' });
  });

  it('imported records never pass for native ones: marked, and outside origin=native', async () => {
    const r = record();
    expect((await importAs(bravoAdmin.token, { edge: 'bravo-box', audit: [r] })).status).toBe(200);
    const native = (await query(bravoAuditor.token, 'origin=native&limit=200')).json.items as Rec[];
    expect(native.map((x) => x.requestId)).not.toContain(r.requestId);
    const imported = (await query(bravoAuditor.token, 'origin=imported&limit=200')).json.items as Rec[];
    expect(imported.find((x) => x.requestId === r.requestId)?.imported).toMatchObject({ by: 'rt8-bravo-admin', edge: 'bravo-box' });
  });
});

describe('alerts imported onto another plant’s model', () => {
  it('bravo’s admin importing a bravo alert on alpha’s model → 403 naming alerts.N.model; nothing stored; platform-wide and unknown models are taken', async () => {
    const pkg = await referenceVariant('1.0.0');
    const published = await publish(api, alphaAdmin.token, { manifest: { ...pkg.manifest, name: 'rt8-alpha-line' }, bytes: pkg.bytes }, 'rt8-alpha-line');
    expect(published.status, published.text).toBe(201);
    const onAlpha = bravoAlert({ model: 'rt8-alpha-line' });
    const res = await importAs(bravoAdmin.token, { alerts: [bravoAlert(), onAlpha] });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'alerts.1.model', rule: 'model_plant' })]);
    // Before, it was stored in the model's history, which platform principals read.
    const history = await api('GET', '/api/v1/alerts?model=rt8-alpha-line&limit=200', { token: root });
    expect((history.json.alerts as { id: string }[]).map((a) => a.id)).not.toContain(onAlpha.id);
    // The same record relabelled by a platform admin is refused too (no bravo principal could have raised it).
    expectError(await importAs(root, { alerts: [onAlpha] }), 403, 'FORBIDDEN');
    // Alpha's own alert on it, a platform principal's, and bravo's on the platform-wide or an edge-only model: taken.
    const ok = await importAs(root, { alerts: [alertEvent({ model: 'rt8-alpha-line', principal: 'rt8-alpha-op', plant: 'alpha' }), alertEvent({ model: 'rt8-alpha-line', principal: 'admin', plant: undefined })] });
    expect(ok.json.alerts, ok.text).toEqual({ stored: 2, duplicate: 0, expired: 0 });
    expect((await importAs(bravoAdmin.token, { alerts: [bravoAlert(), bravoAlert({ model: 'rt8-edge-only' })] })).json.alerts).toEqual({ stored: 2, duplicate: 0, expired: 0 });
  });
});

describe('the cost of a query: another plant’s volume is read in bounded pages', () => {
  it(`bravo’s auditor behind 1,100 newer alpha records: a page reads at most ${1_000} and ends with a cursor; following it finds bravo’s records, each once`, async () => {
    const now = Date.now();
    // Newer than every bravo record: up to 1.1 s ahead of the clock (the import takes up to a day ahead).
    const flood = Array.from({ length: 1_100 }, (_, i) => record({ principal: 'rt8-alpha-op', plant: 'alpha', time: new Date(now + 1 + i).toISOString() }));
    const range = `limit=50&to=${new Date(now + 5_000).toISOString()}`;
    for (const part of [flood.slice(0, 1_000), flood.slice(1_000)]) expect((await importAs(root, { edge: 'alpha-box', audit: part })).status).toBe(200);

    const first = await query(bravoAuditor.token, range);
    expect(first.status, first.text).toBe(200);
    // Before, this one request read every alpha record of the range (here 1,100; 31 days of a busy deployment).
    expect(first.json.items).toEqual([]);
    expect(first.json.next_cursor).toEqual(expect.any(String));

    const seen: Rec[] = [];
    let cursor: string | null = first.json.next_cursor;
    let pages = 1;
    while (cursor && pages < 50) {
      const page = await query(bravoAuditor.token, `${range}&cursor=${encodeURIComponent(cursor)}`);
      expect(page.status, page.text).toBe(200);
      seen.push(...(page.json.items as Rec[]));
      cursor = page.json.next_cursor;
      pages += 1;
    }
    expect(cursor).toBeNull();
    expect(seen.every((r) => r.plant === 'bravo')).toBe(true);
    expect(new Set(seen.map((r) => `${r.principal}#${r.time}#${r.requestId}`)).size).toBe(seen.length);
    expect(seen.filter((r) => r.principal === 'rt8-bravo-op' && r.action === 'twin.predict' && !r.imported)).toHaveLength(3);
  }, 60_000);
});
