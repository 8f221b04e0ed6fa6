/** `npm run package-model`: the command line over ./files.ts (which `twin models package` calls too). */
import { parseArgs } from 'node:util';
import { MIN_CALIBRATION_ROWS } from './calibration.js';
import { packageModel } from './files.js';
import { PackageModelError } from './spec.js';

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
