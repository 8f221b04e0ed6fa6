import { describe, expect, it } from 'vitest';
import { parseQuality, polyline, verdictText } from '../../dashboard/src/quality.js';

describe('dashboard: the quality view as shown', () => {
  it('states the A/B verdict from the widest window that has one, with the test and p-value', () => {
    const ab = { versions: ['1.0.0', '1.1.0'], test: 'welch-t on absolute error (two-sided)', windows: { hour: null, day: { better: '1.1.0', p_value: 0.012 }, '7d': null, all: null } };
    expect(verdictText(ab)).toBe('1.1.0 is better (lower absolute error; welch-t on absolute error (two-sided), p = 0.012, window day)');
    expect(verdictText({ ...ab, windows: { all: { better: null, p_value: 0.4 } } })).toMatch(/^No significant difference between 1\.0\.0 and 1\.1\.0 .*p = 0\.400/);
    expect(verdictText({ ...ab, windows: {} })).toMatch(/not enough feedback/);
    expect(verdictText(null)).toBeNull();
  });

  it('sums the hour series of several plants per version and hour, weighting by rows', () => {
    const view = parseQuality({
      versions: [{ version: '1.0.0', level: 0.9, windows: { all: { count: 4, mae: 1, coverage: 0.75, level: 0.9 } } }],
      series: [
        { version: '1.0.0', plant: 'a', hour: '2031-01-01T01:00:00.000Z', count: 1, mae: 2, coverage: 0 },
        { version: '1.0.0', plant: 'b', hour: '2031-01-01T01:00:00.000Z', count: 3, mae: 2 / 3, coverage: 1 },
        { version: '1.0.0', plant: 'a', hour: '2031-01-01T00:00:00.000Z', count: 2, mae: 1, coverage: null },
      ],
      drift: [{ version: '1.0.0', features: [{ feature: 'temp', rows: 10, psi: 0.3, level: 'significant' }] }],
      recalibration: [{ version: '1.0.0', enabled: true, factor: 1.2, updates: 4 }],
    });
    expect(view.series).toEqual([
      { version: '1.0.0', hour: '2031-01-01T00:00:00.000Z', count: 2, mae: 1, coverage: null },
      { version: '1.0.0', hour: '2031-01-01T01:00:00.000Z', count: 4, mae: 1, coverage: 0.75 },
    ]);
    expect(view.drift).toEqual([{ version: '1.0.0', feature: 'temp', psi: 0.3, level: 'significant', rows: 10 }]);
    expect(parseQuality('nonsense')).toMatchObject({ versions: [], series: [], verdict: null });
  });

  it('scales a series into the chart box and skips hours without a value', () => {
    expect(polyline([0, null, 1], 100, 10, 1)).toBe('0.0,10.0 100.0,0.0');
    expect(polyline([2], 100, 10, 1)).toBe('50.0,0.0');
  });
});
