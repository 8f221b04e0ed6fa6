import * as z from 'zod';
import { oneShot } from './core/manifest.js';

/**
 * The environment contract between the stacks (and the local twin) and the functions. `process.env` is read
 * here and nowhere else; the CDK stacks and the local twin import {@link envNames} so both sides always agree.
 */
export const envNames = {
  usersTable: 'TWIN_USERS_TABLE',
  apiKeysTable: 'TWIN_API_KEYS_TABLE',
  rateCountersTable: 'TWIN_RATE_COUNTERS_TABLE',
  auditTable: 'TWIN_AUDIT_TABLE',
  alertStateTable: 'TWIN_ALERT_STATE_TABLE',
  statsTable: 'TWIN_STATS_TABLE',
  /** Served rows kept for feedback (model quality). */
  predictionsTable: 'TWIN_PREDICTIONS_TABLE',
  /** Error aggregates and recalibration state (model quality). */
  qualityTable: 'TWIN_QUALITY_TABLE',
  /** Online recalibration of interval widths from feedback: on (default) or off. */
  qualityRecalibration: 'TWIN_QUALITY_RECALIBRATION',
  /** Days a served row is kept for feedback. */
  predictionRetentionDays: 'TWIN_PREDICTION_RETENTION_DAYS',
  modelBucket: 'TWIN_MODEL_BUCKET',
  /** Edge mode: model packages from this directory instead of S3. */
  modelDir: 'TWIN_MODEL_DIR',
  /** The model the chapter's routes (/api/v1/twin/*, /predict, /model/info) serve. */
  defaultModel: 'TWIN_DEFAULT_MODEL',
  /** JSON: per-plant defaults that replace it for that plant's principals, e.g. {"plant-b":"column-purity"}. */
  plantDefaultModels: 'TWIN_PLANT_DEFAULT_MODELS',
  issuer: 'TWIN_ISSUER',
  audience: 'TWIN_AUDIENCE',
  signingKeyFile: 'TWIN_SIGNING_KEY_FILE',
  signingKmsKeyIds: 'TWIN_SIGNING_KMS_KEY_IDS',
  userTokenTtlSeconds: 'TWIN_USER_TOKEN_TTL_SECONDS',
  keyTokenTtlSeconds: 'TWIN_KEY_TOKEN_TTL_SECONDS',
  keyRotationGraceSeconds: 'TWIN_KEY_ROTATION_GRACE_SECONDS',
  rateLimitPerMinute: 'TWIN_RATE_LIMIT_PER_MINUTE',
  loginLimitPerUsername: 'TWIN_LOGIN_LIMIT_PER_USERNAME',
  loginLimitPerSource: 'TWIN_LOGIN_LIMIT_PER_SOURCE',
  auditRetentionDays: 'TWIN_AUDIT_RETENTION_DAYS',
  cacheSize: 'TWIN_CACHE_SIZE',
  alertCooldownSeconds: 'TWIN_ALERT_COOLDOWN_SECONDS',
  alertOn: 'TWIN_ALERT_ON',
  alertThresholds: 'TWIN_ALERT_THRESHOLDS',
  /** Alerts one plant may be sent per cap window (docs/models.md, "Alert cap"). */
  alertCapPerPlant: 'TWIN_ALERT_CAP_PER_PLANT',
  /** Alerts about principals without a plant (the platform's own) per cap window. */
  alertCapPlatform: 'TWIN_ALERT_CAP_PLATFORM',
  alertCapWindowSeconds: 'TWIN_ALERT_CAP_WINDOW_SECONDS',
  routingCacheSeconds: 'TWIN_ROUTING_CACHE_SECONDS',
  /** How long a principal's state (active, role, plant, key revoked) may be reused: the revocation bound. */
  principalCacheSeconds: 'TWIN_PRINCIPAL_CACHE_SECONDS',
  s3ForcePathStyle: 'TWIN_S3_FORCE_PATH_STYLE',
  serviceName: 'TWIN_SERVICE_NAME',
  environment: 'TWIN_ENVIRONMENT',
  /**
   * `true` where one process serves many requests at once (the local and edge twin): the audit log and the
   * served-rows log share one group-commit writer, so their items go together in one BatchWriteItem. Unset in
   * Lambda (one request per container): each write alone, one PutItem, no batch permission needed.
   */
  sharedBatchWrites: 'TWIN_SHARED_BATCH_WRITES',
  /**
   * How many rate-limit takes a process may count in the store ahead of its requests (functions/adapters/
   * dynamodb-rate-limiter.ts, `RateReserveOptions`): 0 in Lambda (one request per container); the local and
   * edge twin, one process serving every request, set it.
   */
  rateReserveAhead: 'TWIN_RATE_RESERVE_AHEAD',
  /** The anomaly-alert SNS topic (set only where the function may publish: infra/functions.ts `alerts`). */
  alertsTopicArn: 'TWIN_ALERTS_TOPIC_ARN',
  /** Read by Powertools Metrics itself (not by {@link configSchema}): one CloudWatch namespace per environment. */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  awsRegion: 'AWS_REGION',
} as const;

const booleanString = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const positiveInt = z.coerce.number().int().positive();

// The model-name rule of functions/core/manifest.ts, kept here so this module stays free of the core.
const modelName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a model name (lower-case letters, digits, dashes)');

const jsonString = z
  .string()
  .default('{}')
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
  });

export const configSchema = z.object({
  [envNames.usersTable]: z.string().min(1),
  [envNames.apiKeysTable]: z.string().min(1),
  [envNames.rateCountersTable]: z.string().min(1),
  [envNames.auditTable]: z.string().min(1),
  [envNames.alertStateTable]: z.string().min(1),
  [envNames.statsTable]: z.string().min(1),
  [envNames.predictionsTable]: z.string().min(1),
  [envNames.qualityTable]: z.string().min(1),
  [envNames.qualityRecalibration]: z.enum(['on', 'off']).default('on'),
  [envNames.predictionRetentionDays]: positiveInt.max(365).default(30),
  [envNames.modelBucket]: z.string().min(3).optional(),
  [envNames.modelDir]: z.string().min(1).optional(),
  [envNames.defaultModel]: modelName.default('reactor-yield'),
  [envNames.plantDefaultModels]: jsonString.pipe(z.record(z.string().min(1).max(64), modelName)),
  [envNames.issuer]: z.url(),
  [envNames.audience]: z.string().min(1),
  [envNames.signingKeyFile]: z.string().min(1).optional(),
  [envNames.signingKmsKeyIds]: z.string().min(1).optional(),
  [envNames.userTokenTtlSeconds]: positiveInt.default(3600),
  [envNames.keyTokenTtlSeconds]: positiveInt.default(900),
  [envNames.keyRotationGraceSeconds]: z.coerce.number().int().nonnegative().default(86_400),
  [envNames.rateLimitPerMinute]: positiveInt.default(600),
  [envNames.loginLimitPerUsername]: positiveInt.default(10),
  [envNames.loginLimitPerSource]: positiveInt.default(30),
  [envNames.auditRetentionDays]: positiveInt.default(90),
  [envNames.cacheSize]: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  [envNames.alertCooldownSeconds]: z.coerce.number().int().min(0).default(900),
  [envNames.alertOn]: z.enum(['prediction', 'interval']).default('prediction'),
  /** JSON: per-model alert bands that replace the manifests', e.g. {"reactor-yield":{"min":72,"max":95}}. */
  [envNames.alertThresholds]: jsonString.pipe(z.record(z.string(), z.object({ min: z.number(), max: z.number() }).refine((b) => b.min < b.max, 'min must be below max'))),
  [envNames.alertCapPerPlant]: z.coerce.number().int().min(1).max(100_000).default(50),
  [envNames.alertCapPlatform]: z.coerce.number().int().min(1).max(100_000).default(100),
  [envNames.alertCapWindowSeconds]: z.coerce.number().int().min(60).max(86_400).default(900),
  [envNames.routingCacheSeconds]: z.coerce.number().nonnegative().default(10),
  /** At most 30 s (docs/security.md, "Revocation"); fractions allowed (tests use a short bound). */
  [envNames.principalCacheSeconds]: z.coerce.number().min(0).max(30).default(10),
  [envNames.s3ForcePathStyle]: booleanString.default(false),
  [envNames.serviceName]: z.string().min(1).default('digital-twin'),
  [envNames.environment]: z.string().min(1).default('local'),
  [envNames.sharedBatchWrites]: booleanString.default(false),
  [envNames.rateReserveAhead]: z.coerce.number().int().min(0).max(1000).default(0),
  [envNames.alertsTopicArn]: z.string().startsWith('arn:').optional(),
  [envNames.awsRegion]: z.string().min(1).default('us-east-1'),
});

export interface Config {
  usersTable: string;
  apiKeysTable: string;
  rateCountersTable: string;
  auditTable: string;
  alertStateTable: string;
  statsTable: string;
  predictionsTable: string;
  qualityTable: string;
  qualityRecalibration: boolean;
  predictionRetentionDays: number;
  /** Where model packages live: the S3 bucket (cloud), or a directory (edge). */
  models: { kind: 's3'; bucket: string } | { kind: 'dir'; path: string };
  /** The model the chapter's routes serve: the deployment's default. */
  defaultModel: string;
  /** Per plant, a default that replaces {@link defaultModel} for its principals. */
  plantDefaultModels: Record<string, string>;
  issuer: string;
  audience: string;
  /** Where tokens are signed: a local key file, or KMS keys (first signs, all are published). */
  signing: { kind: 'file'; path: string } | { kind: 'kms'; keyIds: string[] };
  userTokenTtlSeconds: number;
  keyTokenTtlSeconds: number;
  keyRotationGraceSeconds: number;
  /** Default requests per minute per principal; an API key may carry its own. */
  rateLimitPerMinute: number;
  /** Login attempts per minute per username and per source IP (fail closed). */
  loginLimitPerUsername: number;
  loginLimitPerSource: number;
  auditRetentionDays: number;
  /** Per-container prediction cache entries (0 disables). */
  cacheSize: number;
  alertCooldownSeconds: number;
  alertOn: 'prediction' | 'interval';
  alertThresholds: Record<string, { min: number; max: number }>;
  /** Where anomaly alerts are published; without it alerts are recorded but not sent. */
  alertsTopicArn: string | undefined;
  /** The per-plant bound on alerts sent per window (functions/core/alerts/cap.ts). */
  alertCap: { perPlant: number; platform: number; windowSeconds: number };
  routingCacheSeconds: number;
  /** The revocation bound: how long a principal's state may be served from a container's cache (≤ 30 s). */
  principalCacheSeconds: number;
  s3ForcePathStyle: boolean;
  serviceName: string;
  environment: string;
  /** The audit and served-rows logs share one BatchWriteItem writer (a process serving many requests at once). */
  sharedBatchWrites: boolean;
  /** Rate-limit takes counted ahead per counter (0: every take is its own write, as in Lambda). */
  rateReserveAhead: number;
  region: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parse the environment once per cold start; a missing or bad variable fails with its name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Parsed once per container: zod's compiled fast path (jitless off) would cost more to generate than it saves.
  const parsed = configSchema.safeParse(env, oneShot);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid environment: ${problems}`);
  }
  const e = parsed.data;
  const modelDir = e[envNames.modelDir];
  const modelBucket = e[envNames.modelBucket];
  if (!modelDir && !modelBucket) {
    throw new ConfigError(`Invalid environment: set ${envNames.modelBucket} (cloud) or ${envNames.modelDir} (edge)`);
  }
  const keyFile = e[envNames.signingKeyFile];
  const kmsKeyIds = e[envNames.signingKmsKeyIds];
  if (!keyFile && !kmsKeyIds) {
    throw new ConfigError(`Invalid environment: set ${envNames.signingKmsKeyIds} (AWS) or ${envNames.signingKeyFile} (local)`);
  }
  return {
    usersTable: e[envNames.usersTable],
    apiKeysTable: e[envNames.apiKeysTable],
    rateCountersTable: e[envNames.rateCountersTable],
    auditTable: e[envNames.auditTable],
    alertStateTable: e[envNames.alertStateTable],
    statsTable: e[envNames.statsTable],
    predictionsTable: e[envNames.predictionsTable],
    qualityTable: e[envNames.qualityTable],
    qualityRecalibration: e[envNames.qualityRecalibration] === 'on',
    predictionRetentionDays: e[envNames.predictionRetentionDays],
    models: modelDir ? { kind: 'dir', path: modelDir } : { kind: 's3', bucket: modelBucket! },
    defaultModel: e[envNames.defaultModel],
    plantDefaultModels: e[envNames.plantDefaultModels],
    issuer: e[envNames.issuer],
    audience: e[envNames.audience],
    signing: kmsKeyIds ? { kind: 'kms', keyIds: kmsKeyIds.split(',').map((k) => k.trim()).filter(Boolean) } : { kind: 'file', path: keyFile! },
    userTokenTtlSeconds: e[envNames.userTokenTtlSeconds],
    keyTokenTtlSeconds: e[envNames.keyTokenTtlSeconds],
    keyRotationGraceSeconds: e[envNames.keyRotationGraceSeconds],
    rateLimitPerMinute: e[envNames.rateLimitPerMinute],
    loginLimitPerUsername: e[envNames.loginLimitPerUsername],
    loginLimitPerSource: e[envNames.loginLimitPerSource],
    auditRetentionDays: e[envNames.auditRetentionDays],
    cacheSize: e[envNames.cacheSize],
    alertCooldownSeconds: e[envNames.alertCooldownSeconds],
    alertOn: e[envNames.alertOn],
    alertThresholds: e[envNames.alertThresholds],
    alertsTopicArn: e[envNames.alertsTopicArn],
    alertCap: { perPlant: e[envNames.alertCapPerPlant], platform: e[envNames.alertCapPlatform], windowSeconds: e[envNames.alertCapWindowSeconds] },
    routingCacheSeconds: e[envNames.routingCacheSeconds],
    principalCacheSeconds: e[envNames.principalCacheSeconds],
    s3ForcePathStyle: e[envNames.s3ForcePathStyle],
    serviceName: e[envNames.serviceName],
    environment: e[envNames.environment],
    sharedBatchWrites: e[envNames.sharedBatchWrites],
    rateReserveAhead: e[envNames.rateReserveAhead],
    region: e[envNames.awsRegion],
  };
}
