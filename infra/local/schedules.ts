import { scheduledEvent, type ScheduledHandler } from '../../functions/middleware/scheduled.js';
import { schedules as scheduleTable, type FunctionName, type ScheduleDef } from '../../functions/routes.js';

/**
 * The local twin's side of functions/routes.ts `schedules`: a timer per entry that invokes the same handler an
 * EventBridge rule invokes in AWS, with the same event. A run still going when the next tick comes is not
 * doubled (the tick is skipped), and stop() cancels the timers and waits for a run in flight, so a stopped
 * twin leaves nothing behind.
 */

/** When ticks happen: `setInterval` by default; tests pass one they fire themselves. */
export interface ScheduleTimer {
  /** Calls `tick` every `ms`; returns what cancels it. */
  every(ms: number, tick: () => void): () => void;
}

export const intervalTimer: ScheduleTimer = {
  every(ms, tick) {
    const handle = setInterval(tick, ms);
    return () => clearInterval(handle);
  },
};

export interface LocalSchedulesOptions {
  /** @default {@link intervalTimer} */
  timer?: ScheduleTimer;
  /** The clock the events carry. @default Date.now */
  now?: () => number;
  /** @default functions/routes.ts schedules */
  table?: readonly ScheduleDef[];
  /** Where each run's summary or failure goes. */
  log?: (line: Record<string, unknown>) => void;
}

export class LocalSchedules {
  private readonly cancels: (() => void)[] = [];
  private readonly running = new Map<FunctionName, Promise<Record<string, unknown> | undefined>>();
  private stopped = false;

  constructor(
    private readonly handlers: Partial<Record<FunctionName, unknown>>,
    private readonly options: LocalSchedulesOptions = {},
  ) {}

  get table(): readonly ScheduleDef[] {
    return this.options.table ?? scheduleTable;
  }

  start(): void {
    const timer = this.options.timer ?? intervalTimer;
    for (const schedule of this.table) {
      if (typeof this.handlers[schedule.function] !== 'function') throw new Error(`schedule ${schedule.action}: no handler for ${schedule.function}`);
      this.cancels.push(timer.every(schedule.everyMinutes * 60_000, () => void this.run(schedule.function)));
    }
  }

  /**
   * One run of `fn` now, as its rule would; while one is running, that run's promise. Resolves with the run's
   * summary, or undefined when it failed (logged) or the schedules are stopped.
   */
  run(fn: FunctionName): Promise<Record<string, unknown> | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const current = this.running.get(fn);
    if (current) return current;
    const schedule = this.table.find((s) => s.function === fn);
    const handler = this.handlers[fn] as ScheduledHandler | undefined;
    if (!schedule || !handler) return Promise.reject(new Error(`no schedule for ${fn}`));
    const at = new Date((this.options.now ?? Date.now)());
    const run = handler(scheduledEvent(at, `local-schedule/${fn}`))
      .then((result) => {
        this.options.log?.({ schedule: schedule.action, time: at.toISOString(), ...result });
        return result;
      })
      .catch((error: unknown) => {
        this.options.log?.({ schedule: schedule.action, time: at.toISOString(), error: error instanceof Error ? error.message : String(error) });
        return undefined;
      })
      .finally(() => this.running.delete(fn));
    this.running.set(fn, run);
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.cancels.splice(0)) cancel();
    await Promise.all(this.running.values());
  }
}
