import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FieldIssue } from '../../functions/core/errors.js';
import { modelManifestSchema } from '../../functions/core/manifest.js';
import { mean, percentileSorted } from '../../functions/core/twin/statistics.js';
import { RowValidator } from '../../functions/core/twin/validation.js';

const manifest = modelManifestSchema.parse(
  JSON.parse(readFileSync(new URL('../../models/reactor-yield/1.0.0/manifest.json', import.meta.url), 'utf8')),
);
// Ranges of reactor-yield@1.0.0: temp [300, 400], pressure [1, 10], flow [50, 150].
const valid = { temp: 360, pressure: 6, flow: 100 };

function validate(row: unknown, prefix?: string): { issues: FieldIssue[]; out: Float32Array } {
  const validator = new RowValidator(manifest);
  const out = new Float32Array(3).fill(-1);
  const { issues } = prefix === undefined ? validator.validateInto(row, out, 0) : validator.validateInto(row, out, 0, prefix);
  return { issues, out };
}

const rulesAndFields = (issues: FieldIssue[]) => issues.map((i) => [i.field, i.rule]);

describe('RowValidator', () => {
  // [case, row, expected [field, rule] pairs]
  const table: [string, unknown, [string, string][]][] = [
    ['a missing feature', { temp: 360, pressure: 6 }, [['flow', 'required']]],
    ['every feature missing', {}, [['temp', 'required'], ['pressure', 'required'], ['flow', 'required']]],
    ['an unknown feature', { ...valid, humidity: 40 }, [['humidity', 'unknown_field']]],
    ['a misspelt feature', { temp: 360, pressure: 6, flwo: 100 }, [['flow', 'required'], ['flwo', 'unknown_field']]],
    ['a numeric string', { ...valid, temp: '360' }, [['temp', 'type']]],
    ['null', { ...valid, pressure: null }, [['pressure', 'type']]],
    ['a boolean', { ...valid, flow: true }, [['flow', 'type']]],
    ['an array', { ...valid, temp: [360] }, [['temp', 'type']]],
    ['an object', { ...valid, temp: { value: 360 } }, [['temp', 'type']]],
    ['Infinity (1e999 in JSON)', JSON.parse('{"temp":1e999,"pressure":6,"flow":100}'), [['temp', 'finite']]],
    ['-Infinity (-1e999 in JSON)', JSON.parse('{"temp":360,"pressure":-1e999,"flow":100}'), [['pressure', 'finite']]],
    ['NaN', { ...valid, flow: Number.NaN }, [['flow', 'finite']]],
    ['temp below its range', { ...valid, temp: 299.999 }, [['temp', 'range']]],
    ['temp above its range', { ...valid, temp: 400.001 }, [['temp', 'range']]],
    ['pressure below its range', { ...valid, pressure: 0 }, [['pressure', 'range']]],
    ['pressure above its range', { ...valid, pressure: 10.5 }, [['pressure', 'range']]],
    ['flow below its range', { ...valid, flow: -50 }, [['flow', 'range']]],
    ['flow above its range', { ...valid, flow: 151 }, [['flow', 'range']]],
    [
      'several problems at once',
      { temp: 'hot', pressure: 99, extra: 1 },
      [['temp', 'type'], ['pressure', 'range'], ['flow', 'required'], ['extra', 'unknown_field']],
    ],
  ];

  it.each(table)('rejects %s', (_case, row, expected) => {
    // Act
    const { issues, out } = validate(row);

    // Assess
    expect(rulesAndFields(issues).sort()).toEqual([...expected].sort());
    issues.forEach((i) => expect(i.message.length).toBeGreaterThan(0));
    expect(Array.from(out)).toEqual([-1, -1, -1]); // nothing written for a rejected row
  });

  it('names the feature, the value and the range in a range message', () => {
    const { issues } = validate({ ...valid, temp: 401 });
    expect(issues[0]?.message).toBe('temp=401 out of range [300, 400]');
  });

  it('names the unknown feature per issue; the expected features are said once (in the error message, by the service)', () => {
    const { issues } = validate({ ...valid, humidity: 40 });
    expect(issues[0]?.message).toBe('unknown feature humidity');
    expect(new RowValidator(manifest).expectedFeatures()).toBe('temp, pressure, flow');
  });

  it.each([
    ['minimum', { temp: 300, pressure: 1, flow: 50 }],
    ['maximum', { temp: 400, pressure: 10, flow: 150 }],
    ['mixed', { temp: 300, pressure: 10, flow: 50 }],
  ])('accepts every feature exactly at its %s bound', (_case, row) => {
    const { issues, out } = validate(row);
    expect(issues).toEqual([]);
    expect(Array.from(out)).toEqual([row.temp, row.pressure, row.flow]);
  });

  it.each([
    ['an array', [360, 6, 100]],
    ['an empty array', []],
    ['null', null],
    ['a string', '{"temp":360}'],
    ['a number', 360],
    ['a boolean', true],
    ['undefined (no body)', undefined],
  ])('rejects %s as the body with rule type on field body', (_case, body) => {
    const { issues } = validate(body);
    expect(rulesAndFields(issues)).toEqual([['body', 'type']]);
    expect(issues[0]?.message).toContain('temp, pressure, flow');
  });

  it('prefixes field paths for batch rows', () => {
    expect(rulesAndFields(validate({ ...valid, temp: 1 }, 'inputs.3').issues)).toEqual([['inputs.3.temp', 'range']]);
    expect(rulesAndFields(validate({ temp: 360, pressure: 6 }, 'inputs.0').issues)).toEqual([['inputs.0.flow', 'required']]);
    expect(rulesAndFields(validate({ ...valid, x: 1 }, 'inputs.99').issues)).toEqual([['inputs.99.x', 'unknown_field']]);
    expect(rulesAndFields(validate({ ...valid, flow: '1' }, 'inputs.7').issues)).toEqual([['inputs.7.flow', 'type']]);
  });

  it('names the row itself when a batch row is not an object', () => {
    expect(rulesAndFields(validate('x', 'inputs.3').issues)).toEqual([['inputs.3', 'type']]);
    expect(rulesAndFields(validate(null, 'inputs.0').issues)).toEqual([['inputs.0', 'type']]);
    expect(rulesAndFields(validate([1, 2, 3], 'inputs.12').issues)).toEqual([['inputs.12', 'type']]);
  });

  it('writes values in manifest feature order, whatever the key order', () => {
    // Prepare
    const validator = new RowValidator(manifest);
    const out = new Float32Array(6).fill(-1);

    // Act
    const first = validator.validateInto({ flow: 120, temp: 310, pressure: 2 }, out, 0);
    const second = validator.validateInto({ pressure: 9, flow: 60, temp: 390 }, out, 3);

    // Assess
    expect(first).toEqual({ issues: [], total: 0 });
    expect(second).toEqual({ issues: [], total: 0 });
    expect(Array.from(out)).toEqual([310, 2, 120, 390, 9, 60]);
  });

  it('leaves the rest of a batch buffer alone when a row fails', () => {
    const validator = new RowValidator(manifest);
    const out = new Float32Array(6).fill(7);
    expect(validator.validateInto({ temp: 500, pressure: 6, flow: 100 }, out, 3).issues).toHaveLength(1);
    expect(Array.from(out)).toEqual([7, 7, 7, 7, 7, 7]);
  });
});

describe('percentileSorted (numpy linear interpolation)', () => {
  const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  // Values from numpy.percentile(v, p) (method='linear', the default).
  it.each([
    [oneToTen, 5, 1.45],
    [oneToTen, 95, 9.55],
    [oneToTen, 50, 5.5],
    [oneToTen, 0, 1],
    [oneToTen, 100, 10],
    [oneToTen, 25, 3.25],
    [[1, 2, 3, 4], 90, 3.7],
    [[3, 7], 25, 4],
    [[-5, 0, 10], 75, 5],
    [[2.5], 5, 2.5],
    [[2.5], 95, 2.5],
    [[4, 4, 4, 4], 37, 4],
  ])('percentile(%j, %d) = %d', (values, p, expected) => {
    expect(percentileSorted(values, p)).toBeCloseTo(expected, 12);
  });

  it('works on typed arrays (the ensemble members)', () => {
    expect(percentileSorted(Float64Array.from(oneToTen), 5)).toBeCloseTo(1.45, 12);
  });

  it('refuses an empty list', () => {
    expect(() => percentileSorted([], 50)).toThrow(RangeError);
  });
});

describe('mean', () => {
  it.each([
    [[1, 2, 3, 4], 2.5],
    [[5], 5],
    [[-1, 1], 0],
    [[0.1, 0.2, 0.3], 0.2],
  ])('mean(%j) = %d', (values, expected) => {
    expect(mean(values)).toBeCloseTo(expected, 12);
  });

  it('works on a Float32Array', () => {
    expect(mean(Float32Array.from([1, 2, 3, 6]))).toBe(3);
  });
});

describe('sortInto (the ensemble members, before their percentiles)', () => {
  it('orders like Array.prototype.sort on random, equal and reversed members', async () => {
    const { sortInto } = await import('../../functions/core/twin/model.js');
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100 - 50;
    // Beyond 64 members the typed array's sort takes over (an insertion sort's n² of 10,000 members per row held
    // the container for seconds); both paths, at and past the switch, on every shape.
    const cases = [20, 64, 65, 10_000].flatMap((n) => [Array.from({ length: n }, random), Array.from({ length: n }, () => 3), Array.from({ length: n }, (_, i) => n - i)]).concat([[42]]);
    for (const values of cases) {
      expect(Array.from(sortInto(new Float64Array(values.length), Float32Array.from(values)))).toEqual(Array.from(Float32Array.from(values)).sort((a, b) => a - b));
    }
  });
});

describe('RowValidator: the answer does not grow with the row (issue 13, finding 8)', () => {
  it('a row of 100,000 unknown keys: 20 short issues, all counted, no expected list per issue', () => {
    // Prepare
    const row: Record<string, number> = { ...valid };
    for (let i = 0; i < 100_000; i++) row[`k${i}`] = i;
    const validator = new RowValidator(manifest);

    // Act
    const check = validator.validateInto(row, new Float32Array(3), 0);

    // Assess
    expect(check.total).toBe(100_000);
    expect(check.issues).toHaveLength(20);
    expect(check.issues.every((i) => i.rule === 'unknown_field' && !i.message.includes('pressure'))).toBe(true);
  });

  it('clips a huge unknown key in the field and the message', () => {
    const key = 'x'.repeat(100_000);
    const { issues } = validate({ ...valid, [key]: 1 });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.field.length).toBeLessThanOrEqual(64);
    expect(issues[0]!.message.length).toBeLessThan(100);
  });

  it('a caller-given limit stops collecting at that many issues', () => {
    const check = new RowValidator(manifest).validateInto({ a: 1, b: 2, c: 3 }, new Float32Array(3), 0, '', 2);
    expect(check.issues).toHaveLength(2);
    expect(check.total).toBe(6); // three unknown, three missing
  });
});
