import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAudit } from '../../client/edge.js';
import { defaultBodyBytes, largeBodyBytes } from '../../functions/body-limits.js';
import { contractOf } from '../../functions/contracts.js';
import { maxJsonContainers, maxJsonKeys, maxJsonShapes } from '../../functions/core/json-body.js';
import { routeKey, routes } from '../../functions/routes.js';
import { alertEvent } from '../support/alert-events.js';
import { expectCleanRefusal, pathOf, southPrincipals, tokenFor, type SouthPrincipals } from '../support/hostile.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * The eighth hostile review: the request body limits of every route (functions/body-limits.ts) and the one-pass
 * shape check before JSON.parse (functions/core/json-body.ts), attacked as plant south's lowest principals. What
 * got through, fixed in the shared reader: on the 6 MB routes, 6 MB of `{}` (or of arrays nested 55 deep, under the
 * 64 allowed) cost the twin ~0.4-0.8 s of CPU per request against ~0.12 s for 6 MB of numbers and ~8 ms for a
 * predict, and 4.5 MB of objects of 8 keys drawn at random from 2,040 (under the 2,048 allowed) ~0.2-0.3 s: now
 * 400 `body`/`containers` and `body`/`shapes` before parsing. A body of exactly its route's limit that the gateway
 * hands over as base64 was counted up to 2 bytes over it (413). An audit import of 500 alerts of 8 models of 256
 * features spelt more than 2,048 keys and was refused whole: `twin audit import` now splits such chunks. What held
 * (a body on GET and DELETE, chunked bodies without Content-Length) is swept so it keeps holding.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let south: SouthPrincipals;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  admin = await login(api);
  south = await southPrincipals(api, admin, 'rt8b');
});

afterAll(async () => {
  await t?.stop();
});

const json = { 'content-type': 'application/json' };
const largeRoutes = routes.filter((r) => contractOf(routeKey(r)).maxBodyBytes === largeBodyBytes);

/** A raw request through node:http (fetch sends no body on GET, and always a Content-Length for a known body). */
function rawRequest(method: string, path: string, token: string, body: Buffer, headers: Record<string, string>): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, t.url), { method, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), json: parsed, text });
      });
    });
    req.on('error', reject);
    // In 16 KB writes, so a chunked body goes as many chunks.
    for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
    req.end();
  });
}

/** South's lowest principal for the route, or the admin where none of south's may call it (publish, audit import). */
async function send(route: (typeof routes)[number], body: string): Promise<ApiResponse> {
  const res = await api(route.method, pathOf(route, south), { token: tokenFor(route, south), rawBody: body, headers: json });
  if (res.status !== 401 && res.status !== 403) return res;
  return api(route.method, pathOf(route, south), { token: admin, rawBody: body, headers: json });
}

describe('bodies cheap to send and dear to parse, on every 6 MB route (fixed: refused before JSON.parse)', () => {
  it(`more than ${maxJsonContainers} arrays and objects (~0.2 MB of {}) is 400 body/containers`, async () => {
    const body = `{"inputs":[${Array(maxJsonContainers).fill('{}').join(',')}]}`;
    expect(Buffer.byteLength(body)).toBeLessThan(defaultBodyBytes * 4);
    for (const route of largeRoutes) expectCleanRefusal(await send(route, body), `${routeKey(route)}: ${maxJsonContainers + 2} containers`, { field: 'body', rule: 'containers' });
    expect(largeRoutes.length).toBe(9);
  });

  it(`objects of 8 keys drawn from 2,000 (under ${maxJsonKeys}), in more than ${maxJsonShapes} key orders, are 400 body/shapes`, async () => {
    let seed = 3;
    const key = () => {
      seed = (seed * 48271) % 2147483647;
      return `"k${seed % 2000}":0`;
    };
    const body = `{"inputs":[${Array.from({ length: 5000 }, () => `{${Array.from({ length: 8 }, key).join(',')}}`).join(',')}]}`;
    for (const route of largeRoutes) expectCleanRefusal(await send(route, body), `${routeKey(route)}: random key orders`, { field: 'body', rule: 'shapes' });
  });

  it('rows whose keys come in different orders are still read: a batch of 100 rows in 3 orders is 200, every row predicted', async () => {
    const orders = [
      ['temp', 'pressure', 'flow'],
      ['flow', 'temp', 'pressure'],
      ['pressure', 'flow', 'temp'],
    ];
    const inputs = Array.from({ length: 100 }, (_, i) => Object.fromEntries(orders[i % 3]!.map((k) => [k, validRow[k as keyof typeof validRow]])));
    const res = await api('POST', '/api/v1/twin/batch', { token: south.key, body: { inputs } });
    expect(res.status, res.text.slice(0, 200)).toBe(200);
    expect(res.json.successful).toBe(100);
    expect(res.json.results).toHaveLength(100);
  });
});

describe('the size limit, however the body comes (held, except base64 at the limit: fixed)', () => {
  it('a body on GET or DELETE is held to the 64 KB default: one byte over is 413 body/max_bytes', async () => {
    const over = Buffer.from(`{"pad":"${'x'.repeat(defaultBodyBytes - 9)}"}`);
    expect(over.length).toBe(defaultBodyBytes + 1);
    const get = await rawRequest('GET', '/api/v1/models', south.viewer, over, { ...json, 'content-length': String(over.length) });
    expectCleanRefusal(get, 'GET with a body', { field: 'body', rule: 'max_bytes' });
    expect(get.status).toBe(413);
    const del = await rawRequest('DELETE', '/api/v1/keys/zzzzzzzzzzzz', south.operator, over, { ...json, 'content-length': String(over.length) });
    expectCleanRefusal(del, 'DELETE with a body', { field: 'body', rule: 'max_bytes' });
    expect(del.status).toBe(413);
  });

  it('a chunked body without Content-Length is held to the limit as well: over it 413, at it read', async () => {
    const over = Buffer.from(`{"pad":"${'x'.repeat(defaultBodyBytes - 9)}"}`);
    const at = over.subarray(0, over.length - 2);
    const chunked = { ...json, 'transfer-encoding': 'chunked' };
    const refused = await rawRequest('POST', '/api/v1/twin/predict', south.key, over, chunked);
    expectCleanRefusal(refused, 'a chunked body one byte over', { field: 'body', rule: 'max_bytes' });
    expect(refused.status).toBe(413);
    const read = await rawRequest('POST', '/api/v1/twin/predict', south.key, Buffer.concat([at, Buffer.from('}')]), chunked);
    expect(read.status, read.text.slice(0, 200)).toBe(400);
    expect(read.json.error.issues[0].rule).not.toBe('max_bytes');
  });

  it('a body the gateway hands over as base64 (not UTF-8) is counted in the bytes sent: at the limit it is read (400 body/utf8), one byte over 413', async () => {
    const bytes = (n: number) => Buffer.concat([Buffer.from('{"pad":"'), Buffer.alloc(n - 10, 0xff), Buffer.from('"}')]);
    expect(defaultBodyBytes % 3).not.toBe(0); // so the base64 ends in padding, which was counted as bytes
    const at = await api('POST', '/api/v1/twin/predict', { token: south.key, rawBody: bytes(defaultBodyBytes), headers: json });
    expectCleanRefusal(at, 'a base64 body at the limit', { field: 'body', rule: 'utf8' });
    const over = await api('POST', '/api/v1/twin/predict', { token: south.key, rawBody: bytes(defaultBodyBytes + 1), headers: json });
    expectCleanRefusal(over, 'a base64 body over the limit', { field: 'body', rule: 'max_bytes' });
    expect(over.status).toBe(413);
  });
});

describe('a legitimate audit import of alerts of many models (fixed: the client splits what one body may not spell)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rt8b-import-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`500 alerts of 9 models of 256 features: one request spells more than ${maxJsonKeys} keys (400 body/keys); twin audit import stores all 500`, async () => {
    // Arrange: what an edge box serving 9 models writes (`twin audit export`), one line per alert.
    const alerts = Array.from({ length: 500 }, (_, i) => {
      const model = `line-${i % 9}`;
      const inputs = Object.fromEntries(Array.from({ length: 256 }, (_, f) => [`${model.replace('-', '_')}_sensor_${String(f).padStart(3, '0')}`, f / 10]));
      return alertEvent({ model, inputs, plant: 'south', principal: 'edge-op' });
    });
    const file = join(dir, 'edge-audit.jsonl');
    await writeFile(file, alerts.map((event) => JSON.stringify({ kind: 'alert', event })).join('\n') + '\n');

    // Act
    const whole = await api('POST', '/api/v1/audit/import', { token: admin, body: { edge: 'edge-9', alerts } });
    const imported = await importAudit({ url: t.url, token: admin, file, edge: 'edge-9' });

    // Assert
    expectCleanRefusal(whole, 'one request of 500 alerts of 9 models', { field: 'body', rule: 'keys' });
    expect(imported.lines).toBe(500);
    expect(imported.requests).toBeGreaterThanOrEqual(2);
    expect(imported.alerts).toEqual({ stored: 500, duplicate: 0, expired: 0 });
  });
});
