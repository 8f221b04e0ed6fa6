import * as z from 'zod';
import { clip, maxIssues, type FieldIssue, type IssueList } from '../errors.js';
import type { FeatureSpec, ModelManifest } from '../manifest.js';

/**
 * Validates one row of sensor values against a model's manifest: every feature present, no unknown
 * features, finite JSON numbers, inside the valid range. The zod schema is compiled once per model version.
 */
export class RowValidator {
  private readonly schema: z.ZodType<Record<string, number>>;
  private readonly features: readonly FeatureSpec[];
  private readonly byName: ReadonlyMap<string, FeatureSpec>;

  constructor(manifest: ModelManifest) {
    this.features = manifest.features;
    this.byName = new Map(manifest.features.map((f) => [f.name, f]));
    this.schema = z.strictObject(Object.fromEntries(manifest.features.map((f) => [f.name, z.number().min(f.min).max(f.max)])));
  }

  /**
   * Writes the row's values, in feature order, into `out` at `offset` and returns no issues; or returns the
   * first `limit` issues and how many there were (field paths prefixed with `prefix`, e.g. `inputs.3`).
   * One pass over the row's keys, whatever their number; the expected feature list is said once, in the
   * type issue, never per unknown key.
   */
  validateInto(row: unknown, out: Float32Array, offset: number, prefix = '', limit = maxIssues): IssueList {
    if (typeof row === 'object' && row !== null && !Array.isArray(row)) {
      const unknown = this.unknownKeys(row as Record<string, unknown>, prefix, limit);
      if (unknown.total > 0) {
        // The known features are checked on their own (O(features)); the unknown keys were counted in one pass.
        const known = Object.fromEntries(this.features.filter((f) => Object.hasOwn(row, f.name)).map((f) => [f.name, (row as Record<string, unknown>)[f.name]]));
        const result = this.schema.safeParse(known);
        const featureIssues = result.success ? { issues: [], total: 0 } : this.describe(known, result.error, prefix, limit);
        return { issues: [...featureIssues.issues, ...unknown.issues].slice(0, limit), total: featureIssues.total + unknown.total };
      }
    }
    const result = this.schema.safeParse(row);
    if (!result.success) return this.describe(row, result.error, prefix, limit);
    const values = result.data;
    for (let i = 0; i < this.features.length; i++) {
      out[offset + i] = values[this.features[i]!.name]!;
    }
    return { issues: [], total: 0 };
  }

  private describe(row: unknown, error: z.ZodError, prefix: string, limit: number): IssueList {
    const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      return {
        issues: [{ field: prefix || 'body', rule: 'type', message: `${prefix || 'body'} must be an object of feature values (${this.expected()})` }],
        total: 1,
      };
    }
    const record = row as Record<string, unknown>;
    const issues: FieldIssue[] = [];
    let total = 0;
    for (const issue of error.issues) {
      if (issue.code === 'unrecognized_keys') {
        total += issue.keys.length;
        for (const key of issue.keys) {
          if (issues.length >= limit) break;
          const name = clip(key, 64);
          issues.push({ field: at(name), rule: 'unknown_field', message: `unknown feature ${name}` });
        }
        continue;
      }
      total += 1;
      if (issues.length >= limit) continue;
      const name = String(issue.path[0]);
      const spec = this.byName.get(name);
      const value = Object.hasOwn(record, name) ? record[name] : undefined;
      if (value === undefined) {
        issues.push({ field: at(name), rule: 'required', message: `missing feature ${name}` });
      } else if (typeof value === 'number' && !Number.isFinite(value)) {
        issues.push({ field: at(name), rule: 'finite', message: `${name} must be a finite number` });
      } else if (typeof value !== 'number') {
        issues.push({ field: at(name), rule: 'type', message: `${name} must be a number, got ${describeType(value)}` });
      } else if (spec) {
        issues.push({
          field: at(name),
          rule: 'range',
          message: `${name}=${value} out of range [${spec.min}, ${spec.max}]`,
        });
      }
    }
    return { issues, total };
  }

  /** One pass over the keys: how many are not features, and issues for the first `limit` of them. */
  private unknownKeys(row: Record<string, unknown>, prefix: string, limit: number): IssueList {
    const issues: FieldIssue[] = [];
    let total = 0;
    for (const key of Object.keys(row)) {
      if (this.byName.has(key)) continue;
      total += 1;
      if (issues.length < limit) {
        const name = clip(key, 64);
        issues.push({ field: prefix ? `${prefix}.${name}` : name, rule: 'unknown_field', message: `unknown feature ${name}` });
      }
    }
    return { issues, total };
  }

  /** Said once per answer (in the message), not once per unknown key. */
  expectedFeatures(): string {
    return this.expected();
  }

  private expected(): string {
    return this.features.map((f) => f.name).join(', ');
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
