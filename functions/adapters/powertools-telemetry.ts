import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Telemetry } from '../core/ports.js';
import { metrics } from '../observability.js';

/** Counts as CloudWatch EMF metrics, each published at once (single-metric), so nothing waits for a flush. */
export class PowertoolsTelemetry implements Telemetry {
  count(metric: string, value = 1, dimensions: Record<string, string> = {}): void {
    try {
      const single = metrics.singleMetric();
      for (const [name, dim] of Object.entries(dimensions)) single.addDimension(name, dim);
      single.addMetric(metric, MetricUnit.Count, value);
    } catch {
      // Telemetry must never fail a request.
    }
  }
}
