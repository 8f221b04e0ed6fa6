import { createRequire } from 'node:module';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { itemBytes } from '../../functions/adapters/item-size.js';
import { CorruptServedRowsError, fromItem, toItem, type RequestItem } from '../../functions/adapters/served-rows-item.js';
import type { StoredPrediction } from '../../functions/core/quality/ports.js';
import { legacyItem } from '../support/served-rows-legacy.js';

/**
 * The stored layout of served rows (functions/adapters/served-rows-item.ts): the binary layout round trips every
 * double exactly, items of the layout before read as they did, an item whose bytes do not hold what it claims
 * is refused by name, and the size check counts what DynamoDB counts.
 */

/** dynalite's own item size (what its consumed capacity and 400 KB check use), on DynamoDB's wire format. */
const { itemSize } = createRequire(import.meta.url)('dynalite/db/index.js') as { itemSize(item: Record<string, unknown>): number };

/** An item as it crosses the wire: binary values base64. */
function wire(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(wire);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, wire(v)]));
  return value;
}

function row(requestId: string, index: number, over: Partial<StoredPrediction> = {}): StoredPrediction {
  return {
    requestId,
    row: index,
    model: 'reactor-yield',
    version: '1.0.0',
    plant: 'plant-a',
    principal: 'user:alice',
    time: '2027-03-01T10:00:00.000Z',
    inputs: { temperature: 350 + index, pressure: 5.5, flow_rate: 120.25 },
    prediction: 90 + index / 10,
    interval: [88 + index / 10, 92 + index / 10],
    level: 0.9,
    ttl: 1_800_000_000,
    ...over,
  };
}

/** The item as the document client hands it back: every attribute through DynamoDB's marshalling. */
const stored = (item: RequestItem | Record<string, unknown>) => item as RequestItem;

const awkward = [-0, 0, 5e-324, 2.2250738585072014e-308, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1 + 0.2, 2 ** 53 + 2, -1e-300, 1e300, 123456789.12345679, Number.EPSILON];

describe('served rows, binary layout', () => {
  it('round trips every double exactly (-0, subnormal, tiny, huge), null intervals and rows with their own features', () => {
    // Prepare: rows 0–12, each an awkward number somewhere; row 3 without an interval; row 5 with other features.
    const rows = awkward.map((v, k) =>
      row('awkward', k, {
        prediction: v,
        interval: k === 3 ? null : [-v, v],
        inputs: k === 5 ? { temperature: v, other: -0 } : { temperature: v, pressure: awkward[(k + 1) % awkward.length]!, flow_rate: -v },
      }),
    );

    // Act
    const item = toItem(rows);
    const back = fromItem(item);
    const served = fromItem(item, false);

    // Assert: Object.is tells -0 from 0.
    expect(back).toHaveLength(rows.length);
    back.forEach((b, k) => {
      expect(Object.is(b.prediction, rows[k]!.prediction)).toBe(true);
      expect(b.interval === null ? null : b.interval.map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(rows[k]!.interval === null ? null : rows[k]!.interval!.map((v) => (Object.is(v, -0) ? '-0' : v)));
      expect(Object.entries(b.inputs).map(([n, v]) => [n, Object.is(v, -0) ? '-0' : v])).toEqual(Object.entries(rows[k]!.inputs).map(([n, v]) => [n, Object.is(v, -0) ? '-0' : v]));
    });
    expect(back).toEqual(rows);
    expect(served).toEqual(rows.map((r) => ({ ...r, inputs: {} })));
    expect(Object.keys(item.xm ?? {})).toEqual(['5']);
    expect(item.ri).toBeUndefined();
  });

  it('keeps the row indices when they are not 0 … n-1 (rows left out of a batch), Uint32 each', () => {
    // Prepare: rows 0, 2, 7 and 99 of a batch.
    const rows = [0, 2, 7, 99].map((k) => row('gaps', k));

    // Act
    const item = toItem(rows);

    // Assert
    expect(item.ri?.byteLength).toBe(4 * 4);
    expect(fromItem(item).map((p) => p.row)).toEqual([0, 2, 7, 99]);
    expect(fromItem(item)).toEqual(rows);
  });

  it('a row without inputs, and rows that all have their own features, store no empty binary value', () => {
    // Prepare
    const rows = [row('own', 0, { inputs: {} }), row('own', 1, { inputs: { a: 1 } })];

    // Act
    const item = toItem(rows);

    // Assert: `f` is the first row's (none), so row 1 has its own; no `xs`, no empty `x`.
    expect(item.xs).toBeUndefined();
    expect(item.xm).toEqual({ '1': { f: ['a'], x: expect.any(Uint8Array) } });
    expect(fromItem(item)).toEqual(rows);
  });

  it('measured values are read from `obs` by row index, as before', () => {
    // Prepare
    const item = { ...toItem([row('obs', 0), row('obs', 4)]), obs: { '4': { a: 91.5, t: '2027-03-01T12:00:00.000Z' } } };

    // Act
    const back = fromItem(item, false);

    // Assert
    expect(back.map((p) => [p.row, p.actual, p.observedAt])).toEqual([
      [0, undefined, undefined],
      [4, 91.5, '2027-03-01T12:00:00.000Z'],
    ]);
  });

  it('property: any finite doubles round trip bit for bit', () => {
    const double = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.array(fc.record({ p: double, lo: double, hi: double, x: fc.array(double, { minLength: 2, maxLength: 2 }), noInterval: fc.boolean() }), { minLength: 1, maxLength: 100 }), (spec) => {
        const rows = spec.map((s, k) => row('prop', k, { prediction: s.p, interval: s.noInterval ? null : [s.lo, s.hi], inputs: { a: s.x[0]!, b: s.x[1]! } }));
        const back = fromItem(toItem(rows));
        const bits = (v: number) => new Uint8Array(new Float64Array([v]).buffer).join(',');
        return back.every((b, k) => bits(b.prediction) === bits(rows[k]!.prediction) && bits(b.inputs.a!) === bits(rows[k]!.inputs.a!) && bits(b.inputs.b!) === bits(rows[k]!.inputs.b!) && JSON.stringify(b.interval?.map(bits) ?? null) === JSON.stringify(rows[k]!.interval?.map(bits) ?? null));
      }),
      { seed: 16, numRuns: 200 },
    );
  });

  it('refuses to write a number a reader would refuse (not finite), or a row index that is not one', () => {
    // Act / Assert
    expect(() => toItem([row('bad', 0, { prediction: NaN })])).toThrow(/not kept/);
    expect(() => toItem([row('bad', 0, { interval: [0, Infinity] })])).toThrow(/not kept/);
    expect(() => toItem([row('bad', 0, { inputs: { a: -Infinity } })])).toThrow(/not kept/);
    expect(() => toItem([row('bad', 1.5)])).toThrow(/not kept/);
  });
});

describe('served rows of the layout before', () => {
  it('read exactly as before: rows, own features, null intervals, inputs stored inside a row (x), measured values', () => {
    // Prepare: the adapter's item of before, and one older still (inputs in the row as `x`).
    const rows = [row('old', 0), row('old', 1, { interval: null }), row('old', 2, { inputs: { temperature: 351 } })];
    const item = stored({ ...legacyItem(rows), obs: { '1': { a: 80, t: '2027-03-01T12:00:00.000Z' } } });
    const older = stored({ ...legacyItem([row('older', 0)]), xs: undefined, rows: [{ r: 0, x: [350, 5.5, 120.25], p: 90, i: [88, 92] }] });

    // Act / Assert
    expect(fromItem(item)).toEqual([rows[0], { ...rows[1], actual: 80, observedAt: '2027-03-01T12:00:00.000Z' }, rows[2]]);
    expect(fromItem(item, false).map((p) => p.inputs)).toEqual([{}, {}, {}]);
    expect(fromItem(older)).toEqual([row('older', 0)]);
  });

  it('an item of neither layout has no rows', () => {
    expect(fromItem(stored({ id: 'x', f: [] }))).toEqual([]);
  });
});

describe('a binary item that does not hold what it claims', () => {
  const good = () => toItem([row('c', 0), row('c', 1), row('c', 2, { inputs: { a: 1 } })]);
  const cut = (b: Uint8Array | undefined, by: number) => b!.subarray(0, b!.byteLength - by);
  const nan = (b: Uint8Array, at: number) => {
    const copy = new Uint8Array(b);
    new DataView(copy.buffer).setFloat64(at * 8, NaN, true);
    return copy;
  };
  const cases: [string, (item: RequestItem) => Record<string, unknown>, RegExp, boolean][] = [
    ['rb truncated to no multiple of 8', (i) => ({ rb: cut(i.rb, 3) }), /rb is not 9 doubles/, false],
    ['rb one row short', (i) => ({ rb: cut(i.rb, 24) }), /rb is not 9 doubles/, false],
    ['n claims a row more', (i) => ({ n: 4 }), /rb is not 12 doubles/, false],
    ['n missing', () => ({ n: undefined }), /no row count/, false],
    ['n not a count', () => ({ n: 1.5 }), /no row count/, false],
    ['rb a string, not bytes', () => ({ rb: 'AAAA' }), /rb is not 9 doubles/, false],
    ['ri of another length', (i) => ({ ri: new Uint8Array(8) }), /ri is not 3 row indices/, false],
    ['a prediction NaN', (i) => ({ rb: nan(i.rb!, 3) }), /row 1: the prediction is not finite/, false],
    ['one interval bound NaN', (i) => ({ rb: nan(i.rb!, 4) }), /row 1: an interval bound is not finite/, false],
    ['xs truncated', (i) => ({ xs: cut(i.xs as Uint8Array, 8) }), /xs is not 6 doubles/, true],
    ['xs missing', () => ({ xs: undefined }), /xs is not 6 doubles/, true],
    ['xs holding NaN', (i) => ({ xs: nan(i.xs as Uint8Array, 2) }), /xs holds a number that is not finite/, true],
    ['xm naming a row past n', (i) => ({ xm: { '7': i.xm!['2'] } }), /xm names row 7 of 3/, true],
    ['xm values short of its names', () => ({ xm: { '2': { f: ['a', 'b'], x: new Uint8Array(8) } } }), /xm row 2 is not 2 doubles/, true],
    ['feature names not strings', () => ({ f: [1, 2, 3] }), /no feature names/, false],
  ];

  it.each(cases)('%s: refused by name', (_name, change, message, inputsOnly) => {
    // Prepare
    const item = stored({ ...good(), ...change(good()) });

    // Act
    const withInputs = () => fromItem(item);
    const served = () => fromItem(item, false);

    // Assert: never rows of garbage; an item read without its inputs is judged on what was read.
    expect(withInputs).toThrow(CorruptServedRowsError);
    expect(withInputs).toThrow(message);
    if (inputsOnly) expect(served()).toHaveLength(3);
    else expect(served).toThrow(message);
  });

  it('property: any truncation or extension of a binary attribute is refused, never read as rows', () => {
    fc.assert(
      fc.property(fc.constantFrom('rb', 'xs'), fc.integer({ min: -48, max: 48 }).filter((d) => d !== 0), (name, delta) => {
        const item = good();
        const b = item[name] as Uint8Array;
        const changed = delta < 0 ? b.subarray(0, Math.max(0, b.byteLength + delta)) : new Uint8Array([...b, ...new Uint8Array(delta)]);
        const read = () => fromItem(stored({ ...item, [name]: changed }));
        expect(read).toThrow(CorruptServedRowsError);
      }),
      { seed: 16, numRuns: 100 },
    );
  });
});

describe('the size DynamoDB counts', () => {
  it("is dynalite's for items of every attribute type (ASCII names), numbers of every shape", () => {
    // Prepare
    const numbers = [0, 1, -1, 10, 100, 1000, 0.5, 0.05, 123.45, -123.45, 1e15, -999999999999999.9, 1.5e-7, 1e-130, -3.3e-131, 2 ** 52, 350, 120.25, 88.10000000000001, 12, 120, 0.1 + 0.2];
    const item = { id: 'x', n: 3, b: new Uint8Array([1, 2, 3]), l: [1, 'two', [3]], m: { a: 1, bb: { c: 'd' } }, ok: true, none: null, numbers };

    // Act / Assert
    for (const v of numbers) expect(itemBytes({ v }), String(v)).toBe(itemSize(wire(marshall({ v })) as Record<string, unknown>));
    expect(itemBytes(item)).toBe(itemSize(wire(marshall(item)) as Record<string, unknown>));
    expect(itemBytes(toItem([row('s', 0), row('s', 2, { inputs: { a: 1 } })]) as unknown as Record<string, unknown>)).toBe(
      itemSize(wire(marshall(toItem([row('s', 0), row('s', 2, { inputs: { a: 1 } })]), { removeUndefinedValues: true })) as Record<string, unknown>),
    );
  });

  it('counts a name or string in UTF-8 bytes (DynamoDB), never fewer', () => {
    expect(itemBytes({ 'é': 'ü€' })).toBe(2 + 5);
  });

  it('a batch of 100 rows of 256 features fits with room for every row’s measured value; one that does not is refused', () => {
    // Prepare
    const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, k) => [`sensor_${k}`, 1000.123456 + k]));
    const fits = Array.from({ length: 100 }, (_, k) => row('wide', k, { inputs: wide(256) }));
    const tooMany = Array.from({ length: 100 }, (_, k) => row('wider', k, { inputs: wide(510) }));

    // Act / Assert
    expect(itemBytes(toItem(fits) as unknown as Record<string, unknown>)).toBeLessThan(400 * 1024);
    expect(() => toItem(tooMany)).toThrow(/exceed DynamoDB's item size/);
  });

  it('a batch of 100 rows of 3 features is 5 KB (5 WRU), 9 KB (9 WRU) in the layout before', () => {
    // Prepare: inputs as the bench draws them (random doubles in the reactor's ranges).
    let seed = 16;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const rows = Array.from({ length: 100 }, (_, k) => {
      const p = 80 + random() * 10;
      return row('bench', k, { inputs: { temperature: 300 + random() * 100, pressure: 2 + random() * 8, flow_rate: 50 + random() * 150 }, prediction: p, interval: [p - 2 * random(), p + 2 * random()] });
    });

    // Act
    const now = itemBytes(toItem(rows) as unknown as Record<string, unknown>);
    const before = itemBytes(legacyItem(rows));

    // Assert
    expect([Math.ceil(now / 1024), Math.ceil(before / 1024)]).toEqual([5, 9]);
  });
});
