/**
 * Held-out coverage of calibrated ensemble intervals over many calibration draws, on the heteroscedastic data
 * of test/unit/conformal.test.ts (noise sd 0.2 + 0.3·x, x in 0..10): overall and the worst third of x's range,
 * for Mondrian conformal (what the packager writes) and the normalised conformal it replaced. The unit test
 * checks one fixed draw; this prints the spread over draws that its bounds are chosen from.
 *
 *   npx tsx models/tools/coverage-study.ts [calibration rows = 2000] [draws = 20]
 */
import { calibrateEnsemble, ensembleHalfWidth, memberMoments, type CalibratedInterval } from '../../functions/core/quality/conformal.js';
import { trainRandomForest } from './forest.js';
import { Prng } from './prng.js';

const noiseSd = (x: number) => 0.2 + 0.3 * x;
const signal = (x: number, z: number) => 3 * Math.sin(x) + 2 * z;
function generate(n: number, seed: number): { x: number[][]; y: number[] } {
  const rng = new Prng(seed);
  const x = Array.from({ length: n }, () => [rng.uniform(0, 10), rng.uniform(0, 1)]);
  return { x, y: x.map(([a, b]) => signal(a!, b!) + noiseSd(a!) * rng.normal()) };
}

const rows = Number(process.argv[2] ?? 2000);
const draws = Number(process.argv[3] ?? 20);
const train = generate(1500, 1);
const forest = trainRandomForest(train.x, train.y, { nTrees: 24, maxDepth: 10, minSamplesLeaf: 5, seed: 7 });
const held = generate(4000, 3);
const heldMembers = forest.predictMembers(held.x).map((m) => memberMoments(m));
const heldInputs = Float32Array.from(held.x.flat());
const f = (v: number) => v.toFixed(3);

console.log(`calibration rows ${rows}, draws ${draws}, held-out rows ${held.y.length}`);
for (const level of [0.5, 0.8, 0.9, 0.99]) {
  for (const method of ['mondrian', 'normalised'] as const) {
    const overall: number[] = [];
    const worst: number[] = [];
    for (let d = 0; d < draws; d++) {
      const cal = generate(rows, 100 + d);
      const members = Float32Array.from(forest.predictMembers(cal.x).flat());
      const inputs = method === 'mondrian' ? { values: Float32Array.from(cal.x.flat()), features: 2 } : undefined;
      const interval = calibrateEnsemble(members, forest.trees.length, cal.y, level, inputs).interval as Extract<CalibratedInterval, { method: 'conformal-normalized' | 'conformal-mondrian' }>;
      const hits = [0, 0, 0];
      const counts = [0, 0, 0];
      held.x.forEach((x, i) => {
        const m = heldMembers[i]!;
        const third = Math.min(2, Math.floor((x[0]! / 10) * 3));
        counts[third]!++;
        if (Math.abs(held.y[i]! - m.mean) <= ensembleHalfWidth(interval, heldInputs, i * 2, 2, m.spread)) hits[third]!++;
      });
      overall.push(hits.reduce((a, b) => a + b, 0) / held.y.length);
      worst.push(Math.min(...hits.map((h, t) => h / counts[t]!)));
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    console.log(
      `level ${level} ${method.padEnd(10)} overall mean ${f(mean(overall))} range ${f(Math.min(...overall))}..${f(Math.max(...overall))}` +
        `  worst third mean ${f(mean(worst))} min ${f(Math.min(...worst))}`,
    );
  }
}
