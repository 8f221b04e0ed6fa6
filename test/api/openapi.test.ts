import { defaultBodyBytes } from '../../functions/body-limits.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileErrors, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { contracts, type RouteContract } from '../../functions/contracts.js';
import { buildOpenApiDocument, jsonSchemaOf } from '../../functions/openapi.js';
import type { RouteHandler } from '../../functions/middleware/http.js';
import { loadHandlers } from '../../infra/local/handlers.js';
import { repoRoot } from '../../infra/local/twin.js';
import { routeKey, routes, type FunctionName } from '../../functions/routes.js';
import { apiClient, login, startTestTwin, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * The API description cannot drift from the code: every route of the route table has a contract and every
 * contract a route; every handler validates with exactly its contract's schemas; the generated document is
 * valid OpenAPI 3.1 (checked by @readme/openapi-parser); and a real answer of every route, taken from a local
 * twin, matches both the contract's zod schema (strict: an undocumented field fails) and the JSON Schema the
 * served /openapi.json gives for its status.
 */

const contractMap = contracts as Record<string, RouteContract>;
type Doc = OpenAPIV3_1.Document;
type Operation = OpenAPIV3_1.OperationObject;

function operationOf(doc: Doc, method: string, path: string): Operation {
  const op = (doc.paths?.[path] as Record<string, Operation> | undefined)?.[method.toLowerCase()];
  if (!op) throw new Error(`no operation ${method} ${path} in the document`);
  return op;
}

describe('contracts and the route table', () => {
  it('every route has a contract, and every contract names a route', () => {
    // Act
    const routeKeys = routes.map(routeKey).sort();
    const contractKeys = Object.keys(contracts).sort();

    // Assess
    expect(routeKeys.filter((k) => !contractKeys.includes(k)), 'routes without a contract in functions/contracts.ts').toEqual([]);
    expect(contractKeys.filter((k) => !routeKeys.includes(k)), 'contracts without a route in functions/routes.ts').toEqual([]);
  });

  it('every handler validates with exactly its contract’s schemas, and serves exactly its function’s routes', async () => {
    // Prepare
    const handlers = (await loadHandlers()) as unknown as Record<FunctionName, { routes?: Record<string, RouteHandler> }>;

    // Act / Assess
    for (const [name, handler] of Object.entries(handlers)) {
      const served = Object.keys(handler.routes ?? {}).sort();
      expect(served, `functions/${name}.ts`).toEqual(routes.filter((r) => r.function === name).map(routeKey).sort());
    }
    for (const route of routes) {
      const key = routeKey(route);
      const options = handlers[route.function].routes![key]!.options;
      const contract = contractMap[key]!;
      expect(options.body, `${key}: body validator`).toBe(contract.body);
      expect(options.query, `${key}: query validator`).toBe(contract.query);
      expect(options.form ?? false, `${key}: form bodies`).toBe(contract.form ?? false);
      expect(options.errors ?? 'envelope', `${key}: error format`).toBe(contract.errors ?? 'envelope');
    }
  });
});

describe('the generated OpenAPI document', () => {
  const doc = buildOpenApiDocument({ serverUrl: 'https://twin.example.com' }) as unknown as Doc;

  it('is valid OpenAPI 3.1 for a real validator, without warnings', async () => {
    // Act
    const result = await validate(structuredClone(doc) as never);

    // Assess
    expect(result.valid ? '' : compileErrors(result)).toBe('');
    expect(result.warnings).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every route with its scopes, audit action, parameters and errors', () => {
    for (const route of routes) {
      // Act
      const op = operationOf(doc, route.method, route.path);
      const contract = contractMap[routeKey(route)]!;

      // Assess
      const key = routeKey(route);
      expect(op.summary, key).toBe(route.summary);
      expect((op as Record<string, unknown>)['x-twinserve-audit-action'], key).toBe(route.action);
      expect((op as Record<string, unknown>)['x-twinserve-max-body-bytes'], key).toBe(contract.maxBodyBytes ?? defaultBodyBytes);
      expect(op.security, key).toEqual(route.auth === 'public' ? [] : route.auth.scopes.map((s) => ({ oauth2: [s] })));
      const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const params = (op.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
      expect(params.filter((p) => p.in === 'path').map((p) => p.name), key).toEqual(pathParams);
      const responses = op.responses as Record<string, OpenAPIV3_1.ResponseObject>;
      const ok = responses[String(contract.status ?? 200)]!;
      expect(ok, key).toBeDefined();
      expect(Object.keys(ok.headers ?? {}), key).toContain('X-Request-Id');
      expect(responses.default, key).toBeDefined();
      if (route.auth !== 'public') {
        expect(Object.keys(ok.headers ?? {}), key).toEqual(expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']));
        expect(Object.keys(responses['429']!.headers ?? {}), key).toContain('Retry-After');
        expect(responses['401'], key).toBeDefined();
        expect(responses['403'], key).toBeDefined();
      }
    }
  });

  it('describes request bodies and queries exactly as the validators’ JSON Schema (io: input)', () => {
    for (const route of routes) {
      const key = routeKey(route);
      const contract = contractMap[key]!;
      const op = operationOf(doc, route.method, route.path);
      const body = contract.body ?? contract.modelBody;

      // Assess
      const content = (op.requestBody as OpenAPIV3_1.RequestBodyObject | undefined)?.content;
      if (body) {
        expect(content?.['application/json']?.schema, key).toEqual(jsonSchemaOf(body, 'input'));
        if (contract.form) expect(content?.['application/x-www-form-urlencoded']?.schema, key).toEqual(jsonSchemaOf(body, 'input'));
      } else {
        expect(content, key).toBeUndefined();
      }
      if (contract.query) {
        const schema = z.toJSONSchema(contract.query, { io: 'input' }) as { properties: Record<string, unknown>; required?: string[] };
        const queryParams = ((op.parameters ?? []) as OpenAPIV3_1.ParameterObject[]).filter((p) => p.in === 'query');
        expect(queryParams.map((p) => p.name), key).toEqual(Object.keys(schema.properties));
        for (const p of queryParams) expect(p.required, `${key} ?${p.name}`).toBe(schema.required?.includes(p.name) ?? false);
      }
    }
  });

  it('gives the package version as the API version (OpenAPI info and the inference protocol’s server metadata)', async () => {
    // Prepare
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

    // Assess
    expect(doc.info.version).toBe(pkg.version);
  });

  it('fails loudly for a route without a contract (a route cannot exist undocumented)', async () => {
    // Prepare
    const { contractOf } = await import('../../functions/contracts.js');

    // Act / Assess
    expect(() => contractOf('GET /undocumented')).toThrow(/no contract for route GET \/undocumented/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real answers against the documentation

let t: TestTwin;
let api: Api;
let token: string;
let served: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
/** Route keys whose answers were checked, with the statuses seen. */
const checked = new Map<string, Set<number>>();

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  token = await login(api);
  const res = await api<Doc>('GET', '/openapi.json');
  served = res.json;
});

afterAll(async () => {
  await t?.stop();
});

/** Calls a route and checks its answer against the contract (zod, strict) and the served document (JSON Schema). */
async function call(key: string, path: string, options: Parameters<Api>[2] = {}, expectStatus?: number): Promise<ApiResponse> {
  const [method, template] = key.split(' ') as [string, string];
  const res = await api(method, path, { token, ...options });
  const contract = contractMap[key];
  if (!contract) throw new Error(`no contract ${key}`);
  if (expectStatus !== undefined) expect(res.status, `${key}: ${res.text.slice(0, 300)}`).toBe(expectStatus);
  const success = contract.status ?? 200;
  const documented = res.status === success ? contract.response : contract.responses?.[res.status]?.schema;
  expect(documented, `${key} answered an undocumented ${res.status}: ${res.text.slice(0, 300)}`).toBeDefined();
  const body = contract.contentType === 'text/html' ? res.text : res.json;
  const parsed = documented!.safeParse(body);
  expect(parsed.success ? [] : parsed.error.issues, `${key} ${res.status}: the contract's schema`).toEqual([]);
  const op = operationOf(served, method, template);
  const response = (op.responses as Record<string, OpenAPIV3_1.ResponseObject>)[String(res.status)];
  const mediaType = contract.contentType ?? 'application/json';
  const schema = response?.content?.[mediaType]?.schema;
  expect(schema, `${key}: the served document has no schema for ${res.status}`).toBeDefined();
  const check = ajv.compile(schema as object);
  expect(check(body) ? [] : check.errors, `${key} ${res.status}: the served JSON Schema`).toEqual([]);
  if (contract.contentType !== 'text/html') expect(res.headers.get('content-type'), key).toMatch(/^application\/json/);
  checked.set(key, (checked.get(key) ?? new Set()).add(res.status));
  return res;
}

/** The schema with `#/components/schemas/*` references replaced by the components (ajv compiles it alone). */
function inlineComponents(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inlineComponents);
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as { $ref?: string }).$ref;
  if (ref?.startsWith('#/components/schemas/')) return inlineComponents(served.components!.schemas![ref.slice('#/components/schemas/'.length)]);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlineComponents(v)]));
}

/** Checks an error answer against the documented error schema for its status. */
async function callError(key: string, path: string, options: Parameters<Api>[2], status: number): Promise<ApiResponse> {
  const [method, template] = key.split(' ') as [string, string];
  const res = await api(method, path, { token, ...options });
  expect(res.status, `${key}: ${res.text}`).toBe(status);
  const op = operationOf(served, method, template);
  const responses = op.responses as Record<string, OpenAPIV3_1.ResponseObject>;
  const response = responses[String(status)] ?? responses.default!;
  const schema = response.content?.['application/json']?.schema;
  expect(schema, `${key}: no documented schema for ${status}`).toBeDefined();
  const validateError = ajv.compile(inlineComponents(schema) as object);
  expect(validateError(res.json) ? [] : validateError.errors, `${key} ${status}`).toEqual([]);
  return res;
}

describe('the served documents', () => {
  // Before the OpenAPI validation below: it holds this process (the twin's too) for seconds, and the keep-alive
  // socket the next request picks may then be closed under it (ECONNRESET).
  it('GET /docs renders every operation as static HTML under a script-free CSP', async () => {
    // Act
    const res = await call('GET /docs', '/docs', { token: undefined }, 200);

    // Assess
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    expect(res.text).not.toMatch(/<script/i);
    for (const route of routes) expect(res.text, routeKey(route)).toContain(route.path.replace(/&/g, '&#38;'));
    expect(res.text).toContain('href="openapi.json"');
  });

  it('GET /openapi.json is the generated document for this twin, valid OpenAPI 3.1', async () => {
    // Act
    const res = await call('GET /openapi.json', '/openapi.json', { token: undefined }, 200);

    // Assess
    expect(res.json).toEqual(buildOpenApiDocument({ serverUrl: t.url }));
    expect(res.json.servers).toEqual([{ url: t.url }]);
    const result = await validate(structuredClone(res.json) as never);
    expect(result.valid).toBe(true);
  });
});

describe('every route answers what the documentation says', () => {
  it('public, auth and twin routes', async () => {
    await call('GET /health', '/health', { token: undefined }, 200);
    await call('GET /.well-known/openid-configuration', '/.well-known/openid-configuration', { token: undefined }, 200);
    await call('GET /.well-known/jwks.json', '/.well-known/jwks.json', { token: undefined }, 200);
    await call('POST /api/v1/auth/login', '/api/v1/auth/login', { token: undefined, body: { username: 'admin', password: 'test-admin-password-1' } }, 200);
    await call(
      'POST /api/v1/auth/token',
      '/api/v1/auth/token',
      { token: undefined, rawBody: 'grant_type=password&username=admin&password=test-admin-password-1&scope=twin%3Aread', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      200,
    );
    await call('POST /api/v1/twin/predict', '/api/v1/twin/predict', { body: validRow }, 200);
    await call('POST /api/v1/twin/predict', '/api/v1/twin/predict', { body: validRow }, 200); // from the cache
    await call('POST /api/v1/twin/batch', '/api/v1/twin/batch', { body: { inputs: [validRow, { ...validRow, temp: 450 }, { temp: 300, pressure: 6, flow: 100 }] } }, 200);
    await call('GET /api/v1/twin/status', '/api/v1/twin/status', {}, 200);
    await call('POST /predict', '/predict', { body: validRow }, 200);
    await call('GET /model/info', '/model/info', {}, 200);
    await call('GET /metrics', '/metrics', {}, 200);
  });

  it('keys, users and audit', async () => {
    const created = await call('POST /api/v1/keys', '/api/v1/keys', { body: { name: 'docs test', scopes: ['twin:predict'], rate_limit_per_minute: 100 } }, 201);
    await call('GET /api/v1/keys', '/api/v1/keys', {}, 200);
    const rotated = await call('POST /api/v1/keys/{id}/rotate', `/api/v1/keys/${created.json.id}/rotate`, {}, 200);
    await call('POST /api/v1/auth/token', '/api/v1/auth/token', { token: undefined, body: { grant_type: 'client_credentials', client_secret: rotated.json.key } }, 200);
    await call('DELETE /api/v1/keys/{id}', `/api/v1/keys/${created.json.id}`, {}, 200);
    await call('POST /api/v1/users', '/api/v1/users', { body: { username: 'docs-viewer', password: 'docs-viewer-password', role: 'viewer' } }, 201);
    await call('GET /api/v1/users', '/api/v1/users', {}, 200);
    await call('PATCH /api/v1/users/{username}', '/api/v1/users/docs-viewer', { body: { role: 'auditor' } }, 200);
    await call('POST /api/v1/users/{username}/password', '/api/v1/users/docs-viewer/password', { body: { password: 'another-password-1' } }, 200);
    const audit = await call('GET /api/v1/audit', '/api/v1/audit?limit=5', {}, 200);
    expect(audit.json.items.length).toBeGreaterThan(0);
    await call('POST /api/v1/audit/import', '/api/v1/audit/import', { body: { audit: [audit.json.items[0]] } }, 200);
  });

  it('model lifecycle and alerts', async () => {
    const dir = join(repoRoot, 'models', 'reactor-yield', '1.0.0');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const model_base64 = (await readFile(join(dir, 'model.onnx'))).toString('base64');
    await call('GET /api/v1/models', '/api/v1/models', {}, 200);
    await call('POST /api/v1/models/{name}/versions', '/api/v1/models/reactor-yield/versions', { body: { manifest, model_base64 } }, 200);
    await call('POST /api/v1/models/{name}/versions', '/api/v1/models/reactor-yield/versions', { body: { manifest: { ...manifest, version: '1.0.1' }, model_base64 } }, 201);
    await call('GET /api/v1/models/{name}/versions', '/api/v1/models/reactor-yield/versions', {}, 200);
    await call('GET /api/v1/models/{name}/versions/{version}/package', '/api/v1/models/reactor-yield/versions/1.0.1/package', {}, 200);
    await call('POST /api/v1/models/{name}/uploads', '/api/v1/models/reactor-yield/uploads', {}, 201);
    await call('POST /api/v1/models/{name}/activate', '/api/v1/models/reactor-yield/activate', { body: { version: '1.0.1' } }, 200);
    await call('POST /api/v1/models/{name}/rollback', '/api/v1/models/reactor-yield/rollback', {}, 200);
    await call(
      'PUT /api/v1/models/{name}/routing',
      '/api/v1/models/reactor-yield/routing',
      { body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.0.1', weight: 0.5 }], mode: 'sticky', shadow: null } },
      200,
    );
    const predicted = await call('POST /api/v1/twin/predict', '/api/v1/twin/predict', { body: { temp: 300, pressure: 6, flow: 100 } }, 200); // below the alert band
    await call('POST /api/v1/models/{name}/predict', '/api/v1/models/reactor-yield/predict', { body: validRow }, 200);
    await call('POST /api/v1/models/{name}/versions/{version}/predict', '/api/v1/models/reactor-yield/versions/1.0.1/predict', { body: validRow }, 200);
    await call('POST /api/v1/models/{name}/batch', '/api/v1/models/reactor-yield/batch', { body: { inputs: [validRow, { ...validRow, temp: 460 }] } }, 200);
    await call('GET /api/v1/models/{name}/stats', '/api/v1/models/reactor-yield/stats', {}, 200);
    const requestId = predicted.headers.get('x-request-id')!;
    await call('POST /api/v1/models/{name}/feedback', '/api/v1/models/reactor-yield/feedback', { body: { observations: [{ request_id: requestId, value: 12 }, { request_id: 'unknown', value: 1 }] } }, 200);
    const rows = Array.from({ length: 25 }, (_, i) => ({ inputs: { temp: 340 + i, pressure: 6, flow: 100 }, value: 80 + (i % 5) }));
    await call('PUT /api/v1/models/{name}/versions/{version}/calibration', '/api/v1/models/reactor-yield/versions/1.0.1/calibration', { body: { level: 0.8, rows } }, 200);
    await call('GET /api/v1/models/{name}/quality', '/api/v1/models/reactor-yield/quality', {}, 200);
    const alerts = await call('GET /api/v1/alerts', '/api/v1/alerts?limit=10', {}, 200);
    expect(alerts.json.alerts.length).toBeGreaterThan(0);
  });

  it('Open Inference Protocol routes', async () => {
    await call('GET /v2/health/live', '/v2/health/live', { token: undefined }, 200);
    await call('GET /v2/health/ready', '/v2/health/ready', { token: undefined }, 200);
    await call('GET /v2', '/v2', {}, 200);
    await call('GET /v2/models/{name}', '/v2/models/reactor-yield', {}, 200);
    await call('GET /v2/models/{name}/versions/{version}', '/v2/models/reactor-yield/versions/1.0.0', {}, 200);
    await call('GET /v2/models/{name}/ready', '/v2/models/reactor-yield/ready', {}, 200);
    await call('GET /v2/models/{name}/versions/{version}/ready', '/v2/models/reactor-yield/versions/1.0.0/ready', {}, 200);
    const inputs = [{ name: 'input', shape: [2, 3], datatype: 'FP32', data: [360, 6, 100, 340, 7, 90] }];
    await call('POST /v2/models/{name}/infer', '/v2/models/reactor-yield/infer', { body: { id: 'doc-1', inputs } }, 200);
    await call('POST /v2/models/{name}/versions/{version}/infer', '/v2/models/reactor-yield/versions/1.0.0/infer', { body: { inputs, outputs: [{ name: 'prediction' }] } }, 200);
  });

  it('process insight routes (and predict with explain: true)', async () => {
    await call('POST /api/v1/twin/predict', '/api/v1/twin/predict', { body: { ...validRow, explain: true } }, 200);
    await call('POST /api/v1/models/{name}/explain', '/api/v1/models/reactor-yield/explain', { body: { inputs: [validRow] } }, 200);
    await call('POST /api/v1/models/{name}/sweep', '/api/v1/models/reactor-yield/sweep', { body: { x: { feature: 'temp', steps: 4 }, fixed: { pressure: 6, flow: 100 } } }, 200);
    await call('POST /api/v1/models/{name}/optimize', '/api/v1/models/reactor-yield/optimize', { body: { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, constraints: [{ target: 'lower', op: '>=', value: 500 }], max_evaluations: 200 } }, 200);
  });

  it('errors have the documented shapes: the envelope, the protocol’s {error}, the gateway’s {message}', async () => {
    await callError('POST /api/v1/twin/predict', '/api/v1/twin/predict', { body: { ...validRow, temp: 460 } }, 400);
    await callError('POST /api/v1/keys', '/api/v1/keys', { body: { name: '' } }, 400);
    await callError('GET /api/v1/audit', '/api/v1/audit?limit=0', {}, 400);
    await callError('DELETE /api/v1/keys/{id}', '/api/v1/keys/nope', {}, 404);
    await callError('GET /model/info', '/model/info', { token: undefined }, 401);
    await callError('POST /v2/models/{name}/infer', '/v2/models/reactor-yield/infer', { body: { inputs: [] } }, 400);
    await callError('GET /v2/models/{name}', '/v2/models/no-such-model', {}, 404);
  });

  it('checked a real answer of every route', () => {
    // Assess
    expect(routes.map(routeKey).filter((k) => !checked.has(k))).toEqual([]);
  });
});
