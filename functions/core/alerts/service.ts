import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { canSeePlant } from '../auth/access.js';
import type { Principal } from '../auth/tokens.js';
import { metricNames } from '../metric-names.js';
import type { ModelManifest } from '../manifest.js';
import type { AlertEvent, AlertPublisher, AlertStateStore, Telemetry } from '../ports.js';
import type { AlertCap, HeldBack } from './cap.js';

/**
 * Whether a principal may see an alert: THE filter for every way alerts leave the service (GET /api/v1/alerts,
 * the local twin's live stream). A plant's principals see their plant's alerts; platform principals all.
 */
export function alertVisibleTo(principal: Principal, event: Pick<AlertEvent, 'plant' | 'model'>): boolean {
  return canSeePlant(principal, event.plant);
}

/** The most alerts the live stream replays on opening (the local SNS sink keeps as many per plant). */
export const maxStreamReplay = 100;

/**
 * The query of the local twin's `GET /api/v1/alerts/stream`: `replay`, a whole number from 0 to
 * {@link maxStreamReplay} (default 20), and nothing else. A value out of range, not a whole number or given twice
 * (joined with a comma, as API Gateway joins repeated parameters) is refused, never clamped.
 */
export const alertStreamQuerySchema = z.strictObject({
  replay: z
    .string()
    .regex(/^(?:100|[1-9]?[0-9])$/, `must be a whole number from 0 to ${maxStreamReplay}, given once`)
    .transform(Number)
    .default(20),
});

export type AlertRule = 'below_min' | 'above_max';
const rules: readonly AlertRule[] = ['below_min', 'above_max'];

export interface AlertOptions {
  cooldownSeconds: number;
  /** Judge the prediction itself, or its whole interval (an interval reaching outside the band alerts). */
  on: 'prediction' | 'interval';
  /** Per-model thresholds that replace the manifest's, per environment. */
  overrides: Record<string, { min: number; max: number }>;
  /** How long a container trusts its own view of a rule's firing state before asking the store again. */
  stateCacheMs?: number;
  now?: () => number;
  telemetry?: Telemetry;
  onPublishError?: (error: unknown) => void;
  /** The per-plant bound on alerts per window (./cap.ts); none when absent. */
  cap?: AlertCap;
}

export interface AlertRow {
  inputs: Record<string, number>;
  prediction: number;
  interval: [number, number] | null;
}

export interface AlertCheck {
  manifest: ModelManifest;
  principal: Principal;
  /** One row for a prediction; a batch's rows. */
  rows: readonly AlertRow[];
  requestId: string;
}

/**
 * Anomaly alerts: a prediction leaving the alert band publishes one alert per (model, rule, principal) per
 * cooldown window, across every container (a conditional write claims the right to send), however often the
 * value crosses the band in between; when predictions return to the band, one "resolved" message is sent
 * for an alert that was sent. A failed publish never fails the prediction: it is logged and counted, and
 * the claim is given back (state restored) so the next breach retries and no orphan "resolved" follows.
 * Over all of a plant's keys, at most the plant's cap of alerts per window is sent (./cap.ts).
 */
export class AlertService {
  private readonly firing = new Map<string, { firing: boolean; checked: number }>();

  constructor(
    private readonly state: AlertStateStore,
    private readonly publisher: AlertPublisher | undefined,
    private readonly options: AlertOptions,
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  thresholds(manifest: ModelManifest): { min: number; max: number } {
    return this.options.overrides[manifest.name] ?? manifest.alerts;
  }

  /** Which rule, if any, the prediction breaks. */
  breach(manifest: ModelManifest, prediction: number, interval: [number, number] | null): AlertRule | undefined {
    const { min, max } = this.thresholds(manifest);
    const [lo, hi] = this.options.on === 'interval' && interval ? interval : [prediction, prediction];
    if (lo < min) return 'below_min';
    if (hi > max) return 'above_max';
    return undefined;
  }

  /**
   * Evaluates a request's rows. Per rule: when some row breaks it, one alert (with the most extreme row) may
   * be sent; when no row does, a firing alert of that rule is resolved. Resolves to the number of alerts
   * sent. Never throws.
   */
  async check(input: AlertCheck): Promise<{ breached: AlertRule[]; sent: number }> {
    const breached: AlertRule[] = [];
    // The rules' states are separate items (the rule is in the key): their reads and writes go together, one
    // round instead of one per rule (a cold container's first request reads both states).
    const outcomes = await Promise.allSettled(
      rules.map(async (rule) => {
        let worst: AlertRow | undefined;
        for (const row of input.rows) {
          if (this.breach(input.manifest, row.prediction, row.interval) !== rule) continue;
          if (!worst || (rule === 'below_min' ? row.prediction < worst.prediction : row.prediction > worst.prediction)) worst = row;
        }
        if (worst) {
          breached.push(rule);
          return (await this.fire(rule, input, worst)) ? 1 : 0;
        }
        if (input.rows.length > 0) await this.maybeResolve(rule, input, input.rows[input.rows.length - 1]!);
        return 0;
      }),
    );
    let sent = 0;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') sent += outcome.value;
      else {
        this.options.onPublishError?.(outcome.reason);
        this.options.telemetry?.count('AlertErrors');
      }
    }
    // In the rules' order, whichever settled first.
    return { breached: rules.filter((rule) => breached.includes(rule)), sent };
  }

  private key(manifest: ModelManifest, rule: AlertRule, principal: Principal): string {
    return `${manifest.name}#${rule}#${principal.id}`;
  }

  private event(kind: AlertEvent['kind'], rule: AlertRule, input: AlertCheck, row: AlertRow, at: string): AlertEvent {
    const thresholds = this.thresholds(input.manifest);
    const width = thresholds.max - thresholds.min;
    const distance = rule === 'below_min' ? thresholds.min - row.prediction : row.prediction - thresholds.max;
    return {
      id: randomUUID(),
      time: at,
      kind,
      model: input.manifest.name,
      version: input.manifest.version,
      rule,
      severity: kind === 'resolved' ? 'info' : distance > 0.1 * width ? 'critical' : 'warning',
      principal: input.principal.id,
      ...(input.principal.plant ? { plant: input.principal.plant } : {}),
      inputs: row.inputs,
      prediction: row.prediction,
      interval: row.interval,
      thresholds,
      requestId: input.requestId,
    };
  }

  private async publish(event: AlertEvent): Promise<boolean> {
    if (!this.publisher) {
      await this.state.recordEvent(event);
      return true;
    }
    try {
      await this.publisher.publish({
        subject: `${event.kind === 'alert' ? `[${event.severity.toUpperCase()}] ` : '[RESOLVED] '}${event.model}: yield ${event.rule.replace('_', ' ')}`.slice(0, 99),
        body: JSON.stringify({ type: event.kind === 'alert' ? 'anomaly' : 'resolved', ...event }),
        // `plant` as an attribute too: a plant's subscription filters on it (absent for the platform's own).
        attributes: { severity: event.severity, model: event.model, rule: event.rule, kind: event.kind, ...(event.plant ? { plant: event.plant } : {}) },
      });
    } catch (error) {
      this.options.onPublishError?.(error);
      this.options.telemetry?.count(metricNames.alertPublishFailures, 1, { model: event.model });
      return false;
    }
    this.options.telemetry?.count(metricNames.alerts);
    await this.state.recordEvent(event);
    return true;
  }

  private async fire(rule: AlertRule, input: AlertCheck, row: AlertRow): Promise<boolean> {
    const key = this.key(input.manifest, rule, input.principal);
    const at = new Date(this.now()).toISOString();
    const claim = await this.state.claim(key, at, this.options.cooldownSeconds);
    if (!claim) return false;
    if (this.options.cap && !(await this.options.cap.admit({ model: input.manifest.name, ...(input.principal.plant ? { plant: input.principal.plant } : {}) }))) {
      // Held back by the plant's cap (counted there): the cooldown stands, nothing new is firing.
      await this.state.suppress(key, claim);
      this.firing.delete(key);
      return false;
    }
    if (await this.publish(this.event('alert', rule, input, row, at))) {
      this.firing.set(key, { firing: true, checked: this.now() });
      return true;
    }
    // Nobody heard this alert: put the state back, so no "resolved" follows it and the next breach retries.
    await this.state.release(key, claim);
    this.firing.delete(key);
    return false;
  }

  private async maybeResolve(rule: AlertRule, input: AlertCheck, row: AlertRow): Promise<void> {
    const key = this.key(input.manifest, rule, input.principal);
    const known = this.firing.get(key);
    const fresh = known && this.now() - known.checked < (this.options.stateCacheMs ?? 5_000);
    if (fresh && !known.firing) return;
    if (!fresh && !(await this.state.isFiring(key))) {
      this.firing.set(key, { firing: false, checked: this.now() });
      return;
    }
    const at = new Date(this.now()).toISOString();
    if (!(await this.state.resolve(key, at))) {
      this.firing.set(key, { firing: false, checked: this.now() });
      return;
    }
    this.firing.set(key, { firing: false, checked: this.now() });
    if (!(await this.publish(this.event('resolved', rule, input, row, at)))) await this.state.unresolve(key, at);
  }

  /** What the per-plant cap held back for `plant` (undefined: every plant's); null without a cap. */
  async heldBack(plant: string | undefined): Promise<HeldBack | null> {
    return this.options.cap ? this.options.cap.heldBack(plant) : null;
  }

  recent(model: string | undefined, limit: number, plant?: string): Promise<AlertEvent[]> {
    return this.state.recentEvents(model, limit, plant);
  }
}
