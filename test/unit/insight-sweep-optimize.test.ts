import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../functions/core/auth/tokens.js';
import { predictRows } from '../../functions/core/insight/evaluate.js';
import { search } from '../../functions/core/insight/search.js';
import { InsightService } from '../../functions/core/insight/service.js';
import { TwinModel } from '../../functions/core/twin/model.js';
import type { TwinService } from '../../functions/core/twin/service.js';
import { packagedSklearnForest } from '../support/insight.js';
import { referencePackage } from '../support/models.js';

/** The AppError a call is refused with (fails the test when it answers). */
async function refusal(call: Promise<unknown>): Promise<{ status: number; issues: { field: string; rule: string }[] }> {
  try {
    await call;
  } catch (error) {
    return error as { status: number; issues: { field: string; rule: string }[] };
  }
  throw new Error('expected a refusal');
}

const principal = { id: 'u:alice', username: 'alice' } as Principal;

/** The insight service over one loaded model; charges are recorded. */
function insightFor(model: TwinModel) {
  const charges: number[] = [];
  const twin = { resolveFor: async () => ({ model, routing: {} }), charge: async (_p: Principal, units: number) => void charges.push(units) } as unknown as TwinService;
  return { insight: new InsightService(twin, { now: () => Date.UTC(2026, 11, 1) }), charges };
}

/** The best prediction (or interval bound) over a dense grid with `n` points per varied feature, constraints applied. */
async function denseGridBest(model: TwinModel, vary: Record<string, [number, number]>, fixed: Record<string, number>, n: number, pick: (p: { prediction: number; interval: [number, number] | null }) => number, ok: (p: { prediction: number; interval: [number, number] | null }) => boolean = () => true) {
  const names = model.manifest.features.map((f) => f.name);
  let points: Record<string, number>[] = [{ ...fixed }];
  for (const [name, [lo, hi]] of Object.entries(vary)) {
    points = points.flatMap((p) => Array.from({ length: n }, (_, k) => ({ ...p, [name]: lo + ((hi - lo) * k) / (n - 1) })));
  }
  const values = Float32Array.from(points.flatMap((p) => names.map((f) => p[f]!)));
  const predictions = await predictRows(model, values, points.length);
  return Math.max(...predictions.filter(ok).map(pick));
}

describe('sweep', () => {
  let model: TwinModel;
  beforeAll(async () => {
    model = await TwinModel.load((await referencePackage()) as never);
  });
  afterAll(() => model.release());

  it('a 2-D sweep equals the individual predictions at every grid point, and charges its rows', async () => {
    const { insight, charges } = insightFor(model);
    const res = await insight.sweep(principal, 'reactor-yield', { x: { feature: 'temp', steps: 7 }, y: { feature: 'pressure', min: 2, max: 8, steps: 5 }, fixed: { flow: 110 } });
    expect(res.x).toEqual({ feature: 'temp', values: [300, 300 + 100 / 6, 300 + 200 / 6, 350, 300 + 400 / 6, 300 + 500 / 6, 400] });
    expect(res.y).toEqual({ feature: 'pressure', values: [2, 3.5, 5, 6.5, 8] });
    expect(res.fixed).toEqual({ flow: 110 });
    expect(res.alert_band).toEqual({ min: 70, max: 95 });
    expect(res.rows).toBe(35);
    expect(charges).toEqual([0]);
    for (let iy = 0; iy < 5; iy++) {
      for (let ix = 0; ix < 7; ix++) {
        const [single] = await model.infer(Float32Array.from([res.x.values[ix]!, res.y!.values[iy]!, 110]), 1);
        expect(res.prediction[iy]![ix]).toBe(single!.prediction);
        expect([res.lower![iy]![ix], res.upper![iy]![ix]]).toEqual(single!.interval);
      }
    }
  });

  it('100 × 100 runs in ten inference runs and costs 100 units (99 beyond the request)', async () => {
    const { insight, charges } = insightFor(model);
    const res = await insight.sweep(principal, 'reactor-yield', { x: { feature: 'temp', steps: 100 }, y: { feature: 'flow', steps: 100 }, fixed: { pressure: 6, temp: 999 } });
    expect(res.rows).toBe(10_000);
    expect(res.runs).toBe(10);
    expect(res.prediction).toHaveLength(100);
    expect(res.prediction[0]).toHaveLength(100);
    expect(charges).toEqual([99]);
  });

  it.each([
    [{ x: { feature: 'heat' }, fixed: {} }, 'x.feature', 'unknown_feature'],
    [{ x: { feature: 'temp', min: 250 }, fixed: { pressure: 6, flow: 100 } }, 'x', 'range'],
    [{ x: { feature: 'temp', min: 380, max: 320 }, fixed: { pressure: 6, flow: 100 } }, 'x', 'range'],
    [{ x: { feature: 'temp' }, y: { feature: 'temp' }, fixed: { pressure: 6, flow: 100 } }, 'y.feature', 'distinct'],
    [{ x: { feature: 'temp' }, fixed: { pressure: 6 } }, 'fixed.flow', 'required'],
    [{ x: { feature: 'temp' }, fixed: { pressure: 60, flow: 100 } }, 'fixed.pressure', 'range'],
    [{ x: { feature: 'temp', steps: 101 }, fixed: { pressure: 6, flow: 100 } }, 'x.steps', 'max'],
  ])('refuses %j naming %s (%s), before charging anything', async (body, field, rule) => {
    const { insight, charges } = insightFor(model);
    const error = await refusal(insight.sweep(principal, 'reactor-yield', body));
    expect(error.status).toBe(400);
    expect(error.issues).toContainEqual(expect.objectContaining({ field, rule }));
    expect(charges).toEqual([]);
  });
});

describe('optimize', () => {
  let reference: TwinModel;
  let sklearn: TwinModel;
  beforeAll(async () => {
    reference = await TwinModel.load((await referencePackage()) as never);
    sklearn = await TwinModel.load(await packagedSklearnForest());
  });
  afterAll(async () => {
    await Promise.all([reference.release(), sklearn.release()]);
  });

  it.each(['reference', 'sklearn'] as const)('%s: maximising the prediction over temp and pressure beats or ties a dense 60 × 60 grid', async (which) => {
    const model = { reference, sklearn }[which];
    const { insight, charges } = insightFor(model);
    const res = await insight.optimize(principal, model.manifest.name, { vary: { temp: {}, pressure: {} }, fixed: { flow: 100 } });
    const grid = await denseGridBest(model, { temp: [300, 400], pressure: [1, 10] }, { flow: 100 }, 60, (p) => p.prediction);
    expect(res.feasible).toBe(true);
    expect(res.value).toBeGreaterThanOrEqual(grid);
    expect(res.setpoints.flow).toBe(100);
    expect(res.search.evaluations).toBeLessThanOrEqual(6000);
    expect(charges).toEqual([59]);
    // The answer is what the model says at the setpoints.
    const [at] = await model.infer(Float32Array.from([res.setpoints.temp!, res.setpoints.pressure!, 100]), 1);
    expect(at!.prediction).toBe(res.prediction);
    expect(res.confidence_interval).toEqual(at!.interval);
  });

  it('all three features, maximising the lower bound subject to upper <= 95: beats or ties a dense 20³ grid under the same constraint', async () => {
    const { insight } = insightFor(reference);
    const res = await insight.optimize(principal, 'reactor-yield', { target: 'lower', vary: { temp: {}, pressure: {}, flow: {} }, fixed: {}, constraints: [{ target: 'upper', op: '<=', value: 95 }], max_evaluations: 10_000 });
    const grid = await denseGridBest(reference, { temp: [300, 400], pressure: [1, 10], flow: [50, 150] }, {}, 20, (p) => p.interval![0], (p) => p.interval![1] <= 95);
    expect(res.feasible).toBe(true);
    expect(res.value).toBeGreaterThanOrEqual(grid);
    expect(res.confidence_interval![1]).toBeLessThanOrEqual(95);
    expect(res.constraints).toEqual([{ target: 'upper', op: '<=', value: 95, actual: res.confidence_interval![1], satisfied: true }]);
  });

  it('minimises, respects sub-ranges and the training envelope, and is reproducible for a seed', async () => {
    const { insight } = insightFor(sklearn);
    const body = { goal: 'minimize', vary: { temp: { min: 320, max: 380 } }, within_envelope: true, fixed: { pressure: 5, flow: 90 }, seed: 9, max_evaluations: 500 };
    const a = await insight.optimize(principal, 'sk-forest', body);
    const b = await insight.optimize(principal, 'sk-forest', body);
    const { timestamp: _t1, inference_time_ms: _i1, ...restA } = a;
    const { timestamp: _t2, inference_time_ms: _i2, ...restB } = b;
    expect(restA).toEqual(restB);
    const env = sklearn.manifest.features[0]!.envelope!;
    expect(a.bounds.temp).toEqual([Math.max(320, env.min), Math.min(380, env.max)]);
    expect(a.setpoints.temp).toBeGreaterThanOrEqual(a.bounds.temp![0]);
    expect(a.setpoints.temp).toBeLessThanOrEqual(a.bounds.temp![1]);
    const grid = -(await denseGridBest(sklearn, { temp: a.bounds.temp! }, { pressure: 5, flow: 90 }, 400, (p) => -p.prediction));
    expect(a.value).toBeLessThanOrEqual(grid);
  });

  it('says when no point satisfies the constraints, and returns the least violating one', async () => {
    const { insight } = insightFor(reference);
    const res = await insight.optimize(principal, 'reactor-yield', { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, constraints: [{ target: 'lower', op: '>=', value: 200 }], max_evaluations: 400 });
    expect(res.feasible).toBe(false);
    expect(res.message).toMatch(/no point searched satisfies the constraints/);
    expect(res.constraints[0]!.satisfied).toBe(false);
    const best = await denseGridBest(reference, { temp: [300, 400] }, { pressure: 6, flow: 100 }, 200, (p) => p.interval![0]);
    expect(res.confidence_interval![0]).toBeGreaterThanOrEqual(best);
  });

  it('refuses interval targets on a model without an interval, unknown features and empty vary', async () => {
    const { insight } = insightFor(reference);
    const bad = (body: unknown) => refusal(insight.optimize(principal, 'reactor-yield', body));
    expect((await bad({ vary: { heat: {} }, fixed: {} })).issues).toContainEqual(expect.objectContaining({ field: 'vary.heat', rule: 'unknown_feature' }));
    expect((await bad({ vary: {}, fixed: {} })).issues).toContainEqual(expect.objectContaining({ field: 'vary', rule: 'required' }));
    expect((await bad({ vary: { temp: {} }, fixed: {}, max_evaluations: 10 ** 6 })).issues).toContainEqual(expect.objectContaining({ field: 'max_evaluations', rule: 'max' }));
  });
});

describe('search (plain functions)', () => {
  it('refines past the grid on a smooth function and stops within the evaluation budget', async () => {
    // Peak at (0.123456, 0.654321): off every grid point.
    const f = (p: number[]) => -((p[0]! - 0.123456) ** 2) - (p[1]! - 0.654321) ** 2;
    const result = await search({ lo: [0, 0], hi: [1, 1], seed: 1, maxEvaluations: 2000, maxTimeMs: 60_000, now: () => 0 }, async (points) =>
      points.map((point) => ({ point, score: f(point), violation: 0, detail: null })),
    );
    expect(result.grid).toEqual({ per_axis: 31, points: 961 });
    expect(result.evaluations).toBeLessThanOrEqual(2000);
    expect(result.best.point[0]).toBeCloseTo(0.123456, 3);
    expect(result.best.point[1]).toBeCloseTo(0.654321, 3);
  });

  it('stops on the time budget with an injected clock', async () => {
    let t = 0;
    const result = await search({ lo: [0], hi: [1], seed: 1, maxEvaluations: 10_000, maxTimeMs: 5, now: () => t }, async (points) => {
      t += 10;
      return points.map((point) => ({ point, score: -Math.abs(point[0]! - 0.3), violation: 0, detail: null }));
    });
    expect(result.stopped).toBe('time');
    expect(result.rounds).toBe(0);
  });

  it('uses a seeded Latin hypercube when even two points per axis exceed half the budget', async () => {
    const d = 12;
    const result = await search({ lo: Array(d).fill(0), hi: Array(d).fill(1), seed: 2, maxEvaluations: 1000, maxTimeMs: 60_000, now: () => 0 }, async (points) =>
      points.map((point) => ({ point, score: -point.reduce((s, v) => s + (v - 0.5) ** 2, 0), violation: 0, detail: null })),
    );
    expect(result.grid).toEqual({ sampled: 500 });
    expect(result.evaluations).toBeLessThanOrEqual(1000);
  });
});
