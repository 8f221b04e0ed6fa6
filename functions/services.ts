import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAlertCapStore } from './adapters/dynamodb-alert-cap-store.js';
import { DynamoDbAlertStateStore } from './adapters/dynamodb-alert-state-store.js';
import { DynamoDbApiKeyStore } from './adapters/dynamodb-api-key-store.js';
import { BatchWriter } from './adapters/batch-put.js';
import { DynamoDbAuditLog } from './adapters/dynamodb-audit-log.js';
import { DynamoDbRateLimiter } from './adapters/dynamodb-rate-limiter.js';
import { DynamoDbStatsStore } from './adapters/dynamodb-stats-store.js';
import { DynamoDbUserStore } from './adapters/dynamodb-user-store.js';
import { KeyFileTokenSigner } from './adapters/key-file-signing-keys.js';
import { KmsTokenSigner } from './adapters/kms-token-signer.js';
import { PowertoolsTelemetry } from './adapters/powertools-telemetry.js';
import { FileModelStore } from './adapters/file-model-store.js';
import { S3ModelStore } from './adapters/s3-model-store.js';
import { SnsAlertPublisher } from './adapters/sns-alert-publisher.js';
import { loadConfig, type Config } from './config.js';
import { apiVersion } from './contracts.js';
import { AlertCap } from './core/alerts/cap.js';
import { AlertService } from './core/alerts/service.js';
import { AuditService } from './core/audit/service.js';
import { KeyService } from './core/auth/keys-service.js';
import { PrincipalResolver } from './core/auth/principal-state.js';
import { AuthService } from './core/auth/service.js';
import { TokenIssuer, type TokenSigner } from './core/auth/tokens.js';
import { UserService } from './core/auth/users-service.js';
import type { AuditLog, ModelStore } from './core/ports.js';
import { ModelService } from './core/models/service.js';
import { PrincipalRateLimit } from './core/rate-limit.js';
import { InsightService } from './core/insight/service.js';
import { OipService } from './core/twin/oip.js';
import { ModelRegistry } from './core/twin/registry.js';
import { TwinService } from './core/twin/service.js';
import { logger } from './observability.js';
import { DynamoDbPredictionLog } from './adapters/dynamodb-prediction-log.js';
import { DynamoDbQualityStore } from './adapters/dynamodb-quality-store.js';
import { QualityAlerts } from './core/quality/alerts.js';
import { QualityService } from './core/quality/service.js';

export interface Services {
  config: Config;
  twin: TwinService;
  /** The Open Inference Protocol (KServe V2) on top of the twin. */
  oip: OipService;
  /** Explanations, what-if sweeps, setpoint optimizer (docs/insight.md). */
  insight: InsightService;
  auth: AuthService;
  keys: KeyService;
  /** The current state of a token's principal (active, role, plant, key revoked), per request. */
  principals: PrincipalResolver;
  users: UserService;
  auditQueries: AuditService;
  audit: AuditLog;
  rateLimit: PrincipalRateLimit;
  signer: TokenSigner;
  registry: ModelRegistry;
  models: ModelService;
  alerts: AlertService;
  /** The per-plant bound on alerts per window; the schedule sends its summaries. */
  alertCap: AlertCap;
  quality: QualityService;
  dispose(): Promise<void>;
}

/** The clock alerts, their cap, model quality and the rate windows read (Date.now; the local twin's tests set their own). */
let servicesClock: () => number = () => Date.now();

/** Sets the clock the next {@link createServices} gives alerts, quality and the rate limiter; none puts Date.now back. */
export function setServicesClock(now?: () => number): void {
  servicesClock = now ?? (() => Date.now());
}

/** Builds every client and service once per cold start. The only place adapters are chosen. */
export function createServices(config: Config, now: () => number = servicesClock): Services {
  // AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 are honoured by the SDK itself (the local twin sets them).
  const dynamo = new DynamoDBClient({ region: config.region });
  const db = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  const s3 = new S3Client({ region: config.region, forcePathStyle: config.s3ForcePathStyle });
  const kms = config.signing.kind === 'kms' ? new KMSClient({ region: config.region }) : undefined;
  const signer: TokenSigner =
    config.signing.kind === 'kms' ? new KmsTokenSigner(kms!, config.signing.keyIds) : new KeyFileTokenSigner(config.signing.path);

  const sns = config.alertsTopicArn ? new SNSClient({ region: config.region }) : undefined;
  const telemetry = new PowertoolsTelemetry();
  const modelStore: ModelStore = config.models.kind === 'dir' ? new FileModelStore(config.models.path) : new S3ModelStore(s3, config.models.bucket);
  const registry = new ModelRegistry(modelStore, { routingCacheMs: config.routingCacheSeconds * 1000, telemetry });
  const stats = new DynamoDbStatsStore(db, config.statsTable);
  const alertState = new DynamoDbAlertStateStore(db, config.alertStateTable, { eventRetentionDays: 30, now });
  const alertPublisher = sns && config.alertsTopicArn ? new SnsAlertPublisher(sns, config.alertsTopicArn) : undefined;
  const alertCap = new AlertCap(new DynamoDbAlertCapStore(db, config.alertStateTable), alertPublisher, {
    ...config.alertCap,
    now,
    telemetry,
    log: (message, fields) => logger.warn(message, fields),
    onPublishError: (error) => logger.error('alert cap: a count or notice failed', { error: error as Error }),
  });
  const alerts = new AlertService(
    alertState,
    alertPublisher,
    {
      cap: alertCap,
      now,
      cooldownSeconds: config.alertCooldownSeconds,
      on: config.alertOn,
      overrides: config.alertThresholds,
      telemetry,
      onPublishError: (error) => logger.error('alert publish failed; will retry on the next breach', { error: error as Error }),
    },
  );
  const users = new DynamoDbUserStore(db, config.usersTable);
  const limiter = new DynamoDbRateLimiter(db, config.rateCountersTable, now);
  // A process serving many requests at once carries a request's audit record and served rows in one call.
  const writer = config.sharedBatchWrites ? new BatchWriter(db) : undefined;
  const audit = new DynamoDbAuditLog(db, config.auditTable, { retentionDays: config.auditRetentionDays, ...(writer ? { writer } : {}) });
  const issuer = new TokenIssuer(signer, { issuer: config.issuer, audience: config.audience });
  const keyStore = new DynamoDbApiKeyStore(db, config.apiKeysTable);
  const keys = new KeyService(keyStore, users, { rotationGraceSeconds: config.keyRotationGraceSeconds, ownerLimitPerMinute: config.rateLimitPerMinute });
  const principals = new PrincipalResolver(users, keyStore, { cacheMs: config.principalCacheSeconds * 1000, ownerLimitPerMinute: config.rateLimitPerMinute });

  const quality = new QualityService(
    new DynamoDbPredictionLog(db, config.predictionsTable, writer ? { writer } : {}),
    new DynamoDbQualityStore(db, config.qualityTable),
    registry,
    new QualityAlerts(alertState, alertPublisher, {
      cap: alertCap,
      cooldownSeconds: config.alertCooldownSeconds,
      now,
      telemetry,
      onPublishError: (error) => logger.error('quality alert publish failed; will retry on the next breach', { error: error as Error }),
    }),
    {
      now,
      retentionDays: config.predictionRetentionDays,
      recalibration: config.qualityRecalibration,
      telemetry,
      onError: (error) => logger.warn('model-quality bookkeeping failed; request served', { error: error as Error }),
    },
  );
  const rateLimit = new PrincipalRateLimit(limiter, {
    defaultPerMinute: config.rateLimitPerMinute,
    onStoreError: (error) => logger.warn('rate-limit store unavailable; request allowed (fail open)', { error: error as Error }),
  });
  const twin = new TwinService(registry, stats, alerts, {
    quality,
    serviceName: config.serviceName,
    defaultModel: config.defaultModel,
    plantDefaultModels: config.plantDefaultModels,
    // Process start: the container's cold start in Lambda, the local twin's start locally.
    startedAt: Math.round(performance.timeOrigin),
    cacheSize: config.cacheSize,
    telemetry,
    onStatsError: (error) => logger.warn('stats counters not written; prediction served', { error: error as Error }),
    rateLimit,
  });

  return {
    config,
    twin,
    oip: new OipService(twin, registry, modelStore, { serverName: 'twinserve', serverVersion: apiVersion, defaultModel: config.defaultModel }),
    insight: new InsightService(twin),
    models: new ModelService(modelStore, registry, stats, alerts, modelStore instanceof S3ModelStore ? { transfer: modelStore } : {}),
    alerts,
    alertCap,
    quality,
    auth: new AuthService(users, keys, issuer, limiter, {
      userTokenTtlSeconds: config.userTokenTtlSeconds,
      keyTokenTtlSeconds: config.keyTokenTtlSeconds,
      loginLimitPerUsername: config.loginLimitPerUsername,
      loginLimitPerSource: config.loginLimitPerSource,
    }),
    keys,
    principals,
    users: new UserService(users),
    auditQueries: new AuditService(audit, { directory: { users, keys: keyStore } }, alertState),
    audit,
    rateLimit,
    signer,
    registry,
    async dispose() {
      await registry.release();
      dynamo.destroy();
      s3.destroy();
      kms?.destroy();
      sns?.destroy();
    },
  };
}

let services: Services | undefined;

/** The container's services, created on first use from the environment. */
export function getServices(): Services {
  services ??= createServices(loadConfig());
  return services;
}

/** Releases sessions and clients (local twin shutdown, tests); the next call to getServices starts afresh. */
export async function disposeServices(): Promise<void> {
  const current = services;
  services = undefined;
  await current?.dispose();
}
