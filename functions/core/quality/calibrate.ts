import * as z from 'zod';
import { InvalidInputError, InvalidRequestError, type FieldIssue } from '../errors.js';
import type { TwinModel } from '../twin/model.js';
import { calibrateEnsemble, calibrateSingle, CalibrationError, defaultIntervalLevel, intervalLevelSchema, minCalibrationRows } from './conformal.js';
import type { StoredCalibration } from './ports.js';

export const maxCalibrationRows = 10_000;

/**
 * Rows × ensemble members one calibration may run: the graph's output for all rows is held at once (4 bytes
 * each, 40 MB here). 10,000 rows of a 10,000-member model held 1.2 GB for 15 s of one 600 kB request.
 */
export const maxCalibrationMemberValues = 10_000_000;

/** PUT /api/v1/models/{name}/versions/{version}/calibration: labelled rows the version has not seen. */
export const calibrationRequestSchema = z.strictObject({
  level: intervalLevelSchema.default(defaultIntervalLevel),
  rows: z
    .array(z.strictObject({ inputs: z.record(z.string(), z.unknown()), value: z.number().refine(Number.isFinite, 'must be a finite number').refine((v) => Math.abs(v) <= 1e9, 'must be within ±1000000000') }))
    .min(minCalibrationRows, `at least ${minCalibrationRows} rows`)
    .max(maxCalibrationRows, `at most ${maxCalibrationRows} rows`),
});
export type CalibrationRequest = z.infer<typeof calibrationRequestSchema>;

/**
 * Calibrates a published version's interval on labelled rows, as the packager does with `--calibration`:
 * split conformal for a single-output model, Mondrian (or, on few rows, normalised) conformal for an ensemble. The rows are validated
 * as predictions are (every feature, in range) and run through the version's own graph.
 */
export async function calibrateVersion(model: TwinModel, body: CalibrationRequest, at: string, digest: string): Promise<StoredCalibration> {
  const width = model.featureCount;
  const members = model.manifest.output.kind === 'ensemble' ? model.manifest.output.members : 1;
  const maxRows = Math.floor(maxCalibrationMemberValues / members);
  if (body.rows.length > maxRows) {
    const message = `at most ${maxRows} rows for a model of ${members} members (rows × members ≤ ${maxCalibrationMemberValues})`;
    throw new InvalidRequestError(`rows: ${message}`, [{ field: 'rows', rule: 'max', message }]);
  }
  const values = new Float32Array(body.rows.length * width);
  // Bounded work and answer for bad input: at most `maxIssues` issues are collected, the rest only counted.
  const maxIssues = 20;
  const issues: FieldIssue[] = [];
  let total = 0;
  body.rows.forEach((r, i) => {
    const check = model.validator.validateInto(r.inputs, values, i * width, `rows.${i}.inputs`, Math.max(1, maxIssues - issues.length));
    total += check.total;
    if (issues.length < maxIssues) issues.push(...check.issues.slice(0, maxIssues - issues.length));
  });
  if (total > 0) {
    const shown = issues.slice(0, 10).map((i) => `${i.field}: ${i.message}`);
    if (total > shown.length) shown.push(`and ${total - shown.length} more`);
    throw new InvalidInputError(shown.join('; '), issues);
  }
  // run() scales `values` in place to what the graph sees: the space serving evaluates the difficulty tree in.
  const { raw, columns } = await model.run(values, body.rows.length);
  const targets = body.rows.map((r) => r.value);
  try {
    const result = columns > 1 ? calibrateEnsemble(raw, columns, targets, body.level, { values, features: width }) : calibrateSingle(raw, targets, body.level);
    return { interval: result.interval, calibration: { ...result.calibration, source: 'route', sha256: digest, calibrated: at } };
  } catch (error) {
    if (error instanceof CalibrationError) throw new InvalidRequestError(error.message, [{ field: 'rows', rule: 'calibration', message: error.message }]);
    throw error;
  }
}
