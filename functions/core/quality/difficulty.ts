/**
 * The difficulty tree of Mondrian (group-conditional) conformal calibration for ensembles
 * (functions/core/quality/conformal.ts). A small regression tree, fitted on calibration rows, that predicts
 * |y − mean| from the graph's inputs and the members' spread; its leaves are the groups, each calibrated on
 * its own. Why a tree and not the spread alone: a forest's spread grows with the noise, but less than the
 * noise does, and also with the signal's curvature, so rows of equal spread can have very different noise;
 * the inputs say where the noise is. The tree is tiny (depth ≤ 3, ≤ 8 leaves), so it travels in the manifest
 * and serving walks at most three comparisons per row.
 */

/**
 * One node, in an array whose first element is the root. A split sends a row to `lo` when its variable is at
 * most `at`, else to `hi`; variable `input` < features is a graph input (as the graph sees it: after the
 * manifest's scaler), `input` = features is the members' standard deviation. Children always come after
 * their parent, so a walk ends. A leaf names its group.
 */
export type DifficultyNode = { input: number; at: number; lo: number; hi: number } | { group: number };

export const maxTreeDepth = 3;
/** Candidate thresholds per variable: its quantiles on the fitting rows (enough for a depth-3 tree). */
const candidateBins = 32;

/** The group of one row: `row[offset + i]` is input i of `features`; `spread` the members' spread. */
export function groupOf(tree: readonly DifficultyNode[], row: ArrayLike<number>, offset: number, features: number, spread: number): number {
  let node = tree[0]!;
  while (!('group' in node)) {
    const value = node.input === features ? spread : row[offset + node.input]!;
    node = tree[value <= node.at ? node.lo : node.hi]!;
  }
  return node.group;
}

type Built = { group: number } | { input: number; at: number; lo: Built; hi: Built };

/**
 * Fits the tree on the rows `fit` (indices) to `target` by least squares, then collapses every split one of
 * whose sides holds fewer than `minGroup` of the rows `hold` (the rows the groups' quantiles will come from).
 * `variables[v][row]`: column-major, the inputs then the spread. Returns the flattened tree and its group
 * count (1: no split worth making).
 */
export function fitDifficultyTree(
  variables: readonly ArrayLike<number>[],
  target: ArrayLike<number>,
  fit: readonly number[],
  hold: readonly number[],
  minGroup: number,
): { tree: DifficultyNode[]; groups: number } {
  const edges = variables.map((column) => candidateEdges(column, fit));
  const bins = variables.map((column, v) => Uint8Array.from(Array.from({ length: column.length }, (_, r) => binOf(edges[v]!, column[r]!))));
  const grow = (rows: readonly number[], depth: number): Built => {
    if (depth === maxTreeDepth || rows.length < 2 * minGroup) return { group: 0 };
    const split = bestSplit(rows, bins, edges, target, minGroup);
    if (!split) return { group: 0 };
    const lo = rows.filter((r) => bins[split.input]![r]! <= split.bin);
    const hi = rows.filter((r) => bins[split.input]![r]! > split.bin);
    return { input: split.input, at: edges[split.input]![split.bin]!, lo: grow(lo, depth + 1), hi: grow(hi, depth + 1) };
  };
  const prune = (node: Built, rows: readonly number[]): Built => {
    if ('group' in node) return node;
    const column = variables[node.input]!;
    const lo = rows.filter((r) => column[r]! <= node.at);
    const hi = rows.filter((r) => column[r]! > node.at);
    if (lo.length < minGroup || hi.length < minGroup) return { group: 0 };
    return { ...node, lo: prune(node.lo, lo), hi: prune(node.hi, hi) };
  };
  const tree: DifficultyNode[] = [];
  let groups = 0;
  const flatten = (node: Built): number => {
    const at = tree.length;
    if ('group' in node) {
      tree.push({ group: groups++ });
      return at;
    }
    tree.push({ input: node.input, at: node.at, lo: 0, hi: 0 });
    const lo = flatten(node.lo);
    const hi = flatten(node.hi);
    tree[at] = { input: node.input, at: node.at, lo, hi };
    return at;
  };
  flatten(prune(grow(fit, 0), hold));
  return { tree, groups };
}

/** Distinct quantiles of a variable on the fitting rows: the thresholds a split may use. */
function candidateEdges(column: ArrayLike<number>, rows: readonly number[]): number[] {
  const sorted = Float64Array.from(rows, (r) => column[r]!).sort();
  const edges: number[] = [];
  for (let b = 1; b < candidateBins; b++) {
    const edge = sorted[Math.floor((b * sorted.length) / candidateBins)]!;
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/** The first edge at or above the value (edges.length when above all): value ≤ edges[bin]. */
function binOf(edges: readonly number[], value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The split (variable, bin: rows in bins ≤ it go lo) that lowers the squared error most, each side ≥ minGroup. */
function bestSplit(rows: readonly number[], bins: readonly Uint8Array[], edges: readonly number[][], target: ArrayLike<number>, minGroup: number): { input: number; bin: number } | undefined {
  let total = 0;
  for (const r of rows) total += target[r]!;
  const n = rows.length;
  let best: { input: number; bin: number; score: number } | undefined;
  const count = new Float64Array(candidateBins + 1);
  const sum = new Float64Array(candidateBins + 1);
  for (let v = 0; v < bins.length; v++) {
    const column = bins[v]!;
    const k = edges[v]!.length;
    if (k === 0) continue;
    count.fill(0);
    sum.fill(0);
    for (const r of rows) {
      count[column[r]!]!++;
      sum[column[r]!]! += target[r]!;
    }
    // With the total squared error fixed, the best split maximises Σ side sum² / side count.
    let nLo = 0;
    let sLo = 0;
    for (let b = 0; b < k; b++) {
      nLo += count[b]!;
      sLo += sum[b]!;
      const nHi = n - nLo;
      if (nLo < minGroup || nHi < minGroup) continue;
      const score = (sLo * sLo) / nLo + ((total - sLo) * (total - sLo)) / nHi;
      if (!best || score > best.score + 1e-12 * Math.abs(best.score)) best = { input: v, bin: b, score };
    }
  }
  return best && best.score > (total * total) / n ? best : undefined;
}
