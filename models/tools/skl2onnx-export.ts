import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import type { RandomForest } from './forest.js';
import { ONNX_IR_VERSION, ONNX_ML_OPSET, ONNX_OPSET, floats, int, ints, str, strs } from './onnx-export.js';

const { onnx } = onnxProto;

/**
 * Export a {@link RandomForest} the way skl2onnx exports a scikit-learn RandomForestRegressor: ONE
 * TreeEnsembleRegressor target that already is the forest's mean, so the graph returns [N, 1]:
 *
 *   - `aggregate: 'SUM'` (skl2onnx's form): n_targets 1, every target_id 0, each leaf weight divided by the
 *     number of trees (rounded to float32), aggregate_function SUM;
 *   - `aggregate: 'AVERAGE'`: the leaf values as they are, aggregate_function AVERAGE.
 *
 * Also writes skl2onnx's `nodes_hitrates` (1) and `nodes_missing_value_tracks_true` (0), an unnamed batch
 * dimension (skl2onnx's `None`), input `X` and output `variable`. `baseValue` adds `base_values: [b]`.
 * Used by the tests of models/tools/package-model.ts, which must expand this form back into one column per
 * tree; the reference package uses onnx-export.ts instead.
 */

export interface Skl2onnxStyleOptions {
  aggregate: 'SUM' | 'AVERAGE';
  baseValue?: number;
  inputName?: string;
  outputName?: string;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A float tensor value info; `null` is a dimension with neither a value nor a name (skl2onnx's None). */
function tensorInfo(name: string, dims: (number | null)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (d === null ? {} : { dimValue: d })) } } },
  };
}

export function skl2onnxStyleAttributes(forest: RandomForest, options: Skl2onnxStyleOptions): OnnxTypes.IAttributeProto[] {
  const nTrees = forest.trees.length;
  const a = {
    nodeTreeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    modes: [] as string[],
    values: [] as number[],
    trueIds: [] as number[],
    falseIds: [] as number[],
    hitrates: [] as number[],
    missingTracksTrue: [] as number[],
    targetTreeIds: [] as number[],
    targetNodeIds: [] as number[],
    targetIds: [] as number[],
    targetWeights: [] as number[],
  };
  forest.trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      const feature = tree.feature[node] as number;
      a.nodeTreeIds.push(t);
      a.nodeIds.push(node);
      a.hitrates.push(1);
      a.missingTracksTrue.push(0);
      if (feature < 0) {
        const value = tree.value[node] as number;
        a.featureIds.push(0);
        a.modes.push('LEAF');
        a.values.push(0);
        a.trueIds.push(0);
        a.falseIds.push(0);
        a.targetTreeIds.push(t);
        a.targetNodeIds.push(node);
        a.targetIds.push(0);
        a.targetWeights.push(options.aggregate === 'SUM' ? Math.fround(value / nTrees) : value);
      } else {
        a.featureIds.push(feature);
        a.modes.push('BRANCH_LEQ');
        a.values.push(tree.threshold[node] as number);
        a.trueIds.push(tree.left[node] as number);
        a.falseIds.push(tree.right[node] as number);
      }
    }
  });
  return [
    str('aggregate_function', options.aggregate),
    ...(options.baseValue === undefined ? [] : [floats('base_values', [options.baseValue])]),
    int('n_targets', 1),
    ints('nodes_falsenodeids', a.falseIds),
    ints('nodes_featureids', a.featureIds),
    floats('nodes_hitrates', a.hitrates),
    ints('nodes_missing_value_tracks_true', a.missingTracksTrue),
    strs('nodes_modes', a.modes),
    ints('nodes_nodeids', a.nodeIds),
    ints('nodes_treeids', a.nodeTreeIds),
    ints('nodes_truenodeids', a.trueIds),
    floats('nodes_values', a.values),
    str('post_transform', 'NONE'),
    ints('target_ids', a.targetIds),
    ints('target_nodeids', a.targetNodeIds),
    ints('target_treeids', a.targetTreeIds),
    floats('target_weights', a.targetWeights),
  ];
}

/** Encode the forest in skl2onnx's single-output form (see above). */
export function exportForestSkl2onnxStyle(forest: RandomForest, options: Skl2onnxStyleOptions): Uint8Array {
  const inputName = options.inputName ?? 'X';
  const outputName = options.outputName ?? 'variable';
  const model: OnnxTypes.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [
      { domain: '', version: ONNX_OPSET },
      { domain: 'ai.onnx.ml', version: ONNX_ML_OPSET },
    ],
    producerName: 'skl2onnx',
    producerVersion: '1.17.0',
    domain: 'ai.onnx',
    modelVersion: 0,
    graph: {
      name: 'RandomForestRegressor',
      node: [
        {
          name: 'TreeEnsembleRegressor',
          opType: 'TreeEnsembleRegressor',
          domain: 'ai.onnx.ml',
          input: [inputName],
          output: [outputName],
          attribute: skl2onnxStyleAttributes(forest, options),
        },
      ],
      input: [tensorInfo(inputName, [null, forest.nFeatures])],
      output: [tensorInfo(outputName, [null, 1])],
    },
  };
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}
