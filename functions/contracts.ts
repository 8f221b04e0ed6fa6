import { largeBodyBytes, publicBodyBytes } from './body-limits.js';
import { feedbackRequestSchema } from './core/quality/feedback-schema.js';
import { calibrationRequestSchema } from './core/quality/calibrate.js';
import * as z from 'zod';
import { auditImportSchema, auditQuerySchema, type AuditImportResult } from './core/audit/service.js';
import { keyGrantableScopes, createKeyRequestSchema, type KeyView } from './core/auth/keys-service.js';
import { roles, scopes } from './core/auth/roles.js';
import { loginRequestSchema, tokenRequestSchema, type LoginResponse, type TokenResponse } from './core/auth/service.js';
import { createUserRequestSchema, setPasswordRequestSchema, updateUserRequestSchema, type UserView } from './core/auth/users-service.js';
import { errorCodes } from './core/errors.js';
import { calibrationRecordSchema, featureSchema, intervalSchema, modelManifestSchema, modelNameSchema, outputSchema, semverSchema } from './core/manifest.js';
import { activateRequestSchema, publishRequestSchema, routingRequestSchema } from './core/models/requests.js';
import type { VariantStats } from './core/models/service.js';
import type { AlertEvent, AuditRecord } from './core/ports.js';
import type { HeldBack } from './core/alerts/cap.js';
import {
  oipErrorSchema,
  oipInferRequestSchema,
  oipInferResponseSchema,
  oipModelMetadataSchema,
  oipModelReadySchema,
  oipServerLiveSchema,
  oipServerMetadataSchema,
  oipServerReadySchema,
} from './core/twin/oip.js';
import { routingSchema } from './core/twin/routing.js';
import { insightContracts, predictExplanationSchema } from './insight-contracts.js';
import { maxBatchSize } from './core/twin/limits.js';
import type { BatchResponse, ModelInfo, PredictResponse } from './core/twin/service.js';

/**
 * The API contract of every route of the route table (functions/routes.ts), keyed by route key: the zod schemas
 * the handlers validate bodies and queries with (handlers take them from here: `http(contracts[key])`), and
 * the schemas of what they answer. GET /openapi.json is generated from this map and the route table, and the
 * SDK's types are inferred from it, so neither the documentation nor the client can drift from the code.
 */

/** The API's version, as OpenAPI `info.version` and the Open Inference Protocol's server metadata give it. */
export const apiVersion = '0.1.0';

export interface RouteContract {
  /** Validated by the middleware before the handler runs (400 INVALID_REQUEST naming field and rule). */
  body?: z.ZodType;
  /**
   * Documented, not validated by the middleware: the core validates the body against the serving model's
   * manifest (its features and ranges), answering INVALID_INPUT per field. Shown here for the reference model.
   */
  modelBody?: z.ZodType;
  /** Validated query string parameters. */
  query?: z.ZodType;
  /** The body may also be `application/x-www-form-urlencoded`. */
  form?: boolean;
  /**
   * Larger bodies are refused (413 naming `body`, rule `max_bytes`) before they are decoded or parsed
   * (functions/body-limits.ts). @default defaultBodyBytes (64 KB); routes of rows or a model: largeBodyBytes
   */
  maxBodyBytes?: number;
  /** What a successful call answers (status {@link status}). */
  response: z.ZodType;
  /** @default 200 */
  status?: number;
  /** Other documented answers besides the errors every route may give. */
  responses?: Record<number, { description: string; schema: z.ZodType }>;
  /** The error body: our envelope, or the Open Inference Protocol's `{error: string}`. @default 'envelope' */
  errors?: 'envelope' | 'oip';
  /** The success body's media type. @default 'application/json' */
  contentType?: 'application/json' | 'text/html';
  /** Longer prose for the docs (the route table holds the one-line summary). */
  description?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Shared shapes

export const fieldIssueSchema = z.strictObject({
  field: z.string().meta({ description: 'Dotted path of the field, e.g. inputs.3.temp' }),
  rule: z.string().meta({ description: 'The rule it broke: required, type, range, unknown_field, ...' }),
  message: z.string(),
});

/** The error envelope of every route but the Open Inference Protocol's (docs/api.md). */
export const errorEnvelopeSchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(errorCodes),
    message: z.string(),
    requestId: z.string(),
    issues: z.array(fieldIssueSchema).max(20).optional().meta({ description: 'At most 20; issues_total counts them all' }),
    issues_total: z.number().int().optional().meta({ description: 'How many issues there were, when more than issues shows' }),
    issues_truncated: z.literal(true).optional().meta({ description: 'Present when issues shows only the first 20' }),
    retry_after_seconds: z.number().optional().meta({ description: 'With RATE_LIMITED' }),
  }),
  message: z.string().meta({ description: 'The same text as error.message (the key API Gateway and the chapter use)' }),
});
export type ErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

/** What API Gateway (and the local gateway) answer on their own: 401, 403, 404, 413, 503. */
export const gatewayErrorSchema = z.strictObject({ message: z.string() });

export { oipErrorSchema };

const modelRef = z.strictObject({ name: z.string(), version: z.string() });
const interval = z.tuple([z.number(), z.number()]).nullable().meta({ description: "[lower, upper] of the model's interval at its stated level (default 90 %); null when the model has none" });
const intervalCalibrated = z.boolean().meta({ description: 'True when the interval is conformally calibrated to its stated level (docs/models.md, "Model quality")' });
const intervalLevel = z.number().nullable().meta({ description: "The interval's stated coverage (e.g. 0.9); null when the model has no calibrated level" });
const extrapolation = z
  .record(z.string(), z.enum(['outside_training_range', 'training_tail']))
  .meta({ description: 'Per feature: outside the training data, or in its 1 % tails' });
const degradation = z.strictObject({ model: z.string(), wanted: z.string(), serving: z.string(), reason: z.string(), since: z.string() });

/** A row of sensor values: the serving model's features (GET /model/info), each a finite number in range. */
export const featureRowSchema = z
  .record(z.string(), z.number())
  .meta({ description: "The serving model's features (GET /model/info), each a finite number inside its valid range", examples: [{ temp: 360, pressure: 6, flow: 100 }] });

// ---------------------------------------------------------------------------------------------------------
// Responses

export const healthResponseSchema = z.strictObject({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  service: z.string(),
  timestamp: z.string(),
  model: z.string().optional(),
  model_version: z.string(),
  degraded: z.array(degradation).optional(),
  reason: z.string().optional(),
});

export const openIdConfigurationSchema = z.strictObject({
  issuer: z.string(),
  jwks_uri: z.string(),
  token_endpoint: z.string(),
  grant_types_supported: z.array(z.string()),
  response_types_supported: z.array(z.string()),
  subject_types_supported: z.array(z.string()),
  id_token_signing_alg_values_supported: z.array(z.string()),
  token_endpoint_auth_methods_supported: z.array(z.string()),
  scopes_supported: z.array(z.string()),
});

export const jwksSchema = z.strictObject({
  keys: z.array(z.looseObject({ kty: z.literal('RSA'), kid: z.string(), n: z.string(), e: z.string(), alg: z.string().optional(), use: z.string().optional() })),
});

export const loginResponseSchema = z.strictObject({
  token: z.string().meta({ description: "The chapter's field (same value as access_token)" }),
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  scope: z.string(),
});

export const tokenResponseSchema = z.strictObject({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int(), scope: z.string() });

const predictFields = {
  prediction: z.number(),
  confidence_interval: interval,
  inference_time_ms: z.number(),
  timestamp: z.number().meta({ description: "Seconds since the epoch (Python's time.time())" }),
  model: modelRef,
  model_version: z.string(),
  from_cache: z.boolean(),
  extrapolation,
  interval_calibrated: intervalCalibrated,
  interval_level: intervalLevel,
  explanation: predictExplanationSchema.optional(),
};

export const predictResponseSchema = z.strictObject({ user: z.string(), ...predictFields });

export const microservicePredictResponseSchema = z.strictObject({
  success: z.literal(true),
  result: z.strictObject(predictFields),
  request_id: z.string(),
});

export const batchResponseSchema = z.strictObject({
  user: z.string(),
  total: z.number().int(),
  successful: z.number().int(),
  failed: z.number().int(),
  results: z.array(
    z.strictObject({ index: z.number().int(), input: z.record(z.string(), z.number()), prediction: z.number(), confidence_interval: interval, extrapolation }),
  ),
  errors: z.array(z.strictObject({ index: z.number().int(), error: z.string(), issues: z.array(fieldIssueSchema), issues_total: z.number().int().optional() })),
  inference_time_ms: z.number(),
  timestamp: z.number(),
  model: modelRef,
  model_version: z.string(),
  interval_calibrated: intervalCalibrated,
  interval_level: intervalLevel,
});

export const feedbackResponseSchema = z.strictObject({
  model: z.string(),
  total: z.number().int(),
  accepted: z.number().int(),
  duplicate: z.number().int(),
  unknown: z.number().int(),
  expired: z.number().int(),
  results: z.array(
    z.strictObject({
      index: z.number().int(),
      status: z.enum(['accepted', 'duplicate', 'unknown', 'expired']),
      request_id: z.string().optional(),
      row: z.number().int().optional(),
      version: z.string().optional(),
      lag_seconds: z.number().optional(),
      late: z.boolean().optional(),
    }),
  ),
});

const errorStatsSchema = z.strictObject({
  count: z.number().int(),
  mae: z.number().nullable(),
  rmse: z.number().nullable(),
  bias: z.number().nullable().meta({ description: 'Mean of prediction − measured value' }),
  coverage: z.number().nullable().meta({ description: 'Share of measured values inside the served interval' }),
  level: z.number().nullable(),
  coverage_gap: z.number().nullable(),
});
const windowStatsSchema = z.record(z.enum(['hour', 'day', '7d', 'all']), errorStatsSchema);
const abVerdictSchema = z.strictObject({
  versions: z.tuple([z.string(), z.string()]),
  window: z.string(),
  test: z.string(),
  mae: z.tuple([z.number(), z.number()]),
  t: z.number(),
  df: z.number(),
  p_value: z.number(),
  better: z.string().nullable(),
  alpha: z.number(),
});
export const calibrationResponseSchema = z.strictObject({ name: z.string(), version: z.string(), interval: intervalSchema, calibration: calibrationRecordSchema });

export const qualityResponseSchema = z.strictObject({
  model: z.string(),
  generated: z.string(),
  windows: z.array(z.string()),
  window_basis: z.string(),
  versions: z.array(z.strictObject({ version: z.string(), level: z.number().nullable(), windows: windowStatsSchema })),
  plants: z.array(z.strictObject({ version: z.string(), plant: z.string().nullable(), windows: windowStatsSchema })),
  ab: z.strictObject({ versions: z.array(z.string()), test: z.string(), alpha: z.number(), windows: z.record(z.string(), abVerdictSchema.nullable()) }).nullable(),
  recalibration: z.array(
    z.strictObject({ version: z.string(), enabled: z.boolean(), factor: z.number(), updates: z.number().int(), coverage: z.number().nullable(), updated: z.string().nullable() }),
  ),
  drift: z.array(
    z.strictObject({
      version: z.string(),
      features: z.array(
        z.strictObject({ feature: z.string(), rows: z.number().int(), psi: z.number().nullable(), level: z.enum(['stable', 'moderate', 'significant']).nullable(), outside_envelope: z.number().nullable() }),
      ),
    }),
  ),
  series: z.array(errorStatsSchema.extend({ version: z.string(), plant: z.string().nullable(), hour: z.string() })),
});

export const modelInfoSchema = z.strictObject({
  name: z.string(),
  type: z.string(),
  version: z.string(),
  features: z.array(z.string()),
  trained_date: z.string(),
  description: z.string().optional(),
  target: z.object({ name: z.string(), unit: z.string() }),
  feature_specs: z.array(featureSchema),
  output: outputSchema,
  interval: intervalSchema.nullable(),
  interval_calibrated: intervalCalibrated,
  calibration: calibrationRecordSchema.nullable(),
  alert_thresholds: z.object({ min: z.number(), max: z.number() }),
  sha256: z.string(),
});

export const modelInfoWithModelsSchema = modelInfoSchema.extend({ models: z.array(modelInfoSchema).meta({ description: 'Every model the principal may use' }) });

export const statusResponseSchema = z.strictObject({
  status: z.enum(['operational', 'degraded']),
  model_info: modelInfoSchema,
  models: z.array(modelInfoSchema).meta({ description: 'Every model the principal may use, by its active version' }),
  user: z.string(),
  degraded: z.array(degradation).optional(),
});

export const metricsResponseSchema = z.strictObject({
  total_requests: z.number().int(),
  total_predictions: z.number().int(),
  model_version: z.string(),
  models: z.record(
    z.string(),
    z.strictObject({
      model_version: z.string(),
      total_requests: z.number().int(),
      total_predictions: z.number().int(),
      by_version: z.record(z.string(), z.strictObject({ requests: z.number().int(), rows: z.number().int(), cache_hits: z.number().int() })),
    }),
  ),
  uptime_seconds: z.number(),
  cache_hit_rate: z.number(),
  by_version: z.record(z.string(), z.strictObject({ requests: z.number().int(), rows: z.number().int(), cache_hits: z.number().int() })),
  degraded: z.array(degradation),
  /** This container's own figures, every plant's traffic: platform principals only. */
  container: z
    .strictObject({
      predictions: z.number().int(),
      started_at: z.string(),
      cache: z.strictObject({ hits: z.number().int(), misses: z.number().int(), hit_rate: z.number(), size: z.number().int(), capacity: z.number().int() }),
    })
    .optional(),
});

export const keyViewSchema = z.strictObject({
  id: z.string(),
  prefix: z.string(),
  name: z.string(),
  owner: z.string(),
  plant: z.string().nullable(),
  scopes: z.array(z.string()),
  status: z.enum(['active', 'revoked', 'expired']),
  created: z.string(),
  expires_at: z.string(),
  last_used: z.string().nullable(),
  revoked_at: z.string().nullable(),
  rate_limit_per_minute: z.number().int().nullable(),
  previous_secret_valid_until: z.string().nullable(),
});
export const keyWithSecretSchema = keyViewSchema.extend({ key: z.string().meta({ description: 'The secret, shown once: tw_<id>_<secret>' }) });

export const userViewSchema = z.strictObject({ username: z.string(), role: z.enum(roles), plant: z.string().nullable(), active: z.boolean(), created: z.string() });

export const importMarkSchema = z
  .strictObject({ by: z.string(), edge: z.string(), at: z.string() })
  .meta({ description: 'Only on records imported from an edge box: who imported it, from which box, when' });

export const auditRecordSchema = z.strictObject({
  time: z.string(),
  requestId: z.string(),
  principal: z.string(),
  principalType: z.enum(['user', 'key', 'anonymous']),
  subject: z.string().optional(),
  role: z.string().optional(),
  plant: z.string().optional(),
  action: z.string(),
  method: z.string(),
  resource: z.string(),
  outcome: z.number().int(),
  errorCode: z.string().optional(),
  sourceIp: z.string().optional(),
  userAgent: z.string().optional(),
  modelVersion: z.string().optional(),
  keyId: z.string().optional(),
  imported: importMarkSchema.optional(),
});
export const auditResponseSchema = z.strictObject({ items: z.array(auditRecordSchema), next_cursor: z.string().nullable() });

const variantSchema = z.strictObject({ version: z.string(), weight: z.number() });
const storedRoutingSchema = z.strictObject(routingSchema.shape);

const ownerPlantSchema = z.string().nullable().meta({ description: "The plant that owns the model; null: platform-wide (see docs/security.md, Model tenancy)" });

export const modelListResponseSchema = z.strictObject({
  models: z.array(
    z.strictObject({ name: z.string(), plant: ownerPlantSchema, active: z.string().nullable(), variants: z.array(variantSchema).nullable(), shadow: z.string().nullable(), versions: z.array(z.string()) }),
  ),
});

export const modelVersionsResponseSchema = z.strictObject({
  name: z.string(),
  plant: ownerPlantSchema,
  active: z.string().nullable(),
  routing: storedRoutingSchema.nullable(),
  versions: z.array(
    z.union([
      z.strictObject({ version: z.string(), created: z.string(), model_type: z.string(), sha256: z.string(), features: z.array(z.string()), status: z.literal('ok') }),
      z.strictObject({ version: z.string(), status: z.literal('invalid'), reason: z.string() }),
    ]),
  ),
});

export const packageDownloadResponseSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  sha256: z.string(),
  manifest: modelManifestSchema,
  model_base64: z.string().optional().meta({ description: 'model.onnx, base64: present when it is at most 3 MiB (Lambda answers at most 6 MB)' }),
  model_url: z.string().optional().meta({ description: 'A presigned GET for model.onnx (S3 deployments); verify it against sha256' }),
  model_url_expires_in: z.number().int().optional().meta({ description: 'Seconds model_url stays valid' }),
});

export const uploadResponseSchema = z.strictObject({
  upload_id: z.string().meta({ description: 'Name it in the publish call (POST /api/v1/models/{name}/versions)' }),
  method: z.literal('PUT'),
  url: z.string().meta({ description: 'A presigned S3 URL: PUT model.onnx there, with the headers given' }),
  headers: z.record(z.string(), z.string()),
  expires_in: z.number().int(),
  max_bytes: z.number().int(),
});

const importCountsSchema = z.strictObject({
  stored: z.number().int(),
  duplicate: z.number().int(),
  expired: z.number().int().meta({ description: "Past this deployment's retention when imported: not written (it would be unreadable, then deleted)" }),
});
export const auditImportResponseSchema = z.strictObject({ audit: importCountsSchema, alerts: importCountsSchema });

export const publishResponseSchema = z.strictObject({ name: z.string(), version: z.string(), sha256: z.string(), published: z.boolean(), already_published: z.boolean() });
export const routingResponseSchema = z.strictObject({ name: z.string(), routing: storedRoutingSchema });

export const variantStatsSchema = z.strictObject({
  version: z.string(),
  role: z.enum(['active', 'variant', 'shadow', 'inactive']),
  weight: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
  rows: z.number().int(),
  mean_latency_ms: z.number().nullable(),
  p95_latency_ms: z.number().nullable(),
  latency_histogram: z.array(z.strictObject({ le_ms: z.number().nullable(), count: z.number().int() })),
  mean_prediction: z.number().nullable(),
  cache_hit_rate: z.number(),
  alerts: z.number().int(),
});
export const modelStatsResponseSchema = z.strictObject({ name: z.string(), routing: storedRoutingSchema, variants: z.array(variantStatsSchema) });

export const alertEventSchema = z.strictObject({
  id: z.string(),
  time: z.string(),
  kind: z.enum(['alert', 'resolved']),
  model: z.string(),
  version: z.string(),
  rule: z.enum(['below_min', 'above_max']),
  severity: z.enum(['warning', 'critical', 'info']),
  principal: z.string(),
  plant: z.string().optional(),
  inputs: z.record(z.string(), z.number()),
  prediction: z.number(),
  interval: z.tuple([z.number(), z.number()]).nullable(),
  thresholds: z.strictObject({ min: z.number(), max: z.number() }),
  requestId: z.string(),
  imported: importMarkSchema.optional(),
});
/** One window in which a plant's alert cap held alerts back (functions/core/alerts/cap.ts). */
export const heldBackWindowSchema = z.strictObject({
  plant: z.string().nullable(),
  start: z.string(),
  end: z.string(),
  current: z.boolean(),
  cap: z.number().int(),
  sent: z.number().int(),
  held: z.number().int(),
  models: z.array(z.string()),
});
/** What the alert cap held back: the caller's plant's windows (a platform principal's: every plant's), newest first; null without a cap. */
export const heldBackSchema = z.strictObject({ window_seconds: z.number().int(), total_held: z.number().int(), windows: z.array(heldBackWindowSchema) });
export const alertsResponseSchema = z.strictObject({ alerts: z.array(alertEventSchema), held_back: heldBackSchema.nullable() });

export const alertsQuerySchema = z.strictObject({ model: z.string().max(63).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) });

/** The OpenAPI document itself: checked by a real validator in the tests, typed loosely here. */
export const openApiDocumentSchema = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

// ---------------------------------------------------------------------------------------------------------
// The contracts

export { defaultBodyBytes, largeBodyBytes, publicBodyBytes } from './body-limits.js';

const modelBatchSchema = z.strictObject({ inputs: z.array(featureRowSchema).max(maxBatchSize).meta({ description: `At most ${maxBatchSize} rows; each is validated on its own` }) });

export const contracts = {
  'GET /health': {
    response: healthResponseSchema,
    responses: { 503: { description: 'No usable model: status unhealthy', schema: healthResponseSchema } },
  },
  'GET /.well-known/openid-configuration': { response: openIdConfigurationSchema },
  'GET /.well-known/jwks.json': { response: jwksSchema },
  'POST /api/v1/auth/login': { body: loginRequestSchema, maxBodyBytes: publicBodyBytes, response: loginResponseSchema },
  'POST /api/v1/auth/token': {
    body: tokenRequestSchema,
    form: true,
    maxBodyBytes: publicBodyBytes,
    response: tokenResponseSchema,
    description: 'grant_type=password (username, password) or client_credentials (client_secret = an API key); scope narrows the granted scopes.',
  },
  'POST /api/v1/twin/predict': {
    modelBody: featureRowSchema,
    response: predictResponseSchema,
    description: 'Add "explain": true beside the features for their contributions (explanation; docs/insight.md).',
  },
  'POST /api/v1/twin/batch': {
    maxBodyBytes: largeBodyBytes,
    modelBody: modelBatchSchema,
    response: batchResponseSchema,
    description: `Rows are validated one by one: invalid rows are reported in errors by index, valid ones predicted in one run. More than ${maxBatchSize} rows: 400 BATCH_TOO_LARGE.`,
  },
  'GET /api/v1/twin/status': { response: statusResponseSchema, description: "model_info: the principal's default model; models: every model the principal may use (by its active version)." },
  'POST /predict': { modelBody: featureRowSchema, response: microservicePredictResponseSchema },
  'GET /model/info': { response: modelInfoWithModelsSchema, description: "The principal's default model; models: every model the principal may use." },
  'GET /metrics': { response: metricsResponseSchema, description: "Counts of the principal's default model; models: the same per model the principal may use." },
  'POST /api/v1/models/{name}/predict': {
    modelBody: featureRowSchema,
    response: predictResponseSchema,
    description: "One prediction with this model (its routed version: A/B split, shadow), in the shape of /api/v1/twin/predict. The row holds this model's features (GET /model/info lists each model's).",
  },
  'POST /api/v1/models/{name}/versions/{version}/predict': {
    modelBody: featureRowSchema,
    response: predictResponseSchema,
    description: 'One prediction with exactly this version (no routing), in the shape of /api/v1/twin/predict.',
  },
  'POST /api/v1/models/{name}/batch': {
    maxBodyBytes: largeBodyBytes,
    modelBody: modelBatchSchema,
    response: batchResponseSchema,
    description: `As /api/v1/twin/batch, with this model. More than ${maxBatchSize} rows: 400 BATCH_TOO_LARGE.`,
  },
  'POST /api/v1/keys': {
    body: createKeyRequestSchema,
    response: keyWithSecretSchema,
    status: 201,
    description: `A key may carry only scopes its owner's role grants, and never keys:manage or users:manage (grantable: ${keyGrantableScopes.join(', ')}).`,
  },
  'GET /api/v1/keys': { response: z.strictObject({ keys: z.array(keyViewSchema) }) },
  'DELETE /api/v1/keys/{id}': { response: keyViewSchema },
  'POST /api/v1/keys/{id}/rotate': { response: keyWithSecretSchema },
  'POST /api/v1/users': { body: createUserRequestSchema, response: userViewSchema, status: 201 },
  'GET /api/v1/users': { response: z.strictObject({ users: z.array(userViewSchema) }) },
  'PATCH /api/v1/users/{username}': { body: updateUserRequestSchema, response: userViewSchema },
  'POST /api/v1/users/{username}/password': {
    body: setPasswordRequestSchema,
    response: z.strictObject({ username: z.string(), updated: z.literal(true) }),
    description: 'Any user may change its own password with current_password; an admin sets others’.',
  },
  'GET /api/v1/audit': { query: auditQuerySchema, response: auditResponseSchema, description: 'Newest first; at most 31 days between from and to (default: the last 24 h).' },
  'POST /api/v1/audit/import': {
    maxBodyBytes: largeBodyBytes,
    body: auditImportSchema,
    response: auditImportResponseSchema,
    description: 'Records are keyed by principal, time and request id (alerts by id): importing the same export twice stores nothing twice. Records of plants the caller cannot see are refused whole.',
  },
  'GET /api/v1/models': { response: modelListResponseSchema },
  'GET /api/v1/models/{name}/versions': { response: modelVersionsResponseSchema },
  'POST /api/v1/models/{name}/versions': {
    maxBodyBytes: largeBodyBytes,
    body: publishRequestSchema,
    response: publishResponseSchema,
    status: 201,
    responses: { 200: { description: 'The same package was published before (already_published)', schema: publishResponseSchema } },
    description: 'The manifest and model.onnx (base64, or upload_id after POST .../uploads); checked (schema, digest, a trial run) before anything is stored. Versions are immutable: different bytes for a published version are 409.',
  },
  'POST /api/v1/models/{name}/activate': { body: activateRequestSchema, response: routingResponseSchema },
  'POST /api/v1/models/{name}/rollback': { response: routingResponseSchema },
  'PUT /api/v1/models/{name}/routing': { body: routingRequestSchema, response: routingResponseSchema },
  'GET /api/v1/models/{name}/versions/{version}/package': { response: packageDownloadResponseSchema },
  'POST /api/v1/models/{name}/uploads': {
    response: uploadResponseSchema,
    status: 201,
    description: 'A presigned S3 PUT for a model.onnx too large to publish inline (Lambda takes at most 6 MB per request); then publish with upload_id.',
  },
  'GET /api/v1/models/{name}/stats': { response: modelStatsResponseSchema },
  'POST /api/v1/models/{name}/feedback': { body: feedbackRequestSchema, maxBodyBytes: largeBodyBytes, response: feedbackResponseSchema },
  'GET /api/v1/models/{name}/quality': { response: qualityResponseSchema },
  'PUT /api/v1/models/{name}/versions/{version}/calibration': { body: calibrationRequestSchema, maxBodyBytes: largeBodyBytes, response: calibrationResponseSchema },
  'GET /api/v1/alerts': { query: alertsQuerySchema, response: alertsResponseSchema },
  'GET /openapi.json': { response: openApiDocumentSchema, description: 'This document (OpenAPI 3.1).' },
  'GET /docs': { response: z.string(), contentType: 'text/html', description: 'This document, rendered as one HTML page.' },
  'GET /v2/health/live': { response: oipServerLiveSchema, errors: 'oip' },
  'GET /v2/health/ready': {
    response: oipServerReadySchema,
    errors: 'oip',
    responses: { 503: { description: 'Not ready: the default model cannot serve', schema: oipServerReadySchema } },
  },
  'GET /v2': { response: oipServerMetadataSchema, errors: 'oip' },
  'GET /v2/models/{name}': { response: oipModelMetadataSchema, errors: 'oip' },
  'GET /v2/models/{name}/versions/{version}': { response: oipModelMetadataSchema, errors: 'oip' },
  'GET /v2/models/{name}/ready': {
    response: oipModelReadySchema,
    errors: 'oip',
    responses: { 503: { description: 'The model exists but cannot be loaded', schema: oipModelReadySchema } },
  },
  'GET /v2/models/{name}/versions/{version}/ready': {
    response: oipModelReadySchema,
    errors: 'oip',
    responses: { 503: { description: 'The version exists but cannot be loaded', schema: oipModelReadySchema } },
  },
  'POST /v2/models/{name}/infer': {
    maxBodyBytes: largeBodyBytes,
    body: oipInferRequestSchema,
    response: oipInferResponseSchema,
    errors: 'oip',
    description: `One FP32 input [N, features] (N ≤ ${maxBatchSize}), row-major; outputs prediction, interval_lower, interval_upper [N] (FP64) and the ensemble's members [N, members] (FP32). Without a version in the path, the model's routing picks one (A/B split, sticky assignment, shadow copy).`,
  },
  'POST /v2/models/{name}/versions/{version}/infer': {
    maxBodyBytes: largeBodyBytes,
    body: oipInferRequestSchema,
    response: oipInferResponseSchema,
    errors: 'oip',
    description: 'As /v2/models/{name}/infer, with exactly this published version (active or not).',
  },
  ...insightContracts,
} as const satisfies Record<string, RouteContract>;

export type RouteKey = keyof typeof contracts;
export type Contracts = typeof contracts;

/** The contract of a route key (throws for a key without one: a route must not exist undocumented). */
export function contractOf(key: string): RouteContract {
  const contract = (contracts as Record<string, RouteContract>)[key];
  if (!contract) throw new Error(`no contract for route ${key} in functions/contracts.ts`);
  return contract;
}

/** Path parameters, documented by the schema the core checks them with. */
export const pathParameterSchemas: Record<string, z.ZodType> = {
  name: modelNameSchema,
  version: semverSchema,
  id: z.string().meta({ description: 'The key id (the part after tw_ in the key prefix)' }),
  username: z.string(),
};

/** The scopes tokens may carry, for the security scheme's documentation. */
export const allScopes = scopes;

// ---------------------------------------------------------------------------------------------------------
// Compile-time drift checks: what the core's TypeScript types say a route answers must satisfy the schema.

type Satisfies<T extends U, U> = T;
export type ContractTypeChecks = [
  Satisfies<PredictResponse, z.output<typeof predictResponseSchema>>,
  Satisfies<BatchResponse, z.output<typeof batchResponseSchema>>,
  Satisfies<ModelInfo, z.output<typeof modelInfoSchema>>,
  Satisfies<LoginResponse, z.output<typeof loginResponseSchema>>,
  Satisfies<TokenResponse, z.output<typeof tokenResponseSchema>>,
  Satisfies<KeyView, z.output<typeof keyViewSchema>>,
  Satisfies<UserView, z.output<typeof userViewSchema>>,
  Satisfies<AuditRecord, z.output<typeof auditRecordSchema>>,
  Satisfies<VariantStats, z.output<typeof variantStatsSchema>>,
  Satisfies<AlertEvent, z.output<typeof alertEventSchema>>,
  Satisfies<HeldBack, z.output<typeof heldBackSchema>>,
  Satisfies<AuditImportResult, z.output<typeof auditImportResponseSchema>>,
];
