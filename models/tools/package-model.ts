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
 *   split-conformal 90 % half-width of the calibration residuals.
 *
 * Bad input exits with code 2 and a message naming the flag or field. The functions are exported for the
 * tests and for the `twin` CLI; the work is in package/ (spec, graph surgery, calibration, build).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MIN_CALIBRATION_ROWS, packageModel } from './package/build.js';
import { PackageModelError } from './package/spec.js';

export * from './package/build.js';
export * from './package/calibration.js';
export * from './package/graph.js';
export * from './package/spec.js';


export const USAGE = `usage: npm run package-model -- --onnx model.onnx --spec spec.json --out models/<name>/<version>
                             [--calibration calib.csv] [--created YYYY-MM-DD] [--single] [--force]

  --onnx         the exported graph: one float [N, features] input, one float output
  --spec         JSON with name, version, description?, modelType, target {name, unit},
                 features [{name, unit, min, max, description?}], alerts {min, max}, scaler?, training?
  --out          the package folder; must end in <name>/<version> of the spec
  --calibration  CSV: header with the feature columns (any order) and the target column; required for
                 a single-output model (conformal 90 % interval, >= ${MIN_CALIBRATION_ROWS} rows); gives the features' envelopes
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
      ...(typeof values.created === 'string' ? { created: values.created } : {}),
      single: values.single === true,
      force: values.force === true,
    });
    for (const note of result.notes) io.log(`note: ${note}`);
    const m = result.manifest;
    const interval =
      m.interval?.method === 'conformal'
        ? `conformal ±${m.interval.halfWidth} (level ${m.interval.level}, rank ${result.calibration?.rank} of ${result.calibration?.rows})`
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
