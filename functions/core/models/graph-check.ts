import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { ModelInvalidError, type FieldIssue } from '../errors.js';
import type { ModelManifest } from '../manifest.js';
import { readUnambiguousModel, type DimensionView, type GraphView, type Int64, type ModelView, type NodeView, type SparseTensorView, type TensorView, type ValueInfoView } from './onnx-wire.js';
import { allowedOperators, mlDomain, onnxDomain } from './operators.js';

// onnx-proto is CommonJS (module.exports = { onnx }): under ESM it arrives as the default export.
const { onnx } = onnxProto;
type OnnxModel = OnnxTypes.ModelProto;

/**
 * Model packages are untrusted input, like code. Before onnxruntime sees a byte, the graph is parsed here and
 * checked against the rules below; onnxruntime then gets exactly the message that was checked. Either the
 * bytes are unambiguous (./onnx-wire.ts: every field known, singular fields once, strings UTF-8...), so every
 * protobuf parser reads from them the message checked here and onnxruntime gets them as they are; or they are
 * decoded with onnx-proto and onnxruntime gets the checked message re-encoded, so a field this parser does not
 * know (a newer ONNX schema) or a sub-message protobuf C++ would merge can never reach the runtime unchecked.
 * See docs/security.md ("Model packages are untrusted") for each rule and the test that proves it.
 */

/** The documented limits (docs/security.md, docs/model-package.md). */
export const graphLimits = {
  /** model.onnx size. The publish route takes at most 10 MiB of base64 (7.5 MiB of bytes). */
  maxBytes: 8 * 1024 * 1024,
  /** Nodes, counting those inside subgraphs. */
  maxNodes: 1_000,
  /** Nesting depth of subgraphs (If branches). */
  maxGraphDepth: 4,
  /** Elements of one tensor (initializer, tensor attribute, sparse values or indices). */
  maxTensorElements: 4_000_000,
  /** Elements over every tensor in the package. */
  maxTotalTensorElements: 8_000_000,
  /** Elements over every list attribute (ints, floats, strings): a 100-tree forest uses ~0.3 M. */
  maxAttributeElements: 8_000_000,
  /** Rank of any tensor or declared shape. */
  maxRank: 8,
  /** Any one dimension, of a tensor or a declared shape. */
  maxDim: 16_777_216,
  /** ONNX IR versions accepted (IR 8 is what the packager writes). */
  irVersion: { min: 3, max: 10 },
  /** Opset versions accepted per domain. */
  opset: { [onnxDomain]: { min: 1, max: 21 }, [mlDomain]: { min: 1, max: 5 } } as Record<string, { min: number; max: number }>,
} as const;

/** Every rule a graph can break; the name a client sees in `issues[].rule`. */
export type GraphRule =
  | 'model_size'
  | 'not_onnx'
  | 'ir_version'
  | 'opset'
  | 'operator'
  | 'local_function'
  | 'training_info'
  | 'external_data'
  | 'node_count'
  | 'graph_depth'
  | 'tensor_size'
  | 'tensor_rank'
  | 'attribute_size'
  | 'graph_input'
  | 'input_type'
  | 'feature_count'
  | 'batch_dimension'
  | 'graph_output'
  | 'output_type'
  | 'output_width';

export interface GraphViolation {
  rule: GraphRule;
  /** Safe to show a client: names the rule and the graph element, never a path, size of a file or runtime internals. */
  message: string;
}

export type GraphVerdict = { ok: true; bytes: Uint8Array } | { ok: false; violations: GraphViolation[] };

/** At most this many violations are collected: the answer stays small whatever the graph holds. */
const maxViolations = 10;

const DataLocation = onnx.TensorProto.DataLocation;
const ElemType = onnx.TensorProto.DataType;

function num(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value.toString());
}

/** Attacker-chosen names are quoted short, as JSON (no control characters reach a log line or a message). */
function quote(name: string | null | undefined): string {
  const text = name ?? '';
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

class Walk {
  readonly violations: GraphViolation[] = [];
  nodes = 0;
  tensorElements = 0;
  attributeElements = 0;
  private readonly counted = new Set<GraphRule>();

  constructor(private readonly imported: ReadonlySet<string>) {}

  get full(): boolean {
    return this.violations.length >= maxViolations;
  }

  add(rule: GraphRule, message: string): void {
    if (!this.full) this.violations.push({ rule, message });
  }

  /** Package-wide counters report once, not once per element past the limit. */
  once(rule: GraphRule, message: string): void {
    if (this.counted.has(rule)) return;
    this.counted.add(rule);
    this.add(rule, message);
  }

  tensor(t: TensorView | null | undefined, where: string): void {
    if (!t) return;
    const name = `${where} ${quote(t.name)}`;
    // Either marker alone is enough for some runtime to go looking for a file: refuse both.
    if (t.dataLocation === DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
      this.add('external_data', `${name} keeps its data outside model.onnx (external data); a package must embed every tensor`);
    }
    this.shape(t.dims ?? [], name, (elements) => {
      if (elements > graphLimits.maxTensorElements) this.add('tensor_size', `${name} has more than ${graphLimits.maxTensorElements} elements`);
      this.tensorElements += elements;
      if (this.tensorElements > graphLimits.maxTotalTensorElements) this.once('tensor_size', `the tensors hold more than ${graphLimits.maxTotalTensorElements} elements in all`);
    });
  }

  sparse(s: SparseTensorView | null | undefined, where: string): void {
    if (!s) return;
    this.tensor(s.values, `${where} (sparse values)`);
    this.tensor(s.indices, `${where} (sparse indices)`);
    this.shape(s.dims ?? [], where, () => undefined);
  }

  /** Checks rank and every dimension; calls `elements` with the product when they are within limits. */
  shape(dims: readonly Int64[], name: string, elements: (n: number) => void): void {
    if (dims.length > graphLimits.maxRank) {
      this.add('tensor_rank', `${name} has ${dims.length} dimensions; at most ${graphLimits.maxRank}`);
      return;
    }
    let product = 1;
    for (const raw of dims) {
      const d = num(raw);
      if (!Number.isSafeInteger(d) || d < 0 || d > graphLimits.maxDim) {
        this.add('tensor_size', `${name} has a dimension outside 0..${graphLimits.maxDim}`);
        return;
      }
      product *= d;
    }
    elements(product);
  }

  declared(v: ValueInfoView, where: string): void {
    const dims = v.type?.tensorType?.shape?.dim ?? v.type?.sparseTensorType?.shape?.dim ?? [];
    this.shape(
      dims.filter((d) => d.dimValue !== null && d.dimValue !== undefined).map((d) => num(d.dimValue)),
      `${where} ${quote(v.name)}`,
      () => undefined,
    );
  }

  graph(g: GraphView, depth: number, where: string): void {
    if (depth > graphLimits.maxGraphDepth) {
      this.add('graph_depth', `${where} nests subgraphs deeper than ${graphLimits.maxGraphDepth}`);
      return;
    }
    for (const t of g.initializer ?? []) this.tensor(t, `${where} initializer`);
    for (const s of g.sparseInitializer ?? []) this.sparse(s, `${where} sparse initializer ${quote(s.values?.name)}`);
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) this.declared(v, `${where} value`);
    for (const node of g.node ?? []) {
      if (this.full) return;
      this.nodes += 1;
      if (this.nodes > graphLimits.maxNodes) {
        this.once('node_count', `the graph has more than ${graphLimits.maxNodes} nodes`);
        return;
      }
      this.node(node, depth, where);
    }
  }

  node(node: NodeView, depth: number, where: string): void {
    const domain = node.domain === 'ai.onnx' ? onnxDomain : (node.domain ?? onnxDomain);
    const op = node.opType ?? '';
    const label = `${where} node ${quote(node.name || op)}`;
    const allowed = allowedOperators.get(domain);
    if (!allowed || !this.imported.has(domain)) {
      this.add('operator', `${label} uses operator domain ${quote(node.domain)}; only ai.onnx and ai.onnx.ml are allowed`);
    } else if (!allowed.has(op)) {
      this.add('operator', `${label} uses operator ${quote(op)}, which is not on the allow-list (docs/security.md)`);
    }
    for (const a of node.attribute ?? []) {
      const at = `${label} attribute ${quote(a.name)}`;
      // Every payload field is checked whatever `type` claims: a runtime may read the field, not the tag.
      this.tensor(a.t, at);
      for (const t of a.tensors ?? []) this.tensor(t, at);
      this.sparse(a.sparseTensor, at);
      for (const s of a.sparseTensors ?? []) this.sparse(s, at);
      this.attributeElements += (a.ints?.length ?? 0) + (a.floats?.length ?? 0) + (a.strings?.length ?? 0);
      if (this.attributeElements > graphLimits.maxAttributeElements) {
        this.once('attribute_size', `the node attributes hold more than ${graphLimits.maxAttributeElements} elements in all`);
      }
      if (a.g) this.graph(a.g, depth + 1, `${at} subgraph`);
      for (const g of a.graphs ?? []) this.graph(g, depth + 1, `${at} subgraph`);
    }
  }
}

function onnxDecode(bytes: Uint8Array): OnnxModel | undefined {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The graph's tensor width in `dim` (a fixed value), or undefined when it is symbolic or absent. */
function fixedDim(dim: DimensionView | undefined): number | undefined {
  return dim && dim.dimValue !== null && dim.dimValue !== undefined && !dim.dimParam ? num(dim.dimValue) : undefined;
}

const floatTypes: ReadonlySet<number> = new Set([ElemType.FLOAT, ElemType.DOUBLE]);

/** What the manifest says about the graph must be true of the graph (top-level inputs and outputs). */
function checkAgainstManifest(graph: GraphView, manifest: ModelManifest, walk: Walk): void {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  // Inputs with an initializer are constants with a default, not something a caller feeds.
  const fed = (graph.input ?? []).filter((v) => !initializers.has(v.name));
  const { input: inputName, output: outputName } = manifest.onnx;
  const input = fed.find((v) => v.name === inputName);
  if (!input) {
    walk.add('graph_input', `manifest onnx.input ${quote(inputName)} is not an input of the graph`);
  } else {
    if (fed.length !== 1) walk.add('graph_input', `the graph takes ${fed.length} inputs; a twin model takes exactly one, [N, features]`);
    const tensor = input.type?.tensorType;
    if (!tensor || tensor.elemType !== ElemType.FLOAT) walk.add('input_type', `input ${quote(inputName)} must be a float32 tensor`);
    const dims = tensor?.shape?.dim ?? [];
    const width = fixedDim(dims[1]);
    // A symbolic width is left to the smoke run (which feeds exactly the manifest's feature count).
    if (dims.length !== 2) {
      walk.add('feature_count', `input ${quote(inputName)} must have the shape [N, ${manifest.features.length}]`);
    } else if (width !== undefined && width !== manifest.features.length) {
      walk.add('feature_count', `input ${quote(inputName)} takes ${width} features; the manifest lists ${manifest.features.length}`);
    }
    const batch = fixedDim(dims[0]);
    if (dims.length === 2 && batch !== undefined) walk.add('batch_dimension', `input ${quote(inputName)} fixes N to ${batch}; the batch dimension must be symbolic`);
  }
  const output = (graph.output ?? []).find((v) => v.name === outputName);
  if (!output) {
    walk.add('graph_output', `manifest onnx.output ${quote(outputName)} is not an output of the graph`);
    return;
  }
  const tensor = output.type?.tensorType;
  if (!tensor || !floatTypes.has(tensor.elemType ?? -1)) walk.add('output_type', `output ${quote(outputName)} must be a float32 or float64 tensor`);
  const dims = tensor?.shape?.dim ?? [];
  const expected = manifest.output.kind === 'ensemble' ? manifest.output.members : 1;
  const width = dims.length === 2 ? fixedDim(dims[1]) : dims.length === 1 ? 1 : undefined;
  if (dims.length > 2) walk.add('output_width', `output ${quote(outputName)} has ${dims.length} dimensions; [N] or [N, ${expected}] expected`);
  // A symbolic width is left to the run: the smoke test and every inference check the columns.
  else if (width !== undefined && width !== expected) {
    walk.add('output_width', `output ${quote(outputName)} has ${width} columns per row; the manifest's output needs ${expected}`);
  }
}

/** Every rule on a decoded model; the violations found (none: the model passes). */
function checkModel(model: ModelView, manifest: ModelManifest): GraphViolation[] {
  if (!model.graph) return [{ rule: 'not_onnx', message: 'model.onnx is not an ONNX ModelProto with a graph' }];
  const imported = new Set<string>();
  const walk = new Walk(imported);
  const ir = num(model.irVersion);
  if (ir < graphLimits.irVersion.min || ir > graphLimits.irVersion.max) {
    walk.add('ir_version', `ONNX IR version ${ir} is outside ${graphLimits.irVersion.min}..${graphLimits.irVersion.max}`);
  }
  for (const o of model.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? onnxDomain : (o.domain ?? onnxDomain);
    const range = graphLimits.opset[domain];
    const version = num(o.version);
    if (!range) walk.add('operator', `opset domain ${quote(o.domain)} is not allowed; only ai.onnx and ai.onnx.ml`);
    else if (version < range.min || version > range.max) walk.add('opset', `opset ${quote(domain || 'ai.onnx')} version ${version} is outside ${range.min}..${range.max}`);
    else imported.add(domain);
  }
  if ((model.functions?.length ?? 0) > 0) walk.add('local_function', 'the model defines its own functions; only standard operators are allowed');
  if ((model.trainingInfo?.length ?? 0) > 0) walk.add('training_info', 'the model carries training graphs; a package is inference only');
  for (const info of model.trainingInfo ?? []) {
    // Refused already; walked anyway so that external data in them is named too.
    if (info.initialization) walk.graph(info.initialization, 1, 'training graph');
    if (info.algorithm) walk.graph(info.algorithm, 1, 'training graph');
  }
  walk.graph(model.graph, 0, 'graph');
  checkAgainstManifest(model.graph, manifest, walk);
  return walk.violations;
}

/**
 * Checks `bytes` (a model.onnx) against the rules and limits and against `manifest`. On success returns the
 * bytes to hand to onnxruntime, which encode exactly the message checked: `bytes` themselves when they are
 * unambiguous (./onnx-wire.ts; every package our tools and skl2onnx write), else the checked message re-encoded.
 */
export function inspectModelGraph(bytes: Uint8Array, manifest: ModelManifest): GraphVerdict {
  if (bytes.length > graphLimits.maxBytes) {
    return { ok: false, violations: [{ rule: 'model_size', message: `model.onnx is larger than the ${graphLimits.maxBytes / 1024 / 1024} MiB limit` }] };
  }
  const unambiguous = readUnambiguousModel(bytes);
  if (unambiguous) {
    const violations = checkModel(unambiguous, manifest);
    return violations.length > 0 ? { ok: false, violations } : { ok: true, bytes };
  }
  const model = onnxDecode(bytes);
  if (!model) return { ok: false, violations: [{ rule: 'not_onnx', message: 'model.onnx is not an ONNX ModelProto with a graph' }] };
  const violations = checkModel(model, manifest);
  return violations.length > 0 ? { ok: false, violations } : { ok: true, bytes: onnx.ModelProto.encode(model).finish() };
}

/**
 * {@link inspectModelGraph}, throwing MODEL_INVALID (422) naming the first rule broken (every broken rule,
 * up to ten, in `issues`, field `field`).
 */
export function checkModelGraph(packageRef: string, manifest: ModelManifest, bytes: Uint8Array, field = 'model.onnx'): Uint8Array {
  const verdict = inspectModelGraph(bytes, manifest);
  if (verdict.ok) return verdict.bytes;
  const [first] = verdict.violations;
  const issues: FieldIssue[] = verdict.violations.map((v) => ({ field, rule: v.rule, message: v.message }));
  throw new ModelInvalidError(packageRef, `${first!.rule}: ${first!.message}`, undefined, issues);
}
