import { contracts } from '../../functions/contracts.js';
import { routes, routeKey, schedules, type FunctionName } from '../../functions/routes.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';
import { publishBody, referenceVariant } from './models.js';
import { adminPassword, validRow } from './twin.js';

/**
 * The scenario the Lambda-layout test runs: every route of functions/routes.ts at least once, in an order that
 * makes each call meaningful (a key exists before it is rotated, a version is published before it is
 * activated), with the status its contract (functions/contracts.ts) promises.
 */

/** What the steps share: tokens and ids learned on the way. */
export interface StepState {
  /** Verified claims of the admin's token, as the JWT authorizer passes them. */
  admin: Record<string, string>;
  /** The same for the operator the scenario creates, and for a token exchanged for an API key. */
  operator: Record<string, string>;
  key: Record<string, string>;
  /** Verifies a token as the JWT authorizer does and returns its claims as API Gateway passes them. */
  claimsOf(token: string): Promise<Record<string, string>>;
  keyId: string;
  keySecret: string;
  uploadId: string;
  /** The request id a model-addressed prediction answered with (x-request-id), for its feedback. */
  requestId: string;
  /** The request id of the last batch the quality-alert steps gave feedback on. */
  batchId: string;
  /** Makes the local SNS endpoint answer 500 (the alert claim must then be released). */
  failSns(failing: boolean): void;
}

export interface Step {
  /** A label for the test's name. */
  name: string;
  /** The route invoked, or for a scheduled function (functions/routes.ts `schedules`) `schedule <function>`: it gets EventBridge's event. */
  route: string;
  path: string | ((s: StepState) => string);
  pathParameters?: Record<string, string> | ((s: StepState) => Record<string, string>);
  query?: Record<string, string>;
  body?: unknown | ((s: StepState) => unknown | Promise<unknown>);
  headers?: Record<string, string>;
  /** Without it the route's contract status (200 unless the contract says otherwise). */
  status?: number;
  /** Public routes carry no claims; others the admin's unless `as` says otherwise. */
  anonymous?: boolean;
  as?: 'operator' | 'key';
  before?: (s: StepState) => void;
  after?: (s: StepState, body: any, headers: Record<string, string>) => void | Promise<void>;
}

const model = 'reactor-yield';
const outOfBand = { temp: 300, pressure: 6, flow: 100 };
/** Labelled rows from the reactor's own surface with noise, as quality.happy calibrates on. */
function calibrationRows(count: number) {
  const rng = new Prng(21);
  return Array.from({ length: count }, () => {
    const [t, p, f] = REACTOR_FEATURES.map((feature) => rng.uniform(feature.min, feature.max)) as [number, number, number];
    return { inputs: { temp: t, pressure: p, flow: f }, value: reactorYield(t, p, f, rng) };
  });
}

/**
 * When the edge box's records were written: an hour before the step runs, as an export of recent records is.
 * The clock's time, not a fixed date: a fixed one would one day be past the audit log's retention (reads skip
 * it), and would make this scenario one that pins a date (test/time/date-pinned-files.mjs) for nothing it checks
 * (the import's status and its AWS calls). The log's handling of dates is tested where they are pinned.
 */
const edgeTime = () => new Date(Date.now() - 3_600_000).toISOString();

const auditRecord = {
  requestId: 'edge-layout-1',
  principal: 'edge-operator',
  principalType: 'user',
  action: 'twin.predict',
  method: 'POST',
  resource: '/api/v1/twin/predict',
  outcome: 200,
};

/** What the scenario's edge box exported: made once, so the second import of it is the same body. */
let edgeExport: unknown;
const edgeImport = () =>
  (edgeExport ??= {
    audit: [{ ...auditRecord, time: edgeTime() }],
    alerts: [
      {
        id: 'edge-alert-1',
        time: edgeTime(),
        kind: 'alert',
        model,
        version: '1.0.0',
        rule: 'below_min',
        severity: 'warning',
        principal: 'edge-operator',
        inputs: outOfBand,
        prediction: 60,
        interval: null,
        thresholds: { min: 70, max: 95 },
        requestId: 'edge-layout-1',
      },
    ],
  });

export const steps: Step[] = [
  { name: 'health', route: 'GET /health', path: '/health', anonymous: true },
  { name: 'discovery', route: 'GET /.well-known/openid-configuration', path: '/.well-known/openid-configuration', anonymous: true },
  { name: 'jwks', route: 'GET /.well-known/jwks.json', path: '/.well-known/jwks.json', anonymous: true },
  { name: 'login', route: 'POST /api/v1/auth/login', path: '/api/v1/auth/login', anonymous: true, body: { username: 'admin', password: adminPassword } },
  {
    name: 'token (password grant, form)',
    route: 'POST /api/v1/auth/token',
    path: '/api/v1/auth/token',
    anonymous: true,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: adminPassword }).toString(),
  },
  { name: 'predict', route: 'POST /api/v1/twin/predict', path: '/api/v1/twin/predict', body: validRow },
  { name: 'predict (microservice shape)', route: 'POST /predict', path: '/predict', body: { ...validRow, temp: 361 } },
  {
    name: 'predict out of band while SNS fails (the claim is released)',
    route: 'POST /api/v1/twin/predict',
    path: '/api/v1/twin/predict',
    body: outOfBand,
    before: (s) => s.failSns(true),
    after: (s) => s.failSns(false),
  },
  { name: 'predict out of band (alert published)', route: 'POST /api/v1/twin/predict', path: '/api/v1/twin/predict', body: { ...outOfBand, flow: 101 } },
  // Models addressed by name (in band: the alert steps above keep their one alert per principal).
  {
    name: 'predict with a model by name',
    route: 'POST /api/v1/models/{name}/predict',
    path: `/api/v1/models/${model}/predict`,
    pathParameters: { name: model },
    body: { ...validRow, temp: 362 },
    after: (s, _body, headers) => {
      const id = headers['x-request-id'];
      if (!id) throw new Error('the prediction answered without x-request-id');
      s.requestId = id;
    },
  },
  {
    name: 'predict with one version',
    route: 'POST /api/v1/models/{name}/versions/{version}/predict',
    path: `/api/v1/models/${model}/versions/1.0.0/predict`,
    pathParameters: { name: model, version: '1.0.0' },
    body: { ...validRow, temp: 363 },
  },
  {
    name: 'batch with a model by name',
    route: 'POST /api/v1/models/{name}/batch',
    path: `/api/v1/models/${model}/batch`,
    pathParameters: { name: model },
    body: { inputs: [{ ...validRow, temp: 364 }, { ...validRow, temp: 365 }] },
  },
  {
    name: 'feedback for the prediction by name',
    route: 'POST /api/v1/models/{name}/feedback',
    path: `/api/v1/models/${model}/feedback`,
    pathParameters: { name: model },
    body: (s: StepState) => ({ observations: [{ request_id: s.requestId, value: 84.2 }] }),
    after: (_s, body: { accepted: number; results: unknown[] }) => {
      if (body.accepted !== 1) throw new Error(`feedback not accepted: ${JSON.stringify(body.results)}`);
    },
  },
  { name: 'status', route: 'GET /api/v1/twin/status', path: '/api/v1/twin/status' },
  { name: 'model info', route: 'GET /model/info', path: '/model/info' },
  { name: 'metrics', route: 'GET /metrics', path: '/metrics' },
  {
    name: 'create key',
    route: 'POST /api/v1/keys',
    path: '/api/v1/keys',
    body: { name: 'layout-test' },
    after: (s, body: { id: string; key: string }) => {
      s.keyId = body.id;
      s.keySecret = body.key;
    },
  },
  {
    name: 'token (client credentials)',
    route: 'POST /api/v1/auth/token',
    path: '/api/v1/auth/token',
    anonymous: true,
    body: (s: StepState) => ({ grant_type: 'client_credentials', client_secret: s.keySecret }),
    after: async (s, body: { access_token: string }) => {
      s.key = await s.claimsOf(body.access_token);
    },
  },
  // Each function that alerts, with a principal of its own (the cooldown is per principal): first while SNS
  // fails, so the claim is released (DeleteItem), then published (the event stored: PutItem).
  {
    name: 'OIP infer out of band while SNS fails (API key)',
    route: 'POST /v2/models/{name}/infer',
    path: `/v2/models/${model}/infer`,
    pathParameters: { name: model },
    as: 'key',
    body: { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [300, 6, 100] }] },
    before: (s) => s.failSns(true),
    after: (s) => s.failSns(false),
  },
  {
    name: 'OIP infer out of band, one version (API key, alert published)',
    route: 'POST /v2/models/{name}/versions/{version}/infer',
    path: `/v2/models/${model}/versions/1.0.0/infer`,
    pathParameters: { name: model, version: '1.0.0' },
    as: 'key',
    body: { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [300, 6, 101] }] },
  },
  { name: 'list keys (all, as platform admin)', route: 'GET /api/v1/keys', path: '/api/v1/keys' },
  { name: 'rotate key', route: 'POST /api/v1/keys/{id}/rotate', path: (s) => `/api/v1/keys/${s.keyId}/rotate`, pathParameters: (s) => ({ id: s.keyId }) },
  { name: 'revoke key', route: 'DELETE /api/v1/keys/{id}', path: (s) => `/api/v1/keys/${s.keyId}`, pathParameters: (s) => ({ id: s.keyId }) },
  { name: 'create user', route: 'POST /api/v1/users', path: '/api/v1/users', body: { username: 'layout-operator', password: 'layout-operator-1', role: 'operator' } },
  {
    name: 'login (operator)',
    route: 'POST /api/v1/auth/login',
    path: '/api/v1/auth/login',
    anonymous: true,
    body: { username: 'layout-operator', password: 'layout-operator-1' },
    after: async (s, body: { token: string }) => {
      s.operator = await s.claimsOf(body.token);
    },
  },
  { name: 'list own keys (operator)', route: 'GET /api/v1/keys', path: '/api/v1/keys', as: 'operator' },
  {
    name: 'batch out of band while SNS fails (operator)',
    route: 'POST /api/v1/twin/batch',
    path: '/api/v1/twin/batch',
    as: 'operator',
    body: { inputs: [validRow, outOfBand] },
    before: (s) => s.failSns(true),
    after: (s) => s.failSns(false),
  },
  { name: 'batch (operator, alert published)', route: 'POST /api/v1/twin/batch', path: '/api/v1/twin/batch', as: 'operator', body: { inputs: [{ ...outOfBand, flow: 102 }] } },
  { name: 'list users', route: 'GET /api/v1/users', path: '/api/v1/users' },
  { name: 'update user', route: 'PATCH /api/v1/users/{username}', path: '/api/v1/users/layout-operator', pathParameters: { username: 'layout-operator' }, body: { role: 'viewer' } },
  {
    name: 'set password',
    route: 'POST /api/v1/users/{username}/password',
    path: '/api/v1/users/layout-operator/password',
    pathParameters: { username: 'layout-operator' },
    body: { password: 'layout-operator-2' },
  },
  { name: 'audit (by day)', route: 'GET /api/v1/audit', path: '/api/v1/audit' },
  { name: 'audit (by principal)', route: 'GET /api/v1/audit', path: '/api/v1/audit', query: { principal: 'admin' } },
  { name: 'audit import', route: 'POST /api/v1/audit/import', path: '/api/v1/audit/import', body: () => edgeImport() },
  // The same export again: every record and alert a duplicate, which reads the alert stored first (its plant's copy).
  { name: 'audit import again (idempotent)', route: 'POST /api/v1/audit/import', path: '/api/v1/audit/import', body: () => edgeImport() },
  { name: 'list models', route: 'GET /api/v1/models', path: '/api/v1/models' },
  { name: 'versions', route: 'GET /api/v1/models/{name}/versions', path: `/api/v1/models/${model}/versions`, pathParameters: { name: model } },
  {
    name: 'upload URL, then PUT model.onnx 1.1.0 to it',
    route: 'POST /api/v1/models/{name}/uploads',
    path: `/api/v1/models/${model}/uploads`,
    pathParameters: { name: model },
    after: async (s, body: { upload_id: string; url: string; headers: Record<string, string> }) => {
      // The presigned PUT runs under the function's credentials: its role must allow it (recorded too).
      const put = await fetch(body.url, { method: 'PUT', headers: body.headers, body: Buffer.from((await referenceVariant('1.1.0')).bytes) });
      if (!put.ok) throw new Error(`PUT to the presigned URL answered ${put.status}: ${await put.text()}`);
      s.uploadId = body.upload_id;
    },
  },
  {
    name: 'publish 1.1.0 from the upload',
    route: 'POST /api/v1/models/{name}/versions',
    path: `/api/v1/models/${model}/versions`,
    pathParameters: { name: model },
    body: async (s: StepState) => ({ manifest: (await referenceVariant('1.1.0')).manifest, upload_id: s.uploadId }),
  },
  {
    name: 'publish 1.2.0 inline',
    route: 'POST /api/v1/models/{name}/versions',
    path: `/api/v1/models/${model}/versions`,
    pathParameters: { name: model },
    body: async () => publishBody(await referenceVariant('1.2.0')),
  },
  { name: 'activate 1.1.0', route: 'POST /api/v1/models/{name}/activate', path: `/api/v1/models/${model}/activate`, pathParameters: { name: model }, body: { version: '1.1.0' } },
  { name: 'rollback', route: 'POST /api/v1/models/{name}/rollback', path: `/api/v1/models/${model}/rollback`, pathParameters: { name: model } },
  // 1.0.0 serves alone again. Calibrated, its coverage is watched: 40 measured values far outside their
  // intervals breach the band, first while SNS fails (the claims are released), then published.
  {
    name: 'calibrate 1.0.0',
    route: 'PUT /api/v1/models/{name}/versions/{version}/calibration',
    path: `/api/v1/models/${model}/versions/1.0.0/calibration`,
    pathParameters: { name: model, version: '1.0.0' },
    body: { level: 0.8, rows: calibrationRows(400) },
  },
  ...[1, 2].flatMap((round): Step[] => [
    {
      name: `batch of 40 for feedback (round ${round})`,
      route: 'POST /api/v1/models/{name}/batch',
      path: `/api/v1/models/${model}/batch`,
      pathParameters: { name: model },
      body: { inputs: Array.from({ length: 40 }, (_, i) => ({ ...validRow, temp: 350 + round + i * 0.25 })) },
      after: (s, body: { model_version: string }, headers) => {
        if (body.model_version !== '1.0.0') throw new Error(`served by ${body.model_version}, not the calibrated 1.0.0`);
        s.batchId = headers['x-request-id'] ?? '';
      },
    },
    {
      name: round === 1 ? 'feedback off the intervals while SNS fails (quality claims released)' : 'feedback off the intervals (quality alert published)',
      route: 'POST /api/v1/models/{name}/feedback',
      path: `/api/v1/models/${model}/feedback`,
      pathParameters: { name: model },
      body: (s: StepState) => ({ observations: Array.from({ length: 40 }, (_, index) => ({ request_id: s.batchId, index, value: 20 })) }),
      ...(round === 1 ? { before: (s: StepState) => s.failSns(true), after: (s: StepState, body: { accepted: number }) => {
        s.failSns(false);
        if (body.accepted !== 40) throw new Error(`accepted ${body.accepted} of 40`);
      } } : { after: (_s: StepState, body: { accepted: number }) => {
        if (body.accepted !== 40) throw new Error(`accepted ${body.accepted} of 40`);
      } }),
    },
    // Between the rounds the breach's claim is free again: the scheduled evaluation claims it, fails to publish
    // (SNS still down) and gives it back, so round 2's feedback publishes.
    ...(round === 1
      ? [{ name: 'scheduled quality evaluation while SNS fails (claim released)', route: scheduleRoute('quality-schedule'), path: '', before: (s: StepState) => s.failSns(true), after: (s: StepState) => s.failSns(false) }]
      : []),
  ]),
  { name: 'quality', route: 'GET /api/v1/models/{name}/quality', path: `/api/v1/models/${model}/quality`, pathParameters: { name: model } },
  {
    name: 'A/B routing',
    route: 'PUT /api/v1/models/{name}/routing',
    path: `/api/v1/models/${model}/routing`,
    pathParameters: { name: model },
    body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }] },
  },
  {
    name: 'download package',
    route: 'GET /api/v1/models/{name}/versions/{version}/package',
    path: `/api/v1/models/${model}/versions/1.0.0/package`,
    pathParameters: { name: model, version: '1.0.0' },
    after: async (_s, body: { model_url: string; sha256: string }) => {
      const got = await fetch(body.model_url);
      if (!got.ok) throw new Error(`GET from the presigned URL answered ${got.status}`);
    },
  },
  { name: 'variant stats', route: 'GET /api/v1/models/{name}/stats', path: `/api/v1/models/${model}/stats`, pathParameters: { name: model } },
  { name: 'explain', route: 'POST /api/v1/models/{name}/explain', path: `/api/v1/models/${model}/explain`, pathParameters: { name: model }, body: { inputs: [validRow, { temp: 310, pressure: 2, flow: 60 }] } },
  {
    name: 'sweep',
    route: 'POST /api/v1/models/{name}/sweep',
    path: `/api/v1/models/${model}/sweep`,
    pathParameters: { name: model },
    body: { x: { feature: 'temp', steps: 6 }, y: { feature: 'pressure', steps: 4 }, fixed: { flow: 100 } },
  },
  {
    name: 'optimize',
    route: 'POST /api/v1/models/{name}/optimize',
    path: `/api/v1/models/${model}/optimize`,
    pathParameters: { name: model },
    body: { vary: { temp: {}, pressure: {} }, fixed: { flow: 100 }, constraints: [{ target: 'lower', op: '>=', value: 80 }], seed: 3 },
  },
  { name: 'alerts', route: 'GET /api/v1/alerts', path: '/api/v1/alerts' },
  { name: 'openapi', route: 'GET /openapi.json', path: '/openapi.json', anonymous: true },
  { name: 'docs page', route: 'GET /docs', path: '/docs', anonymous: true },
  { name: 'OIP live', route: 'GET /v2/health/live', path: '/v2/health/live', anonymous: true },
  { name: 'OIP ready', route: 'GET /v2/health/ready', path: '/v2/health/ready', anonymous: true },
  { name: 'OIP server metadata', route: 'GET /v2', path: '/v2' },
  { name: 'OIP model metadata', route: 'GET /v2/models/{name}', path: `/v2/models/${model}`, pathParameters: { name: model } },
  {
    name: 'OIP version metadata',
    route: 'GET /v2/models/{name}/versions/{version}',
    path: `/v2/models/${model}/versions/1.0.0`,
    pathParameters: { name: model, version: '1.0.0' },
  },
  { name: 'OIP model ready', route: 'GET /v2/models/{name}/ready', path: `/v2/models/${model}/ready`, pathParameters: { name: model } },
  {
    name: 'OIP version ready',
    route: 'GET /v2/models/{name}/versions/{version}/ready',
    path: `/v2/models/${model}/versions/1.0.0/ready`,
    pathParameters: { name: model, version: '1.0.0' },
  },
  // The breach is in its cooldown (nothing sent); the day's error is in its band (the alert state is read).
  { name: 'scheduled quality evaluation', route: scheduleRoute('quality-schedule'), path: '' },
];

/** The pseudo-route of a scheduled function's step. */
export function scheduleRoute(fn: FunctionName): string {
  return `schedule ${fn}`;
}

/** The status a step expects: its own, else its route's contract status, else 200. */
export function expectedStatus(step: Step): number {
  if (step.status !== undefined) return step.status;
  const contract = (contracts as Record<string, { status?: number }>)[step.route];
  return contract?.status ?? 200;
}

/** The function that serves a step (from the route table). */
export function functionOf(step: Step): FunctionName {
  const scheduled = schedules.find((sc) => scheduleRoute(sc.function) === step.route);
  if (scheduled) return scheduled.function;
  const route = routes.find((r) => routeKey(r) === step.route);
  if (!route) throw new Error(`step ${step.name}: no route ${step.route}`);
  return route.function;
}
