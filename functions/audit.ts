import { auditImportSchema, auditQuerySchema } from './core/audit/service.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/audit': http({ query: auditQuerySchema }).handler(({ query, principal, services }) => services.auditQueries.query(principal!, query)),
  'POST /api/v1/audit/import': http({ body: auditImportSchema }).handler(({ body, principal, services }) => services.auditQueries.import(principal!, body)),
});
