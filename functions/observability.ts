import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

const serviceName = 'twinserve';

/** Structured JSON logs (Powertools): the same lines in Lambda and on the local twin's stdout. */
export const logger = new Logger({ serviceName });

/**
 * CloudWatch EMF metrics (Powertools). The namespace comes from `POWERTOOLS_METRICS_NAMESPACE`, which the
 * stacks set per environment ({@link metricsNamespace}); every metric carries the `service` dimension.
 */
export const metrics = new Metrics({ serviceName });

/**
 * The metric contract: the functions emit these names, the Ops stack's dashboard and alarms read them
 * (infra/stacks/ops-stack.ts), so both sides import them from here.
 */
export const metricNames = {
  /** Count per request that reached a function. */
  requests: 'Requests',
  /** Count per request answered with a 5xx. */
  errors: 'Errors',
  /** Milliseconds per request, handler start to response. */
  latency: 'Latency',
  /** Rows predicted, with the {@link metricDimensions} model and version (one single-metric blob each). */
  predictions: 'Predictions',
  /** Count per model lookup served from the container's cache. */
  modelCacheHits: 'ModelCacheHits',
  /** Count per anomaly alert published. */
  alerts: 'Alerts',
  /** Count per request refused with 429. */
  rateLimited: 'RateLimited',
} as const;

/** Dimensions besides `service`, used only on {@link metricNames.predictions}. */
export const metricDimensions = { model: 'model', modelVersion: 'modelVersion' } as const;

/** The CloudWatch namespace of one deployment environment (`Twinserve/prod`). */
export function metricsNamespace(environment: string): string {
  return `Twinserve/${environment}`;
}

/** The `service` dimension value every metric carries. */
export const metricsService = serviceName;
