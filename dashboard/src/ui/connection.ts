import type { ApiClient } from '../api.js';
import { NetworkError } from '../errors.js';
import type { HealthResponse } from '../types.js';
import { h } from './dom.js';
import type { StatusBanner } from './status-banner.js';

const healthIntervalMs = 15_000;
const offlineRetryMs = 5_000;

type Connection = 'checking' | 'online' | 'degraded' | 'offline';

/**
 * The API's state as the header pill and the banners show it: `GET /health` every 15 s (every 5 s while
 * offline), degraded when the API is up but the model cannot serve, offline without any HTTP answer. Both
 * clear by themselves when the API answers again. `onHealthy` gets each healthy answer.
 */
export class ConnectionMonitor {
  readonly pill: HTMLElement;
  private state: Connection = 'checking';
  private timer: number | undefined;
  private disposed = false;

  constructor(
    private readonly api: ApiClient,
    private readonly banner: StatusBanner,
    private readonly signal: AbortSignal,
    private readonly onHealthy: (body: HealthResponse) => void,
  ) {
    this.pill = h('span', { class: 'pill pill-checking', id: 'api-state' }, 'API: checking…');
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.timer);
  }

  schedule(ms: number): void {
    window.clearTimeout(this.timer);
    if (!this.disposed) this.timer = window.setTimeout(() => void this.check(), ms);
  }

  async check(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const response = await this.api.raw('GET', '/health', { auth: false, signal: this.signal });
      const body = (await response.json().catch(() => ({}))) as HealthResponse;
      if (this.disposed) return;
      this.banner.clear('connection');
      if (response.status === 503 || body.status !== 'healthy') {
        this.degraded(body.reason ?? `health answered ${response.status}`);
      } else {
        this.banner.clear('model');
        this.set('online');
        this.onHealthy(body);
      }
      this.schedule(healthIntervalMs);
    } catch (error) {
      if (this.disposed || (error as Error).name === 'AbortError') return;
      this.offline(error instanceof NetworkError ? error.url : 'the API');
    }
  }

  /** A call answered: the API is reachable. */
  online(): void {
    this.banner.clear('connection');
    this.set('online');
  }

  offline(url: string): void {
    this.set('offline');
    this.banner.set('connection', 'error', `Offline: cannot reach the API at ${url}. Retrying every ${offlineRetryMs / 1000} s.`);
    this.schedule(offlineRetryMs);
  }

  degraded(reason: string): void {
    this.set('degraded');
    this.banner.set('model', 'warning', `Degraded: the API is up but the model cannot serve predictions (${reason}). Predictions resume when it loads.`);
  }

  private set(state: Connection): void {
    if (this.state === state) return;
    this.state = state;
    const text: Record<Connection, string> = { checking: 'API: checking…', online: 'API: online', degraded: 'API: degraded', offline: 'API: offline' };
    this.pill.textContent = text[state];
    this.pill.className = `pill pill-${state}`;
  }
}
