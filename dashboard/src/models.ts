import { canManageModel } from '../../functions/core/models/owner-rules.js';
import type { ModelInfo } from './types.js';

/**
 * The models the signed-in principal may use, as the dashboard's model picker shows them: the names from
 * `GET /api/v1/models` (every model the principal sees, activated or not) joined with the manifests of the
 * servable ones from `GET /model/info` (`models`: each by its active version). A model that was never
 * activated (`active: null`) is listed but cannot be picked until an admin activates it.
 */

export interface ModelEntry {
  name: string;
  /** The owning plant; null: platform-wide. */
  plant: string | null;
  active: string | null;
  variants: { version: string; weight: number }[] | null;
  versions: string[];
  /** The active version's description, when the API serves it to this principal. */
  info: ModelInfo | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Joins the list and the descriptions; sorted by name. Unknown shapes are skipped, not fatal. */
export function modelEntries(list: unknown, infos: readonly ModelInfo[]): ModelEntry[] {
  const raw = isRecord(list) && Array.isArray(list.models) ? list.models : [];
  const byName = new Map(infos.map((i) => [i.name, i]));
  const entries: ModelEntry[] = raw.filter(isRecord).flatMap((m) => {
    const name = str(m.name);
    if (!name) return [];
    const variants = Array.isArray(m.variants)
      ? m.variants.filter(isRecord).map((v) => ({ version: String(v.version), weight: typeof v.weight === 'number' ? v.weight : 0 }))
      : null;
    return [{ name, plant: str(m.plant), active: str(m.active), variants, versions: Array.isArray(m.versions) ? m.versions.map(String) : [], info: byName.get(name) }];
  });
  // A model the principal is served but cannot list (no models:read): still pickable.
  for (const info of infos) {
    if (!entries.some((e) => e.name === info.name)) entries.push({ name: info.name, plant: null, active: info.version, variants: null, versions: [info.version], info });
  }
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}

/** A model can be picked when the API serves it to this principal (it has an active, loadable version). */
export function pickable(entry: ModelEntry): boolean {
  return entry.info !== undefined;
}

/**
 * The model to show: the one asked for (from the URL) when pickable, else the deployment's default for this
 * principal, else the first pickable one.
 */
export function chooseModel(entries: readonly ModelEntry[], wanted: string | undefined, fallback: string | undefined): ModelEntry | undefined {
  const usable = entries.filter(pickable);
  return usable.find((e) => e.name === wanted) ?? usable.find((e) => e.name === fallback) ?? usable[0];
}

/** The chosen model lives in the URL's fragment (`#model=column-purity`): it survives a reload, and no storage is used. */
export function modelFromHash(hash: string): string | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const name = params.get('model');
  return name && /^[a-z0-9][a-z0-9-]{0,63}$/.test(name) ? name : undefined;
}

export function hashForModel(name: string): string {
  return `#${new URLSearchParams({ model: name }).toString()}`;
}

/**
 * Whether to show a model's lifecycle controls (publish, activate, roll back, split): the API's own rule
 * (functions/core/models/owner-rules.ts) applied to the token's claims. Only a hint for the page: the API
 * decides, and a refusal is shown as it answers.
 */
export function mayManage(claims: { role: string; plant?: string | undefined }, entry: Pick<ModelEntry, 'plant'> | undefined): boolean {
  return canManageModel(claims, entry ? { ...(entry.plant ? { plant: entry.plant } : {}) } : undefined);
}

/** Whether the principal may publish a new model name at all (an admin: into its plant, or platform-wide). */
export function mayPublish(claims: { role: string }, scopes: ReadonlySet<string>): boolean {
  return claims.role === 'admin' && scopes.has('models:write');
}

/** `{ version: weight }` of the A/B split as the API takes it: two versions, weights that sum to 1. */
export function splitRequest(a: string, b: string, percentToB: number): { variants: { version: string; weight: number }[] } {
  const toB = Math.round(Math.min(100, Math.max(0, percentToB))) / 100;
  return { variants: [{ version: a, weight: Number((1 - toB).toFixed(2)) }, { version: b, weight: toB }] };
}
