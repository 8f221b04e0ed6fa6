import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import type { ModelManifest } from '../manifest.js';

// onnx-proto is CommonJS (module.exports = { onnx }); under ESM it arrives as the default export.
const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const utf8 = new TextDecoder();

/** How a split sends a row to its true branch (ai.onnx.ml TreeEnsembleRegressor `nodes_modes`). */
export const enum SplitMode {
  LEQ = 0,
  LT = 1,
  GTE = 2,
  GT = 3,
}

/**
 * One tree as flat arrays indexed by node (root 0). `value` is the leaf's share of the PREDICTION (its target
 * weights already multiplied by what the manifest does with the graph's columns: the mean of the members, or
 * the single column; AVERAGE's division by the tree count too), so a prediction is `base + Σ trees' leaves`.
 */
export interface FlatTree {
  /** Split feature, or -1 for a leaf. */
  feature: Int32Array;
  threshold: Float64Array;
  mode: Uint8Array;
  /** Child taken when the comparison holds / fails. */
  yes: Int32Array;
  no: Int32Array;
  value: Float64Array;
  depth: number;
}

/** A TreeEnsembleRegressor whose output is the served prediction, in the form the explainers need. */
export interface TreeEnsemble {
  trees: FlatTree[];
  /** The constant part of the prediction (base_values, through the same column map). */
  base: number;
  features: number;
}

/** Deeper trees are explained model-agnostically (the TreeSHAP recursion follows the depth). */
export const maxTreeDepth = 256;

export type TreeReading = { ok: true; ensemble: TreeEnsemble } | { ok: false; reason: string };

const modes: Record<string, SplitMode> = { BRANCH_LEQ: SplitMode.LEQ, BRANCH_LT: SplitMode.LT, BRANCH_GTE: SplitMode.GTE, BRANCH_GT: SplitMode.GT };

function toInt(v: number | { toNumber(): number } | null | undefined): number {
  return typeof v === 'number' ? v : (v?.toNumber() ?? 0);
}

function tensorValues(t: OnnxTypes.ITensorProto): number[] | undefined {
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  if (t.dataType === DataType.DOUBLE) return view ? Array.from({ length: view.byteLength / 8 }, (_, i) => view.getFloat64(i * 8, true)) : [...(t.doubleData ?? [])];
  if (t.dataType === DataType.FLOAT) return view ? Array.from({ length: view.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true)) : [...(t.floatData ?? [])];
  return undefined;
}

/**
 * Reads the tree ensemble behind a model's served prediction, or says why it cannot: the manifest's output
 * must be written by one ai.onnx.ml TreeEnsembleRegressor reading the graph input directly, with SUM or
 * AVERAGE aggregation, no post-transform, and only ordered comparisons (LEQ, LT, GTE, GT). Both layouts we
 * serve qualify: one column per tree (models/tools/onnx-export.ts, package-model's expansion) and
 * skl2onnx's single aggregated column. Anything else is explained model-agnostically.
 */
export function readTreeEnsemble(bytes: Uint8Array, manifest: ModelManifest): TreeReading {
  let model: OnnxTypes.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return { ok: false, reason: 'the graph cannot be decoded' };
  }
  const nodes = model.graph?.node ?? [];
  const node = nodes.find((n) => (n.output ?? []).includes(manifest.onnx.output));
  if (!node || node.opType !== 'TreeEnsembleRegressor' || node.domain !== 'ai.onnx.ml') {
    return { ok: false, reason: `output ${manifest.onnx.output} is not written by a TreeEnsembleRegressor` };
  }
  if (node.input?.[0] !== manifest.onnx.input) return { ok: false, reason: 'the tree ensemble does not read the graph input directly' };
  const attrs = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
  const str = (name: string, fallback: string) => {
    const s = attrs.get(name)?.s;
    return s ? utf8.decode(s) : fallback;
  };
  const ints = (name: string) => (attrs.get(name)?.ints ?? []).map(toInt);
  const floats = (name: string): number[] | undefined => {
    const t = attrs.get(`${name}_as_tensor`)?.t;
    if (t) return tensorValues(t);
    const a = attrs.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  };
  const aggregate = str('aggregate_function', 'SUM');
  if (aggregate !== 'SUM' && aggregate !== 'AVERAGE') return { ok: false, reason: `aggregate_function ${aggregate} is not additive` };
  if (str('post_transform', 'NONE') !== 'NONE') return { ok: false, reason: 'a post_transform other than NONE is not additive' };

  const treeIds = ints('nodes_treeids');
  const nodeIds = ints('nodes_nodeids');
  const featureIds = ints('nodes_featureids');
  const modeNames = (attrs.get('nodes_modes')?.strings ?? []).map((s) => utf8.decode(s));
  const values = floats('nodes_values') ?? [];
  const trueIds = ints('nodes_truenodeids');
  const falseIds = ints('nodes_falsenodeids');
  const n = treeIds.length;
  if ([nodeIds, featureIds, modeNames, values, trueIds, falseIds].some((a) => a.length !== n)) return { ok: false, reason: 'node attributes differ in length' };
  const targetTrees = ints('target_treeids');
  const targetNodes = ints('target_nodeids');
  const targetIds = ints('target_ids');
  const weights = floats('target_weights') ?? [];
  if ([targetNodes, targetIds, weights].some((a) => a.length !== targetTrees.length)) return { ok: false, reason: 'target attributes differ in length' };

  // What the server does with the graph's columns: the mean of the members, or the one column.
  const columns = manifest.output.kind === 'ensemble' ? manifest.output.members : 1;
  const nTargets = toInt(attrs.get('n_targets')?.i);
  if (nTargets !== columns) return { ok: false, reason: `n_targets ${nTargets}, the manifest reads ${columns} column(s)` };
  const distinctTrees = [...new Set(treeIds)];
  const scale = (1 / columns) * (aggregate === 'AVERAGE' ? 1 / distinctTrees.length : 1);
  const baseValues = floats('base_values') ?? [];
  const base = baseValues.reduce((s, b) => s + b / columns, 0);

  const trees: FlatTree[] = [];
  const slots: { index: Map<number, number>; order: Int32Array }[] = [];
  for (const treeId of distinctTrees) {
    const index = new Map<number, number>();
    const members: number[] = [];
    for (let i = 0; i < n; i++) if (treeIds[i] === treeId) members.push(i);
    members.forEach((i, k) => index.set(nodeIds[i]!, k));
    const size = members.length;
    const tree = emptyTree(size);
    // Nodes are addressed by id, in any order; the root is the node nothing points to. In-degree at most 1
    // and one root make the reachable part a tree (no cycle, no shared subtree), so recursion ends.
    const parents = new Uint8Array(size);
    for (let k = 0; k < size; k++) {
      const i = members[k]!;
      const mode = modeNames[i]!;
      if (mode === 'LEAF') {
        tree.feature[k] = -1;
        continue;
      }
      const m = modes[mode];
      if (m === undefined) return { ok: false, reason: `split mode ${mode} is not supported` };
      const yes = index.get(trueIds[i]!);
      const no = index.get(falseIds[i]!);
      const feature = featureIds[i]!;
      if (yes === undefined || no === undefined || feature < 0 || feature >= manifest.features.length) return { ok: false, reason: `tree ${treeId} has a dangling node` };
      tree.feature[k] = feature;
      tree.threshold[k] = values[i]!;
      tree.mode[k] = m;
      tree.yes[k] = yes;
      tree.no[k] = no;
      if (++parents[yes]! > 1 || ++parents[no]! > 1) return { ok: false, reason: `tree ${treeId} is not a tree (a node has two parents)` };
    }
    const roots = [...parents.keys()].filter((k) => parents[k] === 0);
    if (roots.length !== 1) return { ok: false, reason: `tree ${treeId} has ${roots.length} roots` };
    const { tree: rooted, order } = reroot(tree, roots[0]!);
    if (rooted.depth > maxTreeDepth) return { ok: false, reason: `tree ${treeId} is deeper than ${maxTreeDepth}` };
    trees.push(rooted);
    slots.push({ index, order });
  }
  // Leaf values: every target entry of a leaf adds its weight to the prediction through the column map.
  const treeIndex = new Map(distinctTrees.map((t, i) => [t, i]));
  for (let e = 0; e < targetTrees.length; e++) {
    const t = treeIndex.get(targetTrees[e]!);
    const slot = t === undefined ? undefined : slots[t]!.index.get(targetNodes[e]!);
    if (t === undefined || slot === undefined) return { ok: false, reason: 'a target names an unknown node' };
    const tree = trees[t]!;
    const k = slots[t]!.order[slot]!;
    if (k < 0) continue; // unreachable leaf
    if (tree.feature[k] !== -1) return { ok: false, reason: 'a target names a split node' };
    if (targetIds[e]! < 0 || targetIds[e]! >= columns) return { ok: false, reason: `target id ${targetIds[e]} outside ${columns} column(s)` };
    tree.value[k] = tree.value[k]! + weights[e]! * scale;
  }
  return { ok: true, ensemble: { trees, base, features: manifest.features.length } };
}

/** A tree of `size` nodes, none linked yet. */
function emptyTree(size: number): FlatTree {
  return { feature: new Int32Array(size), threshold: new Float64Array(size), mode: new Uint8Array(size), yes: new Int32Array(size).fill(-1), no: new Int32Array(size).fill(-1), value: new Float64Array(size), depth: 0 };
}

/** Renumbers a tree so that the root is 0 (depth-first), and records its depth. */
function reroot(tree: FlatTree, root: number): { tree: FlatTree; order: Int32Array } {
  const size = tree.feature.length;
  const order = new Int32Array(size).fill(-1);
  const out = emptyTree(size);
  let next = 0;
  const stack: [number, number][] = [[root, 0]];
  while (stack.length) {
    const [old, depth] = stack.pop()!;
    if (order[old] !== -1) continue;
    order[old] = next++;
    out.depth = Math.max(out.depth, depth);
    if (tree.feature[old]! >= 0) stack.push([tree.no[old]!, depth + 1], [tree.yes[old]!, depth + 1]);
  }
  for (let old = 0; old < size; old++) {
    const k = order[old]!;
    if (k < 0) continue;
    out.feature[k] = tree.feature[old]!;
    out.threshold[k] = tree.threshold[old]!;
    out.mode[k] = tree.mode[old]!;
    out.value[k] = tree.value[old]!;
    if (tree.feature[old]! >= 0) {
      out.yes[k] = order[tree.yes[old]!]!;
      out.no[k] = order[tree.no[old]!]!;
    }
  }
  return { tree: out, order };
}

/** Whether a (float32) input value takes a split's true branch. */
export function goesYes(mode: number, x: number, threshold: number): boolean {
  switch (mode) {
    case SplitMode.LEQ:
      return x <= threshold;
    case SplitMode.LT:
      return x < threshold;
    case SplitMode.GTE:
      return x >= threshold;
    default:
      return x > threshold;
  }
}
