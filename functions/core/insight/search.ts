import { SeededRandom } from './random.js';

/**
 * The setpoint search: a grid over the box, then a seeded pattern search around the best grid points.
 * Pure: it sees the model only through `evaluate` (one batch of points per call, one inference run per
 * chunk), so it is tested on plain functions too.
 *
 * 1. Grid: g points per axis, g = ⌊(budget/2)^(1/d)⌋ (2 ≤ g ≤ 201), ends included. With too many dimensions
 *    for g = 2, a seeded Latin hypercube of budget/2 points instead.
 * 2. Refinement: the best `starts` distinct points each run a compass search: every round evaluates, in ONE
 *    batch for all incumbents, the 2d axis neighbours at the current step and `probes` random points within
 *    a step; an incumbent moves to its best candidate when better, else halves its step. Stops when every
 *    step is below 1e-6 of its range (converged), or before a round would exceed the evaluation budget, or
 *    once the time budget is spent.
 * 3. The answer is the best point evaluated, grid included: never worse than the grid's best.
 * Better: feasible beats infeasible; among feasible the higher score; among infeasible the smaller violation.
 */

export interface Evaluated<T> {
  point: number[];
  /** Higher is better (the caller negates for minimisation). */
  score: number;
  /** 0 when every constraint holds, else the sum of the amounts by which they fail. */
  violation: number;
  detail: T;
}

export interface SearchOptions {
  lo: number[];
  hi: number[];
  seed: number;
  maxEvaluations: number;
  maxTimeMs: number;
  now: () => number;
  starts?: number;
  probes?: number;
}

export interface SearchResult<T> {
  best: Evaluated<T>;
  evaluations: number;
  batches: number;
  grid: { per_axis: number; points: number } | { sampled: number };
  rounds: number;
  stopped: 'converged' | 'evaluations' | 'time';
}

export function better<T>(a: Evaluated<T>, b: Evaluated<T>): boolean {
  if (a.violation === 0 && b.violation === 0) return a.score > b.score;
  return a.violation < b.violation;
}

export async function search<T>(options: SearchOptions, evaluate: (points: number[][]) => Promise<Evaluated<T>[]>): Promise<SearchResult<T>> {
  const { lo, hi } = options;
  const d = lo.length;
  const started = options.now();
  const random = new SeededRandom(options.seed);
  const starts = options.starts ?? 4;
  const probes = options.probes ?? 4;
  let evaluations = 0;
  let batches = 0;
  const run = async (points: number[][]) => {
    evaluations += points.length;
    batches++;
    return evaluate(points);
  };

  // 1. Grid (or a Latin hypercube when even 2 points per axis are too many).
  const half = Math.max(1, Math.floor(options.maxEvaluations / 2));
  const perAxis = Math.min(201, Math.floor(half ** (1 / d) + 1e-9));
  let points: number[][];
  let grid: SearchResult<T>['grid'];
  if (perAxis >= 2) {
    const axes = lo.map((a, i) => Array.from({ length: perAxis }, (_, k) => a + ((hi[i]! - a) * k) / (perAxis - 1)));
    points = [[]];
    for (const axis of axes) points = points.flatMap((p) => axis.map((v) => [...p, v]));
    grid = { per_axis: perAxis, points: points.length };
  } else {
    const strata = lo.map(() => random.permutation(half));
    points = Array.from({ length: half }, (_, k) => lo.map((a, i) => a + ((hi[i]! - a) * (strata[i]![k]! + random.next())) / half));
    grid = { sampled: half };
  }
  const seen = await run(points);
  let best = seen[0]!;
  for (const e of seen) if (better(e, best)) best = e;

  // 2. Pattern search from the best distinct grid points.
  const ranked = [...seen].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  const cell = lo.map((a, i) => (perAxis >= 2 ? (hi[i]! - a) / (perAxis - 1) : (hi[i]! - a) / 4));
  const incumbents = ranked.slice(0, starts).map((e) => ({ at: e, step: [...cell] }));
  const clamp = (v: number, i: number) => Math.min(hi[i]!, Math.max(lo[i]!, v));
  const tiny = lo.map((a, i) => (hi[i]! - a) * 1e-6);
  let rounds = 0;
  let stopped: SearchResult<T>['stopped'] = 'converged';
  for (;;) {
    const active = incumbents.filter((inc) => inc.step.some((s, i) => s > tiny[i]!));
    if (active.length === 0) break;
    const perIncumbent = 2 * d + probes;
    if (evaluations + active.length * perIncumbent > options.maxEvaluations) {
      stopped = 'evaluations';
      break;
    }
    if (options.now() - started > options.maxTimeMs) {
      stopped = 'time';
      break;
    }
    const candidates: number[][] = [];
    for (const inc of active) {
      const p = inc.at.point;
      for (let i = 0; i < d; i++) {
        for (const sign of [-1, 1]) {
          const q = [...p];
          q[i] = clamp(p[i]! + sign * inc.step[i]!, i);
          candidates.push(q);
        }
      }
      for (let k = 0; k < probes; k++) candidates.push(p.map((v, i) => clamp(v + (2 * random.next() - 1) * inc.step[i]!, i)));
    }
    const results = await run(candidates);
    rounds++;
    active.forEach((inc, a) => {
      let local = inc.at;
      for (let k = a * perIncumbent; k < (a + 1) * perIncumbent; k++) if (better(results[k]!, local)) local = results[k]!;
      if (local !== inc.at) inc.at = local;
      else inc.step = inc.step.map((s) => s / 2);
      if (better(local, best)) best = local;
    });
  }
  return { best, evaluations, batches, grid, rounds, stopped };
}
