import * as z from 'zod';
import { largeBodyBytes } from './body-limits.js';
import type { ExplanationMethod } from './core/insight/explain.js';
import { explainRequestSchema, maxExplainRows, maxOptimizeEvaluations, maxSweepSteps, optimizeRequestSchema, sweepRequestSchema } from './core/insight/schemas.js';
import type { ExplainResponse, OptimizeResponse, SweepResponse } from './core/insight/service.js';
import type { PredictExplanation } from './core/twin/service.js';

/** The contracts of the process-insight routes (docs/insight.md), merged into functions/contracts.ts. */

const modelRef = z.strictObject({ name: z.string(), version: z.string() });
const interval = z.tuple([z.number(), z.number()]).nullable();
const common = { user: z.string(), model: modelRef, model_version: z.string(), timestamp: z.number() };

export const explanationMethodSchema = z.strictObject({
  method: z.enum(['tree-shap-interventional', 'shapley-exact', 'shapley-sampling']),
  background: z.strictObject({
    kind: z.enum(['uniform-box', 'sample']),
    ranges: z.record(z.string(), z.tuple([z.number(), z.number()])),
    rows: z.number().int().optional(),
    seed: z.number().int().optional(),
  }),
  evaluations_per_row: z.number().int(),
  reason: z.string().optional(),
});

const contributions = z.record(z.string(), z.number()).meta({ description: 'Per feature; expected_value + Σ contributions = prediction' });

export const predictExplanationSchema = z
  .strictObject({ method: explanationMethodSchema, expected_value: z.number(), contributions })
  .meta({ description: 'With explain: true. Tree ensembles: exact interventional TreeSHAP against the uniform training envelope; other models: Shapley values against a seeded background sample' });

export const explainResponseSchema = z.strictObject({
  ...common,
  method: explanationMethodSchema,
  results: z.array(
    z.strictObject({
      index: z.number().int(),
      input: z.record(z.string(), z.number()),
      prediction: z.number(),
      confidence_interval: interval,
      expected_value: z.number(),
      contributions,
    }),
  ),
  inference_time_ms: z.number(),
});

const axis = z.strictObject({ feature: z.string(), values: z.array(z.number()) });
const grid = z.array(z.array(z.number())).meta({ description: '[y][x]; one row for a 1-D sweep' });

export const sweepResponseSchema = z.strictObject({
  ...common,
  x: axis,
  y: axis.nullable(),
  fixed: z.record(z.string(), z.number()),
  prediction: grid,
  lower: grid.nullable(),
  upper: grid.nullable(),
  alert_band: z.strictObject({ min: z.number(), max: z.number() }),
  rows: z.number().int(),
  runs: z.number().int(),
  inference_time_ms: z.number(),
});

export const optimizeResponseSchema = z.strictObject({
  ...common,
  feasible: z.boolean(),
  message: z.string().optional(),
  goal: z.enum(['maximize', 'minimize']),
  target: z.enum(['prediction', 'lower', 'upper']),
  setpoints: z.record(z.string(), z.number()),
  value: z.number(),
  prediction: z.number(),
  confidence_interval: interval,
  bounds: z.record(z.string(), z.tuple([z.number(), z.number()])),
  constraints: z.array(z.strictObject({ target: z.enum(['prediction', 'lower', 'upper']), op: z.enum(['>=', '<=']), value: z.number(), actual: z.number(), satisfied: z.boolean() })),
  search: z.strictObject({
    method: z.string(),
    seed: z.number().int(),
    grid: z.union([z.strictObject({ per_axis: z.number().int(), points: z.number().int() }), z.strictObject({ sampled: z.number().int() })]),
    rounds: z.number().int(),
    evaluations: z.number().int(),
    runs: z.number().int(),
    stopped: z.enum(['converged', 'evaluations', 'time']),
  }),
  inference_time_ms: z.number(),
});

export const insightContracts = {
  'POST /api/v1/models/{name}/explain': {
    body: explainRequestSchema,
    maxBodyBytes: largeBodyBytes,
    response: explainResponseSchema,
    description: `Contributions for 1..${maxExplainRows} rows. Rate weight: one unit per 100 rows evaluated (TreeSHAP evaluates only the rows themselves).`,
  },
  'POST /api/v1/models/{name}/sweep': {
    body: sweepRequestSchema,
    response: sweepResponseSchema,
    description: `One or two features over their valid range (or a sub-range), up to ${maxSweepSteps} × ${maxSweepSteps} points, the others fixed; one inference run per 1,024 rows. Rate weight: one unit per 100 grid points (a 100 × 100 sweep costs 100 requests).`,
  },
  'POST /api/v1/models/{name}/optimize': {
    body: optimizeRequestSchema,
    response: optimizeResponseSchema,
    description: `Best setpoints for the prediction or an interval bound within bounds and constraints: a grid, then a seeded compass search; at most ${maxOptimizeEvaluations} evaluations and 10 s. Rate weight: max_evaluations / 100 units, charged up front.`,
  },
} as const;

type Satisfies<T extends U, U> = T;
export type InsightContractTypeChecks = [
  Satisfies<ExplanationMethod, z.output<typeof explanationMethodSchema>>,
  Satisfies<PredictExplanation, z.output<typeof predictExplanationSchema>>,
  Satisfies<ExplainResponse, z.output<typeof explainResponseSchema>>,
  Satisfies<SweepResponse, z.output<typeof sweepResponseSchema>>,
  Satisfies<OptimizeResponse, z.output<typeof optimizeResponseSchema>>,
];
