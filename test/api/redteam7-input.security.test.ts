import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxJsonDepth, maxJsonKeys } from '../../functions/core/json-body.js';
import { contractOf, defaultBodyBytes } from '../../functions/contracts.js';
import { routeKey, routes } from '../../functions/routes.js';
import { expectCleanRefusal, pathOf, southPrincipals, tokenFor, type SouthPrincipals } from '../support/hostile.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The seventh hostile review: hostile input and cost, as plant south's lowest principals (a viewer, an
 * operator, a key holding only twin:predict), swept over every route of functions/routes.ts that takes a body.
 * What got through, each fixed once for every route in the shared body reader (functions/core/json-body.ts)
 * and the gateway (infra/local/lambda-event.ts): bytes that are not UTF-8 stored with U+FFFD in their place
 * (an API key named "���"); a lone surrogate (`\ud800`) stored as sent, which no UTF-8 store can hold; a body
 * declared UTF-16, Latin-1 or gzip read as plain UTF-8 JSON and served 200; JSON nested 2.5 million deep
 * costing 1.2 s of CPU for 5 MB, unauthenticated, on the login route (now refused before parsing). What held
 * is swept too, so it keeps holding. Headers, query strings, paths and sizes: redteam7-transport.security.test.ts.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let south: SouthPrincipals;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  admin = await login(api);
  south = await southPrincipals(api, admin, 'rt7i');
});

afterAll(async () => {
  await t?.stop();
});

const json = { 'content-type': 'application/json' };
const row = JSON.stringify(validRow);
const withBody = routes.filter((r) => r.method !== 'GET');

/** [case, body, extra headers, the field and rule every route that reads the body must name (the fixed cases)] */
const hostile: [string, string | Uint8Array, Record<string, string>, { field: string; rule: string }?][] = [
  ['malformed JSON', '{"temp":', {}, { field: 'body', rule: 'json' }],
  ['arrays 10,000 deep', '['.repeat(10_000) + ']'.repeat(10_000), {}, { field: 'body', rule: 'depth' }],
  ['objects 10,000 deep', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), {}, { field: 'body', rule: 'depth' }],
  ['duplicate keys', '{"temp":1,"temp":360,"pressure":6,"flow":100}', {}],
  ['__proto__ and constructor keys', '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"temp":360,"pressure":6,"flow":100}', {}],
  ['1e309', '{"temp":1e309,"pressure":6,"flow":100}', {}],
  ['-0 everywhere', '{"temp":-0,"pressure":-0,"flow":-0}', {}],
  ['NaN as a string', '{"temp":"NaN","pressure":"Infinity","flow":100}', {}],
  ['1e-400', '{"temp":1e-400,"pressure":6,"flow":100}', {}],
  ['a 3 MB string', JSON.stringify({ ...validRow, name: 'x'.repeat(3_000_000) }), {}],
  [`${maxJsonKeys + 1} distinct keys (~24 KB)`, JSON.stringify(Object.fromEntries(Array.from({ length: maxJsonKeys + 1 }, (_, i) => [`k${i}`, 0]))), {}, { field: 'body', rule: 'keys' }],
  ['a lone surrogate escape', '{"temp":360,"pressure":6,"flow":100,"note":"a\\ud800b"}', {}, { field: 'note', rule: 'unicode' }],
  ['a lone surrogate key', '{"temp":360,"pressure":6,"flow":100,"\\udc00":1}', {}, { field: '\udc00', rule: 'unicode' }],
  ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"temp":360,"pressure":6,"flow":100,"note":"'), Buffer.from([0xed, 0xa0, 0x80, 0xff]), Buffer.from('"}')]), {}, { field: 'body', rule: 'utf8' }],
  ['a NUL escape', '{"temp":360,"pressure":6,"flow":100,"note":"a\\u0000b"}', {}],
  ['a raw NUL byte', '{"temp":360,\u0000"pressure":6,"flow":100}', {}, { field: 'body', rule: 'json' }],
  ['no content-type', row, { 'content-type': '' }, { field: 'content-type', rule: 'media_type' }],
  ['text/plain', row, { 'content-type': 'text/plain' }, { field: 'content-type', rule: 'media_type' }],
  ['charset utf-16', row, { 'content-type': 'application/json; charset=utf-16' }, { field: 'content-type', rule: 'charset' }],
  ['charset iso-8859-1', row, { 'content-type': 'application/json;charset="ISO-8859-1"' }, { field: 'content-type', rule: 'charset' }],
  ['gzip content-encoding (body not compressed)', row, { 'content-encoding': 'gzip' }, { field: 'content-encoding', rule: 'identity' }],
  ['gzip content-encoding (body compressed)', gzipSync(row), { 'content-encoding': 'gzip' }, { field: 'content-encoding', rule: 'identity' }],
];

describe('every route that takes a body, with every hostile body', () => {
  it.each(hostile)('%s: 4xx naming the field and rule (or the documented success), nothing internal, the process lives', async (what, body, headers, rule) => {
    // Act and assert, route by route: a refusal is clean; where the body is read, a fixed case names its rule.
    let read = 0;
    for (const route of withBody) {
      const res = await api(route.method, pathOf(route, south), { token: tokenFor(route, south), rawBody: body, headers: { ...json, ...headers } });
      const label = `${route.method} ${route.path} with ${what}`;
      if (res.status < 300) {
        // The documented success: only a valid body on a route the principal may use.
        expect(rule, `${label}: served ${res.status}`).toBeUndefined();
        continue;
      }
      expectCleanRefusal(res, label);
      if (rule && res.status !== 401 && res.status !== 403) {
        // Every route refuses a body over its limit before reading it (functions/body-limits.ts).
        const limit = contractOf(routeKey(route)).maxBodyBytes ?? defaultBodyBytes;
        expectCleanRefusal(res, label, Buffer.byteLength(body) > limit ? { field: 'body', rule: 'max_bytes' } : rule);
        read++;
      }
    }
    // Login, token, the predict, batch, insight and OIP routes, feedback, keys and the password read it (18 today).
    if (rule) expect(read).toBeGreaterThanOrEqual(15);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await api('POST', '/api/v1/twin/predict', { token: south.key, body: validRow })).status).toBe(200);
  });
});

describe("every route's own body limit (functions/body-limits.ts)", () => {
  /** A JSON object of exactly `bytes` bytes. */
  const padded = (bytes: number) => `{"pad":"${'x'.repeat(bytes - 10)}"}`;

  it('a body one byte over the limit is 413 naming body/max_bytes before it is read; one at the limit is read', async () => {
    let refused = 0;
    for (const route of withBody) {
      const limit = contractOf(routeKey(route)).maxBodyBytes ?? defaultBodyBytes;
      if (limit > defaultBodyBytes) continue; // the routes of rows or a model: below
      const token = tokenFor(route, south);
      const path = pathOf(route, south);
      const over = await api(route.method, path, { token, rawBody: padded(limit + 1), headers: json });
      const at = await api(route.method, path, { token, rawBody: padded(limit), headers: json });
      const label = `${route.method} ${route.path}`;
      if (over.status === 401 || over.status === 403) continue; // not this principal's route: refused before the body
      expectCleanRefusal(over, `${label} over its limit`, { field: 'body', rule: 'max_bytes' });
      expect(over.status, label).toBe(413);
      expect(at.status, `${label} at its limit: ${at.text.slice(0, 200)}`).not.toBe(413);
      refused++;
    }
    // The predict, sweep, optimize, keys and password routes, as south's lowest principals (12 today).
    expect(refused).toBeGreaterThanOrEqual(10);
  });

  it('a batch takes a large body: 1 MB of rows is read (and judged row by row)', async () => {
    const rows = Array.from({ length: 100 }, () => ({ ...validRow, note: 'x'.repeat(10_000) }));
    const res = await api('POST', '/api/v1/twin/batch', { token: south.key, body: { inputs: rows } });
    expect(res.status, res.text.slice(0, 200)).toBe(200);
    expect(res.json.failed).toBe(100);
  });
});

describe('what is stored is what was sent, or nothing (fixed)', () => {
  const keyNames = async () => ((await api('GET', '/api/v1/keys', { token: south.operator })).json.keys as { name: string }[]).map((k) => k.name).sort();

  it('a key name of bytes that are not UTF-8 is a 400 naming body/utf8, and no key is made (it was stored as "���")', async () => {
    // Arrange
    const before = await keyNames();
    const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);

    // Act
    const res = await api('POST', '/api/v1/keys', { token: south.operator, rawBody: body, headers: json });

    // Assert
    expectCleanRefusal(res, 'a key name that is not UTF-8', { field: 'body', rule: 'utf8' });
    expect(await keyNames()).toEqual(before);
  });

  it('a key name holding a lone surrogate is a 400 naming name/unicode, and no key is made', async () => {
    const before = await keyNames();

    const res = await api('POST', '/api/v1/keys', { token: south.operator, rawBody: '{"name":"a\\ud800b"}', headers: json });

    expectCleanRefusal(res, 'a lone surrogate in a key name', { field: 'name', rule: 'unicode' });
    expect(await keyNames()).toEqual(before);
  });

  it('a surrogate pair (an emoji, escaped or as UTF-8) is well-formed: the key is made and listed exactly as sent', async () => {
    const res = await api('POST', '/api/v1/keys', { token: south.operator, rawBody: '{"name":"line \\ud83d\\ude80 \u00e9\u4e2d"}', headers: json });

    expect(res.status, res.text).toBe(201);
    expect(await keyNames()).toContain('line \u{1f680} \u00e9\u4e2d');
  });

  it('a body really encoded in UTF-16 (declared so) is a 415 naming the charset, not a prediction', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token: south.key, rawBody: Buffer.from(row, 'utf16le'), headers: { 'content-type': 'application/json; charset=utf-16le' } });

    expectCleanRefusal(res, 'UTF-16 body', { field: 'content-type', rule: 'charset' });
    expect(res.status).toBe(415);
  });

  it('charset=utf-8 in any spelling is the documented success', async () => {
    for (const contentType of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'application/json; charset=utf8']) {
      const res = await api('POST', '/api/v1/twin/predict', { token: south.key, rawBody: row, headers: { 'content-type': contentType } });
      expect(res.status, `${contentType}: ${res.text}`).toBe(200);
    }
  });

  it(`nesting up to ${maxJsonDepth} is parsed (then judged by the route); one more is refused before parsing, on a public route too`, async () => {
    const nested = (depth: number) => '{"username":"x","password":"y","pad":' + '['.repeat(depth - 1) + ']'.repeat(depth - 1) + '}';

    const atLimit = await api('POST', '/api/v1/auth/login', { rawBody: nested(maxJsonDepth), headers: json });
    const over = await api('POST', '/api/v1/auth/login', { rawBody: nested(maxJsonDepth + 1), headers: json });
    const deepInString = await api('POST', '/api/v1/auth/login', { rawBody: JSON.stringify({ username: '['.repeat(100), password: '{'.repeat(100) }), headers: json });

    expect(atLimit.json?.error?.issues?.[0]?.rule, atLimit.text).not.toBe('depth');
    expectCleanRefusal(over, 'one level too deep', { field: 'body', rule: 'depth' });
    // Brackets inside strings are not nesting.
    expect(deepInString.json?.error?.issues?.[0]?.rule ?? deepInString.json?.error?.code, deepInString.text).not.toBe('depth');
  });
});
