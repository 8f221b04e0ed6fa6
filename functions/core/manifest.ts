import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ModelInvalidError } from './errors.js';

/**
 * The model package manifest: the single source of a package's shape. A package is
 * `models/<name>/<version>/manifest.json` + `model.onnx`; see docs/model-package.md.
 */

/** A feature's (or the target's) name: what a model's rows and alert inputs are keyed by. */
export const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must start with a letter or _ and hold only letters, digits and _ (max 64)');

/** The most features a model has. */
export const maxFeatures = 256;

export const modelNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter or digit (max 63)');

export const semverSchema = z
  .string()
  .regex(
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$/,
    'must be a semantic version such as 1.2.3',
  );

/** A histogram of a feature's training (or calibration) values, for input drift (PSI). */
export const featureHistogramSchema = z
  .object({
    /** Bin edges, ascending; values below the first or above the last count in the end bins. */
    edges: z.array(z.number()).min(2).max(51),
    /** The share of rows per bin (edges.length − 1 of them). */
    fractions: z.array(z.number().min(0).max(1)),
  })
  .refine((h) => h.fractions.length === h.edges.length - 1, { message: 'needs one fraction per bin (edges − 1)', path: ['fractions'] })
  .refine((h) => h.edges.every((e, i) => i === 0 || e > h.edges[i - 1]!), { message: 'edges must ascend', path: ['edges'] });

export const featureSchema = z
  .object({
    name: identifier,
    unit: z.string().max(32),
    description: z.string().max(200).optional(),
    /** Valid range, inclusive: inputs outside it are rejected with 400. */
    min: z.number(),
    max: z.number(),
    /** The training data's range and 1st/99th percentiles, for extrapolation flags. */
    envelope: z.object({ min: z.number(), max: z.number(), q01: z.number(), q99: z.number() }).optional(),
    /** The training (or calibration) distribution, the reference for input drift. */
    histogram: featureHistogramSchema.optional(),
  })
  .refine((f) => f.min < f.max, { message: 'min must be below max', path: ['max'] });

export const outputSchema = z.discriminatedUnion('kind', [
  /** One value per row: output tensor [N, 1] or [N]. */
  z.object({ kind: z.literal('single') }),
  /** One column per ensemble member: output tensor [N, members]; the prediction is their mean. */
  z.object({ kind: z.literal('ensemble'), members: z.number().int().min(2).max(10_000) }),
]);

/**
 * The largest interval width (a half-width, a scale, an eps) a manifest may state: a process value's
 * interval, far from where it times the members' spread (at most float32's 3.4e38) or online recalibration's
 * factor could overflow to Infinity, which JSON answers as null.
 */
export const maxIntervalWidth = 1e12;
const intervalWidth = z.number().nonnegative().max(maxIntervalWidth, `must be at most ${maxIntervalWidth}`);

/** A node of the difficulty tree: a split on graph input `input` (= features: the members' spread), or a leaf. */
const difficultyNodeSchema = z.union([
  z.strictObject({ input: z.number().int().min(0).max(256), at: z.number(), lo: z.number().int().min(1), hi: z.number().int().min(1) }),
  z.strictObject({ group: z.number().int().min(0).max(7) }),
]);

export const intervalSchema = z.discriminatedUnion('method', [
  /** Interval from the percentiles of the ensemble members (linear interpolation, as numpy's default). */
  z.object({
    method: z.literal('ensemble-percentile'),
    lower: z.number().min(0).max(100),
    upper: z.number().min(0).max(100),
  }),
  /** Split-conformal interval for single-output models: prediction ± halfWidth. */
  z.object({
    method: z.literal('conformal'),
    level: z.number().gt(0).lt(1),
    halfWidth: intervalWidth,
  }),
  /**
   * Normalised split-conformal interval for ensembles: mean ± scale·(spread + eps), spread the members'
   * standard deviation, so the interval stays wide where the members disagree (functions/core/quality/conformal.ts).
   */
  z.object({
    method: z.literal('conformal-normalized'),
    level: z.number().gt(0).lt(1),
    scale: intervalWidth,
    eps: intervalWidth.refine((v) => v > 0, 'must be positive'),
  }),
  /**
   * Mondrian conformal interval for ensembles: mean ± halfWidth[group], the group a leaf of a small difficulty
   * tree over the graph's inputs and the members' spread (functions/core/quality/difficulty.ts).
   */
  z
    .object({
      method: z.literal('conformal-mondrian'),
      level: z.number().gt(0).lt(1),
      tree: z.array(difficultyNodeSchema).min(1).max(15),
      halfWidth: z.array(intervalWidth).min(1).max(8),
    })
    .superRefine((interval, ctx) => {
      // Children after their parent (so serving's walk ends) and inside the array; groups name a half-width.
      interval.tree.forEach((node, i) => {
        if ('group' in node) {
          if (node.group >= interval.halfWidth.length) ctx.addIssue({ code: 'custom', path: ['tree', i, 'group'], message: 'must name a halfWidth entry' });
        } else {
          for (const side of ['lo', 'hi'] as const) {
            if (node[side] <= i || node[side] >= interval.tree.length) ctx.addIssue({ code: 'custom', path: ['tree', i, side], message: 'must point to a later node' });
          }
        }
      });
    }),
]);

/** How the interval was calibrated: method, stated level, calibration rows and the coverage on them. */
export const calibrationRecordSchema = z.object({
  method: z.enum(['split-conformal', 'normalized-conformal', 'mondrian-conformal']),
  level: z.number().min(0.5).max(0.99),
  rows: z.number().int().positive(),
  coverage: z.number().min(0).max(1),
  /** Mondrian conformal: the number of groups. */
  groups: z.number().int().min(2).max(8).optional(),
  /** Where it came from: the packager, or the calibration route after publishing. */
  source: z.enum(['package', 'route']).optional(),
  /** SHA-256 of the calibration data, for provenance. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  calibrated: z.iso.datetime().optional(),
});
export type CalibrationRecordManifest = z.infer<typeof calibrationRecordSchema>;


export const scalerSchema = z.object({
  kind: z.literal('standard'),
  mean: z.array(z.number()),
  scale: z.array(z.number().refine((v) => v !== 0, 'scale must not be 0')),
});

export const modelManifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: modelNameSchema,
    version: semverSchema,
    created: z.iso.date(),
    description: z.string().max(500).optional(),
    modelType: z.string().max(64),
    target: z.object({ name: identifier, unit: z.string().max(32) }),
    /** In tensor column order. */
    features: z.array(featureSchema).min(1).max(maxFeatures),
    onnx: z.object({ input: z.string().min(1), output: z.string().min(1) }),
    output: outputSchema,
    interval: intervalSchema.optional(),
    /** Present when the interval was conformally calibrated; absent on older manifests. */
    calibration: calibrationRecordSchema.optional(),
    /** Applied before inference when the graph does not scale its own inputs. */
    scaler: scalerSchema.optional(),
    /** Anomaly band for the prediction (the chapter's 70..95 % yield). */
    alerts: z.object({ min: z.number(), max: z.number() }).refine((a) => a.min < a.max, {
      message: 'min must be below max',
      path: ['max'],
    }),
    /** Free-form provenance: how and on what the model was trained. */
    training: z.record(z.string(), z.unknown()).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lower-case hex SHA-256 of model.onnx'),
  })
  .superRefine((m, ctx) => {
    const names = new Set<string>();
    m.features.forEach((f, i) => {
      if (names.has(f.name)) {
        ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature ${f.name}` });
      }
      names.add(f.name);
    });
    if (m.scaler && (m.scaler.mean.length !== m.features.length || m.scaler.scale.length !== m.features.length)) {
      ctx.addIssue({ code: 'custom', path: ['scaler'], message: 'mean and scale need one entry per feature' });
    }
    if (m.interval?.method === 'ensemble-percentile') {
      if (m.output.kind !== 'ensemble') {
        ctx.addIssue({ code: 'custom', path: ['interval', 'method'], message: 'ensemble-percentile needs output kind ensemble' });
      }
      if (m.interval.lower >= m.interval.upper) {
        ctx.addIssue({ code: 'custom', path: ['interval', 'upper'], message: 'upper must be above lower' });
      }
    }
    if ((m.interval?.method === 'conformal-normalized' || m.interval?.method === 'conformal-mondrian') && m.output.kind !== 'ensemble') {
      ctx.addIssue({ code: 'custom', path: ['interval', 'method'], message: `${m.interval.method} needs output kind ensemble` });
    }
    if (m.interval?.method === 'conformal-mondrian') {
      m.interval.tree.forEach((node, i) => {
        if ('input' in node && node.input > m.features.length) {
          ctx.addIssue({ code: 'custom', path: ['interval', 'tree', i, 'input'], message: `must be a feature index or ${m.features.length} (the members' spread)` });
        }
      });
    }
    if (m.calibration && m.interval && m.interval.method !== 'ensemble-percentile' && m.calibration.level !== m.interval.level) {
      ctx.addIssue({ code: 'custom', path: ['calibration', 'level'], message: 'must equal interval.level' });
    }
  });

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type FeatureSpec = z.infer<typeof featureSchema>;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * How to parse a document read once per container or per load (the environment, a manifest, routing.json,
 * owner.json): without zod's compiled fast path. An object schema otherwise generates and compiles its fast
 * path (`new Function`) on its first parse, which costs a cold start more than one parse saves (zod's
 * documented `jitless` parse option: the same checks and issues). Per-request parses keep the fast path.
 */
export const oneShot = { jitless: true } as const;

/** Render zod issues as one line each: `path: message`. */
export function describeZodIssues(error: z.ZodError, limit = 10): string {
  const shown = error.issues.slice(0, limit).map((i) => `${i.path.length ? i.path.join('.').slice(0, 128) : '(root)'}: ${i.message.slice(0, 200)}`);
  if (error.issues.length > limit) shown.push(`and ${error.issues.length - limit} more`);
  return shown.join('; ');
}

/**
 * Parse a manifest and check `model.onnx` against its digest. Throws ModelInvalidError naming the package
 * (`packageRef`, e.g. `reactor-yield@1.0.0` or an S3 prefix) and the reason.
 */
export function verifyPackage(packageRef: string, manifestJson: unknown, modelBytes: Uint8Array): ModelManifest {
  const parsed = modelManifestSchema.safeParse(manifestJson, oneShot);
  if (!parsed.success) {
    throw new ModelInvalidError(packageRef, `manifest.json is invalid: ${describeZodIssues(parsed.error)}`);
  }
  const digest = sha256Hex(modelBytes);
  if (digest !== parsed.data.sha256) {
    throw new ModelInvalidError(
      packageRef,
      `model.onnx digest mismatch: manifest says ${parsed.data.sha256}, file is ${digest}`,
    );
  }
  return parsed.data;
}

/** Parse manifest.json text; a syntax error is a ModelInvalidError naming the package. */
export function parseManifestText(packageRef: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelInvalidError(packageRef, `manifest.json is not valid JSON: ${(error as Error).message}`, error);
  }
}

/** Orders semantic versions (a pre-release sorts before its release). */
export function compareSemver(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const pb = b.split(/[.-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return i >= 3 ? 1 : -1;
    if (y === undefined) return i >= 3 ? -1 : 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
