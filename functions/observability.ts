import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { withSourceMappedStack } from './source-maps.js';

const serviceName = 'twinserve';

/** An Error logged as an extra input, or an attribute of one (`{ error }`), with its stack mapped to the sources. */
function mapErrors(extra: LogItemExtraInput): LogItemExtraInput {
  return extra.map((item) => {
    if (item instanceof Error) return withSourceMappedStack(item);
    if (typeof item !== 'object' || item === null) return item;
    return Object.fromEntries(Object.entries(item).map(([key, value]) => [key, value instanceof Error ? withSourceMappedStack(value) : value]));
  }) as LogItemExtraInput;
}

/**
 * Warnings and errors carry the stacks of the TypeScript sources when the code runs from a bundle shipped with
 * its source map (Lambda), read on the first error instead of at every cold start (./source-maps.ts).
 */
class SourceMappedLogger extends Logger {
  override error(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    super.error(input, ...mapErrors(extraInput));
  }

  override warn(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    super.warn(input, ...mapErrors(extraInput));
  }
}

/** Structured JSON logs (Powertools): the same lines in Lambda and on the local twin's stdout. */
export const logger: Logger = new SourceMappedLogger({ serviceName });

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
