/**
 * Graph surgery on ONNX models (onnx-proto, no onnxruntime): decode and encode, the input/output signature,
 * and the tree-ensemble rewrite that gives every tree of a forest its own output column.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { PackageModelError } from './spec.js';

const { onnx } = onnxProto;

type Int = number | { toNumber(): number } | null | undefined;

function toInt(v: Int): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const AttrType = onnx.AttributeProto.AttributeType;
const DataType = onnx.TensorProto.DataType;
const ML_DOMAIN = 'ai.onnx.ml';
const utf8 = new TextDecoder();

export function decodeOnnx(bytes: Uint8Array): OnnxTypes.ModelProto {
  let model: OnnxTypes.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new PackageModelError(`not an ONNX model (${(error as Error).message})`, '--onnx');
  }
  if (!model.graph || !model.graph.node?.length) throw new PackageModelError('not an ONNX model: it has no graph nodes', '--onnx');
  return model;
}

function encodeOnnx(model: OnnxTypes.ModelProto): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}

/** A tensor dimension: a number, a symbolic name, or null (unknown). */
export type Dim = number | string | null;

export interface TensorSignature {
  name: string;
  elemType: number;
  /** undefined when the graph does not declare a shape. */
  dims: Dim[] | undefined;
}

export interface GraphSignature {
  input: TensorSignature;
  output: TensorSignature;
}

function signatureOf(info: OnnxTypes.IValueInfoProto): TensorSignature {
  const tensor = info.type?.tensorType;
  const dims = tensor?.shape?.dim?.map((d): Dim => {
    if (d.dimParam) return d.dimParam;
    const v = toInt(d.dimValue);
    return d.dimValue !== null && d.dimValue !== undefined && v > 0 ? v : null;
  });
  return { name: info.name ?? '', elemType: tensor?.elemType ?? 0, dims: tensor?.shape ? dims ?? [] : undefined };
}

function showDims(dims: Dim[] | undefined): string {
  return dims ? `[${dims.map((d) => (d === null ? '?' : d)).join(', ')}]` : '(no shape)';
}

/**
 * The graph's one input and one output, checked: float32, the input [N, features] (or a dynamic column
 * count), the output [N, k] or [N].
 */
export function graphSignature(model: OnnxTypes.IModelProto, nFeatures: number): GraphSignature {
  const graph = model.graph ?? {};
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  if (inputs.length !== 1) {
    throw new PackageModelError(
      `the graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ') || 'none'}); a package needs exactly one float [N, features] input`,
      '--onnx',
    );
  }
  const outputs = graph.output ?? [];
  if (outputs.length !== 1) {
    throw new PackageModelError(
      `the graph has ${outputs.length} outputs (${outputs.map((o) => o.name).join(', ') || 'none'}); a package needs exactly one`,
      '--onnx',
    );
  }
  const input = signatureOf(inputs[0] as OnnxTypes.IValueInfoProto);
  const output = signatureOf(outputs[0] as OnnxTypes.IValueInfoProto);
  if (input.elemType !== DataType.FLOAT) {
    throw new PackageModelError(
      `input ${input.name} is ${DataType[input.elemType] ?? input.elemType}, Twinserve feeds float32 (skl2onnx: FloatTensorType)`,
      '--onnx',
    );
  }
  if (output.elemType !== DataType.FLOAT) {
    throw new PackageModelError(`output ${output.name} is ${DataType[output.elemType] ?? output.elemType}, Twinserve reads float32`, '--onnx');
  }
  if (input.dims) {
    const columns = input.dims[1];
    if (input.dims.length !== 2) {
      throw new PackageModelError(`input ${input.name} has shape ${showDims(input.dims)}; expected [N, ${nFeatures}]`, '--onnx');
    }
    if (typeof columns === 'number' && columns !== nFeatures) {
      throw new PackageModelError(
        `input ${input.name} has ${columns} columns but the spec lists ${nFeatures} features`,
        '--onnx',
      );
    }
  }
  if (output.dims && (output.dims.length < 1 || output.dims.length > 2)) {
    throw new PackageModelError(`output ${output.name} has shape ${showDims(output.dims)}; expected [N, k] or [N]`, '--onnx');
  }
  return { input, output };
}

function attrMap(node: OnnxTypes.INodeProto): Map<string, OnnxTypes.IAttributeProto> {
  return new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
}

function attrString(attrs: Map<string, OnnxTypes.IAttributeProto>, name: string, fallback: string): string {
  const a = attrs.get(name);
  return a?.s ? utf8.decode(a.s) : fallback;
}

function attrInts(attrs: Map<string, OnnxTypes.IAttributeProto>, name: string): number[] {
  return (attrs.get(name)?.ints ?? []).map(toInt);
}

/** Little-endian float32 / float64 values of a TensorProto (typed fields or raw_data). */
function tensorValues(t: OnnxTypes.ITensorProto, what: string): number[] {
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  if (t.dataType === DataType.DOUBLE) {
    if (view) return Array.from({ length: view.byteLength / 8 }, (_, i) => view.getFloat64(i * 8, true));
    return [...(t.doubleData ?? [])];
  }
  if (t.dataType === DataType.FLOAT) {
    if (view) return Array.from({ length: view.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
    return [...(t.floatData ?? [])];
  }
  throw new PackageModelError(`${what} is a tensor of ${DataType[t.dataType ?? 0] ?? t.dataType}; only float and double are supported`, '--onnx');
}

/** A float attribute given either as `name` (floats) or `name_as_tensor` (a float or double tensor). */
interface FloatAttr {
  values: number[];
  /** The tensor's data type when given as `_as_tensor`, else undefined (a floats attribute). */
  tensorType: number | undefined;
  present: boolean;
}

function attrFloats(attrs: Map<string, OnnxTypes.IAttributeProto>, name: string): FloatAttr {
  const tensor = attrs.get(`${name}_as_tensor`)?.t;
  if (tensor) return { values: tensorValues(tensor, `${name}_as_tensor`), tensorType: tensor.dataType ?? undefined, present: true };
  const plain = attrs.get(name);
  return { values: [...(plain?.floats ?? [])], tensorType: undefined, present: plain !== undefined };
}

/** Write float values back in the form they came in (float32 attribute, or a float/double tensor). */
function floatAttr(name: string, values: number[], tensorType: number | undefined): OnnxTypes.IAttributeProto {
  if (tensorType === undefined) return { name, type: AttrType.FLOATS, floats: values.map(Math.fround) };
  const t: OnnxTypes.ITensorProto =
    tensorType === DataType.DOUBLE
      ? { dataType: DataType.DOUBLE, dims: [values.length], doubleData: values }
      : { dataType: DataType.FLOAT, dims: [values.length], floatData: values.map(Math.fround) };
  return { name: `${name}_as_tensor`, type: AttrType.TENSOR, t };
}

// ---------------------------------------------------------------------------------------------------------
// Tree ensembles

/** What the packager makes of a graph. */
export type EnsembleForm =
  /** One target that is the mean of its trees (skl2onnx's RandomForestRegressor): rewritten to members. */
  | { form: 'single-target'; trees: number; aggregate: 'SUM' | 'AVERAGE'; baseValue: number; nodeName: string }
  /** Already one column per tree (n_targets = trees, target_ids = tree, SUM, no post transform): kept as is. */
  | { form: 'per-tree'; trees: number; nodeName: string }
  /** No tree ensemble (or a single tree): a single-output regressor. */
  | { form: 'none'; reason: string };

const treeOps = new Set(['TreeEnsembleRegressor', 'TreeEnsemble']);

/**
 * Classify the graph: a forest to expand, a forest already expanded, or no ensemble. Throws a
 * PackageModelError (field `--onnx`) for tree ensembles it cannot rewrite safely.
 */
export function describeTreeEnsemble(model: OnnxTypes.IModelProto): EnsembleForm {
  const graph = model.graph ?? {};
  const nodes = graph.node ?? [];
  const treeNodes = nodes.filter((n) => (n.domain ?? '') === ML_DOMAIN && treeOps.has(n.opType ?? ''));
  const mlOpset = toInt((model.opsetImport ?? []).find((o) => (o.domain ?? '') === ML_DOMAIN)?.version);
  const refuse = (why: string) =>
    new PackageModelError(
      `${why}. Packaging can only rewrite a lone ai.onnx.ml TreeEnsembleRegressor (opset 1-3) whose output is the graph's ` +
        'output; package it as a single-output model instead with --single and --calibration',
      '--onnx',
    );
  if (treeNodes.length === 0) return { form: 'none', reason: 'the graph has no TreeEnsembleRegressor' };
  const v5 = treeNodes.find((n) => n.opType === 'TreeEnsemble');
  if (v5) {
    throw refuse(
      `node ${v5.name || '(unnamed)'} is an ai.onnx.ml opset ${mlOpset} TreeEnsemble, which is unsupported ` +
        "(re-export with ai.onnx.ml opset 3, e.g. skl2onnx target_opset={'': 17, 'ai.onnx.ml': 3}, to get ensemble members)",
    );
  }
  if (treeNodes.length > 1) throw refuse(`the graph has ${treeNodes.length} TreeEnsembleRegressor nodes`);
  const node = treeNodes[0] as OnnxTypes.INodeProto;
  const nodeName = node.name || 'TreeEnsembleRegressor';
  const produced = node.output?.[0] ?? '';
  if ((node.output ?? []).length !== 1) throw refuse(`${nodeName} has ${(node.output ?? []).length} outputs`);
  const consumers = nodes.filter((n) => n !== node && (n.input ?? []).includes(produced));
  if (consumers.length) {
    throw refuse(
      `the graph has nodes after the TreeEnsembleRegressor (${consumers.map((n) => `${n.opType} ${n.name || ''}`.trim()).join(', ')}), ` +
        'which would see one column per tree instead of the prediction',
    );
  }
  const outputs = graph.output ?? [];
  if (outputs.length !== 1 || outputs[0]?.name !== produced) {
    throw refuse(`the TreeEnsembleRegressor output ${produced} is not the graph's only output (${outputs.map((o) => o.name).join(', ')})`);
  }

  const attrs = attrMap(node);
  const aggregate = attrString(attrs, 'aggregate_function', 'SUM');
  const post = attrString(attrs, 'post_transform', 'NONE');
  const nTargets = attrs.has('n_targets') ? toInt(attrs.get('n_targets')?.i) : 1;
  const nodeTrees = attrInts(attrs, 'nodes_treeids');
  const targetTrees = attrInts(attrs, 'target_treeids');
  const targetIds = attrInts(attrs, 'target_ids');
  const weights = attrFloats(attrs, 'target_weights');
  const base = attrFloats(attrs, 'base_values');
  const trees = [...new Set(nodeTrees)].sort((a, b) => a - b);
  const column = new Map(trees.map((t, i) => [t, i]));

  if (targetTrees.length !== targetIds.length || targetTrees.length !== weights.values.length) {
    throw refuse(`${nodeName} has target_treeids, target_ids and target_weights of different lengths`);
  }
  const unknownTree = targetTrees.find((t) => !column.has(t));
  if (unknownTree !== undefined) throw refuse(`${nodeName} has a leaf of tree ${unknownTree}, which has no nodes`);
  if (post !== 'NONE') throw refuse(`${nodeName} has post_transform ${post}; only NONE keeps the mean of the trees`);

  // Already one column per tree (as models/tools/onnx-export.ts writes).
  if (
    nTargets === trees.length &&
    trees.length >= 2 &&
    aggregate === 'SUM' &&
    targetIds.every((id, i) => id === column.get(targetTrees[i] as number)) &&
    (base.values.length === 0 || base.values.length === nTargets)
  ) {
    return { form: 'per-tree', trees: trees.length, nodeName };
  }
  if (nTargets !== 1 || targetIds.some((id) => id !== 0)) {
    throw refuse(`${nodeName} has ${nTargets} targets (a multi-output regressor); only one target can be expanded into trees`);
  }
  if (aggregate !== 'SUM' && aggregate !== 'AVERAGE') {
    throw refuse(`${nodeName} has aggregate_function ${aggregate}; only SUM and AVERAGE average the trees`);
  }
  if (base.values.length > 1) throw refuse(`${nodeName} has ${base.values.length} base_values for one target`);
  if (trees.length < 2) return { form: 'none', reason: `${nodeName} has a single tree` };
  return { form: 'single-target', trees: trees.length, aggregate, baseValue: base.values[0] ?? 0, nodeName };
}

/**
 * Rewrite a single-target forest (skl2onnx's RandomForestRegressor) so that every tree writes its own output
 * column, each equal to that tree's own prediction:
 *
 *   n_targets = T (number of trees), target_ids = the tree's column (trees in ascending tree id),
 *   target_weights: SUM w -> w·T (skl2onnx divided each leaf by T), AVERAGE w -> w,
 *   base_values: the one base value repeated for every member, aggregate SUM, post_transform NONE,
 *   the graph output's shape [N, T].
 *
 * The mean of the members is the original prediction. Everything else in the graph (nodes before the
 * ensemble, node attributes, opsets, metadata) is kept. Weights keep their form: float32 attributes stay
 * float32 (w·T rounded to float32, within one float32 step of the tree's value), `_as_tensor` doubles stay
 * doubles. Throws a PackageModelError unless {@link describeTreeEnsemble} says `single-target`.
 */
export function expandTreeEnsemble(bytes: Uint8Array): Uint8Array {
  const model = decodeOnnx(bytes);
  const form = describeTreeEnsemble(model);
  if (form.form !== 'single-target') {
    throw new PackageModelError(
      form.form === 'per-tree' ? 'the tree ensemble already has one output column per tree' : `nothing to expand: ${form.reason}`,
      '--onnx',
    );
  }
  const graph = model.graph as OnnxTypes.GraphProto;
  const node = graph.node.find((n) => n.domain === ML_DOMAIN && n.opType === 'TreeEnsembleRegressor') as OnnxTypes.NodeProto;
  const attrs = attrMap(node);
  const T = form.trees;
  const trees = [...new Set(attrInts(attrs, 'nodes_treeids'))].sort((a, b) => a - b);
  const column = new Map(trees.map((t, i) => [t, i]));
  const weights = attrFloats(attrs, 'target_weights');
  const base = attrFloats(attrs, 'base_values');
  const targetIds = attrInts(attrs, 'target_treeids').map((t) => column.get(t) as number);
  const memberWeights = weights.values.map((w) => (form.aggregate === 'SUM' ? w * T : w));

  const replaced = new Set([
    'aggregate_function',
    'post_transform',
    'n_targets',
    'target_ids',
    'target_weights',
    'target_weights_as_tensor',
    'base_values',
    'base_values_as_tensor',
  ]);
  const attribute: OnnxTypes.IAttributeProto[] = (node.attribute ?? []).filter((a) => !replaced.has(a.name ?? ''));
  attribute.push(
    { name: 'aggregate_function', type: AttrType.STRING, s: new TextEncoder().encode('SUM') },
    { name: 'post_transform', type: AttrType.STRING, s: new TextEncoder().encode('NONE') },
    { name: 'n_targets', type: AttrType.INT, i: T },
    { name: 'target_ids', type: AttrType.INTS, ints: targetIds },
    floatAttr('target_weights', memberWeights, weights.tensorType),
  );
  if (base.present) attribute.push(floatAttr('base_values', Array<number>(T).fill(form.baseValue), base.tensorType));
  attribute.sort((a, b) => ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : 0));
  node.attribute = attribute.map((a) => onnx.AttributeProto.create(a));

  // The output is now [N, T]; keep the batch dimension as declared.
  const out = graph.output[0] as OnnxTypes.ValueInfoProto;
  const batch = out.type?.tensorType?.shape?.dim?.[0] ?? { dimParam: 'N' };
  out.type = onnx.TypeProto.create({
    tensorType: { elemType: DataType.FLOAT, shape: { dim: [batch, { dimValue: T }] } },
  });
  graph.valueInfo = graph.valueInfo.filter((v) => v.name !== out.name);
  return encodeOnnx(model);
}
