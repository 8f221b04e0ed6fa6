import { routes } from '../../../functions/routes.js';
import type { ApiClient } from '../api.js';
import { mayPublish, type ModelEntry } from '../models.js';
import { decodeClaims, type Session } from '../session.js';
import { AuditPanel } from './admin-audit.js';
import { KeysPanel } from './admin-keys.js';
import { ModelsAdminPanel } from './models-admin.js';

const auditActions = [...new Set(routes.map((r) => r.action))].sort();

/** Whether the session sees the Administration view at all. */
export function canAdminister(session: Session): boolean {
  return session.scopes.has('keys:manage') || session.scopes.has('audit:read') || session.scopes.has('models:write');
}

/**
 * The Administration view's panels, each only with its scope: models (models:write), API keys (keys:manage),
 * the audit log (audit:read). Built on first opening; each loads its own data.
 */
export function adminPanels(api: ApiClient, session: Session, entries: ModelEntry[], refreshModels: () => Promise<ModelEntry[]>): { parts: HTMLElement[]; models: ModelsAdminPanel | undefined } {
  const parts: HTMLElement[] = [];
  let models: ModelsAdminPanel | undefined;
  if (session.scopes.has('models:write')) {
    const claims = decodeClaims(session.token);
    models = new ModelsAdminPanel({
      api,
      claims: { role: session.role, plant: typeof claims.plant === 'string' ? claims.plant : undefined },
      canPublish: mayPublish(session, session.scopes),
      refresh: refreshModels,
    });
    void models.setModels(entries);
    parts.push(models.element);
  }
  if (session.scopes.has('keys:manage')) {
    const keys = new KeysPanel(api, session.scopes);
    parts.push(keys.element);
    void keys.load();
  }
  if (session.scopes.has('audit:read')) {
    const audit = new AuditPanel(api, auditActions);
    parts.push(audit.element);
    void audit.load(false);
  }
  return { parts, models };
}
