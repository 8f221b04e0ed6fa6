import { metricNames } from '../metric-names.js';
import type { AlertCapStore, AlertPublisher, Telemetry } from '../ports.js';

/**
 * A bound on alert volume per plant. Cooldowns are per (model, rule, principal) and per (model, version, plant,
 * rule), so a plant with many models, versions and principals could be sent models × versions × rules ×
 * principals alerts per cooldown. The cap counts, per plant (and once for everything without a plant: the
 * platform's own principals), the alerts sent in a fixed window, in the AlertState table so it holds across
 * containers. Past the cap an alert is held back, not lost silently:
 * - it is counted (`held`, with the models it was about) and the `AlertsSuppressed` metric (dimension plant)
 *   is emitted, with a log line;
 * - the first one held back in a window publishes one `alerts_capped` notice at once (the plant learns now
 *   that silence is not an all-clear);
 * - once the window is over, the scheduled run publishes one `alerts_suppressed` notice with the count.
 * Both notices carry the plant, so GET /api/v1/alerts/stream shows them to that plant only, and SNS subscribers
 * can filter on the `plant` attribute. "Resolved" messages are not capped: each follows one alert that was
 * sent. So a plant is sent at most `cap` alerts, 2 notices and the resolutions of alerts it was sent, per window.
 */

export interface AlertCapOptions {
  /** Alerts one plant may be sent per window, over all its models, versions, rules and principals. */
  perPlant: number;
  /** Alerts about principals without a plant (the platform's own) per window. */
  platform: number;
  windowSeconds: number;
  now: () => number;
  telemetry?: Telemetry;
  /** Where a held-back alert is logged (a warning). */
  log?: (message: string, fields: Record<string, unknown>) => void;
  onPublishError?: (error: unknown) => void;
}

/** What an alert is about, as far as the cap is concerned. */
export interface CappedAlert {
  plant?: string;
  model: string;
}

/** One window that held alerts back, as GET /api/v1/alerts shows it. */
export interface HeldBackWindow {
  /** null: the platform's own principals. */
  plant: string | null;
  start: string;
  end: string;
  /** The window now running (more may still be held back in it). */
  current: boolean;
  cap: number;
  sent: number;
  held: number;
  /** The models of the alerts held back. */
  models: string[];
}

export interface HeldBack {
  window_seconds: number;
  total_held: number;
  windows: HeldBackWindow[];
}

/** Counts and owed summaries are kept two days past their window (the schedule runs every 15 minutes). */
const keepSeconds = 2 * 86_400;

export class AlertCap {
  constructor(
    private readonly store: AlertCapStore,
    private readonly publisher: AlertPublisher | undefined,
    private readonly options: AlertCapOptions,
  ) {}

  private window(at: number): { start: number; end: number } {
    const ms = this.options.windowSeconds * 1000;
    const start = Math.floor(at / ms) * ms;
    return { start, end: start + ms };
  }

  private expires(end: number): number {
    return Math.floor(end / 1000) + keepSeconds;
  }

  /**
   * Whether an alert may be sent now: true while its plant's window has room (the alert is counted). False
   * when the cap is reached: the alert is counted as held back, and the window's first one sends the notice.
   */
  async admit(alert: CappedAlert): Promise<boolean> {
    const scope = alert.plant ? `plant#${alert.plant}` : 'platform';
    const cap = alert.plant ? this.options.perPlant : this.options.platform;
    const { start, end } = this.window(this.options.now());
    const window = new Date(start).toISOString();
    try {
      if (await this.store.take(scope, window, cap, this.expires(end))) return true;
    } catch (error) {
      // The cap bounds a storm; a store that cannot count must not silence an alert (fail open).
      this.options.onPublishError?.(error);
      return true;
    }
    this.options.telemetry?.count(metricNames.alertsSuppressed, 1, { plant: alert.plant ?? '(platform)' });
    try {
      const held = await this.store.hold(scope, window, alert.model, this.expires(end));
      this.options.log?.('alert held back: the plant reached its alert cap for this window', { plant: alert.plant ?? null, model: alert.model, window, cap, held });
      if (held === 1) {
        await this.store.owe(scope, window, this.expires(end));
        await this.store.noteHeld(scope, window, this.expires(end));
        await this.notify('alerts_capped', { ...(alert.plant ? { plant: alert.plant } : {}), window: { start: window, end: new Date(end).toISOString() }, cap });
      }
    } catch (error) {
      this.options.onPublishError?.(error);
    }
    return false;
  }

  /**
   * The scheduled run's part: one `alerts_suppressed` notice per window that held alerts back and is over,
   * each sent once across containers (a failed publish puts it back for the next run).
   */
  async summarise(limit = 100): Promise<{ summaries: number }> {
    const current = new Date(this.window(this.options.now()).start).toISOString();
    let summaries = 0;
    for (const { scope, window } of await this.store.owed(current, limit)) {
      const counts = await this.store.settle(scope, window);
      if (!counts) continue;
      const plant = scope.startsWith('plant#') ? scope.slice('plant#'.length) : undefined;
      const end = Date.parse(window) + this.options.windowSeconds * 1000;
      const sent = await this.notify('alerts_suppressed', {
        ...(plant ? { plant } : {}),
        window: { start: window, end: new Date(end).toISOString() },
        cap: plant ? this.options.perPlant : this.options.platform,
        sent: counts.sent,
        suppressed: counts.held,
        models: counts.models,
      });
      if (sent) summaries++;
      else await this.store.unsettle(scope, window, this.expires(end));
    }
    return { summaries };
  }

  /**
   * What the cap held back, for GET /api/v1/alerts: the windows still stored (two days) that held alerts back,
   * newest first. `plant`: that plant's only (one partition's read); undefined: a platform principal's view, every
   * plant's and the platform's own, found through the windows' held-back notes (at most 500 windows).
   */
  async heldBack(plant: string | undefined): Promise<HeldBack> {
    const now = this.options.now();
    const ms = this.options.windowSeconds * 1000;
    const current = this.window(now).start;
    const from = new Date(this.window(now - keepSeconds * 1000).start).toISOString();
    const scopes = plant !== undefined ? [`plant#${plant}`] : [...new Set((await this.store.heldScopes(from, 500)).map((n) => n.scope))];
    const windows: HeldBackWindow[] = [];
    for (const scope of scopes.sort()) {
      const owner = scope.startsWith('plant#') ? scope.slice('plant#'.length) : null;
      for (const w of await this.store.windows(scope, from)) {
        // Expired items may linger (TTL deletes late; the local store never): the TTL decides.
        if (w.held === 0 || w.ttl * 1000 <= now) continue;
        const start = Date.parse(w.window);
        windows.push({ plant: owner, start: w.window, end: new Date(start + ms).toISOString(), current: start === current, cap: owner ? this.options.perPlant : this.options.platform, sent: w.sent, held: w.held, models: w.models });
      }
    }
    // Newest first; within a window by plant, the platform's own last.
    windows.sort((a, b) => b.start.localeCompare(a.start) || (a.plant ?? '\uffff').localeCompare(b.plant ?? '\uffff'));
    return { window_seconds: this.options.windowSeconds, total_held: windows.reduce((n, w) => n + w.held, 0), windows };
  }

  private async notify(kind: 'alerts_capped' | 'alerts_suppressed', notice: { plant?: string; window: { start: string; end: string }; cap: number; sent?: number; suppressed?: number; models?: string[] }): Promise<boolean> {
    if (!this.publisher) return true;
    const who = notice.plant ?? 'platform';
    const until = notice.window.end.slice(11, 16);
    const subject =
      kind === 'alerts_capped'
        ? `[ALERTS HELD] ${who}: ${notice.cap} alerts sent, more held back until ${until} UTC`
        : `[ALERTS SUPPRESSED] ${who}: ${notice.suppressed} more alerts suppressed until ${until} UTC`;
    try {
      await this.publisher.publish({
        subject: subject.slice(0, 99),
        body: JSON.stringify({ type: kind, kind, time: new Date(this.options.now()).toISOString(), ...notice }),
        attributes: { kind, severity: 'warning', ...(notice.plant ? { plant: notice.plant } : {}) },
      });
      return true;
    } catch (error) {
      this.options.onPublishError?.(error);
      return false;
    }
  }
}
