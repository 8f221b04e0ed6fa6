import type { Principal } from '../functions/core/auth/tokens.js';
import { explainRows } from '../functions/core/insight/explain.js';
import { InsightService } from '../functions/core/insight/service.js';
import { TwinModel } from '../functions/core/twin/model.js';
import type { TwinService } from '../functions/core/twin/service.js';
import { readReferencePackage, rowSource } from './fixtures.js';
import { median, repeated, type Repeated } from './stats.js';

/**
 * The insight stage (issue 18), in this process, on the reference model: the core's work without HTTP.
 * - explain 1 row: TreeSHAP of one row (explainRows; no inference run), target well under 10 ms;
 * - explain 100 rows: the same for a batch;
 * - sweep 100 × 100: InsightService.sweep (10,000 rows in ten runs, grids built);
 * - optimize: InsightService.optimize over temp and pressure with the default budget (6,000 evaluations).
 * Each rep times every figure; the report is the median over reps of each rep's median.
 */

export interface InsightOptions {
  reps: number;
  /** Timed single-row explanations per rep (the others use a tenth, at least 5). */
  iterations: number;
}

export interface InsightResult {
  explain1Us: Repeated;
  explain100Us: Repeated;
  sweep100x100Ms: Repeated;
  optimizeMs: Repeated;
  optimizeEvaluations: number;
}

/** Explanations of one row above this are a missed target (issue 18: "well under 10 ms"). */
export const explainOneRowTargetMs = 10;

async function timed(count: number, call: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await call(i);
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

export async function runInsight(options: InsightOptions): Promise<InsightResult> {
  const pkg = readReferencePackage();
  const model = await TwinModel.load(pkg);
  try {
    const next = rowSource(pkg.manifest, 7);
    const names = pkg.manifest.features.map((f) => f.name);
    const rows = Array.from({ length: 1000 }, () => Float32Array.from(names.map((n) => next()[n]!)));
    const hundred = new Float32Array(rows.slice(0, 100).flatMap((r) => [...r]));
    const principal = { id: 'bench', username: 'bench' } as Principal;
    const twin = { resolveFor: async () => ({ model, routing: {} }), charge: async () => undefined } as unknown as TwinService;
    const insight = new InsightService(twin);
    await explainRows(model, rows[0]!, 1); // prepares the explainer once (read the graph, cover fractions)
    const few = Math.max(5, Math.floor(options.iterations / 10));
    const e1: number[] = [];
    const e100: number[] = [];
    const sweep: number[] = [];
    const opt: number[] = [];
    let evaluations = 0;
    for (let rep = 0; rep < options.reps; rep++) {
      e1.push((await timed(options.iterations, (i) => explainRows(model, rows[i % rows.length]!, 1))) * 1000);
      e100.push((await timed(few, () => explainRows(model, hundred, 100))) * 1000);
      sweep.push(await timed(Math.max(3, few / 5), () => insight.sweep(principal, 'reactor-yield', { x: { feature: 'temp', steps: 100 }, y: { feature: 'pressure', steps: 100 }, fixed: { flow: 100 } })));
      opt.push(
        await timed(3, async () => {
          const res = await insight.optimize(principal, 'reactor-yield', { vary: { temp: {}, pressure: {} }, fixed: { flow: 100 } });
          evaluations = res.search.evaluations;
        }),
      );
    }
    return { explain1Us: repeated(e1), explain100Us: repeated(e100), sweep100x100Ms: repeated(sweep), optimizeMs: repeated(opt), optimizeEvaluations: evaluations };
  } finally {
    await model.release();
  }
}
