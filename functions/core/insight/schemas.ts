import * as z from 'zod';

/** Request bodies of the insight routes (docs/insight.md). Shapes only; features and ranges are checked against the model. */

const featureName = z.string().min(1).max(64);
const seed = z.number().int().min(0).max(2 ** 32 - 1).meta({ description: 'Seeds every random choice: the same request gives the same answer' });
const row = z.record(z.string(), z.number()).meta({ description: "Feature values (the model's features, GET /model/info)" });

export const maxExplainRows = 100;
export const maxSweepSteps = 100;
export const maxOptimizeEvaluations = 20_000;
export const defaultOptimizeEvaluations = 6_000;
export const maxOptimizeTimeMs = 10_000;
export const defaultOptimizeTimeMs = 3_000;

export const explainRequestSchema = z.strictObject({
  inputs: z.array(row).min(1).max(maxExplainRows).meta({ description: `1..${maxExplainRows} rows; any invalid row refuses the request (INVALID_INPUT names each)` }),
  seed: seed.optional(),
});
export type ExplainRequest = z.infer<typeof explainRequestSchema>;

const axisSchema = z.strictObject({
  feature: featureName,
  min: z.number().optional().meta({ description: 'Default: the feature’s valid minimum' }),
  max: z.number().optional().meta({ description: 'Default: the feature’s valid maximum' }),
  steps: z.number().int().min(2).max(maxSweepSteps).default(25).meta({ description: `Grid points on this axis, ends included (2..${maxSweepSteps})` }),
});
export type SweepAxis = z.infer<typeof axisSchema>;

export const sweepRequestSchema = z.strictObject({
  x: axisSchema,
  y: axisSchema.optional(),
  fixed: row.meta({ description: 'Values of every feature not swept (values given for swept features are ignored)' }),
});
export type SweepRequest = z.infer<typeof sweepRequestSchema>;

export const targets = ['prediction', 'lower', 'upper'] as const;
export type Target = (typeof targets)[number];

const constraintSchema = z.strictObject({
  target: z.enum(targets).meta({ description: 'prediction, or the interval’s lower or upper bound' }),
  op: z.enum(['>=', '<=']),
  value: z.number(),
});
export type Constraint = z.infer<typeof constraintSchema>;

export const optimizeRequestSchema = z.strictObject({
  goal: z.enum(['maximize', 'minimize']).default('maximize'),
  target: z.enum(targets).default('prediction'),
  vary: z
    .record(featureName, z.strictObject({ min: z.number().optional(), max: z.number().optional() }))
    .meta({ description: 'Features to search over with optional bounds (default: the valid range); at least one' }),
  within_envelope: z.boolean().default(false).meta({ description: 'Search only inside the training envelope (manifest) of each varied feature' }),
  fixed: row.meta({ description: 'Values of every feature not varied' }),
  constraints: z.array(constraintSchema).max(10).default([]),
  seed: seed.default(0),
  max_evaluations: z.number().int().min(100).max(maxOptimizeEvaluations).default(defaultOptimizeEvaluations),
  max_time_ms: z.number().int().min(10).max(maxOptimizeTimeMs).default(defaultOptimizeTimeMs),
});
export type OptimizeRequest = z.infer<typeof optimizeRequestSchema>;
