import type { z } from 'zod';
import { clip, maxIssues, type FieldIssue, type IssueList } from './errors.js';

const ruleForCode: Record<string, string> = {
  invalid_type: 'type',
  too_small: 'min',
  too_big: 'max',
  invalid_format: 'format',
  unrecognized_keys: 'unknown_field',
  invalid_value: 'enum',
  invalid_union: 'union',
  not_multiple_of: 'multiple_of',
  custom: 'custom',
};

/**
 * Turns zod issues into field issues: the dotted path of the field and the rule it broke. Keeps the first
 * `limit` and counts the rest (an object of a million unknown keys costs one pass, not a million messages).
 */
export function fieldIssuesFromZod(error: z.ZodError, prefix = '', limit = maxIssues): IssueList {
  const issues: FieldIssue[] = [];
  let total = 0;
  for (const issue of error.issues) {
    const path = clip([prefix, ...issue.path.map(String)].filter(Boolean).join('.'), 128);
    if (issue.code === 'unrecognized_keys') {
      total += issue.keys.length;
      for (const key of issue.keys) {
        if (issues.length >= limit) break;
        const field = path ? `${path}.${clip(key, 64)}` : clip(key, 64);
        issues.push({ field, rule: 'unknown_field', message: `${field} is not a known field` });
      }
      continue;
    }
    total += 1;
    if (issues.length >= limit) continue;
    const field = path || 'body';
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    issues.push({
      field,
      rule: missing ? 'required' : (ruleForCode[issue.code] ?? issue.code),
      message: missing ? `${field} is required` : `${field}: ${clip(issue.message, 200)}`,
    });
  }
  return { issues, total };
}
