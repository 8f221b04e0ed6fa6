import './no-telemetry.js';
import * as ort from 'onnxruntime-node';
import { ModelInvalidError } from '../errors.js';
import { checkModelGraph } from '../models/graph-check.js';
import type { CalibrationRecordManifest, ModelManifest } from '../manifest.js';
import type { ModelPackage } from '../ports.js';
import { ensembleHalfWidth, isCalibrated, memberMoments } from '../quality/conformal.js';
import { mean, percentileSorted } from './statistics.js';
import { RowValidator } from './validation.js';

export interface RowPrediction {
  prediction: number;
  /** [lower, upper] of the manifest's interval, or null when the model has none (as the chapter's). */
  interval: [number, number] | null;
}

/**
 * One loaded model version: its manifest, its input validator and one onnxruntime session, created once
 * per container and reused by every invocation.
 */
export class TwinModel {
  readonly ref: string;
  readonly validator: RowValidator;
  readonly featureCount: number;
  /** The ensemble's members (1 for a single-output model): what a row costs to run (rowUnits). */
  readonly members: number;
  /** The interval served: the manifest's, or a calibration added to the published version later. */
  interval: ModelManifest['interval'];
  calibration: CalibrationRecordManifest | undefined;
  /** True when the interval is conformally calibrated to its level (answered as `interval_calibrated`). */
  intervalCalibrated: boolean;
  /**
   * Online recalibration: a factor on the calibrated half-width, adapted from feedback so that coverage
   * tracks the level (functions/core/quality/recalibration.ts). 1 = as calibrated.
   */
  widthFactor = 1;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly session: ort.InferenceSession,
    /** model.onnx as loaded (verified): the insight explainers read tree ensembles from it. */
    readonly graph: Uint8Array,
  ) {
    this.ref = `${manifest.name}@${manifest.version}`;
    this.validator = new RowValidator(manifest);
    this.featureCount = manifest.features.length;
    this.members = manifest.output.kind === 'ensemble' ? manifest.output.members : 1;
    this.interval = manifest.interval;
    this.calibration = manifest.calibration;
    this.intervalCalibrated = isCalibrated(manifest.interval);
  }

  /**
   * Checks the graph (functions/core/models/graph-check.ts: untrusted input, refused with the rule it breaks)
   * and creates the session from the checked bytes. Every load goes through here: publish's smoke test and
   * every version the registry loads from a store, S3 or the edge's directory. The package's manifest and
   * digest must already be verified (see verifyPackage).
   */
  static async load(pkg: ModelPackage): Promise<TwinModel> {
    const ref = `${pkg.manifest.name}@${pkg.manifest.version}`;
    const checked = checkModelGraph(ref, pkg.manifest, pkg.bytes);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(checked, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // onnxruntime reads any bytes with "ORTM" at offset 4 as its own flatbuffer format, which a ModelProto
        // can spell (a first string field "\0\0ORTM..."): the check read ONNX, so the runtime must too.
        extra: { session: { load_model_format: 'ONNX' } },
      });
    } catch (error) {
      // The runtime's own words can name files and sizes: they go to the log (as the cause), not to the client.
      throw new ModelInvalidError(ref, 'loadable: onnxruntime cannot create a session from model.onnx', error, [
        { field: 'model.onnx', rule: 'loadable', message: 'onnxruntime cannot create a session from this graph' },
      ]);
    }
    const { input, output } = pkg.manifest.onnx;
    if (!session.inputNames.includes(input) || !session.outputNames.includes(output)) {
      await session.release();
      throw new ModelInvalidError(ref, `graph_input: the session does not expose the manifest's input ${input} and output ${output}`);
    }
    return new TwinModel(pkg.manifest, session, pkg.bytes);
  }

  /**
   * Runs `rows` rows (feature-ordered, row-major in `values`) through ONE session.run and derives each row's
   * prediction and interval.
   */
  async infer(values: Float32Array, rows: number): Promise<RowPrediction[]> {
    return (await this.run(values, rows)).predictions;
  }

  /**
   * As {@link infer}, and also the graph's raw output (`[rows, columns]`, row-major: one column per ensemble
   * member, or one), for clients that ask for the model's own tensor (the Open Inference Protocol).
   */
  async run(values: Float32Array, rows: number): Promise<{ predictions: RowPrediction[]; raw: Float32Array; columns: number }> {
    const features = this.featureCount;
    const scaler = this.manifest.scaler;
    if (scaler) {
      for (let r = 0; r < rows; r++) {
        for (let f = 0; f < features; f++) {
          const i = r * features + f;
          values[i] = (values[i]! - scaler.mean[f]!) / scaler.scale[f]!;
        }
      }
    }
    const input = new ort.Tensor('float32', values.subarray(0, rows * features), [rows, features]);
    let outputs: ort.InferenceSession.ReturnType;
    try {
      outputs = await this.session.run({ [this.manifest.onnx.input]: input }, [this.manifest.onnx.output]);
    } catch (error) {
      throw new ModelInvalidError(this.ref, 'runs: the graph failed to run on valid input', error, [
        { field: 'model.onnx', rule: 'runs', message: 'the graph failed to run on valid input' },
      ]);
    }
    const tensor = outputs[this.manifest.onnx.output];
    if (!tensor) throw new ModelInvalidError(this.ref, `output ${this.manifest.onnx.output} missing from the run`);
    const data = tensor.data as Float32Array;
    const columns = data.length / rows;
    const expected = this.manifest.output.kind === 'ensemble' ? this.manifest.output.members : 1;
    if (columns !== expected) {
      throw new ModelInvalidError(this.ref, `output has ${columns} columns per row, manifest says ${expected}`);
    }
    const results: RowPrediction[] = new Array(rows);
    const interval = this.interval;
    const factor = this.widthFactor;
    for (let r = 0; r < rows; r++) {
      const members = data.subarray(r * columns, (r + 1) * columns);
      let prediction = columns === 1 ? members[0]! : mean(members);
      let band: [number, number] | null = null;
      if (interval?.method === 'ensemble-percentile') {
        const sorted = sortInto(this.scratch(columns), members);
        band = [percentileSorted(sorted, interval.lower), percentileSorted(sorted, interval.upper)];
      } else if (interval?.method === 'conformal') {
        const half = interval.halfWidth * factor;
        band = [prediction - half, prediction + half];
      } else if (interval?.method === 'conformal-normalized' || interval?.method === 'conformal-mondrian') {
        const moments = memberMoments(members);
        prediction = moments.mean;
        // `values` now holds the rows as the graph saw them (scaled in place above), the space the tree was fitted in.
        const half = ensembleHalfWidth(interval, values, r * features, features, moments.spread) * factor;
        band = [prediction - half, prediction + half];
      }
      results[r] = { prediction, interval: band };
    }
    return { predictions: results, raw: data, columns };
  }

  /**
   * Serves a calibration added to this published version later (the package itself is immutable), or the
   * manifest's own interval again when `overlay` is undefined.
   */
  applyCalibration(overlay: { interval: NonNullable<ModelManifest['interval']>; calibration: CalibrationRecordManifest } | undefined): void {
    this.interval = overlay?.interval ?? this.manifest.interval;
    this.calibration = overlay?.calibration ?? this.manifest.calibration;
    this.intervalCalibrated = isCalibrated(this.interval);
  }

  private sortBuffer: Float64Array | undefined;

  /** One reusable buffer per model (inference runs to completion on one thread, so nothing shares it). */
  private scratch(size: number): Float64Array {
    if (this.sortBuffer?.length !== size) this.sortBuffer = new Float64Array(size);
    return this.sortBuffer;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Beyond this many members an insertion sort's n² costs more than the typed array's own sort. */
const insertionSortMax = 64;

/**
 * Copies `values` into `out` in ascending order. An insertion sort for the tens of members of an ensemble (it
 * is several times faster than the typed array's sort); the typed array's O(n log n) sort beyond
 * {@link insertionSortMax}: a manifest may declare up to 10,000 members, and n² of those per row made one
 * 100 × 100 sweep of a plant's 2,000-member model hold the container for 20 s.
 */
export function sortInto(out: Float64Array, values: ArrayLike<number>): Float64Array {
  if (values.length > insertionSortMax) {
    out.set(values);
    return out.sort();
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! > v) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = v;
  }
  return out;
}
