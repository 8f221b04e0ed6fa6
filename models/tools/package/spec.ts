/** The packager's input contract: the spec (the manifest fields the graph cannot tell) and its one error type. */
import * as z from 'zod';
import { describeZodIssues, featureSchema, modelManifestSchema, modelNameSchema, scalerSchema, semverSchema } from '../../../functions/core/manifest.js';

/** Bad input or an unsupported model: the command prints the message and exits with code 2. */
export class PackageModelError extends Error {
  override readonly name = 'PackageModelError';
  constructor(
    message: string,
    /** The flag or field at fault, e.g. `--calibration` or `spec.features.0.max`. */
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The spec: the manifest fields the graph cannot tell

export const packageSpecSchema = z
  .strictObject({
    name: modelNameSchema,
    version: semverSchema,
    description: z.string().max(500).optional(),
    modelType: z.string().max(64),
    target: modelManifestSchema.shape.target,
    /** In tensor column order. An `envelope` given here wins over one computed from calibration data. */
    features: z.array(featureSchema).min(1).max(256),
    alerts: modelManifestSchema.shape.alerts,
    scaler: scalerSchema.optional(),
    /** Free-form provenance, copied into the manifest's `training`. */
    training: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    s.features.forEach((f, i) => {
      if (names.has(f.name)) ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature ${f.name}` });
      names.add(f.name);
    });
    if (names.has(s.target.name)) {
      ctx.addIssue({ code: 'custom', path: ['target', 'name'], message: `the target must not share a name with a feature (${s.target.name})` });
    }
    if (s.scaler && (s.scaler.mean.length !== s.features.length || s.scaler.scale.length !== s.features.length)) {
      ctx.addIssue({ code: 'custom', path: ['scaler'], message: 'mean and scale need one entry per feature' });
    }
  });

export type PackageSpec = z.infer<typeof packageSpecSchema>;

export function parseSpec(json: unknown): PackageSpec {
  const parsed = packageSpecSchema.safeParse(json);
  if (!parsed.success) throw new PackageModelError(describeZodIssues(parsed.error), '--spec');
  return parsed.data;
}
