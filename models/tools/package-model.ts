/**
 * Package an ONNX regressor trained elsewhere as a Twinserve model package
 * (`models/<name>/<version>/{model.onnx, manifest.json}`, see docs/model-package.md).
 *
 *   npm run package-model -- --onnx model.onnx --spec spec.json --out models/<name>/<version>
 *                            [--calibration calib.csv] [--created YYYY-MM-DD] [--single] [--force]
 *
 * - A scikit-learn-style forest (one ai.onnx.ml TreeEnsembleRegressor whose single target is the mean of
 *   its trees, as skl2onnx exports a RandomForestRegressor) is rewritten so that every tree writes its own
 *   output column: output `{kind: 'ensemble', members: T}`, interval the members' 5th..95th percentiles.
 * - Any other single-output regressor needs calibration data: output `{kind: 'single'}`, interval the
 *   split-conformal half-width of the calibration residuals at `--level` (default 0.9).
 * - With calibration data an ensemble's interval is calibrated too: normalised conformal (mean ± q̂·spread),
 *   and the manifest records method, level, rows and coverage (`calibration`).
 *
 * Bad input exits with code 2 and a message naming the flag or field. The functions are exported for the
 * tests and for the `twin` CLI.
 */
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import * as z from 'zod';
import {
  type FeatureSpec,
  type ModelManifest,
  describeZodIssues,
  featureSchema,
  modelManifestSchema,
  modelNameSchema,
  scalerSchema,
  semverSchema,
  sha256Hex,
  verifyPackage,
} from '../../functions/core/manifest.js';
import { calibrateEnsemble, calibrateSingle, CalibrationError, conformalQuantile, conformalRank as coreConformalRank, defaultIntervalLevel, intervalLevelSchema, type CalibrationResult } from '../../functions/core/quality/conformal.js';
import { featureHistogram } from '../../functions/core/quality/drift.js';
import { inspectModelGraph } from '../../functions/core/models/graph-check.js';
import { featureEnvelopes } from './envelope.js';
import { Prng } from './prng.js';

const { onnx } = onnxProto;

// ---------------------------------------------------------------------------------------------------------
// Errors

/** Bad input or an unsupported model: the command prints the message and exits with code 2. */
export class PackageModelError extends Error {
  override readonly name = 'PackageModelError';
  constructor(
    message: string,
    /** The flag or field at fault, e.g. `--calibration` or `spec.features.0.max`. */
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The spec: the manifest fields the graph cannot tell

export const packageSpecSchema = z
  .strictObject({
    name: modelNameSchema,
    version: semverSchema,
    description: z.string().max(500).optional(),
    modelType: z.string().max(64),
    target: modelManifestSchema.shape.target,
    /** In tensor column order. An `envelope` given here wins over one computed from calibration data. */
    features: z.array(featureSchema).min(1).max(256),
    alerts: modelManifestSchema.shape.alerts,
    scaler: scalerSchema.optional(),
    /** Free-form provenance, copied into the manifest's `training`. */
    training: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    s.features.forEach((f, i) => {
      if (names.has(f.name)) ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature ${f.name}` });
      names.add(f.name);
    });
    if (names.has(s.target.name)) {
      ctx.addIssue({ code: 'custom', path: ['target', 'name'], message: `the target must not share a name with a feature (${s.target.name})` });
    }
    if (s.scaler && (s.scaler.mean.length !== s.features.length || s.scaler.scale.length !== s.features.length)) {
      ctx.addIssue({ code: 'custom', path: ['scaler'], message: 'mean and scale need one entry per feature' });
    }
  });

export type PackageSpec = z.infer<typeof packageSpecSchema>;

export function parseSpec(json: unknown): PackageSpec {
  const parsed = packageSpecSchema.safeParse(json);
  if (!parsed.success) throw new PackageModelError(describeZodIssues(parsed.error), '--spec');
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------------------
// ONNX helpers

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

// ---------------------------------------------------------------------------------------------------------
// Calibration data and conformal intervals

export interface CalibrationData {
  /** Feature values in the spec's feature order. */
  x: number[][];
  y: number[];
}

/**
 * Parse a calibration CSV: a header row naming the feature columns (any order) and the target column
 * (`spec.target.name`); other columns are ignored. Every used cell must be a finite number.
 */
export function parseCalibrationCsv(text: string, spec: Pick<PackageSpec, 'features' | 'target'>): CalibrationData {
  const field = '--calibration';
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // RFC 4180 with csv-parse: quoted fields (commas, quotes, newlines inside), a BOM, CRLF or LF.
    records = parseCsv(text, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    throw new PackageModelError(`not valid CSV: ${(error as Error).message}`, field);
  }
  const [first, ...rows] = records;
  if (!first) throw new PackageModelError('the CSV is empty; it needs a header row and data rows', field);
  const header = first.record;
  const seen = new Set<string>();
  for (const h of header) {
    if (h && seen.has(h)) throw new PackageModelError(`the header names column ${h} twice`, field);
    seen.add(h);
  }
  const wanted = [...spec.features.map((f) => f.name), spec.target.name];
  const missing = wanted.filter((name) => !header.includes(name));
  if (missing.length) {
    const kinds = missing.map((m) => (m === spec.target.name ? `target column ${m}` : `feature column ${m}`));
    throw new PackageModelError(`missing ${kinds.join(', ')} (header: ${header.join(', ')})`, field);
  }
  const index = wanted.map((name) => header.indexOf(name));
  const x: number[][] = [];
  const y: number[] = [];
  for (const { record: cells, info } of rows) {
    const values = index.map((i, k) => {
      const cell = cells[i] ?? '';
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new PackageModelError(`line ${info.lines}, column ${wanted[k]}: ${JSON.stringify(cell)} is not a finite number`, field);
      }
      return v;
    });
    y.push(values.pop() as number);
    x.push(values);
  }
  return { x, y };
}

/** The rank (1-based) of the split-conformal quantile: ⌈(n+1)·level⌉ (functions/core/quality/conformal.ts). */
export function conformalRank(n: number, level: number): number {
  return coreConformalRank(n, level);
}

/**
 * The split-conformal half-width at `level`: the ⌈(n+1)·level⌉-th smallest absolute residual. Refuses
 * fewer than `minRows` residuals (and ranks beyond n, which would be an infinite interval).
 */
export function conformalHalfWidth(absResiduals: ArrayLike<number>, level = 0.9, minRows = 20): number {
  try {
    return conformalQuantile(absResiduals, level, minRows);
  } catch (error) {
    if (error instanceof CalibrationError) throw new PackageModelError(error.message, '--calibration');
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running the graph as the server does

/** Rows as the server feeds them: float32, feature order, standard-scaled when the manifest has a scaler. */
export function servingInput(rows: readonly ArrayLike<number>[], nFeatures: number, scaler?: PackageSpec['scaler']): Float32Array {
  const values = new Float32Array(rows.length * nFeatures);
  rows.forEach((row, r) => {
    for (let f = 0; f < nFeatures; f++) values[r * nFeatures + f] = row[f] as number;
  });
  if (scaler) {
    for (let i = 0; i < values.length; i++) {
      const f = i % nFeatures;
      values[i] = ((values[i] as number) - (scaler.mean[f] as number)) / (scaler.scale[f] as number);
    }
  }
  return values;
}

/** Run the graph on [rows, nFeatures] float32 values; returns the output values and its column count. */
async function runGraph(
  session: InferenceSession,
  io: { input: string; output: string },
  values: Float32Array,
  rows: number,
  nFeatures: number,
): Promise<{ data: Float32Array; columns: number }> {
  const result = await session.run({ [io.input]: new Tensor('float32', values, [rows, nFeatures]) }, [io.output]);
  const tensor = result[io.output];
  if (!tensor) throw new PackageModelError(`the run returned no output ${io.output}`, '--onnx');
  if (tensor.type !== 'float32') throw new PackageModelError(`output ${io.output} is ${tensor.type}, Twinserve reads float32`, '--onnx');
  const data = tensor.data as Float32Array;
  return { data, columns: rows ? data.length / rows : 0 };
}

async function openSession(bytes: Uint8Array): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  } catch (error) {
    throw new PackageModelError(`onnxruntime cannot load the model: ${(error as Error).message}`, '--onnx');
  }
}

/** Uniform random rows within the features' valid ranges, plus each range's corners. Seeded. */
function probeRows(features: readonly FeatureSpec[], n: number, seed = 1): number[][] {
  const rng = new Prng(seed);
  const rows = Array.from({ length: n }, () => features.map((f) => rng.uniform(f.min, f.max)));
  rows.push(features.map((f) => f.min), features.map((f) => f.max));
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Packaging

export interface BuildPackageOptions {
  /** The model.onnx bytes as exported. */
  onnx: Uint8Array;
  /** spec.json, parsed JSON (validated here). */
  spec: unknown;
  /** The calibration CSV text. Required unless the graph is a forest. */
  calibration?: string;
  /** YYYY-MM-DD; default today (UTC). */
  created?: string;
  /** Never expand a tree ensemble: treat the graph as a single-output regressor (boosted trees). */
  single?: boolean;
  /** The interval's stated coverage, 0.5–0.99, calibrated on the calibration data. @default 0.9 */
  level?: number;
}

export interface BuiltPackage {
  manifest: ModelManifest;
  /** manifest.json as written: 2-space JSON and a newline. */
  manifestText: string;
  /** model.onnx as written (the rewritten graph when expanded). */
  model: Uint8Array;
  /** How the graph was treated. */
  form: 'expanded' | 'per-tree' | 'single';
  /** The conformal rank and row count, for a single-output model. */
  calibration?: { rows: number; rank: number; halfWidth: number };
  /** Things worth telling the user that are not errors. */
  notes: string[];
}

const BOOSTED = /boost|xgb|lgbm|lightgbm|catboost|\bgbm\b|\bgbr\b/i;
export const CONFORMAL_LEVEL = 0.9;
export const MIN_CALIBRATION_ROWS = 20;
export const ENSEMBLE_INTERVAL = { method: 'ensemble-percentile', lower: 5, upper: 95 } as const;

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Build and check a package in memory: nothing is written. */
export async function buildPackage(options: BuildPackageOptions): Promise<BuiltPackage> {
  const spec = parseSpec(options.spec);
  const created = options.created ?? today();
  if (!z.iso.date().safeParse(created).success) throw new PackageModelError(`${JSON.stringify(created)} is not a date (YYYY-MM-DD)`, '--created');
  const nFeatures = spec.features.length;
  const original = decodeOnnx(options.onnx);
  const io = graphSignature(original, nFeatures);
  const notes: string[] = [];
  const levelParsed = intervalLevelSchema.safeParse(options.level ?? defaultIntervalLevel);
  if (!levelParsed.success) throw new PackageModelError(`${options.level} ${levelParsed.error.issues[0]?.message ?? 'is invalid'}`, '--level');
  const level = levelParsed.data;

  const calibration = options.calibration === undefined ? undefined : parseCalibrationCsv(options.calibration, spec);
  if (calibration) {
    const outside = calibration.x.filter((row) => row.some((v, f) => v < (spec.features[f] as FeatureSpec).min || v > (spec.features[f] as FeatureSpec).max)).length;
    if (outside) notes.push(`${outside} calibration row(s) lie outside the features' valid ranges (the server would reject them)`);
  }

  const form: EnsembleForm = options.single ? { form: 'none', reason: 'packaged with --single' } : describeTreeEnsemble(original);
  if (form.form === 'single-target' && BOOSTED.test(spec.modelType)) {
    throw new PackageModelError(
      `modelType ${spec.modelType} looks like boosted trees: their trees are additive corrections, not ensemble members. ` +
        'Package it with --single and --calibration for a conformal interval',
      '--spec',
    );
  }

  let model = options.onnx;
  let output!: ModelManifest['output'];
  let interval: ModelManifest['interval'];
  let calibrationResult: BuiltPackage['calibration'];
  let calibrated: CalibrationResult | undefined;
  const session0 = await openSession(options.onnx);
  try {
    if (form.form === 'single-target') {
      model = expandTreeEnsemble(options.onnx);
      output = { kind: 'ensemble', members: form.trees };
      interval = { ...ENSEMBLE_INTERVAL };
      notes.push(
        `expanded ${form.nodeName} (${form.trees} trees, aggregate ${form.aggregate}` +
          `${form.baseValue ? `, base value ${form.baseValue}` : ''}) into one output column per tree`,
      );
      // The members' mean must reproduce the original prediction (float32 summation bounds the error).
      const session1 = await openSession(model);
      try {
        const rows = probeRows(spec.features, 256);
        const values = servingInput(rows, nFeatures, spec.scaler);
        const names = { input: io.input.name, output: io.output.name };
        const before = await runGraph(session0, names, values, rows.length, nFeatures);
        const after = await runGraph(session1, names, values, rows.length, nFeatures);
        if (before.columns !== 1 || after.columns !== form.trees) {
          throw new PackageModelError(`the rewrite produced ${after.columns} columns from ${before.columns}; expected ${form.trees} from 1`, '--onnx');
        }
        for (let r = 0; r < rows.length; r++) {
          const members = after.data.subarray(r * form.trees, (r + 1) * form.trees);
          let sum = 0;
          let abs = 0;
          for (const m of members) {
            sum += m;
            abs += Math.abs(m);
          }
          const mean = sum / form.trees;
          const y = before.data[r] as number;
          const tolerance = (form.trees + 4) * 2 ** -24 * (abs / form.trees + Math.abs(y) + Math.abs(form.baseValue)) + 1e-30;
          if (!(Math.abs(mean - y) <= tolerance)) {
            throw new PackageModelError(
              `the expanded graph does not reproduce the original (row ${r}: mean of members ${mean}, original ${y}); not packaging it`,
              '--onnx',
            );
          }
        }
      } finally {
        await session1.release();
      }
    } else if (form.form === 'per-tree') {
      output = { kind: 'ensemble', members: form.trees };
      interval = { ...ENSEMBLE_INTERVAL };
      notes.push(`${form.nodeName} already writes one column per tree (${form.trees}); the graph is kept as is`);
    }
    if (form.form !== 'none' && calibration) {
      // An ensemble with calibration data: normalised conformal (adaptive, calibrated to the level).
      const session = form.form === 'single-target' ? await openSession(model) : session0;
      try {
        const values = servingInput(calibration.x, nFeatures, spec.scaler);
        const { data, columns } = await runGraph(session, { input: io.input.name, output: io.output.name }, values, calibration.x.length, nFeatures);
        calibrated = calibrationOrError(() => calibrateEnsemble(data, columns, calibration.y, level, { values, features: nFeatures }));
        interval = calibrated.interval;
        notes.push(`interval: ${calibrated.interval.method === 'conformal-mondrian' ? `Mondrian conformal over ${calibrated.calibration.groups} groups` : 'normalised conformal'} at level ${level} (${calibration.x.length} rows, coverage on them ${calibrated.calibration.coverage.toFixed(3)})`);
      } finally {
        if (session !== session0) await session.release();
      }
    } else if (form.form !== 'none') {
      notes.push(`no calibration data: the interval is the members' ${ENSEMBLE_INTERVAL.lower}th..${ENSEMBLE_INTERVAL.upper}th percentiles, not calibrated (interval_calibrated: false)`);
    } else {
      if (!calibration) {
        throw new PackageModelError(
          `a single-output model (${form.reason}) needs calibration data: its interval is a conformal half-width computed from ` +
            `held-out rows (a CSV with the feature columns and ${spec.target.name}, at least ${MIN_CALIBRATION_ROWS} rows)`,
          '--calibration',
        );
      }
      const n = calibration.x.length;
      if (n < MIN_CALIBRATION_ROWS) {
        throw new PackageModelError(`${n} calibration rows; a conformal interval needs at least ${MIN_CALIBRATION_ROWS}`, '--calibration');
      }
      const values = servingInput(calibration.x, nFeatures, spec.scaler);
      const { data, columns } = await runGraph(session0, { input: io.input.name, output: io.output.name }, values, n, nFeatures);
      if (columns !== 1) {
        throw new PackageModelError(
          `output ${io.output.name} has ${columns} columns per row; a single-output regressor must have one` +
            (columns > 1 ? ' (an ensemble must be a TreeEnsembleRegressor that can be expanded)' : ''),
          '--onnx',
        );
      }
      calibrated = calibrationOrError(() => calibrateSingle(data, calibration.y, level));
      const halfWidth = (calibrated.interval as { halfWidth: number }).halfWidth;
      output = { kind: 'single' };
      interval = calibrated.interval;
      calibrationResult = { rows: n, rank: conformalRank(n, level), halfWidth };
      if (!options.single) notes.push(`single-output model: ${form.reason}`);
    }
  } finally {
    await session0.release();
  }

  const envelopes = calibration ? featureEnvelopes(calibration.x, nFeatures) : undefined;
  const features = spec.features.map((f, i) => {
    const envelope = f.envelope ?? envelopes?.[i];
    return {
      name: f.name,
      unit: f.unit,
      ...(f.description === undefined ? {} : { description: f.description }),
      min: f.min,
      max: f.max,
      ...(envelope ? { envelope } : {}),
      ...(calibration ? { histogram: featureHistogram(calibration.x.map((row) => row[i] as number)) } : {}),
    };
  });

  const manifest: ModelManifest = {
    schemaVersion: 1,
    name: spec.name,
    version: spec.version,
    created,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    modelType: spec.modelType,
    target: spec.target,
    features,
    onnx: { input: io.input.name, output: io.output.name },
    output,
    interval,
    ...(calibrated && calibration
      ? {
          calibration: {
            ...calibrated.calibration,
            source: 'package' as const,
            sha256: sha256Hex(new TextEncoder().encode(options.calibration)),
          },
        }
      : {}),
    ...(spec.scaler ? { scaler: spec.scaler } : {}),
    alerts: spec.alerts,
    training: {
      ...(spec.training ?? {}),
      packaging: {
        tool: 'models/tools/package-model.ts',
        sourceSha256: sha256Hex(options.onnx),
        graph:
          form.form === 'single-target'
            ? `TreeEnsembleRegressor (${form.trees} trees, one target, ${form.aggregate}) expanded to one column per tree`
            : form.form === 'per-tree'
              ? `TreeEnsembleRegressor with one column per tree (${form.trees})`
              : 'single-output regressor',
        ...(calibration
          ? {
              calibrationRows: calibration.x.length,
              calibrationSha256: sha256Hex(new TextEncoder().encode(options.calibration)),
            }
          : {}),
        ...(calibrationResult ? { conformalRank: calibrationResult.rank } : {}),
      },
    },
    sha256: sha256Hex(model),
  };
  const parsed = modelManifestSchema.safeParse(manifest);
  if (!parsed.success) throw new PackageModelError(`the manifest would be invalid: ${describeZodIssues(parsed.error)}`, '--spec');
  verifyPackage(`${spec.name}@${spec.version}`, manifest, model);
  // The server checks every graph before onnxruntime sees it (docs/security.md): refuse here what it would refuse.
  const verdict = inspectModelGraph(model, manifest);
  if (!verdict.ok) {
    throw new PackageModelError(`the server would refuse this graph: ${verdict.violations.map((v) => `${v.rule}: ${v.message}`).join('; ')}`, '--onnx');
  }
  await proveItRuns(model, manifest);
  return {
    manifest,
    manifestText: `${JSON.stringify(manifest, null, 2)}\n`,
    model,
    form: form.form === 'single-target' ? 'expanded' : form.form === 'per-tree' ? 'per-tree' : 'single',
    ...(calibrationResult ? { calibration: calibrationResult } : {}),
    notes,
  };
}

function calibrationOrError(run: () => CalibrationResult): CalibrationResult {
  try {
    return run();
  } catch (error) {
    if (error instanceof CalibrationError) throw new PackageModelError(error.message, '--calibration');
    throw error;
  }
}

/** Load the package once as the server would and run the features' corners and random rows through it. */
async function proveItRuns(model: Uint8Array, manifest: ModelManifest): Promise<void> {
  const session = await openSession(model);
  try {
    const { input, output } = manifest.onnx;
    if (!session.inputNames.includes(input) || !session.outputNames.includes(output)) {
      throw new PackageModelError(`graph has inputs [${session.inputNames}] and outputs [${session.outputNames}], manifest names ${input} -> ${output}`, '--onnx');
    }
    const rows = probeRows(manifest.features, 8, 2);
    const n = manifest.features.length;
    const { data, columns } = await runGraph(session, manifest.onnx, servingInput(rows, n, manifest.scaler), rows.length, n);
    const expected = manifest.output.kind === 'ensemble' ? manifest.output.members : 1;
    if (columns !== expected) throw new PackageModelError(`output has ${columns} columns per row, expected ${expected}`, '--onnx');
    if (!data.every(Number.isFinite)) throw new PackageModelError('the model returns non-finite values on rows inside the valid ranges', '--onnx');
  } finally {
    await session.release();
  }
}

export interface PackageModelOptions {
  onnxPath: string;
  specPath: string;
  /** The package folder, `.../<name>/<version>`. */
  outDir: string;
  calibrationPath?: string;
  /** The interval's level (0.5–0.99). @default 0.9 */
  level?: number;
  created?: string;
  single?: boolean;
  /** Overwrite an existing package folder's files. */
  force?: boolean;
}

function readInput(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new PackageModelError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, flag);
  }
}

/** Read the inputs, build and check the package, then write model.onnx and manifest.json to `outDir`. */
export async function packageModel(options: PackageModelOptions): Promise<BuiltPackage & { files: string[] }> {
  const onnxBytes = new Uint8Array(readInput(options.onnxPath, '--onnx'));
  let specJson: unknown;
  try {
    specJson = JSON.parse(readInput(options.specPath, '--spec').toString('utf8')) as unknown;
  } catch (error) {
    if (error instanceof PackageModelError) throw error;
    throw new PackageModelError(`${options.specPath} is not valid JSON: ${(error as Error).message}`, '--spec');
  }
  const spec = parseSpec(specJson);
  const outDir = resolve(options.outDir);
  if (basename(outDir) !== spec.version || basename(dirname(outDir)) !== spec.name) {
    throw new PackageModelError(`expected a folder ending in ${spec.name}/${spec.version} (the spec's name and version), got ${options.outDir}`, '--out');
  }
  const files = [resolve(outDir, 'model.onnx'), resolve(outDir, 'manifest.json')];
  const existing = files.filter((f) => existsSync(f));
  if (existing.length && !options.force) {
    throw new PackageModelError(`${existing.join(', ')} already exist(s); a published version must not change (pass --force to overwrite)`, '--out');
  }
  const built = await buildPackage({
    onnx: onnxBytes,
    spec: specJson,
    ...(options.calibrationPath === undefined ? {} : { calibration: readInput(options.calibrationPath, '--calibration').toString('utf8') }),
    ...(options.created === undefined ? {} : { created: options.created }),
    ...(options.single ? { single: true } : {}),
    ...(options.level === undefined ? {} : { level: options.level }),
  });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(files[0] as string, built.model);
  writeFileSync(files[1] as string, built.manifestText);
  return { ...built, files };
}

// ---------------------------------------------------------------------------------------------------------
// Command

export const USAGE = `usage: npm run package-model -- --onnx model.onnx --spec spec.json --out models/<name>/<version>
                             [--calibration calib.csv] [--level 0.9] [--created YYYY-MM-DD] [--single] [--force]

  --onnx         the exported graph: one float [N, features] input, one float output
  --spec         JSON with name, version, description?, modelType, target {name, unit},
                 features [{name, unit, min, max, description?}], alerts {min, max}, scaler?, training?
  --out          the package folder; must end in <name>/<version> of the spec
  --calibration  CSV: header with the feature columns (any order) and the target column; required for
                 a single-output model (>= ${MIN_CALIBRATION_ROWS} rows); calibrates every model's interval
                 (split conformal, or Mondrian conformal for ensembles) and gives the features'
                 envelopes and histograms (input drift)
  --level        the interval's stated coverage, 0.5..0.99 (default 0.9)
  --created      the manifest's date (default: today)
  --single       do not expand a tree ensemble (boosted trees); needs --calibration
  --force        overwrite an existing package folder
See docs/model-package.md, "Packaging a model trained elsewhere".`;

/** Run the command with `args` (without node and the script); returns the exit code. */
export async function runPackageModelCli(
  args: string[],
  io: { log: (line: string) => void; error: (line: string) => void } = { log: console.log, error: console.error },
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        onnx: { type: 'string' },
        spec: { type: 'string' },
        out: { type: 'string' },
        calibration: { type: 'string' },
        level: { type: 'string' },
        created: { type: 'string' },
        single: { type: 'boolean' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.log(USAGE);
    return 0;
  }
  const missing = ['onnx', 'spec', 'out'].filter((f) => typeof values[f] !== 'string' || values[f] === '');
  if (missing.length) {
    io.error(`missing ${missing.map((m) => `--${m}`).join(', ')}\n${USAGE}`);
    return 2;
  }
  try {
    const result = await packageModel({
      onnxPath: values.onnx as string,
      specPath: values.spec as string,
      outDir: values.out as string,
      ...(typeof values.calibration === 'string' ? { calibrationPath: values.calibration } : {}),
      ...(typeof values.level === 'string' ? { level: Number(values.level) } : {}),
      ...(typeof values.created === 'string' ? { created: values.created } : {}),
      single: values.single === true,
      force: values.force === true,
    });
    for (const note of result.notes) io.log(`note: ${note}`);
    const m = result.manifest;
    const interval =
      m.interval?.method === 'conformal'
        ? `conformal ±${m.interval.halfWidth} (level ${m.interval.level}, rank ${result.calibration?.rank} of ${result.calibration?.rows})`
        : m.interval?.method === 'conformal-normalized'
          ? `normalised conformal mean ± ${m.interval.scale.toFixed(4)}·(spread + ${m.interval.eps.toPrecision(3)}) (level ${m.interval.level}, coverage on ${m.calibration?.rows} calibration rows ${m.calibration?.coverage.toFixed(3)})`
          : m.interval?.method === 'conformal-mondrian'
          ? `Mondrian conformal mean ± ${m.interval.halfWidth.map((w) => w.toPrecision(3)).join(' | ')} by group (level ${m.interval.level}, coverage on the ${m.calibration?.rows} calibration rows' held half ${m.calibration?.coverage.toFixed(3)})`
          : m.interval
          ? `members' ${m.interval.lower}th..${m.interval.upper}th percentiles`
          : 'none';
    io.log(
      `${m.name}@${m.version}: ${m.onnx.input} [N, ${m.features.length}] -> ${m.onnx.output} ` +
        `${m.output.kind === 'ensemble' ? `[N, ${m.output.members}] (ensemble)` : '[N, 1] (single)'}, interval ${interval}`,
    );
    for (const file of result.files) io.log(`wrote ${file}`);
    io.log(`sha256 ${m.sha256}`);
    return 0;
  } catch (error) {
    if (error instanceof PackageModelError) {
      io.error(`package-model: ${error.message}`);
      return 2;
    }
    io.error(`package-model failed: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await runPackageModelCli(process.argv.slice(2));
}
