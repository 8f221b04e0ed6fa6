import { Prng, deriveSeed } from './prng.js';

/**
 * A random forest regressor: CART regression trees (splits chosen by the largest reduction of the sum of
 * squared errors), one bootstrap sample per tree, an optional random feature subset per split. Seeded and
 * deterministic.
 *
 * Float32 by construction, so that it agrees exactly with onnxruntime's TreeEnsembleRegressor (which
 * works in float32): inputs are rounded to float32 (Math.fround) before training and before prediction,
 * thresholds and leaf values are stored as float32 values, and a row goes left when
 * `fround(x[feature]) <= threshold` (ONNX BRANCH_LEQ, true branch).
 *
 * A threshold is the midpoint of two consecutive distinct (float32) training values a < b, rounded to
 * float32; if that rounding lands on b (a and b adjacent floats) the threshold is a instead. Either way
 * a <= threshold < b, so the partition seen in training is exactly the one the stored threshold produces.
 */

export interface ForestOptions {
  nTrees: number;
  /** Root is depth 0; a node at maxDepth is a leaf (as scikit-learn's max_depth). */
  maxDepth: number;
  /** Minimum number of (bootstrap) samples in a leaf, counting duplicates. */
  minSamplesLeaf: number;
  /** Features considered per split (a random subset); default: all. */
  maxFeatures?: number;
  /** Draw a bootstrap sample per tree (default true); false trains every tree on all rows. */
  bootstrap?: boolean;
  seed: number;
}

/**
 * One tree as flat arrays indexed by node id (0 = root, preorder). These map one-to-one to the ONNX
 * TreeEnsembleRegressor node attributes. For a leaf: feature -1, left/right -1, threshold 0.
 * For a split: value is 0 (unused).
 */
export interface Tree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

export function isLeaf(tree: Tree, node: number): boolean {
  return (tree.feature[node] ?? -1) < 0;
}

/** The leaf value of one tree for one (float32-rounded) row. */
export function predictTree(tree: Tree, row: ArrayLike<number>): number {
  let node = 0;
  for (;;) {
    const f = tree.feature[node] as number;
    if (f < 0) return tree.value[node] as number;
    const x = Math.fround(row[f] as number);
    node = (x <= (tree.threshold[node] as number) ? tree.left[node] : tree.right[node]) as number;
  }
}

export class RandomForest {
  constructor(
    readonly trees: readonly Tree[],
    readonly nFeatures: number,
  ) {}

  /** Per-member predictions: one array per row with one value per tree ([N, nTrees], as the ONNX output). */
  predictMembers(rows: readonly ArrayLike<number>[]): number[][] {
    return rows.map((row) => {
      if (row.length !== this.nFeatures) throw new RangeError(`expected ${this.nFeatures} features, got ${row.length}`);
      return this.trees.map((t) => predictTree(t, row));
    });
  }

  /** The forest prediction: the mean of the members. */
  predict(rows: readonly ArrayLike<number>[]): number[] {
    return this.predictMembers(rows).map((m) => m.reduce((s, v) => s + v, 0) / m.length);
  }

  get nodeCount(): number {
    return this.trees.reduce((s, t) => s + t.feature.length, 0);
  }
}

interface Split {
  feature: number;
  threshold: number;
  /** Number of sorted samples going left. */
  nLeft: number;
  /** Samples sorted by the split feature: the first nLeft go left. */
  sorted: number[];
}

class TreeBuilder {
  readonly tree: Tree = { feature: [], threshold: [], left: [], right: [], value: [] };

  constructor(
    private readonly x: readonly Float32Array[],
    private readonly y: Float64Array,
    private readonly nFeatures: number,
    private readonly options: Required<Pick<ForestOptions, 'maxDepth' | 'minSamplesLeaf' | 'maxFeatures'>>,
    private readonly rng: Prng,
  ) {}

  build(samples: number[]): Tree {
    this.grow(samples, 0);
    return this.tree;
  }

  private addNode(): number {
    const t = this.tree;
    t.feature.push(-1);
    t.threshold.push(0);
    t.left.push(-1);
    t.right.push(-1);
    t.value.push(0);
    return t.feature.length - 1;
  }

  private grow(samples: number[], depth: number): number {
    const id = this.addNode();
    const split = depth < this.options.maxDepth ? this.findSplit(samples) : undefined;
    if (!split) {
      let sum = 0;
      for (const i of samples) sum += this.y[i] as number;
      this.tree.value[id] = Math.fround(sum / samples.length);
      return id;
    }
    this.tree.feature[id] = split.feature;
    this.tree.threshold[id] = split.threshold;
    const left = this.grow(split.sorted.slice(0, split.nLeft), depth + 1);
    const right = this.grow(split.sorted.slice(split.nLeft), depth + 1);
    this.tree.left[id] = left;
    this.tree.right[id] = right;
    return id;
  }

  private candidateFeatures(): number[] {
    const all = Array.from({ length: this.nFeatures }, (_, i) => i);
    const k = this.options.maxFeatures;
    if (k >= this.nFeatures) return all;
    // Partial Fisher-Yates: the first k of a random permutation, then in ascending order.
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(this.nFeatures - i);
      const tmp = all[i] as number;
      all[i] = all[j] as number;
      all[j] = tmp;
    }
    return all.slice(0, k).sort((a, b) => a - b);
  }

  private findSplit(samples: number[]): Split | undefined {
    const n = samples.length;
    const minLeaf = this.options.minSamplesLeaf;
    if (n < 2 * minLeaf) return undefined;
    // Centre the targets on the node mean: better conditioned sums of squares.
    let mean = 0;
    for (const i of samples) mean += this.y[i] as number;
    mean /= n;
    let sse = 0;
    for (const i of samples) sse += ((this.y[i] as number) - mean) ** 2;
    if (!(sse > 0)) return undefined;
    const features = this.candidateFeatures();
    let best: Split | undefined;
    // Score to maximise: sumL^2/nL + sumR^2/nR (of centred y); the parent's is ~0, so gain = score.
    let bestScore = 1e-12 * sse;
    for (const f of features) {
      const col = this.x[f] as Float32Array;
      const sorted = samples.slice().sort((a, b) => (col[a] as number) - (col[b] as number) || a - b);
      let total = 0;
      for (const i of sorted) total += (this.y[i] as number) - mean;
      let sumL = 0;
      for (let k = 1; k < n; k++) {
        const prev = sorted[k - 1] as number;
        sumL += (this.y[prev] as number) - mean;
        if (k < minLeaf || n - k < minLeaf) continue;
        const a = col[prev] as number;
        const b = col[sorted[k] as number] as number;
        if (!(a < b)) continue;
        const sumR = total - sumL;
        const score = (sumL * sumL) / k + (sumR * sumR) / (n - k);
        if (score > bestScore) {
          bestScore = score;
          let threshold = Math.fround((a + b) / 2);
          if (!(threshold < b)) threshold = a;
          best = { feature: f, threshold, nLeft: k, sorted };
        }
      }
    }
    return best;
  }
}

/**
 * Train a forest on rows `x` (each of nFeatures values, rounded to float32 here) and targets `y`.
 * Tree t uses its own generator, derived from (seed, `tree-t`), for its bootstrap and feature subsets.
 */
export function trainRandomForest(x: readonly ArrayLike<number>[], y: readonly number[], options: ForestOptions): RandomForest {
  const n = x.length;
  if (n === 0 || y.length !== n) throw new RangeError(`need matching non-empty x and y (got ${n} rows, ${y.length} targets)`);
  const nFeatures = (x[0] as ArrayLike<number>).length;
  const { nTrees, maxDepth, minSamplesLeaf } = options;
  const maxFeatures = options.maxFeatures ?? nFeatures;
  if (!Number.isInteger(nTrees) || nTrees < 1) throw new RangeError('nTrees must be a positive integer');
  if (!Number.isInteger(maxDepth) || maxDepth < 0) throw new RangeError('maxDepth must be a non-negative integer');
  if (!Number.isInteger(minSamplesLeaf) || minSamplesLeaf < 1) throw new RangeError('minSamplesLeaf must be a positive integer');
  if (!Number.isInteger(maxFeatures) || maxFeatures < 1 || maxFeatures > nFeatures) {
    throw new RangeError(`maxFeatures must be an integer 1..${nFeatures}`);
  }
  // Column-major float32 copy of the inputs.
  const columns = Array.from({ length: nFeatures }, (_, f) => {
    const col = new Float32Array(n);
    x.forEach((row, i) => {
      if (row.length !== nFeatures) throw new RangeError(`row ${i} has ${row.length} features, expected ${nFeatures}`);
      const v = row[f] as number;
      if (!Number.isFinite(v)) throw new RangeError(`row ${i} feature ${f} is not finite`);
      col[i] = v;
    });
    return col;
  });
  const targets = Float64Array.from(y);
  const trees: Tree[] = [];
  for (let t = 0; t < nTrees; t++) {
    const rng = new Prng(deriveSeed(options.seed, `tree-${t}`));
    const samples =
      options.bootstrap === false ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: n }, () => rng.int(n));
    const builder = new TreeBuilder(columns, targets, nFeatures, { maxDepth, minSamplesLeaf, maxFeatures }, rng);
    trees.push(builder.build(samples));
  }
  return new RandomForest(trees, nFeatures);
}
