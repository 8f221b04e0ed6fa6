import type { PredictionPoint } from './history.js';

/**
 * Anomaly alerts: a prediction outside the model's alert band (the chapter's `_is_anomaly`: below
 * `alert_thresholds.min` or above `max`). One feed holds them whatever their source: derived in this browser
 * from its own predictions, or sent by the server (the SNS sink's event stream locally, the alerts API in
 * AWS). A server alert for a prediction this browser made replaces the derived one (same request id).
 */

export type AlertSource = 'browser' | 'server';

export interface Alert {
  /** Dedupe key: the request id when known. */
  id: string;
  /** `resolved`: the server saw predictions return to the band (browser-derived alerts are always `alert`). */
  kind: 'alert' | 'resolved';
  severity?: string;
  /** Epoch ms. */
  time: number;
  prediction: number;
  direction: 'below' | 'above';
  /** The threshold crossed. */
  threshold: number;
  band: { min?: number; max?: number };
  model?: string;
  version?: string;
  user?: string;
  inputs?: Record<string, number>;
  requestId?: string;
  source: AlertSource;
}

export interface AlertBand {
  min?: number | undefined;
  max?: number | undefined;
}

/** The chapter's rule, strict inequalities: a prediction equal to a threshold is not an anomaly. */
export function outsideBand(prediction: number, band: AlertBand | null | undefined): 'below' | 'above' | undefined {
  if (!band) return undefined;
  if (typeof band.min === 'number' && prediction < band.min) return 'below';
  if (typeof band.max === 'number' && prediction > band.max) return 'above';
  return undefined;
}

let derivedCounter = 0;

/** The alert a prediction raises, or undefined when it is inside the band. */
export function deriveAlert(point: PredictionPoint, band: AlertBand | null | undefined, model?: string): Alert | undefined {
  const direction = outsideBand(point.prediction, band);
  if (!direction || !band) return undefined;
  derivedCounter += 1;
  return {
    id: point.requestId ?? `browser-${point.time}-${derivedCounter}`,
    kind: 'alert',
    time: point.time * 1000,
    prediction: point.prediction,
    direction,
    threshold: (direction === 'below' ? band.min : band.max)!,
    band: { ...(band.min !== undefined ? { min: band.min } : {}), ...(band.max !== undefined ? { max: band.max } : {}) },
    ...(model ? { model } : {}),
    version: point.modelVersion,
    inputs: point.inputs,
    ...(point.requestId ? { requestId: point.requestId } : {}),
    source: 'browser',
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Epoch ms from an ISO string, epoch seconds or epoch ms. */
function timeOf(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  const n = num(value);
  if (n === undefined) return undefined;
  return n < 1e11 ? n * 1000 : n;
}

/**
 * Reads a server alert: the API's `AlertEvent` (`GET /api/v1/alerts` items: `{ id, time, kind, model, version,
 * rule: below_min|above_max, severity, principal, inputs, prediction, interval, thresholds, requestId }`), or
 * the local SNS sink's stream message wrapping one (`{ messageId, received, message: { type, ...event } }`).
 * Lenient about the rest (`request_id`, `timestamp`, `[min, max]` bands) so a schema change degrades to
 * fewer details, not to nothing. Undefined for anything without a numeric prediction.
 */
export function normalizeServerAlert(raw: unknown): Alert | undefined {
  if (!isRecord(raw)) return undefined;
  let body = raw;
  if (isRecord(raw.message) && ('messageId' in raw || 'topicArn' in raw)) body = raw.message;
  else if (isRecord(raw.alert)) body = raw.alert;
  const prediction = num(body.prediction) ?? (isRecord(body.result) ? num(body.result.prediction) : undefined);
  if (prediction === undefined) return undefined;
  const rawBand = body.thresholds ?? body.alert_thresholds ?? body.expected_range ?? body.band;
  const band: AlertBand = Array.isArray(rawBand)
    ? { min: num(rawBand[0]), max: num(rawBand[1]) }
    : isRecord(rawBand)
      ? { min: num(rawBand.min), max: num(rawBand.max) }
      : {};
  const fromRule = body.rule === 'below_min' ? 'below' : body.rule === 'above_max' ? 'above' : undefined;
  const declared = body.direction === 'below' || body.direction === 'above' ? body.direction : undefined;
  const direction = fromRule ?? declared ?? outsideBand(prediction, band) ?? 'above';
  const kind = body.kind === 'resolved' || body.type === 'resolved' ? 'resolved' : 'alert';
  const requestId = str(body.requestId) ?? str(body.request_id);
  const time = timeOf(body.time) ?? timeOf(body.timestamp) ?? timeOf(raw.received) ?? Date.now();
  const inputs = isRecord(body.inputs) ? body.inputs : isRecord(body.input) ? body.input : isRecord(body.sensor_data) ? body.sensor_data : undefined;
  const model = isRecord(body.model) ? str(body.model.name) : str(body.model);
  const version = str(body.version) ?? str(body.model_version) ?? (isRecord(body.model) ? str(body.model.version) : undefined);
  const user = str(body.principal) ?? str(body.user);
  const severity = str(body.severity);
  // A resolve shares nothing with the alert it closes but the rule; key it by its own id.
  const id = kind === 'resolved' ? (str(body.id) ?? `resolved-${time}`) : (requestId ?? str(body.id) ?? `server-${time}-${prediction}`);
  return {
    id,
    kind,
    ...(severity ? { severity } : {}),
    time,
    prediction,
    direction,
    threshold: (direction === 'below' ? band.min : band.max) ?? num(body.threshold) ?? Number.NaN,
    band: { ...(band.min !== undefined ? { min: band.min } : {}), ...(band.max !== undefined ? { max: band.max } : {}) },
    ...(model ? { model } : {}),
    ...(version ? { version } : {}),
    ...(user ? { user } : {}),
    ...(inputs
      ? { inputs: Object.fromEntries(Object.entries(inputs).filter((e): e is [string, number] => typeof e[1] === 'number')) }
      : {}),
    ...(requestId ? { requestId } : {}),
    source: 'server',
  };
}

/** The feed: newest first, capped, deduplicated by id; listeners re-render on change. */
export class AlertFeed {
  private items: Alert[] = [];
  /** Ids the user cleared: polling returns them again, and they must stay cleared. */
  private readonly dismissed = new Set<string>();
  private readonly listeners = new Set<(alerts: readonly Alert[]) => void>();

  constructor(readonly capacity = 50) {}

  /** Adds or (same id) replaces, a server alert winning over a browser-derived one. Returns true if the list changed. */
  add(alert: Alert): boolean {
    if (this.dismissed.has(alert.id)) return false;
    const existing = this.items.findIndex((a) => a.id === alert.id);
    if (existing !== -1) {
      if (this.items[existing]!.source === 'server' || alert.source !== 'server') return false;
      this.items[existing] = { ...this.items[existing]!, ...alert };
    } else {
      this.items.push(alert);
      this.items.sort((a, b) => b.time - a.time);
      if (this.items.length > this.capacity) this.items.length = this.capacity;
    }
    this.emit();
    return true;
  }

  list(): readonly Alert[] {
    return this.items;
  }

  clear(): void {
    for (const a of this.items) this.dismissed.add(a.id);
    this.items = [];
    this.emit();
  }

  subscribe(listener: (alerts: readonly Alert[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.items);
  }
}
