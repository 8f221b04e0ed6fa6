import { ForbiddenError } from '../errors.js';
import type { Principal } from './tokens.js';

/**
 * Multi-plant access: a user or key belongs to a plant, and then sees only that plant's users, keys and
 * audit records. A principal without a plant is platform-wide (the seeded admin is): it sees every plant.
 */
export function isPlatformAdmin(principal: Principal): boolean {
  return principal.role === 'admin' && !principal.plant;
}

export function canSeePlant(principal: Principal, plant: string | undefined): boolean {
  return !principal.plant || principal.plant === plant;
}

/** The plant a query must be limited to, or undefined for a platform-wide principal. */
export function plantScope(principal: Principal): string | undefined {
  return principal.plant;
}

export function requirePlatformOrPlantAdmin(principal: Principal, plant: string | undefined): void {
  if (principal.role !== 'admin' || !canSeePlant(principal, plant)) {
    throw new ForbiddenError('Only an admin of this plant (or a platform admin) may do this');
  }
}
