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
 *
 * One responsibility per file under ./package/: spec.ts (the spec and PackageModelError), onnx-graph.ts
 * (graph surgery), calibration-csv.ts (reading calibration CSV with csv-parse), calibration.ts (conformal),
 * run-graph.ts (onnxruntime), build.ts (the package in memory), files.ts (reading and writing the files:
 * what `twin models package` calls) and cli.ts (this command line).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runPackageModelCli } from './package/cli.js';

export { PackageModelError, packageSpecSchema, parseSpec, type PackageSpec } from './package/spec.js';
export { decodeOnnx, describeTreeEnsemble, expandTreeEnsemble, graphSignature, type Dim, type EnsembleForm, type GraphSignature, type TensorSignature } from './package/onnx-graph.js';
export { parseCalibrationCsv, type CalibrationData } from './package/calibration-csv.js';
export { CONFORMAL_LEVEL, MIN_CALIBRATION_ROWS, conformalHalfWidth, conformalRank } from './package/calibration.js';
export { servingInput } from './package/run-graph.js';
export { buildPackage, ENSEMBLE_INTERVAL, type BuildPackageOptions, type BuiltPackage } from './package/build.js';
export { packageModel, type PackageModelOptions } from './package/files.js';
export { runPackageModelCli, USAGE } from './package/cli.js';


if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await runPackageModelCli(process.argv.slice(2));
}
