import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import type { RandomForest } from './forest.js';

// onnx-proto is CommonJS (module.exports = { onnx }); under ESM (tsx, vitest) it arrives as the default export.
const { onnx } = onnxProto;

/**
 * Export a {@link RandomForest} as an ONNX model: one ai.onnx.ml TreeEnsembleRegressor node (opset 3) with
 * one output column per tree, so the graph returns the ensemble members [N, nTrees] and the caller takes
 * their mean (and percentiles).
 *
 *   input  `input`   float [N, nFeatures]
 *   output `members` float [N, nTrees]    (n_targets = nTrees, target_ids = tree index, aggregate SUM)
 *
 * Thresholds and leaf values are already float32 values in the forest, so nothing is rounded here and
 * onnxruntime reproduces the forest's predictions exactly. The encoding is a pure function of the forest
 * and the options: no timestamps, fixed field and attribute order, so the bytes are deterministic.
 */

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
export const ONNX_ML_OPSET = 3;

export interface OnnxExportOptions {
  inputName?: string;
  outputName?: string;
  graphName?: string;
  docString?: string;
  producerName?: string;
  producerVersion?: string;
  modelVersion?: number;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const AttrType = onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();

// Attribute builders (also used by skl2onnx-export.ts).
export function ints(name: string, values: number[]): OnnxTypes.IAttributeProto {
  return { name, type: AttrType.INTS, ints: values };
}
export function floats(name: string, values: number[]): OnnxTypes.IAttributeProto {
  return { name, type: AttrType.FLOATS, floats: values };
}
export function int(name: string, value: number): OnnxTypes.IAttributeProto {
  return { name, type: AttrType.INT, i: value };
}
export function str(name: string, value: string): OnnxTypes.IAttributeProto {
  return { name, type: AttrType.STRING, s: utf8.encode(value) };
}
export function strs(name: string, values: string[]): OnnxTypes.IAttributeProto {
  return { name, type: AttrType.STRINGS, strings: values.map((v) => utf8.encode(v)) };
}

function floatTensorInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** The TreeEnsembleRegressor attributes for a forest (exported for tests and inspection). */
export function treeEnsembleAttributes(forest: RandomForest): OnnxTypes.IAttributeProto[] {
  const nodeTreeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const modes: string[] = [];
  const values: number[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const targetTreeIds: number[] = [];
  const targetNodeIds: number[] = [];
  const targetIds: number[] = [];
  const targetWeights: number[] = [];

  forest.trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      const feature = tree.feature[node] as number;
      nodeTreeIds.push(t);
      nodeIds.push(node);
      if (feature < 0) {
        const value = tree.value[node] as number;
        if (Math.fround(value) !== value) throw new RangeError(`tree ${t} node ${node}: leaf value is not a float32`);
        featureIds.push(0);
        modes.push('LEAF');
        values.push(0);
        trueIds.push(0);
        falseIds.push(0);
        targetTreeIds.push(t);
        targetNodeIds.push(node);
        targetIds.push(t);
        targetWeights.push(value);
      } else {
        const threshold = tree.threshold[node] as number;
        if (Math.fround(threshold) !== threshold) throw new RangeError(`tree ${t} node ${node}: threshold is not a float32`);
        featureIds.push(feature);
        modes.push('BRANCH_LEQ');
        values.push(threshold);
        trueIds.push(tree.left[node] as number);
        falseIds.push(tree.right[node] as number);
      }
    }
  });

  return [
    str('aggregate_function', 'SUM'),
    int('n_targets', forest.trees.length),
    ints('nodes_falsenodeids', falseIds),
    ints('nodes_featureids', featureIds),
    strs('nodes_modes', modes),
    ints('nodes_nodeids', nodeIds),
    ints('nodes_treeids', nodeTreeIds),
    ints('nodes_truenodeids', trueIds),
    floats('nodes_values', values),
    str('post_transform', 'NONE'),
    ints('target_ids', targetIds),
    ints('target_nodeids', targetNodeIds),
    ints('target_treeids', targetTreeIds),
    floats('target_weights', targetWeights),
  ];
}

/** Encode the forest as ONNX model bytes. */
export function exportForestOnnx(forest: RandomForest, options: OnnxExportOptions = {}): Uint8Array {
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'members';
  const model: OnnxTypes.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [
      { domain: '', version: ONNX_OPSET },
      { domain: 'ai.onnx.ml', version: ONNX_ML_OPSET },
    ],
    producerName: options.producerName ?? 'twinserve',
    producerVersion: options.producerVersion ?? '1',
    modelVersion: options.modelVersion ?? 1,
    docString:
      options.docString ??
      `Random forest regressor: ${forest.trees.length} trees as one TreeEnsembleRegressor, one output column per tree.`,
    graph: {
      name: options.graphName ?? 'random_forest',
      node: [
        {
          name: 'forest',
          opType: 'TreeEnsembleRegressor',
          domain: 'ai.onnx.ml',
          input: [inputName],
          output: [outputName],
          attribute: treeEnsembleAttributes(forest),
        },
      ],
      input: [floatTensorInfo(inputName, ['N', forest.nFeatures])],
      output: [floatTensorInfo(outputName, ['N', forest.trees.length])],
    },
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  // Return a plain Uint8Array that owns exactly the model bytes (protobufjs may hand back a Buffer view).
  return new Uint8Array(bytes);
}
