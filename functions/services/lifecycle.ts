import { S3PackageTransfer } from '../adapters/s3-package-transfer.js';
import { ModelService } from '../core/models/service.js';
import { InsightService } from '../core/insight/service.js';
import { OipService } from '../core/twin/oip.js';
import { apiVersion } from '../contracts.js';
import type { Services } from '../services.js';
import { s3 } from './clients.js';
import { modelStore } from './model-store.js';
import { alerts, registry, statsStore, twinService } from './twin.js';

// What builds on the twin for one function each: the model lifecycle (models), the Open Inference Protocol
// (inference), process insight (insight).

/** Publish, activate, rollback, A/B routing, stats, alert history; uploads by presigned URL where packages are in S3. */
export function modelService(services: Services): ModelService {
  const { models } = services.config;
  const transfer = models.kind === 's3' ? { transfer: new S3PackageTransfer(services.get(s3), models.bucket) } : {};
  return new ModelService(services.get(modelStore), services.get(registry), services.get(statsStore), services.get(alerts), { now: services.now, ...transfer });
}

/** The Open Inference Protocol (KServe V2) on top of the twin. */
export function oipService(services: Services): OipService {
  return new OipService(services.get(twinService), services.get(registry), services.get(modelStore), { serverName: 'twinserve', serverVersion: apiVersion, defaultModel: services.config.defaultModel });
}

/** Explanations, what-if sweeps, setpoint optimizer (docs/insight.md). */
export function insightService(services: Services): InsightService {
  return new InsightService(services.get(twinService), { now: services.now });
}
