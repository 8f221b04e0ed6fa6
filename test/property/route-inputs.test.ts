import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopes as allScopes } from '../../functions/core/auth/roles.js';
import { repoRoot } from '../../infra/local/twin.js';
import { routeKey, routes, type RouteDef } from '../../functions/routes.js';
import { createKey, createUser, relaxedLoginEnv, scanTable, startTwinWithEnv, type CreatedKey } from '../support/identity.js';
import { expectNoInternals } from '../support/reliability.js';
import { apiClient, claimsFor, nowSeconds, readSigningKeys, signToken, validRow, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * Property tests over every route of the route table (functions/routes.ts): random and adversarial path
 * parameters, query strings, bodies (valid requests with one to three fields broken, random JSON, wrong
 * types, huge and special numbers, `__proto__`/`constructor` keys, very long strings, unicode, deep nesting,
 * invalid JSON and UTF-8, empty bodies) and content types. For every request: never a 5xx, never a stack
 * trace or internal name, every error in its documented shape, and after a rejected write the stored state
 * (users, API keys, model versions and routing) is exactly what it was. Fixed seeds; bounded runs.
 */

let t: TestTwin;
let api: Api;
/** Every scope there is (signed with the twin's own key), so each route is fuzzed past the authorizer. */
let token: string;
let key: CreatedKey;
let modelPackage: { manifest: Record<string, unknown>; bytes: Buffer };

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '1000000' });
  api = apiClient(t.url);
  const [signing] = await readSigningKeys(t.dataDir);
  token = await signToken(claimsFor(t.url, { scope: allScopes.join(' '), exp: nowSeconds() + 3600 }), signing!.key, { kid: signing!.kid });
  await createUser(api, token, { username: 'pat', role: 'viewer' });
  key = await createKey(api, token, { name: 'fuzz-target', scopes: ['twin:predict'] });
  const dir = join(repoRoot, 'models', 'reactor-yield', '1.0.0');
  modelPackage = {
    manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>,
    bytes: await readFile(join(dir, 'model.onnx')),
  };
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------------------
// Building blocks

/** JSON text that JSON.stringify cannot produce (1e999, -0, 30-digit integers), spliced in verbatim. */
class RawJson {
  constructor(readonly text: string) {}
}
const raw = (text: string) => new RawJson(text);

function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof RawJson ? `\u0000raw${raws.push(v.text) - 1}\u0000` : v)) ?? 'null';
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

/** An own, enumerable property even for `__proto__` (an assignment would set the prototype instead). */
function withOwn(target: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

const deep = fc
  .tuple(fc.integer({ min: 1, max: 100_000 }), fc.boolean())
  .map(([n, arrays]) => raw(arrays ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));

const nastyScalar = fc.constantFrom<unknown>(
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 5e-324, 2 ** 53 + 1, -(2 ** 63), '', ' ', 'NaN', 'Infinity', '-Infinity', '1e999', '360',
  'null', 'undefined', 'true', '[]', '{}', '__proto__', 'constructor', 'prototype', '\u0000', '\ud800', '\udfff', '\u202e\u200b', 'e\u0301',
  '👩‍👩‍👧‍👦', 'ａｄｍｉｎ', 'ADMIN', 'admin ', '<script>alert(1)</script>', "' OR '1'='1", '${jndi:ldap://example.invalid/a}', '../../etc/passwd', '%00', '%2e%2e',
  raw('1e999'), raw('-1e999'), raw('1e-400'), raw('-0'), raw('123456789012345678901234567890'), raw('0.1e1'), raw('1E+2'),
);

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: nastyScalar },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 300_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: deep },
);

const nastyKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'then', '', ' ', 'role', 'admin', 'scope', 'scp', 'plant', 'sub', 'owner', 'id', 'grant_type'),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

/** A valid (or nearly valid) body per route: the fuzzer breaks one to three of its fields. */
function exampleBody(route: RouteDef): unknown {
  const oip = { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [360, 6, 100] }] };
  const { sha256: _sha256, ...manifest } = modelPackage.manifest;
  const examples: Record<string, unknown> = {
    'POST /api/v1/auth/login': { username: 'admin', password: 'not-the-admin-password' },
    'POST /api/v1/auth/token': { grant_type: 'client_credentials', client_secret: key.key.slice(0, -1) + (key.key.endsWith('A') ? 'B' : 'A') },
    'POST /api/v1/twin/predict': validRow,
    'POST /predict': validRow,
    'POST /api/v1/twin/batch': { inputs: [validRow, { ...validRow, temp: 301 }] },
    'POST /api/v1/keys': { name: 'fuzz', scopes: ['twin:predict'], expires_in_days: 1, rate_limit_per_minute: 5 },
    'POST /api/v1/users': { username: 'fuzz-user', password: 'fuzz-password-1', role: 'viewer', plant: 'plant-f' },
    'PATCH /api/v1/users/{username}': { role: 'viewer', active: true },
    'POST /api/v1/users/{username}/password': { password: 'fuzz-password-2', current_password: 'fuzz-password-1' },
    'POST /api/v1/models/{name}/versions': { manifest: { ...manifest, version: '9.9.9' }, model_base64: 'AAAA' },
    'POST /api/v1/models/{name}/activate': { version: '1.0.0' },
    'PUT /api/v1/models/{name}/routing': { variants: [{ version: '1.0.0', weight: 1 }], mode: 'random', sticky_by: 'principal' },
    'POST /v2/models/{name}/infer': oip,
    'POST /v2/models/{name}/versions/{version}/infer': oip,
    'POST /api/v1/audit/import': { records: [], alerts: [] },
  };
  return structuredClone(examples[routeKey(route)] ?? {});
}

type Path = (string | number)[];

/** Which routes have an example body (known at collection time, before the twin starts). */
function exampleBodyShape(route: RouteDef): unknown {
  const withBodies = [
    'POST /api/v1/auth/login', 'POST /api/v1/auth/token', 'POST /api/v1/twin/predict', 'POST /predict', 'POST /api/v1/twin/batch',
    'POST /api/v1/keys', 'POST /api/v1/users', 'PATCH /api/v1/users/{username}', 'POST /api/v1/users/{username}/password',
    'POST /api/v1/models/{name}/versions', 'POST /api/v1/models/{name}/activate', 'PUT /api/v1/models/{name}/routing',
    'POST /v2/models/{name}/infer', 'POST /v2/models/{name}/versions/{version}/infer', 'POST /api/v1/audit/import',
  ];
  return withBodies.includes(routeKey(route)) ? { body: true } : {};
}

function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
}

type Mutation = { op: 'set'; at: number; value: unknown } | { op: 'delete'; at: number } | { op: 'add'; name: string; value: unknown };

function mutate(example: unknown, mutations: Mutation[]): unknown {
  let root = structuredClone(example);
  const paths = pathsOf(example);
  for (const m of mutations) {
    if (m.op === 'add') {
      if (typeof root === 'object' && root !== null && !Array.isArray(root)) withOwn(root as Record<string, unknown>, m.name, m.value);
      else root = m.value;
      continue;
    }
    const path = paths.length ? paths[m.at % paths.length]! : undefined;
    if (!path) {
      root = m.op === 'set' ? m.value : undefined;
      continue;
    }
    let parent: unknown = root;
    for (const step of path.slice(0, -1)) parent = typeof parent === 'object' && parent !== null ? (parent as Record<string | number, unknown>)[step] : undefined;
    if (typeof parent !== 'object' || parent === null) continue;
    const last = path[path.length - 1]!;
    if (m.op === 'delete') {
      if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
      else delete (parent as Record<string | number, unknown>)[last];
    } else if (last === '__proto__') withOwn(parent as Record<string, unknown>, last, m.value);
    else (parent as Record<string | number, unknown>)[last] = m.value;
  }
  return root;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: nastyValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), name: nastyKey, value: nastyValue }) },
);

const rawBodies = fc.oneof(
  fc.constantFrom(
    '', ' ', '\n', 'null', '[]', '""', '0', '-0', '1e999', 'true', '{', '{"a":', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\ufeff{}', 'NaN', 'Infinity',
    '{"temp":NaN,"pressure":6,"flow":100}', '{"temp":1e999,"pressure":6,"flow":100}', '{"temp":-1e999,"pressure":6,"flow":100}',
    '{"temp":360,"temp":"x","pressure":6,"flow":100}', '{"__proto__":{"role":"admin","admin":true},"temp":360,"pressure":6,"flow":100}',
    '{"constructor":{"prototype":{"admin":true}}}', '{"inputs":{"length":1e9}}', '{"inputs":[{"__proto__":{"temp":360}}]}',
    '{"username":"admin","password":{"toString":"x"}}', '{"grant_type":"client_credentials","client_secret":["tw_aaaaaaaaaaaa_x"]}',
    '\u0000', '"\\ud800"', '{"a":"\\ud800\\udc00\\udfff"}', 'grant_type=password&username=admin&password=x',
  ),
  deep.map((d) => d.text),
  fc.integer({ min: 100_000, max: 3_000_000 }).map((n) => `{"username":"${'a'.repeat(n)}","password":"x","name":"x","inputs":[]}`),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
);

const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/vnd.api+json', 'APPLICATION/JSON', 'application/json; charset=utf-16',
  'text/plain', 'text/json', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream',
  'application/jsonx', '*/*', 'application/json, text/plain', ' application/json', '',
);

interface Body {
  bytes: Uint8Array | undefined;
  contentType: string;
  summary: string;
}

const text = (s: string) => new TextEncoder().encode(s);
const summarize = (s: string) => (s.length > 200 ? `${s.slice(0, 120)}…(${s.length} chars)…${s.slice(-40)}` : s);

function bodyArb(route: RouteDef): fc.Arbitrary<Body> {
  const example = exampleBody(route);
  const mutated = fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => toJson(mutate(example, ms)));
  const json = (s: fc.Arbitrary<string>) => s.map((b): Body => ({ bytes: text(b), contentType: 'application/json', summary: summarize(b) }));
  const form = fc
    .dictionary(fc.constantFrom('grant_type', 'username', 'password', 'client_secret', 'client_id', 'scope', '__proto__', 'constructor'), fc.string({ unit: 'grapheme', maxLength: 30 }), { maxKeys: 5 })
    .map((fields) => new URLSearchParams(fields).toString());
  return fc.oneof(
    { weight: 6, arbitrary: json(mutated) },
    { weight: 2, arbitrary: json(fc.jsonValue({ maxDepth: 4 }).map((v) => toJson(v))) },
    { weight: 2, arbitrary: json(rawBodies) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.oneof(mutated, fc.constant(toJson(example))), contentTypes).map(([b, type]): Body => ({ bytes: text(b), contentType: type, summary: `${type}: ${summarize(b)}` })),
    },
    { weight: 1, arbitrary: form.map((b): Body => ({ bytes: text(b), contentType: 'application/x-www-form-urlencoded', summary: `form: ${summarize(b)}` })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b): Body => ({ bytes: b, contentType: 'application/json', summary: `bytes ${Buffer.from(b).toString('hex').slice(0, 80)}` })) },
    { weight: 1, arbitrary: fc.constant<Body>({ bytes: undefined, contentType: '', summary: 'no body' }) },
  );
}

/** A path segment: known values, adversarial strings, long keys (DynamoDB caps a hash key at 2048 bytes). */
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,24}$/) },
  { weight: 2, arbitrary: fc.constantFrom('reactor-yield', '1.0.0', 'admin', 'pat', 'nobody', '0', '-1', '9.9.9', 'latest') },
  { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', ' ', 'null', 'NaN', '\u0000', '\ud800', 'ａｄｍｉｎ', '💥', 'a/b', '..', '.', '%', '?x=1', '#x') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2_049, max: 2_600 }).map((n) => 'a'.repeat(n)) },
  // 683 x 3 bytes > 2048 bytes (a DynamoDB hash key's limit), ~6 KB percent-encoded.
  { weight: 1, arbitrary: fc.integer({ min: 683, max: 750 }).map((n) => '€'.repeat(n)) },
);

/** API Gateway HTTP API refuses a request line over 10 240 bytes; stay under it, as a real client must. */
const maxUrlLength = 9_000;

/** Percent-encodes what encodeURIComponent cannot (lone surrogates become U+FFFD, as a client would send). */
function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
}

const forgedCursor = fc
  .record({
    d: fc.option(fc.oneof(fc.constantFrom('2026-11-25', 'zzzz', '', '9999-99-99'), fc.string()), { nil: null }),
    k: fc.dictionary(fc.constantFrom('principal', 'sk', 'day', 'x'), fc.string({ maxLength: 40 }), { maxKeys: 4 }),
  })
  .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url'));

const queryValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('-1', '0', '1', '200', '201', '1e999', 'NaN', '1.5', 'success', 'failure', '999', 'twin.predict', 'TWIN.PREDICT', 'admin', 'reactor-yield'),
  fc.constantFrom('0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '2026-13-45T99:99:99Z', '2026-11-25T00:00:00Z', '1970-01-01T00:00:00.000Z', '2026-11-25'),
  forgedCursor,
  fc.integer({ min: 1_000, max: 3_000 }).map((n) => 'q'.repeat(n)),
);

const queryArb = fc.dictionary(
  fc.oneof(fc.constantFrom('principal', 'action', 'outcome', 'from', 'to', 'limit', 'cursor', 'model', '__proto__', 'constructor'), fc.string({ maxLength: 10 })),
  queryValue,
  { maxKeys: 4 },
);

interface FuzzRequest {
  path: string;
  body: Body | undefined;
}

/** Half the time a parameter names something that exists, so the body behind it is fuzzed too. */
function paramArb(name: string): fc.Arbitrary<string> {
  const known: Record<string, string> = { name: 'reactor-yield', version: '1.0.0', username: 'pat', id: key.id };
  const value = known[name];
  return value === undefined ? segment : fc.oneof(fc.constant(value), segment);
}

function requestArb(route: RouteDef): fc.Arbitrary<FuzzRequest> {
  const params = [...route.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => m[1]!);
  const hasBody = route.method !== 'GET';
  return fc
    .record({
      values: fc.tuple(...params.map(paramArb)),
      query: fc.option(queryArb, { freq: route.method === 'GET' ? 2 : 5 }),
      body: hasBody ? bodyArb(route).map((b): Body | undefined => b) : fc.constant(undefined),
    })
    .map(({ values, query, body }) => {
      const encoded = values.map((v) => encodeSegment(v));
      // Two long parameters would make a request line longer than API Gateway accepts: shorten the longest.
      while (encoded.reduce((n, v) => n + v.length, route.path.length) > maxUrlLength) {
        const longest = encoded.indexOf(encoded.reduce((a, b) => (b.length > a.length ? b : a)));
        encoded[longest] = 'a'.repeat(2_049);
      }
      let i = 0;
      const path = route.path.replace(/\{(\w+)\+?\}/g, () => encoded[i++] ?? '');
      const search = query && Object.keys(query).length ? `?${new URLSearchParams(query as Record<string, string>).toString()}` : '';
      return { path: path.length + search.length <= maxUrlLength ? `${path}${search}` : path, body };
    });
}

async function send(route: RouteDef, req: FuzzRequest): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (req.body?.contentType) headers['content-type'] = req.body.contentType;
  // Uint8Array bodies: fetch adds no content type of its own.
  return api(route.method, req.path, { token, headers, ...(req.body?.bytes ? { rawBody: req.body.bytes } : {}) });
}

/**
 * The stored state a rejected request must not change: users and API keys, and (for the model routes, where
 * listing the bucket is worth its cost) model versions and routing.
 */
async function storedState(withModels = true): Promise<string> {
  const [users, keys, models] = await Promise.all([
    scanTable(t, 'Users'),
    scanTable(t, 'ApiKeys'),
    withModels ? api('GET', '/api/v1/models', { token }) : undefined,
  ]);
  if (models) expect(models.status, models.text).toBe(200);
  const canonical = (items: Record<string, unknown>[]) => items.map((i) => JSON.stringify(i, Object.keys(i).sort())).sort();
  return JSON.stringify({ users: canonical(users), keys: canonical(keys), models: models?.json ?? null });
}

/** Never a 5xx or a stack trace; errors in their documented shapes. */
function checkAnswer(route: RouteDef, req: FuzzRequest, res: ApiResponse): void {
  const where = `${route.method} ${summarize(req.path)} body=[${req.body?.summary ?? '-'}] -> ${res.status} ${summarize(res.text)}`;
  expect(res.status, where).toBeLessThan(500);
  expectNoInternals(res);
  const requestId = res.headers.get('x-request-id');
  if (res.status < 400) {
    if ((res.headers.get('content-type') ?? '').includes('json')) expect(res.json, where).toBeDefined();
    return;
  }
  expect(res.json, `an error body is JSON: ${where}`).toBeDefined();
  if (!requestId) {
    // The gateway's own answer, as API Gateway gives it.
    expect(Object.keys(res.json), where).toEqual(['message']);
    expect([400, 401, 403, 404, 413], where).toContain(res.status);
    return;
  }
  if (route.path.startsWith('/v2')) {
    // Open Inference Protocol: {error: string} plus code and request id.
    expect(typeof res.json.error, where).toBe('string');
    expect(typeof res.json.code, where).toBe('string');
    expect(res.json.requestId, where).toBe(requestId);
  } else {
    expect(typeof res.json.error?.code, where).toBe('string');
    expect(res.json.error.requestId, where).toBe(requestId);
    expect(res.json.message, where).toBe(res.json.error.message);
  }
}

/** A stable seed per route: adding a route does not change the others' runs. */
function seedOf(label: string): number {
  let h = 0x811c9dc5;
  for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h | 0;
}

// ---------------------------------------------------------------------------------------------------------

describe.each(routes.map((r) => [routeKey(r), r] as const))('%s', (label, route) => {
  const writes = route.method !== 'GET';
  const modelRoute = route.path.startsWith('/api/v1/models');

  it(`random and adversarial input: never a 5xx or a stack trace${writes ? '; a rejected write changes nothing' : ''}`, async () => {
    let state = writes ? await storedState(modelRoute) : '';
    await fc.assert(
      fc.asyncProperty(requestArb(route), async (req) => {
        const res = await send(route, req);
        checkAnswer(route, req, res);
        if (!writes) return;
        const after = await storedState(modelRoute);
        if (res.status >= 400) expect(after, `state changed after ${res.status}: ${route.method} ${summarize(req.path)} [${req.body?.summary}]`).toBe(state);
        state = after;
      }),
      { seed: seedOf(label), numRuns: writes ? 25 : 20, endOnFailure: true },
    );
  });
});

describe('path parameters longer than a DynamoDB key (2048 bytes)', () => {
  const withParams = routes.filter((r) => /\{\w+\+?\}/.test(r.path));
  it.each(withParams.map((r) => [routeKey(r), r] as const))('%s: a 4xx, never a 5xx', async (_label, route) => {
    for (const long of ['a'.repeat(2_049), '€'.repeat(683)]) {
      const path = route.path.replace(/\{(\w+)\+?\}/g, () => encodeURIComponent(long));
      const res = await api(route.method, path, { token, ...(route.method === 'GET' ? {} : { body: exampleBody(route) }) });
      expect(res.status, `${route.method} ${route.path} with a ${Buffer.byteLength(long)}-byte parameter: ${res.text}`).toBeLessThan(500);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expectNoInternals(res);
    }
  });
});

describe('deep nesting (100 000 levels) in any field of a valid request', () => {
  const withBodies = routes.filter((r) => r.method !== 'GET' && pathsOf(exampleBodyShape(r)).length > 0);
  it.each(withBodies.map((r) => [routeKey(r), r] as const))('%s: never a 5xx (a batch reports the row; the rest answer 4xx)', async (_label, route) => {
    const example = exampleBody(route);
    const path = route.path.replace(/\{(\w+)\+?\}/g, (_m, name: string) => ({ name: 'reactor-yield', version: '1.0.0', username: 'pat', id: key.id })[name] ?? 'x');
    const failures: string[] = [];
    // The shallowest 30 fields (a manifest has dozens more; these cover every parser on the way).
    const fields = [...pathsOf(example).entries()].filter(([, where]) => where.length <= 3).sort((a, b) => a[1].length - b[1].length).slice(0, 30);
    for (const [at, where] of fields) {
      for (const nested of [raw(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), raw(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`)]) {
        const res = await api(route.method, path, { token, rawBody: toJson(mutate(example, [{ op: 'set', at, value: nested }])) });
        const documented = res.status >= 400 || (route.path === '/api/v1/twin/batch' && res.status === 200 && res.json.failed >= 1);
        if (res.status >= 500 || !documented) failures.push(`${where.join('.')} = ${nested.text.slice(0, 6)}… -> ${res.status} ${res.text.slice(0, 120)}`);
        else expectNoInternals(res);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('whole requests', () => {
  it('random methods and paths outside the route table: 404 or 405-like answers, JSON, never a 5xx', async () => {
    const pathArb = fc.array(fc.oneof(fc.constantFrom('api', 'v1', 'v2', 'twin', 'models', 'keys', 'users', '..', '%2e%2e', '%00', '%ff', '', '.well-known'), fc.string({ maxLength: 12 })), { maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), pathArb, async (method, segments) => {
        // (A leading "//" would make the client read a host name.)
        const path = `/x/${segments.map((s) => (/%/.test(s) ? s : encodeSegment(s))).join('/')}`;
        const res = await api(method, path, { token });
        expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(500);
        expectNoInternals(res);
      }),
      { seed: 9001, numRuns: 60, endOnFailure: true },
    );
  });

  it('a model upload of random, truncated or bit-flipped ONNX bytes is refused with a 4xx, and publishes nothing', async () => {
    const { sha256: _sha256, ...manifest } = modelPackage.manifest;
    const bytes = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 4096 }),
      fc.integer({ min: 1, max: modelPackage.bytes.length - 1 }).map((n) => new Uint8Array(modelPackage.bytes.subarray(0, n))),
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, mask]) => {
        const copy = new Uint8Array(modelPackage.bytes);
        copy[at % copy.length]! ^= mask;
        return copy;
      }),
    );
    const before = await storedState();
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        const res = await api('POST', '/api/v1/models/reactor-yield/versions', {
          token,
          body: { manifest: { ...manifest, version: '9.9.9-fuzz' }, model_base64: Buffer.from(b).toString('base64') },
        });
        // A bit flip may leave a graph that still loads and answers: then it is published (201), once.
        if (res.status === 201) return;
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
        expect(res.status, res.text).toBeLessThan(500);
        expectNoInternals(res);
      }),
      { seed: 4242, numRuns: 20, endOnFailure: true },
    );
    const versions = (await api('GET', '/api/v1/models/reactor-yield/versions', { token })).json.versions.map((v: { version: string }) => v.version);
    if (!versions.includes('9.9.9-fuzz')) expect(await storedState()).toBe(before);
  });

  it('GET /api/v1/audit with a cursor it never issued (well-formed, forged or from another query): 400, never a 5xx', async () => {
    const [first, byPrincipal] = await Promise.all([
      api('GET', '/api/v1/audit?limit=1', { token }),
      api('GET', '/api/v1/audit?limit=1&principal=admin', { token }),
    ]);
    expect([first.status, byPrincipal.status]).toEqual([200, 200]);
    const issued = [first.json.next_cursor, byPrincipal.json.next_cursor].filter((c): c is string => typeof c === 'string');
    expect(issued.length).toBe(2);
    const cursor = fc.oneof(forgedCursor, fc.constantFrom(...issued));
    const filters = fc.constantFrom('', '&principal=admin', '&principal=pat', '&action=twin.predict', '&outcome=failure');
    await fc.assert(
      fc.asyncProperty(cursor, filters, async (c, filter) => {
        const res = await api('GET', `/api/v1/audit?limit=1${filter}&cursor=${encodeURIComponent(c)}`, { token });
        const decoded = Buffer.from(c, 'base64url').toString('utf8');
        expect(res.status, `cursor ${decoded} with "${filter}": ${res.text}`).toBeLessThan(500);
        expectNoInternals(res);
      }),
      { seed: 777, numRuns: 30, endOnFailure: true },
    );
  });

  it('a body over 10 MB on a write route is 413 from the gateway and changes nothing', async () => {
    const before = await storedState();
    const pad = 'x'.repeat(10 * 1024 * 1024);
    const res = await api('POST', '/api/v1/users', { token, rawBody: `{"username":"huge","password":"huge-password-1","role":"viewer","pad":"${pad}"}` });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ message: 'Request Entity Too Large' });
    expect(await storedState()).toBe(before);
  });
});
