import type { CalibrationRecordManifest } from '../manifest.js';
import type { CalibratedInterval } from './conformal.js';
import type { QualityAggregate } from './figures.js';

export { addInto, emptyAggregate, type QualityAggregate } from './figures.js';

/**
 * The stores behind model quality (docs/models.md, "Model quality"). One DynamoDB implementation each in
 * functions/adapters/; in-memory fakes in test/support/fakes.ts.
 */

/** One served row, kept for a while so that its measured value can be joined to it later. */
export interface StoredPrediction {
  requestId: string;
  /** The row of a batch (0 for a single prediction). */
  row: number;
  model: string;
  version: string;
  plant?: string;
  principal: string;
  /** ISO time of the prediction. */
  time: string;
  inputs: Record<string, number>;
  prediction: number;
  interval: [number, number] | null;
  /** The interval's stated level (nominal for an uncalibrated one). */
  level: number | null;
  /** Set once by feedback. */
  actual?: number;
  observedAt?: string;
  /** Epoch seconds after which the row is gone (DynamoDB TTL; reads filter on it too). */
  ttl: number;
}

export interface PredictionKey {
  requestId: string;
  row: number;
}

export interface PredictionLog {
  /** Stores served rows (one write per 25 rows). */
  record(rows: readonly StoredPrediction[]): Promise<void>;
  /**
   * The stored rows among `keys` (missing ones are left out), for a feedback join: their `inputs` are not
   * read (empty), so a call naming many large batches reads their served values, not their inputs.
   */
  get(keys: readonly PredictionKey[]): Promise<StoredPrediction[]>;
  /**
   * Rows of `model` predicted in [from, to] (ISO), oldest first, at most `limit` (the newest). `plant`: only that
   * plant's rows (null: platform principals' rows), so the limit is never spent on another plant's traffic;
   * absent: every plant's.
   */
  byTime(model: string, from: string, to: string, limit: number, plant?: string | null): Promise<StoredPrediction[]>;
  /**
   * Every (version, plant) with rows of `model` predicted in [from, to], with the time of its newest request
   * there: from the index alone, no item read.
   */
  servedPairs(model: string, from: string, to: string): Promise<ServedPair[]>;
  /**
   * Sets measured values of one served request's rows, each once: per value, 'duplicate' when its row already
   * has one (or the request is unknown). One conditional write for the rows together, not one per row: the
   * request is one item, and each write of it costs its whole size.
   */
  observe(requestId: string, values: readonly { row: number; actual: number }[], at: string): Promise<('stored' | 'duplicate')[]>;
}

/** A version and plant that was served, and when its newest request in the range read was. */
export interface ServedPair {
  version: string;
  plant?: string;
  /** ISO time of the newest served request seen. */
  last: string;
}

/**
 * Who was served, as the scheduled evaluation keeps it between runs (./evaluation.ts): each run reads the
 * by-time index only from the previous run's end (less an overlap), not the whole day.
 */
export interface ServedCursor {
  /** The end (ISO) of the last run's read of the index. */
  readTo: string;
  /** Every pair seen whose newest request is within the last day. */
  pairs: ServedPair[];
  /** Optimistic-concurrency counter (two runs at once: one write wins, the other's read is repeated next run). */
  revision: number;
}

export interface QualityBucket extends QualityAggregate {
  version: string;
  /** '-' for a platform-wide principal's predictions. */
  plant: string;
  /** Start of the hour (ISO) of the predictions it holds; 'all' for the all-time item. */
  hour: string;
}

export interface RecalibrationRecord {
  version: string;
  factor: number;
  updates: number;
  misses: number;
  updated: string;
  /** Optimistic-concurrency counter. */
  revision: number;
}

/** A calibration added to a published version after publishing (PUT .../calibration). */
export interface StoredCalibration {
  interval: CalibratedInterval;
  calibration: CalibrationRecordManifest;
}

export interface QualityStore {
  getCalibration(model: string, version: string): Promise<StoredCalibration | undefined>;
  putCalibration(model: string, version: string, calibration: StoredCalibration): Promise<void>;
  /** Adds aggregates to their hour items and the all-time items (atomic ADDs). */
  add(model: string, buckets: readonly QualityBucket[]): Promise<void>;
  /** Hour items with hour ≥ fromHour, and every all-time item. */
  read(model: string, fromHour: string): Promise<QualityBucket[]>;
  getRecalibration(model: string, version: string): Promise<RecalibrationRecord | undefined>;
  /** Writes the state if its revision is still `expectedRevision` (0 = absent); false when someone else won. */
  putRecalibration(model: string, record: RecalibrationRecord, expectedRevision: number): Promise<boolean>;
  /** The scheduled evaluation's served-pairs cursor of `model`. */
  getServedCursor(model: string): Promise<ServedCursor | undefined>;
  /** Writes it if its revision is still `expectedRevision` (0 = absent); false when another run won. */
  putServedCursor(model: string, cursor: ServedCursor, expectedRevision: number): Promise<boolean>;
}
