import type { z } from 'zod';
import type { FieldIssue } from './errors.js';

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

/** Turns zod issues into field issues: the dotted path of the field and the rule it broke. */
export function fieldIssuesFromZod(error: z.ZodError, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = path ? `${path}.${key}` : key;
        issues.push({ field, rule: 'unknown_field', message: `${field} is not a known field` });
      }
      continue;
    }
    const field = path || 'body';
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    issues.push({
      field,
      rule: missing ? 'required' : (ruleForCode[issue.code] ?? issue.code),
      message: missing ? `${field} is required` : `${field}: ${issue.message}`,
    });
  }
  return issues;
}
