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
 * (infra/stacks/ops-stack.ts). They live in the core (which emits some through its Telemetry port and may
 * not import Powertools) and are re-exported here for the stacks.
 */
export { metricNames } from './core/metric-names.js';

/** Dimensions besides `service`: model and version on {@link metricNames.predictions}, model on the failure counts. */
export const metricDimensions = { model: 'model', modelVersion: 'modelVersion' } as const;

/** The CloudWatch namespace of one deployment environment (`Twinserve/prod`). */
export function metricsNamespace(environment: string): string {
  return `Twinserve/${environment}`;
}

/** The `service` dimension value every metric carries. */
export const metricsService = serviceName;
