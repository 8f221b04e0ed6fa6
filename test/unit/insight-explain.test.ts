import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backgroundRanges, explainRows, explanationKind, graphValue } from '../../functions/core/insight/explain.js';
import { goesYes, readTreeEnsemble, type FlatTree } from '../../functions/core/insight/tree-graph.js';
import { TreeShapExplainer } from '../../functions/core/insight/tree-shap.js';
import { TwinModel } from '../../functions/core/twin/model.js';
import { handModel, linearModel, packagedSklearnForest } from '../support/insight.js';
import { referencePackage, referenceVariant } from '../support/models.js';

const rowsOf = (rows: number[][]) => Float32Array.from(rows.flat());
const sum = (r: Record<string, number>) => Object.values(r).reduce((s, v) => s + v, 0);

/**
 * An independent reference: v(S) = E[f(x_S, X_rest)] with X_rest uniform on the box, by descending every
 * branch a missing feature can take weighted by the share of its interval (Lundberg's EXPVALUE), then the
 * Shapley formula over all coalitions.
 */
function bruteForceShapley(trees: FlatTree[], base: number, x: number[], lo: number[], hi: number[]): { phi: number[]; expected: number } {
  const m = x.length;
  const value = (mask: number): number => {
    let total = base;
    for (const tree of trees) {
      const walk = (node: number, l: number[], h: number[]): number => {
        const f = tree.feature[node]!;
        if (f < 0) return tree.value[node]!;
        const t = tree.threshold[node]!;
        if (mask & (1 << f)) return walk(goesYes(tree.mode[node]!, x[f]!, t) ? tree.yes[node]! : tree.no[node]!, l, h);
        const a = l[f]!;
        const b = h[f]!;
        if (b <= a) return walk(goesYes(tree.mode[node]!, a, t) ? tree.yes[node]! : tree.no[node]!, l, h);
        const cut = Math.min(Math.max(t, a), b);
        const low = (cut - a) / (b - a);
        const lowIsYes = tree.mode[node]! <= 1;
        const lowChild = lowIsYes ? tree.yes[node]! : tree.no[node]!;
        const highChild = lowIsYes ? tree.no[node]! : tree.yes[node]!;
        const hl = [...h];
        hl[f] = cut;
        const lh = [...l];
        lh[f] = cut;
        return (low > 0 ? low * walk(lowChild, l, hl) : 0) + (low < 1 ? (1 - low) * walk(highChild, lh, h) : 0);
      };
      total += walk(0, lo, hi);
    }
    return total;
  };
  const v = Array.from({ length: 2 ** m }, (_, s) => value(s));
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  const phi = Array.from({ length: m }, () => 0);
  for (let s = 0; s < 2 ** m; s++) {
    const size = [...Array(m).keys()].filter((f) => s & (1 << f)).length;
    for (let f = 0; f < m; f++) if (!(s & (1 << f))) phi[f]! += ((fact(size) * fact(m - size - 1)) / fact(m)) * (v[s | (1 << f)]! - v[s]!);
  }
  return { phi, expected: v[0]! };
}

describe('TreeSHAP on a hand-built ensemble (values worked out by hand)', () => {
  it.each([
    { layout: 'per-tree' as const, options: {}, base: 0 },
    { layout: 'skl2onnx' as const, options: { aggregate: 'SUM' as const }, base: 0 },
    { layout: 'skl2onnx' as const, options: { aggregate: 'AVERAGE' as const }, base: 0 },
    { layout: 'skl2onnx' as const, options: { aggregate: 'SUM' as const, baseValue: 2 }, base: 2 },
  ])('$layout $options: E = 10, φ = (−3.75, 0.75) for x = (0.2, 0.7)', async ({ layout, options, base }) => {
    // Prepare
    const model = await handModel(layout, options);
    try {
      // Act
      const result = await explainRows(model, rowsOf([[0.2, 0.7]]), 1);
      const [served] = await model.infer(rowsOf([[0.2, 0.7]]), 1);
      // Assess
      expect(result.method.method).toBe('tree-shap-interventional');
      expect(result.method.background).toEqual({ kind: 'uniform-box', ranges: { a: [0, 1], b: [0, 1] } });
      const e = result.explanations[0]!;
      expect(e.expected_value).toBeCloseTo(10 + base, 6);
      expect(e.contributions.a).toBeCloseTo(-3.75, 6);
      expect(e.contributions.b).toBeCloseTo(0.75, 6);
      expect(served!.prediction).toBeCloseTo(7 + base, 5);
      expect(e.expected_value + sum(e.contributions)).toBeCloseTo(served!.prediction, 5);
    } finally {
      await model.release();
    }
  });

  it('gives a feature no tree splits on no contribution, and x on the split point takes the LEQ branch', async () => {
    const model = await handModel('per-tree');
    try {
      const { explanations } = await explainRows(model, rowsOf([[0.5, 0.1]]), 1);
      // x0 = 0.5 goes left (≤): tree A 10 − 15, tree B v(∅)=5, v({0})=2, v({1})=0.5·0+0.5·8=4, v(all)=0 → φ0 = ½[(2−5)+(0−4)] = −3.5, φ1 = ½[(4−5)+(0−2)] = −1.5
      expect(explanations[0]!.contributions.a).toBeCloseTo((-5 - 3.5) / 2, 6);
      expect(explanations[0]!.contributions.b).toBeCloseTo(-1.5 / 2, 6);
    } finally {
      await model.release();
    }
  });
});

describe('TreeSHAP on the reference model and a packaged scikit-learn forest', () => {
  let reference: TwinModel;
  let shifted: TwinModel;
  let sklearn: TwinModel;
  beforeAll(async () => {
    reference = await TwinModel.load((await referencePackage()) as never);
    shifted = await TwinModel.load((await referenceVariant('1.0.1', { tempShift: 20 })) as never);
    sklearn = await TwinModel.load(await packagedSklearnForest());
  });
  afterAll(async () => {
    await Promise.all([reference.release(), shifted.release(), sklearn.release()]);
  });

  const rows = [
    [360, 6, 100],
    [300, 1, 50],
    [400, 10, 150],
    [330.5, 2.25, 140],
    [371.25, 8.5, 61],
  ];

  it.each(['reference', 'shifted', 'sklearn'] as const)('%s: contributions + expected value = the served prediction within 1e-4, and equal a brute-force Shapley computation', async (which) => {
    const model = { reference, shifted, sklearn }[which];
    expect(explanationKind(model)).toEqual({ tree: true });
    const values = rowsOf(rows);
    const { explanations } = await explainRows(model, values, rows.length);
    const served = await model.infer(values.slice(), rows.length);
    const reading = readTreeEnsemble(model.graph, model.manifest);
    if (!reading.ok) throw new Error(reading.reason);
    const ranges = backgroundRanges(model.manifest.features);
    const s = model.manifest.scaler;
    const ends = ranges.map(([a, b], f) => (s ? [(a - s.mean[f]!) / s.scale[f]!, (b - s.mean[f]!) / s.scale[f]!] : [a, b]).sort((p, q) => p - q));
    const box = { lo: Float64Array.from(ends, (e) => e[0]!), hi: Float64Array.from(ends, (e) => e[1]!) };
    const path = new TreeShapExplainer(reading.ensemble, box, 'path');
    const leaves = new TreeShapExplainer(reading.ensemble, box, 'leaves');
    rows.forEach((row, r) => {
      const e = explanations[r]!;
      expect(Math.abs(e.expected_value + sum(e.contributions) - served[r]!.prediction)).toBeLessThan(1e-4);
      const x = row.map((v, f) => graphValue(model.manifest, f, v));
      const brute = bruteForceShapley(reading.ensemble.trees, reading.ensemble.base, x, ends.map((e) => e[0]!), ends.map((e) => e[1]!));
      expect(e.expected_value).toBeCloseTo(brute.expected, 9);
      model.manifest.features.forEach((f, i) => expect(e.contributions[f.name]).toBeCloseTo(brute.phi[i]!, 9));
      // Both algorithms, against the same reference.
      for (const explainer of [path, leaves]) {
        const phi = new Float64Array(x.length);
        const prediction = explainer.explain(x, phi);
        expect(explainer.expectedValue).toBeCloseTo(brute.expected, 9);
        phi.forEach((p, i) => expect(p).toBeCloseTo(brute.phi[i]!, 9));
        expect(prediction).toBeCloseTo(served[r]!.prediction, 4);
      }
    });
  });

  it('the reference model: temperature dominates far from the optimum (300 °C), and the expected value lies in the yield range', async () => {
    const { explanations } = await explainRows(reference, rowsOf([[300, 6, 100]]), 1);
    const c = explanations[0]!.contributions;
    expect(c.temp).toBeLessThan(-20);
    expect(Math.abs(c.temp!)).toBeGreaterThan(Math.abs(c.pressure!) + Math.abs(c.flow!));
    expect(explanations[0]!.expected_value).toBeGreaterThan(20);
    expect(explanations[0]!.expected_value).toBeLessThan(90);
  });
});

describe('model-agnostic Shapley values (not a tree ensemble)', () => {
  it('a linear model, exact over coalitions: φ_i moves by w_i·Δ when x_i moves by Δ, the others stay, and local accuracy holds', async () => {
    const model = await linearModel([0.25, -0.5, 0.125], 10);
    try {
      const { method, explanations, evaluations } = await explainRows(model, rowsOf([[2, 4, 6], [6, 4, 6]]), 2, 7);
      expect(method.method).toBe('shapley-exact');
      expect(method.reason).toMatch(/not written by a TreeEnsembleRegressor/);
      expect(method.evaluations_per_row).toBe(8 * 32);
      expect(evaluations).toBe(2 * 8 * 32);
      const [a, b] = explanations as [typeof explanations[0], typeof explanations[0]];
      expect(b.contributions.x0! - a.contributions.x0!).toBeCloseTo(0.25 * 4, 5);
      expect(b.contributions.x1).toBeCloseTo(a.contributions.x1!, 5);
      expect(b.contributions.x2).toBeCloseTo(a.contributions.x2!, 5);
      expect(a.expected_value + sum(a.contributions)).toBeCloseTo(0.25 * 2 - 2 + 0.75 + 10, 4);
      // Reproducible for a seed; a different seed draws a different background.
      const again = await explainRows(model, rowsOf([[2, 4, 6]]), 1, 7);
      expect(again.explanations[0]).toEqual(a);
      const other = await explainRows(model, rowsOf([[2, 4, 6]]), 1, 8);
      expect(other.explanations[0]!.expected_value).not.toBe(a.expected_value);
    } finally {
      await model.release();
    }
  });

  it('nine features: permutation sampling within the evaluation budget, still exact for a linear model', async () => {
    const w = [1, -2, 0.5, 0.25, 3, -1, 2, 0.125, -0.5];
    const model = await linearModel(w, 1);
    try {
      const x1 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
      const x2 = [...x1];
      x2[4] = 7;
      const { method, explanations } = await explainRows(model, rowsOf([x1, x2]), 2, 3);
      expect(method.method).toBe('shapley-sampling');
      expect(method.evaluations_per_row).toBeLessThanOrEqual(4096);
      expect(explanations[1]!.contributions.x4! - explanations[0]!.contributions.x4!).toBeCloseTo(3 * 2, 4);
      const f = w.reduce((s, wi, i) => s + wi * x1[i]!, 1);
      expect(explanations[0]!.expected_value + sum(explanations[0]!.contributions)).toBeCloseTo(f, 3);
    } finally {
      await model.release();
    }
  });
});
