/**
 * What the plant's alert cap held back (docs/models.md, "Alert cap"): alerts over the cap of a window are
 * counted, not sent. The dashboard learns of it two ways and draws one line per window:
 * - `GET /api/v1/alerts` answers `held_back: {window_seconds, total_held, windows:[{plant, start, end, current,
 *   cap, sent, held, models}]}` (the caller's plant's windows; a platform principal's: every plant's);
 * - the alert stream carries the notices as they are published: `alerts_capped` (the window's first held-back
 *   alert: the count is not known yet) and `alerts_suppressed` (after the window, with `suppressed`).
 * Both are keyed by plant and window start; a known count replaces an unknown one, and a count only grows.
 */

export interface HeldBackWindow {
  /** null: the platform's own principals. */
  plant: string | null;
  /** Epoch ms. */
  start: number;
  end: number;
  cap: number;
  /** null until a count is known (an `alerts_capped` notice carries none). */
  held: number | null;
  /** The window is still running (more may be held back). */
  current: boolean;
  models: string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined);
const time = (value: unknown): number | undefined => (typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? Date.parse(value) : undefined);
const models = (value: unknown): string[] => (Array.isArray(value) ? value.filter((m): m is string => typeof m === 'string') : []);
const plantOf = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The windows of a `GET /api/v1/alerts` answer's `held_back`; undefined when the API sends none. */
export function heldBackFromList(body: unknown): HeldBackWindow[] | undefined {
  if (!isRecord(body) || !isRecord(body.held_back) || !Array.isArray(body.held_back.windows)) return undefined;
  return body.held_back.windows.flatMap((w): HeldBackWindow[] => {
    if (!isRecord(w)) return [];
    const start = time(w.start);
    const end = time(w.end);
    const cap = count(w.cap);
    const held = count(w.held);
    if (start === undefined || end === undefined || cap === undefined || held === undefined) return [];
    return [{ plant: plantOf(w.plant), start, end, cap, held, current: w.current === true, models: models(w.models) }];
  });
}

/**
 * A cap notice of the alert stream (the SNS sink's `{messageId, received, message}` or the message itself);
 * undefined for anything else (an anomaly alert, a resolution).
 */
export function heldBackFromNotice(raw: unknown, now: number = Date.now()): HeldBackWindow | undefined {
  if (!isRecord(raw)) return undefined;
  const body = isRecord(raw.message) ? raw.message : raw;
  const kind = body.kind ?? body.type;
  if ((kind !== 'alerts_capped' && kind !== 'alerts_suppressed') || !isRecord(body.window)) return undefined;
  const start = time(body.window.start);
  const end = time(body.window.end);
  const cap = count(body.cap);
  if (start === undefined || end === undefined || cap === undefined) return undefined;
  const held = kind === 'alerts_suppressed' ? (count(body.suppressed) ?? null) : null;
  return { plant: plantOf(body.plant), start, end, cap, held, current: now < end, models: models(body.models) };
}

/** 24-hour HH:MM in the page's time zone. */
function hourMinute(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** The line a plant engineer reads: "3 alerts held back in the 15 minutes from 10:00; the plant's cap is 50 per window". */
export function heldBackText(w: HeldBackWindow): string {
  const minutes = Math.round((w.end - w.start) / 60_000);
  const span = `in the ${minutes} minutes from ${hourMinute(w.start)}`;
  const cap = `the ${w.plant === null ? 'platform' : 'plant'}'s cap is ${w.cap} per window`;
  if (w.held === null) return `Alerts are being held back ${span}; ${cap}`;
  return `${w.held} alert${w.held === 1 ? '' : 's'} held back ${span}; ${cap}`;
}

/** The details under the line: whose, until when, about which models. */
export function heldBackMeta(w: HeldBackWindow): string {
  const whose = w.plant === null ? 'platform principals' : `plant ${w.plant}`;
  const until = w.current ? `still running until ${hourMinute(w.end)}, more may be held back` : `ended ${hourMinute(w.end)}`;
  return [whose, until, w.models.length > 0 ? `models: ${w.models.join(', ')}` : ''].filter(Boolean).join(' · ');
}

/** The held-back windows known to this page, newest first; listeners re-render on change. */
export class HeldBackFeed {
  private readonly windows = new Map<string, HeldBackWindow>();
  private readonly listeners = new Set<(windows: readonly HeldBackWindow[]) => void>();

  /** Adds or updates windows; returns true when anything changed. */
  merge(windows: readonly HeldBackWindow[]): boolean {
    let changed = false;
    for (const w of windows) {
      const key = `${w.plant ?? ''}|${w.start}`;
      const known = this.windows.get(key);
      // A count only grows; a known count beats none; a window once over stays over.
      const held = known?.held === null || known?.held === undefined ? w.held : w.held === null ? known.held : Math.max(known.held, w.held);
      const next = { ...w, held, current: known ? known.current && w.current : w.current, models: [...new Set([...(known?.models ?? []), ...w.models])].sort() };
      if (JSON.stringify(next) !== JSON.stringify(known)) {
        this.windows.set(key, next);
        changed = true;
      }
    }
    if (changed) for (const listener of this.listeners) listener(this.list());
    return changed;
  }

  list(): HeldBackWindow[] {
    return [...this.windows.values()].sort((a, b) => b.start - a.start || (a.plant ?? '\uffff').localeCompare(b.plant ?? '\uffff'));
  }

  subscribe(listener: (windows: readonly HeldBackWindow[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
