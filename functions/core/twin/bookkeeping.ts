import type { Principal } from '../auth/tokens.js';
import { metricNames } from '../metric-names.js';
import { afterWork, type PendingWrites } from '../pending-writes.js';
import type { StatsStore, Telemetry, VariantSample } from '../ports.js';
import type { StoredCalibration } from '../quality/ports.js';
import type { ServedRow } from '../quality/service.js';
import type { TwinModel } from './model.js';
import type { ModelRegistry } from './registry.js';

/** What the twin needs of model quality (functions/core/quality/service.ts). */
export interface QualityHook {
  /** The version's recalibration factor and any calibration added after publishing (cached by the service). */
  serving(name: string, version: string): Promise<{ factor: number; calibration?: StoredCalibration }>;
  /** Keeps the served rows for feedback. Settles its own failures (bookkeeping): never rejects. */
  capture(principal: Principal, model: TwinModel, requestId: string, rows: readonly ServedRow[]): Promise<void>;
}

export interface BookkeepingOptions {
  telemetry?: Telemetry;
  onStatsError?: (error: unknown) => void;
  quality?: QualityHook;
}

/** One served request, as its after-work writes need it. */
export interface Served {
  model: TwinModel;
  principal: Principal;
  requestId: string;
  /** The request's stats sample (the serving version's counters). */
  sample: VariantSample;
  /** A copy for the shadow version: the request's feature values, row-major, `rows` rows of them. */
  shadow?: { version: string | undefined; values: Float32Array; rows: number };
  /** Kept for feedback (model quality). */
  rows: readonly ServedRow[];
}

/**
 * The writes after a request's work, which never fail it: the stats sample (a failing counter store is counted
 * and logged), a copy of the traffic to the shadow version (its failures counted), the served rows (model
 * quality counts and logs its own failures). All three start together; with a {@link PendingWrites} they are
 * handed to the caller, who awaits them with the request's audit record, else they are awaited here.
 */
export class ServingBookkeeping {
  /** Rows served by this container (or local process), for the container figures of /metrics. */
  predictions = 0;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly stats: StatsStore,
    private readonly options: BookkeepingOptions,
  ) {}

  /** A served request's stats, shadow copy and served rows. */
  served(request: Served, pending: PendingWrites | undefined): Promise<void> {
    const { model, principal, shadow } = request;
    const shadowVersion = shadow?.version;
    return afterWork(pending, [
      this.record(model, principal, request.sample),
      shadowVersion && shadowVersion !== model.manifest.version && shadow.rows > 0 ? this.shadow(principal, model.manifest.name, shadowVersion, shadow.values, shadow.rows) : undefined,
      request.rows.length > 0 ? this.options.quality?.capture(principal, model, request.requestId, request.rows) : undefined,
    ]);
  }

  /** A request refused for its input: counted as an error in the version's stats, before the refusal is thrown. */
  refused(model: TwinModel, principal: Principal, latencyMs: number, pending: PendingWrites | undefined): Promise<void> {
    return afterWork(pending, [this.record(model, principal, { requests: 1, errors: 1, rows: 0, predictionSum: 0, latencyMs, cacheHits: 0, alerts: 0 })]);
  }

  /** Stats are bookkeeping: a failing counter store is logged and counted, never fails the prediction. */
  private async record(model: TwinModel, principal: Principal, sample: VariantSample): Promise<void> {
    this.predictions += sample.rows;
    try {
      await this.stats.record(model.manifest.name, model.manifest.version, sample, principal.plant);
    } catch (error) {
      this.options.telemetry?.count(metricNames.statsWriteFailures, 1, { model: model.manifest.name });
      this.options.onStatsError?.(error);
    }
  }

  /** A copy of the traffic for the shadow version: recorded in its stats, never returned; its failures never fail the request. */
  private async shadow(principal: Principal, name: string, version: string, values: Float32Array, rows: number): Promise<void> {
    try {
      const model = await this.registry.version(name, version, { id: principal.id, ...(principal.plant ? { plant: principal.plant } : {}) });
      const started = performance.now();
      const out = await model.infer(values.slice(0, rows * model.featureCount), rows);
      await this.stats.record(
        model.manifest.name,
        version,
        { requests: 1, errors: 0, rows, predictionSum: out.reduce((s, r) => s + r.prediction, 0), latencyMs: performance.now() - started, cacheHits: 0, alerts: 0, shadow: true },
        principal.plant,
      );
    } catch {
      this.options.telemetry?.count('ShadowErrors', 1, { model: name, modelVersion: version });
    }
  }
}
