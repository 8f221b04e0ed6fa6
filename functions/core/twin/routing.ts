import { createHash } from 'node:crypto';
import * as z from 'zod';
import { semverSchema } from '../manifest.js';
import type { ModelRouting } from '../ports.js';

const variantSchema = z.object({ version: semverSchema, weight: z.number().min(0).max(1) });

function weightsSumToOne(variants: { weight: number }[] | undefined): boolean {
  if (!variants) return true;
  return Math.abs(variants.reduce((s, v) => s + v.weight, 0) - 1) < 1e-9;
}

function distinctVersions(variants: { version: string }[] | undefined): boolean {
  return !variants || new Set(variants.map((v) => v.version)).size === variants.length;
}

/** routing.json as stored (the single source of its shape). */
export const routingSchema = z
  .object({
    schemaVersion: z.literal(1),
    active: semverSchema,
    updated: z.string(),
    variants: z.array(variantSchema).min(1).max(10).optional(),
    mode: z.enum(['random', 'sticky']).optional(),
    stickyBy: z.enum(['principal', 'plant']).optional(),
    shadow: semverSchema.optional(),
    history: z.array(semverSchema).max(50).optional(),
  })
  .refine((r) => weightsSumToOne(r.variants), { message: 'variant weights must sum to 1', path: ['variants'] })
  .refine((r) => distinctVersions(r.variants), { message: 'a version may appear once', path: ['variants'] });

/** PUT /api/v1/models/{name}/routing */
export const routingRequestSchema = z
  .strictObject({
    variants: z.array(z.strictObject({ version: semverSchema, weight: z.number().min(0).max(1) })).min(1).max(10),
    mode: z.enum(['random', 'sticky']).default('random'),
    sticky_by: z.enum(['principal', 'plant']).default('principal'),
    shadow: semverSchema.nullable().optional(),
  })
  .refine((r) => weightsSumToOne(r.variants), { message: 'weights must sum to 1', path: ['variants'] })
  .refine((r) => distinctVersions(r.variants), { message: 'a version may appear once', path: ['variants'] });
export type RoutingRequest = z.infer<typeof routingRequestSchema>;

/** A stable number in [0, 1) for a string: one plant unit keeps its variant while the weights stand. */
export function unitHash(text: string): number {
  const digest = createHash('sha256').update(text).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export interface RoutingSubject {
  id: string;
  plant?: string;
}

/** The version that answers this request. */
export function chooseVersion(name: string, routing: ModelRouting, subject: RoutingSubject, random: () => number = Math.random): string {
  const variants = routing.variants ?? [{ version: routing.active, weight: 1 }];
  if (variants.length === 1) return variants[0]!.version;
  const u =
    routing.mode === 'sticky'
      ? unitHash(`${name}\u0000${routing.stickyBy === 'plant' ? `plant:${subject.plant ?? subject.id}` : `principal:${subject.id}`}`)
      : random();
  let cumulative = 0;
  for (const variant of variants) {
    cumulative += variant.weight;
    if (u < cumulative) return variant.version;
  }
  return variants[variants.length - 1]!.version;
}
