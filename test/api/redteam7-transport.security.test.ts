import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGatewayMaxBodyBytes, lambdaMaxEventBytes } from '../../infra/local/gateway-limits.js';
import { routes } from '../../functions/routes.js';
import { expectCleanRefusal, pathOf, rawHttp, southPrincipals, statusLines, tokenFor, type SouthPrincipals } from '../support/hostile.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The seventh hostile review, the rest of the request (bodies: redteam7-input.security.test.ts): query strings,
 * path parameters, body sizes and headers, swept over functions/routes.ts as plant south's lowest principals.
 * What got through: the answers Node's HTTP parser gives on its own (a header block over 16 KB, a duplicate
 * Content-Length, Content-Length beside Transfer-Encoding) had no body at all; they are now API Gateway's JSON
 * `{message}` with the connection closed (infra/local/gateway-response.ts `parserRefusal`). A path parameter
 * that does not percent-decode was a bare `{message: "Bad Request"}`; it now names the parameter and the rule. What held is swept
 * too: every answer 4xx or the documented success, clean, and the process serves on.
 */

let t: TestTwin;
let api: Api;
let south: SouthPrincipals;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  south = await southPrincipals(api, await login(api), 'rt7t');
});

afterAll(async () => {
  await t?.stop();
});

const serves = async () => expect((await api('POST', '/api/v1/twin/predict', { token: south.key, body: validRow })).status).toBe(200);

const queries: [string, string][] = [
  ['a parameter repeated 500 times', Array.from({ length: 500 }, (_, i) => `limit=${i}&model=m${i}&from=x`).join('&')],
  ['an 8 KB value', `limit=${'9'.repeat(8_000)}&model=${'m'.repeat(4_000)}`],
  ['__proto__ and constructor', '__proto__=1&constructor=2&limit=1e309&from=NaN&to=-0'],
  ['NUL, a lone surrogate, look-alikes', 'model=%00&from=%ED%A0%80&to=2026-12-01T00%3A00%3A00%EF%BC%BA&limit=%EF%BC%91'],
];

describe('every GET route, with hostile query strings', () => {
  it.each(queries)('%s: 4xx naming the field and rule, or the documented success', async (_what, query) => {
    for (const route of routes.filter((r) => r.method === 'GET')) {
      const res = await api('GET', `${pathOf(route, south)}?${query}`, { token: tokenFor(route, south) });
      if (res.status >= 300) expectCleanRefusal(res, `${route.path}?${query.slice(0, 40)}`);
      else expect(res.status).toBe(200);
    }
    await serves();
  });
});

const names: [string, string][] = [
  ['..', '..'],
  ['an encoded ../', '..%2F..%2Fdata'],
  ['%2F inside', 'reactor-yield%2F..%2Fx'],
  ['%00', 'reactor-yield%00'],
  ['an overlong name (3,000)', 'a'.repeat(3_000)],
  ['a Cyrillic look-alike', 're%D0%B0ctor-yield'],
  ['a full-width look-alike', '%EF%BD%92eactor-yield'],
  ['an encoded lone surrogate', '%ED%A0%80'],
  ['a bad escape', '%E0%A4%A'],
];

describe('every route with path parameters, with hostile values', () => {
  it.each(names)('%s: 4xx (400 naming the rule, or 404), never another model or file', async (what, value) => {
    for (const route of routes.filter((r) => r.path.includes('{'))) {
      const path = pathOf(route, south)
        .replace('reactor-yield', value)
        .replace('/1.0.0', `/${value}`)
        .replace('zzzzzzzzzzzz', value)
        .replace(south.viewerName, value);
      const res = await api(route.method, path, { token: tokenFor(route, south), ...(route.method === 'GET' ? {} : { body: {} }) });
      expectCleanRefusal(res, `${route.method} ${route.path} with ${what}`);
    }
    await serves();
  });
});

describe('a path parameter that does not percent-decode (fixed: a bare `{message: "Bad Request"}`)', () => {
  it('is a 400 naming the parameter and the rule, on a public-facing model route and an OIP one', async () => {
    for (const path of ['/api/v1/models/%ED%A0%80/versions', '/v2/models/reactor-yield/versions/%E0%A4%A/ready']) {
      const res = await api('GET', path, { token: south.viewer });
      expectCleanRefusal(res, path, { field: path.startsWith('/v2') ? 'path.version' : 'path.name', rule: 'percent_encoding' });
      expect(res.json.message).toBe('Bad Request');
    }
  });
});

describe('body sizes against the gateway limits (infra/local/gateway-limits.ts)', () => {
  it('one byte over 10 MB, and a declared 100 GB, are 413 before the route runs (a public route and a predicting one)', async () => {
    for (const path of ['/api/v1/auth/login', '/api/v1/twin/predict']) {
      const over = await api('POST', path, { token: south.key, rawBody: 'x'.repeat(apiGatewayMaxBodyBytes + 1) });
      expect(over.status).toBe(413);
      expect(over.json).toEqual({ message: 'Request Entity Too Large' });
    }
    const declared = await rawHttp(t.url, `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n{}`);
    expect(statusLines(declared)).toEqual(['HTTP/1.1 413 Payload Too Large']);
    await serves();
  });

  it("over Lambda's 6 MB event but under 10 MB: 413; just under, on a route of rows: the route's own 400 naming the field", async () => {
    const over = await api('POST', '/api/v1/twin/batch', { token: south.key, rawBody: JSON.stringify({ inputs: [validRow], pad: 'x'.repeat(lambdaMaxEventBytes) }) });
    const under = await api('POST', '/api/v1/twin/batch', { token: south.key, rawBody: JSON.stringify({ inputs: [validRow], pad: 'x'.repeat(lambdaMaxEventBytes - 64 * 1024) }) });
    const predict = await api('POST', '/api/v1/twin/predict', { token: south.key, rawBody: JSON.stringify({ ...validRow, pad: 'x'.repeat(lambdaMaxEventBytes - 64 * 1024) }) });

    expect(over.status).toBe(413);
    expectCleanRefusal(under, 'a 5.9 MB batch', { field: 'pad', rule: 'unknown_field' });
    expectCleanRefusal(predict, 'a 5.9 MB predict (its own limit: 64 KB)', { field: 'body', rule: 'max_bytes' });
  });
});

describe('headers', () => {
  it('a 15 KB Authorization header, and one of 7,000 dots, are 401 from the authorizer', async () => {
    for (const token of ['a'.repeat(15_000), 'a.'.repeat(7_000)]) {
      const res = await api('GET', '/api/v1/twin/status', { token });
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ message: 'Unauthorized' });
    }
    await serves();
  });

  it('a header block over 16 KB (one huge Authorization, or 3,000 headers) is a 431 with a JSON body (fixed: it had none)', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 3_000; i++) many[`x-h${i}`] = '1';

    const huge = await api('GET', '/api/v1/twin/status', { token: 'a'.repeat(20_000) });
    const numerous = await api('GET', '/api/v1/twin/status', { token: south.viewer, headers: many });

    for (const res of [huge, numerous]) {
      expect(res.status).toBe(431);
      expect(res.json).toEqual({ message: 'Request Header Fields Too Large' });
    }
    await serves();
  });

  it('request smuggling (duplicate Content-Length, Content-Length with Transfer-Encoding, doubled or unknown codings): one JSON 400, the smuggled request never answered', async () => {
    const body = JSON.stringify(validRow);
    const head = `POST /api/v1/twin/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${south.key}\r\nContent-Type: application/json\r\n`;
    const smuggled = `GET /api/v1/twin/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${south.viewer}\r\n\r\n`;
    const attempts = [
      `${head}Content-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}${smuggled}`,
      `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Content-Length: -1\r\n\r\n${smuggled}`,
    ];
    for (const attempt of attempts) {
      const answer = await rawHttp(t.url, attempt);
      expect(statusLines(answer), answer).toEqual(['HTTP/1.1 400 Bad Request']);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ message: 'Bad Request' });
    }
    await serves();
  });

  it('a request line that does not parse is a JSON 400; a keep-alive request after a good one is still served', async () => {
    const garbage = await rawHttp(t.url, 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n');
    const twoGood = await rawHttp(t.url, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');

    expect(statusLines(garbage)).toEqual(['HTTP/1.1 400 Bad Request']);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toEqual({ message: 'Bad Request' });
    expect(statusLines(twoGood)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
  });
});
