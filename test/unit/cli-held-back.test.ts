import { describe, expect, it } from 'vitest';
import { heldBackLines } from '../../client/cli/alerts.js';

/** `twin alerts tail` prints what the alert cap held back (GET /api/v1/alerts `held_back`) after the alerts. */
describe('twin alerts tail: held-back lines', () => {
  const window = (over: Partial<{ plant: string | null; start: string; current: boolean; held: number; sent: number; cap: number; models: string[] }>) => ({
    plant: 'north',
    start: '2027-03-01T10:00:00.000Z',
    end: '2027-03-01T10:15:00.000Z',
    current: false,
    cap: 2,
    sent: 2,
    held: 3,
    models: ['reactor-yield'],
    ...over,
  });

  it('one line per window, oldest first, naming the plant, the cap, what was sent and the models', () => {
    const lines = heldBackLines({
      window_seconds: 900,
      total_held: 4,
      // The API lists the newest first.
      windows: [window({ start: '2027-03-01T10:15:00.000Z', current: true, held: 1, models: ['reactor-yield', 'column-purity'] }), window({})],
    });
    expect(lines).toEqual([
      'HELD BACK  3 alerts in the 15 min from 2027-03-01 10:00 (plant north; cap 2 per window, 2 sent; reactor-yield)\n',
      'HELD BACK  1 alert in the 15 min from 2027-03-01 10:15 (this window) (plant north; cap 2 per window, 2 sent; reactor-yield, column-purity)\n',
    ]);
  });

  it("the platform's own principals, and a window without models", () => {
    expect(heldBackLines({ window_seconds: 90, total_held: 5, windows: [window({ plant: null, held: 5, cap: 100, sent: 100, models: [] })] })).toEqual([
      'HELD BACK  5 alerts in the 90 s from 2027-03-01 10:00 (platform principals; cap 100 per window, 100 sent)\n',
    ]);
  });

  it('nothing when there is no cap (null) or nothing was held back', () => {
    expect(heldBackLines(null)).toEqual([]);
    expect(heldBackLines({ window_seconds: 900, total_held: 0, windows: [] })).toEqual([]);
  });
});
