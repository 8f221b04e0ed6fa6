import * as z from 'zod';

/** Every scope a token can carry. Routes name the scopes they need in functions/routes.ts. */
export const scopes = [
  'twin:predict',
  'twin:read',
  'keys:manage',
  'users:manage',
  'models:read',
  'models:write',
  'audit:read',
  /** Importing audit records and alerts exported from an edge twin. */
  'audit:write',
  /** Sending measured values (lab results) for earlier predictions: model quality. */
  'twin:feedback',
] as const;
export type Scope = (typeof scopes)[number];

export const roles = ['admin', 'operator', 'viewer', 'auditor'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

const roleScopes: Record<Role, readonly Scope[]> = {
  admin: scopes,
  operator: ['twin:predict', 'twin:read', 'keys:manage', 'models:read', 'twin:feedback'],
  viewer: ['twin:read', 'models:read'],
  auditor: ['audit:read', 'twin:read', 'models:read'],
};

/** The scopes a role grants, in a stable order. */
export function scopesForRole(role: Role): readonly Scope[] {
  return roleScopes[role];
}
