import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RandomForest, type Tree, trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';
import { type ReferencePackage, buildReferencePackage } from '../../models/tools/reference.js';

const { onnx } = onnxProto;
const committedModelUrl = new URL('../../models/reactor-yield/1.0.0/model.onnx', import.meta.url);

/** Run ONNX model bytes on rows with onnxruntime (one thread) and return the `members` output as rows. */
async function runOnnx(bytes: Uint8Array, rows: readonly number[][], nOut: number): Promise<number[][]> {
  const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const nIn = rows[0]?.length ?? 0;
    const input = new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, nIn]);
    const result = await session.run({ input });
    const members = result.members;
    if (!members) throw new Error('no members output');
    expect(members.dims).toEqual([rows.length, nOut]);
    const data = members.data as Float32Array;
    return rows.map((_, i) => Array.from(data.subarray(i * nOut, (i + 1) * nOut)));
  } finally {
    await session.release();
  }
}

function uniformRows(n: number, seed: number): number[][] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, () => REACTOR_FEATURES.map((f) => rng.uniform(f.min, f.max)));
}

/** Largest |a - b| over all members of all rows. */
function maxAbsDiff(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) =>
    row.forEach((v, j) => {
      max = Math.max(max, Math.abs(v - (b[i]?.[j] ?? Number.NaN)));
    }),
  );
  return max;
}

/** The next float32 above a positive float32. */
function nextFloat32Up(v: number): number {
  const f = new Float32Array([v]);
  const bits = new Uint32Array(f.buffer);
  bits[0] = (bits[0] as number) + 1;
  return f[0] as number;
}

/** The nodes a row visits in a tree (same rule as the forest: fround(x) <= threshold goes left). */
function pathOf(tree: Tree, row: number[]): number[] {
  const path = [0];
  let node = 0;
  while ((tree.feature[node] as number) >= 0) {
    const f = tree.feature[node] as number;
    node = (Math.fround(row[f] as number) <= (tree.threshold[node] as number) ? tree.left[node] : tree.right[node]) as number;
    path.push(node);
  }
  return path;
}

function smallForest(seed = 7): RandomForest {
  const x = latinHypercube(400, REACTOR_FEATURES, seed);
  const noise = new Prng(seed + 1);
  const y = x.map(([t, p, f]) => reactorYield(t as number, p as number, f as number, noise));
  return trainRandomForest(x, y, { nTrees: 6, maxDepth: 8, minSamplesLeaf: 2, maxFeatures: 2, seed });
}

describe('forest → ONNX (small forest)', () => {
  const forest = smallForest();
  const bytes = exportForestOnnx(forest);

  it('stores float32 thresholds and leaf values, and trains deterministically', () => {
    for (const tree of forest.trees) {
      tree.threshold.forEach((v) => expect(Math.fround(v)).toBe(v));
      tree.value.forEach((v) => expect(Math.fround(v)).toBe(v));
    }
    expect(exportForestOnnx(smallForest())).toEqual(bytes);
    expect(exportForestOnnx(smallForest(8))).not.toEqual(bytes);
  });

  it('writes the graph the serving code expects', () => {
    const model = onnx.ModelProto.decode(bytes);
    expect(Number(model.irVersion)).toBe(8);
    expect(model.producerName).toBe('twinserve');
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', 17],
      ['ai.onnx.ml', 3],
    ]);
    const graph = onnx.GraphProto.create(model.graph ?? {});
    expect(graph.node).toHaveLength(1);
    const node = onnx.NodeProto.create(graph.node[0]);
    expect(node.opType).toBe('TreeEnsembleRegressor');
    expect(node.domain).toBe('ai.onnx.ml');
    const attrs = new Map(node.attribute.map((a) => [a.name, a]));
    expect(Number(attrs.get('n_targets')?.i)).toBe(forest.trees.length);
    expect(new TextDecoder().decode(attrs.get('aggregate_function')?.s ?? undefined)).toBe('SUM');
    expect(new TextDecoder().decode(attrs.get('post_transform')?.s ?? undefined)).toBe('NONE');
    const dims = (vi: OnnxTypes.IValueInfoProto | undefined) =>
      vi?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue));
    expect([graph.input[0]?.name, dims(graph.input[0])]).toEqual(['input', ['N', 3]]);
    expect([graph.output[0]?.name, dims(graph.output[0])]).toEqual(['members', ['N', forest.trees.length]]);
  });

  it('onnxruntime agrees with the in-memory forest within 1e-5 per member on 1,000 random inputs', async () => {
    const rows = uniformRows(1000, 123);
    const fromOnnx = await runOnnx(bytes, rows, forest.trees.length);
    expect(maxAbsDiff(fromOnnx, forest.predictMembers(rows))).toBeLessThanOrEqual(1e-5);
  });

  it('agrees on inputs exactly at and just above every threshold (x <= threshold goes left)', async () => {
    // For every split node: a row that reaches it (the other features at the centre of the node's box)
    // with the split feature exactly at the threshold, and the same row at the next float32 above it.
    const rows: number[][] = [];
    const pairs: { tree: Tree; node: number }[] = [];
    const walk = (tree: Tree, node: number, lo: number[], hi: number[]) => {
      const f = tree.feature[node] as number;
      if (f < 0) return;
      const t = tree.threshold[node] as number;
      const row = lo.map((l, i) => Math.fround((l + (hi[i] as number)) / 2));
      rows.push(row.map((v, i) => (i === f ? t : v)));
      rows.push(row.map((v, i) => (i === f ? nextFloat32Up(t) : v)));
      pairs.push({ tree, node });
      walk(tree, tree.left[node] as number, lo, hi.map((h, i) => (i === f ? t : h)));
      walk(tree, tree.right[node] as number, lo.map((l, i) => (i === f ? t : l)), hi);
    };
    const lo = REACTOR_FEATURES.map((f) => f.min - 1e-3);
    const hi = REACTOR_FEATURES.map((f) => f.max + 1e-3);
    for (const tree of forest.trees) walk(tree, 0, lo, hi);
    expect(pairs.length).toBeGreaterThan(100);
    // Each pair straddles its node: the two rows reach that node and end in different leaves of its tree.
    pairs.forEach(({ tree, node }, k) => {
      const atThreshold = pathOf(tree, rows[2 * k] as number[]);
      const above = pathOf(tree, rows[2 * k + 1] as number[]);
      expect(atThreshold).toContain(node);
      expect(atThreshold[atThreshold.indexOf(node) + 1]).toBe(tree.left[node]);
      expect(above[above.indexOf(node) + 1]).toBe(tree.right[node]);
    });
    const fromOnnx = await runOnnx(bytes, rows, forest.trees.length);
    expect(maxAbsDiff(fromOnnx, forest.predictMembers(rows))).toBeLessThanOrEqual(1e-5);
  });
});

describe('the committed reference model', () => {
  let pkg: ReferencePackage;
  const committed = new Uint8Array(readFileSync(committedModelUrl));

  beforeAll(() => {
    pkg = buildReferencePackage(); // the one regeneration in this file (~0.3 s)
  });

  it('is exactly what the training function produces', () => {
    expect(pkg.onnx.length).toBe(committed.length);
    expect(Buffer.from(pkg.onnx).equals(Buffer.from(committed))).toBe(true);
  });

  it('run by onnxruntime agrees with the regenerated forest within 1e-5 per member on 1,000 random inputs', async () => {
    const rows = uniformRows(1000, 2026);
    const fromOnnx = await runOnnx(committed, rows, pkg.forest.trees.length);
    expect(fromOnnx[0]).toHaveLength(20);
    expect(maxAbsDiff(fromOnnx, pkg.forest.predictMembers(rows))).toBeLessThanOrEqual(1e-5);
  });
});
