import { describe, expect, it } from 'vitest';
import { HeldBackFeed, heldBackFromList, heldBackFromNotice, heldBackMeta, heldBackText } from '../../dashboard/src/held-back.js';

/**
 * The dashboard's reading of the alert cap (dashboard/src/held-back.ts): the list's `held_back` and the stream's
 * `alerts_capped` / `alerts_suppressed` notices become one line per window, in a plant engineer's words.
 * Times are formatted in the process's time zone; the assertions build the expected HH:MM the same way.
 */

const start = Date.parse('2027-06-01T10:00:00.000Z');
const end = start + 900_000;
const hhmm = (ms: number) => new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
const listed = { plant: 'north', start: new Date(start).toISOString(), end: new Date(end).toISOString(), current: true, cap: 50, sent: 50, held: 3, models: ['reactor-yield'] };

describe('held-back windows in the dashboard', () => {
  it('reads the list’s held_back, skipping malformed windows; undefined when the API sends none', () => {
    expect(heldBackFromList({ alerts: [], held_back: { window_seconds: 900, total_held: 3, windows: [listed, { plant: 'x', start: 'soon' }, 7] } })).toEqual([
      { plant: 'north', start, end, cap: 50, held: 3, current: true, models: ['reactor-yield'] },
    ]);
    expect(heldBackFromList({ alerts: [] })).toBeUndefined();
    expect(heldBackFromList({ alerts: [], held_back: null })).toBeUndefined();
  });

  it('reads the stream’s notices (wrapped by the sink or bare); anomaly alerts are not notices', () => {
    const capped = { messageId: 'm1', received: 'x', message: { type: 'alerts_capped', kind: 'alerts_capped', plant: 'north', window: { start: listed.start, end: listed.end }, cap: 50 } };
    const suppressed = { type: 'alerts_suppressed', kind: 'alerts_suppressed', window: { start: listed.start, end: listed.end }, cap: 100, sent: 100, suppressed: 37, models: ['b', 'a'] };
    expect(heldBackFromNotice(capped, start + 60_000)).toEqual({ plant: 'north', start, end, cap: 50, held: null, current: true, models: [] });
    expect(heldBackFromNotice(suppressed, end + 60_000)).toEqual({ plant: null, start, end, cap: 100, held: 37, current: false, models: ['b', 'a'] });
    expect(heldBackFromNotice({ message: { type: 'anomaly', prediction: 99 }, messageId: 'm2' })).toBeUndefined();
    expect(heldBackFromNotice({ kind: 'alerts_capped', window: { start: 'x', end: listed.end }, cap: 5 })).toBeUndefined();
  });

  it('says it in a plant engineer’s words', () => {
    const w = { plant: 'north', start, end, cap: 50, held: 3, current: true, models: ['reactor-yield'] };
    expect(heldBackText(w)).toBe(`3 alerts held back in the 15 minutes from ${hhmm(start)}; the plant's cap is 50 per window`);
    expect(heldBackText({ ...w, held: 1 })).toBe(`1 alert held back in the 15 minutes from ${hhmm(start)}; the plant's cap is 50 per window`);
    expect(heldBackText({ ...w, held: null })).toBe(`Alerts are being held back in the 15 minutes from ${hhmm(start)}; the plant's cap is 50 per window`);
    expect(heldBackText({ ...w, plant: null, cap: 100 })).toContain("the platform's cap is 100 per window");
    expect(heldBackMeta(w)).toBe(`plant north · still running until ${hhmm(end)}, more may be held back · models: reactor-yield`);
    expect(heldBackMeta({ ...w, current: false, models: [] })).toBe(`plant north · ended ${hhmm(end)}`);
  });

  it('merges by plant and window: a known count replaces none, a count only grows, newest first', () => {
    const feed = new HeldBackFeed();
    const seen: number[] = [];
    feed.subscribe((windows) => seen.push(windows.length));
    const base = { plant: 'north', start, end, cap: 50, current: true, models: [] as string[] };

    expect(feed.merge([{ ...base, held: null }])).toBe(true);
    expect(feed.merge([{ ...base, held: 3, models: ['reactor-yield'] }])).toBe(true);
    expect(feed.merge([{ ...base, held: null }])).toBe(false);
    expect(feed.merge([{ ...base, held: 2 }])).toBe(false);
    expect(feed.merge([{ ...base, start: end, end: end + 900_000, held: 1 }, { ...base, plant: 'south', held: 4 }])).toBe(true);

    expect(feed.list().map((w) => [w.plant, w.start, w.held])).toEqual([
      ['north', end, 1],
      ['north', start, 3],
      ['south', start, 4],
    ]);
    expect(feed.list()[1]!.models).toEqual(['reactor-yield']);
    expect(seen).toEqual([1, 1, 3]);
  });
});
