import type { Scope } from './core/auth/roles.js';

/**
 * THE route table. The local gateway serves exactly these routes and the CDK stacks create exactly these
 * routes, functions and authorizer scopes, so a route cannot exist in one target and not the other.
 * It is a contract, like functions/contracts.ts beside it: the functions read it too (they re-check the
 * route's scopes, and the OpenAPI document is built from it), and functions/ imports nothing from infra/
 * (test/unit/layering.test.ts). Pure data with type-only imports: the dashboard's bundle takes it whole.
 */

export const functionNames = ['public-info', 'discovery', 'auth', 'predict', 'batch', 'status', 'keys', 'users', 'audit', 'models', 'docs', 'inference', 'quality', 'insight', 'quality-schedule'] as const;
export type FunctionName = (typeof functionNames)[number];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDef {
  method: HttpMethod;
  /** API Gateway path syntax: `/api/v1/keys/{id}`. */
  path: string;
  /** The Lambda function (functions/<name>.ts) that serves it. */
  function: FunctionName;
  /** `public`, or the JWT authorizer with these scopes (API Gateway: the token needs at least one). */
  auth: 'public' | { scopes: readonly Scope[] };
  /** The action an audit record names (`twin.predict`, `keys.rotate`, ...). */
  action: string;
  summary: string;
}

const predict = { scopes: ['twin:predict'] } as const;
const read = { scopes: ['twin:read'] } as const;
const keys = { scopes: ['keys:manage'] } as const;
const users = { scopes: ['users:manage'] } as const;
const modelsRead = { scopes: ['models:read'] } as const;
const modelsWrite = { scopes: ['models:write'] } as const;

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/health', function: 'public-info', auth: 'public', action: 'health.read', summary: 'Service health and serving model version' },
  { method: 'GET', path: '/.well-known/openid-configuration', function: 'discovery', auth: 'public', action: 'auth.discovery', summary: 'OpenID discovery for the JWT authorizer' },
  { method: 'GET', path: '/.well-known/jwks.json', function: 'discovery', auth: 'public', action: 'auth.jwks', summary: 'Public signing keys (current and previous)' },
  { method: 'POST', path: '/api/v1/auth/login', function: 'auth', auth: 'public', action: 'auth.login', summary: 'Password login: {username, password} -> {token, expires_in}' },
  { method: 'POST', path: '/api/v1/auth/token', function: 'auth', auth: 'public', action: 'auth.token', summary: 'OAuth2 token endpoint: password or client_credentials (API key) grant' },
  { method: 'POST', path: '/api/v1/twin/predict', function: 'predict', auth: predict, action: 'twin.predict', summary: 'One prediction with its 90% interval' },
  { method: 'POST', path: '/api/v1/twin/batch', function: 'batch', auth: predict, action: 'twin.batch', summary: 'Up to 100 predictions in one inference run' },
  { method: 'GET', path: '/api/v1/twin/status', function: 'status', auth: read, action: 'twin.status', summary: 'Service status and model info' },
  { method: 'POST', path: '/predict', function: 'predict', auth: predict, action: 'twin.predict', summary: "The chapter's microservice predict: {success, result, request_id}" },
  { method: 'GET', path: '/model/info', function: 'status', auth: read, action: 'model.info', summary: 'Model information' },
  { method: 'GET', path: '/metrics', function: 'status', auth: read, action: 'metrics.read', summary: 'Request counts and uptime' },
  { method: 'POST', path: '/api/v1/keys', function: 'keys', auth: keys, action: 'keys.create', summary: 'Create an API key (the secret is shown once)' },
  { method: 'GET', path: '/api/v1/keys', function: 'keys', auth: keys, action: 'keys.list', summary: 'List API keys (own; a plant admin: the plant; a platform admin: all)' },
  { method: 'DELETE', path: '/api/v1/keys/{id}', function: 'keys', auth: keys, action: 'keys.revoke', summary: 'Revoke an API key' },
  { method: 'POST', path: '/api/v1/keys/{id}/rotate', function: 'keys', auth: keys, action: 'keys.rotate', summary: 'New secret; the old one stays valid for the grace period' },
  { method: 'POST', path: '/api/v1/users', function: 'users', auth: users, action: 'users.create', summary: 'Create a user' },
  { method: 'GET', path: '/api/v1/users', function: 'users', auth: users, action: 'users.list', summary: 'List users' },
  { method: 'PATCH', path: '/api/v1/users/{username}', function: 'users', auth: users, action: 'users.update', summary: 'Change role or active flag' },
  // Every role holds twin:read; the core lets a user change only their own password (with the current one) unless an admin.
  { method: 'POST', path: '/api/v1/users/{username}/password', function: 'users', auth: { scopes: ['users:manage', 'twin:read'] }, action: 'users.password', summary: 'Set a password' },
  { method: 'GET', path: '/api/v1/audit', function: 'audit', auth: { scopes: ['audit:read'] }, action: 'audit.query', summary: 'Query the audit log' },
  { method: 'POST', path: '/api/v1/audit/import', function: 'audit', auth: { scopes: ['audit:write'] }, action: 'audit.import', summary: 'Import audit records and alerts exported from an edge twin (idempotent)' },
  { method: 'GET', path: '/api/v1/models', function: 'models', auth: modelsRead, action: 'models.list', summary: 'Models with their active version and routing' },
  { method: 'GET', path: '/api/v1/models/{name}/versions', function: 'models', auth: modelsRead, action: 'models.versions', summary: 'Published versions of a model' },
  { method: 'POST', path: '/api/v1/models/{name}/versions', function: 'models', auth: modelsWrite, action: 'models.publish', summary: 'Publish a package (manifest + ONNX); versions are immutable' },
  { method: 'POST', path: '/api/v1/models/{name}/uploads', function: 'models', auth: modelsWrite, action: 'models.upload', summary: 'A presigned S3 upload for a large model.onnx (then publish with upload_id)' },
  { method: 'POST', path: '/api/v1/models/{name}/activate', function: 'models', auth: modelsWrite, action: 'models.activate', summary: 'Send all traffic to a version' },
  { method: 'POST', path: '/api/v1/models/{name}/rollback', function: 'models', auth: modelsWrite, action: 'models.rollback', summary: 'Back to the previously active version' },
  { method: 'PUT', path: '/api/v1/models/{name}/routing', function: 'models', auth: modelsWrite, action: 'models.routing', summary: 'A/B split, assignment mode and shadow' },
  { method: 'GET', path: '/api/v1/models/{name}/versions/{version}/package', function: 'models', auth: modelsRead, action: 'models.download', summary: 'Download a published package (manifest + ONNX) for an edge box' },
  // Models addressed by name: the chapter's predict and batch shapes for any published model (the routes above serve the default one).
  { method: 'POST', path: '/api/v1/models/{name}/predict', function: 'predict', auth: predict, action: 'twin.predict', summary: 'One prediction with this model (its routed version)' },
  { method: 'POST', path: '/api/v1/models/{name}/versions/{version}/predict', function: 'predict', auth: predict, action: 'twin.predict', summary: 'One prediction with exactly this version' },
  { method: 'POST', path: '/api/v1/models/{name}/batch', function: 'batch', auth: predict, action: 'twin.batch', summary: 'Up to 100 predictions with this model in one inference run' },
  { method: 'GET', path: '/api/v1/models/{name}/stats', function: 'models', auth: modelsRead, action: 'models.stats', summary: 'Per-variant requests, errors, latency, predictions, cache hits, alerts' },
  { method: 'POST', path: '/api/v1/models/{name}/feedback', function: 'quality', auth: { scopes: ['twin:feedback'] }, action: 'models.feedback', summary: 'Measured values (lab results) for earlier predictions, by request_id or by inputs and time' },
  { method: 'PUT', path: '/api/v1/models/{name}/versions/{version}/calibration', function: 'quality', auth: modelsWrite, action: 'models.calibrate', summary: 'Calibrate a published version’s interval on labelled rows (conformal, at a stated level)' },
  { method: 'GET', path: '/api/v1/models/{name}/quality', function: 'quality', auth: modelsRead, action: 'models.quality', summary: 'Error, interval coverage, A/B verdict, recalibration and input drift per version and plant' },
  { method: 'GET', path: '/api/v1/alerts', function: 'models', auth: read, action: 'alerts.list', summary: 'Recent anomaly alerts and resolutions' },
  // Process insight (docs/insight.md): explanations, what-if sweeps, setpoint optimizer; weighted rate limit by rows.
  { method: 'POST', path: '/api/v1/models/{name}/explain', function: 'insight', auth: predict, action: 'twin.explain', summary: 'Per-feature contributions (TreeSHAP for tree ensembles) for up to 100 rows' },
  { method: 'POST', path: '/api/v1/models/{name}/sweep', function: 'insight', auth: predict, action: 'twin.sweep', summary: 'Prediction and interval grid over one or two features (up to 100 × 100)' },
  { method: 'POST', path: '/api/v1/models/{name}/optimize', function: 'insight', auth: predict, action: 'twin.optimize', summary: 'Best setpoints for the prediction or an interval bound under constraints' },
  // The API described: OpenAPI 3.1 generated from functions/contracts.ts and this table, and a page rendering it.
  { method: 'GET', path: '/openapi.json', function: 'docs', auth: 'public', action: 'docs.openapi', summary: 'The OpenAPI 3.1 description of this API' },
  { method: 'GET', path: '/docs', function: 'docs', auth: 'public', action: 'docs.page', summary: 'The API reference as a web page' },
  // Open Inference Protocol (KServe V2): KServe, Triton and MLServer clients call the models unchanged. Probes are public.
  { method: 'GET', path: '/v2/health/live', function: 'inference', auth: 'public', action: 'health.live', summary: 'Open Inference Protocol: server live' },
  { method: 'GET', path: '/v2/health/ready', function: 'inference', auth: 'public', action: 'health.ready', summary: 'Open Inference Protocol: server ready (the default model can serve)' },
  { method: 'GET', path: '/v2', function: 'inference', auth: read, action: 'server.metadata', summary: 'Open Inference Protocol: server metadata' },
  { method: 'GET', path: '/v2/models/{name}', function: 'inference', auth: read, action: 'model.metadata', summary: 'Open Inference Protocol: model metadata (input and output tensors)' },
  { method: 'GET', path: '/v2/models/{name}/versions/{version}', function: 'inference', auth: read, action: 'model.metadata', summary: 'Open Inference Protocol: metadata of one version' },
  { method: 'GET', path: '/v2/models/{name}/ready', function: 'inference', auth: read, action: 'model.ready', summary: 'Open Inference Protocol: model ready' },
  { method: 'GET', path: '/v2/models/{name}/versions/{version}/ready', function: 'inference', auth: read, action: 'model.ready', summary: 'Open Inference Protocol: version ready' },
  { method: 'POST', path: '/v2/models/{name}/infer', function: 'inference', auth: predict, action: 'twin.infer', summary: 'Open Inference Protocol: inference (tensor in, tensors out)' },
  { method: 'POST', path: '/v2/models/{name}/versions/{version}/infer', function: 'inference', auth: predict, action: 'twin.infer', summary: 'Open Inference Protocol: inference with one version' },
];

/**
 * Functions run on a schedule rather than by a route: an EventBridge rule per entry in AWS (infra/stacks/
 * api-stack.ts), a timer in the local twin (infra/local/schedules.ts). Like the routes, one table for both.
 */
export interface ScheduleDef {
  function: FunctionName;
  /** How often, in minutes (EventBridge's `rate(n minutes)`). */
  everyMinutes: number;
  /** What the run logs and audits as. */
  action: string;
  summary: string;
}

export const schedules: readonly ScheduleDef[] = [
  // Drift needs no lab results, and a breach must be re-judged when feedback stops: not only after feedback calls.
  { function: 'quality-schedule', everyMinutes: 15, action: 'quality.evaluate', summary: "Every model's coverage, error and input drift against their bands; quality alerts" },
];

export function routeKey(route: Pick<RouteDef, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/**
 * CloudFront path patterns covering every route (and nothing the dashboard serves): `/api/*` for
 * `/api/v1/...`, `/health` for `/health`. The dashboard's distribution sends these to the API.
 */
export function apiPathPatterns(table: readonly Pick<RouteDef, 'path'>[] = routes): string[] {
  const patterns = new Set<string>();
  for (const { path } of table) {
    const [first, ...rest] = path.slice(1).split('/');
    patterns.add(rest.length ? `/${first}/*` : `/${first}`);
  }
  return [...patterns].sort();
}

/**
 * Administration routes read the principal's state from the stores on every request, never from the cache
 * (functions/core/auth/principal-state.ts): users, keys, model lifecycle writes and audit import. A demoted
 * or deactivated admin loses these at once, in every container; elsewhere within the cache bound.
 */
export function needsFreshPrincipal(route: RouteDef): boolean {
  if (route.auth === 'public') return false;
  if (route.function === 'users' || route.function === 'keys') return true;
  return route.auth.scopes.some((s) => s === 'models:write' || s === 'audit:write' || s === 'users:manage' || s === 'keys:manage');
}

/**
 * Routes no API-key token may use, whatever its claims say: users and keys are managed by people (a stolen
 * key cannot mint keys or change users). Refused before any store read.
 */
export function refusesKeyTokens(route: RouteDef): boolean {
  return route.function === 'users' || route.function === 'keys';
}

const byKey = new Map(routes.map((r) => [routeKey(r), r]));

export function findRouteByKey(key: string): RouteDef | undefined {
  return byKey.get(key);
}
