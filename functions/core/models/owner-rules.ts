/**
 * Who sees and who manages a model, from its owner's plant alone (docs/security.md, "Model tenancy"). Kept
 * free of imports so the dashboard applies the very same rule to decide which controls to show (the API
 * still decides: ./tenancy.ts throws on it).
 */

/** Who is asking: a principal's plant (absent for a platform principal). */
export interface ModelAudience {
  plant?: string | undefined;
}

/** Platform-wide models serve everyone; a plant's model its own plant and platform principals. */
export function modelVisibleTo(owner: { plant?: string | undefined } | undefined, audience: ModelAudience): boolean {
  return !owner?.plant || !audience.plant || audience.plant === owner.plant;
}

/** Platform admins manage every model; a plant admin only its own plant's models. */
export function canManageModel(principal: { role: string; plant?: string | undefined }, owner: { plant?: string | undefined } | undefined): boolean {
  if (principal.role !== 'admin') return false;
  if (!principal.plant) return true;
  return owner?.plant !== undefined && owner.plant === principal.plant;
}
