import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';
import { auditQueries } from './services/access.js';

export const handler = byRoute({
  'GET /api/v1/audit': http(contracts['GET /api/v1/audit']).handler(({ query, principal, services }) => services.get(auditQueries).query(principal!, query)),
  'POST /api/v1/audit/import': http(contracts['POST /api/v1/audit/import']).handler(({ body, principal, services }) => services.get(auditQueries).import(principal!, body)),
});
