/**
 * Building a package in memory: the spec checked, the graph read and (for a forest) expanded and proven to
 * reproduce the original, the interval calibrated, the manifest written and checked as the server checks it.
 */
import * as z from 'zod';
import { type FeatureSpec, type ModelManifest, describeZodIssues, modelManifestSchema, sha256Hex, verifyPackage } from '../../../functions/core/manifest.js';
import { calibrateEnsemble, calibrateSingle, defaultIntervalLevel, intervalLevelSchema, type CalibrationResult } from '../../../functions/core/quality/conformal.js';
import { featureHistogram } from '../../../functions/core/quality/drift.js';
import { inspectModelGraph } from '../../../functions/core/models/graph-check.js';
import { featureEnvelopes } from '../envelope.js';
import { calibrationOrError, conformalRank, MIN_CALIBRATION_ROWS } from './calibration.js';
import { parseCalibrationCsv } from './calibration-csv.js';
import { decodeOnnx, describeTreeEnsemble, expandTreeEnsemble, graphSignature, type EnsembleForm } from './onnx-graph.js';
import { openSession, probeRows, runGraph, servingInput } from './run-graph.js';
import { PackageModelError, parseSpec } from './spec.js';

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
