import { auditQuerySchema } from './core/audit/service.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/audit': http({ query: auditQuerySchema }).handler(({ query, principal, services }) => services.auditQueries.query(principal!, query)),
});
