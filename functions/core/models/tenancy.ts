import * as z from 'zod';
import type { Principal } from '../auth/tokens.js';
import { ForbiddenError, ModelNotFoundError } from '../errors.js';
import { canManageModel, modelVisibleTo } from './owner-rules.js';

/**
 * Model tenancy (docs/security.md, "Model tenancy"). A model name belongs to one owner, recorded once in
 * `models/<name>/owner.json`:
 * - platform-wide (no `plant`): serves every plant; only platform admins (admin, no plant) change it;
 * - a plant's: only that plant's principals and platform principals are served by it or see it at all;
 *   its plant's admins and platform admins manage it.
 * A model without owner.json was published before owners existed: platform-wide.
 */
export const modelOwnerSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** Absent: platform-wide. */
  plant: z.string().min(1).max(64).optional(),
  /** When the owner was recorded, and by whom (a principal id). */
  assigned: z.string(),
  by: z.string(),
});
export type ModelOwner = z.infer<typeof modelOwnerSchema>;

export { canManageModel, modelVisibleTo, type ModelAudience } from './owner-rules.js';

/**
 * The one check of every lifecycle route: a model the principal may not see answers exactly as a model that
 * does not exist (404, same message); one it sees but may not change answers 403.
 */
export function requireModelAccess(principal: Principal, name: string, owner: ModelOwner | undefined, need: 'read' | 'manage', version?: string): void {
  if (!modelVisibleTo(owner, principal)) throw new ModelNotFoundError(name, version);
  if (need === 'manage' && !canManageModel(principal, owner)) {
    throw new ForbiddenError(`Model ${name} is ${owner?.plant ? `plant ${owner.plant}'s` : 'platform-wide'}: only ${owner?.plant ? "that plant's admins or " : ''}platform admins may change it`);
  }
}
