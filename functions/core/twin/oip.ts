import * as z from 'zod';
import type { Principal } from '../auth/tokens.js';
import { BatchTooLargeError, InvalidInputError, InvalidRequestError, ModelNotFoundError } from '../errors.js';
import { compareSemver, modelNameSchema, semverSchema, type ModelManifest } from '../manifest.js';
import type { PendingWrites } from '../pending-writes.js';
import type { ModelStore } from '../ports.js';
import type { ModelRegistry } from './registry.js';
import type { TwinModel } from './model.js';
import { maxBatchSize } from './limits.js';
import type { InferRowsResult, TwinService } from './service.js';

/**
 * The Open Inference Protocol (KServe "V2"), REST binding: health, server and model metadata, model
 * readiness and inference, in the protocol's JSON (github.com/kserve/open-inference-protocol,
 * specification/protocol/inference_rest.md), so clients written for KServe, Triton or MLServer call our
 * models unchanged. A model takes one FP32 input `[N, features]` (row-major, the manifest's feature order)
 * and answers `prediction` `[N]`, `interval_lower`/`interval_upper` `[N]` (FP64: the same numbers as
 * /api/v1/twin/predict) and, for an ensemble, the graph's own member outputs `[N, members]` (FP32).
 */

/** Triton's name for ONNX Runtime models: what `platform` says in model metadata. */
export const oipPlatform = 'onnxruntime_onnx';

export const oipDatatypes = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;

/** The most elements one input can hold: 100 rows of the manifest's most features (256). */
const maxTensorElements = 100 * 256;

const parametersSchema = z.record(z.string(), z.unknown()).meta({ description: 'Key/value parameters (accepted, not interpreted)' });

export const oipInferRequestSchema = z
  .object({
    id: z.string().max(256).optional().meta({ description: 'Echoed in the response; defaults to the request id' }),
    parameters: parametersSchema.optional(),
    inputs: z
      .array(
        z.object({
          name: z.string().min(1).max(256).meta({ description: 'The input tensor name (model metadata names it; a single input is accepted under any name)' }),
          shape: z.array(z.number().int().nonnegative()).min(1).max(8).meta({ description: '[N, features]: N 1..100, features the model\'s count' }),
          datatype: z.string().min(1).max(16).meta({ description: 'FP32 (FP64 is accepted and read as float32)' }),
          parameters: parametersSchema.optional(),
          data: z.array(z.unknown()).max(maxTensorElements).meta({ description: 'The elements in row-major order: flat, or nested arrays as the shape' }),
        }),
      )
      .min(1)
      .max(8),
    outputs: z
      .array(z.object({ name: z.string().min(1).max(256), parameters: parametersSchema.optional() }))
      .max(16)
      .optional()
      .meta({ description: 'The outputs to return; all of them when absent' }),
  });
export type OipInferRequest = z.infer<typeof oipInferRequestSchema>;

const metadataTensorSchema = z.strictObject({
  name: z.string(),
  datatype: z.enum(oipDatatypes),
  shape: z.array(z.number().int()).meta({ description: 'Variable-size dimensions are -1' }),
});

export const oipResponseOutputSchema = z.strictObject({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  datatype: z.enum(oipDatatypes),
  data: z.array(z.number()).meta({ description: 'Row-major, flat' }),
});

export const oipInferResponseSchema = z
  .strictObject({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string(),
    outputs: z.array(oipResponseOutputSchema),
  });
export type OipInferResponse = z.infer<typeof oipInferResponseSchema>;

export const oipModelMetadataSchema = z
  .strictObject({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(metadataTensorSchema),
    outputs: z.array(metadataTensorSchema),
  });
export type OipModelMetadata = z.infer<typeof oipModelMetadataSchema>;

export const oipServerMetadataSchema = z.strictObject({ name: z.string(), version: z.string(), extensions: z.array(z.string()) });
export const oipServerLiveSchema = z.strictObject({ live: z.boolean() });
export const oipServerReadySchema = z.strictObject({ ready: z.boolean(), error: z.string().optional().meta({ description: 'Why not, when not ready' }) });
export const oipModelReadySchema = z.strictObject({ name: z.string(), ready: z.boolean(), error: z.string().optional().meta({ description: 'Why not, when not ready' }) });

/**
 * The protocol's error object, `{error: $string}`, plus our code, request id and field issues (extra
 * members, which the protocol's clients ignore). See docs/api.md.
 */
export const oipErrorSchema = z
  .strictObject({
    error: z.string(),
    code: z.string(),
    requestId: z.string(),
    issues: z.array(z.strictObject({ field: z.string(), rule: z.string(), message: z.string() })).max(20).optional(),
    issues_total: z.number().int().optional(),
    issues_truncated: z.literal(true).optional(),
    retry_after_seconds: z.number().optional(),
  });

export interface OipOptions {
  serverName: string;
  serverVersion: string;
  /** The model whose readiness is the server's (GET /v2/health/ready). */
  defaultModel: string;
}

interface OutputSpec {
  name: string;
  datatype: 'FP32' | 'FP64';
  shape: number[];
  values(result: InferRowsResult): number[];
}

/** The outputs a model answers, in metadata order. */
function outputsOf(manifest: ModelManifest): OutputSpec[] {
  const outputs: OutputSpec[] = [{ name: 'prediction', datatype: 'FP64', shape: [-1], values: (r) => r.predictions.map((p) => p.prediction) }];
  if (manifest.interval) {
    outputs.push(
      { name: 'interval_lower', datatype: 'FP64', shape: [-1], values: (r) => r.predictions.map((p) => p.interval?.[0] ?? Number.NaN) },
      { name: 'interval_upper', datatype: 'FP64', shape: [-1], values: (r) => r.predictions.map((p) => p.interval?.[1] ?? Number.NaN) },
    );
  }
  const raw = manifest.onnx.output;
  if (manifest.output.kind === 'ensemble' && !outputs.some((o) => o.name === raw)) {
    outputs.push({ name: raw, datatype: 'FP32', shape: [-1, manifest.output.members], values: (r) => Array.from(r.raw) });
  }
  return outputs;
}

function selectOutputs(available: OutputSpec[], requested: readonly { name: string }[]): OutputSpec[] {
  const names = available.map((a) => a.name).join(', ');
  const unknown = requested.filter((o) => !available.some((a) => a.name === o.name)).map((o) => o.name);
  if (unknown.length > 0) {
    throw new InvalidRequestError(`unknown output ${unknown.join(', ')}; the model answers ${names}`, [
      { field: 'outputs', rule: 'known_output', message: `one of ${names}` },
    ]);
  }
  return requested.map((o) => available.find((a) => a.name === o.name)!);
}

/**
 * The elements in row-major order, from flat data or arrays nested as the shape. Nesting deeper than the
 * shape has dimensions is refused (it cannot be the tensor's layout, and it bounds the recursion); collecting
 * stops one element past `limit` (the declared element count), so the copy is never larger than the shape.
 */
function flatten(data: readonly unknown[], maxDepth: number, limit: number, depth = 1, out: unknown[] = []): unknown[] {
  for (const element of data) {
    if (out.length > limit) return out;
    if (!Array.isArray(element)) {
      out.push(element);
      continue;
    }
    if (depth >= maxDepth) {
      throw new InvalidRequestError(`input data nests deeper than its shape's ${maxDepth} dimensions`, [
        { field: 'inputs.0.data', rule: 'shape', message: 'flat, or nested as the shape' },
      ]);
    }
    flatten(element, maxDepth, limit, depth + 1, out);
  }
  return out;
}

/** The datatypes an input tensor may declare: JSON numbers read as float32 (FP64 values are narrowed). */
export const oipInputDatatypes = ['FP32', 'FP64'] as const;

/**
 * Checks a declared input shape against the model BEFORE anything is allocated from it: rank 2, N in
 * 1..{@link maxBatchSize}, width = the model's feature count, a supported datatype, and (top level) no more
 * data than the shape holds. Returns `[N, width]`.
 */
export function checkDeclaredShape(
  input: { name: string; shape: readonly number[]; datatype: string; data: readonly unknown[] },
  featureCount: number,
  featureNames: readonly string[] = [],
): { rows: number; width: number } {
  const label = `input ${input.name.slice(0, 64)}`;
  if (!(oipInputDatatypes as readonly string[]).includes(input.datatype)) {
    throw new InvalidRequestError(`${label}: datatype ${input.datatype} is not supported; send FP32`, [
      { field: 'inputs.0.datatype', rule: 'datatype', message: `one of ${oipInputDatatypes.join(', ')}` },
    ]);
  }
  const shape = input.shape;
  if (shape.length !== 2) {
    throw new InvalidRequestError(`${label}: shape [${shape.join(', ')}] must be [N, features]`, [
      { field: 'inputs.0.shape', rule: 'shape', message: 'two dimensions: [N, features]' },
    ]);
  }
  const [n, width] = shape as [number, number];
  if (n < 1 || width < 1) {
    throw new InvalidRequestError(`${label}: every dimension must be at least 1, shape is [${n}, ${width}]`, [
      { field: 'inputs.0.shape', rule: 'min', message: 'every dimension at least 1' },
    ]);
  }
  if (n > maxBatchSize) throw new BatchTooLargeError(n, maxBatchSize);
  if (width !== featureCount) {
    throw new InvalidInputError(`${label}: rows of ${width} values; the model takes ${featureCount} (${featureNames.join(', ')})`, [
      { field: 'inputs.0.shape', rule: 'shape', message: `[N, ${featureCount}]` },
    ]);
  }
  if (input.data.length > n * width) {
    throw new InvalidRequestError(`${label}: shape [${n}, ${width}] needs ${n * width} elements, data has more`, [
      { field: 'inputs.0.data', rule: 'shape', message: `${n * width} elements in row-major order` },
    ]);
  }
  return { rows: n, width };
}

/** The Open Inference Protocol's use cases, on top of the twin's inference and the model store. */
export class OipService {
  constructor(
    private readonly twin: TwinService,
    private readonly registry: ModelRegistry,
    private readonly store: ModelStore,
    private readonly options: OipOptions,
  ) {}

  serverMetadata() {
    return { name: this.options.serverName, version: this.options.serverVersion, extensions: [] as string[] };
  }

  live() {
    return { live: true };
  }

  /** Ready when the default model can serve (its routed version, or the fallback the registry keeps). */
  async ready(): Promise<{ ready: boolean; error?: string }> {
    try {
      // Public probe: as a platform principal would be served.
      await this.registry.active(this.options.defaultModel, { id: '' });
      return { ready: true };
    } catch (error) {
      return { ready: false, error: error instanceof Error && 'expose' in error && error.expose ? error.message : 'model unavailable' };
    }
  }

  private target(rawName: string, rawVersion: string | undefined): { name: string; version?: string } {
    const name = modelNameSchema.safeParse(rawName);
    if (!name.success) throw new InvalidRequestError(`model name ${rawName}: ${name.error.issues[0]?.message ?? 'invalid'}`, [{ field: 'name', rule: 'format', message: 'lower-case letters, digits and dashes' }]);
    if (rawVersion === undefined) return { name: name.data };
    const version = semverSchema.safeParse(rawVersion);
    if (!version.success) throw new InvalidRequestError(`model version ${rawVersion}: must be a semantic version such as 1.2.3`, [{ field: 'version', rule: 'format', message: 'a semantic version such as 1.2.3' }]);
    return { name: name.data, version: version.data };
  }

  /** Through the registry's owner check: a model the principal may not see is not found. */
  private load(principal: Principal, target: { name: string; version?: string }): Promise<TwinModel> {
    const subject = { id: principal.id, ...(principal.plant ? { plant: principal.plant } : {}) };
    return target.version ? this.registry.version(target.name, target.version, subject) : this.registry.active(target.name, subject);
  }

  async modelMetadata(principal: Principal, rawName: string, rawVersion?: string): Promise<OipModelMetadata> {
    const target = this.target(rawName, rawVersion);
    const model = await this.load(principal, target);
    const versions = await this.store.listVersions(target.name);
    const m = model.manifest;
    return {
      name: m.name,
      versions: versions.sort(compareSemver),
      platform: oipPlatform,
      inputs: [{ name: m.onnx.input, datatype: 'FP32', shape: [-1, m.features.length] }],
      outputs: outputsOf(m).map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    };
  }

  /** 200 `{name, ready: true}`; a model that exists but cannot load answers ready false; an unknown one 404. */
  async modelReady(principal: Principal, rawName: string, rawVersion?: string): Promise<{ name: string; ready: boolean; error?: string }> {
    const target = this.target(rawName, rawVersion);
    try {
      await this.load(principal, target);
      return { name: target.name, ready: true };
    } catch (error) {
      if (error instanceof ModelNotFoundError) throw error;
      return { name: target.name, ready: false, error: error instanceof Error && 'expose' in error && error.expose ? error.message : 'model unavailable' };
    }
  }

  async infer(principal: Principal, rawName: string, rawVersion: string | undefined, request: OipInferRequest, requestId: string, writes?: PendingWrites): Promise<OipInferResponse> {
    const target = this.target(rawName, rawVersion);
    if (request.inputs.length !== 1) {
      throw new InvalidRequestError(`the model takes one input tensor [N, features], got ${request.inputs.length}`, [
        { field: 'inputs', rule: 'count', message: 'send exactly one input tensor' },
      ]);
    }
    const input = request.inputs[0]!;
    // The declared shape is checked against the model before anything is sized by it (issue 13, finding 2).
    const model = await this.load(principal, target);
    const { rows: n, width } = checkDeclaredShape(input, model.featureCount, model.manifest.features.map((f) => f.name));
    const data = flatten(input.data, input.shape.length, n * width);
    if (data.length !== n * width) {
      throw new InvalidRequestError(`input ${input.name}: shape [${n}, ${width}] needs ${n * width} elements, data has ${data.length}`, [
        { field: 'inputs.0.data', rule: 'shape', message: `${n * width} elements in row-major order` },
      ]);
    }
    const rows: unknown[][] = [];
    for (let r = 0; r < n; r++) rows.push(data.slice(r * width, (r + 1) * width));
    // Unknown output names are refused before anything runs (and again after, should an A/B variant differ).
    if (request.outputs) selectOutputs(outputsOf(model.manifest), request.outputs);
    const result = await this.twin.inferRows(principal, target, rows, { requestId, writes });
    const available = outputsOf(result.manifest);
    const wanted = request.outputs ? selectOutputs(available, request.outputs) : available;
    return {
      model_name: result.manifest.name,
      model_version: result.manifest.version,
      id: request.id ?? requestId,
      outputs: wanted.map((o) => ({ name: o.name, shape: o.shape.map((d) => (d === -1 ? n : d)), datatype: o.datatype, data: o.values(result) })),
    };
  }
}
