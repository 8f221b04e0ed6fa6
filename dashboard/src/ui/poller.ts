import type { ApiClient } from '../api.js';
import { ApiError } from '../errors.js';

/** Statuses that mean the route is not there for this principal: stop asking and hide. */
const absent = [403, 404, 405, 501];

/**
 * The refresh loop the model panels share (A/B statistics, quality): GET `path` every `intervalMs`, render
 * the body; on an absent route or a refusal call `onAbsent` and stop for good; offline or 5xx keeps what is
 * shown (the banners say what is wrong). `nudge()` refreshes soon after a prediction, at most every 2 s.
 */
export class Poller {
  private timer: number | undefined;
  private stopped = false;
  private lastRefresh = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly path: string,
    private readonly render: (body: unknown) => void,
    private readonly onAbsent: () => void,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  nudge(): void {
    if (this.stopped) return;
    window.clearTimeout(this.timer);
    const due = Math.max(0, this.lastRefresh + 2_000 - Date.now());
    this.timer = window.setTimeout(() => void this.refresh(), due);
  }

  async refresh(): Promise<void> {
    if (this.stopped) return;
    this.lastRefresh = Date.now();
    window.clearTimeout(this.timer);
    try {
      const body = await this.api.get<unknown>(this.path);
      if (this.stopped) return;
      this.render(body);
    } catch (error) {
      if (error instanceof ApiError && absent.includes(error.status)) {
        this.onAbsent();
        this.stop();
        return;
      }
    }
    if (!this.stopped) this.timer = window.setTimeout(() => void this.refresh(), this.intervalMs);
  }
}
