import type { AlertCap } from '../alerts/cap.js';
import type { AlertPublisher, AlertStateStore, Telemetry } from '../ports.js';

/**
 * Quality alerts on the anomaly topic, with their own `kind` (`quality`) and the anomaly alerts' no-storm
 * rules: the same AlertStateStore claim (at most one message per key per cooldown, across containers), a
 * failed publish gives the claim back, and one `quality_resolved` follows a sent alert when the figure is
 * back in its band. Keys are per model, version, plant and rule. They count in the plant's alert cap with
 * the anomaly alerts (../alerts/cap.ts).
 */

export type QualityRule = 'coverage_low' | 'error_high' | 'input_drift';

export interface QualityAlert {
  model: string;
  version: string;
  plant?: string;
  rule: QualityRule;
  window: string;
  /** What was measured and the band it left. */
  value: number;
  band: { min?: number; max?: number };
  detail: Record<string, unknown>;
}

export interface QualityAlertOptions {
  cooldownSeconds: number;
  now: () => number;
  telemetry?: Telemetry;
  onPublishError?: (error: unknown) => void;
  /** The per-plant bound on alerts per window (../alerts/cap.ts); none when absent. */
  cap?: AlertCap;
}

export class QualityAlerts {
  constructor(
    private readonly state: AlertStateStore,
    private readonly publisher: AlertPublisher | undefined,
    private readonly options: QualityAlertOptions,
  ) {}

  private key(a: Pick<QualityAlert, 'model' | 'version' | 'plant' | 'rule'>): string {
    return `quality#${a.model}#${a.version}#${a.plant ?? '-'}#${a.rule}`;
  }

  private async send(kind: 'quality' | 'quality_resolved', alert: QualityAlert, at: string): Promise<boolean> {
    const body = { type: kind, kind, time: at, ...alert };
    if (!this.publisher) return true;
    try {
      await this.publisher.publish({
        subject: `${kind === 'quality' ? '[QUALITY] ' : '[QUALITY RESOLVED] '}${alert.model}@${alert.version}: ${alert.rule.replace('_', ' ')}`.slice(0, 99),
        body: JSON.stringify(body),
        attributes: { kind, model: alert.model, rule: alert.rule, severity: kind === 'quality' ? 'warning' : 'info', ...(alert.plant ? { plant: alert.plant } : {}) },
      });
      this.options.telemetry?.count('QualityAlerts');
      return true;
    } catch (error) {
      this.options.onPublishError?.(error);
      this.options.telemetry?.count('QualityAlertPublishFailures');
      return false;
    }
  }

  /** A figure out of its band: at most one alert per key per cooldown. Resolves true when one was sent. */
  async breach(alert: QualityAlert): Promise<boolean> {
    const key = this.key(alert);
    const at = new Date(this.options.now()).toISOString();
    const claim = await this.state.claim(key, at, this.options.cooldownSeconds);
    if (!claim) return false;
    if (this.options.cap && !(await this.options.cap.admit(alert))) {
      await this.state.suppress(key, claim);
      return false;
    }
    if (await this.send('quality', alert, at)) return true;
    await this.state.release(key, claim);
    return false;
  }

  /** The figure is back in its band: one resolved message if an alert was firing. */
  async clear(alert: QualityAlert): Promise<boolean> {
    const key = this.key(alert);
    if (!(await this.state.isFiring(key))) return false;
    const at = new Date(this.options.now()).toISOString();
    if (!(await this.state.resolve(key, at))) return false;
    if (await this.send('quality_resolved', alert, at)) return true;
    await this.state.unresolve(key, at);
    return false;
  }
}
