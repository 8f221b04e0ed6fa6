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

/**
 * How the Shapley values are computed; both are exact and agree to rounding (tested against each other and
 * a brute-force reference):
 * - `path`: Lundberg's path algorithm, O(nodes × depth²) per row, for any number of features;
 * - `leaves`: every leaf is a box with, per feature, its interval and the background's share of it. Under
 *   the product background the leaf adds value × Π_{g∈S} [x_g in interval] × Π_{g∉S} share_g to
 *   v(S) = E[f(x_S, X_rest)], so one flat pass over the leaves gives v(S) for every coalition S (only the
 *   subsets of the features whose intervals hold x: few), then the Shapley formula over the 2^M coalitions.
 *   For the few features of a process model (M ≤ {@link maxLeafFeatures}) several times faster: no
 *   recursion, no per-node path arithmetic.
 * `auto` picks `leaves` when M ≤ {@link maxLeafFeatures}.
 */
export type TreeShapAlgorithm = 'auto' | 'path' | 'leaves';
export const maxLeafFeatures = 8;

/** Every leaf of the ensemble as a box: row-major [leaf, feature] bounds (bit 1: lo inclusive, bit 2: hi inclusive). */
interface LeafTable {
  count: number;
  lo: Float64Array;
  hi: Float64Array;
  inclusive: Uint8Array;
  /** The background's probability of the leaf's interval, per feature. */
  share: Float64Array;
  value: Float64Array;
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

  readonly algorithm: 'path' | 'leaves';
  private readonly leaves: LeafTable | undefined;
  private readonly coalitionValues: Float64Array;
  private readonly shapleyWeights: Float64Array;

  constructor(
    private readonly ensemble: TreeEnsemble,
    box: Box,
    algorithm: TreeShapAlgorithm = 'auto',
  ) {
    const m = ensemble.features;
    this.algorithm = algorithm === 'auto' ? (m <= maxLeafFeatures ? 'leaves' : 'path') : algorithm;
    this.coalitionValues = new Float64Array(this.algorithm === 'leaves' ? 2 ** m : 0);
    // w(|S|) = |S|! (M − |S| − 1)! / M!
    let fact = [1];
    for (let i = 1; i <= m; i++) fact = [...fact, fact[i - 1]! * i];
    this.shapleyWeights = Float64Array.from({ length: m }, (_, size) => (fact[size]! * fact[m - size - 1]!) / fact[m]!);
    this.fractions = ensemble.trees.map((tree) => nodeFractions(tree, box));
    this.leaves = this.algorithm === 'leaves' ? leafTable(ensemble, this.fractions) : undefined;
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
    if (this.algorithm === 'leaves') return this.explainByLeaves(x, phi);
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

  private explainByLeaves(x: ArrayLike<number>, phi: Float64Array): number {
    const t = this.leaves!;
    const m = this.ensemble.features;
    const n = 2 ** m;
    const v = this.coalitionValues;
    v.fill(0);
    for (let l = 0; l < t.count; l++) {
      // Which features' conditions on the way to this leaf x meets: coalitions within that mask reach it.
      let mask = 0;
      for (let g = 0, k = l * m; g < m; g++, k++) {
        const xv = x[g]!;
        const flags = t.inclusive[k]!;
        if ((xv < t.hi[k]! || (flags & 2 && xv === t.hi[k])) && (xv > t.lo[k]! || (flags & 1 && xv === t.lo[k]))) mask |= 1 << g;
      }
      if (mask === 0) continue; // only v(∅), precomputed
      const value = t.value[l]!;
      for (let s = mask; s !== 0; s = (s - 1) & mask) {
        let product = value;
        for (let g = 0; g < m; g++) if (!(s & (1 << g))) product *= t.share[l * m + g]!;
        v[s] = v[s]! + product;
      }
    }
    v[0] = this.expectedValue;
    for (let s = 1; s < n; s++) v[s] = v[s]! + this.ensemble.base;
    phi.fill(0);
    for (let s = 0; s < n - 1; s++) {
      let size = 0;
      for (let f = 0; f < m; f++) if (s & (1 << f)) size++;
      const weight = this.shapleyWeights[size]!;
      for (let f = 0; f < m; f++) if (!(s & (1 << f))) phi[f] = phi[f]! + weight * (v[s | (1 << f)]! - v[s]!);
    }
    return v[n - 1]!;
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

/** The leaves as boxes (see TreeShapAlgorithm `leaves`): the conditions on each feature along the path, and its share. */
function leafTable(ensemble: TreeEnsemble, fractions: Float64Array[]): LeafTable {
  const m = ensemble.features;
  const count = ensemble.trees.reduce((s, t) => s + t.feature.reduce((c, f) => c + (f < 0 ? 1 : 0), 0), 0);
  const table: LeafTable = {
    count: 0,
    lo: new Float64Array(count * m),
    hi: new Float64Array(count * m),
    inclusive: new Uint8Array(count * m),
    share: new Float64Array(count * m),
    value: new Float64Array(count),
  };
  const lo = new Float64Array(m);
  const hi = new Float64Array(m);
  const inc = new Uint8Array(m);
  const share = new Float64Array(m);
  ensemble.trees.forEach((tree, t) => {
    const frac = fractions[t]!;
    lo.fill(-Infinity);
    hi.fill(Infinity);
    inc.fill(3);
    share.fill(1);
    const visit = (node: number): void => {
      const f = tree.feature[node]!;
      if (f < 0) {
        const l = table.count++;
        table.lo.set(lo, l * m);
        table.hi.set(hi, l * m);
        table.inclusive.set(inc, l * m);
        table.share.set(share, l * m);
        table.value[l] = tree.value[node]!;
        return;
      }
      const th = tree.threshold[node]!;
      const mode = tree.mode[node]!;
      for (const yes of [true, false]) {
        const child = yes ? tree.yes[node]! : tree.no[node]!;
        const saved = [lo[f]!, hi[f]!, inc[f]!, share[f]!] as const;
        // The condition this branch puts on x: an upper bound (x ≤ t or x < t) or a lower one (x ≥ t or x > t).
        const upper = (mode === SplitMode.LEQ || mode === SplitMode.LT) === yes;
        const inclusiveBound = yes ? mode === SplitMode.LEQ || mode === SplitMode.GTE : mode === SplitMode.LT || mode === SplitMode.GT;
        if (upper) {
          if (th < hi[f]! || (th === hi[f] && !inclusiveBound)) {
            hi[f] = th;
            inc[f] = (inc[f]! & 1) | (inclusiveBound ? 2 : 0);
          }
        } else if (th > lo[f]! || (th === lo[f] && !inclusiveBound)) {
          lo[f] = th;
          inc[f] = (inc[f]! & 2) | (inclusiveBound ? 1 : 0);
        }
        share[f] = share[f]! * frac[child]!;
        visit(child);
        [lo[f], hi[f], inc[f], share[f]] = saved;
      }
    };
    visit(0);
  });
  return table;
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
