import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/routes.js';
import { apiClient, login, startTestTwin, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

interface Issue {
  field: string;
  rule: string;
  message: string;
}

/** The error envelope `{ error: { code, message, requestId, issues? }, message }`, with the request id echoed. */
function expectEnvelope(res: ApiResponse, status: number, code: string): { code: string; message: string; requestId: string; issues?: Issue[] } {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.json).toMatchObject({
    error: { code, message: expect.any(String), requestId: expect.any(String) },
    message: expect.any(String),
  });
  expect(res.json.message).toBe(res.json.error.message);
  expect(res.json.error.message.length).toBeGreaterThan(0);
  expect(res.json.error.requestId).toBe(res.headers.get('x-request-id'));
  return res.json.error;
}

const fieldsAndRules = (issues: Issue[] | undefined) => (issues ?? []).map((i) => [i.field, i.rule]);

// Every rule of the row validator, as raw JSON so that 1e999 reaches the server as written.
// [case, raw body, expected [field, rule] pairs]
const rowCases: [string, string, [string, string][]][] = [
  ['a missing feature', '{"temp":360,"pressure":6}', [['flow', 'required']]],
  ['an unknown feature', '{"temp":360,"pressure":6,"flow":100,"humidity":40}', [['humidity', 'unknown_field']]],
  ['a numeric string', '{"temp":"360","pressure":6,"flow":100}', [['temp', 'type']]],
  ['null', '{"temp":360,"pressure":null,"flow":100}', [['pressure', 'type']]],
  ['a boolean', '{"temp":360,"pressure":6,"flow":true}', [['flow', 'type']]],
  ['an array', '{"temp":[360],"pressure":6,"flow":100}', [['temp', 'type']]],
  ['an object', '{"temp":{"value":360},"pressure":6,"flow":100}', [['temp', 'type']]],
  ['1e999 (Infinity)', '{"temp":1e999,"pressure":6,"flow":100}', [['temp', 'finite']]],
  ['-1e999 (-Infinity)', '{"temp":360,"pressure":-1e999,"flow":100}', [['pressure', 'finite']]],
  ['a value below its range', '{"temp":299.5,"pressure":6,"flow":100}', [['temp', 'range']]],
  ['a value above its range', '{"temp":360,"pressure":6,"flow":150.01}', [['flow', 'range']]],
  ['a huge value', '{"temp":1e308,"pressure":6,"flow":100}', [['temp', 'range']]],
  ['a body that is an array', '[360,6,100]', [['body', 'type']]],
  ['a body that is null', 'null', [['body', 'type']]],
  ['a body that is a string', '"temp=360"', [['body', 'type']]],
  ['a body that is a number', '42', [['body', 'type']]],
];

describe('validation through HTTP: 400 with code, field, rule and request id', () => {
  it.each(rowCases)('POST /api/v1/twin/predict with %s', async (_case, rawBody, expected) => {
    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token, rawBody });

    // Assess
    const error = expectEnvelope(res, 400, 'INVALID_INPUT');
    expect(fieldsAndRules(error.issues)).toEqual(expected);
    error.issues!.forEach((i) => expect(i.message.length).toBeGreaterThan(0));
  });

  it.each(rowCases.filter((_, i) => i % 3 === 0))('POST /predict (microservice) with %s', async (_case, rawBody, expected) => {
    const error = expectEnvelope(await api('POST', '/predict', { token, rawBody }), 400, 'INVALID_INPUT');
    expect(fieldsAndRules(error.issues)).toEqual(expected);
  });

  it('names the feature and the range in the message', async () => {
    const error = expectEnvelope(await api('POST', '/api/v1/twin/predict', { token, body: { ...validRow, temp: 401 } }), 400, 'INVALID_INPUT');
    expect(error.message).toContain('temp=401 out of range [300, 400]');
  });

  it('reports every problem of a row at once', async () => {
    const error = expectEnvelope(
      await api('POST', '/api/v1/twin/predict', { token, body: { temp: 'hot', pressure: 99, extra: 1 } }),
      400,
      'INVALID_INPUT',
    );
    expect(fieldsAndRules(error.issues).sort()).toEqual(
      [
        ['temp', 'type'],
        ['pressure', 'range'],
        ['flow', 'required'],
        ['extra', 'unknown_field'],
      ].sort(),
    );
  });

  it('a predict without a body is 400 naming the body', async () => {
    const error = expectEnvelope(await api('POST', '/api/v1/twin/predict', { token }), 400, 'INVALID_INPUT');
    expect(fieldsAndRules(error.issues)).toEqual([['body', 'type']]);
  });

  it.each([
    ['a __proto__ key', '{"temp":360,"pressure":6,"flow":100,"__proto__":{"temp":1}}'],
    ['a constructor key', '{"temp":360,"pressure":6,"flow":100,"constructor":1}'],
    ['a hasOwnProperty key', '{"hasOwnProperty":1,"temp":360,"pressure":6}'],
    ['a 10 kB key', `{"${'k'.repeat(10_000)}":1}`],
    ['-0 everywhere', '{"temp":-0,"pressure":-0,"flow":-0}'],
    ['duplicate keys, the last one bad', '{"temp":360,"pressure":6,"flow":100,"flow":"x"}'],
  ])('never answers 500: %s is a 400', async (_case, rawBody) => {
    const res = await api('POST', '/api/v1/twin/predict', { token, rawBody });
    const error = expectEnvelope(res, 400, 'INVALID_INPUT');
    expect(error.issues?.length).toBeGreaterThan(0);
  });
});

describe('deeply nested JSON', () => {
  it('5,000 deep is a 400 naming body and the depth rule, refused before parsing (functions/core/json-body.ts)', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token, rawBody: `${'['.repeat(5000)}${']'.repeat(5000)}` });
    const error = expectEnvelope(res, 400, 'INVALID_REQUEST');
    expect(error.issues?.[0]).toMatchObject({ field: 'body', rule: 'depth' });
  });
});

describe('batch request errors', () => {
  it('refuses 101 rows with 400 BATCH_TOO_LARGE naming inputs', async () => {
    // Prepare
    const inputs = Array.from({ length: 101 }, () => validRow);

    // Act
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs } });

    // Assess
    const error = expectEnvelope(res, 400, 'BATCH_TOO_LARGE');
    expect(fieldsAndRules(error.issues)).toEqual([['inputs', 'max_items']]);
    expect(error.message).toMatch(/100/);
    expect(error.message).toMatch(/101/);
  });

  it('refuses 101 invalid rows with BATCH_TOO_LARGE too (size is checked before rows)', async () => {
    const res = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: Array.from({ length: 101 }, () => 'x') } });
    expectEnvelope(res, 400, 'BATCH_TOO_LARGE');
  });

  it.each([
    ['no inputs', {}],
    ['inputs as a string', { inputs: 'x' }],
    ['inputs as an object', { inputs: { 0: validRow, length: 1 } }],
    ['inputs null', { inputs: null }],
    ['inputs as a number', { inputs: 3 }],
    ['a body that is an array of rows', [validRow]],
    ['a body that is null', null],
  ])('refuses %s with 400 naming inputs', async (_case, body) => {
    const error = expectEnvelope(await api('POST', '/api/v1/twin/batch', { token, body }), 400, 'INVALID_REQUEST');
    expect(error.issues?.map((i) => i.field)).toContain('inputs');
  });

  it('refuses a batch without a body with 400', async () => {
    const error = expectEnvelope(await api('POST', '/api/v1/twin/batch', { token }), 400, 'INVALID_REQUEST');
    expect(error.issues?.length).toBeGreaterThan(0);
  });

  it('refuses a field beside inputs (a misspelt option is not ignored) with 400 naming it, unknown_field', async () => {
    const error = expectEnvelope(await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [validRow], explian: true } }), 400, 'INVALID_REQUEST');
    expect(error.issues).toEqual([expect.objectContaining({ field: 'explian', rule: 'unknown_field' })]);
  });
});

describe('body and media type', () => {
  it.each([
    ['/api/v1/twin/predict', '{"temp":360,'],
    ['/api/v1/twin/batch', '{"inputs":[}'],
    ['/api/v1/auth/login', "{'username':'admin'}"],
  ])('%s with invalid JSON is 400 naming the body (rule json)', async (path, rawBody) => {
    const error = expectEnvelope(await api('POST', path, { token, rawBody }), 400, 'INVALID_REQUEST');
    expect(fieldsAndRules(error.issues)).toEqual([['body', 'json']]);
  });

  it.each([
    ['text/plain', '/api/v1/twin/predict'],
    ['application/x-www-form-urlencoded', '/api/v1/twin/predict'],
    ['text/plain', '/api/v1/twin/batch'],
    ['text/plain', '/api/v1/auth/login'],
    ['application/xml', '/predict'],
  ])('a %s body on %s is 415', async (contentType, path) => {
    const res = await api('POST', path, { token, rawBody: JSON.stringify(validRow), headers: { 'content-type': contentType } });
    const error = expectEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(fieldsAndRules(error.issues)).toEqual([['content-type', 'media_type']]);
  });

  it('a body without a content type is 415', async () => {
    const res = await api('POST', '/api/v1/twin/predict', { token, rawBody: new TextEncoder().encode(JSON.stringify(validRow)) });
    expectEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('accepts application/json with a charset and vendor +json types', async () => {
    const charset = await api('POST', '/api/v1/twin/predict', { token, body: validRow, headers: { 'content-type': 'application/json; charset=utf-8' } });
    const vendor = await api('POST', '/api/v1/twin/predict', { token, body: validRow, headers: { 'content-type': 'application/vnd.twin+json' } });
    expect([charset.status, vendor.status]).toEqual([200, 200]);
  });

  it('a body over 10 MB is 413 from the gateway, on a protected route', async () => {
    const rawBody = `{"temp":360,"pressure":6,"flow":100,"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`;
    const res = await api('POST', '/api/v1/twin/predict', { token, rawBody });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ message: 'Request Entity Too Large' });
  });

  it('a body over 10 MB is 413 from the gateway, on login', async () => {
    const rawBody = `{"username":"admin","password":"${'x'.repeat(10 * 1024 * 1024 + 1)}"}`;
    const res = await api('POST', '/api/v1/auth/login', { rawBody });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ message: 'Request Entity Too Large' });
  });
});

describe('routes', () => {
  it.each([
    ['GET', '/nope'],
    ['GET', '/api/v1/twin/predict'],
    ['DELETE', '/health'],
    ['POST', '/api/v1/twin/predicts'],
    ['GET', '/api/v1'],
  ])('%s %s is 404 {"message":"Not Found"}', async (method, path) => {
    const res = await api(method, path, { token });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ message: 'Not Found' });
  });
});

/**
 * Sends one raw HTTP/1.1 request line and returns the response's status line. A server that never answers
 * is reported as '' once the socket has been idle for 5 s (a safety net, not a timing assertion).
 */
function rawStatusLine(url: string, requestTarget: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${requestTarget} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    socket.setTimeout(5_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''));
  });
}

describe('malformed requests', () => {
  it('an absolute-form request target with a bad authority is a 4xx, and the twin keeps serving', async () => {
    // Node's parser lets these through; `new URL` refuses them.
    const targets = ['http://[::1/health', 'http://%zz/health', 'http://x:99999/health'];
    const statusLines = await Promise.all(targets.map((target) => rawStatusLine(t.url, target)));
    statusLines.forEach((line, i) => expect(line, targets[i]).toMatch(/^HTTP\/1\.1 4\d\d /));
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('a malformed percent-escape in a path parameter is never a 500', async () => {
    // Every route with a path parameter (none in the foundation; the table grows).
    const withParams = routes.filter((r) => r.path.includes('{'));
    for (const route of withParams) {
      const path = route.path.replace(/\{(\w+)\+?\}/g, '%E0%A4%A');
      const res = await api(route.method, path, { token });
      expect(res.status, `${route.method} ${path}: ${res.text}`).toBeLessThan(500);
    }
    expect((await api('GET', '/nope/%E0%A4%A')).status).toBe(404);
  });
});

describe('login errors', () => {
  it('a wrong password and an unknown user get the same 401 body', async () => {
    // Act
    const wrongPassword = await api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'not-the-password' } });
    const unknownUser = await api('POST', '/api/v1/auth/login', { body: { username: 'nobody-here', password: 'not-the-password' } });

    // Assess
    const a = expectEnvelope(wrongPassword, 401, 'INVALID_CREDENTIALS');
    const b = expectEnvelope(unknownUser, 401, 'INVALID_CREDENTIALS');
    const withoutId = (body: { error: Record<string, unknown> }) => ({ ...body, error: { ...body.error, requestId: undefined } });
    expect(withoutId(unknownUser.json)).toEqual(withoutId(wrongPassword.json));
    expect(a.message).toBe('Invalid credentials');
    expect(b.message).toBe('Invalid credentials');
    expect(wrongPassword.json.message).toBe('Invalid credentials'); // the chapter's {'message': 'Invalid credentials'}
    expect('token' in wrongPassword.json).toBe(false);
  });

  it.each([
    ['no password', { username: 'admin' }, [['password', 'required']]],
    ['no username', { password: 'x' }, [['username', 'required']]],
    ['neither', {}, [['username', 'required'], ['password', 'required']]],
    ['a numeric username', { username: 5, password: 'x' }, [['username', 'type']]],
    ['an empty username', { username: '', password: 'x' }, [['username', 'min']]],
    ['a null password', { username: 'admin', password: null }, [['password', 'type']]],
  ])('login with %s is 400 naming the field', async (_case, body, expected) => {
    const error = expectEnvelope(await api('POST', '/api/v1/auth/login', { body }), 400, 'INVALID_REQUEST');
    expect(fieldsAndRules(error.issues).sort()).toEqual([...expected].sort());
  });

  it('login without a body is 400 naming the body', async () => {
    const error = expectEnvelope(await api('POST', '/api/v1/auth/login'), 400, 'INVALID_REQUEST');
    expect(fieldsAndRules(error.issues)).toEqual([['body', 'required']]);
  });
});
