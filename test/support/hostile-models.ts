import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { sha256Hex } from '../../functions/core/manifest.js';
import type { GraphRule } from '../../functions/core/models/graph-check.js';
import { REACTOR_FEATURES } from '../../models/tools/reactor.js';

/**
 * Model packages built to attack the server (issue 13, finding 1), for the graph checker's unit tests and the
 * API security tests. Each starts from a small valid linear regressor (MatMul + Add, input `input` [N, 3],
 * output `yield` [N, 1]) and changes one thing; {@link hostileGraphs} names the rule each must be refused by.
 */

const { onnx } = onnxProto;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
const AttrType = onnx.AttributeProto.AttributeType;

/** The linear model's weights: three floats, 12 bytes. */
export const linearWeights = [0.25, -0.5, 0.125];

function floatTensor(name: string, dims: number[], values: number[]): OnnxTypes.ITensorProto {
  return { name, dataType: FLOAT, dims, floatData: values };
}

/** A tensor whose data is "in" `location` (relative to the runtime's working directory). */
export function externalTensor(name: string, dims: number[], location: string, options: { marker?: boolean; length?: number } = {}): OnnxTypes.ITensorProto {
  return {
    name,
    dataType: FLOAT,
    dims,
    ...(options.marker === false ? {} : { dataLocation: EXTERNAL }),
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(options.length ?? dims.reduce((a, b) => a * b, 1) * 4) },
    ],
  };
}

function tensorType(dims: (number | string)[], elemType = FLOAT): OnnxTypes.ITypeProto {
  return { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } };
}

/** The valid base graph (a fresh object each call, so a test may mutate it). */
export function linearGraph(): OnnxTypes.IModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'twinserve-tests',
    graph: {
      name: 'linear',
      node: [
        { name: 'matmul', opType: 'MatMul', input: ['input', 'W'], output: ['xw'] },
        { name: 'add', opType: 'Add', input: ['xw', 'B'], output: ['yield'] },
      ],
      initializer: [floatTensor('W', [3, 1], linearWeights), floatTensor('B', [1], [10])],
      input: [{ name: 'input', type: tensorType(['N', 3]) }],
      output: [{ name: 'yield', type: tensorType(['N', 1]) }],
    },
  };
}

export function encodeGraph(model: OnnxTypes.IModelProto): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}

/** A manifest for a linear graph's bytes: reactor features, single output, conformal interval. */
export function linearManifest(bytes: Uint8Array, options: { name?: string; version?: string; features?: number; input?: string; output?: string } = {}): Record<string, unknown> {
  const count = options.features ?? 3;
  const features = Array.from({ length: count }, (_, i) => {
    const f = REACTOR_FEATURES[i];
    return f ? { name: f.name, unit: f.unit, min: f.min, max: f.max } : { name: `f${i}`, unit: '-', min: 0, max: 1 };
  });
  return {
    schemaVersion: 1,
    name: options.name ?? 'reactor-yield',
    version: options.version ?? '1.0.0',
    created: '2026-11-26', // date-inert: a package's created date
    modelType: 'LinearRegression',
    target: { name: 'yield', unit: '%' },
    features,
    onnx: { input: options.input ?? 'input', output: options.output ?? 'yield' },
    output: { kind: 'single' },
    interval: { method: 'conformal', level: 0.9, halfWidth: 1 },
    alerts: { min: -1000, max: 1000 },
    sha256: sha256Hex(bytes),
  };
}

/** A subgraph for an If node: a constant output, optionally carrying `initializer`. */
function branch(name: string, initializer: OnnxTypes.ITensorProto[] = [], extraNodes: OnnxTypes.INodeProto[] = []): OnnxTypes.IGraphProto {
  return {
    name,
    node: [...extraNodes, { opType: 'Identity', input: [initializer[0]?.name ?? 'B'], output: [`${name}_out`] }],
    initializer,
    output: [{ name: `${name}_out`, type: tensorType([1]) }],
  };
}

function withNode(model: OnnxTypes.IModelProto, node: OnnxTypes.INodeProto): OnnxTypes.IModelProto {
  model.graph!.node!.push(node);
  return model;
}

export interface HostileGraph {
  label: string;
  rule: GraphRule;
  model: OnnxTypes.IModelProto;
  /** Manifest options (when the attack is the manifest contradicting the graph). */
  manifest?: Parameters<typeof linearManifest>[1];
}

/** One graph per attack class; `location` is the file the external-data ones point at. */
export function hostileGraphs(location = 'secret.bin'): HostileGraph[] {
  const g = linearGraph;
  const ext = (name: string, options?: { marker?: boolean }) => externalTensor(name, [1], location, options);
  const ifNode = (attribute: OnnxTypes.IAttributeProto[]): OnnxTypes.INodeProto => ({ name: 'branchy', opType: 'If', input: ['cond'], output: ['branch_out'], attribute });
  const withCond = (model: OnnxTypes.IModelProto) => {
    model.graph!.initializer!.push({ name: 'cond', dataType: onnx.TensorProto.DataType.BOOL, dims: [], int32Data: [1] });
    return model;
  };
  return [
    {
      label: 'an initializer with data_location EXTERNAL',
      rule: 'external_data',
      model: (() => { const m = g(); m.graph!.initializer![0] = externalTensor('W', [3, 1], location); return m; })(),
    },
    {
      label: 'an initializer with external_data entries but no data_location',
      rule: 'external_data',
      model: (() => { const m = g(); m.graph!.initializer![0] = externalTensor('W', [3, 1], location, { marker: false }); return m; })(),
    },
    {
      label: 'a sparse initializer whose values are external',
      rule: 'external_data',
      model: (() => { const m = g(); m.graph!.sparseInitializer = [{ values: ext('S'), indices: { name: 'S_idx', dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [0] }, dims: [4] }]; return m; })(),
    },
    {
      label: 'a TENSOR attribute (Constant value) that is external',
      rule: 'external_data',
      model: withNode(g(), { name: 'const', opType: 'Constant', output: ['c'], attribute: [{ name: 'value', type: AttrType.TENSOR, t: ext('C') }] }),
    },
    {
      label: 'a TENSORS attribute holding an external tensor',
      rule: 'external_data',
      model: withNode(g(), { name: 'const', opType: 'Constant', output: ['c'], attribute: [{ name: 'value', type: AttrType.TENSORS, tensors: [ext('C0'), ext('C1')] }] }),
    },
    {
      label: 'a SPARSE_TENSOR attribute (Constant sparse_value) with external values',
      rule: 'external_data',
      model: withNode(g(), { name: 'const', opType: 'Constant', output: ['c'], attribute: [{ name: 'sparse_value', type: AttrType.SPARSE_TENSOR, sparseTensor: { values: ext('SV'), dims: [4] } }] }),
    },
    {
      label: 'a SPARSE_TENSORS attribute with external values',
      rule: 'external_data',
      model: withNode(g(), { name: 'const', opType: 'Constant', output: ['c'], attribute: [{ name: 'sparse_values', type: AttrType.SPARSE_TENSORS, sparseTensors: [{ values: ext('SV'), dims: [4] }] }] }),
    },
    {
      label: 'a GRAPH attribute (If then_branch) whose initializer is external',
      rule: 'external_data',
      model: withNode(withCond(g()), ifNode([
        { name: 'then_branch', type: AttrType.GRAPH, g: branch('then', [ext('T')]) },
        { name: 'else_branch', type: AttrType.GRAPH, g: branch('else') },
      ])),
    },
    {
      label: 'a GRAPHS attribute whose nested If (two levels down) holds external data',
      rule: 'external_data',
      model: withNode(withCond(g()), ifNode([
        { name: 'then_branch', type: AttrType.GRAPH, g: branch('then') },
        {
          name: 'else_branch',
          type: AttrType.GRAPHS,
          graphs: [branch('else', [], [ifNode([{ name: 'then_branch', type: AttrType.GRAPH, g: branch('deep', [ext('D')]) }])])],
        },
      ])),
    },
    {
      label: 'an operator of another domain (com.microsoft)',
      rule: 'operator',
      model: (() => { const m = withNode(g(), { name: 'contrib', opType: 'FusedMatMul', domain: 'com.microsoft', input: ['input', 'W'], output: ['z'] }); m.opsetImport!.push({ domain: 'com.microsoft', version: 1 }); return m; })(),
    },
    {
      label: 'a made-up operator in ai.onnx',
      rule: 'operator',
      model: withNode(g(), { name: 'reader', opType: 'ReadFile', input: ['input'], output: ['z'] }),
    },
    {
      label: 'a standard operator off the allow-list (Loop)',
      rule: 'operator',
      model: withNode(g(), { name: 'loop', opType: 'Loop', input: ['', ''], output: ['z'] }),
    },
    {
      label: 'a model-local function',
      rule: 'local_function',
      model: (() => { const m = g(); m.functions = [{ name: 'Evil', domain: 'local', input: ['x'], output: ['y'], node: [{ opType: 'Identity', input: ['x'], output: ['y'] }], opsetImport: [{ domain: '', version: 17 }] }]; return m; })(),
    },
    {
      label: 'training graphs',
      rule: 'training_info',
      model: (() => { const m = g(); m.trainingInfo = [{ algorithm: branch('train') }]; return m; })(),
    },
    {
      label: 'more nodes than the limit',
      rule: 'node_count',
      model: (() => { const m = g(); for (let i = 0; i < 1_001; i++) m.graph!.node!.push({ opType: 'Identity', input: ['B'], output: [`id${i}`] }); return m; })(),
    },
    {
      label: 'an initializer declaring 10^10 elements',
      rule: 'tensor_size',
      model: (() => { const m = g(); m.graph!.initializer!.push({ name: 'huge', dataType: FLOAT, dims: [100_000, 100_000] }); return m; })(),
    },
    {
      label: 'a tensor of rank 9',
      rule: 'tensor_rank',
      model: (() => { const m = g(); m.graph!.initializer!.push({ name: 'deep', dataType: FLOAT, dims: [1, 1, 1, 1, 1, 1, 1, 1, 1], floatData: [0] }); return m; })(),
    },
    {
      label: 'an opset version past the limit',
      rule: 'opset',
      model: (() => { const m = g(); m.opsetImport = [{ domain: '', version: 99 }]; return m; })(),
    },
    {
      label: 'an IR version past the limit',
      rule: 'ir_version',
      model: (() => { const m = g(); m.irVersion = 99; return m; })(),
    },
    { label: 'a 256-feature manifest on a 3-input graph', rule: 'feature_count', model: g(), manifest: { features: 256 } },
    { label: 'a manifest input the graph does not have', rule: 'graph_input', model: g(), manifest: { input: 'features' } },
    { label: 'a manifest output the graph does not have', rule: 'graph_output', model: g(), manifest: { output: 'members' } },
    {
      label: 'a graph output 5 columns wide for a single-output manifest',
      rule: 'output_width',
      model: (() => { const m = g(); m.graph!.output = [{ name: 'yield', type: tensorType(['N', 5]) }]; return m; })(),
    },
  ];
}
