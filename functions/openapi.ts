import { defaultBodyBytes } from './body-limits.js';
import * as z from 'zod';
import { allScopes, apiVersion, contractOf, errorEnvelopeSchema, gatewayErrorSchema, oipErrorSchema, pathParameterSchemas, type RouteContract } from './contracts.js';
import { functionDescriptions } from './function-descriptions.js';
import { routeKey, routes, type RouteDef } from './routes.js';

/**
 * The OpenAPI 3.1 document of the API, generated from the route table (paths, methods, auth scopes, audit
 * actions) and functions/contracts.ts (the zod schemas the handlers validate with, and their answers),
 * with zod 4's JSON Schema output (draft 2020-12, the dialect of OpenAPI 3.1). Requests are described as
 * the validators accept them (`io: 'input'`: defaults optional, coerced query numbers), responses as the
 * code produces them (`io: 'output'`).
 */

type JsonObject = Record<string, unknown>;

/** A zod schema as an OpenAPI 3.1 Schema Object. Cycles throw: an inline `$defs` reference would not resolve here. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', cycles: 'throw', reused: 'inline', unrepresentable: 'throw' }) as JsonObject;
  return json;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** camelCase from the method and the path: `POST /api/v1/keys/{id}/rotate` → `postApiV1KeysIdRotate`. */
export function operationId(route: Pick<RouteDef, 'method' | 'path'>): string {
  const words = [route.method.toLowerCase(), ...route.path.split(/[^A-Za-z0-9]+/).filter(Boolean)];
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
}

function pathParameters(route: RouteDef): JsonObject[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: jsonSchemaOf(pathParameterSchemas[name!] ?? z.string(), 'input'),
  }));
}

function queryParameters(contract: RouteContract): JsonObject[] {
  if (!contract.query) return [];
  const schema = jsonSchemaOf(contract.query, 'input') as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property as { description?: string };
    return { name, in: 'query', required: schema.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest };
  });
}

const statusText: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Invalid request or input: the fields and rules are named',
  401: 'No token, or not one the authorizer accepts (the gateway answers)',
  403: 'The token lacks the scope (the gateway), or the caller may not do this (the function)',
  404: 'No such resource',
  429: 'Rate limit exceeded: retry after Retry-After seconds',
};

function responses(route: RouteDef, contract: RouteContract): JsonObject {
  const isProtected = route.auth !== 'public';
  const error = contract.errors === 'oip' ? ref('OipError') : ref('Error');
  const common = { 'X-Request-Id': headerRef('X-Request-Id') };
  const rate = isProtected ? { 'RateLimit-Limit': headerRef('RateLimit-Limit'), 'RateLimit-Remaining': headerRef('RateLimit-Remaining'), 'RateLimit-Reset': headerRef('RateLimit-Reset') } : {};
  const mediaType = contract.contentType ?? 'application/json';
  const status = contract.status ?? 200;
  const out: JsonObject = {
    [status]: {
      description: statusText[status] ?? 'OK',
      headers: { ...common, ...rate },
      content: { [mediaType]: { schema: jsonSchemaOf(contract.response, 'output') } },
    },
  };
  for (const [code, extra] of Object.entries(contract.responses ?? {})) {
    out[code] = { description: extra.description, headers: { ...common, ...rate }, content: { 'application/json': { schema: jsonSchemaOf(extra.schema, 'output') } } };
  }
  const errorResponse = (code: number, schema: JsonObject, headers: JsonObject = {}) => {
    out[code] ??= { description: statusText[code], headers: { ...common, ...headers }, content: { 'application/json': { schema } } };
  };
  if (contract.body || contract.modelBody || contract.query || route.path.includes('{')) errorResponse(400, error, rate);
  if (route.path.includes('{')) errorResponse(404, error, rate);
  if (isProtected) {
    errorResponse(401, ref('GatewayError'));
    errorResponse(403, { oneOf: [ref('GatewayError'), error] }, rate);
    errorResponse(429, error, { ...rate, 'Retry-After': headerRef('Retry-After') });
  }
  out.default = { description: 'Any other error (5xx carry no internals: code INTERNAL and the request id)', headers: common, content: { 'application/json': { schema: error } } };
  return out;
}

function requestBody(contract: RouteContract): JsonObject | undefined {
  const body = contract.body ?? contract.modelBody;
  if (!body) return undefined;
  const schema = jsonSchemaOf(body, 'input');
  return {
    required: true,
    ...(contract.modelBody ? { description: "Validated against the serving model's manifest (GET /model/info): each feature a finite number inside its range." } : {}),
    content: { 'application/json': { schema }, ...(contract.form ? { 'application/x-www-form-urlencoded': { schema } } : {}) },
  };
}

function operation(route: RouteDef): JsonObject {
  const contract = contractOf(routeKey(route));
  const parameters = [...pathParameters(route), ...queryParameters(contract)];
  const body = requestBody(contract);
  const scopes = route.auth === 'public' ? [] : route.auth.scopes;
  const auth = route.auth === 'public' ? 'Public.' : `Needs a token with one of: ${scopes.map((s) => `\`${s}\``).join(', ')}.`;
  return {
    operationId: operationId(route),
    tags: [route.function],
    summary: route.summary,
    description: [contract.description, auth, `Audited as \`${route.action}\`.`].filter(Boolean).join('\n\n'),
    ...(parameters.length ? { parameters } : {}),
    ...(body ? { requestBody: body } : {}),
    responses: responses(route, contract),
    // One requirement object per scope: API Gateway lets a token through with any one of the route's scopes.
    security: scopes.map((s) => ({ oauth2: [s] })),
    'x-twinserve-function': route.function,
    'x-twinserve-audit-action': route.action,
    // Bodies over it are 413 PAYLOAD_TOO_LARGE (body/max_bytes) before they are read (functions/body-limits.ts).
    'x-twinserve-max-body-bytes': contract.maxBodyBytes ?? defaultBodyBytes,
  };
}

const description = `Serves process digital twins (ONNX models) as an audited, rate-limited HTTPS API.

Authenticate with \`POST /api/v1/auth/login\` (password) or \`POST /api/v1/auth/token\` (OAuth2 password or
client_credentials with an API key) and send \`Authorization: Bearer <token>\`. Errors share one envelope
(\`Error\`); the Open Inference Protocol routes (\`/v2/...\`) answer the protocol's \`{error: string}\`
(\`OipError\`). The gateway's own answers (401, 403, 404, 413, 503) are \`{message}\` (\`GatewayError\`).
Authenticated routes send the \`RateLimit-*\` headers; a 429 sends \`Retry-After\`.`;

/** The whole document. `serverUrl`: the API's base URL (the token issuer), when known. */
export function buildOpenApiDocument(options: { serverUrl?: string } = {}): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const path = (paths[route.path] ??= {});
    path[route.method.toLowerCase()] = operation(route);
  }
  const scopeDescriptions = Object.fromEntries(allScopes.map((s) => [s, `Scope ${s}`]));
  const tokenUrl = options.serverUrl ? `${options.serverUrl}/api/v1/auth/token` : '/api/v1/auth/token';
  const tags = [...new Set(routes.map((r) => r.function))].map((name) => ({ name, description: functionDescriptions[name] }));
  return {
    openapi: '3.1.0',
    info: { title: 'Twinserve', version: apiVersion, description },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    tags,
    paths,
    components: {
      schemas: {
        Error: jsonSchemaOf(errorEnvelopeSchema, 'output'),
        OipError: jsonSchemaOf(oipErrorSchema, 'output'),
        GatewayError: jsonSchemaOf(gatewayErrorSchema, 'output'),
      },
      headers: {
        'X-Request-Id': { description: 'The request id (also in the audit record and logs)', schema: { type: 'string' } },
        'RateLimit-Limit': { description: "Requests per minute allowed to this principal", schema: { type: 'integer' } },
        'RateLimit-Remaining': { description: 'Requests left in the current window', schema: { type: 'integer' } },
        'RateLimit-Reset': { description: 'Seconds until the window resets', schema: { type: 'integer' } },
        'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
      },
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: 'RS256 JWTs from the token endpoint (or POST /api/v1/auth/login), sent as a Bearer token.',
          flows: { password: { tokenUrl, scopes: scopeDescriptions }, clientCredentials: { tokenUrl, scopes: scopeDescriptions } },
        },
      },
    },
  };
}
