import '../functions/core/twin/no-telemetry.js';
import * as ort from 'onnxruntime-node';
import { createCoreFixture } from './core-fixture.js';
import { readReferencePackage, rowSource, toMatrix, type Row } from './fixtures.js';
import { median, repeated, type Repeated } from './stats.js';

/**
 * The floor and core stages, in this process, no network.
 * - floor: onnxruntime's `session.run` on the reference model, with the session options the core uses,
 *   for a [1,3] and a [100,3] input (tensor creation included; it is part of any run).
 * - core: TwinService.predict / TwinService.batch (validation, cache lookup, inference, interval, alert
 *   evaluation, response object) plus JSON.stringify of the response (what the function returns).
 * Each rep measures all four interleaved, so the ratios come from the same rep; the report is the median.
 */

export interface InprocOptions {
  reps: number;
  /** Timed calls per figure per rep (the 100-row figures use a quarter, at least 200). */
  iterations: number;
}

export interface InprocResult {
  /** Median microseconds per call. */
  floor1Us: Repeated;
  floor100Us: Repeated;
  core1Us: Repeated;
  core100Us: Repeated;
  /** core single / floor single (target ≤ 2). */
  core1OverFloor1: Repeated;
  /** core 100-row batch / core single (target ≤ 5). */
  core100OverCore1: Repeated;
  /** core 100-row batch / floor 100 rows. */
  core100OverFloor100: Repeated;
  floor100OverFloor1: Repeated;
}

async function timeEach(count: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await call(i);
    samples[i] = (performance.now() - t0) * 1000;
  }
  return median(Array.from(samples));
}

export async function runInproc(options: InprocOptions): Promise<InprocResult> {
  const pkg = readReferencePackage();
  const { manifest } = pkg;
  const { input, output } = manifest.onnx;
  const width = manifest.features.length;
  const session = await ort.InferenceSession.create(pkg.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const core = createCoreFixture(pkg);
  const next = rowSource(manifest, 7);
  const singles = options.iterations;
  const batches = Math.max(200, Math.floor(options.iterations / 4));

  const run = (values: Float32Array, rows: number) => session.run({ [input]: new ort.Tensor('float32', values, [rows, width]) }, [output]);
  const predict = async (row: Row) => JSON.stringify(await core.twin.predict(core.principal, row, 'bench'));
  const batch = async (rows: Row[]) => JSON.stringify(await core.twin.batch(core.principal, { inputs: rows }, 'bench'));

  // Warm-up: JIT, the session's first runs, the core's lazy model load.
  for (let i = 0; i < 300; i++) {
    await run(toMatrix(manifest, [next()]), 1);
    await predict(next());
  }
  for (let i = 0; i < 50; i++) await batch(Array.from({ length: 100 }, next));

  const figures = { floor1: [] as number[], floor100: [] as number[], core1: [] as number[], core100: [] as number[] };
  for (let rep = 0; rep < options.reps; rep++) {
    const singleRows = Array.from({ length: singles }, next);
    const singleMatrices = singleRows.map((row) => toMatrix(manifest, [row]));
    const batchRows = Array.from({ length: batches }, () => Array.from({ length: 100 }, next));
    const batchMatrices = batchRows.map((rows) => toMatrix(manifest, rows));
    // The core gets rows it has never seen (its cache would otherwise answer): a second set for it.
    const coreSingles = Array.from({ length: singles }, next);
    const coreBatches = Array.from({ length: batches }, () => Array.from({ length: 100 }, next));
    figures.floor1.push(await timeEach(singles, (i) => run(singleMatrices[i]!, 1)));
    figures.core1.push(await timeEach(singles, (i) => predict(coreSingles[i]!)));
    figures.floor100.push(await timeEach(batches, (i) => run(batchMatrices[i]!, 100)));
    figures.core100.push(await timeEach(batches, (i) => batch(coreBatches[i]!)));
  }
  await core.release();
  await session.release();

  const ratio = (a: number[], b: number[]) => repeated(a.map((x, i) => x / b[i]!));
  return {
    floor1Us: repeated(figures.floor1),
    floor100Us: repeated(figures.floor100),
    core1Us: repeated(figures.core1),
    core100Us: repeated(figures.core100),
    core1OverFloor1: ratio(figures.core1, figures.floor1),
    core100OverCore1: ratio(figures.core100, figures.core1),
    core100OverFloor100: ratio(figures.core100, figures.floor100),
    floor100OverFloor1: ratio(figures.floor100, figures.floor1),
  };
}
