import { goesYes, SplitMode, type FlatTree, type TreeEnsemble } from './tree-graph.js';

/**
 * Exact TreeSHAP for a tree ensemble, interventional against a uniform background box.
 *
 * ONNX tree ensembles carry no node covers (ai.onnx.ml has no such attribute; skl2onnx writes every
 * `nodes_hitrates` as 1), so the path-dependent algorithm has no training counts to use. Instead the
 * background is the product-uniform distribution over a box (each feature's training envelope, or its
 * valid range). Under a product distribution the probability that a row in a node goes to a child depends
 * only on the split feature's interval, so each node's "cover fraction" is known in closed form, and
 * path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2) with these fractions computes EXACTLY the
 * interventional Shapley values against that infinite background: E[f(x_S, X_rest)] with X_rest uniform.
 * Cost per row: O(nodes × (features on a path)²). Contributions plus the expected value equal the model's
 * prediction up to float rounding (local accuracy).
 */

/** Per feature, the background interval in the graph's input space (after any scaler). */
export interface Box {
  lo: Float64Array;
  hi: Float64Array;
}

/** An ensemble prepared for one background box: per node, the background's probability of reaching it from its parent. */
export class TreeShapExplainer {
  private readonly fractions: Float64Array[];
  /** The background expectation of the prediction: base + Σ trees. */
  readonly expectedValue: number;
  private readonly pathD: Int32Array;
  private readonly pathZ: Float64Array;
  private readonly pathO: Float64Array;
  private readonly pathW: Float64Array;

  constructor(
    private readonly ensemble: TreeEnsemble,
    box: Box,
  ) {
    this.fractions = ensemble.trees.map((tree) => nodeFractions(tree, box));
    let expected = ensemble.base;
    ensemble.trees.forEach((tree, t) => (expected += treeExpectation(tree, this.fractions[t]!)));
    this.expectedValue = expected;
    const depth = Math.max(0, ...ensemble.trees.map((t) => t.depth));
    // Each recursion level holds a path of at most (distinct features on it + 1) elements.
    const size = (depth + 3) * (Math.min(depth, ensemble.features) + 3);
    this.pathD = new Int32Array(size);
    this.pathZ = new Float64Array(size);
    this.pathO = new Float64Array(size);
    this.pathW = new Float64Array(size);
  }

  /**
   * The contributions of one row (graph input space, float32 values as the graph compares them) into `phi`
   * (length = features, overwritten); returns the prediction the trees give for it.
   */
  explain(x: ArrayLike<number>, phi: Float64Array): number {
    phi.fill(0);
    let prediction = this.ensemble.base;
    this.ensemble.trees.forEach((tree, t) => {
      const frac = this.fractions[t]!;
      this.recurse(tree, frac, x, phi, 0, 0, 0, 1, 1, -1);
      let node = 0;
      while (tree.feature[node]! >= 0) node = goesYes(tree.mode[node]!, x[tree.feature[node]!]!, tree.threshold[node]!) ? tree.yes[node]! : tree.no[node]!;
      prediction += tree.value[node]!;
    });
    return prediction;
  }

  // A port of shap's tree_shap_recursive (tree_shap.h): `base` is where this level's path starts, `u` its
  // unique depth; the path elements are (feature d, zero fraction z, one fraction o, permutation weight w).
  private recurse(tree: FlatTree, frac: Float64Array, x: ArrayLike<number>, phi: Float64Array, node: number, u: number, parentBase: number, pz: number, po: number, pi: number): void {
    const { pathD: d, pathZ: z, pathO: o, pathW: w } = this;
    const base = parentBase + u + 1;
    for (let i = 0; i < u; i++) {
      d[base + i] = d[parentBase + i]!;
      z[base + i] = z[parentBase + i]!;
      o[base + i] = o[parentBase + i]!;
      w[base + i] = w[parentBase + i]!;
    }
    // extend
    d[base + u] = pi;
    z[base + u] = pz;
    o[base + u] = po;
    w[base + u] = u === 0 ? 1 : 0;
    for (let i = u - 1; i >= 0; i--) {
      w[base + i + 1] = w[base + i + 1]! + (po * w[base + i]! * (i + 1)) / (u + 1);
      w[base + i] = (pz * w[base + i]! * (u - i)) / (u + 1);
    }
    const feature = tree.feature[node]!;
    if (feature < 0) {
      const value = tree.value[node]!;
      if (value === 0) return;
      for (let i = 1; i <= u; i++) {
        phi[d[base + i]!] = phi[d[base + i]!]! + this.unwoundSum(base, u, i) * (o[base + i]! - z[base + i]!) * value;
      }
      return;
    }
    const yes = goesYes(tree.mode[node]!, x[feature]!, tree.threshold[node]!);
    const hot = yes ? tree.yes[node]! : tree.no[node]!;
    const cold = yes ? tree.no[node]! : tree.yes[node]!;
    let iz = 1;
    let io = 1;
    let depth = u;
    let k = 0;
    while (k <= depth && d[base + k] !== feature) k++;
    if (k <= depth) {
      iz = z[base + k]!;
      io = o[base + k]!;
      this.unwind(base, depth, k);
      depth -= 1;
    }
    const hotZ = frac[hot]! * iz;
    const coldZ = frac[cold]! * iz;
    // A child the background never reaches and x does not take contributes nothing (and would divide by 0).
    if (hotZ !== 0 || io !== 0) this.recurse(tree, frac, x, phi, hot, depth + 1, base, hotZ, io, feature);
    if (coldZ !== 0) this.recurse(tree, frac, x, phi, cold, depth + 1, base, coldZ, 0, feature);
  }

  private unwind(base: number, u: number, index: number): void {
    const { pathD: d, pathZ: z, pathO: o, pathW: w } = this;
    const one = o[base + index]!;
    const zero = z[base + index]!;
    let next = w[base + u]!;
    for (let i = u - 1; i >= 0; i--) {
      if (one !== 0) {
        const tmp = w[base + i]!;
        w[base + i] = (next * (u + 1)) / ((i + 1) * one);
        next = tmp - (w[base + i]! * zero * (u - i)) / (u + 1);
      } else {
        w[base + i] = (w[base + i]! * (u + 1)) / (zero * (u - i));
      }
    }
    for (let i = index; i < u; i++) {
      d[base + i] = d[base + i + 1]!;
      z[base + i] = z[base + i + 1]!;
      o[base + i] = o[base + i + 1]!;
    }
  }

  private unwoundSum(base: number, u: number, index: number): number {
    const { pathZ: z, pathO: o, pathW: w } = this;
    const one = o[base + index]!;
    const zero = z[base + index]!;
    let next = w[base + u]!;
    let total = 0;
    if (one !== 0) {
      for (let i = u - 1; i >= 0; i--) {
        const tmp = next / ((i + 1) * one);
        total += tmp;
        next = w[base + i]! - tmp * zero * (u - i);
      }
    } else {
      for (let i = u - 1; i >= 0; i--) total += w[base + i]! / (zero * (u - i));
    }
    return total * (u + 1);
  }
}

/**
 * P(child | parent) for every node under the uniform box (root: 1). A split on feature f at t divides f's
 * current interval [lo, hi] at t; a degenerate interval (a point, or emptied by earlier splits) sends all
 * its (zero) mass the way that point goes, so the two fractions of a split always sum to 1.
 */
export function nodeFractions(tree: FlatTree, box: Box): Float64Array {
  const frac = new Float64Array(tree.feature.length);
  frac[0] = 1;
  const lo = Float64Array.from(box.lo);
  const hi = Float64Array.from(box.hi);
  const visit = (node: number): void => {
    const f = tree.feature[node]!;
    if (f < 0) return;
    const t = tree.threshold[node]!;
    const mode = tree.mode[node]!;
    const a = lo[f]!;
    const b = hi[f]!;
    const cut = Math.min(Math.max(t, a), b);
    // Mass at or below the threshold; which side holds it depends on the comparison.
    const below = b > a ? (cut - a) / (b - a) : goesYes(SplitMode.LEQ, a, t) ? 1 : 0;
    const lowSideIsYes = mode === SplitMode.LEQ || mode === SplitMode.LT;
    const yesFrac = b > a ? (lowSideIsYes ? below : 1 - below) : goesYes(mode, a, t) ? 1 : 0;
    frac[tree.yes[node]!] = yesFrac;
    frac[tree.no[node]!] = 1 - yesFrac;
    const lowChild = lowSideIsYes ? tree.yes[node]! : tree.no[node]!;
    const highChild = lowSideIsYes ? tree.no[node]! : tree.yes[node]!;
    hi[f] = b > a ? cut : b;
    visit(lowChild);
    hi[f] = b;
    lo[f] = b > a ? cut : a;
    visit(highChild);
    lo[f] = a;
  };
  visit(0);
  return frac;
}

/** Σ leaves value × P(reach leaf). */
function treeExpectation(tree: FlatTree, frac: Float64Array): number {
  let total = 0;
  const stack: [number, number][] = [[0, 1]];
  while (stack.length) {
    const [node, p] = stack.pop()!;
    if (tree.feature[node]! < 0) total += p * tree.value[node]!;
    else stack.push([tree.yes[node]!, p * frac[tree.yes[node]!]!], [tree.no[node]!, p * frac[tree.no[node]!]!]);
  }
  return total;
}
