import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDbAlertCapStore } from '../adapters/dynamodb-alert-cap-store.js';
import { DynamoDbPredictionLog } from '../adapters/dynamodb-prediction-log.js';
import { DynamoDbQualityStore } from '../adapters/dynamodb-quality-store.js';
import { DynamoDbStatsStore } from '../adapters/dynamodb-stats-store.js';
import { SnsAlertPublisher } from '../adapters/sns-alert-publisher.js';
import { AlertCap } from '../core/alerts/cap.js';
import { AlertService } from '../core/alerts/service.js';
import type { AlertPublisher } from '../core/ports.js';
import { QualityAlerts } from '../core/quality/alerts.js';
import { QualityService } from '../core/quality/service.js';
import { ModelRegistry } from '../core/twin/registry.js';
import { TwinService } from '../core/twin/service.js';
import { logger } from '../observability.js';
import type { Services } from '../services.js';
import { alertState } from './alert-state.js';
import { modelStore } from './model-store.js';
import { dynamoDb, s3, sharedWriter, telemetry } from './clients.js';
import { rateLimit } from './request.js';

// Serving: models, their routing and sessions, the twin's use cases, and what a prediction writes and
// checks after its work (stats, alerts and their cap, model quality).


export function registry(services: Services): ModelRegistry {
  const created = new ModelRegistry(services.get(modelStore), { routingCacheMs: services.config.routingCacheSeconds * 1000, now: services.now, telemetry: services.get(telemetry) });
  services.onDispose(() => created.release());
  return created;
}

export function statsStore(services: Services): DynamoDbStatsStore {
  return new DynamoDbStatsStore(services.get(dynamoDb), services.config.statsTable);
}

function snsClient(services: Services): SNSClient {
  const client = new SNSClient({ region: services.config.region });
  services.onDispose(() => client.destroy());
  return client;
}

/**
 * The anomaly-alert topic, where one is configured. Its SNS client is built on the first publish: most
 * containers never send an alert, and none needs the client for its first prediction.
 */
export function alertPublisher(services: Services): AlertPublisher | undefined {
  const topic = services.config.alertsTopicArn;
  if (!topic) return undefined;
  let publisher: SnsAlertPublisher | undefined;
  return { publish: (message) => (publisher ??= new SnsAlertPublisher(services.get(snsClient), topic)).publish(message) };
}

/** The per-plant bound on alerts per window; the quality schedule sends its summaries. */
export function alertCap(services: Services): AlertCap {
  return new AlertCap(new DynamoDbAlertCapStore(services.get(dynamoDb), services.config.alertStateTable), services.get(alertPublisher), {
    ...services.config.alertCap,
    now: services.now,
    telemetry: services.get(telemetry),
    log: (message, fields) => logger.warn(message, fields),
    onPublishError: (error) => logger.error('alert cap: a count or notice failed', { error: error as Error }),
  });
}

export function alerts(services: Services): AlertService {
  const { config } = services;
  return new AlertService(services.get(alertState), services.get(alertPublisher), {
    cap: services.get(alertCap),
    now: services.now,
    cooldownSeconds: config.alertCooldownSeconds,
    on: config.alertOn,
    overrides: config.alertThresholds,
    telemetry: services.get(telemetry),
    onPublishError: (error) => logger.error('alert publish failed; will retry on the next breach', { error: error as Error }),
  });
}

export function quality(services: Services): QualityService {
  const { config, now } = services;
  const writer = services.get(sharedWriter);
  return new QualityService(
    new DynamoDbPredictionLog(services.get(dynamoDb), config.predictionsTable, {
      ...(writer ? { writer } : {}),
      onCorruptItem: (error) => logger.warn('a stored served-rows item is corrupt; its rows are left out', { error }),
    }),
    new DynamoDbQualityStore(services.get(dynamoDb), config.qualityTable),
    services.get(registry),
    new QualityAlerts(services.get(alertState), services.get(alertPublisher), {
      cap: services.get(alertCap),
      cooldownSeconds: config.alertCooldownSeconds,
      now,
      telemetry: services.get(telemetry),
      onPublishError: (error) => logger.error('quality alert publish failed; will retry on the next breach', { error: error as Error }),
    }),
    {
      now,
      retentionDays: config.predictionRetentionDays,
      recalibration: config.qualityRecalibration,
      telemetry: services.get(telemetry),
      onError: (error) => logger.warn('model-quality bookkeeping failed; request served', { error: error as Error }),
      rateLimit: services.get(rateLimit),
    },
  );
}

/** Predict, batch, tensor inference, status, model info, metrics, health (functions/core/twin/service.ts). */
export function twinService(services: Services): TwinService {
  const { config } = services;
  return new TwinService(services.get(registry), services.get(statsStore), services.get(alerts), {
    quality: services.get(quality),
    now: services.now,
    serviceName: config.serviceName,
    defaultModel: config.defaultModel,
    plantDefaultModels: config.plantDefaultModels,
    // Process start: the container's cold start in Lambda, the local twin's start locally.
    startedAt: Math.round(performance.timeOrigin),
    cacheSize: config.cacheSize,
    telemetry: services.get(telemetry),
    onStatsError: (error) => logger.warn('stats counters not written; prediction served', { error: error as Error }),
    rateLimit: services.get(rateLimit),
  });
}
